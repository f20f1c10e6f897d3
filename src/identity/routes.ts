import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { ROLES } from './model.js';
import type { TokenService } from './token-service.js';
import { requireRole } from './token-service.js';

const CreateToken = Type.Object(
  {
    user: Type.String({ minLength: 1 }),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
    name: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** API tokens: admins create, list and revoke them. The secret is returned once, at creation. */
export function tokenRoutes(tokens: TokenService): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: Static<typeof CreateToken> }>(
      '/tokens',
      { schema: { tags: ['identity'], summary: 'Create an API token (admin)', body: CreateToken } },
      async (request, reply) => {
        const { token, secret } = await tokens.create(request.body, request.actor);
        return reply.status(201).send({ ...token, secret });
      },
    );
    app.get('/tokens', { schema: { tags: ['identity'], summary: 'List API tokens (admin)' } }, async (request) => {
      requireRole(request.actor, 'admin', 'listing API tokens');
      return { items: await tokens.list() };
    });
    app.delete<{ Params: { id: string } }>(
      '/tokens/:id',
      { schema: { tags: ['identity'], summary: 'Revoke an API token (admin)' } },
      async (request) => tokens.revoke(request.params.id, request.actor),
    );
  };
}
