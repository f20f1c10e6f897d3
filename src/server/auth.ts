import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CairnError } from '../core/errors.js';
import type { Actor, TokenService } from '../identity/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
  }
}

/** Routes anyone may call: probes (Cairn's and the OIP's), metrics and the API description. */
const PUBLIC_PREFIXES = ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/v2/health'];

/**
 * Sets `request.actor` for every request. With auth on, a Bearer token is required and resolved
 * to its user and role; with auth off, everything acts as the configured local user (admin).
 */
export function installAuth(app: FastifyInstance, opts: { enabled: boolean; localUser: string; tokens: TokenService }): void {
  const local: Actor = { user: opts.localUser, role: 'admin', tokenId: null };
  app.decorateRequest('actor', null as unknown as Actor);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!opts.enabled) {
      request.actor = local;
      return;
    }
    const url = request.url.split('?')[0]!;
    if (PUBLIC_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`))) {
      request.actor = { user: 'anonymous', role: 'viewer', tokenId: null };
      return;
    }
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) {
      throw new CairnError('UNAUTHENTICATED', 'this server requires an API token: send Authorization: Bearer <token>');
    }
    request.actor = await opts.tokens.authenticate(match[1]!);
  });
}
