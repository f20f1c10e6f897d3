/**
 * Objectives for the study targets that need no user code: a built-in trainer through
 * TrainingService (the training run is the trial's run, pruned mid-fit), or an external command.
 */
import { spawn } from 'node:child_process';
import { CairnError } from '../core/errors.js';
import type { Actor } from '../identity/index.js';
import type { TrainingService } from '../training/index.js';
import type { TrackingService } from '../tracking/index.js';
import type { Params, Study, StudyTarget } from './model.js';
import { TrialPruned, type Objective, type TrialHandle } from './run-study.js';
import { trainerIntermediateMetric } from './trainer-metrics.js';

type CommandTarget = Extract<StudyTarget, { type: 'command' }>;
type TrainerTarget = Extract<StudyTarget, { type: 'trainer' }>;

/** What a command objective needs besides the command. */
export interface CommandObjectiveDeps {
  /** Added to the command's environment (CAIRN_URL and CAIRN_TOKEN, for a command that logs through the API). */
  env?: Record<string, string>;
  /** The study metric as logged to a run; null when the run has none. */
  readMetric(runId: string): Promise<number | null>;
}

/**
 * The objective of a `command` study: the command runs in a shell and sees CAIRN_PARAMS (JSON),
 * one CAIRN_PARAM_<NAME> per parameter, CAIRN_TRIAL_ID, CAIRN_STUDY and CAIRN_RUN_ID; its value
 * is the number on its last line of output, else the study metric it logged to its run. A
 * non-zero exit fails the trial with the last line of its stderr.
 */
export function commandObjective(study: Study, target: CommandTarget, deps: CommandObjectiveDeps): Objective {
  return async (params, trial) => {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...(deps.env ?? {}),
      CAIRN_PARAMS: JSON.stringify(params),
      CAIRN_TRIAL_ID: trial.id,
      CAIRN_STUDY: study.name,
      ...(trial.runId ? { CAIRN_RUN_ID: trial.runId } : {}),
    };
    for (const [k, v] of Object.entries(params)) env[`CAIRN_PARAM_${k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = String(v);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(target.command, { shell: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`command exited with ${code}: ${err.trim().split('\n').pop() ?? ''}`))));
    });
    const last = output.trim().split('\n').pop()?.trim() ?? '';
    const value = Number(last);
    if (last !== '' && Number.isFinite(value)) return value;
    const logged = trial.runId ? await deps.readMetric(trial.runId) : null;
    if (logged !== null) return logged;
    throw new Error(`the command printed no value as its last line and logged no ${study.metric} to its run: ${JSON.stringify(last)}`);
  };
}

/**
 * Sends a trial's intermediate values one at a time: a value that arrives while one is in flight
 * replaces the one still waiting, so a fast trainer never queues reports behind a slow database
 * and the pruner always judges the latest. `onPrune` hears the step the pruner stopped.
 */
function coalescedReports(trial: TrialHandle, onPrune: (step: number) => void) {
  let waiting: { step: number; value: number } | null = null;
  let inFlight: Promise<void> | null = null;
  let pruned = false;
  const send = async () => {
    while (waiting && !pruned) {
      const { step, value } = waiting;
      waiting = null;
      // A refused report means the trial ended elsewhere; the heartbeat then says stop.
      await trial.report(step, value).catch(() => {});
      if (trial.shouldPrune()) {
        pruned = true;
        onPrune(step);
      }
    }
    inFlight = null;
  };
  return {
    push(step: number, value: number): void {
      if (pruned) return;
      waiting = { step, value };
      inFlight ??= send();
    },
    /** Resolves once no report is in flight. */
    settled: (): Promise<void> => inFlight ?? Promise.resolve(),
  };
}

function trainerObjective(study: Study, target: TrainerTarget, deps: { training: TrainingService; tracking: TrackingService; actor: Actor }): Objective {
  return async (params: Params, trial: TrialHandle) => {
    const metric = trainerIntermediateMetric(study, params);
    let runId: string | null = null;
    let stopReason: string | null = null;
    const stop = (reason: string) => {
      stopReason ??= reason;
      if (runId) deps.training.stop(runId, stopReason);
    };
    const reports = coalescedReports(trial, (step) => stop(`pruned at iteration ${step}`));
    const run = await deps.training.start(
      {
        experiment: study.experiment,
        runName: `${study.name}-trial-${trial.number}`,
        trainer: target.trainer,
        dataset: target.dataset,
        label: target.label,
        params: { ...params, ...(metric?.extraParams ?? {}) },
        parentRunId: study.runId,
        tags: { 'cairn.study': study.name, 'cairn.trial': String(trial.number) },
        ...(target.validation ? { validation: target.validation } : {}),
        ...(target.features ? { features: target.features } : {}),
        ...(target.categorical ? { categorical: target.categorical } : {}),
      },
      deps.actor,
      {
        onIteration: (report) => {
          // Cancelled study, or the trial failed by another worker: no point in fitting on.
          if (trial.shouldPrune()) stop(`stopped at iteration ${report.iteration}: the study was cancelled or the trial ended elsewhere`);
          const value = metric ? report.metrics[metric.key] : undefined;
          if (metric && value !== undefined && Number.isFinite(value)) reports.push(report.iteration, metric.sign * value);
        },
      },
    );
    runId = run.id;
    if (stopReason !== null) deps.training.stop(run.id, stopReason);
    try {
      await trial.attachRun(run.id);
    } catch (err) {
      deps.training.stop(run.id, 'the trial ended before its training started');
      await deps.training.wait(run.id);
      throw err;
    }
    const outcome = await deps.training.wait(run.id);
    await reports.settled();
    if (!outcome) throw new Error(`training of run ${run.id} did not run in this process`);
    if (outcome.stopped) throw new TrialPruned();
    if (outcome.error) throw new Error(outcome.error);
    const { metrics } = await deps.tracking.getRun(run.id);
    const point = metrics[study.metric];
    if (!point) throw new Error(`run ${run.id} has no metric ${study.metric} (it has ${Object.keys(metrics).join(', ') || 'none'})`);
    return point.value;
  };
}

/**
 * The refusal of a study whose trials are a TypeScript function: only the program holding that
 * function can run them (runStudy in the SDK).
 */
export function needsItsFunction(study: Study): CairnError {
  return new CairnError('BAD_REQUEST', `study ${study.name} evaluates a TypeScript function: run it with runStudy() in the SDK`, { study: study.name });
}

/**
 * The objective of a study's target, run in this process: `trainer` trains in a worker thread here
 * (so it needs the platform's services, not a remote server), `command` runs the command here.
 * @throws BAD_REQUEST for a `function` target (it needs runStudy with code)
 */
export function targetObjective(study: Study, deps: { training: TrainingService; tracking: TrackingService; actor: Actor; env?: Record<string, string> }): Objective {
  const target = study.target;
  if (target.type === 'function') throw needsItsFunction(study);
  if (target.type === 'trainer') return trainerObjective(study, target, deps);
  return commandObjective(study, target, {
    ...(deps.env ? { env: deps.env } : {}),
    readMetric: async (runId) => (await deps.tracking.getRun(runId)).metrics[study.metric]?.value ?? null,
  });
}
