import path from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { CairnError } from '../core/errors.js';
import { END_STATUSES } from './model.js';
import { MAX_BATCH } from './run-input.js';
import { MAX_COMPARE_RUNS, type TrackingService } from './service.js';

const strict = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });
const StringMap = Type.Record(Type.String(), Type.String());
const ParamValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }));

const CreateExperiment = strict({
  name: Type.String({ description: 'unique; letters, digits, _ . -' }),
  description: Type.Optional(Type.String()),
  tags: Type.Optional(StringMap),
});
const CreateRun = strict({
  experiment: Type.String(),
  name: Type.Optional(Type.String()),
  params: Type.Optional(Type.Record(Type.String(), ParamValue, { description: 'logged once each; stored as text' })),
  tags: Type.Optional(StringMap),
  inputs: Type.Optional(
    strict({
      dataset: Type.Optional(strict({ ref: Type.String({ description: 'name@version' }), contentHash: Type.Optional(Type.String()) })),
      featureSet: Type.Optional(Type.String({ description: 'name@version' })),
      features: Type.Optional(Type.Array(Type.String({ description: 'name@version' }))),
    }),
  ),
  source: Type.Optional(strict({ command: Type.Optional(Type.String()), codeVersion: Type.Optional(Type.String()) })),
  parentRunId: Type.Optional(Type.String()),
  startTime: Type.Optional(Type.String({ description: 'ISO-8601; default now' })),
});
const LogBatch = strict({
  params: Type.Optional(Type.Array(strict({ key: Type.String(), value: ParamValue }), { maxItems: MAX_BATCH.params })),
  metrics: Type.Optional(
    Type.Array(
      strict({
        key: Type.String(),
        value: Type.Number(),
        step: Type.Optional(Type.Integer({ minimum: 0, description: 'default 0' })),
        timestamp: Type.Optional(Type.String({ description: 'ISO-8601; default the time of the request' })),
      }),
      { maxItems: MAX_BATCH.metrics },
    ),
  ),
  tags: Type.Optional(Type.Array(strict({ key: Type.String(), value: Type.String() }), { maxItems: MAX_BATCH.tags })),
});
const EndRun = strict({
  status: Type.Optional(Type.Union(END_STATUSES.map((s) => Type.Literal(s)), { description: 'default finished' })),
  endTime: Type.Optional(Type.String({ description: 'ISO-8601; default now' })),
});
const filterDoc =
  "e.g. metrics.auc > 0.6 AND (params.trainer = 'gbdt' OR tags.team IN ('ops','ml')) AND attributes.status = 'finished'";
const SearchBody = strict({
  experiments: Type.Optional(Type.Array(Type.String())),
  filter: Type.Optional(Type.String({ description: filterDoc })),
  orderBy: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'e.g. metrics.auc DESC, params.lr' })),
  limit: Limit,
  cursor: Type.Optional(Type.String()),
});
const SearchQuery = strict({
  experiment: Type.Optional(Type.Array(Type.String(), { description: 'repeat for several experiments' })),
  filter: Type.Optional(Type.String({ description: filterDoc })),
  orderBy: Type.Optional(Type.String({ description: 'e.g. metrics.auc DESC, params.lr' })),
  limit: Limit,
  cursor: Type.Optional(Type.String()),
});
const CompareQuery = strict({ ids: Type.String({ description: 'run ids separated by commas' }), history: Type.Optional(Type.Boolean()) });
const CompareBody = strict({ ids: Type.Array(Type.String(), { minItems: 1, maxItems: MAX_COMPARE_RUNS }), history: Type.Optional(Type.Boolean()) });
const ListQuery = strict({ limit: Limit, cursor: Type.Optional(Type.String()) });
const RunParams = strict({ id: Type.String() });
const ArtifactParams = strict({ id: Type.String(), '*': Type.String() });

type RunP = Static<typeof RunParams>;
type ArtifactP = Static<typeof ArtifactParams>;

/**
 * The upload's bytes, failing with PAYLOAD_TOO_LARGE once they pass the limit (the body is
 * streamed to the artifact store, so fastify's own limit does not apply). A generator reads
 * nothing until the store does, so a request refused before that never reads its body. The
 * request is iterated by hand because leaving a `for await` destroys the stream, and with it the
 * connection the 413 answer must go back on; Node discards the unread rest after the answer.
 */
async function* upToLimit(body: AsyncIterable<Buffer>, limit: number): AsyncGenerator<Buffer> {
  const chunks = body[Symbol.asyncIterator]();
  let seen = 0;
  for (;;) {
    const { value, done } = await chunks.next();
    if (done) return;
    seen += value.length;
    if (seen > limit) throw new CairnError('PAYLOAD_TOO_LARGE', `the artifact is larger than the limit of ${limit} bytes`);
    yield value;
  }
}

