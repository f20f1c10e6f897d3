/**
 * The scaled online store on Redis. Layout, readable by any Redis client:
 *   key   `${prefix}online:${entity}:${encodeEntityKey(key)}`  — one hash per (entity, key)
 *   field feature ref (`name@version`)
 *   value compact JSON `{"v": value, "t": eventTime}`
 * so that a serving read of one key is a single HMGET, and many keys one pipeline of them.
 */
import { Redis, type ChainableCommander, type Result } from 'ioredis';
import { CairnError } from '../core/errors.js';
import { redactUrl } from '../core/config.js';
import type { FeatureValue } from './model.js';
import { encodeEntityKey, normalizeEventTime, type EntityKey, type OnlineStore, type OnlineValue, type OnlineWriteRow } from './online-store.js';

/**
 * Newer-wins write of one hash, atomic on the server so that two concurrent materializations can
 * never let an older value overwrite a newer one. ARGV holds triples (ref, stored JSON, event
 * time). Event times are normalized to one ISO layout, so string comparison is time comparison;
 * `<=` makes an equal time overwrite (the contract's tie rule). Returns how many fields it wrote.
 */
const NEWER_WINS_LUA = `
local written = 0
for i = 1, #ARGV, 3 do
  local stored = redis.call('HGET', KEYS[1], ARGV[i])
  if (not stored) or (cjson.decode(stored).t <= ARGV[i + 2]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    written = written + 1
  end
end
return written`;

const WRITE_COMMAND = 'cairnOnlineWrite';

/** The script as ioredis exposes it once defined (EVALSHA, falling back to EVAL on NOSCRIPT). */
type WithWriteCommand<Context extends { type: 'default' | 'pipeline' }> = {
  [WRITE_COMMAND](key: string, ...args: string[]): Result<number, Context>;
};

/** Keys per pipeline: bounds client memory and keeps each batch well inside the command timeout. */
const PIPELINE_CHUNK = 1000;

export interface RedisOnlineStoreOptions {
  /** Prefix of every key, so that several Cairn installs (or test runs) can share one Redis. */
  prefix?: string;
  /** How long to wait for the connection; default 3000 ms. */
  connectTimeoutMs?: number;
  /** How long one command may take before it fails, so a hung Redis cannot hang serving; default 5000 ms. */
  commandTimeoutMs?: number;
}

interface StoredJson {
  v: FeatureValue;
  t: string;
}

