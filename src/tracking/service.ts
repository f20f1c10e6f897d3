import { systemClock, type Clock } from '../core/clock.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import type { EventBus } from '../core/event-bus.js';
import { newId } from '../core/ids.js';
import { decodeCursor, encodeCursor, pageSize, toPage, type Page } from '../core/pagination.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import { isUniqueViolation } from '../storage/db.js';
import { requireRole, type Actor } from '../identity/index.js';
import { buildComparison } from './compare.js';
import {
  END_STATUSES,
  type EndStatus,
  type Experiment,
  type MetricPoint,
  type Run,
  type RunArtifact,
  type RunComparison,
  type RunSource,
} from './model.js';
import { formatOrderBy, parseFilter, parseOrderBy, type OrderKey } from './search-parser.js';
import { checkLogBatch, checkRunInputs, type LogBatchInput, type RunInputCatalog, type RunInputsInput } from './run-input.js';
import type { SearchPosition, TrackingStore } from './store.js';
import { MAX_VALUE_LENGTH, checkArtifactPath, checkExperimentName, checkRunName, checkStringMap, checkTime } from './validation.js';

export interface CreateExperimentInput {
  name: string;
  description?: string;
  tags?: Record<string, string>;
}

export interface CreateRunInput {
  experiment: string;
  /** Default `run-<8 hex digits of the id>`. */
  name?: string;
  params?: Record<string, string | number | boolean>;
  tags?: Record<string, string>;
  inputs?: RunInputsInput;
  source?: { command?: string; codeVersion?: string };
  parentRunId?: string;
  /** Default now; given when importing runs recorded elsewhere. */
  startTime?: string;
}

export interface EndRunInput {
  /** Default `finished`. */
  status?: EndStatus;
  /** Default now; not before the run's start. */
  endTime?: string;
}

export interface SearchRunsInput {
  /** Only runs of these experiments (every run when absent or empty). */
  experiments?: string[];
  /** The search language of search-parser.ts. */
  filter?: string;
  /** `metrics.auc DESC, params.lr`; default `attributes.start_time DESC`. */
  orderBy?: string | string[];
  limit?: number;
  cursor?: string;
}

export const MAX_COMPARE_RUNS = 50;
const DEFAULT_ORDER: OrderKey[] = parseOrderBy('attributes.start_time DESC');

/**
 * Experiments and runs: the rules of tracking. Params are logged once, metrics keep their whole
 * history, an ended run takes no more logging, and every write needs the editor role and records
 * its author. Publishes `experiment.created`, `run.created` and `run.ended`.
 */
export class TrackingService {
  constructor(
    private readonly store: TrackingStore,
    private readonly artifacts: ArtifactStore,
    private readonly bus: EventBus,
    private readonly clock: Clock = systemClock,
    private readonly catalog: RunInputCatalog | null = null,
  ) {}

  // ---- experiments -------------------------------------------------------------------------

  /** @throws VALIDATION_FAILED, ALREADY_EXISTS, FORBIDDEN */
  async createExperiment(input: CreateExperimentInput, actor: Actor): Promise<Experiment> {
    requireRole(actor, 'editor', 'creating an experiment');
    const v = new ValidationErrors();
    checkExperimentName(v, 'name', input.name);
    const tags = checkStringMap(v, 'tags', input.tags);
    if (input.description !== undefined) v.text('description', input.description, MAX_VALUE_LENGTH);
    v.throwIfAny();
    const experiment: Experiment = {
      name: input.name,
      description: input.description ?? '',
      tags,
      createdAt: this.now(),
      createdBy: actor.user,
    };
    try {
      await this.store.insertExperiment(experiment);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CairnError('ALREADY_EXISTS', `experiment ${input.name} already exists`, { name: input.name });
      throw err;
    }
    this.publish('experiment.created', actor, { name: experiment.name });
    return experiment;
  }

