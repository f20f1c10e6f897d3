/** Training with the built-in trainers, as tracked runs. */
export * from './model.js';
export { TrainingService, type StartTrainingOptions, type TrainingOutcome } from './service.js';
export { trainingRoutes } from './routes.js';
export { trainerParams } from './params.js';
