/** Experiment tracking's public surface: other domains and the server import from here only. */
export * from './model.js';
export type { TrackingStore, LogBatch, RunImport, RunSearch, RunSearchRow, SearchPosition } from './store.js';
export { SqlTrackingStore } from './sql-store.js';
export {
  TrackingService,
  MAX_COMPARE_RUNS,
  type CreateExperimentInput,
  type CreateRunInput,
  type EndRunInput,
  type SearchRunsInput,
} from './service.js';
export { MAX_BATCH, type LogBatchInput, type RunInputCatalog, type RunInputsInput } from './run-input.js';
export { featureStoreCatalog } from './feature-inputs.js';
export { parseFilter, parseOrderBy, formatOrderBy, ATTRIBUTES, type FilterExpr, type OrderKey } from './search-parser.js';
export { checkArtifactPath } from './validation.js';
export { trackingRoutes } from './routes.js';
