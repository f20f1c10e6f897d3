import { CairnError } from '../core/errors.js';
import type { FeatureDefinitions, TrainingSets } from '../features/index.js';
import type { RunInputCatalog } from './run-input.js';

/** A promise's value, or null when it fails with a not-found error of any kind. */
async function orNull<T>(promise: Promise<T>): Promise<T | null> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof CairnError && err.httpStatus === 404) return null;
    throw err;
  }
}

/**
 * The feature store as the catalog of run inputs: a run's dataset, feature set and feature
 * versions must exist there, and the dataset's content hash comes from its version record.
 */
export function featureStoreCatalog(definitions: FeatureDefinitions, trainingSets: TrainingSets): RunInputCatalog {
  return {
    datasetHash: async (name, version) => (await orNull(trainingSets.get(name, version)))?.contentHash ?? null,
    featureSetFeatures: async (name, version) => (await orNull(definitions.getFeatureSet(name, version)))?.features.map((f) => f.ref) ?? null,
    hasFeature: async (name, version) => (await orNull(definitions.getFeature(name, version))) !== null,
  };
}
