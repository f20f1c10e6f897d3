/**
 * Parallel workers: N separate worker processes (bench/tuning-worker-process.ts) that meet only in
 * the database finish one study, on SQLite and on a throwaway PostgreSQL database. Duplicates are
 * counted by canonical parameters over the study's live trials (must be 0).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import type { Actor } from '../src/identity/index.js';
import { openPlatform } from '../src/server/platform.js';
import { canonicalKey, gridSize, type SamplerConfig } from '../src/tuning/index.js';
import { createPostgresDatabase } from '../test/support/backends.js';
import { PARALLEL_SPACE } from './tuning-functions.js';

const SCRIPT = new URL('./tuning-worker-process.ts', import.meta.url).pathname;

export interface WorkersRow {
  backend: string;
  sampler: string;
  workers: number;
  /** Live trials (not counting failed ones that were retried). */
  trials: number;
  complete: number;
  duplicates: number;
  /** Trials per worker, in worker order. */
  perWorker: number[];
  /** Until every worker process had opened the platform. */
  startupSeconds: number;
  /** From the start signal until the last worker exited. */
  wallSeconds: number;
  /** From the first claim to the last finish (without process start-up). */
  claimSeconds: number;
}

interface WorkerProcess {
  ready: Promise<void>;
  done: Promise<string>;
  go(): void;
}

function startWorker(home: string, url: string, study: string, worker: string): WorkerProcess {
  // node with tsx's loader rather than the tsx wrapper: one process per worker, as in production.
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, home, url, study, worker], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker ${worker} exited ${code}: ${err.trim()}`)))));
  // A worker that dies before it is ready must not leave the bench waiting for it.
  void done.catch(() => onReady());
  return { ready, done, go: () => child.stdin.end('go\n') };
}

async function runOnce(backend: string, url: string | undefined, sampler: SamplerConfig, workers: number, trials: number): Promise<WorkersRow> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-workers-'));
  const dbUrl = url ?? `sqlite:${path.join(home, 'cairn.db')}`;
  // The parent opens the platform first, so the schema is migrated before any worker starts.
  const platform = await openPlatform(loadConfig({ CAIRN_HOME: home, CAIRN_DATABASE_URL: dbUrl, CAIRN_LOG_LEVEL: 'silent', CAIRN_LOCAL_USER: 'bench' }), createLogger('silent'));
  try {
    const actor: Actor = { user: 'bench', role: 'admin', tokenId: null };
    const name = `parallel-${sampler.type}`;
    await platform.tuning.createStudy({ name, metric: 'value', space: PARALLEL_SPACE, sampler, budget: { trials }, seed: 3 }, actor);
    const names = Array.from({ length: workers }, (_, i) => `w${i + 1}`);
    const spawned = performance.now();
    const procs = names.map((w) => startWorker(home, dbUrl, name, w));
    await Promise.all(procs.map((p) => p.ready));
    const start = performance.now();
    for (const p of procs) p.go();
    await Promise.all(procs.map((p) => p.done));
    const wallSeconds = (performance.now() - start) / 1000;
    const startupSeconds = (start - spawned) / 1000;
    const live = (await platform.tuning.listTrials(name)).filter((t) => t.retriedBy === null);
    const first = Math.min(...live.map((t) => Date.parse(t.startedAt)));
    const last = Math.max(...live.map((t) => Date.parse(t.endedAt ?? t.heartbeatAt)));
    return {
      backend,
      sampler: sampler.type,
      workers,
      trials: live.length,
      complete: live.filter((t) => t.state === 'complete').length,
      duplicates: live.length - new Set(live.map((t) => canonicalKey(t.params))).size,
      perWorker: names.map((w) => live.filter((t) => t.worker === w).length),
      startupSeconds,
      wallSeconds,
      claimSeconds: (last - first) / 1000,
    };
  } finally {
    await platform.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Runs `workers` processes per sampler on SQLite, then on a fresh PostgreSQL database (dropped after). */
export async function measureWorkers(samplers: SamplerConfig[], workers: number, trials: number, withPostgres: boolean): Promise<WorkersRow[]> {
  const rows: WorkersRow[] = [];
  for (const sampler of samplers) rows.push(await runOnce('SQLite', undefined, sampler, workers, trials));
  if (!withPostgres) return rows;
  for (const sampler of samplers) {
    const pg = await createPostgresDatabase();
    try {
      rows.push(await runOnce('PostgreSQL', pg.url, sampler, workers, trials));
    } finally {
      await pg.drop();
    }
  }
  return rows;
}

export function printWorkers(rows: WorkersRow[]): void {
  console.log(`\nParallel workers: separate processes sharing one study through the database (cheap objective on ${gridSize(PARALLEL_SPACE, 1).toLocaleString('en-US')} integer points)\n`);
  console.log('| backend | sampler | workers | trials | complete | duplicates | trials per worker | start-up | wall | first claim → last finish | trials/s in that window |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.backend} | ${r.sampler} | ${r.workers} | ${r.trials} | ${r.complete} | ${r.duplicates} | ${r.perWorker.join(' / ')} | ${r.startupSeconds.toFixed(1)} s | ${r.wallSeconds.toFixed(1)} s | ${r.claimSeconds.toFixed(1)} s | ${(r.trials / r.claimSeconds).toFixed(0)} |`,
    );
  }
}
