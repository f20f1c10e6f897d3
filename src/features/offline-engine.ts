/**
 * The offline feature engine: validates feature expressions against their sources, builds
 * point-in-time correct training sets, and computes the latest values for materialization into the
 * online store. Everything runs inside DuckDB on Parquet/CSV files; no data passes through JS except
 * the latest values streamed out in batches.
 *
 * ## Timelines
 * Every feature is a timeline per entity key: points (key, ts, value).
 * - A row-level feature (`window: null`) has one point per distinct (key, ts) of its source rows,
 *   valued by `expression` on the row. When several source rows share the same key and timestamp,
 *   the point's value is the greatest of their values (NULLs lose; NULL only when all are NULL).
 *   The rule is order-independent, so it does not depend on how files happen to be read.
 * - A windowed feature (`window: '7d'`) has one point per distinct (key, ts) too, valued by the
 *   aggregate `expression` over the key's source rows with timestamp in [ts - window, ts], both ends
 *   included, so rows sharing `ts` (peers) are all in. Aggregates see those rows ordered by
 *   timestamp, then by a hash of the row: a fixed order, so floating-point sums and order-sensitive
 *   aggregates (first, string_agg…) come out the same on every run.
 * Source rows with a NULL key or timestamp belong to no timeline.
 *
 * ## Point-in-time join
 * A training row with event time T gets, per feature, the value of the latest timeline point with
 * - row-level: ts <= T (the value is known at its own timestamp);
 * - windowed: ts < T strictly, so an aggregate summarizes history strictly before T and never
 *   includes the row's own outcome (no label leakage from peers at T).
 * With a TTL, a matched point older than T - ttl (ts < T - ttl) gives NULL instead. Entity rows
 * with no earlier point, or a NULL key or event time, get NULL.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseDuration } from '../core/duration.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import {
  DuckDb,
  quoteIdent,
  quoteLiteral,
  readableDuckDbError,
  withoutTrailingSemicolon,
  type DuckDbOptions,
  type PlainValue,
} from '../storage/duckdb.js';
import type { DataSource, FeatureSpec, FeatureValue, SourceColumn, SourceFormat, ValueType } from './model.js';
import { formatRef } from './refs.js';
import {
  isBareSelectOfOne,
  mapNodes,
  parseLossless,
  stringifyLossless,
  visitNodes,
  type AstNode,
  type SerializedSelect,
} from './sql-ast.js';

/** A feature version with everything needed to compute it. */
export interface ResolvedFeature {
  name: string;
  version: number;
  spec: FeatureSpec;
  /** The entity's join keys, in the entity's order. */
  entityJoinKeys: string[];
  source: DataSource;
}

/** A feature as one column of a training set. */
export interface TrainingFeature {
  feature: ResolvedFeature;
  /** Entity join key → entity-table column; a missing key means the column of the same name. */
  joinOn: Record<string, string>;
  /** Output column name. */
  as: string;
}

export interface BuildProgress {
  phase: string;
  done: number;
  total: number;
}

export interface TrainingSetRequest {
  /** A Parquet/CSV file (or glob; CSV when the name ends in .csv/.tsv) or one SELECT query. */
  entityTable: { path: string } | { query: string };
  eventTimeColumn: string;
  features: TrainingFeature[];
  ttlSeconds: number | null;
  outputPath: string;
  onProgress?: (p: BuildProgress) => void;
}

export interface TrainingSetResult {
  rowCount: number;
  columns: SourceColumn[];
}

export interface LatestValuesRequest {
  /** Features of one entity. */
  features: ResolvedFeature[];
  /** Exclusive lower bound of the change window (ISO-8601); null = from the beginning. */
  start: string | null;
  /** Inclusive upper bound (ISO-8601). */
  end: string;
  /** Rows per onBatch call; default 10,000. */
  batchSize?: number;
  /** Called once with the number of keys, before the first batch. */
  onTotal?: (keys: number) => void;
}

export interface LatestValueRow {
  /** Key values in the entity's join-key order. */
  key: (string | number)[];
  /** Feature ref (`name@version`) → latest value and the timestamp of its timeline point; absent when the key has none. */
  values: Record<string, { value: FeatureValue; eventTime: string }>;
}

const DEFAULT_BATCH_SIZE = 10_000;

/** DuckDB's temporal types that may serve as a source timestamp or an event time. */
const TEMPORAL_TYPES = new Set([
  'TIMESTAMP',
  'TIMESTAMP WITH TIME ZONE',
  'TIMESTAMPTZ',
  'TIMESTAMP_S',
  'TIMESTAMP_MS',
  'TIMESTAMP_NS',
  'DATE',
]);
const INTEGER_TYPES = new Set([
  'TINYINT',
  'SMALLINT',
  'INTEGER',
  'BIGINT',
  'HUGEINT',
  'UTINYINT',
  'USMALLINT',
  'UINTEGER',
  'UBIGINT',
  'UHUGEINT',
]);

/** The feature value type a DuckDB type maps to, or null when it maps to none (lists, structs, blobs…). */
export function valueTypeForDuckDbType(type: string): ValueType | null {
  const t = type.toUpperCase();
  if (INTEGER_TYPES.has(t)) return 'int64';
  if (t === 'FLOAT' || t === 'DOUBLE' || t.startsWith('DECIMAL')) return 'float64';
  if (t === 'VARCHAR') return 'string';
  if (t === 'BOOLEAN') return 'bool';
  if (TEMPORAL_TYPES.has(t)) return 'timestamp';
  return null;
}

/** The DuckDB (and Parquet) column type that stores a feature value type. */
export function duckDbTypeForValueType(type: ValueType): string {
  return { int64: 'BIGINT', float64: 'DOUBLE', string: 'VARCHAR', bool: 'BOOLEAN', timestamp: 'TIMESTAMP' }[type];
}

