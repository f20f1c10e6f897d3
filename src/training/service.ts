import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CairnError, ValidationErrors } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import { requireRole, type Actor } from '../identity/index.js';
import type { DatasetVersion, TrainingSets } from '../features/index.js';
import type { Run, TrackingService } from '../tracking/index.js';
import type { TrainJobResult } from './job.js';
import { TRAINERS, type IterationReport, type TrainJob, type TrainRequest } from './model.js';
import { translateParams } from './params.js';
import { runInWorker } from './run-worker.js';

/** How a finished training went, for callers that wait. */
export interface TrainingOutcome {
  run: Run;
  result: Omit<TrainJobResult, 'model' | 'onnx' | 'profile'> | null;
  error: string | null;
  /** Set when `stop()` ended the training: why, and after how many iterations. */
  stopped: { reason: string; iterations: number } | null;
}

export interface StartTrainingOptions {
  /**
   * Hears every iteration's metrics (`valid_loss`, `valid_metric`, `train_loss`) as the fit runs,
   * e.g. to feed a pruner that may then `stop()` the training. Exceptions are logged, not raised.
   */
  onIteration?: (report: IterationReport) => void;
}

/** How a training of this process is stopped. */
interface StopControl {
  /** Null until someone calls stop(). */
  reason: string | null;
  /** Set once the worker thread runs. */
  stopWorker: (() => void) | null;
}

interface RunningTraining {
  outcome: Promise<TrainingOutcome>;
  control: StopControl;
}

/**
 * Whether the process that started a run (its `cairn.pid` tag, on this machine) still runs. A run
 * without the tag predates it and counts as orphaned; a pid reused after a reboot can keep a dead
 * run `running` until that process ends, which errs on the side of not failing live work.
 */
