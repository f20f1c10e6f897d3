import type { OnlineStore } from './online-store.js';
import { RedisOnlineStore } from './redis-online-store.js';
import { SqliteOnlineStore } from './sqlite-online-store.js';

export interface OnlineStoreConfig {
  /** Redis URL (`CAIRN_REDIS_URL`); null runs the embedded SQLite store. */
  redisUrl: string | null;
  /** The SQLite online store file, used only when `redisUrl` is null. */
  sqlitePath: string;
  /** Key prefix on Redis; default `cairn:`. */
  redisPrefix?: string;
}

/**
 * Opens the online store the configuration asks for: Redis when `redisUrl` is set, else SQLite at
 * `sqlitePath`. Throws UNAVAILABLE when the chosen backend cannot be reached or opened; never falls
 * back to the other backend, since serving from a different store than materialization wrote to
 * would return stale or missing features.
 */
export async function openOnlineStore(opts: OnlineStoreConfig): Promise<OnlineStore> {
  if (opts.redisUrl) return RedisOnlineStore.connect(opts.redisUrl, { prefix: opts.redisPrefix });
  return SqliteOnlineStore.open(opts.sqlitePath);
}