/** True when values an expression produces can be stored as `wanted` (integers widen to float64). */
function producesCompatible(produced: ValueType, wanted: ValueType): boolean {
  return produced === wanted || (produced === 'int64' && wanted === 'float64');
}

// Internal column and table names. User columns starting with this prefix are refused.
const P = '__cairn_';
const TS = `${P}ts`;
const EVENT_T = `${P}t`;
/** Windowed timelines: rows in the frame [ts - window, ts], a per-row tie-breaker, "last row of its ts". */
const FRAME_ROWS = `${P}n`;
const TIE = `${P}tie`;
const LAST_PEER = `${P}last_peer`;

function readFunction(filePath: string, format: SourceFormat): string {
  return format === 'csv' ? `read_csv(${quoteLiteral(filePath)})` : `read_parquet(${quoteLiteral(filePath)})`;
}

function formatOfPath(filePath: string): SourceFormat {
  return /\.(csv|tsv)(\.gz|\.zst)?$/i.test(filePath) ? 'csv' : 'parquet';
}

/** The source's rows plus its timestamp normalized to TIMESTAMP (UTC) as `__cairn_ts`. */
function sourceScan(source: DataSource): string {
  return `(SELECT *, CAST(${quoteIdent(source.timestampColumn)} AS TIMESTAMP) AS ${TS} FROM ${readFunction(source.path, source.format)})`;
}

/** Source key columns in the entity's join-key order (keyColumns defaults to the key's own name). */
function sourceKeyColumns(f: ResolvedFeature): string[] {
  return f.entityJoinKeys.map((k) => f.spec.keyColumns[k] ?? k);
}

/** Microseconds since the epoch of an ISO-8601 time; a time without an offset is UTC (never local). */
function isoToMicros(text: string): bigint | null {
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const normalized = text.trim().replace(' ', 'T');
  const hasOffset = /([zZ]|[+-]\d{2}:?\d{2})$/.test(normalized);
  const ms = Date.parse(hasOffset || !normalized.includes('T') ? normalized : `${normalized}Z`);
  return Number.isNaN(ms) ? null : BigInt(ms) * 1000n;
}

/** A TIMESTAMP literal for an instant we computed ourselves (never user text). */
function timestampSql(micros: bigint): string {
  return `make_timestamp(${micros.toString()}::BIGINT)`;
}

function unreadableReason(err: unknown, filePath: string, format: SourceFormat): string {
  const message = readableDuckDbError(err);
  if (/No files found that match/i.test(message)) return `no file matches ${filePath}`;
  return `cannot be read as ${format}: ${message}`;
}

function checkTemporalColumn(columns: SourceColumn[], name: string, field: string, errors: ValidationErrors): void {
  const column = columns.find((c) => c.name === name);
  if (!column) {
    errors.add(field, `column ${JSON.stringify(name)} not found; columns are ${columns.map((c) => c.name).join(', ')}`);
  } else if (!TEMPORAL_TYPES.has(column.type.toUpperCase())) {
    errors.add(field, `column ${JSON.stringify(name)} is ${column.type}; expected TIMESTAMP, TIMESTAMPTZ or DATE`);
  }
}

// ---- expressions -------------------------------------------------------------------------------

/** A feature expression that parsed as exactly one SQL expression. */
interface ParsedExpression {
  /** The expression as written, parenthesized on its own lines so a trailing `--` comment cannot escape. */
  sql: string;
  ast: AstNode;
}

/** A feature ready to be computed: its expression parsed, its window in seconds. */
interface CompiledFeature {
  feature: ResolvedFeature;
  expression: ParsedExpression;
  windowSeconds: number | null;
  keyColumns: string[];
  sqlType: string;
}

export class OfflineEngine {
  private constructor(
    private readonly db: DuckDb,
    /** Names of DuckDB's aggregate functions: these get an OVER clause in windowed timelines. */
    private readonly aggregateNames: Set<string>,
  ) {}

  /** Opens an engine on a private in-memory DuckDB database. */
  static async open(opts: DuckDbOptions = {}): Promise<OfflineEngine> {
    const db = await DuckDb.open(opts);
    const rows = await db.all<{ name: string }>(
      `SELECT DISTINCT lower(function_name) AS name FROM duckdb_functions() WHERE function_type = 'aggregate'`,
    );
    return new OfflineEngine(db, new Set(rows.map((r) => r.name)));
  }

  /** Closes the database. Operations still running fail. */
  async close(): Promise<void> {
    this.db.close();
  }

  /** Runs `work` on its own connection, so temp tables of concurrent operations never meet. */
  private async withSession<T>(work: (session: DuckDb) => Promise<T>): Promise<T> {
    const session = await this.db.connect();
    try {
      return await work(session);
    } finally {
      session.close();
    }
  }

  /**
   * Reads a source's schema (Parquet metadata or a CSV sniff; no full scan).
   * Throws VALIDATION_FAILED: `path` when no file matches or it cannot be read in `format`;
   * `timestampColumn` when the column is missing (listing the columns there are) or not
   * TIMESTAMP/TIMESTAMPTZ/DATE.
   */
  async inspectSource(input: { path: string; format: SourceFormat; timestampColumn: string }): Promise<{ columns: SourceColumn[] }> {
    return this.withSession(async (session) => {
      const errors = new ValidationErrors();
      let columns: SourceColumn[];
      try {
        columns = await session.columns(`SELECT * FROM ${readFunction(input.path, input.format)}`, 'path');
      } catch (err) {
        throw CairnError.validation([{ path: 'path', reason: unreadableReason(err, input.path, input.format) }]);
      }
      checkTemporalColumn(columns, input.timestampColumn, 'timestampColumn', errors);
      errors.throwIfAny();
      return { columns };
    });
  }