export class RedisOnlineStore implements OnlineStore {
  readonly kind = 'redis' as const;

  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** The URL with its password masked, for messages. */
    private readonly where: string,
  ) {}

  /**
   * Connects to Redis at `url` (redis:// or rediss://) and checks that it answers. Throws
   * UNAVAILABLE (naming the URL without its password) when it cannot connect within the timeout.
   * A dead Redis later makes each call fail fast with UNAVAILABLE instead of hanging.
   */
  static async connect(url: string, opts: RedisOnlineStoreOptions = {}): Promise<RedisOnlineStore> {
    const where = redactUrl(url);
    const connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: connectTimeoutMs,
      commandTimeout: opts.commandTimeoutMs ?? 5000,
      // Fail a command after one reconnect attempt instead of queueing it for ~20 attempts.
      maxRetriesPerRequest: 1,
    });
    // ioredis reports the cause (ECONNREFUSED, ETIMEDOUT, auth…) only as an 'error' event; connect()
    // itself rejects with a bare "Connection is closed". Keep the last one for our messages, and
    // always listen so that ioredis does not print unhandled-error warnings while reconnecting.
    let lastError: Error | undefined;
    redis.on('error', (err: Error) => {
      lastError = err;
    });
    try {
      // ioredis's connectTimeout covers only the TCP handshake; a server that accepts but never
      // answers (stopped, overloaded) would keep its ready check waiting, so bound the whole thing.
      await withTimeout(
        redis.connect().then(() => redis.ping()),
        connectTimeoutMs,
        `no answer within ${connectTimeoutMs} ms`,
      );
    } catch (err) {
      redis.disconnect();
      const cause = (err instanceof TimeoutError ? err : (lastError ?? (err as Error))).message;
      throw new CairnError('UNAVAILABLE', `cannot connect to Redis at ${where}: ${cause}`, { url: where });
    }
    redis.defineCommand(WRITE_COMMAND, { numberOfKeys: 1, lua: NEWER_WINS_LUA });
    return new RedisOnlineStore(redis, opts.prefix ?? 'cairn:', where);
  }

  async write(entity: string, rows: OnlineWriteRow[]): Promise<number> {
    // Encode everything before sending anything, so that a bad key or time changes nothing.
    const commands: Array<[hashKey: string, args: string[]]> = [];
    for (const row of rows) {
      const args: string[] = [];
      for (const [ref, { value, eventTime }] of Object.entries(row.values)) {
        const t = normalizeEventTime(eventTime);
        args.push(ref, JSON.stringify({ v: value, t } satisfies StoredJson), t);
      }
      if (args.length > 0) commands.push([this.hashKey(entity, row.key), args]);
    }
    let written = 0;
    for (const chunk of chunks(commands, PIPELINE_CHUNK)) {
      const pipeline = this.redis.pipeline() as ChainableCommander & WithWriteCommand<{ type: 'pipeline' }>;
      for (const [hashKey, args] of chunk) pipeline[WRITE_COMMAND](hashKey, ...args);
      for (const count of await this.exec(pipeline, 'writing features')) written += count as number;
    }
    return written;
  }

  async read(entity: string, keys: EntityKey[], refs: string[]): Promise<Array<Record<string, OnlineValue | null>>> {
    if (keys.length === 0) return [];
    if (refs.length === 0) return keys.map(() => ({}));
    let replies: Array<Array<string | null>>;
    if (keys.length === 1) {
      // The common serving case: one round trip without pipeline bookkeeping.
      const key = this.hashKey(entity, keys[0] as EntityKey);
      replies = [await this.call('reading features', () => this.redis.hmget(key, ...refs))];
    } else {
      // All chunks are sent at once; they share the connection, so this is one long pipeline.
      const batches = await Promise.all(
        [...chunks(keys, PIPELINE_CHUNK)].map((chunk) => {
          const pipeline = this.redis.pipeline();
          for (const key of chunk) pipeline.hmget(this.hashKey(entity, key), ...refs);
          return this.exec(pipeline, 'reading features');
        }),
      );
      replies = batches.flat() as Array<Array<string | null>>;
    }
    return replies.map((fields) => {
      const record: Record<string, OnlineValue | null> = {};
      refs.forEach((ref, i) => {
        const stored = fields[i];
        if (stored == null) {
          record[ref] = null;
        } else {
          const { v, t } = JSON.parse(stored) as StoredJson;
          record[ref] = { value: v, eventTime: t };
        }
      });
      return record;
    });
  }

  async deleteFeatures(entity: string, refs: string[]): Promise<number> {
    if (refs.length === 0) return 0;
    // SCAN, never KEYS: KEYS blocks the server for the whole keyspace. Entity names may contain ':',
    // so the pattern for entity `a` also matches keys of an entity `a:[x`; keeping only keys whose
    // rest is a canonical encoded key filters those out exactly.
    const entityPrefix = `${this.prefix}online:${entity}:`;
    const match = `${escapeGlob(entityPrefix)}\\[*`; // every encoded key starts with '['
    let removed = 0;
    await this.call('deleting features', async () => {
      const stream = this.redis.scanStream({ match, count: 1000 });
      for await (const batch of stream as AsyncIterable<string[]>) {
        const own = batch.filter((key) => isEncodedEntityKey(key.slice(entityPrefix.length)));
        if (own.length === 0) continue;
        const pipeline = this.redis.pipeline();
        for (const key of own) pipeline.hdel(key, ...refs);
        // SCAN may return a key twice; the second HDEL then removes 0 fields, so the count holds.
        for (const count of await this.exec(pipeline, 'deleting features')) removed += count as number;
      }
    });
    return removed;
  }

  async ping(): Promise<void> {
    await this.call('answering a ping', () => this.redis.ping());
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      // Already gone or unreachable: drop the socket and stop reconnecting.
      this.redis.disconnect();
    }
  }

  private hashKey(entity: string, key: EntityKey): string {
    return `${this.prefix}online:${entity}:${encodeEntityKey(key)}`;
  }

  /** Runs one pipeline; the first failed command fails the call. */
  private async exec(pipeline: ChainableCommander, what: string): Promise<unknown[]> {
    const results = await this.call(what, () => pipeline.exec());
    if (!results) throw this.toCairnError(what, new Error('the pipeline was discarded'));
    return results.map(([err, result]) => {
      if (err) throw this.toCairnError(what, err);
      return result;
    });
  }

  private async call<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw this.toCairnError(what, err as Error);
    }
  }

  /** A Redis reply error is a bug or a misconfigured server; anything else means it is unreachable. */
  private toCairnError(what: string, err: Error): CairnError {
    if (err instanceof CairnError) return err;
    if (err.name === 'ReplyError') {
      return new CairnError('INTERNAL', `Redis at ${this.where} refused ${what}: ${err.message}`, { url: this.where });
    }
    return new CairnError('UNAVAILABLE', `Redis at ${this.where} is unavailable (${what}): ${err.message}`, { url: this.where });
  }
}

class TimeoutError extends Error {}

/** Rejects with a TimeoutError when `promise` has not settled within `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  promise.catch(() => {}); // the loser of the race must not become an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** True when `text` is exactly what `encodeEntityKey` produces for some key. */
function isEncodedEntityKey(text: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  return (
    Array.isArray(parsed) &&
    parsed.every((part) => typeof part === 'string' || typeof part === 'number') &&
    JSON.stringify(parsed) === text
  );
}

/** Escapes Redis glob metacharacters so that a name matches only itself in SCAN MATCH. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
