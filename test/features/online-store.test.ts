/**
 * The online store contract on both backends, plus what only one backend has. Redis is required:
 * when it cannot be reached the Redis suite fails (CI must not pass by skipping), unless
 * CAIRN_TEST_SKIP_REDIS=1.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { openOnlineStore } from '../../src/features/open-online-store.js';
import { encodeEntityKey } from '../../src/features/online-store.js';
import { RedisOnlineStore } from '../../src/features/redis-online-store.js';
import { SqliteOnlineStore } from '../../src/features/sqlite-online-store.js';
import { describeOnlineStoreContract } from '../contract/online-store.contract.js';
import { REDIS_TEST_URL, tempDir } from '../support/backends.js';

const SKIP_REDIS = process.env.CAIRN_TEST_SKIP_REDIS === '1';
const describeRedis = SKIP_REDIS ? describe.skip : describe;

/** A key prefix no other test run uses, so runs sharing one Redis never see each other's keys. */
const uniquePrefix = () => `cairn-test-${randomBytes(6).toString('hex')}:`;

/** Deletes every key under `prefix` (SCAN + UNLINK, never KEYS). */
async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_TEST_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // connect() below rejects with it
  try {
    await redis.connect();
    const stream = redis.scanStream({ match: `${prefix}*`, count: 1000 });
    for await (const keys of stream as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

describe('encodeEntityKey', () => {
  it('is a JSON array that tells numbers from their text', () => {
    expect(encodeEntityKey(['a', 1])).toBe('["a",1]');
    expect(encodeEntityKey([1])).not.toBe(encodeEntityKey(['1']));
    expect(encodeEntityKey(['Zürich'])).toBe('["Zürich"]');
  });

  it('rejects non-finite numbers, which JSON would turn into null', () => {
    expect(() => encodeEntityKey([Number.NaN])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => encodeEntityKey(['a', Infinity])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});

{
  let dir: string;
  describeOnlineStoreContract(
    'sqlite',
    async () => {
      dir = tempDir('cairn-online-');
      return SqliteOnlineStore.open(path.join(dir, 'online.db'));
    },
    async () => fs.rmSync(dir, { recursive: true, force: true }),
  );
}

if (!SKIP_REDIS) {
  const prefix = uniquePrefix();
  describeOnlineStoreContract(
    'redis',
    () => RedisOnlineStore.connect(REDIS_TEST_URL, { prefix }),
    () => deleteRedisKeys(prefix),
  );
}

describe('SqliteOnlineStore', () => {
  const dir = tempDir('cairn-online-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps its values in its own WAL-mode file across reopen', async () => {
    const file = path.join(dir, 'nested', 'online.db');
    const first = SqliteOnlineStore.open(file);
    await first.write('airport', [{ key: ['ORD'], values: { 'delay@1': { value: 12.5, eventTime: '2001-01-01T00:00:00.000Z' } } }]);
    await first.close();

    expect(fs.readFileSync(file).subarray(0, 16).toString()).toBe('SQLite format 3\0');
    // The WAL flag lives in the header (bytes 18 and 19 are 2 in WAL mode).
    expect([...fs.readFileSync(file).subarray(18, 20)]).toStrictEqual([2, 2]);

    const second = SqliteOnlineStore.open(file);
    expect(await second.read('airport', [['ORD']], ['delay@1'])).toStrictEqual([
      { 'delay@1': { value: 12.5, eventTime: '2001-01-01T00:00:00.000Z' } },
    ]);
    await second.close();
  });

  it('reports a file it cannot open as UNAVAILABLE, naming the path', () => {
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, 'not a folder');
    const file = path.join(blocker, 'online.db');
    expect(() => SqliteOnlineStore.open(file)).toThrow(
      expect.objectContaining({ code: 'UNAVAILABLE', message: expect.stringContaining(file) }),
    );
  });

  it('reads many keys across several IN-list chunks and refs of every padded size', async () => {
    const store = SqliteOnlineStore.open(path.join(dir, 'chunks.db'));
    const refs = Array.from({ length: 5 }, (_, i) => `f${i}@1`);
    const rows = Array.from({ length: 700 }, (_, i) => ({
      key: [i],
      values: Object.fromEntries(refs.map((ref) => [ref, { value: i, eventTime: '2001-01-01T00:00:00.000Z' }])),
    }));
    expect(await store.write('flight', rows)).toBe(3500);
    for (let count = 1; count <= refs.length; count++) {
      const records = await store.read('flight', rows.map((r) => r.key), refs.slice(0, count));
      expect(records.every((record, i) => Object.values(record).every((v) => v?.value === i))).toBe(true);
      expect(Object.keys(records[0] ?? {})).toHaveLength(count);
    }
    await store.close();
  });
});

describeRedis('RedisOnlineStore', () => {
  const prefix = uniquePrefix();
  afterAll(() => deleteRedisKeys(prefix));

  it('stores one hash per entity key with compact {v, t} JSON per ref', async () => {
    const store = await RedisOnlineStore.connect(REDIS_TEST_URL, { prefix });
    await store.write('route', [{ key: ['ORD', 'LAX'], values: { 'delay@2': { value: 7, eventTime: '2001-01-01T00:00:00Z' } } }]);
    await store.close();

    const raw = new Redis(REDIS_TEST_URL);
    try {
      expect(await raw.hgetall(`${prefix}online:route:["ORD","LAX"]`)).toStrictEqual({
        'delay@2': '{"v":7,"t":"2001-01-01T00:00:00.000Z"}',
      });
    } finally {
      raw.disconnect();
    }
  });

  it('reports an unreachable Redis as UNAVAILABLE quickly, with the password masked', { timeout: 5000 }, async () => {
    const attempt = RedisOnlineStore.connect('redis://cairn:secret@127.0.0.1:1/0');
    await expect(attempt).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/^cannot connect to Redis at redis:\/\/cairn:\*\*\*@127\.0\.0\.1:1\/0: .*ECONNREFUSED/),
    });
    await expect(attempt).rejects.toMatchObject({ message: expect.not.stringContaining('secret') });
  });

  it('gives up on a Redis that accepts connections but never answers', { timeout: 5000 }, async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      await expect(RedisOnlineStore.connect(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 300 })).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: `cannot connect to Redis at redis://127.0.0.1:${port}: no answer within 300 ms`,
      });
    } finally {
      silent.close();
    }
  });

  it('fails calls fast with UNAVAILABLE once Redis goes away', { timeout: 5000 }, async () => {
    const proxy = await startTcpProxy(new URL(REDIS_TEST_URL));
    const store = await RedisOnlineStore.connect(REDIS_TEST_URL.replace(/\/\/([^/]*@)?[^/]+/, `//$1127.0.0.1:${proxy.port}`), { prefix });
    await store.ping();
    await proxy.stop();
    await expect(store.ping()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(store.read('route', [['ORD']], ['delay@1'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await store.close();
  });
});

/** A TCP forwarder to Redis that a test can pull the plug on (closing it refuses reconnects too). */
async function startTcpProxy(target: URL): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      // Either side closing closes the other, as a real connection loss would.
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

describe('openOnlineStore', () => {
  const dir = tempDir('cairn-online-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('opens SQLite when no Redis URL is configured', async () => {
    const store = await openOnlineStore({ redisUrl: null, sqlitePath: path.join(dir, 'online.db') });
    expect(store.kind).toBe('sqlite');
    await store.close();
    expect(fs.existsSync(path.join(dir, 'online.db'))).toBe(true);
  });

  it.skipIf(SKIP_REDIS)('opens Redis when a Redis URL is configured, with the given prefix', async () => {
    const prefix = uniquePrefix();
    const store = await openOnlineStore({ redisUrl: REDIS_TEST_URL, sqlitePath: path.join(dir, 'unused.db'), redisPrefix: prefix });
    try {
      expect(store.kind).toBe('redis');
      await store.write('e', [{ key: [1], values: { 'f@1': { value: true, eventTime: '2001-01-01T00:00:00Z' } } }]);
      const raw = new Redis(REDIS_TEST_URL);
      expect(await raw.exists(`${prefix}online:e:[1]`)).toBe(1);
      raw.disconnect();
    } finally {
      await store.close();
      await deleteRedisKeys(prefix);
    }
    expect(fs.existsSync(path.join(dir, 'unused.db'))).toBe(false);
  });
});