/** `attachment` with an ASCII fallback name and the exact UTF-8 one (RFC 6266). */
function contentDisposition(name: string): string {
  return `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** Experiments and runs: create, log, end, search, compare, artifacts. */
export function trackingRoutes(tracking: TrackingService): FastifyPluginAsync {
  return async (app) => {
    const tag = (t: string, summary: string) => ({ tags: [t], summary });
    const bodyLimit = app.initialConfig.bodyLimit ?? 16 * 1024 * 1024;
    // Artifact uploads are raw bytes, streamed to the artifact store rather than held in memory.
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

    // experiments
    app.post<{ Body: Static<typeof CreateExperiment> }>(
      '/experiments',
      { schema: { ...tag('experiments', 'Create an experiment'), body: CreateExperiment } },
      async (req, reply) => reply.status(201).send(await tracking.createExperiment(req.body, req.actor)),
    );
    app.get<{ Querystring: Static<typeof ListQuery> }>(
      '/experiments',
      { schema: { ...tag('experiments', 'List experiments by name'), querystring: ListQuery } },
      async (req) => tracking.listExperiments(req.query),
    );
    app.get<{ Params: { name: string } }>(
      '/experiments/:name',
      { schema: { ...tag('experiments', 'Get an experiment'), params: strict({ name: Type.String() }) } },
      async (req) => tracking.getExperiment(req.params.name),
    );

    // runs
    app.post<{ Body: Static<typeof CreateRun> }>(
      '/runs',
      { schema: { ...tag('runs', 'Start a run'), body: CreateRun } },
      async (req, reply) => reply.status(201).send(await tracking.createRun(req.body, req.actor)),
    );
    app.get<{ Querystring: Static<typeof SearchQuery> }>(
      '/runs',
      { schema: { ...tag('runs', 'Search runs: filter, order, cursor pages'), querystring: SearchQuery } },
      async (req) => tracking.searchRuns({ ...req.query, experiments: req.query.experiment }),
    );
    app.post<{ Body: Static<typeof SearchBody> }>(
      '/runs/search',
      { schema: { ...tag('runs', 'Search runs (the filter in the body)'), body: SearchBody } },
      async (req) => tracking.searchRuns(req.body),
    );
    app.get<{ Querystring: Static<typeof CompareQuery> }>(
      '/runs/compare',
      { schema: { ...tag('runs', 'Compare runs side by side: params, final metrics, histories by step'), querystring: CompareQuery } },
      async (req) => tracking.compareRuns(req.query.ids.split(',').map((id) => id.trim()), { history: req.query.history }),
    );
    app.post<{ Body: Static<typeof CompareBody> }>(
      '/runs/compare',
      { schema: { ...tag('runs', 'Compare runs side by side (ids in the body)'), body: CompareBody } },
      async (req) => tracking.compareRuns(req.body.ids, { history: req.body.history }),
    );
    app.get<{ Params: RunP }>('/runs/:id', { schema: { ...tag('runs', 'Get a run'), params: RunParams } }, async (req) =>
      tracking.getRun(req.params.id),
    );
    app.post<{ Params: RunP; Body: Static<typeof LogBatch> }>(
      '/runs/:id/batch',
      { schema: { ...tag('runs', 'Log params, metrics and tags atomically'), params: RunParams, body: LogBatch } },
      async (req) => tracking.logBatch(req.params.id, req.body, req.actor),
    );
    app.post<{ Params: RunP; Body: Static<typeof EndRun> }>(
      '/runs/:id/end',
      { schema: { ...tag('runs', 'End a run with a status'), params: RunParams, body: EndRun } },
      async (req) => tracking.endRun(req.params.id, req.body ?? {}, req.actor),
    );
    app.get<{ Params: RunP & { key: string } }>(
      '/runs/:id/metrics/:key',
      { schema: { ...tag('runs', "A metric's whole history"), params: strict({ id: Type.String(), key: Type.String() }) } },
      async (req) => ({ runId: req.params.id, key: req.params.key, points: await tracking.getMetricHistory(req.params.id, req.params.key) }),
    );

    // artifacts
    app.put<{ Params: ArtifactP }>(
      '/runs/:id/artifacts/*',
      { schema: { ...tag('artifacts', 'Upload a file (raw bytes, application/octet-stream)'), params: ArtifactParams } },
      async (req, reply) => {
        const body = req.body as NodeJS.ReadableStream | undefined;
        if (body !== undefined && typeof body.pipe !== 'function') {
          throw new CairnError('UNSUPPORTED_MEDIA_TYPE', "send the file's bytes with Content-Type: application/octet-stream");
        }
        if (Number(req.headers['content-length'] ?? 0) > bodyLimit) {
          throw new CairnError('PAYLOAD_TOO_LARGE', `the artifact is larger than the limit of ${bodyLimit} bytes`);
        }
        const content = upToLimit((body ?? []) as AsyncIterable<Buffer>, bodyLimit);
        const result = await tracking.putArtifact(req.params.id, req.params['*'], content, req.actor);
        return reply.status(result.created ? 201 : 200).send({ ...result.artifact, created: result.created });
      },
    );
    app.get<{ Params: RunP; Querystring: { prefix?: string } }>(
      '/runs/:id/artifacts',
      {
        schema: {
          ...tag('artifacts', "List a run's files, optionally in one folder"),
          params: RunParams,
          querystring: strict({ prefix: Type.Optional(Type.String({ description: 'a folder, e.g. model' })) }),
        },
      },
      async (req) => ({ items: await tracking.listArtifacts(req.params.id, req.query.prefix) }),
    );
    app.get<{ Params: ArtifactP }>(
      '/runs/:id/artifacts/*',
      { schema: { ...tag('artifacts', 'Download a file'), params: ArtifactParams } },
      async (req, reply) => {
        const { artifact, stream } = await tracking.openArtifact(req.params.id, req.params['*']);
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', artifact.size)
          .header('content-disposition', contentDisposition(path.posix.basename(artifact.path)))
          .header('x-content-sha256', artifact.digest)
          .send(stream);
      },
    );
  };
}
