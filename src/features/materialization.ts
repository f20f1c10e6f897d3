import { systemClock, type Clock } from '../core/clock.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import type { EventBus } from '../core/event-bus.js';
import { newId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from '../core/pagination.js';
import { requireRole, type Actor } from '../identity/index.js';
import type { FeatureDefinitions } from './definitions.js';
import type { OfflineEngine, ResolvedFeature } from './offline-engine.js';
import type { OnlineStore } from './online-store.js';
import { formatRef } from './refs.js';
import type { FeatureStore, Materialization } from './store.js';

export interface MaterializeInput {
  /** Feature references (`name@2`, or `name` for the latest); all of one entity. */
  features?: string[];
  /** Every feature of this entity, at its latest version. */
  entity?: string;
  /** Start of the window (exclusive); with `incremental`, taken from the last run instead. */
  start?: string | null;
  /** End of the window (inclusive); defaults to now. */
  end?: string;
  /** Continue each feature from where its last successful run ended. */
  incremental?: boolean;
}

/** A materialization with its live rate and estimated time left, for progress displays. */
export interface MaterializationProgress extends Materialization {
  keysPerSecond: number | null;
  etaSeconds: number | null;
}

const BATCH_SIZE = 5_000;

function isIsoTime(s: unknown): s is string {
  return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s));
}

/**
 * Computes each entity's latest feature values into the online store, for a window or
 * incrementally. Runs in the background with progress stored after every batch; a run that was
 * interrupted can be resumed and skips the keys it had already written (writes are newer-wins, so
 * rewriting is harmless, skipping is just faster).
 */
