/**
 * Online store read latency on both backends, at the size of the flights demo: 300 airports × 6
 * feature refs and 100,000 flights × 3 refs. Prints a table and returns the figures; never asserts.
 *
 *   npx tsx bench/features-online.ts        (Redis from CAIRN_REDIS_URL, default 127.0.0.1:6379)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { seededRandom } from '../src/core/random.js';
import type { FeatureValue } from '../src/features/model.js';
import type { EntityKey, OnlineStore, OnlineWriteRow } from '../src/features/online-store.js';
import { RedisOnlineStore } from '../src/features/redis-online-store.js';
import { SqliteOnlineStore } from '../src/features/sqlite-online-store.js';

const AIRPORTS = 300;
const FLIGHTS = 100_000;
const AIRPORT_REFS = ['dep_delay_mean_7d@1', 'arr_delay_mean_7d@1', 'flights_7d@1', 'cancel_rate_7d@1', 'hub@1', 'state@1'];
const FLIGHT_REFS = ['route_delay_mean_30d@1', 'distance@1', 'carrier@1'];
const EVENT_TIME = '2001-06-30T00:00:00.000Z';

interface Scenario {
  name: string;
  entity: string;
  refs: string[];
  keysPerRead: number;
  warmup: number;
  iterations: number;
  pickKey: (random: () => number) => EntityKey;
}

const airportCode = (i: number): string =>
  String.fromCharCode(65 + Math.floor(i / 676), 65 + (Math.floor(i / 26) % 26), 65 + (i % 26));
const flightKey = (i: number): EntityKey => [airportCode(i % AIRPORTS), airportCode((i * 7 + 1) % AIRPORTS), i];

const SCENARIOS: Scenario[] = [
  { name: 'airport 1 key × 6 refs', entity: 'airport', refs: AIRPORT_REFS, keysPerRead: 1, warmup: 1000, iterations: 10_000, pickKey: (r) => [airportCode(Math.floor(r() * AIRPORTS))] },
  { name: 'airport 100 keys × 6 refs', entity: 'airport', refs: AIRPORT_REFS, keysPerRead: 100, warmup: 200, iterations: 2000, pickKey: (r) => [airportCode(Math.floor(r() * AIRPORTS))] },
  { name: 'flight 1 key × 3 refs', entity: 'flight', refs: FLIGHT_REFS, keysPerRead: 1, warmup: 1000, iterations: 10_000, pickKey: (r) => flightKey(Math.floor(r() * FLIGHTS)) },
  { name: 'flight 100 keys × 3 refs', entity: 'flight', refs: FLIGHT_REFS, keysPerRead: 100, warmup: 200, iterations: 2000, pickKey: (r) => flightKey(Math.floor(r() * FLIGHTS)) },
];


function airportRows(): OnlineWriteRow[] {
  return Array.from({ length: AIRPORTS }, (_, i) => {
    const values: FeatureValue[] = [i * 0.37, i * 0.41 - 3, 1000 + i, (i % 17) / 100, i % 10 === 0, `S${i % 50}`];
    return { key: [airportCode(i)], values: Object.fromEntries(AIRPORT_REFS.map((ref, j) => [ref, { value: values[j] ?? null, eventTime: EVENT_TIME }])) };
  });
}

function flightRows(): OnlineWriteRow[] {
  return Array.from({ length: FLIGHTS }, (_, i) => {
    const values: FeatureValue[] = [(i % 97) * 0.5, 100 + (i % 2500), `C${i % 12}`];
    return { key: flightKey(i), values: Object.fromEntries(FLIGHT_REFS.map((ref, j) => [ref, { value: values[j] ?? null, eventTime: EVENT_TIME }])) };
  });
}

interface Latency {
  p50: number;
  p99: number;
  mean: number;
}

/** Latency of one read in microseconds, measured after `warmup` unmeasured reads. */
async function measure(store: OnlineStore, scenario: Scenario): Promise<Latency> {
  const random = seededRandom(42);
  const nextKeys = () => Array.from({ length: scenario.keysPerRead }, () => scenario.pickKey(random));
  for (let i = 0; i < scenario.warmup; i++) await store.read(scenario.entity, nextKeys(), scenario.refs);
  const samples = new Float64Array(scenario.iterations);
  for (let i = 0; i < scenario.iterations; i++) {
    const keys = nextKeys();
    const start = performance.now();
    await store.read(scenario.entity, keys, scenario.refs);
    samples[i] = (performance.now() - start) * 1000;
  }
  samples.sort();
  const quantile = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { p50: quantile(0.5), p99: quantile(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

/** Fills one backend, measures every scenario, then deletes what it wrote. Figures go into `out`. */
async function benchStore(store: OnlineStore, out: Record<string, number>, table: string[][]): Promise<void> {
  try {
    const fillStart = performance.now();
    const written = (await store.write('airport', airportRows())) + (await store.write('flight', flightRows()));
    const valuesPerSecond = Math.round(written / ((performance.now() - fillStart) / 1000));
    out[`${store.kind}.fill_values_per_s`] = valuesPerSecond;
    table.push([store.kind, `fill ${written.toLocaleString('en-US')} values`, '', '', '', `${valuesPerSecond.toLocaleString('en-US')} values/s`]);

    for (const scenario of SCENARIOS) {
      const latency = await measure(store, scenario);
      const id = `${store.kind}.${scenario.entity}_${scenario.keysPerRead}key`;
      out[`${id}.p50_us`] = round(latency.p50);
      out[`${id}.p99_us`] = round(latency.p99);
      out[`${id}.mean_us`] = round(latency.mean);
      table.push([store.kind, scenario.name, fmt(latency.p50), fmt(latency.p99), fmt(latency.mean), `${scenario.iterations.toLocaleString('en-US')} reads`]);
    }
  } finally {
    // Deleting every ref empties each Redis hash, which removes the key itself.
    await store.deleteFeatures('airport', AIRPORT_REFS);
    await store.deleteFeatures('flight', FLIGHT_REFS);
  }
}

const round = (us: number) => Math.round(us * 10) / 10;
const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);

function printTable(rows: string[][]): void {
  const header = ['backend', 'read', 'p50', 'p99', 'mean', 'note'];
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c >= 2 && c <= 4 ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/**
 * Benchmarks the SQLite online store (in a temp file) and the Redis one (CAIRN_REDIS_URL, default
 * redis://127.0.0.1:6379, under a unique key prefix), prints a table and returns figures keyed
 * `<backend>.<entity>_<n>key.{p50,p99,mean}_us` and `<backend>.fill_values_per_s`. Redis is left
 * out with a warning when unreachable. Removes its temp files and Redis keys afterwards.
 */
export async function benchOnline(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const table: string[][] = [];

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-online-'));
  try {
    const sqlite = SqliteOnlineStore.open(path.join(dir, 'online.db'));
    try {
      await benchStore(sqlite, out, table);
    } finally {
      await sqlite.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const redisUrl = process.env.CAIRN_REDIS_URL ?? 'redis://127.0.0.1:6379';
  let redis: RedisOnlineStore | undefined;
  try {
    redis = await RedisOnlineStore.connect(redisUrl, { prefix: `cairn-bench-${randomBytes(6).toString('hex')}:` });
  } catch (err) {
    console.warn(`Redis left out: ${(err as Error).message}`);
  }
  if (redis) {
    try {
      await benchStore(redis, out, table);
    } finally {
      await redis.close();
    }
  }

  console.log(`\nOnline store reads (${AIRPORTS} airports × ${AIRPORT_REFS.length} refs, ${FLIGHTS.toLocaleString('en-US')} flights × ${FLIGHT_REFS.length} refs; Node ${process.version})\n`);
  printTable(table);
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchOnline();
}
