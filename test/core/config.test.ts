import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertSafeToListen, loadConfig } from '../../src/core/config.js';
import { CairnError, exitCodeFor, httpStatusFor } from '../../src/core/errors.js';

describe('loadConfig', () => {
  it('defaults to embedded mode under ./.cairn on loopback with auth off', () => {
    const c = loadConfig({}, '/srv/app');
    expect(c.home).toBe('/srv/app/.cairn');
    expect(c.database).toEqual({ kind: 'sqlite', path: '/srv/app/.cairn/cairn.db' });
    expect(c.redisUrl).toBeNull();
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8080, auth: { enabled: false, allowInsecureBind: false } });
  });

  it('reads PostgreSQL, Redis, auth and paths from the environment', () => {
    const c = loadConfig(
      {
        CAIRN_HOME: 'data',
        CAIRN_DATABASE_URL: 'postgres://root@127.0.0.1:5432/test',
        CAIRN_REDIS_URL: 'redis://127.0.0.1:6379/2',
        CAIRN_AUTH: 'on',
        CAIRN_PORT: '9000',
        CAIRN_LOCAL_USER: 'ada',
      },
      '/srv',
    );
    expect(c.home).toBe(path.resolve('/srv/data'));
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgres://root@127.0.0.1:5432/test' });
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379/2');
    expect(c.auth).toMatchObject({ enabled: true, localUser: 'ada' });
    expect(c.port).toBe(9000);
    expect(loadConfig({ CAIRN_DATABASE_URL: 'sqlite:meta.db' }, '/srv').database).toEqual({ kind: 'sqlite', path: '/srv/meta.db' });
  });

  it('reports every invalid variable by name at once', () => {
    let err: CairnError | undefined;
    try {
      loadConfig({ CAIRN_PORT: 'eighty', CAIRN_DATABASE_URL: 'mysql://x', CAIRN_AUTH: 'maybe', CAIRN_REDIS_URL: 'localhost:6379', CAIRN_LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e as CairnError;
    }
    expect(err?.code).toBe('INVALID_CONFIG');
    const paths = (err?.details.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(['CAIRN_DATABASE_URL', 'CAIRN_REDIS_URL', 'CAIRN_PORT', 'CAIRN_AUTH', 'CAIRN_LOG_LEVEL']);
    expect(err?.message).toContain('CAIRN_PORT: expected an integer');
  });

  it('refuses auth off on a non-loopback address unless explicitly allowed', () => {
    expect(() => assertSafeToListen(loadConfig({ CAIRN_HOST: '0.0.0.0' }))).toThrow(/refusing to listen on 0\.0\.0\.0 with auth off/);
    expect(() => assertSafeToListen(loadConfig({ CAIRN_HOST: '0.0.0.0', CAIRN_ALLOW_INSECURE_BIND: 'true' }))).not.toThrow();
    expect(() => assertSafeToListen(loadConfig({ CAIRN_HOST: '0.0.0.0', CAIRN_AUTH: 'on' }))).not.toThrow();
    expect(() => assertSafeToListen(loadConfig({ CAIRN_HOST: '127.0.0.1' }))).not.toThrow();
  });
});

describe('error codes', () => {
  it('map to HTTP statuses and exit codes from one table', () => {
    expect(httpStatusFor('VALIDATION_FAILED')).toBe(400);
    expect(httpStatusFor('FEATURE_NOT_FOUND')).toBe(404);
    expect(httpStatusFor('ALREADY_EXISTS')).toBe(409);
    expect(httpStatusFor('FORBIDDEN')).toBe(403);
    expect(httpStatusFor('SOMETHING_NEW')).toBe(500);
    expect(exitCodeFor('VALIDATION_FAILED')).toBe(2);
    expect(exitCodeFor('UNAVAILABLE')).toBe(1);
    expect(exitCodeFor('INVALID_CONFIG')).toBe(78);
  });

  it('serialize to the API error shape', () => {
    const e = CairnError.validation([{ path: 'instances[3].distance', reason: 'expected number, got "abc"' }]);
    expect(e.toJSON()).toEqual({
      error: {
        code: 'VALIDATION_FAILED',
        message: 'instances[3].distance: expected number, got "abc"',
        details: { errors: [{ path: 'instances[3].distance', reason: 'expected number, got "abc"' }] },
      },
    });
  });
});
