import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { MAX_PAGE_SIZE } from '../core/pagination.js';
import type { EventLog } from '../storage/event-log.js';

const EventsQuery = Type.Object(
  {
    type: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'only these event types (repeat, or separate with commas)' })),
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'only events after this sequence number (the lastSeq of a previous answer)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  },
  { additionalProperties: false },
);

/**
 * The durable event log, read from a sequence number on: `GET /events?type=model_version.transitioned&after=41`.
 * A reader keeps `lastSeq` and passes it as `after` next time; `hasMore` says a full page was cut.
 */
export function eventRoutes(log: EventLog): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof EventsQuery> }>(
      '/events',
      { schema: { tags: ['events'], summary: 'Read the event log in order, from a sequence number on', querystring: EventsQuery } },
      async (req) => {
        const limit = req.query.limit ?? 100;
        const after = req.query.after ?? 0;
        const types = [req.query.type ?? []].flat().flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
        const rows = await log.list({ types, after, limit });
        const items = rows.slice(0, limit);
        return { items, lastSeq: items.at(-1)?.seq ?? after, hasMore: rows.length > limit };
      },
    );
  };
}
