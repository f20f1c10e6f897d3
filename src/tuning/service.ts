import { systemClock, type Clock } from '../core/clock.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { decodeCursor, pageSize, toPage, type Page } from '../core/pagination.js';
import { isUniqueViolation } from '../storage/db.js';
import { requireRole, type Actor } from '../identity/index.js';
import type { TrackingService } from '../tracking/index.js';
import {
  DIRECTIONS,
  PRUNERS,
  SAMPLERS,
  TRIAL_STATES,
  type Budget,
  type Choice,
  type Convergence,
  type Direction,
  type PrunerConfig,
  type SamplerConfig,
  type SearchSpace,
  type Study,
  type StudyProgress,
  type StudyTarget,
  type Trial,
  type TrialState,
} from './model.js';
import { shouldPrune } from './pruners.js';
import { mixSeed, samplePoint } from './samplers.js';
import { canonicalKey, checkSpace, gridSize } from './space.js';
import { TRAINER_ITERATION_METRICS, trainerIntermediateMetric } from './trainer-metrics.js';
import type { TuningStore } from './store.js';
import { seededRandom } from '../core/random.js';

export interface CreateStudyInput {
  name: string;
  experiment?: string;
  metric: string;
  direction?: Direction;
  space: SearchSpace;
  fixedParams?: Record<string, Choice>;
  target?: StudyTarget;
  sampler?: SamplerConfig;
  pruner?: PrunerConfig;
  budget?: Budget;
  convergence?: Convergence | null;
  seed?: number;
  heartbeatTimeoutSeconds?: number;
}

export interface FinishTrialInput {
  state: Exclude<TrialState, 'running'>;
  value?: number | null;
  error?: string;
}

/** What a worker gets when it asks for work: a trial, or why there is none. */
export interface ClaimOutcome {
  trial: Trial | null;
  /** When `trial` is null: budget, time, converged, exhausted, cancelled, completed. */
  reason: string | null;
}

/** The operations a worker loop needs; TuningService (in process) and the SDK's TuningClient (over HTTP) both offer them. */
export interface TuningBackend {
  getStudy(name: string): Promise<Study>;
  claimTrial(study: string, worker: string): Promise<ClaimOutcome>;
  attachRun(trialId: string, runId: string): Promise<void>;
  /** Records an intermediate value (also a heartbeat); `prune` says the trial should stop. */
  reportIntermediate(trialId: string, step: number, value: number): Promise<{ prune: boolean }>;
  /** `stop` is true when the trial was ended elsewhere or its study cancelled. */
  heartbeat(trialId: string): Promise<{ stop: boolean }>;
  finishTrial(trialId: string, input: FinishTrialInput): Promise<Trial>;
}

const STUDY_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
/** Fresh samples tried after a collision before falling back to random ones, then giving up. */
const MAX_SAMPLE_ATTEMPTS = 50;

/** Best finished value of trials in order; null when none has one. */
function bestOf(trials: readonly Trial[], direction: Direction): Trial | null {
  let best: Trial | null = null;
  for (const t of trials) {
    if (t.state !== 'complete' || t.value === null) continue;
    if (!best || (direction === 'minimize' ? t.value < best.value! : t.value > best.value!)) best = t;
  }
  return best;
}

/** Whether the best value moved by at most minDelta over the last `patience` complete trials. */
export function hasConverged(trials: readonly Trial[], direction: Direction, c: Convergence | null): boolean {
  if (!c) return false;
  const complete = trials.filter((t) => t.state === 'complete' && t.value !== null).sort((a, b) => (a.endedAt ?? '').localeCompare(b.endedAt ?? '') || a.number - b.number);
  if (complete.length <= c.patience) return false;
  const before = bestOf(complete.slice(0, complete.length - c.patience), direction)!.value!;
  const now = bestOf(complete, direction)!.value!;
  return Math.abs(now - before) <= c.minDelta;
}

/**
 * Studies and trials: the rules of tuning. Claims are atomic and never repeat a point; every trial
 * is a tracking run, child of the study's run; a worker that stops sending heartbeats has its
 * trial failed and retried by the next worker that asks for work. Needs the editor role to write.
 */
export class TuningService {
  constructor(
    private readonly store: TuningStore,
    private readonly tracking: TrackingService,
    private readonly clock: Clock = systemClock,
  ) {}

