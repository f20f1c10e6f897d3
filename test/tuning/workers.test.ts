/**
 * Workers in separate processes that meet only in the database, on SQLite and PostgreSQL: they
 * race for trials without ever evaluating one combination twice, and a killed worker's trial is
 * failed after its heartbeat lapses and retried by another.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import type { Actor } from '../../src/identity/index.js';
import { LocalArtifactStore } from '../../src/storage/local-artifact-store.js';
import { SqlTrackingStore, TrackingService } from '../../src/tracking/index.js';
import { SqlTuningStore, TuningService, canonicalKey } from '../../src/tuning/index.js';
import { METADATA_BACKENDS, tempDir, type TestDatabase } from '../support/backends.js';

const editor: Actor = { user: 'ed', role: 'editor', tokenId: null };
const SCRIPT = new URL('./worker-process.ts', import.meta.url).pathname;

function startWorker(url: string, study: string, worker: string, mode?: string): { child: ChildProcess; done: Promise<string>; claimed: Promise<void> } {
  // node itself with tsx's loader (not the tsx wrapper), so SIGKILL kills the worker and not just a wrapper.
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, url, study, worker, ...(mode ? [mode] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onClaim: () => void = () => {};
  const claimed = new Promise<void>((r) => (onClaim = r));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('claimed')) onClaim();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) =>
    child.on('close', (code, signal) => (code === 0 || signal === 'SIGKILL' ? resolve(out) : reject(new Error(`worker ${worker} exited ${code}: ${err}`)))),
  );
  return { child, done, claimed };
}

for (const backend of METADATA_BACKENDS) {
  describe(`separate worker processes on ${backend.name}`, () => {
    let t: TestDatabase;
    let tuning: TuningService;
    beforeAll(async () => {
      t = await backend.open();
      const { db, dialect } = t.database;
      const tracking = new TrackingService(new SqlTrackingStore(db, dialect), await LocalArtifactStore.open(tempDir()), new EventBus());
      tuning = new TuningService(new SqlTuningStore(db, dialect), tracking);
    });
    afterAll(async () => t?.cleanup());

    it('4 processes finish the budget with zero duplicate combinations, and a killed worker’s trial is retried', async () => {
      const space = { x: { type: 'int' as const, low: -5, high: 5 }, y: { type: 'int' as const, low: -5, high: 5 } };
      await tuning.createStudy({ name: 'procs', metric: 'loss', space, sampler: { type: 'tpe', nStartupTrials: 5 }, budget: { trials: 60 }, heartbeatTimeoutSeconds: 1 }, editor);
      const doomed = startWorker(t.url, 'procs', 'doomed', 'hang');
      await doomed.claimed;
      doomed.child.kill('SIGKILL');
      await doomed.done;
      const workers = ['w1', 'w2', 'w3', 'w4'].map((w) => startWorker(t.url, 'procs', w));
      const outputs = await Promise.all(workers.map((w) => w.done));
      const results = outputs.map((o) => JSON.parse(o.trim().split('\n').pop()!) as { reason: string; trials: number });
      expect(results.every((r) => r.reason === 'budget')).toBe(true);
      const trials = await tuning.listTrials('procs');
      const live = trials.filter((tr) => tr.retriedBy === null);
      expect(live).toHaveLength(60);
      expect(live.every((tr) => tr.state === 'complete')).toBe(true);
      expect(new Set(live.map((tr) => canonicalKey(tr.params))).size).toBe(60);
      expect(new Set(live.map((tr) => tr.worker)).size).toBeGreaterThan(1);
      const killed = trials.find((tr) => tr.worker === 'doomed')!;
      expect(killed.state).toBe('failed');
      const retry = trials.find((tr) => tr.id === killed.retriedBy)!;
      expect(retry.params).toEqual(killed.params);
      expect(retry.state).toBe('complete');
      expect((await tuning.progress('procs')).study.status).toBe('completed');
    });
  });
}
