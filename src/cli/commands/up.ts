import type { FastifyInstance } from 'fastify';
import type { Command } from 'commander';
import { assertSafeToListen, loadConfig, type CairnConfig } from '../../core/config.js';
import { CairnError } from '../../core/errors.js';
import type { Platform } from '../../server/index.js';
import { note, printError } from '../output.js';

const FORCE_EXIT_AFTER_MS = 15_000;

/** The URL a person types for a listening address (IPv6 in brackets). */
export function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Address-in-use and permission errors are a configuration problem with a clear fix. */
export function listenError(err: unknown, config: CairnConfig): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return err;
  const reason = code === 'EADDRINUSE' ? 'already in use' : code === 'EACCES' ? 'not permitted' : 'not an address of this machine';
  return new CairnError('INVALID_CONFIG', `cannot listen on ${config.host}:${config.port}: ${reason}; set CAIRN_HOST/CAIRN_PORT or --host/--port`, {
    errors: [{ path: code === 'EADDRNOTAVAIL' ? 'CAIRN_HOST' : 'CAIRN_PORT', reason }],
  });
}

/**
 * On SIGINT/SIGTERM: stop taking requests, finish running work, close the stores, exit 0. A
 * second signal, or 15 s without finishing, exits at once: an operator must always be able to stop it.
 */
export function closeOnSignals(app: FastifyInstance, platform: Platform): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      note(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    note(`${signal}: shutting down (finishing running work; send it again to quit at once)…`);
    setTimeout(() => {
      note(`shutdown did not finish within ${FORCE_EXIT_AFTER_MS / 1000} s: exiting`);
      process.exit(1);
    }, FORCE_EXIT_AFTER_MS).unref();
    void (async () => {
      await app.close();
      await platform.close();
    })().then(
      () => process.exit(0),
      (err: unknown) => process.exit(printError(err)),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** `cairn up`: the platform's server on CAIRN_HOST:CAIRN_PORT until stopped. */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start the Cairn server: the API, its docs and the background work')
    .option('--host <host>', 'address to listen on (overrides CAIRN_HOST)')
    .option('--port <port>', 'port to listen on (overrides CAIRN_PORT)')
    .action(async (o: { host?: string; port?: string }) => {
      const config = loadConfig({ ...process.env, ...(o.host ? { CAIRN_HOST: o.host } : {}), ...(o.port ? { CAIRN_PORT: o.port } : {}) });
      assertSafeToListen(config);
      // Loaded here, not at the top: the server stack is heavy and only `up` needs it.
      const [{ createLogger }, { openPlatform, buildApp }] = await Promise.all([
        import('../../core/logger.js'),
        import('../../server/index.js'),
      ]);
      const platform = await openPlatform(config, createLogger(config.logLevel));
      let app: FastifyInstance | undefined;
      try {
        app = await buildApp(platform);
        await app.listen({ host: config.host, port: config.port });
      } catch (err) {
        await app?.close().catch(() => {});
        await platform.close().catch(() => {});
        throw listenError(err, config);
      }
      closeOnSignals(app, platform);
      const address = app.server.address();
      const url = urlOf(config.host, typeof address === 'object' && address ? address.port : config.port);
      process.stdout.write(`Cairn is up at ${url}  (API ${url}/api/v1, docs ${url}/docs; Ctrl-C to stop)\n`);
    });
}
