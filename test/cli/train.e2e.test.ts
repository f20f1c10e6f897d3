/**
 * `cairn train` as a user runs it: a built-in trainer on a dataset version, and an external
 * command (a Python script here; any language works) that logs through the REST API.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '../../src/sdk/index.js';
import { tempDir } from '../support/backends.js';
import { runCairn } from '../support/cli.js';
import { makeFlights, writeCsv } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/platform.js';

/** An external trainer: reads its params, logs a metric and uploads a "model" through the API. */
const SCRIPT = `
import json, os, sys, urllib.request
url, run = os.environ["CAIRN_URL"], os.environ["CAIRN_RUN_ID"]
params = json.loads(os.environ["CAIRN_PARAMS"])
lr = float(os.environ["CAIRN_PARAM_LEARNING_RATE"])
print("training with", params, "on", os.environ.get("CAIRN_DATASET_PATH", "no dataset"))
def call(method, route, body, content_type="application/json"):
    req = urllib.request.Request(url + route, data=body, method=method, headers={"content-type": content_type})
    return json.loads(urllib.request.urlopen(req).read())
call("POST", f"/api/v1/runs/{run}/batch", json.dumps({"metrics": [{"key": "score", "value": lr * 2, "step": s} for s in range(3)]}).encode())
call("PUT", f"/api/v1/runs/{run}/artifacts/model/model.txt", b"weights", "application/octet-stream")
if params.get("fail"):
    print("diverged: loss is nan", file=sys.stderr)
    sys.exit(3)
`;

describe('cairn train', () => {
  let server: TestServer;
  let url: string;
  let sdk: CairnClient;
  let dir: string;

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    sdk = new CairnClient({ url });
    dir = tempDir('cairn-cli-train-');
    fs.writeFileSync(path.join(dir, 'train.py'), SCRIPT);
    const csv = writeCsv(dir, 'flights.csv', makeFlights({ days: 10, stepMinutes: 30 }));
    await sdk.entities.create({ name: 'flight', joinKeys: ['flight_id'] });
    await sdk.sources.create({ name: 'flights', path: csv, timestampColumn: 'date' });
    await sdk.features.create({ name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' });
    await sdk.trainingSets.build({
      name: 'jan',
      entityTable: { query: `SELECT flight_id, origin, date AS t, delay > 15 AS delayed FROM read_csv('${csv}')` },
      eventTimeColumn: 't',
      features: ['distance@1'],
    });
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('trains a built-in model and prints the run and its metrics', async () => {
    const run = await runCairn(['--url', url, 'train', '--experiment', 'cli', '--dataset', 'jan@1', '--label', 'delayed', '--features', 'distance,origin', '--param', 'n_trees=10', '--param', 'learning_rate=0.3']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^status:\s+finished$/m);
    expect(run.stdout).toMatch(/^valid_auc\s+0\.\d+$/m);
    const id = /^run:\s+(run_\w+)$/m.exec(run.stdout)![1]!;
    expect((await sdk.runs.get(id)).params).toMatchObject({ n_trees: '10', learning_rate: '0.3', trainer: 'gbdt' });
  });

  it('refuses a misspelt parameter with exit 2, naming it', async () => {
    const run = await runCairn(['--url', url, 'train', '--experiment', 'cli', '--dataset', 'jan@1', '--label', 'delayed', '--param', 'n_tree=10']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('params.n_tree: not a gbdt parameter (did you mean n_trees?)');
  });

  it('runs an external command as a tracked run with its params, metrics, output and exit status', async () => {
    const run = await runCairn(['--url', url, 'train', '--experiment', 'external', '--command', `python3 ${path.join(dir, 'train.py')}`, '--dataset', 'jan@1', '--param', 'learning_rate=0.25', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(run.stderr).toContain('training with');
    expect(out).toMatchObject({
      status: 'finished',
      params: { learning_rate: '0.25' },
      metrics: { score: { value: 0.5, step: 2 } },
      tags: { 'cairn.exit_code': '0', 'cairn.trainer': 'external' },
      inputs: { dataset: { ref: 'jan@1' }, features: ['distance@1'] },
      source: { command: expect.stringContaining('train.py') },
    });
    expect(out.metrics.duration_seconds.value).toBeGreaterThan(0);
    const files = (await sdk.runs.listArtifacts(out.id)).map((a) => a.path).sort();
    expect(files).toEqual(['logs/output.log', 'model/model.txt']);
    const log = path.join(dir, 'output.log');
    await sdk.runs.downloadArtifact(out.id, 'logs/output.log', log);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/training with \{'learning_rate': 0.25\} on .*jan-v1\.parquet/);
  });

  it('marks the run failed with the command error when the command fails', async () => {
    const run = await runCairn(['--url', url, 'train', '--experiment', 'external', '--command', `python3 ${path.join(dir, 'train.py')}`, '--param', 'learning_rate=1', '--param', 'fail=true']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('diverged: loss is nan');
    const id = /^run:\s+(run_\w+)$/m.exec(run.stdout)![1]!;
    expect(await sdk.runs.get(id)).toMatchObject({
      status: 'failed',
      tags: { 'cairn.exit_code': '3', 'cairn.error': 'command exited with code 3: diverged: loss is nan' },
    });
  });
});
