/**
 * Loads a registry version for serving: its `model.onnx` into onnxruntime, its `profile.json` (which
 * inputs were ever missing in training) and the plan for filling inputs from the online store.
 * All of this is read once, off the request path.
 */
import { CairnError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { OnnxModelRunner, type DataProfile } from '../ml/index.js';
import type { ModelVersion, RegistryService } from '../registry/index.js';
import { planFill, type FeatureCatalog } from './feature-fill.js';
import { buildInputPlan, type FillGroup, type MissingInTraining } from './instance-validation.js';
import { ServedVersion } from './served-version.js';

export interface LoaderDeps {
  registry: RegistryService;
  catalog: FeatureCatalog;
  logger: Logger;
  maxBatchRows: number;
  maxWaitMs: number;
  onBatch: (served: ServedVersion, rows: number) => void;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

async function readArtifact(registry: RegistryService, v: ModelVersion, path: string): Promise<Buffer | null> {
  if (!v.artifacts.some((a) => a.path === path)) return null;
  return readAll((await registry.openArtifact(v.model, v.version, path)).stream);
}

function missingInTraining(profileBytes: Buffer | null): MissingInTraining {
  if (!profileBytes) return null;
  try {
    const profile = JSON.parse(profileBytes.toString('utf8')) as DataProfile;
    if (!Array.isArray(profile.inputs)) return null;
    return new Map(profile.inputs.map((i) => [i.name, typeof i.missing === 'number' ? i.missing > 0 : true]));
  } catch {
    return null;
  }
}

/**
 * Loads one version. @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND, CONFLICT when the version's
 * model is not a Cairn ONNX export (serving needs its signature to check requests)
 */
export async function loadVersion(deps: LoaderDeps, model: string, version: number): Promise<ServedVersion> {
  const v = await deps.registry.getVersion(model, version);
  const bytes = await readArtifact(deps.registry, v, 'model.onnx');
  if (!bytes) throw new CairnError('CONFLICT', `version ${version} of ${model} has no model.onnx`, { model, version });
  let runner: OnnxModelRunner;
  try {
    runner = await OnnxModelRunner.load(bytes);
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    throw new CairnError('CONFLICT', `version ${version} of ${model} cannot be served: ${err.message}`, { model, version });
  }
  try {
    const profile = await readArtifact(deps.registry, v, 'profile.json');
    const inputs = runner.signature.inputs.map((i) => i.name);
    let fill: FillGroup[] = [];
    try {
      fill = await planFill(v.lineage, inputs, deps.catalog);
    } catch (err) {
      // The model still serves requests that give every feature; only lookups are unavailable.
      deps.logger.warn({ err, model, version }, 'cannot plan online feature lookups for this version');
    }
    return new ServedVersion({
      model,
      version,
      runner,
      plan: buildInputPlan(runner.signature, missingInTraining(profile), fill),
      maxBatchRows: deps.maxBatchRows,
      maxWaitMs: deps.maxWaitMs,
      onBatch: deps.onBatch,
    });
  } catch (err) {
    await runner.close().catch(() => {});
    throw err;
  }
}