  /** @throws VALIDATION_FAILED naming every bad field, ALREADY_EXISTS, FORBIDDEN */
  async createStudy(input: CreateStudyInput, actor: Actor): Promise<Study> {
    requireRole(actor, 'editor', 'creating a study');
    const v = new ValidationErrors();
    if (typeof input.name !== 'string' || !STUDY_NAME.test(input.name)) v.add('name', 'letters, digits, _, . and -, at most 128');
    if (typeof input.metric !== 'string' || input.metric === '') v.add('metric', 'required: the objective metric');
    const direction = input.direction ?? 'minimize';
    if (!DIRECTIONS.includes(direction)) v.add('direction', 'must be minimize or maximize');
    checkSpace(v, 'space', input.space);
    const sampler = input.sampler ?? { type: 'tpe' };
    if (!SAMPLERS.includes(sampler.type)) v.add('sampler.type', `must be one of ${SAMPLERS.join(', ')}`);
    const pruner = input.pruner ?? { type: 'none' };
    if (!PRUNERS.includes(pruner.type)) v.add('pruner.type', `must be one of ${PRUNERS.join(', ')}`);
    const budget = input.budget ?? {};
    if (budget.trials !== undefined && !(Number.isInteger(budget.trials) && budget.trials >= 1)) v.add('budget.trials', 'expected an integer ≥ 1');
    if (budget.seconds !== undefined && !(typeof budget.seconds === 'number' && budget.seconds > 0)) v.add('budget.seconds', 'expected a number > 0');
    if (budget.trials === undefined && budget.seconds === undefined && sampler.type !== 'grid') v.add('budget', 'give trials and/or seconds');
    const convergence = input.convergence ?? null;
    if (convergence && !(Number.isInteger(convergence.patience) && convergence.patience >= 1 && typeof convergence.minDelta === 'number' && convergence.minDelta >= 0)) {
      v.add('convergence', 'expected {patience: integer ≥ 1, minDelta: number ≥ 0}');
    }
    const target = input.target ?? { type: 'function' };
    if (target.type === 'trainer' && (!target.dataset || !target.label)) v.add('target', 'a trainer target needs dataset and label');
    if (target.type === 'trainer' && !['gbdt', 'linear'].includes(target.trainer)) v.add('target.trainer', 'must be gbdt or linear');
    if (target.type === 'trainer' && target.intermediateMetric !== undefined && !(target.intermediateMetric in TRAINER_ITERATION_METRICS)) {
      v.add('target.intermediateMetric', `must be one of ${Object.keys(TRAINER_ITERATION_METRICS).join(', ')} (what the trainers report per iteration)`);
    }
    if (target.type === 'command' && !target.command) v.add('target.command', 'required');
    const fixed = input.fixedParams ?? {};
    for (const k of Object.keys(fixed)) if (input.space && k in input.space) v.add(`fixedParams.${k}`, 'is also in the search space');
    v.throwIfAny();

    const experiment = input.experiment ?? input.name;
    await this.ensureExperiment(experiment, actor);
    if (await this.store.getStudy(input.name)) throw new CairnError('ALREADY_EXISTS', `study ${input.name} already exists`, { name: input.name });
    const run = await this.tracking.createRun(
      {
        experiment,
        name: `study-${input.name}`,
        params: { sampler: sampler.type, pruner: pruner.type, metric: input.metric, direction, ...fixed },
        tags: { 'cairn.study': input.name, 'cairn.space': JSON.stringify(input.space).slice(0, 4000) },
        source: { command: `cairn tune create ${input.name}` },
      },
      actor,
    );
    const study: Study = {
      name: input.name,
      experiment,
      metric: input.metric,
      direction,
      space: input.space,
      fixedParams: fixed,
      target,
      sampler,
      pruner,
      budget,
      convergence,
      seed: input.seed ?? 0,
      heartbeatTimeoutSeconds: input.heartbeatTimeoutSeconds ?? 60,
      status: 'running',
      stopReason: null,
      runId: run.id,
      createdAt: this.now(),
      createdBy: actor.user,
      endedAt: null,
      resumedAt: null,
      elapsedBeforeResume: 0,
    };
    try {
      await this.store.insertStudy(study);
    } catch (err) {
      await this.tracking.endRun(run.id, { status: 'failed' }, actor).catch(() => {});
      if (isUniqueViolation(err)) throw new CairnError('ALREADY_EXISTS', `study ${input.name} already exists`, { name: input.name });
      throw err;
    }
    return study;
  }

