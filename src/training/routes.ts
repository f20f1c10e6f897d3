import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { TRAINERS } from './model.js';
import { trainerParams } from './params.js';
import type { TrainingService } from './service.js';

const Param = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
const TrainBody = Type.Object(
  {
    experiment: Type.String({ minLength: 1 }),
    runName: Type.Optional(Type.String()),
    trainer: Type.Union(TRAINERS.map((t) => Type.Literal(t))),
    dataset: Type.String({ description: 'training dataset version, e.g. flights_jan@1' }),
    validation: Type.Optional(
      Type.Union([
        Type.Object({ dataset: Type.String() }, { additionalProperties: false }),
        Type.Object({ fraction: Type.Number() }, { additionalProperties: false }),
      ]),
    ),
    label: Type.String({ minLength: 1 }),
    features: Type.Optional(Type.Array(Type.String())),
    categorical: Type.Optional(Type.Array(Type.String())),
    params: Type.Optional(Type.Record(Type.String(), Param)),
    tags: Type.Optional(Type.Record(Type.String(), Type.String())),
    parentRunId: Type.Optional(Type.String()),
    codeVersion: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** Training with the built-in trainers: each training is a tracked run. */
export function trainingRoutes(training: TrainingService): FastifyPluginAsync {
  return async (app) => {
    app.get('/trainers', { schema: { tags: ['training'], summary: 'The built-in trainers and their parameters with defaults' } }, async () => ({
      items: TRAINERS.map((name) => ({ name, params: trainerParams(name) })),
    }));
    app.post<{ Body: Static<typeof TrainBody>; Querystring: { wait?: boolean } }>(
      '/training-runs',
      {
        schema: {
          tags: ['training'],
          summary: 'Train a model on a dataset version as a tracked run (in the background; ?wait=true waits)',
          body: TrainBody,
          querystring: Type.Object({ wait: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        },
      },
      async (req, reply) => {
        const run = await training.start(req.body, req.actor);
        if (!req.query.wait) return reply.status(202).send({ run, result: null, error: null });
        return reply.status(201).send(await training.wait(run.id));
      },
    );
  };
}
