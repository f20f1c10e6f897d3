/**
 * A small wrapper around DuckDB (@duckdb/node-api) for analytics and the offline feature store:
 * an in-memory database, plain-JS rows out, user SQL guarded to a single statement.
 */
import os from 'node:os';
import path from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  DuckDBTypeId,
  JSDuckDBValueConverter,
  type DuckDBDateValue,
  type DuckDBDecimalValue,
  type DuckDBResult,
  type DuckDBTimestampMillisecondsValue,
  type DuckDBTimestampNanosecondsValue,
  type DuckDBTimestampSecondsValue,
  type DuckDBTimestampTZValue,
  type DuckDBTimestampValue,
  type DuckDBType,
  type DuckDBValue,
  type DuckDBValueConverter,
  type JS,
} from '@duckdb/node-api';
import { CairnError } from '../core/errors.js';

export interface DuckDbOptions {
  /** Worker threads; DuckDB's default is the number of cores. */
  threads?: number;
  /** e.g. `2GB`; DuckDB's default is 80% of RAM. */
  memoryLimit?: string;
  /** Where DuckDB spills when memory runs out; defaults to `<os tmpdir>/cairn-duckdb-<pid>`. */
  tempDirectory?: string;
}

/**
 * A column as DESCRIBE reports it: name and DuckDB type name (BIGINT, DOUBLE, VARCHAR, TIMESTAMP…).
 * Structurally the features domain's SourceColumn; declared here because storage must not import domains.
 */
export interface ColumnInfo {
  name: string;
  type: string;
}

/** Prepared-statement parameters: positional (`$1`, `?`) or named (`$name`). */
export type SqlParams = DuckDBValue[] | Record<string, DuckDBValue>;

/** A plain JS value as `all` and `stream` return it. */
export type PlainValue = JS | number | string;

/** Quotes an SQL identifier (`my "col"` → `"my ""col"""`). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an SQL string literal (`it's` → `'it''s'`); for values that cannot be parameters, such as paths. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** User SQL without its trailing `;` (and whitespace), so that it can be nested as a subquery. */
export function withoutTrailingSemicolon(sql: string): string {
  return sql.replace(/[;\s]+$/, '');
}

/**
 * DuckDB's error text made readable for a user: drops the echo of our own SQL (`LINE 1: …` and its
 * caret), the extraction prefix, and folds the rest onto one line.
 */
export function readableDuckDbError(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const withoutEcho = raw.split(/\n\s*LINE \d+:/)[0] ?? raw;
  const text = withoutEcho
    .replace(/^Failed to extract statements:\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
  return text === '' || text === 'Error in native callback' ? 'DuckDB rejected the statement' : text;
}

const MICROS_PER_MS = 1000n;

function isoFromMicros(micros: bigint): string {
  // BigInt division truncates toward zero; floor so that instants before 1970 round down as well.
  let ms = micros / MICROS_PER_MS;
  if (micros < 0n && micros % MICROS_PER_MS !== 0n) ms -= 1n;
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? (micros > 0n ? 'infinity' : '-infinity') : date.toISOString();
}

function plainBigInt(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/**
 * DuckDB values → plain JSON-friendly JS: big integers become numbers when safe (else decimal
 * strings), timestamps ISO-8601 UTC strings with milliseconds, dates `YYYY-MM-DD`, decimals numbers.
 */
const plainConverter: DuckDBValueConverter<PlainValue> = (value, type, converter) => {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return plainBigInt(value as bigint);
    case DuckDBTypeId.TIMESTAMP:
      return isoFromMicros((value as DuckDBTimestampValue).micros);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return isoFromMicros((value as DuckDBTimestampTZValue).micros);
    case DuckDBTypeId.TIMESTAMP_S:
      return isoFromMicros((value as DuckDBTimestampSecondsValue).seconds * 1_000_000n);
    case DuckDBTypeId.TIMESTAMP_MS:
      return isoFromMicros((value as DuckDBTimestampMillisecondsValue).millis * 1000n);
    case DuckDBTypeId.TIMESTAMP_NS:
      return isoFromMicros((value as DuckDBTimestampNanosecondsValue).nanos / 1000n);
    case DuckDBTypeId.DATE: {
      const days = (value as DuckDBDateValue).days;
      const date = new Date(days * 86_400_000);
      return Number.isNaN(date.getTime()) ? (days > 0 ? 'infinity' : '-infinity') : date.toISOString().slice(0, 10);
    }
    case DuckDBTypeId.DECIMAL:
      return (value as DuckDBDecimalValue).toDouble();
    default:
      // Nested types recurse through `converter`, so their leaves get the conversions above too.
      return JSDuckDBValueConverter(value, type, converter as DuckDBValueConverter<JS>);
  }
};

/**
 * A converter specialized for one column's type, so that hot loops over millions of values skip
 * the generic per-value dispatch.
 */
function columnConverter(type: DuckDBType): (value: DuckDBValue) => PlainValue {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.VARCHAR:
      return (value) => value as PlainValue;
    case DuckDBTypeId.BIGINT:
      return (value) => (value === null ? null : plainBigInt(value as bigint));
    case DuckDBTypeId.TIMESTAMP: {
      // Timestamps repeat a lot (events share minutes); formatting dominates otherwise.
      const cache = new Map<bigint, string>();
      return (value) => {
        if (value === null) return null;
        const micros = (value as DuckDBTimestampValue).micros;
        let iso = cache.get(micros);
        if (iso === undefined) {
          if (cache.size >= 65_536) cache.clear();
          iso = isoFromMicros(micros);
          cache.set(micros, iso);
        }
        return iso;
      };
    }
    default:
      return (value) => plainConverter(value, type, plainConverter);
  }
}

