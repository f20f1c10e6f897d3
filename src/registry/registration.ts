/**
 * Where a new version's model comes from: a run's ONNX artifact (with the signature, profile and
 * model files beside it, and the run's lineage and final metrics), or an ONNX file uploaded to the
 * registry (any framework's export; lineage as the caller states it). Either way the bytes are
 * loaded in onnxruntime before anything is recorded.
 *
 * Artifacts are referenced by digest: the artifact store is content-addressed, so a version's
 * files are exactly the bytes registered, forever, without copying them.
 */
import path from 'node:path';
import { CairnError, type ValidationErrors } from '../core/errors.js';
import { parseDigest, type ArtifactStore } from '../storage/artifact-store.js';
import type { Signature } from '../ml/index.js';
import { checkArtifactPath, type RunArtifact, type TrackingService } from '../tracking/index.js';
import { lineageOfRun, type LineageCatalog } from './lineage.js';
import type { Lineage, ModelSignature, ModelSource, VersionArtifact } from './model.js';
import { inspectOnnx } from './onnx-inspect.js';
import { checkPinnedRef, checkTags } from './validation.js';

export const DEFAULT_ARTIFACT_PATH = 'model/model.onnx';
/** Files copied from beside a run's ONNX file into the version, when present. */
export const COMPANION_FILES = ['signature.json', 'profile.json', 'model.json', 'feature_importance.json'] as const;

/** What an uploaded model was made from; a run's lineage comes from the run instead. */
export interface LineageInput {
  /** The training dataset version, `name@version`; its content hash is looked up. */
  dataset?: string;
  featureSet?: string;
  /** The exact feature versions, `name@version`. */
  features?: string[];
  trainer?: string;
  params?: Record<string, string | number | boolean>;
  codeVersion?: string;
}

/** Where a registration's model comes from: a run's file, or an uploaded file's digest. */
export interface SourceInput {
  runId?: string;
  /** The ONNX file in the run; default model/model.onnx. */
  artifactPath?: string;
  /** The digest `POST /models/{name}/files` answered. */
  file?: string;
  /** For an uploaded file, what it was made from. */
  lineage?: LineageInput;
}

export interface ResolvedSource {
  source: ModelSource;
  modelDigest: string;
  artifacts: VersionArtifact[];
  signature: ModelSignature;
  lineage: Lineage;
  metrics: Record<string, number>;
}

export interface SourceDeps {
  tracking: TrackingService;
  artifacts: ArtifactStore;
  catalog: LineageCatalog;
}

/**
 * Resolves a registration's source, adding every problem to `v` (null then): exactly one of
 * `runId` and `file`, and `lineage` only with a file (a run's lineage comes from the run).
 */
export async function resolveSource(v: ValidationErrors, deps: SourceDeps, input: SourceInput, parent: Lineage['parent']): Promise<ResolvedSource | null> {
  if (input.runId !== undefined && input.file !== undefined) {
    v.add('file', 'give either runId (a run’s model) or file (an uploaded model), not both');
    return null;
  }
  if (input.runId !== undefined) {
    if (input.lineage !== undefined) v.add('lineage', "a run's lineage comes from the run; give lineage only with file");
    if (typeof input.runId === 'string' && input.runId !== '') return fromRun(v, deps, input.runId, input.artifactPath, parent);
    v.add('runId', 'expected a run id');
    return null;
  }
  if (input.file !== undefined) {
    if (input.artifactPath !== undefined) v.add('artifactPath', 'artifactPath names a file of a run; give it only with runId');
    return fromUpload(v, deps, input.file, input.lineage, parent);
  }
  v.add('runId', 'give runId (a run’s model) or file (an uploaded model’s digest)');
  return null;
}

/** Runs a check that throws VALIDATION_FAILED and moves its field errors into `v`; null when it failed. */
async function collecting<T>(v: ValidationErrors, check: () => Promise<T>): Promise<T | null> {
  try {
    return await check();
  } catch (err) {
    if (!(err instanceof CairnError && err.code === 'VALIDATION_FAILED')) throw err;
    for (const e of err.details.errors as { path: string; reason: string }[]) v.add(e.path, e.reason);
    return null;
  }
}

/**
 * A run's model: the finished run, its ONNX file at `artifactPath` (checked in onnxruntime), the
 * companion files beside it, its lineage and final metrics. Adds every problem to `v`; null then.
 */
