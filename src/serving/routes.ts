/**
 * The prediction endpoints: Cairn's own under `/v1/models/…` and the Open Inference Protocol v2
 * under `/v2/…`. Bodies are checked by the predictor against the model's signature (not by the
 * route schema, which documents them in OpenAPI): every problem is reported at once with its path,
 * and every refusal is counted by reason. Any token may predict (the viewer role).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { CairnError } from '../core/errors.js';
import type { OnlineStore } from '../features/index.js';
import { instancePath } from './instance-validation.js';
import { ServingMetrics } from './metrics.js';
import { checkOutputs, dedupeErrors, inferResponse, modelMetadata, readInferRequest, type OipRequest } from './oip.js';
import type { PredictionLog } from './prediction-log.js';
import { Predictor, type PredictionBatch, type PreparedRequest, type Target } from './predictor.js';
import type { ServedVersion } from './served-version.js';
import { parseServedStage, type ServingService } from './service.js';

export interface ServingRouteDeps {
  service: ServingService;
  online: OnlineStore;
  log: PredictionLog;
  /** The app's Prometheus registry; the serving metrics join it. */
  metrics: Registry | null;
}

const Scalar = Type.Union([Type.Number(), Type.String(), Type.Boolean(), Type.Null()]);
const Instance = Type.Record(Type.String(), Scalar, { description: 'feature values by input name, and/or the entity keys to read the others from the online store' });
const PredictBody = Type.Object(
  { instances: Type.Optional(Type.Array(Instance)), instance: Type.Optional(Instance) },
  { description: 'instances (a list) or instance (one); values given win over values read from the online store' },
);
const Prediction = Type.Object({
  id: Type.String({ description: 'the prediction id (for feedback)' }),
  value: Type.Number({ description: 'the positive-class probability (binary classifier) or the predicted value' }),
  probability: Type.Optional(Type.Number()),
  label: Type.Optional(Type.Integer({ description: '1 when the probability is above the threshold' })),
});
const PredictResponse = Type.Object({
  model: Type.String(),
  version: Type.Integer(),
  stage: Type.Union([Type.String(), Type.Null()]),
  predictions: Type.Array(Prediction),
});
const Tensor = Type.Object({
  name: Type.String(),
  shape: Type.Array(Type.Integer()),
  datatype: Type.String(),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  data: Type.Array(Type.Unknown()),
});
const InferBody = Type.Object({
  id: Type.Optional(Type.String()),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  inputs: Type.Array(Tensor),
  outputs: Type.Optional(Type.Array(Type.Object({ name: Type.String(), parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }))),
});
const InferResponse = Type.Object({
  model_name: Type.String(),
  model_version: Type.String(),
  id: Type.Optional(Type.String()),
  outputs: Type.Array(Type.Object({ name: Type.String(), shape: Type.Array(Type.Integer()), datatype: Type.String(), data: Type.Array(Type.Union([Type.Number(), Type.String()])) })),
});
const Params = (extra: Record<string, ReturnType<typeof Type.String>>) => Type.Object({ name: Type.String(), ...extra });
const NameParams = Params({});
const VersionParams = Params({ version: Type.String({ description: 'a version number' }) });
const StageParams = Params({ stage: Type.String({ description: 'production or staging' }) });

/** No request log lines on the hot path (an app logging at info would write two per prediction). */
const QUIET = 'warn';

/** The body and the path parameters are checked in the handlers, which count every refusal. */
const noSchemaCheck = () => () => true;

/** Version numbers are 32-bit integers in the registry's tables. */
const MAX_VERSION = 2_147_483_647;

type Req = FastifyRequest<{ Params: { name: string; version?: string; stage?: string } }>;

function versionParam(text: string | undefined): number {
  const n = Number(text);
  if (!/^\d{1,10}$/.test(text ?? '') || n < 1 || n > MAX_VERSION) {
    throw CairnError.validation([{ path: 'params.version', reason: `expected a version number from 1 to ${MAX_VERSION}, got ${JSON.stringify(text)}` }]);
  }
  return n;
}

