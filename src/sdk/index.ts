/** The TypeScript SDK: a typed client of the Cairn REST API. */
export * from './client.js';
export { CairnError, isCairnError, type ErrorCode, type FieldError } from '../core/errors.js';
export type {
  BuildResult,
  BuildTrainingSetInput,
  DataSource,
  DatasetVersion,
  Entity,
  FeatureSetVersion,
  FeatureUse,
  FeatureUseInput,
  FeatureValue,
  FeatureVersion,
  MaterializationProgress,
  MaterializeInput,
  OnlineReadInput,
  OnlineReadResult,
} from '../features/index.js';
export type { ApiToken, Role } from '../identity/index.js';
export { ModelsClient, LineageClient, EventsClient, type LoggedEvent, type RegistryTransport, type UploadVersionInput } from './registry.js';
export type {
  CardFields,
  CardInput,
  CardPatch,
  CardReview,
  CardRevision,
  CreateModelInput,
  LineageDetail,
  LineageInput,
  ModelAlias,
  ModelCard,
  ModelSignature,
  ModelVersion,
  ModelVersionDetail,
  RegisteredModel,
  RegisterVersionInput,
  Stage,
  StageTransition,
  TransitionInput,
  UpdateModelInput,
  UploadedModelFile,
} from '../registry/index.js';
export { TrackingClient, ExperimentsClient, RunsClient, RunLogger, type RunLoggerOptions, type UploadedArtifact } from './tracking.js';
export type {
  ComparedValue,
  CreateExperimentInput,
  CreateRunInput,
  EndStatus,
  Experiment,
  LogBatchInput,
  MetricPoint,
  Run,
  RunArtifact,
  RunComparison,
  RunInputs,
  RunSource,
  RunStatus,
  SearchRunsInput,
} from '../tracking/index.js';
export { TuningClient } from './tuning.js';
export type {
  Budget,
  ClaimOutcome,
  CreateStudyInput,
  Direction,
  FinishTrialInput,
  Objective,
  Params,
  ParamSpec,
  PrunerConfig,
  SamplerConfig,
  SearchSpace,
  Study,
  StudyProgress,
  StudyTarget,
  Trial,
  TrialHandle,
  TrialState,
} from '../tuning/index.js';
export { PredictionsClient, type InstanceValue, type Prediction, type PredictionFilter, type PredictResult } from './predictions.js';
export type { Actual, FeedbackResult, LoggedPrediction, ModelPerformance, RefusalCount, VersionPerformance } from '../serving/index.js';