  /**
   * Validates a feature against its source without scanning data (binding on an empty copy of the
   * source's schema), and returns the DuckDB type its expression produces.
   * Throws VALIDATION_FAILED listing every problem: `expression` (not exactly one SQL expression,
   * does not parse or bind, uses subqueries/OVER/parameters, an aggregate without a window or a
   * non-aggregate with one), `window` (not a duration), `keyColumns.<k>` (names a missing source
   * column, or is no join key of the entity), `valueType` (incompatible with what the expression
   * produces; integers may feed float64), `source` (unreadable).
   */
  async checkFeature(f: ResolvedFeature): Promise<{ producedType: string }> {
    return this.withSession(async (session) => {
      const errors = new ValidationErrors();
      const { spec } = f;
      let windowSeconds: number | null = null;
      if (spec.window !== null) windowSeconds = collectDurationErrors(spec.window, 'window', errors);

      const parsed = await this.parseExpression(session, spec.expression);
      if ('reason' in parsed) errors.add('expression', parsed.reason);

      const empty = `${P}source_schema`;
      let columns: SourceColumn[] | null = null;
      try {
        // An empty table with the source's schema: every bind below is instant, even for CSV.
        await session.run(`CREATE OR REPLACE TEMP TABLE ${empty} AS SELECT * FROM ${readFunction(f.source.path, f.source.format)} LIMIT 0`);
        columns = await session.columns(`SELECT * FROM ${empty}`);
      } catch (err) {
        errors.add('source', `source ${f.source.name} ${unreadableReason(err, f.source.path, f.source.format)}`);
      }
      if (columns) checkKeyColumns(f, columns, errors);

      let producedType = '';
      if (columns && !('reason' in parsed)) {
        producedType = await this.checkExpressionBinds(session, f, parsed, empty, windowSeconds, errors);
      }
      errors.throwIfAny();
      return { producedType };
    });
  }

  /** Binds the expression on the empty source table; returns its type ('' when it does not bind). */
  private async checkExpressionBinds(
    session: DuckDb,
    f: ResolvedFeature,
    parsed: ParsedExpression,
    table: string,
    windowSeconds: number | null,
    errors: ValidationErrors,
  ): Promise<string> {
    let producedType: string;
    try {
      const [column] = await session.columns(`SELECT ${parsed.sql} AS value FROM ${table}`, 'expression');
      producedType = column!.type;
    } catch (err) {
      errors.add('expression', `does not bind: ${readableDuckDbError(err)}`);
      return '';
    }
    // Next to every row's columns only a per-row expression binds; an aggregate needs GROUP BY.
    const isAggregate = await session.columns(`SELECT ${parsed.sql} AS value, * FROM ${table}`).then(
      () => false,
      () => true,
    );
    const windowed = f.spec.window !== null;
    if (!windowed && isAggregate) {
      errors.add('expression', 'is an aggregate; a feature without a window needs a per-row expression (or set window, e.g. 7d)');
    } else if (windowed && !isAggregate) {
      errors.add('expression', `is not an aggregate; a windowed feature needs one, e.g. avg(${f.spec.expression.trim()})`);
    }

    const produced = valueTypeForDuckDbType(producedType);
    if (produced === null) {
      errors.add('valueType', `expression produces ${producedType}, which is no supported feature type`);
    } else if (!producesCompatible(produced, f.spec.valueType)) {
      errors.add('valueType', `expression produces ${producedType}, not ${f.spec.valueType}`);
    }

    if (windowed && isAggregate && windowSeconds !== null && errors.empty) {
      // The timeline computes the aggregate as window functions; make sure that form binds too.
      try {
        const keyColumns = sourceKeyColumns(f);
        const windowSql = await this.windowExpression(session, parsed, keyColumns);
        const rows = `(SELECT *, CAST(${quoteIdent(f.source.timestampColumn)} AS TIMESTAMP) AS ${TS} FROM ${table})`;
        await session.columns(windowedTimelineSql(rows, keyColumns, windowSeconds, [`${windowSql} AS value`]));
      } catch (err) {
        const message = readableDuckDbError(err);
        // Aggregate macros (geomean, weighted_avg…) expand after our rewrite, so they miss the OVER.
        const hint = /GROUP BY/.test(message)
          ? ' (aggregate macros such as geomean cannot; write them with plain aggregates, e.g. exp(avg(ln(x))))'
          : '';
        errors.add('expression', `cannot be computed over a sliding window: ${message}${hint}`);
      }
    }
    return producedType;
  }

  /**
   * Parses a feature expression and proves it is one expression: wrapped as `SELECT (<expr>)`, it
   * must be one statement whose only content is one select item — so `1); DROP TABLE x; SELECT (1`
   * or `1) FROM read_csv('/etc/passwd') --` are refused. Subqueries (they could read any file),
   * OVER clauses, parameters and `*` are refused too.
   */
  private async parseExpression(session: DuckDb, expression: string): Promise<ParsedExpression | { reason: string }> {
    if (expression.trim() === '') return { reason: 'must not be empty' };
    // Newlines around the text: a trailing `--` comment ends at the newline instead of eating `)`.
    const sql = `(\n${expression}\n)`;
    try {
      await session.assertSingleStatement(`SELECT ${sql}`, 'expression');
    } catch (err) {
      const reason = err instanceof CairnError ? ((err.details.errors as { reason: string }[])[0]?.reason ?? err.message) : String(err);
      return { reason: reason.startsWith('must be exactly one') ? 'must be a single SQL expression, not several statements' : reason };
    }
    const [row] = await session.all<{ ast: string }>(`SELECT json_serialize_sql($1::VARCHAR) AS ast`, [`SELECT ${sql}`]);
    const serialized = parseLossless(row!.ast) as SerializedSelect;
    if (serialized.error) return { reason: `does not parse: ${serialized.error_message ?? 'syntax error'}` };
    const node = serialized.statements?.length === 1 ? serialized.statements[0]!.node : undefined;
    if (!node || !isBareSelectOfOne(node)) return { reason: 'must be a single SQL expression' };
    const ast = node.select_list![0]!;

    const refused = new Set<string>();
    visitNodes(ast, (n) => {
      if (n.class === 'SUBQUERY') refused.add('subqueries are not allowed');
      if (n.class === 'WINDOW') refused.add('window functions (OVER) are not allowed; set the feature window instead');
      if (n.class === 'PARAMETER') refused.add('parameters are not allowed');
      if (n.class === 'STAR') refused.add('* and COLUMNS(...) are not allowed');
    });
    if (refused.size > 0) return { reason: [...refused].join('; ') };
    return { sql, ast };
  }