  /** @throws EXPERIMENT_NOT_FOUND */
  async getExperiment(name: string): Promise<Experiment> {
    const e = await this.store.getExperiment(name);
    if (!e) throw new CairnError('EXPERIMENT_NOT_FOUND', `experiment ${name} not found`, { name });
    return e;
  }

  async listExperiments(o: { limit?: number; cursor?: string }): Promise<Page<Experiment>> {
    const limit = pageSize(o.limit);
    return toPage(await this.store.listExperiments({ limit, after: decodeCursor(o.cursor) }), limit, (e) => e.name);
  }

  // ---- runs --------------------------------------------------------------------------------

  /**
   * Starts a run in an experiment, with its first params and tags, its inputs and source.
   * @throws VALIDATION_FAILED naming every bad field (an unknown parent run or input version too),
   *   EXPERIMENT_NOT_FOUND, FORBIDDEN
   */
  async createRun(input: CreateRunInput, actor: Actor): Promise<Run> {
    requireRole(actor, 'editor', 'creating a run');
    const v = new ValidationErrors();
    checkExperimentName(v, 'experiment', input.experiment);
    if (input.name !== undefined) checkRunName(v, 'name', input.name);
    const params = checkStringMap(v, 'params', input.params, true);
    const tags = checkStringMap(v, 'tags', input.tags);
    const startTime = input.startTime === undefined ? this.now() : checkTime(v, 'startTime', input.startTime);
    const source: RunSource = { command: input.source?.command ?? null, codeVersion: input.source?.codeVersion ?? null };
    if (source.command !== null) v.text('source.command', source.command, MAX_VALUE_LENGTH);
    if (source.codeVersion !== null) v.text('source.codeVersion', source.codeVersion, MAX_VALUE_LENGTH);
    const inputs = await checkRunInputs(v, input.inputs ?? {}, this.catalog);
    if (input.parentRunId !== undefined && !(await this.store.getRun(input.parentRunId))) {
      v.add('parentRunId', `run ${input.parentRunId} not found`);
    }
    v.throwIfAny();
    await this.getExperiment(input.experiment);

    const id = newId('run');
    const run: Run = {
      id,
      experiment: input.experiment,
      name: input.name ?? `run-${id.slice(4, 12)}`,
      status: 'running',
      startTime: startTime!,
      endTime: null,
      author: actor.user,
      endedBy: null,
      parentRunId: input.parentRunId ?? null,
      params,
      metrics: {},
      tags,
      inputs,
      source,
    };
    await this.store.insertRun(run);
    this.publish('run.created', actor, { runId: id, experiment: run.experiment, name: run.name, parentRunId: run.parentRunId });
    return run;
  }

  /** @throws RUN_NOT_FOUND */
  async getRun(id: string): Promise<Run> {
    const run = await this.store.getRun(id);
    if (!run) throw new CairnError('RUN_NOT_FOUND', `run ${id} not found`, { runId: id });
    return run;
  }

  /**
   * Logs params, metrics and tags in one atomic write: a batch with a bad entry changes nothing
   * and the error lists every bad entry with its path (`metrics[3].value`).
   * @throws VALIDATION_FAILED, RUN_NOT_FOUND, CONFLICT (the run ended, or a param would change:
   *   details.conflicts lists each key with its old and new value), FORBIDDEN
   */
  async logBatch(runId: string, input: LogBatchInput, actor: Actor): Promise<{ params: number; metrics: number; tags: number }> {
    requireRole(actor, 'editor', 'logging to a run');
    const batch = checkLogBatch(input, this.now());
    await this.store.logBatch(runId, batch);
    return { params: batch.params.length, metrics: batch.metrics.length, tags: batch.tags.length };
  }

