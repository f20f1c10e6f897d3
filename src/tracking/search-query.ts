/**
 * Runs searches: compiles the search AST (search-parser.ts) to Kysely expressions and finds a
 * page of runs with one of two plans (at the end of this file). Every key and value is a bound
 * parameter; only fixed table and column names of this file appear in the SQL text.
 *
 * Semantics, the same on SQLite and PostgreSQL:
 * - `metrics.k` is the run's latest value of k (a number); `params.k` and `tags.k` are text.
 * - A quoted literal compares text; an unquoted number compares numerically, and then only runs
 *   whose value of k is a number can match (a run with `params.depth = 'deep'` never matches
 *   `params.depth > 3`). This is why params and tags carry a `num_value` column: a CAST of text
 *   would fail on PostgreSQL and silently read 0 on SQLite.
 * - A run without the key never matches a comparison, not even `!=` or NOT IN; ask for it with
 *   `IS NULL`.
 * - LIKE is case-sensitive and ILIKE is not (ASCII letters on SQLite); `%` matches any text,
 *   `_` one character and `\` escapes the next character.
 */
import { sql, type AliasedExpression, type Expression, type ExpressionBuilder, type Kysely, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { Dialect } from '../storage/db.js';
import type { RunTable, Schema } from '../storage/schema.js';
import type { Attribute, ComparisonOp, Condition, FilterExpr, Literal, OrderKey } from './search-parser.js';
import type { RunSearch, SearchPosition } from './store.js';

type RunsExpressionBuilder = ExpressionBuilder<Schema, 'runs'>;

const ATTRIBUTE_COLUMNS: Record<Attribute, `runs.${keyof RunTable}`> = {
  status: 'runs.status',
  name: 'runs.name',
  experiment: 'runs.experiment',
  author: 'runs.author',
  start_time: 'runs.start_time',
  end_time: 'runs.end_time',
  run_id: 'runs.id',
  parent_run_id: 'runs.parent_run_id',
};

/**
 * How a condition on a metric, param or tag finds its runs:
 * - `lookup`: compare the run's own value, `(SELECT value … WHERE run_id = runs.id AND key = ?)`,
 *   for when runs are walked in sort order and the walk stops at a full page. Only the primary
 *   key (run_id, key) can serve that subquery, so no planner, with statistics or without, turns
 *   it into a scan of every run holding the key (SQLite does exactly that with an EXISTS here).
 * - `set`: `runs.id IN (the runs matching on the (key, value) index)`, for when the filter
 *   narrows the runs first and the few that match are sorted.
 * A run without the key has no value: NULL compares to nothing, and `IS NULL` finds it.
 */
export type Probe = 'lookup' | 'set';

/** The filter as one boolean expression over `runs`. */
export function compileFilter(eb: RunsExpressionBuilder, expr: FilterExpr, dialect: Dialect, probe: Probe): Expression<SqlBool> {
  if (expr.type === 'and') return eb.and(expr.operands.map((e) => compileFilter(eb, e, dialect, probe)));
  if (expr.type === 'or') return eb.or(expr.operands.map((e) => compileFilter(eb, e, dialect, probe)));
  return compileCondition(eb, expr, dialect, probe);
}

function compileCondition(eb: RunsExpressionBuilder, c: Condition, dialect: Dialect, probe: Probe): Expression<SqlBool> {
  const { kind, key } = c.ident;
  if (kind === 'attribute') {
    const column = ATTRIBUTE_COLUMNS[key as Attribute];
    if (c.type === 'null') return eb(column, c.negated ? 'is not' : 'is', null);
    return valueCondition(sql.ref(column), c, dialect);
  }
  const table = kind === 'metric' ? 'latest_metrics' : kind === 'param' ? 'run_params' : 'run_tags';
  const numeric = kind === 'metric' || literalsOf(c).some((l) => l.type === 'number');
  const column = kind !== 'metric' && numeric ? 'num_value' : 'value';
  const rows = eb.selectFrom(`${table} as k` as 'run_params as k').where('k.key', '=', key);
  if (probe === 'lookup') {
    const own = rows.select(`k.${column}` as 'k.value').whereRef('k.run_id', '=', 'runs.id');
    if (c.type === 'null') return sql<SqlBool>`(${own}) ${sql.raw(c.negated ? 'is not null' : 'is null')}`;
    return valueCondition(sql`(${own})`, c, dialect);
  }
  if (c.type === 'null') {
    const present = eb('runs.id', 'in', rows.select('k.run_id'));
    return c.negated ? present : eb.not(present);
  }
  return eb('runs.id', 'in', rows.select('k.run_id').where(valueCondition(sql.ref(`k.${column}`), c, dialect)));
}

function literalsOf(c: Condition): Literal[] {
  return c.type === 'compare' ? [c.value] : c.type === 'in' ? c.values : [];
}

/** `ref <op> value` for a comparison, IN list or pattern; `ref` names a fixed column of this file. */
function valueCondition(ref: RawBuilder<unknown>, c: Exclude<Condition, { type: 'null' }>, dialect: Dialect): RawBuilder<SqlBool> {
  if (c.type === 'compare') return sql<SqlBool>`${ref} ${sql.raw(c.op === '!=' ? '<>' : c.op)} ${c.value.value}`;
  if (c.type === 'in') {
    const list = sql.join(c.values.map((v) => v.value));
    return c.negated ? sql<SqlBool>`${ref} not in (${list})` : sql<SqlBool>`${ref} in (${list})`;
  }
  const match = likeCondition(ref, c.pattern, c.caseInsensitive, dialect);
  return c.negated ? sql<SqlBool>`not (${match})` : match;
}

function likeCondition(ref: RawBuilder<unknown>, pattern: string, caseInsensitive: boolean, dialect: Dialect): RawBuilder<SqlBool> {
  if (dialect === 'postgres') {
    // PostgreSQL's LIKE already escapes with a backslash by default.
    return caseInsensitive ? sql<SqlBool>`${ref} ilike ${pattern}` : sql<SqlBool>`${ref} like ${pattern}`;
  }
  // SQLite's LIKE ignores ASCII case, so it serves ILIKE; GLOB is its case-sensitive match.
  return caseInsensitive ? sql<SqlBool>`${ref} like ${pattern} escape '\\'` : sql<SqlBool>`${ref} glob ${likeToGlob(pattern)}`;
}

/** Translates a LIKE pattern (`%`, `_`, `\` escapes) to the equivalent SQLite GLOB pattern. */
export function likeToGlob(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\' && i + 1 < pattern.length) {
      out += globLiteral(pattern[++i]!);
    } else if (ch === '%') {
      out += '*';
    } else if (ch === '_') {
      out += '?';
    } else {
      out += globLiteral(ch);
    }
  }
  return out;
}

