/**
 * The embedded online store: one SQLite file of its own (not the metadata DB, so that bulk
 * materialization never contends with metadata writes), one WITHOUT ROWID table clustered on
 * (entity, entity_key, ref) so that reading a key's refs is one short index range.
 */
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { systemClock, type Clock } from '../core/clock.js';
import { CairnError } from '../core/errors.js';
import type { FeatureValue } from './model.js';
import { encodeEntityKey, normalizeEventTime, type EntityKey, type OnlineStore, type OnlineValue, type OnlineWriteRow } from './online-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS online_values (
  entity      TEXT NOT NULL,
  entity_key  TEXT NOT NULL,
  ref         TEXT NOT NULL,
  value_json  TEXT NOT NULL,
  event_time  TEXT NOT NULL,
  written_at  TEXT NOT NULL,
  PRIMARY KEY (entity, entity_key, ref)
) WITHOUT ROWID`;

// Event times are normalized to one ISO layout before they get here, so text comparison is time
// comparison. `>=` makes an equal event time overwrite (the contract's tie rule).
const UPSERT = `
INSERT INTO online_values (entity, entity_key, ref, value_json, event_time, written_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (entity, entity_key, ref) DO UPDATE SET
  value_json = excluded.value_json, event_time = excluded.event_time, written_at = excluded.written_at
WHERE excluded.event_time >= online_values.event_time`;

// One statement for any number of refs; deletion is rare (re-materialization), a scan of the
// entity's rows is fine.
const DELETE_REFS = `DELETE FROM online_values WHERE entity = ? AND ref IN (SELECT value FROM json_each(?))`;

/**
 * IN lists are padded up to a power of two (repeating the last item, which SQLite ignores) so that
 * only a handful of statement shapes exist and all of them stay prepared; the one-key read is the
 * 1×N shape. Chunks stay far below SQLite's bound-parameter limit.
 */
const MAX_IN_LIST = 256;

/** A read row as an array (better-sqlite3's raw mode skips building one object per row). */
type StoredRow = [entityKey: string, ref: string, valueJson: string, eventTime: string];

export class SqliteOnlineStore implements OnlineStore {
  readonly kind = 'sqlite' as const;
  private readonly upsert: SQLite.Statement;
  private readonly deleteRefs: SQLite.Statement;
  private readonly readStatements = new Map<string, SQLite.Statement<unknown[], StoredRow>>();
  private readonly writeAll: (entity: string, rows: OnlineWriteRow[], writtenAt: string) => number;

  private constructor(
    private readonly db: SQLite.Database,
    private readonly clock: Clock,
  ) {
    this.upsert = db.prepare(UPSERT);
    this.deleteRefs = db.prepare(DELETE_REFS);
    // One transaction per call: atomic, and far faster than one implicit transaction per row.
    this.writeAll = db.transaction((entity: string, rows: OnlineWriteRow[], writtenAt: string) => {
      let written = 0;
      for (const row of rows) {
        const entityKey = encodeEntityKey(row.key);
        for (const [ref, { value, eventTime }] of Object.entries(row.values)) {
          written += this.upsert.run(entity, entityKey, ref, JSON.stringify(value), normalizeEventTime(eventTime), writtenAt).changes;
        }
      }
      return written;
    });
  }

  /**
   * Opens (creating if needed, with its parent folders) the online store file at `file`, in WAL
   * mode so that serving reads never wait for a materialization write. Throws UNAVAILABLE when the
   * file cannot be opened or initialized.
   */
  static open(file: string, opts: { clock?: Clock } = {}): SqliteOnlineStore {
    let db: SQLite.Database | undefined;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      db = new SQLite(file);
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode can lose the last commits on power loss but never corrupts; the online
      // store is rebuilt from the offline store by re-materialization anyway.
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      return new SqliteOnlineStore(db, opts.clock ?? systemClock);
    } catch (err) {
      db?.close();
      throw new CairnError('UNAVAILABLE', `cannot open the online store at ${file}: ${(err as Error).message}`, { path: file });
    }
  }

  async write(entity: string, rows: OnlineWriteRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    return this.writeAll(entity, rows, this.clock.now().toISOString());
  }

  async read(entity: string, keys: EntityKey[], refs: string[]): Promise<Array<Record<string, OnlineValue | null>>> {
    const encoded = keys.map(encodeEntityKey);
    const found = new Map<string, Map<string, OnlineValue>>();
    if (refs.length > 0) {
      const uniqueKeys = [...new Set(encoded)];
      const uniqueRefs = [...new Set(refs)];
      for (const keyChunk of chunks(uniqueKeys, MAX_IN_LIST)) {
        for (const refChunk of chunks(uniqueRefs, MAX_IN_LIST)) {
          const paddedKeys = padToPowerOfTwo(keyChunk);
          const paddedRefs = padToPowerOfTwo(refChunk);
          const rows = this.readStatement(paddedKeys.length, paddedRefs.length).all(entity, ...paddedKeys, ...paddedRefs);
          for (const [entityKey, ref, valueJson, eventTime] of rows) {
            let values = found.get(entityKey);
            if (!values) found.set(entityKey, (values = new Map()));
            values.set(ref, { value: JSON.parse(valueJson) as FeatureValue, eventTime });
          }
        }
      }
    }
    return encoded.map((key) => {
      const values = found.get(key);
      const record: Record<string, OnlineValue | null> = {};
      // A fresh object per record: duplicate keys in the request must not share mutable results.
      for (const ref of refs) {
        const value = values?.get(ref);
        record[ref] = value ? { ...value } : null;
      }
      return record;
    });
  }

  async deleteFeatures(entity: string, refs: string[]): Promise<number> {
    if (refs.length === 0) return 0;
    return this.deleteRefs.run(entity, JSON.stringify(refs)).changes;
  }

  async ping(): Promise<void> {
    try {
      this.db.prepare('SELECT 1').get();
    } catch (err) {
      throw new CairnError('UNAVAILABLE', `the online store at ${this.db.name} does not answer: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private readStatement(keyCount: number, refCount: number): SQLite.Statement<unknown[], StoredRow> {
    const shape = `${keyCount}x${refCount}`;
    let statement = this.readStatements.get(shape);
    if (!statement) {
      statement = this.db
        .prepare<unknown[], StoredRow>(
          `SELECT entity_key, ref, value_json, event_time FROM online_values
           WHERE entity = ? AND entity_key IN (${placeholders(keyCount)}) AND ref IN (${placeholders(refCount)})`,
        )
        .raw(true);
      this.readStatements.set(shape, statement);
    }
    return statement;
  }
}

function placeholders(count: number): string {
  return new Array<string>(count).fill('?').join(', ');
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Pads a non-empty list to the next power of two by repeating its last item. */
function padToPowerOfTwo<T>(items: T[]): T[] {
  let size = 1;
  while (size < items.length) size *= 2;
  const padded = items.slice();
  const last = items[items.length - 1] as T;
  while (padded.length < size) padded.push(last);
  return padded;
}
