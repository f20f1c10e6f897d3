/**
 * The SDK's experiment tracking against a real server in this process, and the RunLogger's
 * buffering: sends on size, on the timer and at the end, in order, and loses nothing when sends
 * fail or overlap with logging.
 */
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient, CairnError, RunLogger, type RunsClient, type LogBatchInput, type Run } from '../../src/sdk/index.js';
import { tempDir } from '../support/backends.js';
import { startTestServer, type TestServer } from '../support/platform.js';

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

function thrown(f: () => unknown): CairnError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected a throw');
}

async function listen(server: TestServer): Promise<string> {
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(server.app.server.address() as net.AddressInfo).port}`;
}

/** A RunsClient stand-in that records batches and can fail or stall sends on demand. */
class FakeRuns {
  batches: LogBatchInput[] = [];
  failNext = 0;
  delayMs = 0;
  ended: string | null = null;

  async log(_runId: string, batch: LogBatchInput) {
    if (this.delayMs) await sleep(this.delayMs);
    if (this.failNext > 0) {
      this.failNext--;
      throw new CairnError('UNAVAILABLE', 'cannot reach the Cairn server');
    }
    this.batches.push(structuredClone(batch));
    return { params: 0, metrics: batch.metrics?.length ?? 0, tags: 0 };
  }

  async end(runId: string, input: { status?: string }) {
    this.ended = input.status ?? 'finished';
    return { id: runId, status: this.ended } as Run;
  }

  /** Every metric value sent, in order. */
  get values(): number[] {
    return this.batches.flatMap((b) => (b.metrics ?? []).map((m) => m.value));
  }
}

const fakeLogger = (fake: FakeRuns, options: ConstructorParameters<typeof RunLogger>[2] = {}) =>
  new RunLogger(fake as unknown as RunsClient, { id: 'run_fake' } as Run, options);

describe('RunLogger buffering', () => {
  it('buffers points without sending until a batch fills, in batches of batchSize', async () => {
    const fake = new FakeRuns();
    const run = fakeLogger(fake, { batchSize: 50, flushIntervalMs: 0 });
    for (let i = 0; i < 49; i++) run.logMetric('loss', i, i);
    expect(fake.batches).toHaveLength(0);
    expect(run.pending).toBe(49);
    run.logMetric('loss', 49, 49); // the 50th point fills a batch and starts a send
    for (let i = 50; i < 120; i++) run.logMetric('loss', i, i);
    await run.flush();
    expect(fake.values).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(fake.batches.every((b) => (b.metrics ?? []).length <= 50)).toBe(true);
    expect(run.pending).toBe(0);
  });

  it('sends on the timer without being asked', async () => {
    const fake = new FakeRuns();
    const run = fakeLogger(fake, { flushIntervalMs: 10 });
    run.logMetrics({ auc: 0.7, loss: 0.3 }, 1);
    for (let i = 0; i < 100 && fake.values.length < 2; i++) await sleep(10);
    expect(fake.batches).toEqual([{ metrics: [expect.objectContaining({ key: 'auc', value: 0.7, step: 1 }), expect.objectContaining({ key: 'loss', value: 0.3, step: 1 })] }]);
    await run.end();
  });

  it('keeps points through failed sends and delivers each exactly once, in order', async () => {
    const fake = new FakeRuns();
    const run = fakeLogger(fake, { batchSize: 100, flushIntervalMs: 0 });
    fake.failNext = 2;
    for (let i = 0; i < 250; i++) run.logMetric('m', i, i); // the size-triggered send fails in the background
    await sleep(10);
    expect(run.lastError).toBeInstanceOf(CairnError);
    expect(run.pending).toBe(250);
    run.logMetric('m', 250, 250); // no retry per point while failing
    await sleep(10);
    expect(fake.failNext).toBe(1);
    expect(await rejection(run.flush())).toMatchObject({ code: 'UNAVAILABLE' });
    await run.flush();
    expect(fake.values).toEqual(Array.from({ length: 251 }, (_, i) => i));
    expect(run.lastError).toBeNull();
  });

  it('retries on the timer after a failed background send', async () => {
    const fake = new FakeRuns();
    fake.failNext = 1;
    const run = fakeLogger(fake, { batchSize: 5, flushIntervalMs: 10 });
    for (let i = 0; i < 5; i++) run.logMetric('m', i);
    for (let i = 0; i < 100 && fake.values.length < 5; i++) await sleep(10);
    expect(fake.values).toEqual([0, 1, 2, 3, 4]);
    await run.end();
  });

  it('lets an explicit flush throw when the server stays away, and retries at end', async () => {
    const fake = new FakeRuns();
    const run = fakeLogger(fake, { flushIntervalMs: 0 });
    run.logMetric('m', 1);
    fake.failNext = 1;
    expect(await rejection(run.flush())).toMatchObject({ code: 'UNAVAILABLE' });
    expect(run.pending).toBe(1);
    await run.end('failed');
    expect(fake.values).toEqual([1]);
    expect(fake.ended).toBe('failed');
    expect(thrown(() => run.logMetric('m', 2)).code).toBe('CONFLICT');
  });

  it('accepts points while a send is in flight and keeps them behind it', async () => {
    const fake = new FakeRuns();
    fake.delayMs = 20;
    const run = fakeLogger(fake, { batchSize: 10, flushIntervalMs: 0 });
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 95; i++) {
      run.logMetric('m', i, i);
      if (i % 30 === 0) flushes.push(run.flush());
    }
    await Promise.all(flushes);
    await run.flush();
    expect(fake.values).toEqual(Array.from({ length: 95 }, (_, i) => i));
  });

  it('refuses bad points at the call, buffering nothing', () => {
    const run = fakeLogger(new FakeRuns(), { flushIntervalMs: 0 });
    expect(thrown(() => run.logMetric('auc', Number.NaN)).details.errors).toEqual([{ path: 'value', reason: 'auc: expected a finite number, got NaN' }]);
    expect(thrown(() => run.logMetric('bad`key', 1)).details.errors).toEqual([{ path: 'key', reason: '"bad`key" is not a metric key' }]);
    expect(thrown(() => run.logMetric('auc', 1, -1)).details.errors).toEqual([{ path: 'step', reason: 'auc: expected an integer ≥ 0, got -1' }]);
    expect(run.pending).toBe(0);
  });

  it('stops taking points when too many wait', () => {
    const run = fakeLogger(new FakeRuns(), { flushIntervalMs: 0, batchSize: 1000, maxBuffered: 3 });
    for (let i = 0; i < 3; i++) run.logMetric('m', i);
    expect(thrown(() => run.logMetric('m', 4)).code).toBe('UNAVAILABLE');
  });
});

