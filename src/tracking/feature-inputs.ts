import { orNullIfNotFound } from '../core/errors.js';
import type { FeatureDefinitions, TrainingSets } from '../features/index.js';
import type { RunInputCatalog } from './run-input.js';

/**
 * The feature store as the catalog of run inputs: a run's dataset, feature set and feature
 * versions must exist there, and the dataset's content hash comes from its version record.
 */
export function featureStoreCatalog(definitions: FeatureDefinitions, trainingSets: TrainingSets): RunInputCatalog {
  return {
    datasetHash: async (name, version) => (await orNullIfNotFound(trainingSets.get(name, version)))?.contentHash ?? null,
    featureSetFeatures: async (name, version) => (await orNullIfNotFound(definitions.getFeatureSet(name, version)))?.features.map((f) => f.ref) ?? null,
    hasFeature: async (name, version) => (await orNullIfNotFound(definitions.getFeature(name, version))) !== null,
  };
}
