import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { MAX_FEEDBACK_ITEMS, type FeedbackService } from './feedback.js';

const Opt = Type.Optional;
const Time = Type.String({ description: 'ISO-8601 time, e.g. 2026-02-01T00:00:00Z' });
const Range = { since: Opt(Time), until: Opt(Type.String({ description: 'ISO-8601 time (exclusive)' })) };
const ListQuery = Type.Object(
  {
    model: Opt(Type.String()),
    version: Opt(Type.Integer({ minimum: 1 })),
    ...Range,
    limit: Opt(Type.Integer()),
    cursor: Opt(Type.String()),
  },
  { additionalProperties: false },
);
const RangeQuery = Type.Object(Range, { additionalProperties: false });
const RefusalQuery = Type.Object({ model: Opt(Type.String()), ...Range }, { additionalProperties: false });
// Documented, not checked here: the service checks both forms and names every bad field at once.
const FeedbackBody = Type.Object(
  {},
  {
    additionalProperties: true,
    description: `one {predictionId, actual}, or {items: [{predictionId, actual}, ...]} (at most ${MAX_FEEDBACK_ITEMS}); actual is the real outcome: a class (0/1, true/false, a label) or a number`,
    examples: [{ predictionId: 'pred_…', actual: 1 }, { items: [{ predictionId: 'pred_…', actual: true }] }],
  },
);
const Id = Type.Object({ id: Type.String() });
const Name = Type.Object({ name: Type.String() });

/**
 * `POST /v1/feedback`, beside the prediction endpoints (no /api prefix): 200 with
 * `{recorded, replaced, unknown}`, 404 PREDICTION_NOT_FOUND when no id is known. Needs the editor role.
 */
export function feedbackRoutes(service: FeedbackService): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: unknown }>(
      '/v1/feedback',
      { schema: { tags: ['serving'], summary: 'Record the actual outcome of one or many predictions', body: FeedbackBody } },
      async (req) => service.record(req.body, req.actor),
    );
  };
}

/** The prediction log under /api/v1: predictions with their feedback, per-version performance, refusal counts. */
export function predictionLogRoutes(service: FeedbackService): FastifyPluginAsync {
  return async (app) => {
    const tags = ['serving'];
    app.get<{ Querystring: Static<typeof ListQuery> }>(
      '/predictions',
      { schema: { tags, summary: 'Logged predictions, newest first', querystring: ListQuery } },
      async (req) => service.listPredictions(req.query),
    );
    app.get<{ Params: Static<typeof Id> }>(
      '/predictions/:id',
      { schema: { tags, summary: 'A logged prediction with its feedback', params: Id } },
      async (req) => service.getPrediction(req.params.id),
    );
    app.get<{ Params: Static<typeof Name>; Querystring: Static<typeof RangeQuery> }>(
      '/models/:name/performance',
      { schema: { tags, summary: 'Per-version performance on predictions that have feedback', params: Name, querystring: RangeQuery } },
      async (req) => service.performance(req.params.name, req.query),
    );
    app.get<{ Querystring: Static<typeof RefusalQuery> }>(
      '/refusals',
      { schema: { tags, summary: 'Refused prediction requests per minute, model and reason (last 24 h unless since)', querystring: RefusalQuery } },
      async (req) => service.refusals(req.query),
    );
  };
}
