/**
 * `cairn tune` as a user runs it: bin/cairn.js in a child process against a server in this
 * process. A command study is created from a file, run by two workers of `tune run` (each trial a
 * shell command printing its value), followed with `status`, listed and cancelled. Trainer
 * studies are run by `tune run --workers 2` and `tune worker` processes that meet only in the
 * database (SQLite, and PostgreSQL with a worker killed mid-trial).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/identity/index.js';
import { CairnClient } from '../../src/sdk/index.js';
import { canonicalKey, type CreateStudyInput } from '../../src/tuning/index.js';
import { tempDir } from '../support/backends.js';
import { CAIRN_BIN, runCairn, type CliRun } from '../support/cli.js';
import { startTestServer, startTestServerOn, type TestServer } from '../support/platform.js';
import { FLIGHT_FEATURES, createFlightDatasets } from '../support/tuning-datasets.js';

const tester: Actor = { user: 'tester', role: 'admin', tokenId: null };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** A gbdt study on the flights of createFlightDatasets. */
function trainerStudy(name: string, over: Partial<CreateStudyInput> = {}): CreateStudyInput {
  return {
    name,
    metric: 'valid_log_loss',
    direction: 'minimize',
    space: { max_leaves: { type: 'int', low: 2, high: 5 }, min_samples_leaf: { type: 'categorical', choices: [5, 10] } },
    fixedParams: { n_trees: 10 },
    target: { type: 'trainer', trainer: 'gbdt', dataset: 'flights_a@1', validation: { dataset: 'flights_b@1' }, label: 'delayed', features: FLIGHT_FEATURES },
    sampler: { type: 'tpe', nStartupTrials: 3 },
    pruner: { type: 'median', nStartupTrials: 2 },
    ...over,
  };
}

/** `this process: N trials, stopped: R` of a worker's summary. */
function processLine(run: CliRun): { trials: number; reason: string } {
  const m = /^this process:\s+(\d+) trials, stopped: (\w+)$/m.exec(run.stdout);
  if (!m) throw new Error(`no summary in:\n${run.stdout}\n${run.stderr}`);
  return { trials: Number(m[1]), reason: m[2]! };
}

