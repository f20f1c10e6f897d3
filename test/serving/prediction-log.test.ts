/**
 * The prediction log on a real SQLite store: batching and flushing (small intervals, never a
 * timing assertion), refusal counts, spooling while the store fails and replay once it is back,
 * torn and unreadable spool lines, bounded memory and close(); the hand-off of spool-only logs
 * (cairn serve's workers) to a writing process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { FeedbackService } from '../../src/serving/feedback.js';
import { startLogWriter } from '../../src/serving/log-writer.js';
import type { RefusalCount } from '../../src/serving/log-model.js';
import type { PredictionLogStore } from '../../src/serving/log-store.js';
import { SqlPredictionLogStore } from '../../src/serving/log-sql-store.js';
import { PredictionLog, type PredictionLogOptions } from '../../src/serving/prediction-log.js';
import { encodePrediction, type PredictionRow } from '../../src/serving/prediction-rows.js';
import { openDatabase, type Database } from '../../src/storage/db.js';
import { predictionRecord } from '../contract/prediction-log-store.contract.js';
import { tempDir } from '../support/backends.js';

/** The real store, with every batch it was asked to write noted (sizes only). */
class NotingStore extends SqlPredictionLogStore {
  readonly batches: number[] = [];
  override async writeBatch(rows: PredictionRow[], refusals: RefusalCount[]): Promise<void> {
    this.batches.push(rows.length);
    await super.writeBatch(rows, refusals);
  }
}

let dir: string;
let database: Database;
let store: NotingStore;
const logs: PredictionLog[] = [];

beforeEach(async () => {
  dir = tempDir('cairn-plog-');
  database = await openDatabase({ kind: 'sqlite', path: path.join(dir, 'cairn.db') });
  store = new NotingStore(database.db, database.dialect);
});

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  await database.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const spoolDir = () => path.join(dir, 'spool', 'predictions');

async function openLog(o: Partial<PredictionLogOptions> = {}): Promise<PredictionLog> {
  const log = await PredictionLog.open({ store, spoolDir: spoolDir(), flushIntervalMs: 60_000, ...o });
  logs.push(log);
  return log;
}

const records = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => predictionRecord(`${prefix}-${i}`));

async function storedIds(): Promise<string[]> {
  return (await database.db.selectFrom('predictions').select('id').orderBy('id').execute()).map((r) => r.id);
}

const spoolFiles = () => (fs.existsSync(spoolDir()) ? fs.readdirSync(spoolDir()).filter((f) => f.endsWith('.jsonl')) : []);

describe('PredictionLog batching', () => {
  it('flushes on its interval without being asked', async () => {
    const log = await openLog({ flushIntervalMs: 20 });
    log.record(records('tick', 3));
    await vi.waitFor(async () => expect(await storedIds()).toHaveLength(3), { timeout: 10_000 });
    expect(log.queueDepth()).toBe(0);
  });

  it('starts a flush as soon as the queue holds a batch, writing batches of at most batchSize rows', async () => {
    const log = await openLog({ batchSize: 10 });
    for (const r of records('size', 25)) log.record([r]);
    // The interval is a minute: only the size threshold can have started this flush.
    await vi.waitFor(async () => expect(await storedIds()).toHaveLength(25), { timeout: 10_000 });
    expect(store.batches).toEqual([10, 10, 5]);
    expect(log.stats()).toMatchObject({ recorded: 25, flushed: 25, spooled: 0, dropped: 0 });
  });

  it('flush() resolves once everything recorded before it is stored; its spool file is gone', async () => {
    const log = await openLog();
    log.record(records('f', 7));
    expect(log.queueDepth()).toBe(7);
    expect(spoolFiles()).toHaveLength(1);
    await log.flush();
    expect(await storedIds()).toHaveLength(7);
    expect(log.queueDepth()).toBe(0);
    expect(spoolFiles()).toEqual([]);
  });

  it('record() never throws: malformed records are counted and skipped, the good ones kept', async () => {
    const log = await openLog();
    const bad = [
      { ...predictionRecord('bad-1'), output: { value: Number.NaN } },
      { ...predictionRecord('bad-2'), id: '' },
      { ...predictionRecord('bad-3'), version: 2 ** 40 },
      null,
    ] as unknown as Parameters<PredictionLog['record']>[0];
    expect(() => log.record([predictionRecord('good-1'), ...bad])).not.toThrow();
    await log.flush();
    expect(await storedIds()).toEqual(['good-1']);
    expect(log.stats()).toMatchObject({ recorded: 1, invalid: 4 });
  });

  it('close() flushes everything and withdraws from the spool directory; later records are counted as dropped', async () => {
    const log = await openLog();
    log.record(records('close', 5));
    await log.close();
    expect(await storedIds()).toHaveLength(5);
    expect(fs.readdirSync(spoolDir())).toEqual([]);
    log.record(records('late', 2));
    expect(log.stats().dropped).toBe(2);
  });
});

