/**
 * The serving domain's public surface: the prediction log, feedback and the routes that read them
 * (the model loader, validation, micro-batching and the predict routes join here).
 */
export * from './log-model.js';
export { PredictionLog, predictionSpoolDir, type PredictionLogOptions } from './prediction-log.js';
export { startLogWriter, type LogWriter } from './log-writer.js';
export type { PredictionLogStore, PredictionQuery, TimeRange, FeedbackPair, VersionCount } from './log-store.js';
export { SqlPredictionLogStore } from './log-sql-store.js';
export type { PredictionRow } from './prediction-rows.js';
export { FeedbackService, parseFeedbackBody, MAX_FEEDBACK_ITEMS, type FeedbackItem, type FeedbackServiceDeps, type PredictionListQuery } from './feedback.js';
export { feedbackRoutes, predictionLogRoutes } from './feedback-routes.js';
// The serving core: loading and following models, validation, micro-batching, the predict routes.
export { ServingService, SERVED_STAGES, parseServedStage, type ServedStage, type ServingDeps } from './service.js';
export { featureStoreFillCatalog, type FeatureCatalog } from './feature-fill.js';
export { loadServingConfig, DEFAULT_SERVING_CONFIG, SERVING_VARIABLES, type ServingConfig } from './config.js';
export { servingRoutes, type ServingRouteDeps } from './routes.js';
export { MicroBatcher, type BatcherOptions } from './batcher.js';
