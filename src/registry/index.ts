/** The model registry's public surface: other domains and the server import from here only. */
export * from './model.js';
export type { RegistryStore, StoredCardRevision, TransitionWrite, VersionWrite } from './store.js';
export { SqlRegistryStore } from './sql-store.js';
export {
  RegistryService,
  type CreateModelInput,
  type UpdateModelInput,
  type RegisterVersionInput,
  type TransitionInput,
  type UploadedModelFile,
} from './service.js';
export { ModelCards, type ReviewInput } from './card-service.js';
export { REGISTRY_EVENTS, type RegistryDeps, type RegistryEventType } from './context.js';
export { COMPLETENESS_FIELDS, REQUIRED_FIELDS, type CardInput, type CardPatch } from './cards.js';
export { featureStoreLineage, type LineageCatalog } from './lineage.js';
export { DEFAULT_ARTIFACT_PATH, type LineageInput, type SourceInput } from './registration.js';
export { inspectOnnx } from './onnx-inspect.js';
export { registryRoutes } from './routes.js';
