/**
 * Pruners decide, from intermediate values (for gbdt the validation loss per boosting round),
 * whether a running trial is hopeless. Pure functions of the trial and the study's other trials,
 * so any worker reaches the same decision from what the database holds.
 */
import type { Direction, PrunerConfig, Trial } from './model.js';

export const MEDIAN_DEFAULTS = { nStartupTrials: 5, nWarmupSteps: 0 } as const;
export const SH_DEFAULTS = { minResource: 1, reductionFactor: 3 } as const;

const steps = (t: Pick<Trial, 'intermediate'>) => Object.keys(t.intermediate).map(Number).sort((a, b) => a - b);
const better = (direction: Direction, a: number, b: number) => (direction === 'minimize' ? a < b : a > b);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The value a trial had reached by `step`: its value at the first reported step ≥ `rung`… or null. */
function valueAtOrAfter(t: Pick<Trial, 'intermediate'>, rung: number): number | null {
  for (const s of steps(t)) if (s >= rung) return t.intermediate[String(s)]!;
  return null;
}

/**
 * Whether `trial`, having just reported `step`, should stop.
 * - median: after `nStartupTrials` complete trials and `nWarmupSteps` steps, prune when the
 *   trial's best value so far is worse than the median of the complete trials' values at `step`.
 * - successive-halving (asynchronous, as Optuna's): rungs at minResource·η^k; on reaching a rung
 *   the trial continues only when its value is within the top ⌊n/η⌋ (at least the best one) of
 *   the n trials that reached that rung.
 */
export function shouldPrune(config: PrunerConfig, direction: Direction, trial: Pick<Trial, 'id' | 'intermediate'>, step: number, trials: readonly Trial[]): boolean {
  const value = trial.intermediate[String(step)];
  if (value === undefined || config.type === 'none') return false;
  if (!Number.isFinite(value)) return true;
  const others = trials.filter((t) => t.id !== trial.id);
  if (config.type === 'median') {
    const startup = config.nStartupTrials ?? MEDIAN_DEFAULTS.nStartupTrials;
    const warmup = config.nWarmupSteps ?? MEDIAN_DEFAULTS.nWarmupSteps;
    const complete = others.filter((t) => t.state === 'complete');
    if (complete.length < startup || step < warmup) return false;
    const atStep = complete.map((t) => t.intermediate[String(step)]).filter((x): x is number => x !== undefined && Number.isFinite(x));
    if (atStep.length === 0) return false;
    let best = value;
    for (const s of steps(trial)) if (s <= step && better(direction, trial.intermediate[String(s)]!, best)) best = trial.intermediate[String(s)]!;
    return better(direction, median(atStep), best);
  }
  const r = config.minResource ?? SH_DEFAULTS.minResource;
  const eta = config.reductionFactor ?? SH_DEFAULTS.reductionFactor;
  const previous = steps(trial).filter((s) => s < step);
  const last = previous.length > 0 ? previous[previous.length - 1]! : -Infinity;
  // The rungs crossed by this report: each is judged once, when first reached.
  for (let rung = r; rung <= step; rung *= eta) {
    if (rung <= last) continue;
    const competing = [value, ...others.map((t) => valueAtOrAfter(t, rung)).filter((x): x is number => x !== null && Number.isFinite(x))];
    competing.sort((a, b) => (direction === 'minimize' ? a - b : b - a));
    const idx = Math.max(0, Math.floor(competing.length / eta) - 1);
    if (better(direction, competing[idx]!, value)) return true;
    if (eta <= 1) break;
  }
  return false;
}