/**
 * One connection to an in-memory DuckDB database. `connect()` opens siblings on the same database:
 * each has its own temp tables, so concurrent jobs do not see each other's scratch state.
 */
export class DuckDb {
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly ownsInstance: boolean,
  ) {}

  /**
   * Opens a fresh in-memory database (UTC session time zone, no automatic extension downloads).
   * Throws DuckDB's error when an option is invalid (e.g. a malformed memory limit).
   */
  static async open(opts: DuckDbOptions = {}): Promise<DuckDb> {
    const config: Record<string, string> = {
      // Extensions we need (parquet, json, icu) are built in; never reach for the network.
      autoinstall_known_extensions: 'false',
      // One spill directory per process, so concurrent processes never share temp files.
      temp_directory: opts.tempDirectory ?? path.join(os.tmpdir(), `cairn-duckdb-${process.pid}`),
    };
    if (opts.threads !== undefined) config.threads = String(opts.threads);
    if (opts.memoryLimit !== undefined) config.memory_limit = opts.memoryLimit;
    const instance = await DuckDBInstance.create(':memory:', config);
    const db = new DuckDb(instance, await instance.connect(), true);
    await db.run(`SET TimeZone = 'UTC'`);
    return db;
  }

  /** Another connection to the same database; closing it leaves the database open. */
  async connect(): Promise<DuckDb> {
    const db = new DuckDb(this.instance, await this.instance.connect(), false);
    await db.run(`SET TimeZone = 'UTC'`);
    return db;
  }

  /** Runs a query and returns every row as a plain object (see the conversions above). Throws DuckDB's error. */
  async all<T = Record<string, PlainValue>>(sql: string, params?: SqlParams): Promise<T[]> {
    const result = await this.connection.run(sql, params);
    return (await result.convertRowObjects(plainConverter)) as T[];
  }

  /**
   * Streams a query's rows in DuckDB's chunks (about 2,048 rows each), converted like `all`. The
   * next chunk is only fetched when the consumer asks, so a slow consumer holds back DuckDB.
   */
  async *stream<T = Record<string, PlainValue>>(sql: string, params?: SqlParams): AsyncGenerator<T[]> {
    const result: DuckDBResult = await this.connection.stream(sql, params);
    const names = result.deduplicatedColumnNames();
    const converters = result.columnTypes().map(columnConverter);
    for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const columns = chunk.getColumns().map((values, c) => values.map(converters[c]!));
      const rows = new Array<T>(chunk.rowCount);
      for (let r = 0; r < chunk.rowCount; r++) {
        const row: Record<string, PlainValue> = {};
        for (let c = 0; c < names.length; c++) row[names[c]!] = columns[c]![r]!;
        rows[r] = row as T;
      }
      yield rows;
    }
  }

  /** Runs a statement for its effect; returns the number of rows it changed. Throws DuckDB's error. */
  async run(sql: string, params?: SqlParams): Promise<number> {
    const result = await this.connection.run(sql, params);
    return result.rowsChanged;
  }

  /**
   * The columns a query would return, without running it (DESCRIBE binds the query only).
   * Throws VALIDATION_FAILED (`field`) when `sql` is not exactly one statement, DuckDB's error when
   * it does not bind.
   */
  async columns(sql: string, field = 'sql'): Promise<ColumnInfo[]> {
    await this.assertSingleStatement(sql, field);
    const query = withoutTrailingSemicolon(sql);
    const rows = await this.all<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM (\n${query}\n)`);
    return rows.map((r) => ({ name: r.column_name, type: r.column_type }));
  }

  /**
   * Guards SQL that reaches us from a user: it must parse as exactly one statement, so nothing can
   * be smuggled behind a `;`. Throws VALIDATION_FAILED at `field` otherwise.
   */
  async assertSingleStatement(sql: string, field = 'sql'): Promise<void> {
    if (sql.trim() === '') throw CairnError.validation([{ path: field, reason: 'must not be empty' }]);
    let count: number;
    try {
      count = (await this.connection.extractStatements(sql)).count;
    } catch (err) {
      throw CairnError.validation([{ path: field, reason: `does not parse: ${readableDuckDbError(err)}` }]);
    }
    if (count !== 1) {
      throw CairnError.validation([{ path: field, reason: `must be exactly one SQL statement, found ${count}` }]);
    }
  }

  /** Closes this connection, and the database too when this is the connection that opened it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.closeSync();
    if (this.ownsInstance) this.instance.closeSync();
  }
}
