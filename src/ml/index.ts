/**
 * The ml domain's public surface: model types, data loading, the built-in trainers (GBDT, linear),
 * prediction, metrics, data profiles and ONNX export. Other domains import from here only.
 */
export * from './model.js';
export { loadFrame, frameColumns, type LoadFrameOptions, type LoadedFrame, type TrainingData } from './frame.js';
export {
  DEFAULT_GBDT_PARAMS,
  resolveGbdtParams,
  trainGbdt,
  type GbdtOptions,
  type GbdtParams,
  type GbdtResult,
  type IterationInfo,
  type ResolvedGbdtParams,
  type ValidationMetric,
} from './gbdt/index.js';
export {
  DEFAULT_LINEAR_PARAMS,
  NEWTON_MAX_WEIGHTS,
  resolveLinearParams,
  trainLinear,
  type LinearIterationInfo,
  type LinearOptions,
  type LinearParams,
  type LinearResult,
  type LinearSolver,
  type ResolvedLinearParams,
} from './linear.js';
export { predict, predictRaw, sigmoid } from './predict.js';
export {
  accuracy,
  brierScore,
  classificationMetrics,
  confusion,
  f1,
  logLoss,
  mae,
  precision,
  r2,
  recall,
  regressionMetrics,
  rmse,
  rocAuc,
  type ClassificationMetrics,
  type ConfusionCounts,
  type RegressionMetrics,
} from './metrics.js';
export {
  PROFILE_HISTOGRAM_BINS,
  PROFILE_QUANTILES,
  PROFILE_TOP_CATEGORIES,
  numericStats,
  profileFrame,
  type CategoricalProfile,
  type DataProfile,
  type InputProfile,
  type LabelProfile,
  type NumericProfile,
  type NumericStats,
} from './profile.js';
export * from './onnx/index.js';