  /**
   * The aggregate expression as window functions over a key's rows in [ts - window, ts]: every
   * aggregate call gets the same OVER clause (see `windowedTimelineSql`), so expressions such as
   * `sum(a) / count(*)` work. Done on DuckDB's own parse tree, so the rewrite never has to
   * understand SQL text.
   */
  private async windowExpression(session: DuckDb, parsed: ParsedExpression, keyColumns: string[]): Promise<string> {
    const partition = keyColumns.map(quoteIdent).join(', ');
    const frame = `ROWS BETWEEN ${FRAME_ROWS} - 1 PRECEDING AND CURRENT ROW`;
    const template = `SELECT count(*) OVER (PARTITION BY ${partition} ORDER BY ${TS}, ${TIE} ${frame})`;
    const [row] = await session.all<{ ast: string }>(`SELECT json_serialize_sql($1::VARCHAR) AS ast`, [template]);
    const serialized = parseLossless(row!.ast) as SerializedSelect;
    const statement = serialized.statements![0]!;
    const over = statement.node.select_list![0]!;
    const rewritten = mapNodes(parsed.ast, (n) => {
      if (n.class !== 'FUNCTION' || n.is_operator || !this.aggregateNames.has(String(n.function_name).toLowerCase())) return undefined;
      const orderBys = n.order_bys as { orders?: unknown[] } | undefined;
      return {
        ...over,
        function_name: n.function_name,
        schema: n.schema,
        catalog: n.catalog,
        children: n.children,
        filter_expr: n.filter ?? null,
        distinct: n.distinct ?? false,
        arg_orders: orderBys?.orders ?? [],
        query_location: n.query_location,
      };
    }) as AstNode;
    statement.node.select_list = [rewritten];
    const [back] = await session.all<{ sql: string }>(`SELECT json_deserialize_sql($1::JSON) AS sql`, [stringifyLossless(serialized)]);
    const text = back!.sql;
    if (!text.startsWith('SELECT ')) throw new CairnError('INTERNAL', `unexpected window rewrite: ${text}`);
    return `(${text.slice('SELECT '.length)})`;
  }

  /** Parses every feature; adds `<field>[i].expression` / `.window` to `errors` for bad ones and leaves them out. */
  private async compile(
    session: DuckDb,
    features: ResolvedFeature[],
    field: (i: number) => string,
    errors: ValidationErrors,
  ): Promise<CompiledFeature[]> {
    const compiled: CompiledFeature[] = [];
    for (const [i, feature] of features.entries()) {
      const parsed = await this.parseExpression(session, feature.spec.expression);
      if ('reason' in parsed) errors.add(`${field(i)}.expression`, parsed.reason);
      const windowSeconds = feature.spec.window === null ? null : collectDurationErrors(feature.spec.window, `${field(i)}.window`, errors);
      if ('reason' in parsed || (feature.spec.window !== null && windowSeconds === null)) continue;
      compiled.push({
        feature,
        expression: parsed,
        windowSeconds,
        keyColumns: sourceKeyColumns(feature),
        sqlType: duckDbTypeForValueType(feature.spec.valueType),
      });
    }
    return compiled;
  }