describe('tracking through the SDK against a running server', () => {
  let server: TestServer;
  let client: CairnClient;
  let dir: string;

  beforeAll(async () => {
    server = await startTestServer();
    client = new CairnClient({ url: await listen(server) });
    dir = tempDir('cairn-sdk-tracking-');
    await client.experiments.create({ name: 'flights', description: 'delay models' });
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('manages experiments', async () => {
    expect(await client.experiments.get('flights')).toMatchObject({ name: 'flights', createdBy: 'tester' });
    expect((await client.experiments.list()).items.map((e) => e.name)).toEqual(['flights']);
    expect(await rejection(client.experiments.get('nope'))).toMatchObject({ code: 'EXPERIMENT_NOT_FOUND' });
  });

  it('trains through a RunLogger: every point arrives, the run ends, search and compare see it', async () => {
    const run = await client.runs.start({ experiment: 'flights', name: 'sdk', params: { lr: 0.1 } }, { batchSize: 64, flushIntervalMs: 5 });
    expect(run.run.source.command).toContain('node');
    await run.logParams({ depth: 6 });
    await run.setTags({ team: 'ml' });
    for (let step = 0; step < 500; step++) run.logMetrics({ loss: 1 / (step + 1), auc: step / 1000 }, step);
    const ended = await run.end();
    expect(ended).toMatchObject({ status: 'finished', params: { lr: '0.1', depth: '6' }, tags: { team: 'ml' }, metrics: { auc: { value: 0.499, step: 499 } } });
    const history = await client.runs.metricHistory(run.id, 'loss');
    expect(history.map((p) => p.step)).toEqual(Array.from({ length: 500 }, (_, i) => i));

    const conflict = await rejection(client.runs.log(run.id, { params: [{ key: 'lr', value: 0.3 }] }));
    expect(conflict.code).toBe('CONFLICT');

    const other = await client.runs.create({ experiment: 'flights', params: { lr: 0.2, depth: 6 } });
    await client.runs.log(other.id, { metrics: [{ key: 'auc', value: 0.6, step: 3 }] });
    const found = await client.runs.search({ experiments: ['flights'], filter: 'metrics.auc > 0.45', orderBy: 'metrics.auc DESC' });
    expect(found.items.map((r) => r.id)).toEqual([other.id, run.id]);
    const comparison = await client.runs.compare([run.id, other.id]);
    expect(comparison.params).toContainEqual({ key: 'lr', values: ['0.1', '0.2'], differs: true });
    expect(comparison.histories.find((h) => h.key === 'auc')!.steps).toHaveLength(500);

    const bad = await rejection(client.runs.search({ filter: "params.lr = 0.1 AND" }));
    expect(bad.details.errors).toEqual([{ path: 'filter', reason: 'position 20: expected a condition like metrics.auc > 0.5 or an opening (' }]);
    expect(await rejection(client.runs.get('run_nope'))).toMatchObject({ code: 'RUN_NOT_FOUND' });
  });

  it('uploads files and folders, lists them and downloads them checked', async () => {
    const run = await client.runs.start({ experiment: 'flights' });
    const model = path.join(dir, 'model.onnx');
    fs.writeFileSync(model, Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 256)));
    const report = path.join(dir, 'report');
    fs.mkdirSync(path.join(report, 'plots'), { recursive: true });
    fs.writeFileSync(path.join(report, 'summary.md'), '# good');
    fs.writeFileSync(path.join(report, 'plots', 'roc curve.svg'), '<svg/>');

    expect(await run.uploadArtifact(model, 'model/model.onnx')).toMatchObject({ path: 'model/model.onnx', size: 5000, created: true });
    expect((await run.uploadArtifacts(report, 'report')).map((a) => a.path)).toEqual(['report/plots/roc curve.svg', 'report/summary.md']);
    expect((await client.runs.listArtifacts(run.id)).map((a) => a.path)).toEqual(['model/model.onnx', 'report/plots/roc curve.svg', 'report/summary.md']);

    const file = await client.runs.downloadArtifact(run.id, 'model/model.onnx', path.join(dir, 'copy.onnx'));
    expect(fs.readFileSync(file.path).equals(fs.readFileSync(model))).toBe(true);
    const folder = await client.runs.downloadArtifacts(run.id, 'report', path.join(dir, 'back'));
    expect(folder.map((d) => path.relative(path.join(dir, 'back'), d.path))).toEqual([path.join('plots', 'roc curve.svg'), 'summary.md']);
    expect(fs.readFileSync(path.join(dir, 'back', 'summary.md'), 'utf8')).toBe('# good');

    expect((await rejection(client.runs.uploadArtifact(run.id, model, '../escape'))).details.errors).toEqual([
      { path: 'artifactPath', reason: '"../escape" holds a . or .. segment: paths stay inside the run' },
    ]);
    expect((await rejection(client.runs.uploadArtifact(run.id, model, '/abs/x'))).details.errors).toEqual([
      { path: 'path', reason: '"/abs/x" is absolute: give a path relative to the run' },
    ]);
    expect((await rejection(client.runs.uploadArtifact(run.id, path.join(dir, 'nope')))).details.errors).toEqual([{ path: 'localFile', reason: `no file at ${path.join(dir, 'nope')}` }]);
    expect(await rejection(client.runs.downloadArtifact(run.id, 'nope', path.join(dir, 'x')))).toMatchObject({ code: 'RUN_ARTIFACT_NOT_FOUND' });
    await run.end();
  });

  it('gets a 413, not a broken connection, for a file over the body limit', async () => {
    const small = await startTestServer({ CAIRN_BODY_LIMIT_MB: '0.01' });
    try {
      const c = new CairnClient({ url: await listen(small) });
      await c.experiments.create({ name: 'x' });
      const run = await c.runs.create({ experiment: 'x' });
      const big = path.join(dir, 'big.bin');
      fs.writeFileSync(big, Buffer.alloc(200_000, 7));
      expect(await rejection(c.runs.uploadArtifact(run.id, big))).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    } finally {
      await small.close();
    }
  });
});
