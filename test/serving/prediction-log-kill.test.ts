/**
 * Completeness after a kill -9: a child process logs predictions and acknowledges each one, is
 * killed with SIGKILL mid-stream, and a new open of the same spool directory replays its spool:
 * every acknowledged prediction is in the store exactly once.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlPredictionLogStore } from '../../src/serving/log-sql-store.js';
import { PredictionLog } from '../../src/serving/prediction-log.js';
import { openDatabase, type Database } from '../../src/storage/db.js';
import { tempDir } from '../support/backends.js';

const CHILD = new URL('./prediction-log-child.ts', import.meta.url).pathname;

let dir: string;
let database: Database;
beforeEach(async () => {
  dir = tempDir('cairn-kill-');
  database = await openDatabase({ kind: 'sqlite', path: path.join(dir, 'cairn.db') });
});
afterEach(async () => {
  await database.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the child until it has acknowledged `atLeast` predictions, kills it with SIGKILL, returns the acknowledged ids. */
function logThenKill(flushMs: number, batchSize: number, atLeast: number): Promise<string[]> {
  // node itself with tsx's loader (not the tsx wrapper), so SIGKILL hits the process that logs.
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path.join(dir, 'cairn.db'), path.join(dir, 'spool'), String(flushMs), String(batchSize)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let acked = 0;
  child.stdout!.on('data', (d: Buffer) => {
    const text = d.toString();
    out += text;
    acked += text.split('\n').length - 1;
    if (acked >= atLeast) child.kill('SIGKILL');
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`the child exited with ${code} before it was killed: ${err}`));
      // Only whole lines are acknowledgements; the pipe may have been cut mid-line.
      resolve(out.split('\n').filter((l) => /^ack \S+$/.test(l)).map((l) => l.slice(4)));
    }),
  );
}

async function storedIds(): Promise<string[]> {
  return (await database.db.selectFrom('predictions').select('id').execute()).map((r) => r.id);
}

async function replay(): Promise<void> {
  const log = await PredictionLog.open({ store: new SqlPredictionLogStore(database.db, database.dialect), spoolDir: path.join(dir, 'spool') });
  await log.close();
}

describe('prediction log after a kill -9', () => {
  it('replays every acknowledged prediction that never reached the store', async () => {
    // No flush by time or size before the kill: nothing has reached the store.
    const acked = await logThenKill(60_000, 1_000_000, 3000);
    expect(acked.length).toBeGreaterThanOrEqual(3000);
    expect(await storedIds()).toEqual([]);
    await replay();
    const stored = await storedIds();
    const set = new Set(stored);
    expect(acked.filter((id) => !set.has(id))).toEqual([]);
    expect(set.size).toBe(stored.length);
    expect(fs.readdirSync(path.join(dir, 'spool')).filter((f) => f.endsWith('.jsonl'))).toEqual([]);
  });

  it('stores each acknowledged prediction exactly once when some were flushed before the kill', async () => {
    const acked = await logThenKill(10, 200, 5000);
    await replay();
    const stored = await storedIds();
    const set = new Set(stored);
    expect(acked.filter((id) => !set.has(id))).toEqual([]);
    expect(set.size).toBe(stored.length);
    // More may be stored than was acknowledged (recorded, ack still in the child's buffer at the kill), never fewer.
    expect(stored.length).toBeGreaterThanOrEqual(acked.length);
  });
});
