import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { buildApp } from '../../src/server/app.js';
import { openPlatform, type Platform } from '../../src/server/platform.js';
import { tempDir } from './backends.js';

export interface TestServer {
  platform: Platform;
  app: FastifyInstance;
  home: string;
  close(): Promise<void>;
}

/**
 * A whole Cairn server in this process, the way `cairn up` wires it, on a fresh CAIRN_HOME.
 * `env` adds configuration (CAIRN_DATABASE_URL for PostgreSQL, CAIRN_AUTH, ...).
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const home = tempDir('cairn-home-');
  const config = loadConfig({ CAIRN_HOME: home, CAIRN_LOCAL_USER: 'tester', CAIRN_LOG_LEVEL: 'silent', ...env });
  const platform = await openPlatform(config, createLogger('silent'));
  const app = await buildApp(platform, { logger: false });
  await app.ready();
  return {
    platform,
    app,
    home,
    close: async () => {
      await app.close();
      await platform.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