  /**
   * Ends a running run with a status (default finished) and an end time (default now).
   * @throws VALIDATION_FAILED, RUN_NOT_FOUND, CONFLICT when it has already ended, FORBIDDEN
   */
  async endRun(runId: string, input: EndRunInput, actor: Actor): Promise<Run> {
    requireRole(actor, 'editor', 'ending a run');
    const v = new ValidationErrors();
    const status = input.status ?? 'finished';
    if (!(END_STATUSES as readonly string[]).includes(status)) v.add('status', `must be one of ${END_STATUSES.join(', ')}`);
    const endTime = input.endTime === undefined ? this.now() : checkTime(v, 'endTime', input.endTime);
    v.throwIfAny();
    const run = await this.getRun(runId);
    if (endTime! < run.startTime) {
      throw CairnError.validation([{ path: 'endTime', reason: `must not be before the run's start, ${run.startTime}` }]);
    }
    await this.store.endRun(runId, status, endTime!, actor.user);
    this.publish('run.ended', actor, { runId, experiment: run.experiment, status, endTime });
    return { ...run, status, endTime: endTime!, endedBy: actor.user };
  }

  /**
   * Runs matching a filter, in the order asked (missing values last), a page at a time.
   * @throws VALIDATION_FAILED for a bad filter or sort (path `filter` / `orderBy`, with the
   *   position) or a cursor of another sort; EXPERIMENT_NOT_FOUND for an unknown experiment
   */
  async searchRuns(input: SearchRunsInput): Promise<Page<Run>> {
    const limit = pageSize(input.limit);
    const filter = parseFilter(input.filter ?? '');
    const parsedOrder = input.orderBy === undefined ? [] : parseOrderBy(input.orderBy);
    const orderBy = parsedOrder.length > 0 ? parsedOrder : DEFAULT_ORDER;
    const signature = formatOrderBy(orderBy);
    const after = decodeSearchCursor(input.cursor, signature, orderBy.length);
    const experiments = input.experiments ?? [];
    for (const name of experiments) await this.getExperiment(name);

    const rows = await this.store.searchRuns({ experiments, filter, orderBy, limit, after });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    const nextCursor =
      rows.length > limit && last ? encodeCursor(JSON.stringify({ o: signature, v: last.sortValues, id: last.run.id })) : null;
    return { items: items.map((r) => r.run), nextCursor };
  }

