/**
 * `cairn tune` as a user runs it: bin/cairn.js in a child process against a server in this
 * process. A command study is created from a file, run by two workers of `tune run` (each trial a
 * shell command printing its value), followed with `status`, listed and cancelled.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '../../src/sdk/index.js';
import { canonicalKey } from '../../src/tuning/index.js';
import { tempDir } from '../support/backends.js';
import { runCairn } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/platform.js';

describe('cairn tune', () => {
  let server: TestServer;
  let url: string;
  let sdk: CairnClient;
  let dir: string;
  const remote = (...args: string[]) => runCairn(['--url', url, ...args]);

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    sdk = new CairnClient({ url });
    dir = tempDir('cairn-cli-tune-');
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates a command study from a file, runs it with 2 workers, shows its status, lists and cancels', async () => {
    const file = path.join(dir, 'study.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        metric: 'loss',
        space: { x: { type: 'int', low: -3, high: 3 }, y: { type: 'int', low: -3, high: 3 } },
        sampler: { type: 'random' },
        budget: { trials: 5 },
        target: { type: 'command', command: 'node -e "const p = JSON.parse(process.env.CAIRN_PARAMS); console.log(\'x\', p.x); console.log((p.x - 1) ** 2 + p.y ** 2)"' },
      }),
    );
    const created = await remote('tune', 'create', 'quad', '--file', file, '--trials', '6');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^study:\s+quad$/m);
    expect(created.stdout).toMatch(/^budget:\s+\{"trials":6\}$/m);
    expect(created.stderr).toContain('cairn tune run quad');

    const bad = await remote('tune', 'create', 'bad', '--file', file, '--command', '');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('target.command');
    expect((await remote('tune', 'create', 'x', '--file', path.join(dir, 'missing.json'))).code).toBe(2);

    const run = await remote('tune', 'run', 'quad', '--workers', '2');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^status:\s+completed \(budget\)$/m);
    expect(run.stdout).toMatch(/^trials:\s+6\/6 done/m);
    expect(run.stdout).toMatch(/^this process:\s+6 trials, stopped: budget$/m);

    const trials = await sdk.tuning.listTrials('quad');
    expect(trials).toHaveLength(6);
    expect(trials.every((t) => t.state === 'complete')).toBe(true);
    expect(new Set(trials.map((t) => canonicalKey(t.params))).size).toBe(6);
    for (const t of trials) expect(t.value).toBe((Number(t.params.x) - 1) ** 2 + Number(t.params.y) ** 2);
    const best = Math.min(...trials.map((t) => t.value!));

    const status = await remote('tune', 'status', 'quad');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^best value:\\s+${best} \\(trial \\d+\\)$`, 'm'));
    expect(status.stdout).toMatch(/^best params:\s+\{"x":-?\d,"y":-?\d\}$/m);
    expect(status.stdout).toMatch(/^elapsed:\s+\d+s$/m);
    const json = JSON.parse((await remote('--json', 'tune', 'status', 'quad')).stdout) as { done: number; best: { value: number } };
    expect(json).toMatchObject({ done: 6, best: { value: best } });

    await sdk.tuning.createStudy({ name: 'other', metric: 'loss', space: { x: { type: 'float', low: 0, high: 1 } }, budget: { trials: 3 } });
    const list = await remote('tune', 'list');
    expect(list.stdout.split('\n')[0]).toMatch(/^name\s+status\s+metric\s+sampler\s+target\s+created$/);
    expect(list.stdout).toMatch(/^other\s+running\s+min loss\s+tpe\s+function/m);
    expect(list.stdout).toMatch(/^quad\s+completed\s+min loss\s+random\s+command/m);

    // A function study cannot run from the CLI; an unknown one is a caller's mistake.
    const fn = await remote('tune', 'worker', 'other');
    expect(fn.code).toBe(2);
    expect(fn.stderr).toContain('runStudy()');
    expect((await remote('tune', 'status', 'nope')).code).toBe(2);

    const cancelled = await remote('tune', 'cancel', 'other');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(/^status:\s+cancelled$/m);
  });
});
