import type { Kysely, Transaction } from 'kysely';
import { CairnError } from '../core/errors.js';
import { chunks, type Dialect } from '../storage/db.js';
import type { RunKeyValueTable, RunTable, Schema } from '../storage/schema.js';
import type { EndStatus, Experiment, MetricEntry, MetricPoint, Run, RunArtifact, RunStatus } from './model.js';
import { searchFilterFirst, searchSortWindow, sortColumn } from './search-query.js';
import type { ListOptions, LogBatch, RunImport, RunSearch, RunSearchRow, TrackingStore } from './store.js';

const json = (v: unknown): string => JSON.stringify(v);
const parse = <T>(s: string): T => JSON.parse(s) as T;

// Rows per multi-row INSERT: 5 columns × 1000 stays far below SQLite's 32,766 and PostgreSQL's
// 65,535 bound parameters, and big statements are what makes bulk logging fast.
const CHUNK = 1000;

// A plain decimal or scientific number; anything else ("0x1f", " 6", "1,5") is text only.
const NUMERIC_TEXT = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** The number a param or tag value stands for, or null when it is not a plain number. */
export function numericValue(text: string): number | null {
  if (!NUMERIC_TEXT.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

function keyValueRows(runId: string, entries: { key: string; value: string }[]): RunKeyValueTable[] {
  return entries.map(({ key, value }) => ({ run_id: runId, key, value, num_value: numericValue(value) }));
}

/** Whether `a` replaces `b` as a metric's latest point: a greater step, or the same step and not older. */
function isNewer(a: MetricPoint, b: MetricPoint): boolean {
  return a.step > b.step || (a.step === b.step && a.timestamp >= b.timestamp);
}

/** The newest point of each key among `points` (later entries win ties, as they were logged later). */
function latestByKey(points: MetricEntry[]): MetricEntry[] {
  const latest = new Map<string, MetricEntry>();
  for (const p of points) {
    const seen = latest.get(p.key);
    if (!seen || isNewer(p, seen)) latest.set(p.key, p);
  }
  return [...latest.values()];
}

function toExperiment(r: Schema['experiments']): Experiment {
  return { name: r.name, description: r.description, tags: parse(r.tags), createdAt: r.created_at, createdBy: r.created_by };
}

function toRunRow(run: Omit<Run, 'metrics'>): RunTable {
  return {
    id: run.id,
    experiment: run.experiment,
    name: run.name,
    status: run.status,
    start_time: run.startTime,
    end_time: run.endTime,
    author: run.author,
    ended_by: run.endedBy,
    parent_run_id: run.parentRunId,
    inputs: json(run.inputs),
    source: json(run.source),
  };
}

function toArtifact(r: Schema['run_artifacts']): RunArtifact {
  return { runId: r.run_id, path: r.path, digest: r.digest, size: Number(r.size), createdAt: r.created_at, createdBy: r.created_by };
}

export interface SqlTrackingStoreOptions {
  /** Rows of the first sort key a search walks before it filters first; tests make it small. */
  searchWindow?: number;
}

/** Experiment tracking on Kysely: one implementation for SQLite and PostgreSQL. */
export class SqlTrackingStore implements TrackingStore {
  private readonly searchWindow: number | null;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: Dialect,
    options: SqlTrackingStoreOptions = {},
  ) {
    this.searchWindow = options.searchWindow ?? null;
  }

  async insertExperiment(e: Experiment): Promise<void> {
    await this.db
      .insertInto('experiments')
      .values({ name: e.name, description: e.description, tags: json(e.tags), created_at: e.createdAt, created_by: e.createdBy })
      .execute();
  }

  async getExperiment(name: string): Promise<Experiment | null> {
    const r = await this.db.selectFrom('experiments').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toExperiment(r) : null;
  }

  async listExperiments(o: ListOptions): Promise<Experiment[]> {
    let q = this.db.selectFrom('experiments').selectAll().orderBy('name').limit(o.limit + 1);
    if (o.after !== null) q = q.where('name', '>', o.after);
    return (await q.execute()).map(toExperiment);
  }

  async insertRun(run: Run): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('runs').values(toRunRow(run)).execute();
      await this.insertKeyValues(trx, 'run_params', keyValueRows(run.id, Object.entries(run.params).map(([key, value]) => ({ key, value }))));
      await this.insertKeyValues(trx, 'run_tags', keyValueRows(run.id, Object.entries(run.tags).map(([key, value]) => ({ key, value }))));
    });
  }

  async importRuns(runs: RunImport[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(runs.map((r) => toRunRow(r.run)), CHUNK)) await trx.insertInto('runs').values(part).execute();
      const kv = (pick: (r: RunImport) => Record<string, string>) =>
        runs.flatMap((r) => keyValueRows(r.run.id, Object.entries(pick(r)).map(([key, value]) => ({ key, value }))));
      await this.insertKeyValues(trx, 'run_params', kv((r) => r.run.params));
      await this.insertKeyValues(trx, 'run_tags', kv((r) => r.run.tags));
      const history = runs.flatMap((r) => r.metrics.map((m) => ({ run_id: r.run.id, ...m })));
      for (const part of chunks(history, CHUNK)) await trx.insertInto('metric_history').values(part).execute();
      const latest = runs.flatMap((r) => latestByKey(r.metrics).map((m) => ({ run_id: r.run.id, ...m })));
      for (const part of chunks(latest, CHUNK)) await trx.insertInto('latest_metrics').values(part).execute();
    });
  }

  async getRun(id: string): Promise<Run | null> {
    return (await this.getRuns([id]))[0] ?? null;
  }

  async getRuns(ids: string[]): Promise<Run[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom('runs').selectAll().where('id', 'in', ids).execute();
    return this.hydrate(rows);
  }

  /** Attaches params, tags and latest metrics to run rows: three queries for the whole page. */
  private async hydrate(rows: RunTable[]): Promise<Run[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [params, tags, metrics] = await Promise.all([
      this.db.selectFrom('run_params').select(['run_id', 'key', 'value']).where('run_id', 'in', ids).orderBy('key').execute(),
      this.db.selectFrom('run_tags').select(['run_id', 'key', 'value']).where('run_id', 'in', ids).orderBy('key').execute(),
      this.db.selectFrom('latest_metrics').selectAll().where('run_id', 'in', ids).orderBy('key').execute(),
    ]);
    const runs = new Map<string, Run>();
    for (const r of rows) {
      runs.set(r.id, {
        id: r.id,
        experiment: r.experiment,
        name: r.name,
        status: r.status as RunStatus,
        startTime: r.start_time,
        endTime: r.end_time,
        author: r.author,
        endedBy: r.ended_by,
        parentRunId: r.parent_run_id,
        params: {},
        metrics: {},
        tags: {},
        inputs: parse(r.inputs),
        source: parse(r.source),
      });
    }
    for (const p of params) runs.get(p.run_id)!.params[p.key] = p.value;
    for (const t of tags) runs.get(t.run_id)!.tags[t.key] = t.value;
    for (const m of metrics) runs.get(m.run_id)!.metrics[m.key] = { value: Number(m.value), step: Number(m.step), timestamp: m.timestamp };
    return rows.map((r) => runs.get(r.id)!);
  }

  async logBatch(runId: string, batch: LogBatch): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.requireRunning(trx, runId, 'log to');
      if (batch.params.length > 0) {
        const existing = new Map<string, string>();
        for (const part of chunks(batch.params.map((p) => p.key), CHUNK)) {
          const rows = await trx.selectFrom('run_params').select(['key', 'value']).where('run_id', '=', runId).where('key', 'in', part).execute();
          for (const r of rows) existing.set(r.key, r.value);
        }
        const conflicts = batch.params
          .filter((p) => existing.has(p.key) && existing.get(p.key) !== p.value)
          .map((p) => ({ key: p.key, oldValue: existing.get(p.key)!, newValue: p.value }));
        if (conflicts.length > 0) {
          const said = conflicts.map((c) => `${c.key} is ${JSON.stringify(c.oldValue)}, not ${JSON.stringify(c.newValue)}`).join('; ');
          throw new CairnError('CONFLICT', `params are logged once: ${said}`, { runId, conflicts });
        }
        const fresh = new Map(batch.params.filter((p) => !existing.has(p.key)).map((p) => [p.key, p]));
        await this.insertKeyValues(trx, 'run_params', keyValueRows(runId, [...fresh.values()]));
      }
      // Within one batch the last value of a tag wins, as if its entries were applied in order.
      const tags = new Map(batch.tags.map((t) => [t.key, t]));
      for (const part of chunks(keyValueRows(runId, [...tags.values()]), CHUNK)) {
        await trx
          .insertInto('run_tags')
          .values(part)
          .onConflict((oc) =>
            oc.columns(['run_id', 'key']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), num_value: eb.ref('excluded.num_value') })),
          )
          .execute();
      }
      if (batch.metrics.length > 0) await this.appendMetrics(trx, runId, batch.metrics);
    });
  }

  private async appendMetrics(trx: Transaction<Schema>, runId: string, points: MetricEntry[]): Promise<void> {
    for (const part of chunks(points, CHUNK)) {
      await trx
        .insertInto('metric_history')
        .values(part.map((p) => ({ run_id: runId, key: p.key, value: p.value, step: p.step, timestamp: p.timestamp })))
        .execute();
    }
    // One upsert per batch: the batch's newest point per key replaces the stored one unless that is newer.
    const latest = latestByKey(points).map((p) => ({ run_id: runId, key: p.key, value: p.value, step: p.step, timestamp: p.timestamp }));
    for (const part of chunks(latest, CHUNK)) {
      await trx
        .insertInto('latest_metrics')
        .values(part)
        .onConflict((oc) =>
          oc
            .columns(['run_id', 'key'])
            .doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), step: eb.ref('excluded.step'), timestamp: eb.ref('excluded.timestamp') }))
            .where((eb) =>
              eb.or([
                eb('excluded.step', '>', eb.ref('latest_metrics.step')),
                eb.and([eb('excluded.step', '=', eb.ref('latest_metrics.step')), eb('excluded.timestamp', '>=', eb.ref('latest_metrics.timestamp'))]),
              ]),
            ),
        )
        .execute();
    }
  }

  async endRun(runId: string, status: EndStatus, endTime: string, endedBy: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.requireRunning(trx, runId, 'end');
      await trx.updateTable('runs').set({ status, end_time: endTime, ended_by: endedBy }).where('id', '=', runId).execute();
    });
  }

  /**
   * Reads the run's status inside `trx`, locking its row on PostgreSQL so that a concurrent end or
   * log waits (SQLite transactions already run one writer at a time).
   */
  private async requireRunning(trx: Transaction<Schema>, runId: string, what: string): Promise<void> {
    let q = trx.selectFrom('runs').select(['status', 'end_time']).where('id', '=', runId);
    if (this.dialect === 'postgres') q = q.forUpdate();
    const run = await q.executeTakeFirst();
    if (!run) throw new CairnError('RUN_NOT_FOUND', `run ${runId} not found`, { runId });
    if (run.status !== 'running') {
      throw new CairnError('CONFLICT', `cannot ${what} run ${runId}: it ended (${run.status}) at ${run.end_time}`, {
        runId,
        status: run.status,
        endTime: run.end_time,
      });
    }
  }

  private async insertKeyValues(trx: Transaction<Schema>, table: 'run_params' | 'run_tags', rows: RunKeyValueTable[]): Promise<void> {
    for (const part of chunks(rows, CHUNK)) await trx.insertInto(table).values(part).execute();
  }

  async searchRuns(q: RunSearch): Promise<RunSearchRow[]> {
    // Two plans, both exact (see search-query.ts): walk the first sort key's order and stop at a
    // full page, or else filter first. A cursor among the runs that lack the first key is past
    // every run the window could hold.
    const pastWindow = q.after !== null && (q.after.values[0] ?? null) === null;
    const rows = (!pastWindow && (await searchSortWindow(this.db, this.dialect, q, this.searchWindow))) || (await searchFilterFirst(this.db, this.dialect, q));
    // Sorting carries only ids and sort values; the page's runs are read afterwards, by id.
    const byId = new Map((await this.getRuns(rows.map((r) => r.id))).map((r) => [r.id, r]));
    return rows.map((row, i) => ({
      run: byId.get(row.id)!,
      sortValues: q.orderBy.map((_, j) => {
        const v = rows[i]![sortColumn(j)];
        return v === null || v === undefined ? null : typeof v === 'number' ? v : String(v);
      }),
    }));
  }

  async getMetricHistory(runId: string, keys?: string[]): Promise<Record<string, MetricPoint[]>> {
    let q = this.db
      .selectFrom('metric_history')
      .select(['key', 'value', 'step', 'timestamp'])
      .where('run_id', '=', runId)
      .orderBy('key')
      .orderBy('step')
      .orderBy('timestamp');
    if (keys) {
      if (keys.length === 0) return {};
      q = q.where('key', 'in', keys);
    }
    const out: Record<string, MetricPoint[]> = {};
    for (const r of await q.execute()) (out[r.key] ??= []).push({ value: Number(r.value), step: Number(r.step), timestamp: r.timestamp });
    return out;
  }

  async putArtifact(a: RunArtifact): Promise<{ artifact: RunArtifact; created: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      await this.requireRunning(trx, a.runId, 'add artifacts to');
      const same = await trx.selectFrom('run_artifacts').selectAll().where('run_id', '=', a.runId).where('path', '=', a.path).executeTakeFirst();
      if (same) {
        if (same.digest === a.digest) return { artifact: toArtifact(same), created: false };
        throw new CairnError('CONFLICT', `run ${a.runId} already has ${a.path} with other content (${same.digest}); artifacts are written once`, {
          runId: a.runId,
          path: a.path,
          digest: same.digest,
        });
      }
      // A path is a file or a folder, never both: no file may sit at one of its folders or under it.
      const parents = a.path.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));
      const folder = `${a.path}/`;
      const taken = await trx
        .selectFrom('run_artifacts')
        .select('path')
        .where('run_id', '=', a.runId)
        .where((eb) =>
          eb.or([
            eb(eb.fn('substr', ['path', eb.lit(1), eb.lit(folder.length)]), '=', folder),
            ...(parents.length > 0 ? [eb('path', 'in', parents)] : []),
          ]),
        )
        .executeTakeFirst();
      if (taken) {
        throw new CairnError('CONFLICT', `run ${a.runId} has a file ${taken.path}: ${a.path} cannot be both a file and a folder`, {
          runId: a.runId,
          path: a.path,
          existing: taken.path,
        });
      }
      await trx
        .insertInto('run_artifacts')
        .values({ run_id: a.runId, path: a.path, digest: a.digest, size: a.size, created_at: a.createdAt, created_by: a.createdBy })
        .execute();
      return { artifact: a, created: true };
    });
  }

  async getArtifact(runId: string, path: string): Promise<RunArtifact | null> {
    const r = await this.db.selectFrom('run_artifacts').selectAll().where('run_id', '=', runId).where('path', '=', path).executeTakeFirst();
    return r ? toArtifact(r) : null;
  }

  async listArtifacts(runId: string, folder: string): Promise<RunArtifact[]> {
    let q = this.db.selectFrom('run_artifacts').selectAll().where('run_id', '=', runId).orderBy('path');
    if (folder !== '') {
      // substr rather than LIKE: a folder name may hold % or _, and both dialects count characters alike.
      const prefix = `${folder}/`;
      q = q.where((eb) => eb.or([eb('path', '=', folder), eb(eb.fn('substr', ['path', eb.lit(1), eb.lit(prefix.length)]), '=', prefix)]));
    }
    return (await q.execute()).map(toArtifact);
  }
}