describe('cairn tune on a trainer study (SQLite)', () => {
  let server: TestServer;
  let url: string;
  // A worker's configuration: the server's CAIRN_HOME (its SQLite file and artifacts), no server URL.
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    env = { CAIRN_HOME: server.home, CAIRN_LOCAL_USER: 'tester' };
    await createFlightDatasets(server, { days: 15 });
  });
  afterAll(async () => server?.close());

  it('runs trials with `tune run --workers 2`, then `tune worker` after a resume, with no server', async () => {
    const file = path.join(server.home, 'gbdt-study.json');
    const { name: _n, ...spec } = trainerStudy('gbdt');
    fs.writeFileSync(file, JSON.stringify(spec));
    const created = await runCairn(['--url', url, 'tune', 'create', 'gbdt', '--file', file, '--trials', '4']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toContain('cairn tune run gbdt --workers 4 (with the server’s CAIRN_DATABASE_URL and CAIRN_HOME)');

    const run = await runCairn(['tune', 'run', 'gbdt', '--workers', '2'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^status:\s+completed \(budget\)$/m);
    expect(run.stdout).toMatch(/^trials:\s+4\/4 done \(0 running, \d complete, \d pruned, 0 failed\)$/m);
    expect(run.stdout).toMatch(/^best value:\s+0\.\d+ \(trial \d\)$/m);
    expect(run.stdout).toMatch(/^best params:\s+\{"max_leaves":\d,"min_samples_leaf":(5|10)\}$/m);
    expect(processLine(run)).toEqual({ trials: 4, reason: 'budget' });

    const { tuning, tracking } = server.platform;
    const study = await tuning.getStudy('gbdt');
    const trials = await tuning.listTrials('gbdt');
    expect(trials).toHaveLength(4);
    expect(new Set(trials.map((t) => canonicalKey(t.params))).size).toBe(4);
    // Two loops of one process: worker ids <prefix>-0 and <prefix>-1.
    expect(new Set(trials.map((t) => t.worker.slice(-2))).size).toBe(2);
    for (const t of trials) {
      const r = await tracking.getRun(t.runId!);
      expect(r).toMatchObject({ parentRunId: study.runId, author: 'tester', params: { trainer: 'gbdt', n_trees: '10', max_leaves: String(t.params.max_leaves) } });
      if (t.state === 'complete') expect(t.value).toBe(r.metrics.valid_log_loss!.value);
    }

    // A trainer study's worker must see the server's database: a worker configured elsewhere is told so.
    const elsewhere = await runCairn(['--url', url, 'tune', 'worker', 'gbdt'], { CAIRN_HOME: tempDir('cairn-elsewhere-') });
    expect(elsewhere.code).toBe(78);
    expect(elsewhere.stderr).toContain("its workers need the server's CAIRN_DATABASE_URL and CAIRN_HOME");

    expect((await runCairn(['--url', url, 'tune', 'resume', 'gbdt', '--trials', '6'])).code).toBe(0);
    const worker = await runCairn(['--url', url, 'tune', 'worker', 'gbdt'], env);
    expect(worker.code, worker.stderr).toBe(0);
    expect(processLine(worker)).toEqual({ trials: 2, reason: 'budget' });
    expect(worker.stdout).toMatch(/^trials:\s+6\/6 done/m);
    const all = await tuning.listTrials('gbdt');
    expect(new Set(all.map((t) => canonicalKey(t.params))).size).toBe(6);
    expect(new Set(all.map((t) => t.worker.replace(/-\d$/, ''))).size).toBe(2);

    // A TypeScript-function study runs only in the program that holds the function.
    const fnFile = path.join(server.home, 'fn-study.json');
    fs.writeFileSync(fnFile, JSON.stringify({ metric: 'loss', space: { x: { type: 'int', low: 0, high: 3 } }, budget: { trials: 2 } }));
    expect((await runCairn(['--url', url, 'tune', 'create', 'fn', '--file', fnFile])).code).toBe(0);
    for (const run of [await runCairn(['tune', 'run', 'fn'], env), await runCairn(['--url', url, 'tune', 'worker', 'fn'], env)]) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('study fn evaluates a TypeScript function: run it with runStudy() in the SDK');
    }

    const unknown = await runCairn(['tune', 'worker', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('study nope not found');
  });

  it('Ctrl-C stops claiming and lets the running trials finish; a second Ctrl-C quits at once', async () => {
    const { tuning } = server.platform;
    const space = { max_leaves: { type: 'int' as const, low: 2, high: 31 }, min_samples_leaf: { type: 'int' as const, low: 2, high: 30 } };
    await tuning.createStudy(trainerStudy('ctrl-c', { space, budget: { trials: 200 }, fixedParams: { n_trees: 300 } }), tester);
    const start = () => {
      const child = spawn(CAIRN_BIN, ['tune', 'run', 'ctrl-c', '--workers', '2'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<CliRun>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
      return { child, closed };
    };
    const runningOf = async (pid: number) => (await tuning.listTrials('ctrl-c')).filter((t) => t.worker.includes(`-${pid}-`) && t.state === 'running' && t.runId !== null);

    const polite = start();
    while ((await runningOf(polite.child.pid!)).length === 0) await sleep(20);
    polite.child.kill('SIGINT');
    const stopped = await polite.closed;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toContain('stopping: no new trials, the running ones finish');
    expect(processLine(stopped).reason).toBe('aborted');
    const afterOne = await tuning.listTrials('ctrl-c');
    expect(afterOne.length).toBeLessThan(200);
    expect(afterOne.filter((t) => t.state === 'running')).toEqual([]);
    expect(afterOne.every((t) => t.state === 'complete' || t.state === 'pruned')).toBe(true);

    const impatient = start();
    while ((await runningOf(impatient.child.pid!)).length === 0) await sleep(20);
    impatient.child.kill('SIGINT');
    await sleep(50);
    impatient.child.kill('SIGINT');
    const quit = await impatient.closed;
    expect(quit.code).toBe(130);
    expect(quit.stderr).toContain('retried by another worker once their heartbeat lapses');
    // Left running for another worker to retry once its heartbeat lapses.
    expect((await runningOf(impatient.child.pid!)).length).toBeGreaterThan(0);
    await tuning.cancelStudy('ctrl-c', tester);
  });
});

describe('cairn tune worker processes on PostgreSQL', () => {
  let server: TestServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServerOn('postgres');
    env = { CAIRN_HOME: server.home, CAIRN_DATABASE_URL: server.platform.config.database.kind === 'postgres' ? server.platform.config.database.url : '', CAIRN_LOCAL_USER: 'tester' };
    await createFlightDatasets(server, { days: 15 });
  });
  afterAll(async () => server?.close());

  it('finish a study with zero duplicate combinations; a worker killed mid-trial has its trial failed and retried', async () => {
    // 8 of 12 combinations, so that racing claims collide; a lapsed heartbeat is noticed after 1 s.
    const space = { max_leaves: { type: 'int' as const, low: 2, high: 7 }, min_samples_leaf: { type: 'categorical' as const, choices: [5, 10] } };
    await server.platform.tuning.createStudy(trainerStudy('pg', { space, budget: { trials: 8 }, heartbeatTimeoutSeconds: 1, fixedParams: { n_trees: 200 } }), tester);
    const { tuning, tracking } = server.platform;

    // bin/cairn.js is node itself (tsx registered in-process), so SIGKILL kills the worker and its threads.
    const doomed = spawn(CAIRN_BIN, ['tune', 'worker', 'pg'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    let victim: Awaited<ReturnType<typeof tuning.listTrials>>[number] | undefined;
    while (!victim) {
      await sleep(20);
      victim = (await tuning.listTrials('pg')).find((t) => t.worker.includes(`-${doomed.pid}-`) && t.state === 'running' && t.runId !== null);
    }
    doomed.kill('SIGKILL');
    await new Promise((r) => doomed.once('close', r));
    await sleep(1100); // past the heartbeat timeout, so the next claim retries the trial

    const [a, b] = await Promise.all([runCairn(['tune', 'worker', 'pg'], env), runCairn(['tune', 'worker', 'pg'], env)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect([processLine(a).reason, processLine(b).reason]).toEqual(['budget', 'budget']);

    const trials = await tuning.listTrials('pg');
    const live = trials.filter((t) => t.retriedBy === null);
    expect(live).toHaveLength(8);
    expect(live.every((t) => t.state === 'complete' || t.state === 'pruned')).toBe(true);
    expect(new Set(live.map((t) => canonicalKey(t.params))).size).toBe(8);
    const doneHere = trials.filter((t) => t.worker.includes(`-${doomed.pid}-`) && t.state !== 'failed').length;
    expect(processLine(a).trials + processLine(b).trials + doneHere).toBe(8);

    const failed = trials.find((t) => t.id === victim!.id)!;
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/stopped sending heartbeats/);
    const retry = trials.find((t) => t.id === failed.retriedBy)!;
    expect(retry.params).toEqual(failed.params);
    expect(['complete', 'pruned']).toContain(retry.state);
    expect((await tracking.getRun(failed.runId!)).status).toBe('failed');
    expect((await tuning.progress('pg')).study).toMatchObject({ status: 'completed', stopReason: 'budget' });
  });
});
