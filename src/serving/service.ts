/**
 * The models a serving process holds, kept in step with the registry.
 *
 * At start it loads the Production version of every model (or of `CAIRN_SERVE_MODELS`). It then
 * follows the registry: stage transitions published on this process's event bus are seen at once,
 * and those written by other processes (a `cairn up` beside `cairn serve`, other replicas) are read
 * from the durable event log every `pollMs`. On a change the new version is loaded first and then
 * swapped in with one assignment, so a request meets either the old or the new version and never
 * waits for a load; requests that hold the old one finish on it before its session is released.
 *
 * Nothing on the request path reads the database: a stage lookup is a map read. Only a miss (a
 * model the process has not seen, a version addressed by number for the first time) loads from the
 * registry, once, shared by concurrent requests; a stage known to be empty is re-checked at most
 * once a second. Explicitly addressed versions stay loaded in a bounded LRU.
 */
import { CairnError } from '../core/errors.js';
import type { CairnEvent, EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/logger.js';
import type { EventLog } from '../storage/event-log.js';
import type { RegistryService } from '../registry/index.js';
import type { ServingConfig } from './config.js';
import type { FeatureCatalog } from './feature-fill.js';
import type { ServedVersion } from './served-version.js';
import { loadVersion, type LoaderDeps } from './version-loader.js';

/** The stages a request may address by name; other stages can hold many versions at once. */
export const SERVED_STAGES = ['Production', 'Staging'] as const;
export type ServedStage = (typeof SERVED_STAGES)[number];

/** `production`, `Staging`… → the canonical stage; null when it is not one serving answers for. */
export function parseServedStage(text: string): ServedStage | null {
  const lower = text.toLowerCase();
  return SERVED_STAGES.find((s) => s.toLowerCase() === lower) ?? null;
}

const TRANSITIONED = 'model_version.transitioned';
/** How long "this stage has no version" is believed before the registry is asked again. */
const NEGATIVE_TTL_MS = 1000;

type Slot = { served: ServedVersion } | { error: CairnError; checkedAt: number };

export interface ServingDeps {
  registry: RegistryService;
  catalog: FeatureCatalog;
  bus: EventBus;
  events: EventLog;
  logger: Logger;
  config: ServingConfig;
}

export type BatchObserver = (served: ServedVersion, rows: number) => void;

export class ServingService {
  readonly config: ServingConfig;
  private readonly slots = new Map<string, Slot>();
  /** Every loaded version, by `model@version`. */
  private readonly loaded = new Map<string, ServedVersion>();
  /** Versions addressed by number, least recently used first. */
  private readonly recent = new Map<string, ServedVersion>();
  private readonly loading = new Map<string, Promise<ServedVersion>>();
  /** Per model: the refresh in progress, so that refreshes of one model never interleave. */
  private readonly refreshing = new Map<string, Promise<void>>();
  private readonly observers = new Set<BatchObserver>();
  private readonly loader: LoaderDeps;
  private lastSeq = 0;
  private poller: NodeJS.Timeout | null = null;
  private polling = false;
  private unsubscribe: (() => void) | null = null;
  private started = false;
  private starting: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly deps: ServingDeps) {
    this.config = deps.config;
    this.loader = {
      registry: deps.registry,
      catalog: deps.catalog,
      logger: deps.logger,
      maxBatchRows: deps.config.maxBatchRows,
      maxWaitMs: deps.config.maxWaitMs,
      onBatch: (served, rows) => {
        for (const o of this.observers) o(served, rows);
      },
    };
  }

  /** True once the start-up load has finished (the OIP readiness probe). */
  get ready(): boolean {
    return this.started && !this.closed;
  }

  /** Calls `observer` with the row count of every model run; returns the unsubscribe function. */
  observeBatches(observer: BatchObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /**
   * Loads the Production versions and starts following the registry. A model whose version fails
   * to load is logged and left out; the others serve. Later calls wait for the first.
   */
  start(): Promise<void> {
    this.starting ??= this.startNow();
    return this.starting;
  }

  private async startNow(): Promise<void> {
    this.lastSeq = await this.latestSeq();
    this.unsubscribe = this.deps.bus.on(TRANSITIONED, (e) => this.onEvent(e));
    const names = this.config.models ?? (await this.productionModels());
    await Promise.all(
      names.map((name) =>
        this.refresh(name, 'Production').catch((err: unknown) => this.deps.logger.error({ err, model: name }, 'cannot load the Production version')),
      ),
    );
    if (this.closed) return;
    this.poller = setInterval(() => void this.poll(), this.config.pollMs);
    this.poller.unref();
    this.started = true;
  }

  /** Stops following the registry and releases every session once its requests are done. */
  async close(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => {});
    this.unsubscribe?.();
    if (this.poller) clearInterval(this.poller);
    await Promise.allSettled([...this.refreshing.values(), ...this.loading.values()]);
    const all = [...this.loaded.values()];
    this.loaded.clear();
    this.recent.clear();
    this.slots.clear();
    await Promise.all(all.map((v) => v.retire()));
  }

  /** The versions loaded now, for the model metadata endpoints and metrics. */
  loadedVersions(): ServedVersion[] {
    return [...this.loaded.values()];
  }

  /** The version in a stage; held for the caller (release it). @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND */
  async byStage(model: string, stage: ServedStage): Promise<ServedVersion> {
    const slot = this.slots.get(slotKey(model, stage));
    if (slot && 'served' in slot) return slot.served.acquire();
    this.checkServed(model);
    if (!slot || Date.now() - slot.checkedAt >= NEGATIVE_TTL_MS) await this.refresh(model, stage);
    const now = this.slots.get(slotKey(model, stage));
    if (now && 'served' in now) return now.served.acquire();
    throw now?.error ?? new CairnError('MODEL_VERSION_NOT_FOUND', `model ${model} has no version in ${stage}`, { model, stage });
  }

  /** A version by number, loaded on first use. @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND, CONFLICT */
  async byVersion(model: string, version: number): Promise<ServedVersion> {
    const key = versionKey(model, version);
    const hit = this.loaded.get(key);
    if (hit) {
      if (this.recent.delete(key)) this.recent.set(key, hit);
      return hit.acquire();
    }
    this.checkServed(model);
    const served = await this.load(model, version);
    this.recent.delete(key);
    this.recent.set(key, served);
    this.evict();
    return served.acquire();
  }

  private checkServed(model: string): void {
    if (this.config.models && !this.config.models.includes(model)) {
      throw new CairnError('MODEL_NOT_FOUND', `model ${model} is not served here (CAIRN_SERVE_MODELS lists ${this.config.models.join(', ')})`, { model });
    }
  }

  private onEvent(e: CairnEvent): void {
    if (e.seq !== undefined && e.seq > this.lastSeq) this.lastSeq = e.seq;
    const model = e.payload.model;
    if (typeof model === 'string') this.refreshModel(model);
  }

  /** Re-reads the served stages of a model after a transition. */
  private refreshModel(model: string): void {
    if (this.closed || (this.config.models && !this.config.models.includes(model))) return;
    for (const stage of SERVED_STAGES) {
      // Staging is loaded once someone asked for it; Production always.
      if (stage !== 'Production' && !this.slots.has(slotKey(model, stage))) continue;
      this.refresh(model, stage).catch((err: unknown) => this.deps.logger.error({ err, model, stage }, 'cannot load the new version'));
    }
  }

  /** Reads events written by other processes since the last one seen. */
  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      for (;;) {
        const page = await this.deps.events.list({ types: [TRANSITIONED], after: this.lastSeq, limit: 100 });
        for (const e of page.slice(0, 100)) this.onEvent(e);
        if (page.length <= 100) break;
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'cannot read the event log; retrying');
    } finally {
      this.polling = false;
    }
  }

  /** Brings one stage slot in line with the registry; serialized per model. */
  private refresh(model: string, stage: ServedStage): Promise<void> {
    const previous = this.refreshing.get(model) ?? Promise.resolve();
    const next = previous.then(() => this.refreshNow(model, stage));
    const tracked = next.finally(() => {
      if (this.refreshing.get(model) === tracked) this.refreshing.delete(model);
    });
    this.refreshing.set(model, tracked);
    return next;
  }

  private async refreshNow(model: string, stage: ServedStage): Promise<void> {
    if (this.closed) return;
    const key = slotKey(model, stage);
    let version: number | null;
    try {
      version = (await this.deps.registry.getByStage(model, stage)).version;
    } catch (err) {
      if (!(err instanceof CairnError && err.httpStatus === 404)) throw err;
      this.setSlot(key, { error: err, checkedAt: Date.now() });
      return;
    }
    const current = this.slots.get(key);
    if (current && 'served' in current && current.served.version === version) return;
    const served = await this.load(model, version);
    if (this.closed) return;
    this.setSlot(key, { served });
    this.deps.logger.info({ model, version, stage }, 'serving version');
  }

  private setSlot(key: string, slot: Slot): void {
    const old = this.slots.get(key);
    this.slots.set(key, slot);
    if (old && 'served' in old) this.releaseIfUnused(old.served);
  }

  /**
   * A loaded version that is still registered: one released between its load and the caller's
   * next step would be closing, so it is loaded again.
   */
  private async load(model: string, version: number): Promise<ServedVersion> {
    for (;;) {
      const served = await this.loadOnce(model, version);
      if (this.loaded.get(versionKey(model, version)) === served || this.closed) return served;
    }
  }

  private loadOnce(model: string, version: number): Promise<ServedVersion> {
    const key = versionKey(model, version);
    const have = this.loaded.get(key);
    if (have) return Promise.resolve(have);
    let pending = this.loading.get(key);
    if (!pending) {
      pending = loadVersion(this.loader, model, version)
        .then((served) => {
          this.loaded.set(key, served);
          return served;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /** Drops the oldest explicitly addressed versions beyond the cache size. */
  private evict(): void {
    while (this.recent.size > this.config.versionCacheSize) {
      const [key, served] = this.recent.entries().next().value!;
      this.recent.delete(key);
      this.releaseIfUnused(served);
    }
  }

  /** Retires a version that no stage and no LRU entry points at any more. */
  private releaseIfUnused(served: ServedVersion): void {
    const key = versionKey(served.model, served.version);
    if (this.recent.has(key)) return;
    for (const slot of this.slots.values()) if ('served' in slot && slot.served === served) return;
    if (this.loaded.get(key) === served) this.loaded.delete(key);
    void served.retire().catch((err: unknown) => this.deps.logger.warn({ err, key }, 'releasing a model session failed'));
  }

  private async latestSeq(): Promise<number> {
    let after = 0;
    for (;;) {
      const page = await this.deps.events.list({ types: [], after, limit: 1000 });
      if (page.length === 0) return after;
      after = page[Math.min(page.length, 1000) - 1]!.seq;
      if (page.length <= 1000) return after;
    }
  }

  private async productionModels(): Promise<string[]> {
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.registry.productionVersions({ limit: 500, cursor });
      names.push(...page.items.map((v) => v.model));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return names;
  }
}

const slotKey = (model: string, stage: ServedStage) => `${model}\u0000${stage}`;
const versionKey = (model: string, version: number) => `${model}@${version}`;
