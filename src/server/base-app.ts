import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { installAuth } from './auth.js';
import { installErrorHandler } from './error-handler.js';
import { installMetrics } from './metrics.js';
import type { Platform } from './platform.js';

/**
 * What every Cairn HTTP app shares (`cairn up`'s API and `cairn serve`'s prediction server): the
 * body limit, request ids, 503 while closing, keep-alive for clients and load balancers, JSON only,
 * one error shape, auth and Prometheus metrics.
 */
export function baseApp(platform: Platform, opts: { logger?: boolean } = {}): { app: FastifyInstance; metrics: Registry } {
  const { config } = platform;
  const app: FastifyInstance = Fastify({
    ...(opts.logger === false ? {} : { loggerInstance: platform.logger as FastifyBaseLogger }),
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
    // Longer than the usual load balancer idle timeout (60 s), so the balancer closes first.
    keepAliveTimeout: 65_000,
  });
  // Cairn speaks JSON only; anything else is refused with 415 rather than parsed as a string.
  app.removeContentTypeParser('text/plain');
  installErrorHandler(app);
  installAuth(app, { enabled: config.auth.enabled, localUser: config.auth.localUser, tokens: platform.tokens });
  return { app, metrics: installMetrics(app) };
}