  /**
   * Builds a point-in-time correct training set as Parquet at `outputPath` (see the module doc for
   * the join semantics). Every entity-table column passes through, then one column per feature
   * named `as` with the feature's value type; rows keep the entity table's order. The same inputs
   * give a byte-identical file. The file is written next to `outputPath` and renamed into place, so
   * `outputPath` never holds a partial file.
   *
   * Features sharing source, key columns, join columns and window are computed by one timeline
   * query, pruned to keys present in the entity table and to timestamps <= the latest event time
   * (and, with a TTL, >= the earliest event time - ttl - window).
   *
   * Throws VALIDATION_FAILED listing every problem: `entityTable` (missing file, invalid query),
   * `eventTimeColumn` (missing or not temporal), `features[i].joinOn.<key>` (no such entity-table
   * column), `features[i].as` (duplicate or clashing with an entity-table column), `ttlSeconds`.
   */
  async buildTrainingSet(req: TrainingSetRequest): Promise<TrainingSetResult> {
    const progress = req.onProgress ?? (() => {});
    return this.withSession(async (session) => {
      progress({ phase: 'validating', done: 0, total: 1 });
      const errors = new ValidationErrors();
      const entityRelation = await this.validateTrainingRequest(session, req, errors);
      const compiled = await this.compile(session, req.features.map((u) => u.feature), (i) => `features[${i}].feature`, errors);
      errors.throwIfAny();
      progress({ phase: 'validating', done: 1, total: 1 });

      progress({ phase: 'loading entity table', done: 0, total: 1 });
      const entity = `${P}entity`;
      // A table keeps the insertion (= entity table) order in its rowid, which orders the output.
      await session.run(
        `CREATE TEMP TABLE ${entity} AS SELECT *, CAST(${quoteIdent(req.eventTimeColumn)} AS TIMESTAMP) AS ${EVENT_T} FROM ${entityRelation}`,
      );
      const [stats] = await session.all<{ n: number; lo: PlainValue; hi: PlainValue }>(
        `SELECT count(*) AS n, epoch_us(min(${EVENT_T})) AS lo, epoch_us(max(${EVENT_T})) AS hi FROM ${entity}`,
      );
      const lo = stats!.lo === null ? null : BigInt(stats!.lo as number | string);
      const hi = stats!.hi === null ? null : BigInt(stats!.hi as number | string);
      progress({ phase: 'loading entity table', done: 1, total: 1 });

      const groups = groupForTraining(req.features, compiled);
      const joins: string[] = [];
      const outputs: string[] = [];
      for (const [g, group] of groups.entries()) {
        progress({ phase: 'computing features', done: g, total: groups.length });
        const timeline = `${P}timeline_${g}`;
        await session.run(`CREATE TEMP TABLE ${timeline} AS ${await this.trainingTimelineSql(session, group, entity, lo, hi, req.ttlSeconds)}`);
        const keyMatch = group.joinColumns.map((c, k) => `g${g}.${P}k${k} = e.${quoteIdent(c)}`).join(' AND ');
        const inequality = group.windowSeconds === null ? '>=' : '>';
        joins.push(`ASOF LEFT JOIN ${timeline} AS g${g} ON ${keyMatch} AND e.${EVENT_T} ${inequality} g${g}.${TS}`);
        for (const [m, member] of group.members.entries()) {
          const value = `g${g}.${P}v${m}`;
          const fresh =
            req.ttlSeconds === null
              ? value
              : `CASE WHEN g${g}.${TS} >= e.${EVENT_T} - INTERVAL (${req.ttlSeconds}) SECOND THEN ${value} END`;
          outputs.push(`${fresh} AS ${quoteIdent(member.as)}`);
        }
      }
      progress({ phase: 'computing features', done: groups.length, total: groups.length });

      progress({ phase: 'writing', done: 0, total: 1 });
      const select = [`e.* EXCLUDE (${EVENT_T})`, ...outputs].join(',\n  ');
      const query = `SELECT ${select}\nFROM ${entity} AS e\n${joins.join('\n')}\nORDER BY e.rowid`;
      await writeParquetAtomically(session, query, req.outputPath);
      const columns = await session.columns(`SELECT * FROM read_parquet(${quoteLiteral(req.outputPath)})`);
      progress({ phase: 'writing', done: 1, total: 1 });
      return { rowCount: stats!.n, columns };
    });
  }

  /** Checks the request, adding every problem to `errors`; returns the entity table as a relation. */
  private async validateTrainingRequest(session: DuckDb, req: TrainingSetRequest, errors: ValidationErrors): Promise<string> {
    let relation = '';
    let columns: SourceColumn[] | null = null;
    if ('query' in req.entityTable) {
      const query = req.entityTable.query;
      relation = `(\n${withoutTrailingSemicolon(query)}\n)`;
      try {
        columns = await session.columns(query, 'entityTable');
      } catch (err) {
        const reason = err instanceof CairnError ? err.message.replace(/^entityTable: /, '') : `query is invalid: ${readableDuckDbError(err)}`;
        errors.add('entityTable', reason);
      }
    } else {
      const filePath = req.entityTable.path;
      const format = formatOfPath(filePath);
      relation = readFunction(filePath, format);
      try {
        columns = await session.columns(`SELECT * FROM ${relation}`);
      } catch (err) {
        errors.add('entityTable', unreadableReason(err, filePath, format));
      }
    }
    if (columns?.some((c) => c.name.startsWith(P))) errors.add('entityTable', `column names starting with ${P} are reserved`);
    if (req.ttlSeconds !== null && !(Number.isInteger(req.ttlSeconds) && req.ttlSeconds > 0)) {
      errors.add('ttlSeconds', 'must be a positive whole number of seconds or null');
    }
    if (req.outputPath.trim() === '') errors.add('outputPath', 'must not be empty');

    const names = new Set(columns?.map((c) => c.name) ?? []);
    if (columns) checkTemporalColumn(columns, req.eventTimeColumn, 'eventTimeColumn', errors);
    const seen = new Map<string, number>();
    for (const [i, use] of req.features.entries()) {
      const { feature } = use;
      for (const key of Object.keys(use.joinOn)) {
        if (!feature.entityJoinKeys.includes(key)) {
          errors.add(`features[${i}].joinOn.${key}`, `${key} is not a join key of entity ${feature.spec.entity} (${feature.entityJoinKeys.join(', ')})`);
        }
      }
      if (columns) {
        for (const key of feature.entityJoinKeys) {
          const column = use.joinOn[key] ?? key;
          if (!names.has(column)) errors.add(`features[${i}].joinOn.${key}`, `entity table has no column ${JSON.stringify(column)}`);
        }
      }
      if (use.as.trim() === '') errors.add(`features[${i}].as`, 'must not be empty');
      else if (use.as.startsWith(P)) errors.add(`features[${i}].as`, `names starting with ${P} are reserved`);
      else if (names.has(use.as)) errors.add(`features[${i}].as`, `${use.as} clashes with an entity-table column`);
      else if (seen.has(use.as)) errors.add(`features[${i}].as`, `${use.as} is also the name of features[${seen.get(use.as)}]`);
      seen.set(use.as, i);
    }
    return relation;
  }

