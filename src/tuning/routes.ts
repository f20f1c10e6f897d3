import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { CreateStudyInput, TuningService } from './service.js';

const Name = Type.Object({ name: Type.String() });
const TrialId = Type.Object({ id: Type.String() });
const Finish = Type.Object(
  { state: Type.Union([Type.Literal('complete'), Type.Literal('pruned'), Type.Literal('failed')]), value: Type.Optional(Type.Union([Type.Number(), Type.Null()])), error: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

/** Studies, their progress and trials, and the worker protocol (claim, report, heartbeat, finish). */
export function tuningRoutes(tuning: TuningService): FastifyPluginAsync {
  return async (app) => {
    const tags = ['tuning'];
    app.post<{ Body: CreateStudyInput }>('/studies', { schema: { tags, summary: 'Create a study', body: Type.Object({ name: Type.String(), metric: Type.String(), space: Type.Object({}, { additionalProperties: true }) }, { additionalProperties: true }) } }, async (req, reply) =>
      reply.status(201).send(await tuning.createStudy(req.body, req.actor)),
    );
    app.get<{ Querystring: { limit?: number; cursor?: string } }>('/studies', { schema: { tags, querystring: Type.Object({ limit: Type.Optional(Type.Integer()), cursor: Type.Optional(Type.String()) }) } }, async (req) =>
      tuning.listStudies(req.query),
    );
    app.get<{ Params: Static<typeof Name> }>('/studies/:name', { schema: { tags, summary: 'A study with its progress and best trial', params: Name } }, async (req) => tuning.progress(req.params.name));
    app.get<{ Params: Static<typeof Name> }>('/studies/:name/trials', { schema: { tags, params: Name } }, async (req) => ({ items: await tuning.listTrials(req.params.name) }));
    app.post<{ Params: Static<typeof Name> }>('/studies/:name/cancel', { schema: { tags, params: Name } }, async (req) => tuning.cancelStudy(req.params.name, req.actor));
    app.post<{ Params: Static<typeof Name>; Body: { trials?: number; seconds?: number } }>(
      '/studies/:name/resume',
      { schema: { tags, params: Name, body: Type.Object({ trials: Type.Optional(Type.Integer()), seconds: Type.Optional(Type.Number()) }, { additionalProperties: false }) } },
      async (req) => tuning.resumeStudy(req.params.name, req.body, req.actor),
    );
    app.post<{ Params: Static<typeof Name>; Body: { worker: string } }>(
      '/studies/:name/claims',
      { schema: { tags, summary: 'Claim the next trial for a worker', params: Name, body: Type.Object({ worker: Type.String({ minLength: 1 }) }, { additionalProperties: false }) } },
      async (req) => tuning.claimTrial(req.params.name, req.body.worker, req.actor),
    );
    app.post<{ Params: Static<typeof TrialId>; Body: { runId: string } }>(
      '/trials/:id/run',
      { schema: { tags, params: TrialId, body: Type.Object({ runId: Type.String() }, { additionalProperties: false }) } },
      async (req) => {
        await tuning.attachRun(req.params.id, req.body.runId, req.actor);
        return { ok: true };
      },
    );
    app.post<{ Params: Static<typeof TrialId>; Body: { step: number; value: number } }>(
      '/trials/:id/intermediate',
      { schema: { tags, params: TrialId, body: Type.Object({ step: Type.Integer(), value: Type.Number() }, { additionalProperties: false }) } },
      async (req) => tuning.reportIntermediate(req.params.id, req.body.step, req.body.value, req.actor),
    );
    app.post<{ Params: Static<typeof TrialId> }>('/trials/:id/heartbeat', { schema: { tags, params: TrialId } }, async (req) => tuning.heartbeat(req.params.id, req.actor));
    app.post<{ Params: Static<typeof TrialId>; Body: Static<typeof Finish> }>('/trials/:id/finish', { schema: { tags, params: TrialId, body: Finish } }, async (req) =>
      tuning.finishTrial(req.params.id, req.body, req.actor),
    );
  };
}
