/** Types of training: what a user asks for and what a finished training produces. */
import type { ClassificationMetrics, RegressionMetrics } from '../ml/index.js';

export const TRAINERS = ['gbdt', 'linear'] as const;
export type TrainerName = (typeof TRAINERS)[number];

/** A parameter value as users give it (the CLI's `--param k=v`, JSON in the API). */
export type ParamValue = string | number | boolean | null;

export interface TrainRequest {
  experiment: string;
  runName?: string;
  trainer: TrainerName;
  /** The training dataset version, `name@version` (or `name` for the latest). */
  dataset: string;
  /** A dataset version to evaluate on, or a share of the training rows held out (default 0.2). */
  validation?: { dataset: string } | { fraction: number };
  label: string;
  /** Input columns; default every column of the dataset that is neither the label nor a key/time column. */
  features?: string[];
  /** Inputs to treat as categorical; default the text and boolean columns among `features`. */
  categorical?: string[];
  /** Trainer parameters in snake_case (`n_trees`, `learning_rate`, …). */
  params?: Record<string, ParamValue>;
  tags?: Record<string, string>;
  parentRunId?: string;
  /** Code version to record in the run's source, when the caller knows it. */
  codeVersion?: string;
}

/** Everything the training worker needs; plain data, so it crosses a thread boundary. */
export interface TrainJob {
  trainer: TrainerName;
  trainPath: string;
  validationPath: string | null;
  validationFraction: number | null;
  label: string;
  features: string[];
  categorical: string[] | undefined;
  /** Trainer parameters, already translated to the trainer's own names. */
  params: Record<string, unknown>;
  seed: number;
}

export type EvaluationMetrics = ClassificationMetrics | RegressionMetrics;

/** One boosting/optimizer iteration, as the worker reports it. */
export interface IterationReport {
  iteration: number;
  metrics: Record<string, number>;
}
