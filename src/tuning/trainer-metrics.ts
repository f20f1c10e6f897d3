/**
 * Which per-iteration metric of a built-in trainer feeds the pruner of a `trainer` study, and how
 * it is turned into an intermediate value in the study's direction.
 *
 * The trainers report, per iteration: `valid_loss` (gbdt: log loss for a binary label, RMSE for a
 * number; lower is better), `valid_metric` (gbdt with validation_metric=auc: the validation AUC;
 * higher is better) and `train_loss` (gbdt and linear; lower is better). The study metric is a
 * final metric such as `valid_auc` or `valid_log_loss`. The mapping:
 *
 * | study metric | per-iteration metric |
 * | --- | --- |
 * | `valid_auc` (gbdt) | `valid_metric`, the AUC per round (the trial trains with validation_metric=auc unless its params say otherwise; then `valid_loss`) |
 * | `valid_log_loss`, `valid_rmse` and every other `valid_*` (gbdt) | `valid_loss` |
 * | `train_*` | `train_loss` |
 * | anything else, or any `valid_*` of the linear trainer | none: the trial is never pruned |
 *
 * `target.intermediateMetric` overrides the choice. A value whose better side differs from the
 * study's direction is negated (a maximized `valid_accuracy` is pruned on −valid_loss), so the
 * pruner always compares in the study's direction.
 */
import type { Choice, Direction, Study } from './model.js';

/** The per-iteration metrics of the built-in trainers, and whether higher is better. */
export const TRAINER_ITERATION_METRICS: Record<string, 'higher' | 'lower'> = { valid_loss: 'lower', valid_metric: 'higher', train_loss: 'lower' };

/** How a trial's iterations become intermediate values. */
export interface IntermediateMetric {
  /** The per-iteration metric reported by the trainer. */
  key: string;
  /** 1, or −1 when the metric's better side is the opposite of the study's direction. */
  sign: 1 | -1;
  /** Trainer params the trial needs so that the trainer reports `key` (validation_metric=auc). */
  extraParams: Record<string, Choice>;
}

const signFor = (key: string, direction: Direction): 1 | -1 => ((TRAINER_ITERATION_METRICS[key] === 'higher') === (direction === 'maximize') ? 1 : -1);

/**
 * The intermediate metric of a trainer study's trial with `params` (fixed and sampled); null
 * when none applies (the trial then runs to the end, unpruned).
 */
export function trainerIntermediateMetric(study: Pick<Study, 'metric' | 'direction' | 'target'>, params: Record<string, Choice>): IntermediateMetric | null {
  const target = study.target;
  if (target.type !== 'trainer') return null;
  const pick = (key: string, extraParams: Record<string, Choice> = {}): IntermediateMetric => ({ key, sign: signFor(key, study.direction), extraParams });
  if (target.intermediateMetric) {
    const needsAuc = target.intermediateMetric === 'valid_metric' && target.trainer === 'gbdt' && params.validation_metric === undefined;
    return pick(target.intermediateMetric, needsAuc ? { validation_metric: 'auc' } : {});
  }
  if (study.metric.startsWith('train_')) return pick('train_loss');
  if (target.trainer !== 'gbdt' || !study.metric.startsWith('valid_')) return null;
  if (study.metric === 'valid_auc') {
    const chosen = params.validation_metric;
    if (chosen === undefined) return pick('valid_metric', { validation_metric: 'auc' });
    if (chosen === 'auc') return pick('valid_metric');
  }
  return pick('valid_loss');
}
