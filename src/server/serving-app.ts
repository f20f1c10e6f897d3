import type { FastifyInstance } from 'fastify';
import { feedbackRoutes, servingRoutes } from '../serving/index.js';
import { baseApp } from './base-app.js';
import type { Platform } from './platform.js';

/**
 * The app `cairn serve` runs: only the prediction endpoints (`/v1/models/…`, `/v2/…`), feedback (`/v1/feedback`), probes and
 * metrics, with auth and the one error shape. The prediction routes log no line per request (see
 * servingRoutes): at thousands of requests a second, two lines each would cost more than the
 * prediction.
 */
export async function buildServingApp(platform: Platform, opts: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const { app, metrics } = baseApp(platform, opts);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = platform.serving.ready;
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', models: platform.serving.loadedVersions().map((v) => `${v.model}@${v.version}`) });
  });
  await app.register(servingRoutes({ service: platform.serving, online: platform.online, log: platform.predictionLog, metrics }));
  // Outcomes arrive where predictions are made, so clients need only the serving address.
  await app.register(feedbackRoutes(platform.feedback));
  return app;
}
