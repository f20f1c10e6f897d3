/**
 * Lineage: what a model version was made from, recorded at registration, and traced back through
 * the feature store on request (dataset version with its hash, feature definitions).
 */
import { orNullIfNotFound } from '../core/errors.js';
import type { DatasetVersion, FeatureDefinitions, FeatureVersion, TrainingSets } from '../features/index.js';
import type { Run } from '../tracking/index.js';
import type { FeatureLineage, Lineage, LineageDetail, ModelVersion } from './model.js';

/** What the registry asks the feature store about a version's inputs. */
export interface LineageCatalog {
  /** A dataset version, or null when there is none. */
  dataset(name: string, version: number): Promise<DatasetVersion | null>;
  /** A feature version, or null when there is none. */
  feature(name: string, version: number): Promise<FeatureVersion | null>;
}

/** The feature store as the lineage catalog. */
export function featureStoreLineage(definitions: FeatureDefinitions, trainingSets: TrainingSets): LineageCatalog {
  return {
    dataset: (name, version) => orNullIfNotFound(trainingSets.get(name, version)),
    feature: (name, version) => orNullIfNotFound(definitions.getFeature(name, version)),
  };
}

/** `name@3` → name and version (the refs stored in lineage are always pinned). */
export function splitRef(ref: string): { name: string; version: number } {
  const at = ref.lastIndexOf('@');
  return { name: ref.slice(0, at), version: Number(ref.slice(at + 1)) };
}

/** The lineage a run records: its dataset, features, trainer, params and code version. */
export function lineageOfRun(run: Run, parent: Lineage['parent']): Lineage {
  return {
    runId: run.id,
    dataset: run.inputs.dataset,
    featureSet: run.inputs.featureSet,
    features: [...new Set(run.inputs.features)],
    // Cairn's trainers log the trainer as a param and a tag; other runs may say it either way.
    trainer: run.params.trainer ?? run.tags['cairn.trainer'] ?? null,
    params: run.params,
    codeVersion: run.source.codeVersion,
    parent,
  };
}

/**
 * A version traced back: its run, its dataset version (with the content hash recorded at
 * registration, and what the feature store still knows), and each feature version with its
 * definition (entity, expression, window…). Versions in the feature store are immutable, so the
 * definitions read now are the ones the model was trained on.
 */
export async function traceLineage(version: ModelVersion, run: Run | null, catalog: LineageCatalog): Promise<LineageDetail> {
  const l = version.lineage;
  let dataset: LineageDetail['dataset'] = null;
  if (l.dataset) {
    const { name, version: v } = splitRef(l.dataset.ref);
    const found = await catalog.dataset(name, v);
    dataset = {
      ref: l.dataset.ref,
      name,
      version: v,
      contentHash: l.dataset.contentHash ?? found?.contentHash ?? null,
      rowCount: found?.rowCount ?? null,
      createdAt: found?.createdAt ?? null,
      found: found !== null,
    };
  }
  const features: FeatureLineage[] = await Promise.all(
    l.features.map(async (ref) => {
      const { name, version: v } = splitRef(ref);
      const f = await catalog.feature(name, v);
      return {
        ref,
        name,
        version: v,
        entity: f?.entity ?? null,
        source: f?.source ?? null,
        valueType: f?.valueType ?? null,
        expression: f?.expression ?? null,
        window: f?.window ?? null,
        description: f?.description ?? null,
        found: f !== null,
      };
    }),
  );
  return {
    model: version.model,
    version: version.version,
    source: version.source,
    run: run
      ? { id: run.id, experiment: run.experiment, name: run.name, status: run.status, startTime: run.startTime, endTime: run.endTime, author: run.author }
      : null,
    dataset,
    featureSet: l.featureSet,
    features,
    trainer: l.trainer,
    params: l.params,
    codeVersion: l.codeVersion,
    parent: l.parent,
    metrics: version.metrics,
  };
}
