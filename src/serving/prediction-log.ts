/**
 * The prediction log: every served prediction reaches the store, in batches, without ever making a
 * response wait for the store.
 *
 * How a record travels. `record()` serializes the records, appends them as JSON lines to this
 * process's current spool file with one synchronous write(2) (no fsync; about 2 µs), and queues
 * the rows in memory. A flush pass runs at least every `flushIntervalMs`, as soon as the queue
 * holds `batchSize` rows, on `flush()` and on `close()`. A pass seals the current spool file
 * (later records go to a new one), writes the queued rows to the store as multi-row inserts, one
 * transaction per batch, and deletes each sealed file once all its rows are stored. Between batches it yields to the event loop, so a large flush on SQLite
 * (whose driver is synchronous) never holds a response for longer than one batch.
 *
 * When the store fails, nothing is retried from memory: the rows are already in their spool
 * files, which are fsynced (off the event loop), kept and replayed — by every later pass once the store answers, and at start
 * by the next process for the files of a process that died. Replay inserts ignoring ids already
 * stored, so a file replayed twice, or a batch stored just before a crash, is stored once. A row
 * the store refuses on its own while the store is up is moved to `rejected/` and logged, so one
 * bad row cannot block the spool. When the memory queue is full (`maxQueue`), new records go to
 * the spool file only and are replayed from it: memory stays bounded however slow the store is.
 *
 * The guarantee. Once `record()` has returned — which is before the serving core sends the
 * response — the records survive a kill -9 of the process: they are in the kernel's page cache,
 * and the next process (or the next open of the same spool directory) replays them exactly once.
 * They survive a crash of the machine (power loss, kernel panic) once they are in the store (the
 * store's own durability then applies), or — when the store failed — once the failed flush has
 * fsynced their spool file: a machine crash can lose the records of the last flush interval
 * (about a second) that had not reached the store. A record is lost only when neither the spool file can
 * be written (disk full, directory gone) nor the memory queue has room; `stats().dropped` counts
 * those and the log says so. Refusal counts are kept in memory and added to the store with each
 * flush; a kill -9 loses at most the counts of the last flush interval.
 *
 * Writers. By default (`writer: 'self'`) the process writes its records to the store as above,
 * and also claims and replays the files other processes sealed for it. With `writer: 'spool-only'`
 * (the workers of `cairn serve`) it never writes records to the store: a pass seals the current
 * spool file and hands it over (Spool.seal), and a process in `self` mode — the cluster primary,
 * in a thread (log-writer.ts) — claims, replays and deletes it. Several SQLite writers contend for one write lock and a
 * synchronous driver waits for it on the event loop, so serving processes leave the inserts to
 * one process that serves nothing. The guarantee is unchanged: the records are in the spool file
 * before record() returns, and a sealed file is replayed exactly once (claims are atomic renames;
 * replay ignores ids already stored). Only what could not be spooled is queued in memory and
 * written by the process itself, and refusal counts are still written by each process with its
 * pass, in a small transaction and only when there are some.
 */
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { PredictionLogStats, PredictionRecord, RefusalCount } from './log-model.js';
import type { PredictionLogStore } from './log-store.js';
import { decodePredictionLine, encodePrediction, type PredictionRow } from './prediction-rows.js';
import { Spool, SpoolWriter, readSpoolLines, syncSpoolFile } from './spool.js';

export type { PredictionRecord } from './log-model.js';

/** Where every process of a Cairn home spools its predictions. */
export const predictionSpoolDir = (home: string): string => path.join(home, 'spool', 'predictions');

export type PredictionLogWriter = 'self' | 'spool-only';

export interface PredictionLogOptions {
  store: PredictionLogStore;
  /** Who writes this process's records to the store; default 'self' (see the module comment). */
  writer?: PredictionLogWriter;
  /** The spool directory, `$CAIRN_HOME/spool/predictions`. */
  spoolDir: string;
  logger?: Logger;
  /** Dates refusal counts (their minute). */
  clock?: Clock;
  /**
   * Longest time a record waits in memory before a flush — in spool-only mode, in the current
   * spool file before it is sealed; in self mode also how often sealed files are looked for. Default 1000 ms.
   */
  flushIntervalMs?: number;
  /**
   * Rows per transaction, and the queue length that starts a flush at once; default 500. SQLite's
   * driver is synchronous, so this also bounds how long one write holds the event loop (~5 ms).
   */
  batchSize?: number;
  /** Rows kept in memory; beyond it records go to the spool file only. Default 100,000. */
  maxQueue?: number;
  /** How often the spool directory is searched for files of processes that are gone; default 5000 ms. */
  maintenanceIntervalMs?: number;
  /** A process whose heartbeat is older is taken for gone even if its pid runs; default 60,000 ms. */
  staleAfterMs?: number;
}

