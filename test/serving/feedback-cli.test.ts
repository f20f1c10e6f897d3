/**
 * Feedback and the prediction log through the SDK and `cairn predictions` (bin/cairn.js in a
 * child process), against a listening server in this process.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient, CairnError } from '../../src/sdk/index.js';
import { predictionRecord } from '../contract/prediction-log-store.contract.js';
import { tempDir } from '../support/backends.js';
import { runCairn } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/platform.js';

describe('prediction log in the SDK and the CLI', () => {
  let server: TestServer;
  let url: string;
  let sdk: CairnClient;
  let dir: string;
  const cli = (...args: string[]) => runCairn(['--url', url, ...args]);

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    sdk = new CairnClient({ url });
    dir = tempDir('cairn-cli-predictions-');
    const at = (s: number) => new Date(Date.parse('2026-02-01T00:00:00.000Z') + s * 1000).toISOString();
    server.platform.predictionLog.record([
      predictionRecord('p-1', { model: 'delay', version: 1, at: at(1), output: { value: 0.9, label: 1, probability: 0.9 } }),
      predictionRecord('p-2', { model: 'delay', version: 1, at: at(2), output: { value: 0.2, label: 0, probability: 0.2 } }),
      predictionRecord('p-3', { model: 'delay', version: 2, at: at(3), output: { value: 0.7, label: 1, probability: 0.7 } }),
    ]);
    await server.platform.predictionLog.flush();
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('SDK: records feedback, reads predictions and performance, reports unknown ids', async () => {
    expect(await sdk.predictions.feedback([{ predictionId: 'p-1', actual: 1 }, { predictionId: 'zzz', actual: 0 }])).toEqual({ recorded: 1, replaced: [], unknown: ['zzz'] });
    expect((await sdk.predictions.get('p-1')).feedback?.actual).toBe(1);
    expect((await sdk.predictions.list({ model: 'delay', version: 1 })).items.map((p) => p.id)).toEqual(['p-2', 'p-1']);
    const perf = await sdk.predictions.performance('delay');
    expect(perf.versions.map((v) => [v.version, v.predictions, v.withFeedback])).toEqual([
      [1, 2, 1],
      [2, 1, 0],
    ]);
    const missing = await sdk.predictions.get('zzz').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CairnError);
    expect((missing as CairnError).code).toBe('PREDICTION_NOT_FOUND');
    server.platform.predictionLog.refused('delay', 'validation', 2);
    await server.platform.predictionLog.flush();
    expect(await sdk.predictions.refusals({ model: 'delay' })).toEqual([expect.objectContaining({ reason: 'validation', count: 2 })]);
  });

  it('CLI: feedback for one id, then many from a file; list, show and performance', async () => {
    const one = await cli('predictions', 'feedback', 'p-2', 'false');
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/recorded:\s+1/);
    const file = path.join(dir, 'feedback.jsonl');
    fs.writeFileSync(file, ['{"predictionId":"p-3","actual":1}', '{"predictionId":"p-2","actual":0}'].join('\n'));
    const many = await cli('--json', 'predictions', 'feedback', '--file', file);
    expect(many.code).toBe(0);
    expect(JSON.parse(many.stdout)).toEqual({ recorded: 2, replaced: ['p-2'], unknown: [] });

    const list = await cli('predictions', 'list', '--model', 'delay@1');
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['p-2', 'p-1']);
    const show = await cli('predictions', 'show', 'p-3');
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/model:\s+delay version 2/);
    expect(show.stdout).toMatch(/actual:\s+1 \(/);
    const perf = await cli('predictions', 'performance', 'delay');
    expect(perf.code).toBe(0);
    expect(perf.stdout).toMatch(/1\s+2\s+2\s+accuracy 1, AUC 1/);
  });

  it('CLI: exits 2 for unknown ids and bad input, naming what is wrong', async () => {
    const partly = await cli('predictions', 'feedback', '--file', writeJson([{ predictionId: 'p-1', actual: 1 }, { predictionId: 'nope', actual: 1 }]));
    expect(partly.code).toBe(2);
    expect(partly.stdout).toMatch(/unknown:\s+nope/);
    const none = await cli('predictions', 'feedback', 'nope', '1');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/prediction nope not found/);
    const badItem = await cli('predictions', 'feedback', '--file', writeJson([{ predictionId: 'p-1' }]));
    expect(badItem.code).toBe(2);
    expect(badItem.stderr).toMatch(/items\[0\]\.actual: required/);
    const noActual = await cli('predictions', 'feedback', 'p-1');
    expect(noActual.code).toBe(2);
    expect(noActual.stderr).toMatch(/actual: required/);
    const badQuery = await cli('predictions', 'list', '--since', 'yesterday');
    expect(badQuery.code).toBe(2);
    expect(badQuery.stderr).toMatch(/since: expected an ISO-8601 time/);
    const show = await cli('predictions', 'show', 'nope');
    expect(show.code).toBe(2);
  });

  function writeJson(value: unknown): string {
    const file = path.join(dir, `f-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify(value));
    return file;
  }
});