  /** @throws NOT_FOUND */
  async getStudy(name: string): Promise<Study> {
    const s = await this.store.getStudy(name);
    if (!s) throw new CairnError('NOT_FOUND', `study ${name} not found`, { study: name });
    return s;
  }

  async listStudies(o: { limit?: number; cursor?: string } = {}): Promise<Page<Study>> {
    const limit = pageSize(o.limit);
    return toPage(await this.store.listStudies({ limit, after: decodeCursor(o.cursor) }), limit, (s) => s.name);
  }

  async listTrials(name: string): Promise<Trial[]> {
    await this.getStudy(name);
    return this.store.listTrials(name);
  }

  /** Trials done of the budget, the best so far, elapsed time and an estimate of what is left. */
  async progress(name: string): Promise<StudyProgress> {
    const study = await this.getStudy(name);
    const trials = await this.store.listTrials(name);
    const counts = Object.fromEntries(TRIAL_STATES.map((s) => [s, 0])) as Record<TrialState, number>;
    for (const t of trials) counts[t.state]++;
    const done = trials.filter((t) => t.state !== 'running' && t.retriedBy === null).length;
    const budget = study.budget.trials ?? (study.sampler.type === 'grid' ? gridSize(study.space, study.sampler.floatPoints ?? 5) : null);
    const best = bestOf(trials, study.direction);
    const end = study.endedAt ? Date.parse(study.endedAt) : this.clock.now().getTime();
    const sinceStart = Math.max(0, (end - Date.parse(study.resumedAt ?? study.createdAt)) / 1000);
    const elapsedSeconds = study.elapsedBeforeResume + sinceStart;
    let etaSeconds: number | null = null;
    if (study.status === 'running' && done > 0) {
      const byTrials = budget !== null ? ((budget - done) * elapsedSeconds) / done : Infinity;
      const byTime = study.budget.seconds !== undefined ? study.budget.seconds - sinceStart : Infinity;
      const eta = Math.max(0, Math.min(byTrials, byTime));
      etaSeconds = Number.isFinite(eta) ? eta : null;
    }
    return {
      study,
      counts,
      done,
      budget,
      best: best ? { trial: best.number, value: best.value!, params: best.params, runId: best.runId } : null,
      elapsedSeconds,
      etaSeconds,
    };
  }

  /** Stops a study: no new trials; running ones are told to stop at their next report or heartbeat. */
  async cancelStudy(name: string, actor: Actor): Promise<Study> {
    requireRole(actor, 'editor', 'cancelling a study');
    const study = await this.getStudy(name);
    if (study.status !== 'running') return study;
    await this.store.endStudy(name, 'cancelled', 'cancelled', this.now());
    await this.endStudyRun(study, 'killed', actor);
    return this.getStudy(name);
  }

  /**
   * Runs a completed study again with a new budget (resuming where its trials left off); a time
   * budget counts from now.
   */
  async resumeStudy(name: string, budget: Budget, actor: Actor): Promise<Study> {
    requireRole(actor, 'editor', 'resuming a study');
    const study = await this.getStudy(name);
    if (study.status === 'cancelled') throw new CairnError('CONFLICT', `study ${name} was cancelled`, { study: name });
    const v = new ValidationErrors();
    if (budget.trials !== undefined && !(Number.isInteger(budget.trials) && budget.trials >= 1)) v.add('trials', 'expected an integer ≥ 1');
    if (budget.seconds !== undefined && !(typeof budget.seconds === 'number' && budget.seconds > 0)) v.add('seconds', 'expected a number > 0');
    if (budget.trials === undefined && budget.seconds === undefined && study.sampler.type !== 'grid') v.add('trials', 'give trials and/or seconds');
    v.throwIfAny();
    await this.store.reopenStudy(name, { budget, resumedAt: this.now() });
    return this.getStudy(name);
  }

  /** A backend for worker loops in this process, acting as `actor`. */
  backend(actor: Actor): TuningBackend {
    return {
      getStudy: (name) => this.getStudy(name),
      claimTrial: (study, worker) => this.claimTrial(study, worker, actor),
      attachRun: (trialId, runId) => this.attachRun(trialId, runId, actor),
      reportIntermediate: (trialId, step, value) => this.reportIntermediate(trialId, step, value, actor),
      heartbeat: (trialId) => this.heartbeat(trialId, actor),
      finishTrial: (trialId, input) => this.finishTrial(trialId, input, actor),
    };
  }

