/**
 * `cairn serve` as a user runs it: a separate process with two cluster workers sharing the port,
 * serving the Production model; SIGTERM stops it gracefully with every answered prediction in the
 * prediction log; bad options and settings exit with the documented codes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { openPlatform, type Platform } from '../../src/server/platform.js';
import { tempDir } from '../support/backends.js';
import { CAIRN_BIN, runCairn } from '../support/cli.js';
import { promote, seedFlights, trainVersion } from './helpers.js';

const FLIGHT = { dep_hour: 7, distance: 500, origin: 'ATL' };
const open = (home: string) => openPlatform(loadConfig({ CAIRN_HOME: home, CAIRN_LOCAL_USER: 'tester' }), createLogger('silent'), undefined, { recoverInterrupted: false });

describe('cairn serve', () => {
  let home: string;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    home = tempDir('cairn-serve-');
    const platform: Platform = await open(home);
    try {
      await seedFlights(platform, home);
      await promote(platform, 'delay', await trainVersion(platform, 'delay', 4));
    } finally {
      await platform.close();
    }
  }, 120_000);
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('serves on two workers and flushes the prediction log when stopped', async () => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
    child = spawn(CAIRN_BIN, ['serve', '--workers', '2', '--port', '0'], { env: { ...clean, CAIRN_HOME: home, CAIRN_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /at (http:\/\/\S+)\s+\(2 workers/.exec(out);
        if (m) resolve(m[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
    });

    const answers = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await fetch(`${url}/v1/models/delay/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instance: FLIGHT }) });
        return { status: res.status, body: (await res.json()) as { version: number; predictions: { id: string }[] } };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(new Set(answers.map((a) => a.body.version))).toEqual(new Set([1]));
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('cairn_predict_requests_total{model="delay",version="1"}');
    // Outcomes go to the same address as the predictions.
    const fed = await fetch(`${url}/v1/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ predictionId: answers[0]!.body.predictions[0]!.id, actual: 1 }) });
    expect(fed.status).toBe(200);
    expect(await fed.json()).toMatchObject({ recorded: 1, unknown: [] });
    // Only the prediction endpoints: the management API is `cairn up`'s.
    expect((await fetch(`${url}/api/v1/models`)).status).toBe(404);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const platform = await open(home);
    try {
      await platform.predictionLog.flush();
      for (const a of answers) expect((await platform.feedback.getPrediction(a.body.predictions[0]!.id)).version).toBe(1);
    } finally {
      await platform.close();
    }
  }, 120_000);

  it('refuses bad options and settings with the documented exit codes', async () => {
    const workers = await runCairn(['serve', '--workers', '0'], { CAIRN_HOME: home });
    expect(workers.code).toBe(2);
    expect(workers.stderr).toContain('--workers must be an integer from 1 to 256');
    const setting = await runCairn(['serve', '--workers', '1'], { CAIRN_HOME: home, CAIRN_SERVE_MAX_BATCH: 'lots' });
    expect(setting.code).toBe(78);
    expect(setting.stderr).toContain('CAIRN_SERVE_MAX_BATCH: expected an integer from 1 to 100000, got "lots"');
  }, 60_000);
});
