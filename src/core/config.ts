import os from 'node:os';
import path from 'node:path';
import { CairnError, type FieldError } from './errors.js';

/** Where the metadata lives: an embedded SQLite file, or a PostgreSQL server (scaled mode). */
export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export interface CairnConfig {
  home: string;
  database: DatabaseConfig;
  /** Redis for the online store (and later the job queue); null runs embedded. */
  redisUrl: string | null;
  host: string;
  port: number;
  auth: {
    /** When false every request acts as `localUser` with the admin role. */
    enabled: boolean;
    localUser: string;
    /** Allows auth off on a non-loopback address; refused otherwise. */
    allowInsecureBind: boolean;
  };
  /** Largest accepted request body, in bytes. */
  bodyLimitBytes: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The variables Cairn reads, with what each means; printed by `cairn config`. */
export const CONFIG_VARIABLES: Record<string, string> = {
  CAIRN_HOME: 'data directory (default ./.cairn)',
  CAIRN_DATABASE_URL: 'metadata store: sqlite:<path> or postgres://… (default sqlite:$CAIRN_HOME/cairn.db)',
  CAIRN_REDIS_URL: 'Redis for the online store, redis://… (default: none, SQLite online store)',
  CAIRN_HOST: 'address to listen on (default 127.0.0.1)',
  CAIRN_PORT: 'port to listen on (default 8080)',
  CAIRN_AUTH: 'on|off: require API tokens (default off)',
  CAIRN_LOCAL_USER: 'user that writes are attributed to when auth is off (default the OS user)',
  CAIRN_ALLOW_INSECURE_BIND: 'true to allow auth off on a non-loopback address (default false)',
  CAIRN_BODY_LIMIT_MB: 'largest request body in MiB (default 16)',
  CAIRN_LOG_LEVEL: 'fatal|error|warn|info|debug|trace|silent (default info)',
};

function parseBool(name: string, raw: string | undefined, fallback: boolean, errors: FieldError[]): boolean {
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  errors.push({ path: name, reason: `expected on/off or true/false, got ${JSON.stringify(raw)}` });
  return fallback;
}

function defaultLocalUser(): string {
  try {
    return os.userInfo().username || 'local';
  } catch {
    return 'local';
  }
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * Reads the configuration from environment variables. Every invalid variable is reported at once
 * in one INVALID_CONFIG error whose details name each variable and the reason, so start-up stops
 * with a message a person can act on.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): CairnConfig {
  const errors: FieldError[] = [];
  const home = path.resolve(cwd, env.CAIRN_HOME?.trim() || '.cairn');

  let database: DatabaseConfig = { kind: 'sqlite', path: path.join(home, 'cairn.db') };
  const dbUrl = env.CAIRN_DATABASE_URL?.trim();
  if (dbUrl) {
    if (/^postgres(ql)?:\/\//.test(dbUrl)) {
      try {
        new URL(dbUrl);
        database = { kind: 'postgres', url: dbUrl };
      } catch {
        errors.push({ path: 'CAIRN_DATABASE_URL', reason: 'not a valid URL' });
      }
    } else if (dbUrl.startsWith('sqlite:')) {
      const file = dbUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
      if (!file) errors.push({ path: 'CAIRN_DATABASE_URL', reason: 'sqlite: needs a file path, e.g. sqlite:./cairn.db' });
      else database = { kind: 'sqlite', path: path.resolve(cwd, file) };
    } else {
      errors.push({ path: 'CAIRN_DATABASE_URL', reason: 'expected sqlite:<path> or postgres://user@host:port/db' });
    }
  }

  let redisUrl: string | null = null;
  const redisRaw = env.CAIRN_REDIS_URL?.trim();
  if (redisRaw) {
    if (/^rediss?:\/\//.test(redisRaw)) redisUrl = redisRaw;
    else errors.push({ path: 'CAIRN_REDIS_URL', reason: 'expected redis://host:port[/db] or rediss://…' });
  }

  const host = env.CAIRN_HOST?.trim() || '127.0.0.1';
  let port = 8080;
  if (env.CAIRN_PORT !== undefined && env.CAIRN_PORT !== '') {
    port = Number(env.CAIRN_PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      errors.push({ path: 'CAIRN_PORT', reason: `expected an integer from 0 to 65535, got ${JSON.stringify(env.CAIRN_PORT)}` });
    }
  }

  const authEnabled = parseBool('CAIRN_AUTH', env.CAIRN_AUTH, false, errors);
  const allowInsecureBind = parseBool('CAIRN_ALLOW_INSECURE_BIND', env.CAIRN_ALLOW_INSECURE_BIND, false, errors);
  const localUser = env.CAIRN_LOCAL_USER?.trim() || defaultLocalUser();

  let bodyLimitBytes = 16 * 1024 * 1024;
  if (env.CAIRN_BODY_LIMIT_MB) {
    const mb = Number(env.CAIRN_BODY_LIMIT_MB);
    if (!Number.isFinite(mb) || mb <= 0) errors.push({ path: 'CAIRN_BODY_LIMIT_MB', reason: 'expected a positive number' });
    else bodyLimitBytes = Math.round(mb * 1024 * 1024);
  }

  const level = (env.CAIRN_LOG_LEVEL?.trim() || 'info') as CairnConfig['logLevel'];
  if (!LOG_LEVELS.includes(level)) {
    errors.push({ path: 'CAIRN_LOG_LEVEL', reason: `expected one of ${LOG_LEVELS.join(', ')}` });
  }

  if (errors.length > 0) {
    throw new CairnError(
      'INVALID_CONFIG',
      `invalid configuration: ${errors.map((e) => `${e.path}: ${e.reason}`).join('; ')}`,
      { errors },
    );
  }
  return {
    home,
    database,
    redisUrl,
    host,
    port,
    auth: { enabled: authEnabled, localUser, allowInsecureBind },
    bodyLimitBytes,
    logLevel: level,
  };
}

/**
 * Checks what can only be judged for a server about to listen: auth off on an address others can
 * reach would give everyone admin rights, so it is refused unless explicitly allowed.
 */
export function assertSafeToListen(config: CairnConfig): void {
  if (!config.auth.enabled && !isLoopback(config.host) && !config.auth.allowInsecureBind) {
    throw new CairnError(
      'INVALID_CONFIG',
      `refusing to listen on ${config.host} with auth off: set CAIRN_AUTH=on (and create a token with ` +
        '`cairn tokens create`), or set CAIRN_ALLOW_INSECURE_BIND=true to accept the risk',
      { errors: [{ path: 'CAIRN_HOST', reason: 'non-loopback address with CAIRN_AUTH=off' }] },
    );
  }
}

/** A URL with its password masked, for messages, logs and `cairn config`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
