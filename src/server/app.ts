import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { featureRoutes } from '../features/index.js';
import { tokenRoutes } from '../identity/index.js';
import { trackingRoutes } from '../tracking/index.js';
import { trainingRoutes } from '../training/index.js';
import { registryRoutes } from '../registry/index.js';
import { tuningRoutes } from '../tuning/index.js';
import { servingRoutes } from '../serving/index.js';
import { feedbackRoutes, predictionLogRoutes } from '../serving/index.js';
import { baseApp } from './base-app.js';
import { eventRoutes } from './event-routes.js';
import type { Platform } from './platform.js';

export const API_PREFIX = '/api/v1';

/**
 * The HTTP API: each domain's routes under /api/v1, OpenAPI at /openapi.json and docs at /docs,
 * probes, metrics, auth and one error shape. Does not listen; `cairn up` and the tests do.
 */
export async function buildApp(platform: Platform, opts: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const { app, metrics } = baseApp(platform, opts);
  app.setValidatorCompiler(makeValidatorCompiler());

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Cairn API', version: '1', description: 'Features, training sets, the online store, experiment tracking, training and the model registry; more domains follow.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const checks: Record<string, string> = {};
    await Promise.all([
      platform.database.ping().then(() => (checks.metadata = 'ok'), (e: Error) => (checks.metadata = e.message)),
      platform.online.ping().then(() => (checks.online = 'ok'), (e: Error) => (checks.online = e.message)),
    ]);
    const ready = Object.values(checks).every((c) => c === 'ok');
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.get(`${API_PREFIX}/whoami`, { schema: { tags: ['identity'] } }, async (request) => ({
    user: request.actor.user,
    role: request.actor.role,
    authEnabled: platform.config.auth.enabled,
  }));

  await app.register(featureRoutes(platform.features), { prefix: API_PREFIX });
  await app.register(tokenRoutes(platform.tokens), { prefix: API_PREFIX });
  await app.register(trackingRoutes(platform.tracking), { prefix: API_PREFIX });
  await app.register(trainingRoutes(platform.training), { prefix: API_PREFIX });
  await app.register(registryRoutes(platform.registry), { prefix: API_PREFIX });
  await app.register(tuningRoutes(platform.tuning), { prefix: API_PREFIX });
  await app.register(eventRoutes(platform.events), { prefix: API_PREFIX });
  await app.register(predictionLogRoutes(platform.feedback), { prefix: API_PREFIX });
  await app.register(feedbackRoutes(platform.feedback));
  // Predictions live at the root, /v1/models/… and the OIP's /v2/…, not under /api/v1.
  await app.register(servingRoutes({ service: platform.serving, online: platform.online, log: platform.predictionLog, metrics }));
  return app;
}

/**
 * Every validation problem at once, and no silent coercion or stripping of JSON bodies; query
 * strings and path parameters are text by nature, so they alone are coerced (limit=10 → 10).
 */
function makeValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = new Ajv({ allErrors: true, verbose: true, coerceTypes: false, removeAdditional: false, useDefaults: true, strict: false });
  const coercing = new Ajv({ allErrors: true, verbose: true, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false });
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers' ? coercing : strict;
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}