export class Materializer {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly store: FeatureStore,
    private readonly definitions: FeatureDefinitions,
    private readonly engine: OfflineEngine,
    private readonly online: OnlineStore,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
    private readonly batchSize = BATCH_SIZE,
  ) {}

  /** Marks runs left running by a process that died as failed, so they can be resumed. */
  async recoverInterrupted(): Promise<number> {
    let count = 0;
    let after: string | null = null;
    for (;;) {
      const page = await this.store.listMaterializations({ limit: 500, after });
      for (const m of page.slice(0, 500)) {
        if ((m.status === 'running' || m.status === 'pending') && !this.running.has(m.id)) {
          await this.store.updateMaterialization(m.id, { status: 'failed', error: 'interrupted: the server stopped during the run; resume it' });
          count++;
        }
      }
      if (page.length <= 500) return count;
      const last = page[499]!;
      after = `${last.createdAt}|${last.id}`;
    }
  }

  /** Validates the request, records the run and starts it in the background. */
  async start(input: MaterializeInput, actor: Actor): Promise<Materialization> {
    requireRole(actor, 'editor', 'materializing features');
    const v = new ValidationErrors();
    if ((input.features === undefined) === (input.entity === undefined)) v.add('features', 'give either features or entity');
    if (input.features !== undefined && (!Array.isArray(input.features) || input.features.length === 0)) {
      v.add('features', 'expected a non-empty list of feature references');
    }
    if (input.start != null && !isIsoTime(input.start)) v.add('start', 'expected an ISO-8601 time');
    if (input.end !== undefined && !isIsoTime(input.end)) v.add('end', 'expected an ISO-8601 time');
    if (input.incremental && input.start != null) v.add('start', 'an incremental run starts where the last one ended; omit start');
    v.throwIfAny();

    const features = await this.resolveFeatures(input);
    const entities = [...new Set(features.map((f) => f.spec.entity))];
    if (entities.length > 1) {
      throw CairnError.validation([{ path: 'features', reason: `all features must share one entity; got ${entities.join(', ')}` }]);
    }
    const refs = features.map((f) => formatRef(f.name, f.version));
    const end = input.end ? new Date(input.end).toISOString() : this.clock.now().toISOString();
    let start = input.start ? new Date(input.start).toISOString() : null;
    if (input.incremental) {
      const marks = await this.store.getWatermarks(refs);
      // The earliest watermark covers every feature; a feature never materialized starts from the beginning.
      start = refs.every((r) => marks[r]) ? refs.map((r) => marks[r]!).sort()[0]! : null;
    }
    if (start !== null && start >= end) {
      throw CairnError.validation([{ path: 'end', reason: `the window is empty: start ${start} is not before end ${end}` }]);
    }
    const m: Materialization = {
      id: newId('mat'),
      entity: entities[0]!,
      features: refs,
      windowStart: start,
      windowEnd: end,
      incremental: Boolean(input.incremental),
      status: 'pending',
      totalKeys: null,
      doneKeys: 0,
      valuesWritten: 0,
      error: null,
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
      startedAt: null,
      finishedAt: null,
    };
    await this.store.insertMaterialization(m);
    this.launch(m, features, 0);
    return m;
  }

  /** Resumes a failed run from the keys it had written. */
  async resume(id: string, actor: Actor): Promise<Materialization> {
    requireRole(actor, 'editor', 'materializing features');
    const m = await this.get(id);
    if (m.status !== 'failed' || this.running.has(id)) {
      throw new CairnError('CONFLICT', `materialization ${id} is ${m.status}; only a failed run can be resumed`, { status: m.status });
    }
    const features = await Promise.all(m.features.map((r) => this.definitions.resolve(r.split('@')[0]!, Number(r.split('@')[1]))));
    await this.store.updateMaterialization(id, { status: 'pending', error: null, finishedAt: null });
    this.launch({ ...m, status: 'pending' }, features, m.doneKeys);
    return this.get(id);
  }

  async get(id: string): Promise<MaterializationProgress> {
    const m = await this.store.getMaterialization(id);
    if (!m) throw new CairnError('MATERIALIZATION_NOT_FOUND', `materialization ${id} not found`, { id });
    return this.withRate(m);
  }

  async list(o: { limit?: number; cursor?: string }): Promise<Page<MaterializationProgress>> {
    const limit = pageSize(o.limit);
    const rows = await this.store.listMaterializations({ limit, after: decodeCursor(o.cursor) });
    const items = rows.slice(0, limit).map((m) => this.withRate(m));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(`${last.createdAt}|${last.id}`) : null };
  }

  /** Resolves when the run ends (for tests, the CLI's --wait, and shutdown). */
  async wait(id: string): Promise<MaterializationProgress> {
    await this.running.get(id);
    return this.get(id);
  }

  /** Waits for every run in this process to end. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private withRate(m: Materialization): MaterializationProgress {
    if (!m.startedAt || m.doneKeys === 0) return { ...m, keysPerSecond: null, etaSeconds: null };
    const endMs = m.finishedAt ? Date.parse(m.finishedAt) : this.clock.now().getTime();
    const seconds = Math.max((endMs - Date.parse(m.startedAt)) / 1000, 1e-3);
    const rate = m.doneKeys / seconds;
    const eta = m.totalKeys !== null && m.status === 'running' ? Math.max(m.totalKeys - m.doneKeys, 0) / rate : null;
    return { ...m, keysPerSecond: Math.round(rate), etaSeconds: eta === null ? null : Math.round(eta) };
  }

  private async resolveFeatures(input: MaterializeInput): Promise<ResolvedFeature[]> {
    if (input.entity !== undefined) {
      await this.definitions.getEntity(input.entity);
      const latest = [];
      let cursor: string | undefined;
      do {
        const page = await this.definitions.listFeatures({ entity: input.entity, limit: 1000, ...(cursor ? { cursor } : {}) });
        latest.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      if (latest.length === 0) throw CairnError.validation([{ path: 'entity', reason: `entity ${input.entity} has no features` }]);
      return Promise.all(latest.map((f) => this.definitions.resolve(f.name, f.version)));
    }
    const uses = await this.definitions.resolveUses(input.features, 'features');
    return uses.map((u) => u.feature);
  }

  private launch(m: Materialization, features: ResolvedFeature[], skipKeys: number): void {
    const run = this.execute(m, features, skipKeys)
      .catch(async (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        this.logger.error({ err, materialization: m.id }, 'materialization failed');
        await this.store
          .updateMaterialization(m.id, { status: 'failed', error: message, finishedAt: this.clock.now().toISOString() })
          .catch(() => {});
      })
      .finally(() => this.running.delete(m.id));
    this.running.set(m.id, run);
  }

  private async execute(m: Materialization, features: ResolvedFeature[], skipKeys: number): Promise<void> {
    const startedAt = m.startedAt ?? this.clock.now().toISOString();
    await this.store.updateMaterialization(m.id, { status: 'running', startedAt });
    let done = 0;
    let written = m.valuesWritten;
    await this.engine.latestValues(
      {
        features,
        start: m.windowStart,
        end: m.windowEnd,
        batchSize: this.batchSize,
        // Progress is informative: a failed write of it must not fail (or crash) the run.
        onTotal: (total) =>
          void this.store.updateMaterialization(m.id, { totalKeys: total }).catch((err: unknown) => this.logger.warn({ err }, 'could not record progress')),
      },
      async (rows) => {
        const fresh = done + rows.length <= skipKeys ? [] : rows.slice(Math.max(skipKeys - done, 0));
        done += rows.length;
        if (fresh.length > 0) written += await this.online.write(m.entity, fresh);
        await this.store.updateMaterialization(m.id, { doneKeys: done, valuesWritten: written });
      },
    );
    const finishedAt = this.clock.now().toISOString();
    const marks = await this.store.getWatermarks(m.features);
    // Watermarks only move forward: a backfill of an older window does not rewind incremental runs.
    const advance = m.features.filter((r) => !marks[r] || marks[r]! < m.windowEnd);
    await this.store.setWatermarks(advance, m.windowEnd, finishedAt);
    await this.store.updateMaterialization(m.id, { status: 'succeeded', doneKeys: done, valuesWritten: written, finishedAt });
    this.bus.publish({
      type: 'materialization.succeeded',
      at: finishedAt,
      actor: m.createdBy,
      payload: { id: m.id, entity: m.entity, features: m.features, keys: done },
    });
  }
}
