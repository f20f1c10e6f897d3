/** The feature store's public surface: other domains and the server import from here only. */
export * from './model.js';
export type { FeatureStore, Materialization, MaterializationStatus } from './store.js';
export { SqlFeatureStore } from './sql-store.js';
export {
  FeatureDefinitions,
  type CreateEntityInput,
  type CreateFeatureSetInput,
  type CreateSourceInput,
  type FeatureSpecInput as FeatureSpecFields,
  type FeatureUseInput,
  type ResolvedUse,
} from './definitions.js';
export { TrainingSets, type BuildTrainingSetInput, type BuildResult } from './training-sets.js';
export { Materializer, type MaterializeInput, type MaterializationProgress } from './materialization.js';
export { OnlineReads, type OnlineReadInput, type OnlineReadResult } from './online-reads.js';
export { OfflineEngine, type ResolvedFeature } from './offline-engine.js';
export type { OnlineStore, EntityKey, OnlineValue } from './online-store.js';
export { openOnlineStore } from './open-online-store.js';
export { featureRoutes } from './routes.js';
export { formatRef } from './refs.js';
