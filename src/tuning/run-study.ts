/**
 * The worker loop: claim a trial, evaluate it, report, repeat until the study says stop. It talks
 * to a TuningBackend only, so the same loop runs in the server process (TuningService.backend) and
 * in any TypeScript process that reaches a server (the SDK's client.tuning); several loops — in
 * one process or on many machines — coordinate through the database alone.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Params, Study, Trial } from './model.js';
import type { Actor } from '../identity/index.js';
import type { TuningBackend } from './service.js';

/** Thrown by an objective (or by `trial.prune()`) to end its trial as pruned. */
export class TrialPruned extends Error {
  constructor() {
    super('trial pruned');
    this.name = 'TrialPruned';
  }
}

/** What an objective function sees of its trial. */
export interface TrialHandle {
  id: string;
  number: number;
  params: Params;
  /** The trial's tracking run. */
  runId: string | null;
  study: Study;
  /** Records an intermediate value; the pruner's answer is then `shouldPrune()`. */
  report(step: number, value: number): Promise<void>;
  shouldPrune(): boolean;
  /** Lets the objective attach a run it created itself (the trainer target does). */
  attachRun(runId: string): Promise<void>;
}

export type Objective = (params: Params, trial: TrialHandle) => Promise<number>;

export interface RunStudyOptions {
  /** Concurrent loops in this process; default 1. */
  workers?: number;
  /** Prefix of the worker ids; default `<host>-<pid>-<random>`. */
  workerId?: string;
  /** Heartbeat interval in ms; default a third of the study's heartbeat timeout. */
  heartbeatMs?: number;
  /** Called after every finished trial (progress bars). */
  onTrial?: (trial: Trial) => void;
  /** Stop claiming new trials when aborted; running ones finish. */
  signal?: AbortSignal;
}

export interface RunStudyResult {
  /** Why the loops stopped (budget, time, converged, exhausted, cancelled, aborted). */
  reason: string;
  trials: number;
}

/** A service that hands out backends for an actor (TuningService). */
interface BackendFactory {
  backend(actor: Actor): TuningBackend;
}

/**
 * Where trials come from: the SDK client (`client.tuning`), a Platform (its service, acting as the
 * configured local user), or a backend itself.
 */
export type TuningTarget = TuningBackend | { tuning: TuningBackend } | { tuning: BackendFactory; config: { auth: { localUser: string } } };

function backendOf(target: TuningTarget): TuningBackend {
  if (!('tuning' in target)) return target;
  const t = target.tuning;
  if ('backend' in t && 'config' in target) return t.backend({ user: target.config.auth.localUser, role: 'admin', tokenId: null });
  return t as TuningBackend;
}

/**
 * Runs the study's trials with `objective` until the study stops (budget, time, convergence, an
 * exhausted grid, cancellation) or `signal` aborts. A trial whose objective throws is failed with
 * the error; TrialPruned, or a return after `shouldPrune()`, ends it pruned.
 */
export async function runStudy(target: TuningTarget, studyName: string, objective: Objective, options: RunStudyOptions = {}): Promise<RunStudyResult> {
  const backend = backendOf(target);
  const study = await backend.getStudy(studyName);
  const prefix = options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const loops = Math.max(1, options.workers ?? 1);
  let count = 0;
  let reason = 'aborted';
  await Promise.all(
    Array.from({ length: loops }, async (_, i) => {
      const worker = loops === 1 ? prefix : `${prefix}-${i}`;
      for (;;) {
        if (options.signal?.aborted) return;
        const { trial, reason: why } = await backend.claimTrial(studyName, worker);
        if (!trial) {
          reason = why ?? 'stopped';
          return;
        }
        const done = await evaluate(backend, study, trial, objective, options);
        count++;
        if (done) options.onTrial?.(done);
      }
    }),
  );
  return { reason, trials: count };
}

async function evaluate(backend: TuningBackend, study: Study, trial: Trial, objective: Objective, options: RunStudyOptions): Promise<Trial | null> {
  let prune = false;
  let stop = false;
  const every = options.heartbeatMs ?? Math.max(50, (study.heartbeatTimeoutSeconds * 1000) / 3);
  const timer = setInterval(() => {
    backend.heartbeat(trial.id).then(
      (r) => void (r.stop && (stop = true)),
      () => {},
    );
  }, every);
  const handle: TrialHandle = {
    id: trial.id,
    number: trial.number,
    params: { ...trial.params },
    runId: trial.runId,
    study,
    report: async (step, value) => {
      const r = await backend.reportIntermediate(trial.id, step, value);
      prune = prune || r.prune;
    },
    shouldPrune: () => prune || stop,
    attachRun: async (runId) => {
      handle.runId = runId;
      await backend.attachRun(trial.id, runId);
    },
  };
  try {
    const value = await objective({ ...study.fixedParams, ...trial.params }, handle);
    if (prune || stop) return await backend.finishTrial(trial.id, { state: 'pruned', value: Number.isFinite(value) ? value : null });
    if (!Number.isFinite(value)) return await backend.finishTrial(trial.id, { state: 'failed', error: `the objective returned ${value}` });
    return await backend.finishTrial(trial.id, { state: 'complete', value });
  } catch (err) {
    const pruned = err instanceof TrialPruned;
    return await backend
      .finishTrial(trial.id, pruned ? { state: 'pruned' } : { state: 'failed', error: err instanceof Error ? err.message : String(err) })
      .catch(() => null); // ended elsewhere (failed by another worker after a lost heartbeat)
  } finally {
    clearInterval(timer);
  }
}
