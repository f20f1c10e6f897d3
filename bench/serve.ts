/**
 * The prediction service under load (`npm run bench -- serve`): `cairn serve` runs as a separate
 * process (one worker per CPU by default) on the flights model, and a load generator on the same
 * machine sends single-instance requests built from real February flights:
 *
 * 1. 1000 concurrent connections for 30 s (closed loop: each connection sends its next request
 *    when the last is answered);
 * 2. a steady 1,000 requests/s for 30 s, open loop: requests leave on a fixed schedule whatever
 *    the answers do, and latency counts from the scheduled time (no coordinated omission);
 * 3. a burst of 1000 requests sent at once on 1000 connections, each answer checked against
 *    onnxruntime run in this process on the same instance.
 *
 * Per scenario: requests, errors (non-2xx and socket errors), timeouts, throughput and latency
 * percentiles; then the server's peak memory (the VmHWM of each process, summed) and the share of
 * the predictions answered that reached the prediction log after the server was stopped.
 *
 * Settings: CAIRN_BENCH_SERVE_SECONDS (default 30), CAIRN_BENCH_SERVE_WORKERS (default: CPUs),
 * CAIRN_BENCH_SERVE_CONNECTIONS (default 1000), CAIRN_BENCH_SERVE_RATE (default 1000).
 * Run alone: `npx tsx bench/serve.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import { OnnxModelRunner } from '../src/ml/index.js';
import { openPlatform } from '../src/server/platform.js';
import { MODEL, ensureFlightsModel, februaryInstances } from './serve-model.js';

const BENCH_DIR = path.join(os.tmpdir(), 'cairn-bench');
const CAIRN_BIN = fileURLToPath(new URL('../bin/cairn.js', import.meta.url));

function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

interface Scenario {
  name: string;
  requests: number;
  ok: number;
  errors: number;
  timeouts: number;
  seconds: number;
  latencies: Float64Array;
  wrong: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

async function startServer(home: string, workers: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(CAIRN_BIN, ['serve', '--workers', String(workers), '--port', '0'], {
    env: { ...process.env, CAIRN_HOME: home, CAIRN_LOG_LEVEL: 'warn', CAIRN_SERVE_MODELS: MODEL },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`cairn serve did not start within 120 s:\n${stderr}`)), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cairn serve exited with ${code}:\n${stderr}`));
    });
  });
  return { child, url };
}

/** Peak resident memory of the server: the high-water mark of the primary and of each worker. */
function peakRssBytes(pid: number): number {
  const hwm = (p: number) => {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  };
  const children = fs
    .readdirSync(`/proc/${pid}/task`)
    .flatMap((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  return [pid, ...children].reduce((sum, p) => sum + hwm(p), 0);
}

const ID = /"id":"(pred_[0-9a-f]+)"/;

async function run(
  name: string,
  url: string,
  bodies: Buffer[],
  ids: string[],
  options: { connections: number; duration?: number; amount?: number; overallRate?: number },
  check?: (body: string, index: number) => boolean,
): Promise<Scenario> {
  const latencies: number[] = [];
  let next = 0;
  let wrong = 0;
  let ok = 0;
  const sentIndex = new WeakMap<object, number[]>();
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/v1/models/${MODEL}/predict`,
        connections: options.connections,
        pipelining: 1,
        timeout: 10,
        ...(options.duration !== undefined ? { duration: options.duration } : {}),
        ...(options.amount !== undefined ? { amount: options.amount } : {}),
        ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req: autocannon.Request, context: object) => {
              const i = next++ % bodies.length;
              let queue = sentIndex.get(context);
              if (!queue) sentIndex.set(context, (queue = []));
              queue.push(i);
              return { ...req, body: bodies[i] };
            },
            onResponse: (status: number, body: string, context: object) => {
              const i = sentIndex.get(context)?.shift() ?? -1;
              if (status !== 200) return;
              ok++;
              const m = ID.exec(body);
              if (m) ids.push(m[1]!);
              if (check && !check(body, i)) wrong++;
            },
          },
        ],
      } as unknown as autocannon.Options,
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => latencies.push(responseTime));
  });
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    name,
    // Answered requests; those still open when a timed run ends are not counted.
    requests: result.requests.total,
    ok,
    errors: result.errors + result.non2xx,
    timeouts: result.timeouts,
    seconds: options.duration ?? seconds,
    latencies: sorted,
    wrong,
  };
}

/**
 * Open loop: request k is due at k / rate seconds and is sent then (on a pool of keep-alive
 * connections) however long earlier answers take; its latency runs from that due time.
 */
async function openLoop(name: string, url: string, bodies: Buffer[], ids: string[], rate: number, seconds: number): Promise<Scenario> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(`${url}/v1/models/${MODEL}/predict`);
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let timeouts = 0;
  let sent = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let done = 0;
    const finish = () => {
      if (++done === total) resolve();
    };
    const send = (k: number) => {
      const due = start + (k * 1000) / rate;
      const body = bodies[k % bodies.length]!;
      const req = http.request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length }, timeout: 10_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            latencies.push(performance.now() - due);
            if (res.statusCode === 200) {
              ok++;
              const m = ID.exec(Buffer.concat(chunks).toString());
              if (m) ids.push(m[1]!);
            } else errors++;
            finish();
          });
        },
      );
      let timedOut = false;
      req.on('timeout', () => {
        timedOut = true;
        timeouts++;
        req.destroy(new Error('timeout'));
      });
      req.on('error', () => {
        if (!timedOut) errors++;
        finish();
      });
      req.end(body);
    };
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) send(sent++);
      if (sent >= total) clearInterval(timer);
    }, 1);
  });
  agent.destroy();
  return { name, requests: ok + errors, ok, errors, timeouts, seconds, latencies: Float64Array.from(latencies).sort(), wrong: 0 };
}

const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : 'n/a');

function print(rows: Scenario[]): void {
  console.log('\n| scenario | requests | ok | errors | timeouts | throughput /s | p50 ms | p95 ms | p99 ms | max ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const l = r.latencies;
    console.log(
      `| ${r.name} | ${r.requests} | ${r.ok} | ${r.errors} | ${r.timeouts} | ${Math.round(r.ok / r.seconds)} | ${ms(percentile(l, 0.5))} | ${ms(percentile(l, 0.95))} | ${ms(percentile(l, 0.99))} | ${ms(l[l.length - 1] ?? NaN)} |`,
    );
  }
}

/** How many of `ids` are in the prediction log, after the server has stopped (and flushed). */
async function countLogged(home: string, ids: string[]): Promise<number> {
  const platform = await openPlatform(loadConfig({ CAIRN_HOME: home, CAIRN_LOG_LEVEL: 'warn' }), createLogger('warn'), undefined, { recoverInterrupted: false });
  try {
    // A spool left by a worker that could not flush is replayed on open; wait for it.
    await platform.predictionLog.flush();
    let found = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = await platform.database.db.selectFrom('predictions').select('id').where('id', 'in', chunk).execute();
      found += rows.length;
    }
    return found;
  } finally {
    await platform.close();
  }
}

export async function benchServe(): Promise<Record<string, number>> {
  const seconds = setting('CAIRN_BENCH_SERVE_SECONDS', 30);
  const workers = setting('CAIRN_BENCH_SERVE_WORKERS', os.availableParallelism());
  const connections = setting('CAIRN_BENCH_SERVE_CONNECTIONS', 1000);
  const rate = setting('CAIRN_BENCH_SERVE_RATE', 1000);

  const model = await ensureFlightsModel(BENCH_DIR);
  console.log(`model ${MODEL} version ${model.version} (${model.trainedNow ? 'trained now' : 'reused'}) in ${model.home}`);
  const feb = await februaryInstances(BENCH_DIR, model.signature, 20_000);
  console.log(`${feb.instances.length} request bodies from ${feb.total} February flights (${feb.excluded} left out: an airport or distance outside the training data)`);
  const bodies = feb.instances.map((instance) => Buffer.from(JSON.stringify({ instance })));

  // The burst's answers are checked against onnxruntime on the same instances, in this process.
  const platform = await openPlatform(loadConfig({ CAIRN_HOME: model.home, CAIRN_LOG_LEVEL: 'warn' }), createLogger('warn'), undefined, { recoverInterrupted: false });
  let expected: Float64Array;
  try {
    const { stream } = await platform.registry.openArtifact(MODEL, model.version, 'model.onnx');
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const runner = await OnnxModelRunner.load(Buffer.concat(chunks));
    expected = await runner.run(feb.instances.slice(0, 1000) as unknown as Record<string, unknown>[]);
    await runner.close();
  } finally {
    await platform.close();
  }

  const { child, url } = await startServer(model.home, workers);
  console.log(`cairn serve: ${workers} workers at ${url}; load generator in this process (autocannon); ${seconds} s per timed scenario`);
  const ids: string[] = [];
  const rows: Scenario[] = [];
  let peak = 0;
  try {
    // Warm-up: JIT, connections, the first batches.
    await run('warm-up', url, bodies, [], { connections: 50, duration: 3 });
    rows.push(await run(`1. ${connections} connections, closed loop`, url, bodies, ids, { connections, duration: seconds }));
    rows.push(await openLoop(`2. open loop ${rate} req/s`, url, bodies, ids, rate, seconds));
    const burstBodies = bodies.slice(0, 1000);
    rows.push(
      await run('3. burst of 1000', url, burstBodies, ids, { connections: 1000, amount: 1000 }, (body, i) => {
        const value = (JSON.parse(body) as { predictions: { value: number }[] }).predictions[0]!.value;
        return i >= 0 && Math.abs(value - expected[i]!) < 1e-6;
      }),
    );
    peak = peakRssBytes(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  print(rows);
  const burst = rows[2]!;
  console.log(`\nburst: ${burst.ok - burst.wrong} of 1000 answered with onnxruntime's prediction for their instance`);
  console.log(`server peak memory (VmHWM, primary + ${workers} workers): ${(peak / 2 ** 20).toFixed(0)} MiB`);
  const logged = await countLogged(model.home, ids);
  console.log(`prediction log: ${logged} of ${ids.length} predictions answered are in the log (${((100 * logged) / Math.max(1, ids.length)).toFixed(2)} %)`);
  const figures: Record<string, number> = { peak_rss_mib: peak / 2 ** 20, logged_share: logged / Math.max(1, ids.length) };
  for (const [i, r] of rows.entries()) {
    figures[`s${i + 1}_throughput`] = r.ok / r.seconds;
    figures[`s${i + 1}_p95_ms`] = percentile(r.latencies, 0.95);
    figures[`s${i + 1}_p99_ms`] = percentile(r.latencies, 0.99);
  }
  return figures;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchServe();