interface Segment {
  writer: SpoolWriter | null;
  file: string;
  /** Rows of this file still queued in memory. */
  pending: number;
  /** Some rows of the file are not in memory (store failure, full queue): the file is replayed before it goes. */
  replay: boolean;
  /** Forced to disk, as a file kept for replay is. */
  synced: boolean;
}

interface Entry {
  row: PredictionRow;
  segment: Segment | null;
}

/** Rows tried one by one before a refused batch is blamed on the store rather than on its rows. */
const ONE_BY_ONE_PROBES = 3;
/** Most distinct (minute, model, reason) counts kept while the store is away. */
const MAX_REFUSAL_KEYS = 10_000;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The prediction log of one process. `record()` and `refused()` never block and never throw.
 * Open it with `PredictionLog.open`; `close()` flushes everything before the store closes.
 */
export class PredictionLog {
  private queue: Entry[] = [];
  private active: Segment | null = null;
  /** Sealed files, in order, that still hold rows not known to be stored. */
  private readonly sealed = new Map<string, Segment>();
  private refusals = new Map<string, RefusalCount>();
  private readonly refusalTotals = new Map<string, { model: string; reason: string; count: number }>();
  private readonly counts = { recorded: 0, flushed: 0, replayed: 0, spooled: 0, handedOff: 0, dropped: 0, invalid: 0, rejected: 0 };
  private storeFailing = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private nextPass: Promise<void> | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly warned = new Set<string>();

  readonly flushIntervalMs: number;
  readonly writer: PredictionLogWriter;
  private readonly batchSize: number;
  private readonly maxQueue: number;
  private readonly logger: Logger | undefined;
  private readonly clock: Clock;

  private constructor(
    private readonly store: PredictionLogStore,
    private readonly spool: Spool,
    o: PredictionLogOptions,
  ) {
    this.flushIntervalMs = o.flushIntervalMs ?? 1000;
    this.writer = o.writer ?? 'self';
    this.batchSize = o.batchSize ?? 500;
    this.maxQueue = o.maxQueue ?? 100_000;
    this.logger = o.logger;
    this.clock = o.clock ?? systemClock;
  }

  /**
   * Opens the log on a spool directory, takes over the spool files of processes that are gone
   * and starts replaying them in the background.
   * @throws when the spool directory cannot be created or written
   */
  static async open(o: PredictionLogOptions): Promise<PredictionLog> {
    const spool = Spool.open(o.spoolDir, { staleAfterMs: o.staleAfterMs ?? 60_000 });
    const log = new PredictionLog(o.store, spool, o);
    // A spool-only process replays nothing: the files of stopped processes are the writer's.
    const writes = log.writer === 'self';
    if (writes) log.adoptOrphans();
    const maintenanceMs = o.maintenanceIntervalMs ?? 5000;
    log.timers.push(
      setInterval(() => {
        if (writes) log.adoptSealed();
        if (log.hasWork()) void log.schedule();
      }, log.flushIntervalMs),
      setInterval(() => {
        void spool.heartbeat();
        if (writes && log.adoptOrphans() > 0) void log.schedule();
      }, maintenanceMs),
    );
    // A process that only logs must still be able to exit: close() is what flushes.
    for (const t of log.timers) t.unref();
    if (log.sealed.size > 0) void log.schedule();
    return log;
  }