function ownerLives(run: Run): boolean {
  const pid = Number(run.tags['cairn.pid']);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it lives, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Per-iteration metrics are sent to the run in batches, never one call per iteration. */
const FLUSH_EVERY_MS = 250;
const FLUSH_AT_POINTS = 200;

function parseDatasetRef(text: unknown, field: string, v: ValidationErrors): { name: string; version: number | null } | null {
  const m = typeof text === 'string' ? /^([a-z][a-z0-9_]{0,63})(?:@(latest|\d+))?$/.exec(text) : null;
  if (!m) {
    v.add(field, 'expected a dataset version like flights_jan@1 (or flights_jan for the latest)');
    return null;
  }
  return { name: m[1]!, version: m[2] === undefined || m[2] === 'latest' ? null : Number(m[2]) };
}

// Counts and the decision threshold describe the data, not the model: they are tags, not metrics.
const NOT_METRICS = new Set(['rows', 'positives', 'threshold']);

/** Metric names for the run: `valid_auc`, `train_log_loss`, …  */
function prefixed(prefix: string, metrics: object): { key: string; value: number }[] {
  return Object.entries(metrics)
    .filter(([key, value]) => !NOT_METRICS.has(key) && typeof value === 'number' && Number.isFinite(value))
    .map(([key, value]) => ({ key: `${prefix}_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`, value: value as number }));
}

/**
 * Trains Cairn's built-in models on feature-store datasets as tracked runs: the run records the
 * parameters, the dataset version and feature versions it used, per-iteration and final metrics,
 * and the model as ONNX with its signature and training-data profile. Training runs in a worker
 * thread; the run is created (and returned) before the fit starts.
 */
export class TrainingService {
  private readonly running = new Map<string, RunningTraining>();

  constructor(
    private readonly tracking: TrackingService,
    private readonly datasets: TrainingSets,
    private readonly artifacts: ArtifactStore,
    private readonly workDir: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Validates the request, creates the run and starts training. Throws VALIDATION_FAILED for a bad
   * request (every problem at once), DATASET_NOT_FOUND for an unknown dataset version.
   */
  async start(request: TrainRequest, actor: Actor, options: StartTrainingOptions = {}): Promise<Run> {
    requireRole(actor, 'editor', 'training a model');
    const v = new ValidationErrors();
    if (typeof request.experiment !== 'string' || request.experiment === '') v.add('experiment', 'required');
    if (!TRAINERS.includes(request.trainer)) v.add('trainer', `must be one of ${TRAINERS.join(', ')}`);
    if (typeof request.label !== 'string' || request.label === '') v.add('label', 'required: the label column');
    const trainRef = parseDatasetRef(request.dataset, 'dataset', v);
    let validRef: ReturnType<typeof parseDatasetRef> = null;
    let fraction: number | null = null;
    const validation = request.validation ?? { fraction: 0.2 };
    if ('dataset' in validation) validRef = parseDatasetRef(validation.dataset, 'validation.dataset', v);
    else if (!(typeof validation.fraction === 'number' && validation.fraction > 0 && validation.fraction < 1)) {
      v.add('validation.fraction', 'must be a number between 0 and 1 (exclusive)');
    } else fraction = validation.fraction;
    for (const field of ['features', 'categorical'] as const) {
      const list = request[field];
      if (list !== undefined && (!Array.isArray(list) || list.some((c) => typeof c !== 'string' || c === ''))) v.add(field, 'expected a list of column names');
    }
    v.throwIfAny();
    const params = translateParams(request.trainer, request.params ?? {});

    const train = await this.datasets.get(trainRef!.name, trainRef!.version);
    const valid = validRef ? await this.datasets.get(validRef.name, validRef.version) : null;
    const features = request.features ?? train.features.map((f) => f.as);
    this.checkColumns(train, request.label, features, request.categorical, 'dataset', v);
    if (valid) this.checkColumns(valid, request.label, features, undefined, 'validation.dataset', v);
    v.throwIfAny();

    await this.ensureExperiment(request.experiment, actor);
    const logged: Record<string, string | number | boolean> = {
      trainer: request.trainer,
      label: request.label,
      features: features.join(','),
      validation: valid ? `${valid.name}@${valid.version}` : `fraction ${fraction}`,
    };
    if (request.categorical) logged.categorical = request.categorical.join(',');
    for (const [k, value] of Object.entries(request.params ?? {})) logged[k] = value === null ? 'null' : (value as string | number | boolean);
    const run = await this.tracking.createRun(
      {
        experiment: request.experiment,
        ...(request.runName ? { name: request.runName } : {}),
        params: logged,
        tags: { 'cairn.trainer': request.trainer, 'cairn.server': os.hostname(), 'cairn.pid': String(process.pid), ...(request.tags ?? {}) },
        inputs: { dataset: { ref: `${train.name}@${train.version}`, contentHash: train.contentHash }, features: train.features.map((f) => f.ref) },
        source: { command: `cairn train --trainer ${request.trainer} --dataset ${train.name}@${train.version}`, ...(request.codeVersion ? { codeVersion: request.codeVersion } : {}) },
        ...(request.parentRunId ? { parentRunId: request.parentRunId } : {}),
      },
      actor,
    );

    const job: TrainJob = {
      trainer: request.trainer,
      trainPath: await this.localPath(train),
      validationPath: valid ? await this.localPath(valid) : null,
      validationFraction: fraction,
      label: request.label,
      features,
      categorical: request.categorical,
      params,
      seed: typeof params.seed === 'number' ? params.seed : 0,
    };
    const control: StopControl = { reason: null, stopWorker: null };
    const outcome = this.execute(run, job, control, options, actor).finally(() => this.running.delete(run.id));
    this.running.set(run.id, { outcome, control });
    return run;
  }

  /**
   * Stops a training of this process after its current iteration: its run ends `killed` with the
   * tag `cairn.stopped` = `reason` and no model (a fit that had already finished is not stored
   * either). False when no training of that run is in this process (it ended, or runs elsewhere).
   */
  stop(runId: string, reason: string): boolean {
    const control = this.running.get(runId)?.control;
    if (!control) return false;
    control.reason ??= reason;
    control.stopWorker?.();
    return true;
  }

  /**
   * Fails the built-in trainings that a process on this machine left running when it died, so
   * no run stays `running` forever. Runs of other machines are theirs to judge, and so are the
   * runs of processes on this machine that still live (a `cairn tune worker` beside `cairn up`).
   */
  async recoverInterrupted(actor: Actor): Promise<number> {
    const filter = `attributes.status = 'running' AND tags.\`cairn.server\` = '${os.hostname().replace(/'/g, "''")}'`;
    const orphans: Run[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.tracking.searchRuns({ filter, limit: 100, ...(cursor ? { cursor } : {}) });
      orphans.push(...page.items.filter((r) => !this.running.has(r.id) && !ownerLives(r)));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    for (const run of orphans) {
      await this.tracking.logBatch(run.id, { tags: [{ key: 'cairn.error', value: 'interrupted: the server stopped during training' }] }, actor);
      await this.tracking.endRun(run.id, { status: 'failed' }, actor);
    }
    return orphans.length;
  }

  /** Resolves when the run's training ends; null when no training of that run is in this process. */
  async wait(runId: string): Promise<TrainingOutcome | null> {
    return (await this.running.get(runId)?.outcome) ?? null;
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((t) => t.outcome));
  }

  private checkColumns(ds: DatasetVersion, label: string, features: string[], categorical: string[] | undefined, field: string, v: ValidationErrors): void {
    const columns = new Set(ds.schema.map((c) => c.name));
    const where = `dataset ${ds.name}@${ds.version}`;
    if (!columns.has(label)) v.add('label', `${where} has no column ${JSON.stringify(label)}`);
    features.forEach((f, i) => {
      if (!columns.has(f)) v.add(`features[${i}]`, `${where} has no column ${JSON.stringify(f)}`);
      if (f === label) v.add(`features[${i}]`, 'the label cannot also be an input');
    });
    categorical?.forEach((c, i) => {
      if (!features.includes(c)) v.add(`categorical[${i}]`, `${JSON.stringify(c)} is not one of the features`);
    });
    if (features.length === 0) v.add(field === 'dataset' ? 'features' : field, 'at least one input column is required');
  }

  private async ensureExperiment(name: string, actor: Actor): Promise<void> {
    try {
      await this.tracking.getExperiment(name);
    } catch (err) {
      if (!(err instanceof CairnError && err.code === 'EXPERIMENT_NOT_FOUND')) throw err;
      try {
        await this.tracking.createExperiment({ name }, actor);
      } catch (e) {
        if (!(e instanceof CairnError && e.code === 'ALREADY_EXISTS')) throw e; // created meanwhile
      }
    }
  }

  private async localPath(ds: DatasetVersion): Promise<string> {
    if (!this.artifacts.localPath) throw new CairnError('UNAVAILABLE', 'training needs an artifact store with local files');
    return this.artifacts.localPath(ds.contentHash);
  }

  private async execute(run: Run, job: TrainJob, control: StopControl, options: StartTrainingOptions, actor: Actor): Promise<TrainingOutcome> {
    let pending: { key: string; value: number; step: number }[] = [];
    let lastFlush = performance.now();
    // Batches are sent one after another; the first failure is kept (not left unhandled) and
    // surfaces at the final flush, which fails the run.
    let flushing: Promise<void> = Promise.resolve();
    let flushError: unknown = null;
    const flush = async () => {
      if (pending.length > 0) {
        const metrics = pending;
        pending = [];
        lastFlush = performance.now();
        flushing = flushing.then(async () => {
          if (flushError === null) await this.tracking.logBatch(run.id, { metrics }, actor).then(() => undefined, (err: unknown) => void (flushError = err));
        });
      }
      await flushing;
      if (flushError !== null) throw flushError;
    };
    try {
      const worker = runInWorker(job, (event) => {
        if (event.type !== 'iteration') return;
        for (const [key, value] of Object.entries(event.report.metrics)) pending.push({ key, value, step: event.report.iteration });
        if (pending.length >= FLUSH_AT_POINTS || performance.now() - lastFlush > FLUSH_EVERY_MS) flush().catch(() => {}); // kept in flushError
        try {
          options.onIteration?.(event.report);
        } catch (err) {
          this.logger.warn({ run: run.id, err }, 'iteration listener failed');
        }
      });
      control.stopWorker = worker.stop;
      if (control.reason !== null) worker.stop();
      const result = await worker.done;
      await flush();
      if ('stopped' in result || control.reason !== null) {
        const reason = control.reason ?? 'stopped';
        const iterations = result.iterations;
        await this.tracking.logBatch(run.id, { metrics: [{ key: 'iterations', value: iterations }], tags: [{ key: 'cairn.stopped', value: reason.slice(0, 4000) }] }, actor);
        const ended = await this.tracking.endRun(run.id, { status: 'killed' }, actor);
        return { run: ended, result: null, error: null, stopped: { reason, iterations } };
      }
      const summary = [
        ...prefixed('valid', result.metrics.valid),
        ...prefixed('train', result.metrics.train),
        { key: 'fit_seconds', value: result.seconds.fit },
        { key: 'iterations', value: result.iterations },
        ...(result.bestIteration !== null ? [{ key: 'best_iteration', value: result.bestIteration }] : []),
      ];
      await this.tracking.logBatch(
        run.id,
        { metrics: summary, tags: [{ key: 'cairn.train_rows', value: String(result.rows.train) }, { key: 'cairn.valid_rows', value: String(result.rows.valid) }] },
        actor,
      );
      await this.storeModel(run.id, result, actor);
      const ended = await this.tracking.endRun(run.id, { status: 'finished' }, actor);
      const { model: _m, onnx: _o, profile: _p, ...rest } = result;
      return { run: ended, result: rest, error: null, stopped: null };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.logger.warn({ run: run.id, err }, 'training failed');
      await flush().catch(() => {});
      await this.tracking.logBatch(run.id, { tags: [{ key: 'cairn.error', value: message.slice(0, 4000) }] }, actor).catch(() => {});
      const ended = await this.tracking.endRun(run.id, { status: 'failed' }, actor).catch(() => run);
      return { run: ended, result: null, error: message, stopped: null };
    }
  }

  /** The model files a registry version is later made from, under `model/` in the run. */
  private async storeModel(runId: string, result: TrainJobResult, actor: Actor): Promise<void> {
    const dir = path.join(this.workDir, newId('train'));
    fs.mkdirSync(dir, { recursive: true });
    try {
      const files: [string, string | Uint8Array][] = [
        ['model/model.onnx', result.onnx],
        ['model/model.json', JSON.stringify(result.model)],
        ['model/signature.json', JSON.stringify(result.signature, null, 2)],
        ['model/profile.json', JSON.stringify(result.profile, null, 2)],
      ];
      if (result.model.type === 'gbdt') files.push(['model/feature_importance.json', JSON.stringify(result.model.featureImportance, null, 2)]);
      for (const [name, content] of files) {
        const local = path.join(dir, path.basename(name));
        fs.writeFileSync(local, content);
        await this.tracking.logArtifactFile(runId, name, local, actor);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
