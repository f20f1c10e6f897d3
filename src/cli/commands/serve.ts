/**
 * `cairn serve`: the prediction endpoints alone, on every core. The primary process forks
 * `--workers` processes (node:cluster) that each load the models and accept connections on the
 * shared port; a worker that dies is replaced. SIGINT/SIGTERM stop every worker gracefully: open
 * requests are answered and the prediction log is flushed before they exit.
 *
 * The prediction log: workers only append their records to spool files and seal them twice a
 * second (`writer: 'spool-only'`); the primary, which serves nothing, is the one process that
 * writes them to the store (in a thread, see serving/log-writer.ts). With SQLite every writer takes the same write lock, and a worker
 * waiting for it (busy_timeout, synchronous driver) would hold every request queued behind it.
 * On a stop the workers seal their last file and exit, then the primary stores what is left.
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Command } from 'commander';
import { assertSafeToListen, loadConfig, type CairnConfig } from '../../core/config.js';
import { CairnError } from '../../core/errors.js';
import { loadServingConfig, predictionSpoolDir, startLogWriter } from '../../serving/index.js';
import type { Platform, PlatformOptions } from '../../server/index.js';
import { note } from '../output.js';
import { closeOnSignals, listenError, urlOf } from './up.js';

/** Enough for 1000 clients connecting at once (the kernel caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;
const STOP_WORKERS_AFTER_MS = 20_000;
/** How long a worker appends to one spool file before sealing it for the primary. */
const WORKER_SEAL_MS = 500;
/**
 * How often the primary looks for sealed files: shorter than the workers' interval, so that a
 * record reaches the store within PredictionLog.siblingDelayMs() of the worker (feedback waits that long).
 */
const PRIMARY_PASS_MS = 250;

interface ServeOptions {
  host?: string;
  port?: string;
  workers?: string;
  models?: string;
}

type WorkerMessage = { type: 'listening'; port: number };

function parseWorkers(text: string | undefined): number {
  if (text === undefined) return os.availableParallelism();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new CairnError('VALIDATION_FAILED', `--workers must be an integer from 1 to 256, got ${JSON.stringify(text)}`, { errors: [{ path: 'workers', reason: 'expected an integer from 1 to 256' }] });
  }
  return n;
}

function envFor(o: ServeOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...(o.host ? { CAIRN_HOST: o.host } : {}),
    ...(o.port ? { CAIRN_PORT: o.port } : {}),
    ...(o.models ? { CAIRN_SERVE_MODELS: o.models } : {}),
  };
}

/** One serving process: loads the models and listens. */
async function runServer(config: CairnConfig, env: NodeJS.ProcessEnv, predictionLog?: PlatformOptions['predictionLog']): Promise<{ app: FastifyInstance; platform: Platform }> {
  const serving = loadServingConfig(env);
  const [{ createLogger }, { openPlatform, buildServingApp }] = await Promise.all([import('../../core/logger.js'), import('../../server/index.js')]);
  const platform = await openPlatform(config, createLogger(config.logLevel), undefined, { serving, recoverInterrupted: false, ...(predictionLog ? { predictionLog } : {}) });
  let app: FastifyInstance | undefined;
  try {
    app = await buildServingApp(platform);
    await app.listen({ host: config.host, port: config.port, backlog: LISTEN_BACKLOG });
  } catch (err) {
    await app?.close().catch(() => {});
    await platform.close().catch(() => {});
    throw listenError(err, config);
  }
  return { app, platform };
}

/**
 * A worker stops on SIGTERM from the primary. It ignores SIGINT: Ctrl-C reaches the whole process
 * group, and the primary turns it into one SIGTERM per worker (a second signal would cut the
 * graceful stop short).
 */
function stopWorkerOnSigterm(app: FastifyInstance, platform: Platform): void {
  process.on('SIGINT', () => {});
  process.once('SIGTERM', () => {
    void (async () => {
      await app.close();
      await platform.close();
    })().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

function portOf(app: FastifyInstance, fallback: number): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : fallback;
}

/** The primary of a cluster: writes the prediction log, forks, replaces dead workers, stops them all on a signal. */
async function runPrimary(config: CairnConfig, workers: number, models: string[] | null): Promise<void> {
  const logWriter = await startLogWriter({ database: config.database, spoolDir: predictionSpoolDir(config.home), flushIntervalMs: PRIMARY_PASS_MS, logLevel: config.logLevel }, note);
  let stopping = false;
  let finishing = false;
  let stopTimer: NodeJS.Timeout | undefined;
  // Once every worker has sealed its last file and exited: store what is left, then exit. The
  // workers' deadline no longer applies: a store that fails leaves the files for the next start.
  const finish = () => {
    if (finishing) return;
    finishing = true;
    clearTimeout(stopTimer);
    void logWriter.close().then(() => process.exit(0));
  };
  let listening = 0;
  const everListened = new WeakSet<Worker>();
  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (m: WorkerMessage) => {
      if (m?.type !== 'listening') return;
      everListened.add(worker);
      if (++listening === workers) {
        const url = urlOf(config.host, m.port);
        const what = models ? models.join(', ') : 'the Production version of every model';
        process.stdout.write(`Cairn is serving ${what} at ${url}  (${workers} workers; POST ${url}/v1/models/{name}/predict, OIP v2 at ${url}/v2; Ctrl-C to stop)\n`);
      }
    });
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) finish();
      return;
    }
    if (!everListened.has(worker)) {
      // It failed while starting (bad configuration, port taken…): starting more would fail the same way.
      // Spooled records stay on disk for the next start.
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exit(code ?? 1);
    }
    note(`worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another`);
    listening--;
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      note(`${signal} again: exiting now`);
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(130);
    }
    stopping = true;
    note(`${signal}: stopping ${workers} workers (answering open requests, flushing the prediction log)…`);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    stopTimer = setTimeout(() => {
      note(`workers did not stop within ${STOP_WORKERS_AFTER_MS / 1000} s: exiting`);
      process.exit(1);
    }, STOP_WORKERS_AFTER_MS).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) finish();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (let i = 0; i < workers; i++) fork();
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve predictions only (POST /v1/models/{name}/predict, OIP v2), on every core')
    .option('--host <host>', 'address to listen on (overrides CAIRN_HOST)')
    .option('--port <port>', 'port to listen on (overrides CAIRN_PORT)')
    .option('--workers <n>', 'processes sharing the port (default: the number of CPUs)')
    .option('--models <names>', 'comma-separated models to serve (overrides CAIRN_SERVE_MODELS; default every model with a Production version)')
    .action(async (o: ServeOptions) => {
      const env = envFor(o);
      const config = loadConfig(env);
      assertSafeToListen(config);
      const serving = loadServingConfig(env);
      if (cluster.isWorker) {
        const { app, platform } = await runServer(config, env, { writer: 'spool-only', flushIntervalMs: WORKER_SEAL_MS });
        stopWorkerOnSigterm(app, platform);
        process.send?.({ type: 'listening', port: portOf(app, config.port) } satisfies WorkerMessage);
        return;
      }
      const workers = parseWorkers(o.workers);
      if (workers === 1) {
        const { app, platform } = await runServer(config, env);
        closeOnSignals(app, platform);
        const url = urlOf(config.host, portOf(app, config.port));
        process.stdout.write(`Cairn is serving at ${url}  (1 worker; POST ${url}/v1/models/{name}/predict, OIP v2 at ${url}/v2; Ctrl-C to stop)\n`);
        return;
      }
      await runPrimary(config, workers, serving.models);
    });
}
