/**
 * The SDK's tuning client against a real server in this process: studies and their errors, and
 * runStudy over HTTP with two workers that never evaluate one combination twice.
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient, CairnError, type Trial } from '../../src/sdk/index.js';
import { canonicalKey, runStudy } from '../../src/tuning/index.js';
import { startTestServer, type TestServer } from '../support/platform.js';

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

describe('client.tuning', () => {
  let s: TestServer;
  let client: CairnClient;

  beforeAll(async () => {
    s = await startTestServer();
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    client = new CairnClient({ url: `http://127.0.0.1:${(s.app.server.address() as net.AddressInfo).port}` });
  });
  afterAll(async () => s?.close());

  it('creates, reads, lists, cancels and resumes studies, with the server’s errors', async () => {
    const study = await client.tuning.createStudy({ name: 'sdk-a', metric: 'loss', space: { x: { type: 'float', low: -1, high: 1 } }, budget: { trials: 2 } });
    expect(study).toMatchObject({ name: 'sdk-a', status: 'running', createdBy: 'tester' });
    expect(await client.tuning.getStudy('sdk-a')).toMatchObject({ name: 'sdk-a' });
    expect((await client.tuning.listStudies()).items.map((x) => x.name)).toContain('sdk-a');
    expect(await client.tuning.progress('sdk-a')).toMatchObject({ done: 0, budget: 2, best: null });
    expect(await client.tuning.listTrials('sdk-a')).toEqual([]);

    const bad = await rejection(client.tuning.createStudy({ name: 'sdk-b', metric: 'loss', space: { x: { type: 'float', low: 2, high: 1 } }, budget: { trials: 2 } }));
    expect(bad.code).toBe('VALIDATION_FAILED');
    expect(bad.details.errors).toEqual([{ path: 'space.x.high', reason: 'must be ≥ low (2)' }]);
    expect((await rejection(client.tuning.progress('nope'))).code).toBe('NOT_FOUND');
    expect((await rejection(client.tuning.finishTrial('trial_nope', { state: 'complete', value: 1 }))).code).toBe('NOT_FOUND');

    // The worker protocol, by hand.
    const { trial } = await client.tuning.claimTrial('sdk-a', 'me');
    expect(trial).toMatchObject({ number: 0, worker: 'me' });
    expect(await client.tuning.reportIntermediate(trial!.id, 1, 0.3)).toEqual({ prune: false });
    expect(await client.tuning.heartbeat(trial!.id)).toEqual({ stop: false });
    expect(await client.tuning.finishTrial(trial!.id, { state: 'complete', value: 0.25 })).toMatchObject({ state: 'complete', value: 0.25 });

    expect(await client.tuning.cancelStudy('sdk-a')).toMatchObject({ status: 'cancelled' });
    expect(await client.tuning.claimTrial('sdk-a', 'me')).toEqual({ trial: null, reason: 'cancelled' });
    expect((await rejection(client.tuning.resumeStudy('sdk-a', { trials: 5 }))).code).toBe('CONFLICT');
  });

  it('runs a study over HTTP with two workers: every combination once, and the best value', async () => {
    const space = { x: { type: 'int' as const, low: -4, high: 4 }, y: { type: 'int' as const, low: -4, high: 4 } };
    await client.tuning.createStudy({ name: 'quad', metric: 'loss', space, sampler: { type: 'tpe', nStartupTrials: 5 }, budget: { trials: 24 }, seed: 3, heartbeatTimeoutSeconds: 10 });
    const seen: Trial[] = [];
    const objective = async (p: Record<string, unknown>) => {
      await new Promise((r) => setTimeout(r, 2));
      return (Number(p.x) - 1) ** 2 + (Number(p.y) + 2) ** 2;
    };
    const result = await runStudy(client.tuning, 'quad', objective, { workers: 2, workerId: 'sdk', onTrial: (t) => seen.push(t) });
    expect(result).toEqual({ reason: 'budget', trials: 24 });

    const trials = await client.tuning.listTrials('quad');
    expect(trials).toHaveLength(24);
    expect(trials.every((t) => t.state === 'complete')).toBe(true);
    expect(new Set(trials.map((t) => canonicalKey(t.params))).size).toBe(24);
    expect(new Set(trials.map((t) => t.worker))).toEqual(new Set(['sdk-0', 'sdk-1']));
    expect(seen).toHaveLength(24);

    const progress = await client.tuning.progress('quad');
    const best = Math.min(...trials.map((t) => t.value!));
    expect(progress).toMatchObject({ study: { status: 'completed', stopReason: 'budget' }, done: 24, budget: 24, best: { value: best } });
    await expect(objective(progress.best!.params)).resolves.toBe(best);
    expect((await client.runs.get(progress.study.runId)).metrics).toMatchObject({ best_loss: { value: best } });
  });
});
