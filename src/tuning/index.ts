/** Hyperparameter tuning's public surface: search spaces, samplers, pruners, studies, workers. */
export * from './model.js';
export type { TuningStore, ClaimRequest, ClaimResult } from './store.js';
export { SqlTuningStore } from './sql-store.js';
export { TuningService, hasConverged, type CreateStudyInput, type FinishTrialInput, type ClaimOutcome, type TuningBackend } from './service.js';
export { runStudy, TrialPruned, type Objective, type RunStudyOptions, type RunStudyResult, type TrialHandle, type TuningTarget } from './run-study.js';
export { samplePoint, sampleRandom, sampleGrid, mixSeed, type SampleContext } from './samplers.js';
export { sampleTpe, TPE_DEFAULTS } from './tpe.js';
export { shouldPrune } from './pruners.js';
export { canonicalKey, checkSpace, gridSize, inSpace } from './space.js';
export { commandObjective, needsItsFunction, targetObjective, type CommandObjectiveDeps } from './objectives.js';
export { trainerIntermediateMetric, TRAINER_ITERATION_METRICS, type IntermediateMetric } from './trainer-metrics.js';
export { tuningRoutes } from './routes.js';