function globLiteral(ch: string): string {
  return ch === '*' || ch === '?' || ch === '[' ? `[${ch}]` : ch;
}

/**
 * The value a run is sorted by for one key, named `alias`: the latest metric, the param or tag
 * text, or an attribute.
 */
export function sortExpression(eb: RunsExpressionBuilder, key: OrderKey, alias: string): AliasedExpression<unknown, string> {
  const { kind } = key.ident;
  if (kind === 'attribute') return eb.ref(ATTRIBUTE_COLUMNS[key.ident.key as Attribute]).as(alias);
  const table = kind === 'metric' ? 'latest_metrics' : kind === 'param' ? 'run_params' : 'run_tags';
  return eb
    .selectFrom(`${table} as s` as 'run_params as s')
    .select('s.value')
    .whereRef('s.run_id', '=', 'runs.id')
    .where('s.key', '=', key.ident.key)
    .as(alias);
}

/** A comparison of the filter on the sort key itself, which narrows the window to a range. */
export interface WindowBound {
  op: Exclude<ComparisonOp, '!='>;
  value: string | number;
}

/**
 * The comparisons on `key` in the filter's top-level AND that the window can apply itself: every
 * run the filter matches is in that range, so walking only the range finds the same runs sooner
 * (`metrics.auc < 0.5 ORDER BY metrics.auc DESC` starts at 0.5 instead of at the best run). A
 * param or tag compared with a number is left out: it compares num_value, the window sorts text.
 */
export function windowBounds(filter: FilterExpr | null, key: OrderKey): WindowBound[] {
  const conjuncts = filter === null ? [] : filter.type === 'and' ? filter.operands : [filter];
  const bounds: WindowBound[] = [];
  for (const c of conjuncts) {
    if (c.type !== 'compare' || c.op === '!=' || c.ident.kind !== key.ident.kind || c.ident.key !== key.ident.key) continue;
    if ((c.ident.kind === 'param' || c.ident.kind === 'tag') && c.value.type === 'number') continue;
    bounds.push({ op: c.op, value: c.value.value });
  }
  return bounds;
}

