/**
 * The prediction log's figures: rows per second written to the store in batches (SQLite, and
 * PostgreSQL when CAIRN_BENCH_POSTGRES_URL is set), and what `record()` costs the request that calls it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../src/storage/db.js';
import { PredictionLog, SqlPredictionLogStore, type PredictionRecord } from '../src/serving/index.js';
import { encodePrediction } from '../src/serving/prediction-rows.js';

const ROWS = 200_000;
const BATCH = 500;

function prediction(i: number): PredictionRecord {
  return {
    id: `pred_${i.toString(16).padStart(24, '0')}`,
    at: new Date(Date.UTC(2026, 1, 1) + i * 10).toISOString(),
    model: 'flight-delay',
    version: 1 + (i % 3),
    stage: 'Production',
    variant: null,
    features: { dep_hour: i % 24, day_of_week: i % 7, distance: 200 + (i % 2000), origin: 'ATL', destination: 'ORD', origin_delay_rate_7d: 0.21 },
    entities: { origin: 'ATL' },
    output: { value: 0.3, label: 0, probability: 0.3 },
    latencyMs: 1.2,
  };
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function storeThroughput(name: string, database: Database): Promise<void> {
  const store = new SqlPredictionLogStore(database.db, database.dialect);
  const rows = Array.from({ length: ROWS }, (_, i) => encodePrediction(prediction(i)).row);
  const started = performance.now();
  const times = new Float64Array(ROWS / BATCH);
  for (let i = 0; i < ROWS; i += BATCH) {
    const t = performance.now();
    await store.writeBatch(rows.slice(i, i + BATCH), []);
    times[i / BATCH] = performance.now() - t;
  }
  const seconds = (performance.now() - started) / 1000;
  times.sort();
  console.log(
    `| ${name}: store.writeBatch, ${ROWS.toLocaleString('en')} rows in batches of ${BATCH} | ${Math.round(ROWS / seconds).toLocaleString('en')} rows/s | a batch: p50 ${percentile(times, 0.5).toFixed(1)} ms, max ${times[times.length - 1]!.toFixed(1)} ms |`,
  );
}

async function logThroughput(database: Database, dir: string): Promise<void> {
  const store = new SqlPredictionLogStore(database.db, database.dialect);
  const log = await PredictionLog.open({ store, spoolDir: path.join(dir, 'spool') });
  const records = Array.from({ length: ROWS }, (_, i) => prediction(ROWS + i));
  const cost = new Float64Array(ROWS);
  const started = performance.now();
  // One record per call, as one single-instance request records it; the event loop turns every
  // 100 calls so that the flush passes interleave as they would between requests.
  for (let i = 0; i < ROWS; i++) {
    const t = performance.now();
    log.record([records[i]!]);
    cost[i] = performance.now() - t;
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  await log.flush();
  const seconds = (performance.now() - started) / 1000;
  await log.close();
  cost.sort();
  console.log(
    `| SQLite: PredictionLog.record() one at a time → flushed | ${Math.round(ROWS / seconds).toLocaleString('en')} predictions/s | record() p50 ${(percentile(cost, 0.5) * 1000).toFixed(1)} µs, p99 ${(percentile(cost, 0.99) * 1000).toFixed(1)} µs |`,
  );
}

export async function benchPredictionLog(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-log-'));
  try {
    console.log('| what | throughput | note |\n| --- | ---: | --- |');
    const sqlite = await openDatabase({ kind: 'sqlite', path: path.join(dir, 'cairn.db') });
    await storeThroughput('SQLite', sqlite);
    await logThroughput(sqlite, dir);
    await sqlite.close();
    const pgUrl = process.env.CAIRN_BENCH_POSTGRES_URL;
    if (pgUrl) {
      const pg = await openDatabase({ kind: 'postgres', url: pgUrl });
      await storeThroughput('PostgreSQL', pg);
      await pg.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