  /** Every point of one metric, ordered by step. @throws RUN_NOT_FOUND */
  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    await this.getRun(runId);
    return (await this.store.getMetricHistory(runId, [key]))[key] ?? [];
  }

  /**
   * Runs side by side (at most 50): params and final metrics with differing ones marked, and
   * metric histories aligned by step unless `history` is false.
   * @throws VALIDATION_FAILED, RUN_NOT_FOUND naming every missing run
   */
  async compareRuns(ids: string[], options: { history?: boolean } = {}): Promise<RunComparison> {
    const v = new ValidationErrors();
    if (ids.length === 0) v.add('ids', 'give at least one run id');
    if (ids.length > MAX_COMPARE_RUNS) v.add('ids', `compare at most ${MAX_COMPARE_RUNS} runs`);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) v.add(`ids[${i}]`, `${id} is given twice`);
    });
    v.throwIfAny();
    const found = new Map((await this.store.getRuns(ids)).map((r) => [r.id, r]));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) throw new CairnError('RUN_NOT_FOUND', `run ${missing.join(', ')} not found`, { runIds: missing });
    const histories = options.history === false ? null : await Promise.all(ids.map((id) => this.store.getMetricHistory(id)));
    return buildComparison(ids.map((id) => found.get(id)!), histories);
  }

  // ---- artifacts ---------------------------------------------------------------------------

  /**
   * Stores bytes as the run's file at `path`. The same content at the same path again changes
   * nothing (`created` false); other content there is refused, as artifacts are written once.
   * @throws VALIDATION_FAILED (bad path), RUN_NOT_FOUND, CONFLICT (run ended, path taken), FORBIDDEN
   */
  async putArtifact(
    runId: string,
    path: string,
    content: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
    actor: Actor,
  ): Promise<{ artifact: RunArtifact; created: boolean }> {
    const checked = await this.checkArtifactWrite(runId, path, actor);
    const info = await this.artifacts.putStream(content);
    return this.recordArtifact(runId, checked, info, actor);
  }

  /**
   * Stores a local file as the run's artifact at `path`: for trainers running in this process.
   * @throws as putArtifact, and VALIDATION_FAILED naming `localFile` when there is no such file
   */
  async logArtifactFile(runId: string, path: string, localFile: string, actor: Actor): Promise<{ artifact: RunArtifact; created: boolean }> {
    const checked = await this.checkArtifactWrite(runId, path, actor);
    const info = await this.artifacts.putFile(localFile).catch((err: unknown) => {
      if (err instanceof CairnError && err.code === 'NOT_FOUND') throw CairnError.validation([{ path: 'localFile', reason: `no file at ${localFile}` }]);
      throw err;
    });
    return this.recordArtifact(runId, checked, info, actor);
  }

  /** Checks before any byte is stored, so a refused upload leaves nothing behind. */
  private async checkArtifactWrite(runId: string, path: string, actor: Actor): Promise<string> {
    requireRole(actor, 'editor', 'adding artifacts to a run');
    const checked = checkArtifactPath(path);
    const run = await this.getRun(runId);
    if (run.status !== 'running') {
      throw new CairnError('CONFLICT', `cannot add artifacts to run ${runId}: it ended (${run.status}) at ${run.endTime}`, { runId, status: run.status });
    }
    return checked;
  }

  private async recordArtifact(runId: string, path: string, info: { digest: string; size: number }, actor: Actor) {
    return this.store.putArtifact({ runId, path, digest: info.digest, size: info.size, createdAt: this.now(), createdBy: actor.user });
  }

  /** The run's files in `folder` and below (every file when absent), by path. @throws RUN_NOT_FOUND */
  async listArtifacts(runId: string, folder?: string): Promise<RunArtifact[]> {
    const prefix = checkArtifactPath(folder ?? '', 'prefix', true);
    await this.getRun(runId);
    return this.store.listArtifacts(runId, prefix);
  }

  /**
   * A run's file and a stream of its bytes (checked against the digest as they flow).
   * @throws VALIDATION_FAILED, RUN_NOT_FOUND, RUN_ARTIFACT_NOT_FOUND (also for a folder)
   */
  async openArtifact(runId: string, path: string): Promise<{ artifact: RunArtifact; stream: NodeJS.ReadableStream }> {
    const checked = checkArtifactPath(path);
    await this.getRun(runId);
    const artifact = await this.store.getArtifact(runId, checked);
    if (!artifact) {
      const inside = (await this.store.listArtifacts(runId, checked)).length > 0;
      throw new CairnError(
        'RUN_ARTIFACT_NOT_FOUND',
        inside ? `${checked} is a folder of run ${runId}: list it, or download its files one by one` : `run ${runId} has no artifact ${checked}`,
        { runId, path: checked, folder: inside },
      );
    }
    return { artifact, stream: await this.artifacts.getStream(artifact.digest) };
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  private publish(type: string, actor: Actor, payload: Record<string, unknown>): void {
    this.bus.publish({ type, at: this.now(), actor: actor.user, payload });
  }
}

/** The position a search cursor stands for; refuses cursors of another sort order. */
function decodeSearchCursor(cursor: string | undefined, signature: string, keyCount: number): SearchPosition | null {
  const text = decodeCursor(cursor);
  if (text === null) return null;
  const bad = (reason: string) => CairnError.validation([{ path: 'cursor', reason }]);
  let parsed: { o?: unknown; v?: unknown; id?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw bad('not a cursor returned by this API');
  }
  const values = parsed.v;
  const scalar = (x: unknown) => x === null || typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
  if (typeof parsed.id !== 'string' || !Array.isArray(values) || values.length !== keyCount || !values.every(scalar)) {
    throw bad('not a cursor returned by this API');
  }
  if (parsed.o !== signature) throw bad('this cursor belongs to a search with another orderBy; start again without a cursor');
  return { values: values as (string | number | null)[], id: parsed.id };
}