/** Runs in the order of one sort key: `w` is the run's sort value. */
export type SortWindow = SelectQueryBuilder<Schema, 'runs', { run_id: string; w: string | number }>;

/**
 * The first `limit` runs (after skipping `offset`) in the order of one sort key, as rows of
 * `(run_id, w)` where `w` is the sort value; runs without a value are left out. Ties are ordered
 * by run id, so the window is a prefix of the search order when this is the only sort key. With a
 * cursor value, the window starts at it (ties included; the cursor condition drops the rest). For
 * a metric, param or tag this walks the (key, value) index; for an attribute, the runs.
 */
export function sortWindow(
  db: Kysely<Schema>,
  key: OrderKey,
  experiments: string[],
  from: string | number | null,
  bounds: WindowBound[],
  limit: number,
  offset = 0,
): SortWindow {
  const direction = key.descending ? 'desc' : 'asc';
  const bound = key.descending ? '<=' : '>=';
  if (key.ident.kind === 'attribute') {
    const column = ATTRIBUTE_COLUMNS[key.ident.key as Attribute];
    let q = db.selectFrom('runs').select(['runs.id as run_id', sql.ref<string>(column).as('w')]).where(column, 'is not', null);
    if (experiments.length > 0) q = q.where('runs.experiment', 'in', experiments);
    if (from !== null) q = q.where(column, bound, from as string);
    for (const b of bounds) q = q.where(column, b.op, b.value as string);
    return q.orderBy(column, direction).orderBy('runs.id').limit(limit).offset(offset) as unknown as SortWindow;
  }
  const table = key.ident.kind === 'metric' ? 'latest_metrics' : key.ident.kind === 'param' ? 'run_params' : 'run_tags';
  let q = db
    .selectFrom(`${table} as s` as 'latest_metrics as s')
    .select(['s.run_id', sql.ref<string | number>('s.value').as('w')])
    .where('s.key', '=', key.ident.key);
  // A lookup per row, not a join: a join lets the planner start from runs and sort them all,
  // which is exactly the work the window is there to avoid.
  if (experiments.length > 0) {
    q = q.where((eb) => eb(eb.selectFrom('runs').select('runs.experiment').whereRef('runs.id', '=', 's.run_id'), 'in', experiments));
  }
  if (from !== null) q = q.where('s.value', bound, from as number);
  for (const b of bounds) q = q.where('s.value', b.op, b.value as number);
  return q.orderBy('s.value', direction).orderBy('s.run_id').limit(limit).offset(offset) as unknown as SortWindow;
}

/** Name of the i-th sort column of the search's derived table. */
export const sortColumn = (i: number): string => `sort_${i}`;

/**
 * True for the rows after `after` in the search order: the sort keys (each ASC or DESC with
 * missing values last), then the run id ascending. Runs over the derived table `t`.
 */
export function afterPosition(keys: OrderKey[], after: SearchPosition): RawBuilder<SqlBool> {
  const terms: RawBuilder<SqlBool>[] = [];
  const equalSoFar: RawBuilder<SqlBool>[] = [];
  keys.forEach((key, i) => {
    const col = sql.ref(`t.${sortColumn(i)}`);
    const v = after.values[i] ?? null;
    // Nothing sorts after a missing value within this key: missing values come last.
    if (v !== null) {
      const beyond = key.descending ? sql<SqlBool>`${col} < ${v}` : sql<SqlBool>`${col} > ${v}`;
      terms.push(and([...equalSoFar, sql<SqlBool>`(${beyond} or ${col} is null)`]));
    }
    equalSoFar.push(v === null ? sql<SqlBool>`${col} is null` : sql<SqlBool>`${col} = ${v}`);
  });
  terms.push(and([...equalSoFar, sql<SqlBool>`${sql.ref('t.id')} > ${after.id}`]));
  return sql<SqlBool>`(${sql.join(terms, sql` or `)})`;
}

function and(parts: RawBuilder<SqlBool>[]): RawBuilder<SqlBool> {
  return sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}

// ---- the two plans of a search ------------------------------------------------------------
//
// Both are exact. First, walk a window of the first sort key's index in order and check the
// filter run by run: when the filter is not very selective, a full page is found within the
// window and the search stops there (a millisecond or two over 100,000 runs). Otherwise, filter
// first through the (key, value) indexes and sort the runs that match, which is cheap exactly
// because few match. Which plan wins depends on selectivity that neither database can know
// without statistics, so the store tries the bounded one first.