function targetOf(params: Req['params']): Target {
  if (params.version !== undefined) return { version: versionParam(params.version) };
  if (params.stage !== undefined) {
    const stage = parseServedStage(params.stage);
    if (!stage) throw CairnError.validation([{ path: 'params.stage', reason: `expected production or staging, got ${JSON.stringify(params.stage)}; address other versions by number` }]);
    return { stage };
  }
  return { stage: 'Production' };
}

const SINGLE_PATH = instancePath('instance', true);
const LIST_PATH = instancePath('instances', false);

/** `{instances: [...]}` or `{instance: {...}}`, nothing else. */
function readPredictBody(body: unknown): PreparedRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw CairnError.validation([{ path: 'body', reason: 'expected {"instances": [{...}, ...]} or {"instance": {...}}' }]);
  }
  const b = body as { instances?: unknown; instance?: unknown };
  const errors: { path: string; reason: string }[] = [];
  for (const key in b) if (key !== 'instances' && key !== 'instance') errors.push({ path: key, reason: 'unknown field; give instances (a list) or instance (one)' });
  if (b.instances !== undefined && b.instance !== undefined) errors.push({ path: 'instance', reason: 'give instances or instance, not both' });
  else if (b.instances === undefined && b.instance === undefined) errors.push({ path: 'instances', reason: 'required: a list of instances (or instance: one object)' });
  else if (b.instances !== undefined && !Array.isArray(b.instances)) errors.push({ path: 'instances', reason: 'expected a list of instances' });
  if (errors.length > 0) throw CairnError.validation(errors);
  return b.instance !== undefined
    ? { instances: [b.instance], pathOf: SINGLE_PATH, countPath: 'instance' }
    : { instances: b.instances as unknown[], pathOf: LIST_PATH, countPath: 'instances' };
}

function v1Response(batch: PredictionBatch): Record<string, unknown> {
  const binary = batch.served.task === 'binary';
  const threshold = batch.served.threshold;
  const predictions = new Array<Record<string, unknown>>(batch.ids.length);
  for (let i = 0; i < batch.ids.length; i++) {
    const value = batch.values[i]!;
    predictions[i] = binary ? { id: batch.ids[i], value, probability: value, label: value > threshold ? 1 : 0 } : { id: batch.ids[i], value };
  }
  return { model: batch.served.model, version: batch.served.version, stage: batch.stage, predictions };
}

/** Registers the prediction routes; starts the serving service (loading models) if it is not running. */
export function servingRoutes(deps: ServingRouteDeps): FastifyPluginAsync {
  return async (app) => {
    await deps.service.start();
    const metrics = deps.metrics ? new ServingMetrics(deps.metrics, () => deps.log.queueDepth()) : null;
    if (metrics) {
      const stop = deps.service.observeBatches((served, rows) => metrics.batch(served, rows));
      app.addHook('onClose', async () => void stop());
    }
    const predictor = new Predictor(deps.service, deps.online, deps.log, metrics);

    const v1 = async (request: Req) => {
      const model = request.params.name;
      let target: Target;
      let prepared: PreparedRequest;
      try {
        target = targetOf(request.params);
        prepared = readPredictBody(request.body);
      } catch (err) {
        predictor.refuse(model, null, err);
        throw err;
      }
      return v1Response(await predictor.predict(model, target, () => prepared));
    };
    const v1Schema = (summary: string, params: typeof NameParams) => ({
      tags: ['predictions'],
      summary,
      params,
      body: PredictBody,
      response: { 200: PredictResponse },
    });
    app.post('/v1/models/:name/predict', { schema: v1Schema('predict with the Production version', NameParams), validatorCompiler: noSchemaCheck, logLevel: QUIET }, v1);
    app.post('/v1/models/:name/versions/:version/predict', { schema: v1Schema('predict with a version', VersionParams), validatorCompiler: noSchemaCheck, logLevel: QUIET }, v1);
    app.post('/v1/models/:name/stages/:stage/predict', { schema: v1Schema('predict with the version in a stage', StageParams), validatorCompiler: noSchemaCheck, logLevel: QUIET }, v1);

    await app.register(async (v2: FastifyInstance) => oipRoutes(v2, deps.service, predictor));
  };
}