  /**
   * Gives `worker` a trial: first the retry of a trial whose worker died, else a new point from the
   * sampler, claimed atomically (a collision draws again). Null with the reason when the study is
   * over (budget, time, convergence, exhausted grid, cancelled); the study is then completed once
   * no trial runs.
   * @throws NOT_FOUND, FORBIDDEN
   */
  async claimTrial(name: string, worker: string, actor: Actor): Promise<ClaimOutcome> {
    requireRole(actor, 'editor', 'running trials');
    const study = await this.getStudy(name);
    if (study.status !== 'running') return { trial: null, reason: study.status === 'cancelled' ? 'cancelled' : (study.stopReason ?? study.status) };
    const now = this.clock.now();
    const stop = async (reason: string): Promise<ClaimOutcome> => {
      await this.completeIfIdle(study, reason, actor);
      return { trial: null, reason };
    };
    if (study.budget.seconds !== undefined && now.getTime() - Date.parse(study.resumedAt ?? study.createdAt) >= study.budget.seconds * 1000) return stop('time');

    const staleBefore = new Date(now.getTime() - study.heartbeatTimeoutSeconds * 1000).toISOString();
    const retried = await this.store.retryStaleTrial(name, staleBefore, newId('trial'), worker, now.toISOString());
    if (retried) {
      if (retried.failed.runId) await this.endTrialRun(retried.failed, 'failed', retried.failed.error, actor);
      return { trial: await this.startTrialRun(study, retried.retry, actor), reason: null };
    }

    let trials = await this.store.listTrials(name);
    if (hasConverged(trials, study.direction, study.convergence)) return stop('converged');
    const taken = new Set<string>();
    for (const t of trials) if (t.retriedBy === null) taken.add(canonicalKey(t.params));
    for (let attempt = 0; attempt < MAX_SAMPLE_ATTEMPTS * 2; attempt++) {
      const rng = seededRandom(mixSeed(study.seed, trials.length, attempt));
      const config = attempt < MAX_SAMPLE_ATTEMPTS ? study.sampler : { type: 'random' as const };
      const params = study.sampler.type === 'grid' ? samplePoint(study.sampler, { space: study.space, direction: study.direction, trials, taken, rng }) : samplePoint(config, { space: study.space, direction: study.direction, trials, taken, rng });
      if (params === null) return stop('exhausted');
      const key = canonicalKey(params);
      if (taken.has(key)) continue;
      const result = await this.store.claimTrial({ study: name, trialId: newId('trial'), params, claimKey: key, worker, now: now.toISOString(), maxTrials: study.budget.trials ?? null });
      if (result.kind === 'claimed') return { trial: await this.startTrialRun(study, result.trial, actor), reason: null };
      if (result.kind === 'budget') return stop('budget');
      if (result.kind === 'stopped') return { trial: null, reason: (await this.getStudy(name)).stopReason ?? 'stopped' };
      // Collision: another worker claimed this point meanwhile; look again at what is taken.
      trials = await this.store.listTrials(name);
      taken.clear();
      for (const t of trials) if (t.retriedBy === null) taken.add(canonicalKey(t.params));
    }
    return stop('exhausted');
  }

  /** The trial's tracking run, for targets whose run the tuner creates (function, command). */
  private async startTrialRun(study: Study, trial: Trial, actor: Actor): Promise<Trial> {
    if (study.target.type === 'trainer') return trial;
    const run = await this.tracking.createRun(
      {
        experiment: study.experiment,
        name: `${study.name}-trial-${trial.number}`,
        parentRunId: study.runId,
        params: { ...study.fixedParams, ...trial.params },
        tags: { 'cairn.study': study.name, 'cairn.trial': String(trial.number), 'cairn.trial_state': 'running', 'cairn.worker': trial.worker },
      },
      actor,
    );
    await this.store.updateTrial(trial.id, { runId: run.id, heartbeatAt: this.now() });
    return { ...trial, runId: run.id };
  }

