/**
 * External trainers: a command in any language runs as a tracked run. Cairn creates the run,
 * passes the parameters and the run id in the environment, tees the command's output to the
 * terminal and to the run's `logs/output.log`, and ends the run finished or failed with the exit
 * status, duration and last error line recorded.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CairnClient, Run } from '../sdk/index.js';

export interface ExternalRunInput {
  command: string;
  experiment: string;
  name?: string;
  params: Record<string, string | number | boolean>;
  tags: Record<string, string>;
  dataset?: { ref: string; contentHash: string; features: string[] };
}

export interface ExternalRunOutcome {
  run: Run;
  exitCode: number;
  seconds: number;
}

/** `learning_rate` → `CAIRN_PARAM_LEARNING_RATE`. */
function paramVariable(key: string): string {
  return `CAIRN_PARAM_${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Runs `input.command` through the shell as a tracked run. The command sees CAIRN_URL, CAIRN_TOKEN,
 * CAIRN_RUN_ID, CAIRN_EXPERIMENT, CAIRN_PARAMS (JSON) and one CAIRN_PARAM_<NAME> per parameter,
 * and logs metrics and uploads its model (e.g. model/model.onnx) through the REST API.
 */
export async function runExternal(
  client: CairnClient,
  input: ExternalRunInput,
  env: { url: string; token?: string },
  /** Where the command's stdout is echoed; stderr keeps stdout clean for --json. */
  echo: NodeJS.WritableStream = process.stdout,
): Promise<ExternalRunOutcome> {
  try {
    await client.experiments.get(input.experiment);
  } catch {
    await client.experiments.create({ name: input.experiment }).catch(() => {});
  }
  const run = await client.runs.create({
    experiment: input.experiment,
    ...(input.name ? { name: input.name } : {}),
    params: input.params,
    tags: { 'cairn.trainer': 'external', ...input.tags },
    source: { command: input.command, ...(process.env.CAIRN_CODE_VERSION ? { codeVersion: process.env.CAIRN_CODE_VERSION } : {}) },
    ...(input.dataset ? { inputs: { dataset: { ref: input.dataset.ref, contentHash: input.dataset.contentHash }, features: input.dataset.features } } : {}),
  });

  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-run-'));
  const logFile = path.join(logDir, 'output.log');
  const log = fs.createWriteStream(logFile);
  let lastErrorLine = '';
  const started = performance.now();
  const exitCode = await new Promise<number>((resolve) => {
    const child = spawn(input.command, {
      shell: true,
      stdio: ['inherit', 'pipe', 'pipe'],
      env: {
        ...process.env,
        CAIRN_URL: env.url,
        ...(env.token ? { CAIRN_TOKEN: env.token } : {}),
        CAIRN_RUN_ID: run.id,
        CAIRN_EXPERIMENT: input.experiment,
        CAIRN_PARAMS: JSON.stringify(input.params),
        ...Object.fromEntries(Object.entries(input.params).map(([k, v]) => [paramVariable(k), String(v)])),
      },
    });
    child.stdout.on('data', (d: Buffer) => {
      echo.write(d);
      log.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      log.write(d);
      const lines = d.toString().split('\n').filter((l) => l.trim() !== '');
      if (lines.length > 0) lastErrorLine = lines[lines.length - 1]!;
    });
    child.on('error', (err) => {
      lastErrorLine = err.message;
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
  });
  const seconds = (performance.now() - started) / 1000;
  await new Promise<void>((resolve) => log.end(resolve));

  try {
    await client.runs.uploadArtifact(run.id, logFile, 'logs/output.log');
    const current = await client.runs.get(run.id);
    if (current.status !== 'running') return { run: current, exitCode, seconds }; // the command ended its own run
    const tags = [{ key: 'cairn.exit_code', value: String(exitCode) }];
    if (exitCode !== 0) tags.push({ key: 'cairn.error', value: `command exited with code ${exitCode}${lastErrorLine ? `: ${lastErrorLine.slice(0, 1000)}` : ''}` });
    await client.runs.log(run.id, { metrics: [{ key: 'duration_seconds', value: seconds }], tags });
    const ended = await client.runs.end(run.id, { status: exitCode === 0 ? 'finished' : 'failed' });
    return { run: ended, exitCode, seconds };
  } finally {
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}