/** OIP v2; its errors have the protocol's shape, `{"error": "message"}`. */
function oipRoutes(app: FastifyInstance, service: ServingService, predictor: Predictor): void {
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    let status: number;
    if (err instanceof CairnError) status = err.httpStatus;
    else if (err instanceof SyntaxError || (typeof err.statusCode === 'number' && err.statusCode < 500)) status = err.statusCode ?? 400;
    else {
      request.log.error({ err }, 'unhandled error');
      return reply.status(500).send({ error: 'internal error; the server log has the details' });
    }
    return reply.status(status).send({ error: err.message });
  });
  const tags = ['open inference protocol v2'];

  app.get('/v2/health/live', { schema: { tags, summary: 'the server is live' } }, async () => ({ live: true }));
  app.get('/v2/health/ready', { schema: { tags, summary: 'the server has loaded its models' } }, async (_request, reply) =>
    reply.status(service.ready ? 200 : 400).send({ ready: service.ready }),
  );

  /** Runs `fn` with the addressed version held, releasing it after. */
  const withVersion = async <T>(request: Req, fn: (served: ServedVersion) => T): Promise<T> => {
    const target = targetOf(request.params);
    const served = 'stage' in target ? await service.byStage(request.params.name, target.stage) : await service.byVersion(request.params.name, target.version);
    try {
      return fn(served);
    } finally {
      served.release();
    }
  };
  const metadata = async (request: Req) => withVersion(request, (served) => modelMetadata(request.params.name, served));
  const ready = async (request: Req, reply: FastifyReply) => {
    try {
      await withVersion(request, () => null);
      return { name: request.params.name, ready: true };
    } catch (err) {
      if (err instanceof CairnError && err.code === 'MODEL_VERSION_NOT_FOUND') return reply.status(400).send({ name: request.params.name, ready: false });
      throw err;
    }
  };
  const infer = async (request: Req) => {
    const model = request.params.name;
    let target: Target;
    try {
      target = targetOf(request.params);
    } catch (err) {
      predictor.refuse(model, null, err);
      throw err;
    }
    const read: { oip?: OipRequest } = {};
    try {
      const batch = await predictor.predict(model, target, (served) => {
        const oip = (read.oip = readInferRequest(request.body, served.plan));
        checkOutputs(served, oip);
        return { instances: oip.instances, pathOf: oip.pathOf, countPath: 'inputs[*].shape' };
      });
      return inferResponse(model, batch, read.oip!);
    } catch (err) {
      throw dedupeErrors(err);
    }
  };
  app.get('/v2/models/:name', { schema: { tags, summary: 'model metadata (the Production version)', params: NameParams } }, metadata);
  app.get('/v2/models/:name/versions/:version', { schema: { tags, summary: 'model metadata of a version', params: VersionParams }, validatorCompiler: noSchemaCheck }, metadata);
  app.get('/v2/models/:name/ready', { schema: { tags, summary: 'the Production version is loaded', params: NameParams } }, ready);
  app.get('/v2/models/:name/versions/:version/ready', { schema: { tags, summary: 'the version is loaded', params: VersionParams }, validatorCompiler: noSchemaCheck }, ready);
  const inferSchema = (summary: string, params: typeof NameParams) => ({ tags, summary, params, body: InferBody, response: { 200: InferResponse } });
  app.post('/v2/models/:name/infer', { schema: inferSchema('inference with the Production version', NameParams), validatorCompiler: noSchemaCheck, logLevel: QUIET }, infer);
  app.post('/v2/models/:name/versions/:version/infer', { schema: inferSchema('inference with a version', VersionParams), validatorCompiler: noSchemaCheck, logLevel: QUIET }, infer);
}
