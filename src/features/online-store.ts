/**
 * The online feature store: the latest value of each feature version per entity key, read on the
 * serving hot path. Two backends share this interface and one contract suite
 * (test/contract/online-store.contract.ts): SQLite in embedded mode, Redis when scaled.
 */
import { CairnError } from '../core/errors.js';
import type { FeatureValue } from './model.js';

/** Join-key values in the entity's join-key order, e.g. `['ORD', 'LAX', 1234]`. */
export type EntityKey = (string | number)[];

/** One stored value and the event time it describes (ISO-8601 UTC). */
export interface OnlineValue {
  value: FeatureValue;
  eventTime: string;
}

/** The values of one entity key to write, by feature ref (`name@version`). */
export interface OnlineWriteRow {
  key: EntityKey;
  values: Record<string, OnlineValue>;
}

/**
 * What every backend guarantees:
 * - Values keep their JS type (number, string, boolean, null) exactly.
 * - Newer wins per (entity, key, ref): a write whose event time is earlier than the stored one is
 *   ignored; an equal event time overwrites (last write wins on ties, so a re-run of the same
 *   materialization is idempotent and a corrected re-run takes effect — Feast behaves the same).
 * - Event times are compared as instants, not as text, and come back normalized to
 *   `Date#toISOString()` form (UTC, millisecond precision); a time without a zone is read as UTC.
 * - Keys are compared by their encoded form (`encodeEntityKey`), so `1` and `'1'` are different keys.
 */
export interface OnlineStore {
  readonly kind: 'sqlite' | 'redis';
  /**
   * Writes the rows' values, keeping a stored value whose event time is later than the incoming one.
   * Returns how many values were actually written (ignored older values are not counted).
   * Throws BAD_REQUEST for an unparsable event time or a non-finite key number; UNAVAILABLE when
   * the backend cannot be reached.
   */
  write(entity: string, rows: OnlineWriteRow[]): Promise<number>;
  /**
   * One record per requested key, in the same order (duplicates included); every requested ref is
   * present in each record, null when no value is stored. Throws UNAVAILABLE when the backend
   * cannot be reached.
   */
  read(entity: string, keys: EntityKey[], refs: string[]): Promise<Array<Record<string, OnlineValue | null>>>;
  /**
   * Removes every value of the given refs for that entity, for re-materialization from scratch.
   * Returns how many values were removed. Throws UNAVAILABLE when the backend cannot be reached.
   */
  deleteFeatures(entity: string, refs: string[]): Promise<number>;
  /** Health probe for /readyz; throws UNAVAILABLE when the backend cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The stable text form of an entity key that both backends store: a JSON array, so `['a', 1]` and
 * `['a', '1']` encode differently. Throws BAD_REQUEST for NaN or ±Infinity, which JSON would turn
 * into `null` and so silently merge with other keys.
 */
export function encodeEntityKey(key: EntityKey): string {
  for (const part of key) {
    if (typeof part === 'number' && !Number.isFinite(part)) {
      throw new CairnError('BAD_REQUEST', `entity key ${String(key)} has a non-finite number: ${part}`);
    }
  }
  return JSON.stringify(key);
}

// A date-time with a time part but no zone designator would be parsed as local time by Date.
const NEEDS_UTC_SUFFIX = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * Normalizes an ISO-8601 time to `Date#toISOString()` form so that both backends can compare event
 * times as plain strings (same length, same layout ⇒ text order is time order). A time without a
 * zone is taken as UTC. Precision is milliseconds: finer digits are dropped. Throws BAD_REQUEST
 * when the text is not a time.
 */
export function normalizeEventTime(time: string): string {
  const date = new Date(NEEDS_UTC_SUFFIX.test(time) ? `${time}Z` : time);
  if (Number.isNaN(date.getTime())) {
    throw new CairnError('BAD_REQUEST', `event time ${JSON.stringify(time)} is not an ISO-8601 time`);
  }
  return date.toISOString();
}
