import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { buildApp } from '../../src/server/app.js';
import { openPlatform, type Platform } from '../../src/server/platform.js';
import { createPostgresDatabase, tempDir } from './backends.js';

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

/** startTestServer on a metadata backend: PostgreSQL gets a fresh database, dropped on close. */
export async function startTestServerOn(backend: 'sqlite' | 'postgres', env: Record<string, string> = {}): Promise<TestServer> {
  if (backend === 'sqlite') return startTestServer(env);
  const db = await createPostgresDatabase();
  try {
    const s = await startTestServer({ ...env, CAIRN_DATABASE_URL: db.url });
    return {
      ...s,
      close: async () => {
        await s.close();
        await db.drop();
      },
    };
  } catch (err) {
    await db.drop();
    throw err;
  }
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** `call(method, url, payload)` on an in-process app under `prefix`: status and JSON (or text) body. */
export function apiCaller(app: () => FastifyInstance, prefix = '/api/v1') {
  return async (method: Method, url: string, payload?: unknown) => {
    const res = await app().inject({ method, url: prefix + url, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, body: res.headers['content-type']?.toString().includes('json') ? res.json() : res.body };
  };
}

/** The field paths of a 400 VALIDATION_FAILED body, in order. */
export const errorPaths = (body: { error: { details: { errors: { path: string }[] } } }): string[] => body.error.details.errors.map((e) => e.path);