  /**
   * Records the tracking run a worker created for a trial (the trainer target does).
   * @throws FORBIDDEN, NOT_FOUND, RUN_NOT_FOUND; CONFLICT when the trial has ended
   */
  async attachRun(trialId: string, runId: string, actor: Actor): Promise<void> {
    requireRole(actor, 'editor', 'running trials');
    const trial = await this.getTrial(trialId);
    await this.tracking.getRun(runId);
    const alive = trial.state === 'running' && (await this.store.updateTrial(trialId, { runId, heartbeatAt: this.now() }));
    if (!alive) throw new CairnError('CONFLICT', `trial ${trialId} has ended (${(await this.getTrial(trialId)).state})`, { trialId });
  }

  private async getTrial(id: string): Promise<Trial> {
    const t = await this.store.getTrial(id);
    if (!t) throw new CairnError('NOT_FOUND', `trial ${id} not found`, { trialId: id });
    return t;
  }

  /**
   * Records an intermediate value of a running trial and asks the study's pruner about it.
   * @throws VALIDATION_FAILED, NOT_FOUND; CONFLICT when the trial has ended
   */
  async reportIntermediate(trialId: string, step: number, value: number, actor: Actor): Promise<{ prune: boolean }> {
    requireRole(actor, 'editor', 'running trials');
    if (!Number.isInteger(step) || step < 0) throw CairnError.validation([{ path: 'step', reason: 'expected an integer ≥ 0' }]);
    if (typeof value !== 'number' || Number.isNaN(value)) throw CairnError.validation([{ path: 'value', reason: 'expected a number' }]);
    const trial = await this.getTrial(trialId);
    if (trial.state !== 'running') throw new CairnError('CONFLICT', `trial ${trialId} has ended (${trial.state})`, { trialId, state: trial.state });
    const study = await this.getStudy(trial.study);
    const intermediate = { ...trial.intermediate, [String(step)]: value };
    await this.store.updateTrial(trialId, { intermediate, heartbeatAt: this.now() });
    if (trial.runId && study.target.type !== 'trainer' && Number.isFinite(value)) {
      await this.tracking.logBatch(trial.runId, { metrics: [{ key: study.metric, value, step }] }, actor).catch(() => {});
    }
    if (study.status !== 'running') return { prune: true };
    if (study.pruner.type === 'none') return { prune: false };
    const trials = await this.store.listTrials(trial.study);
    return { prune: shouldPrune(study.pruner, study.direction, { id: trialId, intermediate }, step, trials) };
  }

  /**
   * Keeps a running trial alive; `stop` is true when it has ended elsewhere or its study was cancelled.
   * @throws FORBIDDEN, NOT_FOUND
   */
  async heartbeat(trialId: string, actor: Actor): Promise<{ stop: boolean }> {
    requireRole(actor, 'editor', 'running trials');
    await this.getTrial(trialId);
    const alive = await this.store.updateTrial(trialId, { heartbeatAt: this.now() });
    if (!alive) return { stop: true };
    const trial = await this.getTrial(trialId);
    return { stop: (await this.getStudy(trial.study)).status === 'cancelled' };
  }