describe('PredictionLog refusal counts', () => {
  it('counts refused requests per minute, model and reason, into the store with the next flush', async () => {
    const clock = new ManualClock('2026-02-01T10:00:30.000Z');
    const log = await openLog({ clock });
    log.refused('delay', 'validation');
    log.refused('delay', 'validation', 2);
    log.refused('delay', 'unknown_version');
    clock.advance(60_000);
    log.refused('delay', 'validation');
    await log.flush();
    expect(await store.refusals({ model: 'delay' })).toEqual([
      { minute: '2026-02-01T10:00:00.000Z', model: 'delay', reason: 'unknown_version', count: 1 },
      { minute: '2026-02-01T10:00:00.000Z', model: 'delay', reason: 'validation', count: 3 },
      { minute: '2026-02-01T10:01:00.000Z', model: 'delay', reason: 'validation', count: 1 },
    ]);
    log.refused('delay', 'validation');
    await log.flush();
    expect((await store.refusals({ model: 'delay' })).at(-1)!.count).toBe(2);
    expect(log.stats().refusals).toEqual(
      expect.arrayContaining([
        { model: 'delay', reason: 'validation', count: 5 },
        { model: 'delay', reason: 'unknown_version', count: 1 },
      ]),
    );
  });
});

describe('PredictionLog spool', () => {
  // A real failure of the real store: the table is away, so every insert fails while the database answers.
  const takeTableAway = () => sql`ALTER TABLE predictions RENAME TO predictions_away`.execute(database.db);
  const bringTableBack = () => sql`ALTER TABLE predictions_away RENAME TO predictions`.execute(database.db);

  it('spools while the store fails and replays once it is back: nothing lost, nothing doubled', async () => {
    const log = await openLog();
    log.record(records('before', 10));
    await log.flush();
    await takeTableAway();
    log.record(records('down-a', 30));
    await expect(log.flush()).resolves.toBeUndefined();
    expect(log.stats()).toMatchObject({ storeFailing: true, spooled: 30, queueDepth: 0 });
    log.record(records('down-b', 20));
    await log.flush();
    expect(log.stats()).toMatchObject({ spooled: 50, spoolFiles: 2 });
    expect(spoolFiles()).toHaveLength(2);
    log.refused('delay', 'validation', 4);
    await log.flush();
    await bringTableBack();
    await log.flush();
    const ids = await storedIds();
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    expect(log.stats()).toMatchObject({ storeFailing: false, replayed: 50, spoolFiles: 0, dropped: 0 });
    expect(spoolFiles()).toEqual([]);
    // Refusal counts waited in memory for the store.
    expect(await store.refusals({ model: 'delay' })).toEqual([expect.objectContaining({ count: 4 })]);
  });

  it('keeps memory bounded: beyond maxQueue records go to the spool file only, and still reach the store', async () => {
    const log = await openLog({ maxQueue: 10 });
    let deepest = 0;
    for (const r of records('mem', 100)) {
      log.record([r]);
      deepest = Math.max(deepest, log.queueDepth());
    }
    expect(deepest).toBe(10);
    expect(log.stats()).toMatchObject({ recorded: 100, spooled: 90, dropped: 0 });
    await log.flush();
    expect(await storedIds()).toHaveLength(100);
    expect(spoolFiles()).toEqual([]);
  });

  it('replays the files of a process that is gone at open, ignoring a torn last line', async () => {
    fs.mkdirSync(spoolDir(), { recursive: true });
    const lines = records('orphan', 3).map((r) => encodePrediction(r).line);
    const torn = encodePrediction(predictionRecord('orphan-torn')).line.slice(0, 40);
    // No alive file: its owner is gone.
    fs.writeFileSync(path.join(spoolDir(), 'p999999-dead.000000001.jsonl'), lines.join('') + torn);
    const log = await openLog();
    await log.flush();
    expect(await storedIds()).toEqual(['orphan-0', 'orphan-1', 'orphan-2']);
    expect(log.stats()).toMatchObject({ replayed: 3, rejected: 0 });
    expect(spoolFiles()).toEqual([]);
  });

  it('sets an unreadable spool line aside under rejected/ and replays the rest', async () => {
    fs.mkdirSync(spoolDir(), { recursive: true });
    const [a, b] = records('mixed', 2).map((r) => encodePrediction(r).line);
    fs.writeFileSync(path.join(spoolDir(), 'p999999-dead.000000001.jsonl'), `${a}{"id": "half a record\n${b}`);
    const log = await openLog();
    await log.flush();
    expect(await storedIds()).toEqual(['mixed-0', 'mixed-1']);
    expect(log.stats().rejected).toBe(1);
    const rejected = path.join(spoolDir(), 'rejected');
    expect(fs.readdirSync(rejected).map((f) => fs.readFileSync(path.join(rejected, f), 'utf8'))).toEqual(['{"id": "half a record\n']);
  });

  it('a store that refuses every row keeps the file for later instead of setting the rows aside', async () => {
    fs.mkdirSync(spoolDir(), { recursive: true });
    const lines = records('kept', 5).map((r) => encodePrediction(r).line);
    fs.writeFileSync(path.join(spoolDir(), 'p999999-dead.000000001.jsonl'), lines.join(''));
    await takeTableAway();
    const log = await openLog();
    await log.flush();
    expect(log.stats()).toMatchObject({ rejected: 0, storeFailing: true, spoolFiles: 1 });
    expect(fs.existsSync(path.join(spoolDir(), 'rejected'))).toBe(false);
    await bringTableBack();
    await log.flush();
    expect(await storedIds()).toHaveLength(5);
  });

  it('does not touch the files of a live process', async () => {
    const other = await openLog();
    other.record(records('live', 4));
    const log = await openLog();
    await log.flush();
    expect(await storedIds()).toEqual([]);
    expect(spoolFiles()).toHaveLength(1);
    expect(log.hasLiveSiblings()).toBe(true);
    await other.flush();
    expect(await storedIds()).toHaveLength(4);
  });
});