  /** SELECT of one group's timeline: (k0.., ts, v0..) with one row per (key, ts), pruned for this entity table. */
  private async trainingTimelineSql(
    session: DuckDb,
    group: TrainingGroup,
    entity: string,
    lo: bigint | null,
    hi: bigint | null,
    ttlSeconds: number | null,
  ): Promise<string> {
    const keys = group.keyColumns.map((_, k) => `${P}k${k}`);
    const keyPairs = group.joinColumns.map((c, k) => `e.${quoteIdent(c)} AS ${keys[k]}`);
    const known = group.joinColumns.map((c) => `e.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
    const wanted = `SELECT DISTINCT ${keyPairs.join(', ')} FROM ${entity} AS e WHERE ${known}`;
    const filters = [hi === null ? 'FALSE' : `s.${TS} <= ${timestampSql(hi)}`];
    // Sound lower bound only with a TTL: older points would be NULLed anyway; without one, the
    // latest point before the first event can be arbitrarily old.
    if (ttlSeconds !== null && lo !== null) {
      const reach = BigInt(ttlSeconds + (group.windowSeconds ?? 0)) * 1_000_000n;
      filters.push(`s.${TS} >= ${timestampSql(lo - reach)}`);
    }
    const keyMatch = group.keyColumns.map((c, k) => `w.${keys[k]} = s.${quoteIdent(c)}`).join(' AND ');
    filters.push(`EXISTS (SELECT 1 FROM (${wanted}) AS w WHERE ${keyMatch})`);

    const values: string[] = [];
    for (const [m, member] of group.members.entries()) {
      const expr =
        group.windowSeconds === null
          ? member.compiled.expression.sql
          : await this.windowExpression(session, member.compiled.expression, group.keyColumns);
      values.push(`CAST(${expr} AS ${member.compiled.sqlType}) AS ${P}v${m}`);
    }
    const keySelect = group.keyColumns.map((c, k) => `${quoteIdent(c)} AS ${keys[k]}`);
    const pruned = `(SELECT * FROM ${sourceScan(group.source)} AS s WHERE ${filters.join(' AND ')})`;
    if (group.windowSeconds !== null) {
      return windowedTimelineSql(pruned, group.keyColumns, group.windowSeconds, [...keySelect, TS, ...values]);
    }
    // Row-level: one point per (key, ts), valued by the greatest value of the rows sharing it.
    const rows = `SELECT ${[...keySelect, TS, ...values].join(', ')} FROM ${pruned} AS src`;
    const collapsed = group.members.map((_, m) => `max(${P}v${m}) AS ${P}v${m}`);
    return `SELECT ${[...keys, TS, ...collapsed].join(', ')} FROM (${rows}) GROUP BY ${[...keys, TS].join(', ')}`;
  }

  /**
   * Streams, for materialization, the latest value of every feature for every entity key that has
   * at least one source event with timestamp in (start, end] (start null = from the beginning).
   * A feature's latest value is its timeline value at the key's last source event at or before
   * `end` (windowed: the aggregate over [last - window, last]); `eventTime` is that timestamp; a
   * feature with no such point is absent from `values`. Rows come in key order (deterministic, so
   * a consumer can resume by skipping rows) in batches of `batchSize`; each `onBatch` is awaited
   * before DuckDB produces more. Resolves to the number of keys.
   *
   * Throws VALIDATION_FAILED: `features` (empty, or of more than one entity), `start`/`end` (not
   * ISO-8601, or start not before end), `batchSize`, `features[i].expression`.
   */
  async latestValues(req: LatestValuesRequest, onBatch: (rows: LatestValueRow[]) => Promise<void>): Promise<{ keys: number }> {
    return this.withSession(async (session) => {
      const errors = new ValidationErrors();
      const { startMicros, endMicros, batchSize } = validateLatestRequest(req, errors);
      const compiled = await this.compile(session, req.features, (i) => `features[${i}]`, errors);
      errors.throwIfAny();
      const bounds = new ChangeWindow(startMicros, endMicros);
      const keys = compiled[0]!.keyColumns.map((_, k) => `${P}k${k}`);

      // Keys that changed in (start, end], from every distinct (source, key columns).
      const keySources = uniqueBy(compiled, (c) => JSON.stringify([sourceIdentity(c.feature.source), c.keyColumns]));
      const keyTable = `${P}keys`;
      await session.run(`CREATE TEMP TABLE ${keyTable} AS ${changedKeysSql(keySources, keys, bounds)}`, bounds.params(true));

      // With one key source every key's last event is after `start`, so older history only
      // matters as far back as a window reaches.
      const historyFromStart = bounds.start !== null && keySources.length === 1;
      const groups = groupBy(compiled, (c) => JSON.stringify([sourceIdentity(c.feature.source), c.keyColumns, c.windowSeconds]));
      for (const [g, members] of groups.entries()) {
        const sql = latestPointsSql(members, keys, keyTable, bounds, historyFromStart);
        await session.run(`CREATE TEMP TABLE ${P}latest_${g} AS ${sql}`, bounds.params(historyFromStart));
      }

      const [count] = await session.all<{ n: number }>(`SELECT count(*) AS n FROM ${keyTable}`);
      req.onTotal?.(count!.n);

      // One time column per group: its features share the timeline point.
      const select = [
        ...keys.map((k) => `w.${k}`),
        ...groups.map((_, g) => `g${g}.${P}last AS ${P}time${g}`),
        ...groups.flatMap((members, g) => members.map((_, m) => `g${g}.${P}v${m} AS ${P}g${g}v${m}`)),
      ];
      const joins = groups.map((_, g) => `LEFT JOIN ${P}latest_${g} AS g${g} ON ${keys.map((k) => `g${g}.${k} = w.${k}`).join(' AND ')}`);
      const query = `SELECT ${select.join(', ')} FROM ${keyTable} AS w ${joins.join(' ')} ORDER BY ${keys.map((k) => `w.${k}`).join(', ')}`;

      const toRow = (row: Record<string, PlainValue>): LatestValueRow => {
        const values: LatestValueRow['values'] = {};
        for (const [g, members] of groups.entries()) {
          const eventTime = row[`${P}time${g}`];
          if (eventTime === null || eventTime === undefined) continue;
          for (const [m, c] of members.entries()) {
            values[formatRef(c.feature.name, c.feature.version)] = { value: row[`${P}g${g}v${m}`] as FeatureValue, eventTime: eventTime as string };
          }
        }
        return { key: keys.map((k) => row[k] as string | number), values };
      };
      await streamInBatches(session.stream<Record<string, PlainValue>>(query), toRow, batchSize, onBatch);
      return { keys: count!.n };
    });
  }
}

// ---- helpers -----------------------------------------------------------------------------------

/**
 * One point per (key, ts) of `rows` (which has the source columns and `__cairn_ts`), with `select`
 * evaluated at the point: window aggregates (from `windowExpression`) see the key's rows with
 * timestamp in [ts - window, ts], peers included.
 *
 * Why not simply `RANGE BETWEEN window PRECEDING AND CURRENT ROW`: rows sharing a timestamp would
 * then reach the aggregate in whatever order parallel scans deliver them, and floating-point sums
 * differ in the last bits from run to run — the training set would not be byte-identical. Instead
 * rows are ordered totally by (ts, hash of the row), the frame is counted exactly by RANGE
 * (`__cairn_n`, an integer, order-free), and the aggregate runs over the last peer's ROWS frame of
 * that many rows. Rows equal in every column may still swap places, but then the input is the same.
 */
function windowedTimelineSql(rows: string, keyColumns: string[], windowSeconds: number, select: string[]): string {
  const partition = keyColumns.map(quoteIdent).join(', ');
  const range = `RANGE BETWEEN INTERVAL (${windowSeconds}) SECOND PRECEDING AND CURRENT ROW`;
  const frameRows = `count(*) OVER (PARTITION BY ${partition} ORDER BY ${TS} ${range}) AS ${FRAME_ROWS}`;
  const framed = `SELECT *, ${frameRows}, hash(${P}row) AS ${TIE} FROM ${rows} AS ${P}row`;
  // Only the last peer of a timestamp has the whole frame; its row is the point.
  const lastPeer = `lead(${TS}) OVER (PARTITION BY ${partition} ORDER BY ${TS}, ${TIE}) IS DISTINCT FROM ${TS} AS ${LAST_PEER}`;
  const evaluated = `SELECT ${[...select, lastPeer].join(', ')} FROM (${framed}) AS src`;
  return `SELECT * EXCLUDE (${LAST_PEER}) FROM (${evaluated}) WHERE ${LAST_PEER}`;
}

function collectDurationErrors(text: string, field: string, errors: ValidationErrors): number | null {
  try {
    return parseDuration(text, field);
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    for (const e of (err.details.errors as { path: string; reason: string }[] | undefined) ?? []) errors.add(e.path, e.reason);
    return null;
  }
}

function checkKeyColumns(f: ResolvedFeature, columns: SourceColumn[], errors: ValidationErrors): void {
  const names = columns.map((c) => c.name);
  for (const key of Object.keys(f.spec.keyColumns)) {
    if (!f.entityJoinKeys.includes(key)) {
      errors.add(`keyColumns.${key}`, `${key} is not a join key of entity ${f.spec.entity} (${f.entityJoinKeys.join(', ')})`);
    }
  }
  for (const key of f.entityJoinKeys) {
    const column = f.spec.keyColumns[key];
    if (column !== undefined && !names.includes(column)) {
      errors.add(`keyColumns.${key}`, `source ${f.source.name} has no column ${JSON.stringify(column)}; columns are ${names.join(', ')}`);
    } else if (column === undefined && !names.includes(key)) {
      const reason = `source ${f.source.name} has no column ${JSON.stringify(key)} for join key ${key}; map it to one of ${names.join(', ')}`;
      errors.add(`keyColumns.${key}`, reason);
    }
  }
}

interface TrainingGroup {
  source: DataSource;
  keyColumns: string[];
  joinColumns: string[];
  windowSeconds: number | null;
  members: { compiled: CompiledFeature; as: string }[];
}

/** Features sharing source, key columns, join columns and window share one timeline query. */
function groupForTraining(uses: TrainingFeature[], compiled: CompiledFeature[]): TrainingGroup[] {
  const groups = new Map<string, TrainingGroup>();
  for (const [i, use] of uses.entries()) {
    const c = compiled[i]!;
    const joinColumns = c.feature.entityJoinKeys.map((k) => use.joinOn[k] ?? k);
    const s = c.feature.source;
    const id = JSON.stringify([sourceIdentity(s), c.keyColumns, joinColumns, c.windowSeconds]);
    let group = groups.get(id);
    if (!group) {
      group = { source: s, keyColumns: c.keyColumns, joinColumns, windowSeconds: c.windowSeconds, members: [] };
      groups.set(id, group);
    }
    group.members.push({ compiled: c, as: use.as });
  }
  return [...groups.values()];
}

function groupBy<T>(items: T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return [...groups.values()];
}

function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  return groupBy(items, key).map((g) => g[0]!);
}

/** The (start, end] window of latestValues as SQL: bounds travel as prepared parameters. */
class ChangeWindow {
  readonly end = `CAST($end AS TIMESTAMP)`;
  readonly start: string | null;
  private readonly values: { end: string; start?: string };

  constructor(startMicros: bigint | null, endMicros: bigint) {
    const iso = (micros: bigint) => new Date(Number(micros / 1000n)).toISOString();
    this.start = startMicros === null ? null : `CAST($start AS TIMESTAMP)`;
    this.values = startMicros === null ? { end: iso(endMicros) } : { end: iso(endMicros), start: iso(startMicros) };
  }

  /** Parameters for a statement; DuckDB refuses named parameters a statement does not use. */
  params(usesStart: boolean): Record<string, string> {
    return usesStart ? { ...this.values } : { end: this.values.end };
  }
}

function sourceIdentity(source: DataSource): string {
  return JSON.stringify([source.path, source.format, source.timestampColumn]);
}

/** Distinct non-null keys with a source event in (start, end], over every key source. */
function changedKeysSql(keySources: CompiledFeature[], keys: string[], bounds: ChangeWindow): string {
  const selects = keySources.map((c) => {
    const when = [`s.${TS} <= ${bounds.end}`, ...(bounds.start ? [`s.${TS} > ${bounds.start}`] : [])];
    const keySelect = c.keyColumns.map((col, k) => `s.${quoteIdent(col)} AS ${keys[k]}`);
    return `SELECT ${keySelect.join(', ')} FROM ${sourceScan(c.feature.source)} AS s WHERE ${when.join(' AND ')}`;
  });
  return `SELECT DISTINCT * FROM (${selects.join('\nUNION ALL\n')}) WHERE ${keys.map((k) => `${k} IS NOT NULL`).join(' AND ')}`;
}

/**
 * Per key of `keyTable`: the group's last timeline point at or before `end` (`__cairn_last`) and
 * each member's value there — row-level: the greatest value of the rows at that instant; windowed:
 * the aggregate over the rows in [last - window, last], as a plain GROUP BY.
 */
function latestPointsSql(members: CompiledFeature[], keys: string[], keyTable: string, bounds: ChangeWindow, historyFromStart: boolean): string {
  const { windowSeconds } = members[0]!;
  const sourceKeys = members[0]!.keyColumns.map(quoteIdent);
  const filters = [`s.${TS} <= ${bounds.end}`];
  if (historyFromStart) {
    filters.push(windowSeconds === null ? `s.${TS} > ${bounds.start}` : `s.${TS} >= ${bounds.start} - INTERVAL (${windowSeconds}) SECOND`);
  }
  filters.push(`EXISTS (SELECT 1 FROM ${keyTable} AS w WHERE ${keys.map((k, i) => `w.${k} = s.${sourceKeys[i]}`).join(' AND ')})`);
  const keyMatch = keys.map((k, i) => `l.${k} = src.${sourceKeys[i]}`).join(' AND ');
  const frame =
    windowSeconds === null ? `src.${TS} = l.${P}last` : `src.${TS} BETWEEN l.${P}last - INTERVAL (${windowSeconds}) SECOND AND l.${P}last`;
  const values = members.map((c, m) =>
    windowSeconds === null ? `max(CAST(${c.expression.sql} AS ${c.sqlType})) AS ${P}v${m}` : `CAST(${c.expression.sql} AS ${c.sqlType}) AS ${P}v${m}`,
  );
  const lastKeys = keys.map((k) => `l.${k}`);
  return `WITH src AS (SELECT * FROM ${sourceScan(members[0]!.feature.source)} AS s WHERE ${filters.join(' AND ')}),
     l AS (SELECT ${sourceKeys.map((c, i) => `${c} AS ${keys[i]}`).join(', ')}, max(${TS}) AS ${P}last FROM src GROUP BY ALL)
  SELECT ${[...lastKeys, `l.${P}last`, ...values].join(', ')}
  FROM src JOIN l ON ${keyMatch} AND ${frame}
  GROUP BY ${[...lastKeys, `l.${P}last`].join(', ')}`;
}

/** Regroups streamed chunks into batches of `size`, awaiting each `onBatch` before reading on. */
async function streamInBatches<R, T>(
  chunks: AsyncIterable<R[]>,
  convert: (row: R) => T,
  size: number,
  onBatch: (rows: T[]) => Promise<void>,
): Promise<void> {
  let batch: T[] = [];
  for await (const rows of chunks) {
    for (const row of rows) {
      batch.push(convert(row));
      if (batch.length === size) {
        await onBatch(batch);
        batch = [];
      }
    }
  }
  if (batch.length > 0) await onBatch(batch);
}

/** Adds every problem of the request to `errors`; returns its parsed bounds (meaningful only without errors). */
function validateLatestRequest(
  req: LatestValuesRequest,
  errors: ValidationErrors,
): { startMicros: bigint | null; endMicros: bigint; batchSize: number } {
  if (req.features.length === 0) errors.add('features', 'must name at least one feature');
  const first = req.features[0];
  for (const [i, f] of req.features.entries()) {
    if (first && (f.spec.entity !== first.spec.entity || f.entityJoinKeys.join('\u0000') !== first.entityJoinKeys.join('\u0000'))) {
      errors.add(`features[${i}]`, `is a feature of entity ${f.spec.entity}, not ${first.spec.entity}; materialize one entity at a time`);
    } else if (req.features.findIndex((o) => o.name === f.name && o.version === f.version) !== i) {
      errors.add(`features[${i}]`, `${formatRef(f.name, f.version)} appears twice`);
    }
  }
  const endMicros = isoToMicros(req.end);
  if (endMicros === null) errors.add('end', `expected an ISO-8601 time, got ${JSON.stringify(req.end)}`);
  const startMicros = req.start === null ? null : isoToMicros(req.start);
  if (req.start !== null && startMicros === null) errors.add('start', `expected an ISO-8601 time or null, got ${JSON.stringify(req.start)}`);
  if (startMicros !== null && endMicros !== null && startMicros >= endMicros) errors.add('start', 'must be before end');
  const batchSize = req.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize <= 0) errors.add('batchSize', 'must be a positive integer');
  return { startMicros, endMicros: endMicros ?? 0n, batchSize };
}

/** COPY to a temp file beside `outputPath`, then rename: readers never see a half-written file. */
async function writeParquetAtomically(session: DuckDb, query: string, outputPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(outputPath), { recursive: true });
  const temp = path.join(path.dirname(outputPath), `.${path.basename(outputPath)}.${randomUUID()}.tmp`);
  try {
    await session.run(`COPY (${query}) TO ${quoteLiteral(temp)} (FORMAT parquet)`);
    fs.renameSync(temp, outputPath);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