  /** Logs served predictions. Synchronous, never throws; see the module comment for what it guarantees. */
  record(records: PredictionRecord[]): void {
    try {
      if (this.closed) {
        this.counts.dropped += records.length;
        this.warnOnce('closed', 'records arrived after the prediction log was closed; they are not logged');
        return;
      }
      const rows: PredictionRow[] = [];
      let lines = '';
      for (const r of records) {
        try {
          const encoded = encodePrediction(r);
          rows.push(encoded.row);
          lines += encoded.line;
        } catch (err) {
          this.counts.invalid++;
          this.warnOnce('invalid', `a malformed prediction record was not logged: ${(err as Error).message}`);
        }
      }
      if (rows.length === 0) return;
      const segment = this.append(lines);
      for (const row of rows) {
        if (segment && this.writer === 'spool-only') {
          // The writer replays it from the file once sealed.
          this.counts.handedOff++;
        } else if (this.queue.length < this.maxQueue) {
          this.queue.push({ row, segment });
          if (segment) segment.pending++;
        } else if (segment) {
          segment.replay = true;
          this.counts.spooled++;
        } else {
          this.counts.dropped++;
          this.warnOnce('dropped', 'prediction records were lost: the spool file cannot be written and the memory queue is full');
        }
      }
      this.counts.recorded += rows.length;
      if (this.queue.length >= this.batchSize && this.nextPass === null) void this.schedule();
    } catch (err) {
      this.counts.dropped += records.length;
      this.warnOnce('record', `recording predictions failed: ${(err as Error).message}`);
    }
  }

  /** Counts refused requests of a model by reason, per minute. Synchronous, never throws. */
  refused(model: string, reason: string, count = 1): void {
    try {
      const d = this.clock.now();
      d.setUTCSeconds(0, 0);
      const minute = d.toISOString();
      const key = `${minute}\u0000${model}\u0000${reason}`;
      const existing = this.refusals.get(key);
      if (existing) existing.count += count;
      else if (this.refusals.size < MAX_REFUSAL_KEYS) this.refusals.set(key, { minute, model, reason, count });
      const totalKey = `${model}\u0000${reason}`;
      const total = this.refusalTotals.get(totalKey);
      if (total) total.count += count;
      else this.refusalTotals.set(totalKey, { model, reason, count });
    } catch {
      // A refusal count is not worth failing a response for.
    }
  }

  /** Rows waiting in memory for the store. */
  queueDepth(): number {
    return this.queue.length;
  }

  stats(): PredictionLogStats {
    return {
      ...this.counts,
      queueDepth: this.queue.length,
      spoolFiles: [...this.sealed.values()].filter((s) => s.replay).length,
      storeFailing: this.storeFailing,
      refusals: [...this.refusalTotals.values()].map((r) => ({ ...r })),
    };
  }

  /** True when another live process logs into the same spool directory (its records may not be stored yet). */
  hasLiveSiblings(): boolean {
    return this.spool.hasLiveSiblings();
  }

  /**
   * Longest a record of a live sibling may take to reach the store: one flush interval when
   * siblings write themselves; when they hand over (spool-only), their seal interval and the
   * writer's next pass, which `cairn serve` runs at a shorter interval than the workers seal.
   */
  siblingDelayMs(): number {
    return this.writer === 'self' ? this.flushIntervalMs : 2 * this.flushIntervalMs;
  }

  /**
   * Resolves when everything recorded before the call is in the store — or, if the store is
   * failing, safe in spool files; in spool-only mode, once it is sealed for the writer. Never rejects.
   */
  flush(): Promise<void> {
    if (this.closed) return this.closing ?? Promise.resolve();
    return this.schedule();
  }

  /** Flushes everything, then withdraws from the spool directory. Records arriving later are dropped. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    // The last pass of a writer also takes what stopped processes left (`cairn serve`'s workers stop first).
    if (this.writer === 'self') this.adoptOrphans();
    const last = this.schedule();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.closing = last.then(() => {
      if (this.queue.length > 0) {
        // Only rows that could be written neither to the spool nor to the store are still here.
        this.counts.dropped += this.queue.length;
        this.logger?.error({ records: this.queue.length }, 'prediction log closed with records it could neither store nor spool; they are lost');
        this.queue = [];
      }
      if (this.sealed.size > 0) this.logger?.warn({ files: this.sealed.size }, 'prediction log closed with spooled records; the next start replays them');
      this.spool.close();
    });
    return this.closing;
  }

  // ---- internals ---------------------------------------------------------------------------

  private hasWork(): boolean {
    return this.queue.length > 0 || this.active !== null || this.refusals.size > 0 || [...this.sealed.values()].some((s) => s.replay);
  }

  /** Appends to the current spool file, opening one if needed; null when the disk refuses. */
  private append(lines: string): Segment | null {
    try {
      if (!this.active) {
        const file = this.spool.nextFile();
        this.active = { writer: new SpoolWriter(file), file, pending: 0, replay: false, synced: false };
      }
      this.active.writer!.append(lines);
      return this.active;
    } catch (err) {
      // A partly written line must stay the file's last: the file is sealed as it is.
      if (this.active) this.sealSegment(this.active);
      this.warnOnce('spool', `cannot write the prediction spool (${(err as Error).message}); records are kept in memory only`);
      return null;
    }
  }

