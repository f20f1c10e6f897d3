/** The gradient-boosted tree trainer. */
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
} from './booster.js';