  /**
   * Ends a running trial as complete (with its value), pruned or failed, logs its value to its run
   * and ends the run (finished, killed when pruned, failed). When the study's budget is spent and
   * no trial runs, the study completes.
   * @throws VALIDATION_FAILED, NOT_FOUND, CONFLICT when the trial already ended (e.g. failed after a lost heartbeat)
   */
  async finishTrial(trialId: string, input: FinishTrialInput, actor: Actor): Promise<Trial> {
    requireRole(actor, 'editor', 'running trials');
    const v = new ValidationErrors();
    if (!['complete', 'pruned', 'failed'].includes(input.state)) v.add('state', 'must be complete, pruned or failed');
    if (input.state === 'complete' && !(typeof input.value === 'number' && Number.isFinite(input.value))) v.add('value', 'a complete trial needs a finite value');
    v.throwIfAny();
    const trial = await this.getTrial(trialId);
    if (input.state === 'complete') await this.recordTrainingHistory(trial);
    let value = input.value ?? null;
    if (input.state === 'pruned' && value === null) {
      const steps = Object.keys(trial.intermediate).map(Number).sort((a, b) => a - b);
      if (steps.length > 0) value = trial.intermediate[String(steps[steps.length - 1])]!;
    }
    const ended = await this.store.finishTrial(trialId, { state: input.state, value, error: input.error?.slice(0, 4000) ?? null, endedAt: this.now() });
    if (!ended) throw new CairnError('CONFLICT', `trial ${trialId} has already ended (${(await this.getTrial(trialId)).state})`, { trialId });
    const study = await this.getStudy(trial.study);
    const done = await this.getTrial(trialId);
    if (done.runId) {
      if (value !== null && Number.isFinite(value) && study.target.type !== 'trainer') {
        await this.tracking.logBatch(done.runId, { metrics: [{ key: study.metric, value, step: Object.keys(trial.intermediate).length }] }, actor).catch(() => {});
      }
      await this.endTrialRun(done, input.state === 'complete' ? 'finished' : input.state === 'pruned' ? 'killed' : 'failed', done.error, actor);
    }
    const trials = await this.store.listTrials(study.name);
    const best = bestOf(trials, study.direction);
    if (best && input.state === 'complete' && best.id === trialId) {
      await this.tracking
        .logBatch(study.runId, { metrics: [{ key: `best_${study.metric}`, value: best.value!, step: best.number }], tags: [{ key: 'cairn.best_trial', value: String(best.number) }] }, actor)
        .catch(() => {});
    }
    const counted = trials.filter((t) => t.retriedBy === null).length;
    if (study.budget.trials !== undefined && counted >= study.budget.trials) await this.completeIfIdle(study, 'budget', actor, trials);
    else if (hasConverged(trials, study.direction, study.convergence)) await this.completeIfIdle(study, 'converged', actor, trials);
    return done;
  }

  /**
   * A trainer trial reports its per-iteration values coalesced (some steps skipped while a report
   * is in flight), but the median pruner compares other trials at the very step they report: so a
   * complete trial gets every step of its training run's history as its intermediate values.
   */
  private async recordTrainingHistory(trial: Trial): Promise<void> {
    if (trial.state !== 'running' || !trial.runId) return;
    const study = await this.getStudy(trial.study);
    const metric = trainerIntermediateMetric(study, { ...study.fixedParams, ...trial.params });
    if (!metric) return;
    const history = await this.tracking.getMetricHistory(trial.runId, metric.key).catch(() => []);
    if (history.length === 0) return;
    const intermediate = { ...trial.intermediate };
    for (const p of history) if (Number.isFinite(p.value)) intermediate[String(p.step)] = metric.sign * p.value;
    await this.store.updateTrial(trial.id, { intermediate, heartbeatAt: this.now() });
  }

  private async endTrialRun(trial: Trial, status: 'finished' | 'killed' | 'failed', error: string | null, actor: Actor): Promise<void> {
    if (!trial.runId) return;
    const tags = [{ key: 'cairn.trial_state', value: trial.state }, ...(error ? [{ key: 'cairn.error', value: error.slice(0, 4000) }] : [])];
    await this.tracking.logBatch(trial.runId, { tags }, actor).catch(() => {});
    await this.tracking.endRun(trial.runId, { status }, actor).catch(() => {});
  }

  /** Completes the study with `reason` once no trial of it runs. */
  private async completeIfIdle(study: Study, reason: string, actor: Actor, trials?: Trial[]): Promise<void> {
    const all = trials ?? (await this.store.listTrials(study.name));
    if (all.some((t) => t.state === 'running')) return;
    if (await this.store.endStudy(study.name, 'completed', reason, this.now())) await this.endStudyRun(study, 'finished', actor);
  }

  private async endStudyRun(study: Study, status: 'finished' | 'killed', actor: Actor): Promise<void> {
    await this.tracking.logBatch(study.runId, { tags: [{ key: 'cairn.study_status', value: status === 'finished' ? 'completed' : 'cancelled' }] }, actor).catch(() => {});
    await this.tracking.endRun(study.runId, { status }, actor).catch(() => {});
  }

  private async ensureExperiment(name: string, actor: Actor): Promise<void> {
    try {
      await this.tracking.getExperiment(name);
    } catch (err) {
      if (!(err instanceof CairnError && err.code === 'EXPERIMENT_NOT_FOUND')) throw err;
      try {
        await this.tracking.createExperiment({ name }, actor);
      } catch (e) {
        if (!(e instanceof CairnError && e.code === 'ALREADY_EXISTS')) throw e;
      }
    }
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}