  private sealSegment(segment: Segment): void {
    if (this.active === segment) this.active = null;
    segment.writer?.seal();
    segment.writer = null;
    if (this.writer === 'spool-only' && segment.pending === 0) {
      try {
        this.spool.seal(segment.file);
        return;
      } catch (err) {
        // Still this process's file: it becomes an orphan, replayed by the writer, once this process stops.
        this.warnOnce(`seal:${segment.file}`, `cannot hand prediction spool file ${segment.file} over: ${(err as Error).message}`);
        segment.replay = true;
      }
    }
    this.sealed.set(segment.file, segment);
  }

  /** Claims the files that spool-only processes sealed for this one. */
  private adoptSealed(): number {
    const files = this.spool.claimSealed();
    for (const file of files) this.sealed.set(file, { writer: null, file, pending: 0, replay: true, synced: false });
    return files.length;
  }

  private adoptOrphans(): number {
    const files = this.spool.claimOrphans();
    for (const file of files) this.sealed.set(file, { writer: null, file, pending: 0, replay: true, synced: true });
    if (files.length > 0) this.logger?.info({ files: files.length }, 'replaying prediction spool files of a stopped process');
    return files.length;
  }

  /** One pass after every pass already scheduled; passes never overlap, concurrent callers share the next one. */
  private schedule(): Promise<void> {
    if (this.nextPass) return this.nextPass;
    const pass = this.chain.then(async () => {
      this.nextPass = null;
      try {
        await this.runPass();
      } catch (err) {
        this.logger?.error({ err }, 'prediction log flush failed');
      }
    });
    this.nextPass = pass;
    this.chain = pass;
    return pass;
  }

  private async runPass(): Promise<void> {
    // Taken together: every queued row belongs to a file sealed now or earlier.
    const taken = this.queue;
    this.queue = [];
    if (this.active) this.sealSegment(this.active);
    if (this.writer === 'self') this.adoptSealed();
    // When idle with the store away, the replay's first batch is what finds out that it is back.
    if ((await this.drain(taken)) && this.writer === 'self') await this.replay();
    for (const segment of this.sealed.values()) {
      this.removeIfStored(segment);
      if (segment.replay && !segment.synced && segment.writer === null && this.sealed.has(segment.file)) {
        segment.synced = true;
        await syncSpoolFile(segment.file);
      }
    }
  }

  private takeRefusals(): RefusalCount[] {
    if (this.refusals.size === 0) return [];
    const out = [...this.refusals.values()];
    this.refusals = new Map();
    return out;
  }

  private restoreRefusals(list: RefusalCount[]): void {
    for (const r of list) {
      const key = `${r.minute}\u0000${r.model}\u0000${r.reason}`;
      const existing = this.refusals.get(key);
      if (existing) existing.count += r.count;
      else if (this.refusals.size < MAX_REFUSAL_KEYS) this.refusals.set(key, r);
    }
  }

  /** Writes the taken rows and the refusal counts; false when the store failed (the rest is spooled). */
  private async drain(taken: Entry[]): Promise<boolean> {
    let refusals = this.takeRefusals();
    for (let i = 0; i < taken.length || refusals.length > 0; i += this.batchSize) {
      const batch = taken.slice(i, i + this.batchSize);
      try {
        await this.store.writeBatch(
          batch.map((e) => e.row),
          refusals,
        );
      } catch (err) {
        this.storeFailed(err);
        this.restoreRefusals(refusals);
        this.spoolFrom(taken, i);
        return false;
      }
      refusals = [];
      this.storeAnswered();
      this.counts.flushed += batch.length;
      for (const e of batch) {
        if (!e.segment) continue;
        e.segment.pending--;
        this.removeIfStored(e.segment);
      }
      if (i + this.batchSize < taken.length) await yieldToEventLoop();
    }
    return true;
  }

