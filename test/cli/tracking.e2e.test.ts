/**
 * `cairn experiments` and `cairn runs` as a user runs them: bin/cairn.js in a child process
 * against a server in this process; runs are seeded through the SDK. Each spawn costs a few
 * hundred ms, so each case checks what only a real process shows: tables, streams, exit codes.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '../../src/sdk/index.js';
import { tempDir } from '../support/backends.js';
import { runCairn } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/platform.js';

const cairn = (args: string[]) => runCairn(args);

describe('cairn experiments and runs', () => {
  let server: TestServer;
  let url: string;
  let sdk: CairnClient;
  let dir: string;
  let gbdt: string;
  let linear: string;
  const remote = (...args: string[]) => cairn(['--url', url, ...args]);

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    sdk = new CairnClient({ url });
    dir = tempDir('cairn-cli-tracking-');
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates an experiment and lists it', async () => {
    const created = await remote('experiments', 'create', 'flights', '--description', 'delay models', '--tag', 'team=ml');
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^experiment:\s+flights$/m);
    expect(created.stdout).toMatch(/^tags:\s+\{"team":"ml"\}$/m);
    const listed = JSON.parse((await remote('experiments', 'list', '--json')).stdout) as { items: { name: string; createdBy: string }[] };
    expect(listed.items).toEqual([expect.objectContaining({ name: 'flights', createdBy: 'tester' })]);

    for (const [name, params, auc] of [['gbdt-1', { lr: 0.1, trainer: 'gbdt', depth: 6 }, 0.86], ['linear-1', { lr: 0.2, trainer: 'linear', depth: 6 }, 0.71]] as const) {
      const run = await sdk.runs.start({ experiment: 'flights', name, params }, { flushIntervalMs: 0 });
      run.logMetric('auc', auc - 0.1, 1);
      run.logMetric('auc', auc, 2);
      run.logMetric('loss', 1 - auc, 2);
      if (name === 'gbdt-1') {
        fs.mkdirSync(path.join(dir, 'out', 'plots'), { recursive: true });
        fs.writeFileSync(path.join(dir, 'out', 'model.onnx'), 'onnx!');
        fs.writeFileSync(path.join(dir, 'out', 'plots', 'roc.svg'), '<svg/>');
        await run.uploadArtifacts(path.join(dir, 'out'), 'model');
        gbdt = run.id;
      } else {
        linear = run.id;
      }
      await run.end();
    }
  });

  it('searches runs with a filter and a sort, one page at a time', async () => {
    const run = await remote('runs', 'list', '--experiment', 'flights', '--filter', "metrics.auc > 0.6 AND params.depth = 6", '--order-by', 'metrics.auc DESC', '--limit', '1');
    expect(run.code).toBe(0);
    const [header, row, ...rest] = run.stdout.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['id', 'name', 'experiment', 'status', 'started', 'auc', 'loss']);
    expect(row!.split(/\s+/).slice(0, 4)).toEqual([gbdt, 'gbdt-1', 'flights', 'finished']);
    expect(row!.split(/\s+/).slice(5)).toEqual(['0.86', '0.14']);
    expect(rest).toEqual([]);
    expect(run.stderr).toMatch(/^\(more: repeat with --cursor \S+\)$/m);
  });

  it('explains a malformed filter with its position and exits 2', async () => {
    const run = await remote('runs', 'list', '--filter', 'metrics.auc > 0.6 AND');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'error: invalid filter: position 22: expected a condition like metrics.auc > 0.5 or an opening (\n' +
        '  filter: position 22: expected a condition like metrics.auc > 0.5 or an opening (\n',
    );
  });

  it('shows a run, and exits 2 for one that does not exist', async () => {
    const shown = await remote('runs', 'get', gbdt);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^status:\s+finished$/m);
    expect(shown.stdout).toMatch(/^trainer\s+gbdt$/m);
    expect(shown.stdout).toMatch(/^auc\s+0\.86\s+2\s/m);
    const missing = await remote('runs', 'get', 'run_nope');
    expect(missing).toMatchObject({ code: 2, stderr: 'error: run run_nope not found\n' });
  });

  it('compares runs in a table with one column per run and differing params marked', async () => {
    const run = await remote('runs', 'compare', gbdt, linear);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['run', 'gbdt-1', 'linear-1']);
    expect(lines).toContainEqual(expect.stringMatching(/^\* lr\s+0\.1\s+0\.2$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\* trainer\s+gbdt\s+linear$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}depth\s+6\s+6$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}auc\s+0\.86\s+0\.71$/));
    expect(lines.indexOf('params')).toBeLessThan(lines.indexOf('metrics'));
  });

  it('lists artifacts and downloads a file or a whole folder', async () => {
    const listed = await remote('runs', 'artifacts', gbdt);
    expect(listed.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['path', 'model/model.onnx', 'model/plots/roc.svg']);

    const file = path.join(dir, 'got.onnx');
    const one = await remote('runs', 'download', gbdt, 'model/model.onnx', '-o', file);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^wrote ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(5 bytes, sha256 [0-9a-f]{64}\\)$`, 'm'));
    expect(fs.readFileSync(file, 'utf8')).toBe('onnx!');

    const folder = path.join(dir, 'back');
    const all = await remote('runs', 'download', gbdt, 'model', '-o', folder);
    expect(all.code).toBe(0);
    expect(fs.readFileSync(path.join(folder, 'plots', 'roc.svg'), 'utf8')).toBe('<svg/>');
    expect(all.stderr).toContain('2 files of model/');

    const none = await remote('runs', 'download', gbdt, 'nope.bin', '-o', file);
    expect(none).toMatchObject({ code: 2, stderr: `error: run ${gbdt} has no artifact nope.bin\n` });
  });
});