/**
 * How far down the first sort key's order a search walks before it filters first instead; a page
 * found within it needs at least 1 run in 50 to match (limit 100), so larger pages walk further.
 */
const SEARCH_WINDOW = 5000;

/** A run id found by a search, with its sort values as `sort_0`, `sort_1`, … */
export type SearchRow = { id: string } & Record<string, unknown>;

/** The page from a window of the first sort key's order, or null when the window cannot tell. */
export async function searchSortWindow(db: Kysely<Schema>, dialect: Dialect, q: RunSearch, windowSize: number | null): Promise<SearchRow[] | null> {
  const [first, ...rest] = q.orderBy;
  if (!first) return null;
  const size = windowSize ?? Math.max(SEARCH_WINDOW, (q.limit + 1) * 20);
  const from = q.after?.values[0] ?? null;
  const bounds = windowBounds(q.filter, first);
  // With one key the window is a prefix of the search order, so any full page from it is exact.
  // With more, runs tied on the first key at the window's end may be missing: only runs strictly
  // before that last value are certain, so the page is cut there. It costs a walk of the window.
  const edge = rest.length > 0 ? await sortWindow(db, first, q.experiments, from, bounds, 1, size - 1).executeTakeFirst() : undefined;

  const window = sortWindow(db, first, q.experiments, from, bounds, size);
  let inner = db
    .selectFrom(window.as('w'))
    .innerJoin('runs', 'runs.id', 'w.run_id')
    .select(['runs.id', sql.ref('w.w').as(sortColumn(0))]);
  if (rest.length > 0) inner = inner.select((eb) => rest.map((k, i) => sortExpression(eb, k, sortColumn(i + 1))));
  const filter = q.filter;
  if (filter) inner = inner.where((eb) => compileFilter(eb, filter, dialect, 'lookup'));

  let outer = db.selectFrom(inner.as('t')).selectAll();
  if (q.after) outer = outer.where(afterPosition(q.orderBy, q.after));
  if (edge) outer = outer.where(sql.ref(`t.${sortColumn(0)}`), first.descending ? '>' : '<', edge.w);
  // The window holds no missing values, and leaving NULLS LAST off lets SQLite stream the
  // window's own order instead of sorting all of it (ASC NULLS LAST is not its natural order).
  const rows = (await ordered(outer, q, true).execute()) as SearchRow[];
  // A short page is complete only if the window held every run with a value, and even then the
  // runs without one come after it: the other plan answers both cases.
  return rows.length > q.limit ? rows : null;
}

/** The page from every run that matches, narrowed through the (key, value) indexes, then sorted. */
export async function searchFilterFirst(db: Kysely<Schema>, dialect: Dialect, q: RunSearch): Promise<SearchRow[]> {
  // The sort values are columns of a derived table so that the cursor condition and ORDER BY
  // can name them on both dialects (PostgreSQL allows output aliases in neither expressions).
  let inner = db
    .selectFrom('runs')
    .select('runs.id')
    .select((eb) => q.orderBy.map((k, i) => sortExpression(eb, k, sortColumn(i))));
  if (q.experiments.length > 0) inner = inner.where('runs.experiment', 'in', q.experiments);
  const filter = q.filter;
  if (filter) inner = inner.where((eb) => compileFilter(eb, filter, dialect, 'set'));
  let outer = db.selectFrom(inner.as('t')).selectAll();
  if (q.after) outer = outer.where(afterPosition(q.orderBy, q.after));
  return (await ordered(outer, q).execute()) as SearchRow[];
}

/** ORDER BY the sort columns (missing values last), then the run id; one row past the page. */
function ordered<Q extends SelectQueryBuilder<Schema & { t: SearchRow }, 't', object>>(query: Q, q: RunSearch, firstKeyComplete = false): Q {
  let out = query;
  q.orderBy.forEach((k, i) => {
    const column = sql.ref(`t.${sortColumn(i)}`);
    if (i === 0 && firstKeyComplete) out = out.orderBy(column, k.descending ? 'desc' : 'asc') as Q;
    else out = out.orderBy(column, (ob) => (k.descending ? ob.desc() : ob.asc()).nullsLast()) as Q;
  });
  return out.orderBy(sql.ref('t.id')).limit(q.limit + 1) as Q;
}