  /** Rows the store did not take stay in their spool files; rows that have none stay in memory. */
  private spoolFrom(taken: Entry[], from: number): void {
    const keep: Entry[] = [];
    for (let i = from; i < taken.length; i++) {
      const e = taken[i]!;
      if (e.segment) {
        e.segment.pending--;
        e.segment.replay = true;
        this.counts.spooled++;
      } else {
        keep.push(e);
      }
    }
    if (keep.length === 0) return;
    const room = Math.max(0, this.maxQueue - this.queue.length);
    if (keep.length > room) {
      this.counts.dropped += keep.length - room;
      this.warnOnce('dropped', 'prediction records were lost: the store fails, the spool cannot be written and the memory queue is full');
    }
    this.queue = keep.slice(0, room).concat(this.queue);
  }

  private removeIfStored(segment: Segment): void {
    if (segment.writer !== null || segment.pending > 0 || segment.replay) return;
    this.sealed.delete(segment.file);
    this.spool.remove(segment.file);
  }

  /** Writes the rows of spooled files to the store, oldest file first; stops at the first store failure. */
  private async replay(): Promise<void> {
    for (const segment of [...this.sealed.values()]) {
      if (!segment.replay || segment.pending > 0 || segment.writer !== null) continue;
      let lines: string[];
      try {
        ({ lines } = await readSpoolLines(segment.file));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.sealed.delete(segment.file);
        else this.warnOnce(`read:${segment.file}`, `cannot read prediction spool file ${segment.file}: ${(err as Error).message}`);
        continue;
      }
      const rows: { row: PredictionRow; line: string }[] = [];
      const unreadable: string[] = [];
      for (const line of lines) {
        try {
          rows.push({ row: decodePredictionLine(line), line });
        } catch {
          unreadable.push(line);
        }
      }
      this.rejectLines(segment.file, unreadable, 'unreadable');
      for (let i = 0; i < rows.length; i += this.batchSize) {
        const batch = rows.slice(i, i + this.batchSize);
        try {
          await this.store.writeBatch(
            batch.map((b) => b.row),
            [],
          );
        } catch (err) {
          if (!(await this.storeAnswers()) || !(await this.writeOneByOne(segment.file, batch))) {
            this.storeFailed(err);
            return;
          }
        }
        this.storeAnswered();
        this.counts.replayed += batch.length;
        await yieldToEventLoop();
      }
      this.sealed.delete(segment.file);
      this.spool.remove(segment.file);
    }
  }

  /**
   * The store answers but refused a batch: stores what it takes and sets aside what it refuses.
   * When it takes none, the fault is the store's (locked, full, read-only), not the rows': false,
   * and nothing is set aside.
   */
  private async writeOneByOne(file: string, batch: { row: PredictionRow; line: string }[]): Promise<boolean> {
    const refused: string[] = [];
    let stored = 0;
    for (const b of batch) {
      try {
        await this.store.writeBatch([b.row], []);
        stored++;
      } catch {
        refused.push(b.line);
        // A store that takes none of the first few is failing, and each attempt may wait on a lock.
        if (stored === 0 && refused.length >= ONE_BY_ONE_PROBES) return false;
      }
    }
    if (stored === 0) return false;
    this.rejectLines(file, refused, 'refused by the store');
    return true;
  }

  private rejectLines(file: string, lines: string[], why: string): void {
    if (lines.length === 0) return;
    this.counts.rejected += lines.length;
    this.spool.reject(file, lines);
    this.logger?.error({ file, lines: lines.length }, `prediction spool lines ${why}; kept under rejected/`);
  }

  private async storeAnswers(): Promise<boolean> {
    try {
      await this.store.ping();
      return true;
    } catch {
      return false;
    }
  }

  private storeFailed(err: unknown): void {
    if (!this.storeFailing) this.logger?.warn({ err }, 'prediction log: the store is unavailable; records are spooled to disk and replayed when it is back');
    this.storeFailing = true;
  }

  private storeAnswered(): void {
    if (this.storeFailing) this.logger?.info('prediction log: the store is back; replaying the spool');
    this.storeFailing = false;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger?.warn(message);
  }
}