async function fromRun(v: ValidationErrors, deps: SourceDeps, runId: string, artifactPath: string | undefined, parent: Lineage['parent']): Promise<ResolvedSource | null> {
  const run = await deps.tracking.getRun(runId).catch((err: unknown) => {
    if (err instanceof CairnError && err.code === 'RUN_NOT_FOUND') return null;
    throw err;
  });
  if (!run) {
    v.add('runId', `run ${runId} not found`);
    return null;
  }
  if (run.status !== 'finished') v.add('runId', `run ${runId} is ${run.status}: only a finished run's model can be registered`);
  const file = await collecting(v, async () => checkArtifactPath(artifactPath ?? DEFAULT_ARTIFACT_PATH, 'artifactPath'));
  if (file === null) return null;
  const folder = path.posix.dirname(file) === '.' ? '' : path.posix.dirname(file);
  const beside = (await deps.tracking.listArtifacts(run.id, folder)).filter((a) => path.posix.dirname(a.path) === (folder || '.'));
  const onnx = beside.find((a) => a.path === file);
  if (!onnx) {
    v.add('artifactPath', `run ${run.id} has no artifact ${file}`);
    return null;
  }
  const signature = await collecting(v, async () => inspectOnnx(await deps.artifacts.get(onnx.digest), 'artifactPath'));
  if (signature === null || !v.empty) return null;

  const companions = COMPANION_FILES.map((name) => beside.find((a) => path.posix.basename(a.path) === name)).filter((a): a is RunArtifact => a !== undefined);
  const signatureFile = companions.find((a) => a.path.endsWith('signature.json'));
  // A model exported elsewhere may lack the metadata; the run's signature.json then says it.
  if (!signature.cairn && signatureFile) signature.cairn = JSON.parse((await deps.artifacts.get(signatureFile.digest)).toString('utf8')) as Signature;
  return {
    source: { kind: 'run', runId: run.id, artifactPath: file },
    modelDigest: onnx.digest,
    artifacts: [onnx, ...companions].map((a) => ({ path: a === onnx ? 'model.onnx' : path.posix.basename(a.path), digest: a.digest, size: a.size })),
    signature,
    lineage: lineageOfRun(run, parent),
    metrics: Object.fromEntries(Object.entries(run.metrics).map(([key, p]) => [key, p.value])),
  };
}

/**
 * An uploaded model: the file stored by `POST /models/{name}/files` (checked in onnxruntime again,
 * so only a model can become a version) and the lineage the caller states, each reference checked
 * against the feature store. Adds every problem to `v`; null then.
 */
async function fromUpload(v: ValidationErrors, deps: SourceDeps, digest: string, input: LineageInput | undefined, parent: Lineage['parent']): Promise<ResolvedSource | null> {
  const checked = await collecting(v, async () => parseDigest(digest, 'file'));
  const exists = checked !== null && (await deps.artifacts.exists(digest));
  if (checked !== null && !exists) v.add('file', `no uploaded file ${digest}: upload the model first (POST /api/v1/models/{name}/files)`);
  const signature = exists ? await collecting(v, async () => inspectOnnx(await deps.artifacts.get(digest), 'file')) : null;
  const lineage = await checkLineageInput(v, deps.catalog, input ?? {}, parent);
  if (signature === null || !v.empty) return null;
  const { size } = await deps.artifacts.stat(digest);
  return {
    source: { kind: 'upload', digest },
    modelDigest: digest,
    artifacts: [{ path: 'model.onnx', digest, size }],
    signature,
    lineage,
    metrics: {},
  };
}

async function checkLineageInput(v: ValidationErrors, catalog: LineageCatalog, input: LineageInput, parent: Lineage['parent']): Promise<Lineage> {
  const lineage: Lineage = { runId: null, dataset: null, featureSet: null, features: [], trainer: null, params: {}, codeVersion: null, parent };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    v.add('lineage', 'expected an object: dataset, featureSet, features, trainer, params, codeVersion');
    return lineage;
  }
  if (input.dataset !== undefined) {
    const ref = checkPinnedRef(v, 'lineage.dataset', input.dataset);
    const found = ref ? await catalog.dataset(ref.name, ref.version) : undefined;
    if (found === null) v.add('lineage.dataset', `dataset version ${input.dataset} not found`);
    if (found) lineage.dataset = { ref: input.dataset, contentHash: found.contentHash };
  }
  if (input.featureSet !== undefined && checkPinnedRef(v, 'lineage.featureSet', input.featureSet)) lineage.featureSet = input.featureSet;
  if (input.features !== undefined && !Array.isArray(input.features)) v.add('lineage.features', 'expected a list of feature versions like delay@1');
  for (const [i, text] of (Array.isArray(input.features) ? input.features : []).entries()) {
    const ref = checkPinnedRef(v, `lineage.features[${i}]`, text);
    if (ref && !(await catalog.feature(ref.name, ref.version))) v.add(`lineage.features[${i}]`, `feature version ${text} not found`);
    else if (ref && !lineage.features.includes(text)) lineage.features.push(text);
  }
  if (input.trainer !== undefined) lineage.trainer = v.text('lineage.trainer', input.trainer, 200);
  if (input.codeVersion !== undefined) lineage.codeVersion = v.text('lineage.codeVersion', input.codeVersion, 500);
  if (input.params !== undefined) {
    const p = input.params as unknown;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) v.add('lineage.params', 'expected an object of name: value');
    else lineage.params = checkTags(v, 'lineage.params', Object.fromEntries(Object.entries(p).map(([k, x]) => [k, typeof x === 'number' || typeof x === 'boolean' ? String(x) : x])));
  }
  return lineage;
}