describe('PredictionLog with a store that is not there at all', () => {
  it('spools every record and loses none when the store never answers', async () => {
    const unreachable: PredictionLogStore = new SqlPredictionLogStore(database.db, database.dialect);
    await database.close();
    const log = await PredictionLog.open({ store: unreachable, spoolDir: spoolDir(), flushIntervalMs: 60_000 });
    log.record(records('gone', 12));
    await log.close();
    expect(log.stats()).toMatchObject({ spooled: 12, dropped: 0 });
    const lines = spoolFiles().flatMap((f) => fs.readFileSync(path.join(spoolDir(), f), 'utf8').trim().split('\n'));
    expect(lines).toHaveLength(12);
    // The next process replays them.
    database = await openDatabase({ kind: 'sqlite', path: path.join(dir, 'cairn.db') });
    store = new NotingStore(database.db, database.dialect);
    const next = await openLog();
    await next.flush();
    expect(await storedIds()).toHaveLength(12);
  });
});

describe('PredictionLog hand-off (writer: spool-only, as cairn serve workers)', () => {
  const lineCount = (files: string[]) => files.reduce((n, f) => n + fs.readFileSync(path.join(spoolDir(), f), 'utf8').split('\n').filter(Boolean).length, 0);
  const sealedFiles = () => spoolFiles().filter((f) => f.endsWith('.sealed.jsonl'));

  it('never touches the store with records: flush() and close() only seal the spool file for the writer', async () => {
    const worker = await openLog({ writer: 'spool-only', flushIntervalMs: 20 });
    worker.record(records('w', 15));
    expect(worker.queueDepth()).toBe(0);
    await worker.flush();
    worker.record(records('w2', 5));
    // Sealed on its interval too.
    await vi.waitFor(() => expect(sealedFiles()).toHaveLength(2), { timeout: 10_000 });
    await worker.close();
    expect(store.batches).toEqual([]);
    expect(await storedIds()).toEqual([]);
    expect(sealedFiles()).toEqual(spoolFiles());
    expect(lineCount(sealedFiles())).toBe(20);
    expect(worker.stats()).toMatchObject({ recorded: 20, handedOff: 20, flushed: 0, replayed: 0, dropped: 0 });
  });

  it('writers drain the sealed files of live workers exactly once, and leave the file a worker still appends to', async () => {
    const workers = [await openLog({ writer: 'spool-only' }), await openLog({ writer: 'spool-only' })];
    const writers = [await openLog(), await openLog()];
    workers[0]!.record(records('a', 300));
    workers[1]!.record(records('b', 200));
    await Promise.all(workers.map((w) => w.flush()));
    workers[0]!.record(records('still-open', 3));
    // Two writers racing for the same files, as `cairn up` beside a `cairn serve` primary would.
    await Promise.all(writers.map((w) => w.flush()));
    const ids = await storedIds();
    expect(ids).toHaveLength(500);
    expect(new Set(ids).size).toBe(500);
    expect(writers.reduce((n, w) => n + w.stats().replayed, 0)).toBe(500);
    // Only the file the worker still appends to is left, untouched.
    expect(spoolFiles()).toHaveLength(1);
    expect(sealedFiles()).toEqual([]);
    expect(workers.every((w) => w.hasLiveSiblings())).toBe(true);
    await workers[0]!.flush();
    await writers[0]!.flush();
    expect(await storedIds()).toHaveLength(503);
    expect(spoolFiles()).toEqual([]);
  });

  it('a writer picks sealed files up on its own interval', async () => {
    const worker = await openLog({ writer: 'spool-only', flushIntervalMs: 20 });
    await openLog({ flushIntervalMs: 20 });
    worker.record(records('tick', 4));
    await vi.waitFor(async () => expect(await storedIds()).toHaveLength(4), { timeout: 10_000 });
  });

  it('shutdown: workers seal and withdraw, then the writer stores everything before it closes', async () => {
    const writer = await openLog();
    const workers = [await openLog({ writer: 'spool-only' }), await openLog({ writer: 'spool-only' })];
    workers.forEach((w, i) => w.record(records(`stop${i}`, 40)));
    for (const w of workers) await w.close();
    await writer.close();
    expect(await storedIds()).toHaveLength(80);
    expect(fs.readdirSync(spoolDir())).toEqual([]);
  });

  it('a worker killed before sealing: its open file is replayed by the writer once its owner is gone', async () => {
    const worker = await openLog({ writer: 'spool-only' });
    worker.record(records('dead', 6));
    // What a kill -9 leaves: the open file and an alive file naming a pid that no longer runs.
    const alive = fs.readdirSync(spoolDir()).find((f) => f.endsWith('.alive'))!;
    fs.writeFileSync(path.join(spoolDir(), alive), JSON.stringify({ pid: 999_999_999, host: os.hostname() }));
    const writer = await openLog();
    await writer.flush();
    expect(await storedIds()).toHaveLength(6);
    expect(writer.stats().replayed).toBe(6);
  });

  it('refusal counts of a spool-only log still reach the store', async () => {
    const worker = await openLog({ writer: 'spool-only' });
    worker.refused('delay', 'validation', 3);
    await worker.flush();
    expect(await store.refusals({ model: 'delay' })).toEqual([expect.objectContaining({ reason: 'validation', count: 3 })]);
  });

  it("cairn serve's writer thread stores sealed files as they come and everything left when closed", async () => {
    const writer = await startLogWriter({ database: { kind: 'sqlite', path: path.join(dir, 'cairn.db') }, spoolDir: spoolDir(), flushIntervalMs: 20, logLevel: 'silent' }, (m) => {
      throw new Error(m);
    });
    try {
      const worker = await openLog({ writer: 'spool-only' });
      worker.record(records('thread', 30));
      await worker.flush();
      await vi.waitFor(async () => expect(await storedIds()).toHaveLength(30), { timeout: 10_000 });
      worker.record(records('last', 5));
      await worker.close();
    } finally {
      await writer.close();
    }
    expect(await storedIds()).toHaveLength(35);
    expect(fs.readdirSync(spoolDir())).toEqual([]);
  });

  it('feedback posted to a worker finds a prediction the writer has not stored yet', async () => {
    const worker = await openLog({ writer: 'spool-only', flushIntervalMs: 200 });
    await openLog({ flushIntervalMs: 100 });
    const feedback = new FeedbackService({ store, log: worker, models: { getModel: async () => ({}) } });
    worker.record(records('fb', 1));
    expect(await storedIds()).toEqual([]);
    const actor = { user: 'tester', role: 'editor' as const, tokenId: null };
    await expect(feedback.record({ predictionId: 'fb-0', actual: 1 }, actor)).resolves.toMatchObject({ recorded: 1, unknown: [] });
  });
});
