import { createHash } from 'node:crypto';
import { seededRandom } from '../../src/core/random.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import type { DataSource, FeatureSpec, ValueType } from '../../src/features/model.js';
import {
  OfflineEngine,
  type LatestValueRow,
  type ResolvedFeature,
  type TrainingFeature,
  type TrainingSetRequest,
} from '../../src/features/offline-engine.js';
import { DuckDb, quoteIdent, quoteLiteral } from '../../src/storage/duckdb.js';

// ---- fixtures ------------------------------------------------------------------------------------

let dir: string;
let engine: OfflineEngine;
let db: DuckDb;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-offline-'));
  engine = await OfflineEngine.open({ threads: 2 });
  db = await DuckDb.open({ threads: 2 });
});

afterAll(async () => {
  await engine.close();
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function file(name: string): string {
  return path.join(dir, name);
}

function writeCsv(name: string, lines: string[]): string {
  fs.writeFileSync(file(name), lines.join('\n') + '\n');
  return file(name);
}

/** Writes `select` (SQL over literal VALUES) as a Parquet file. */
async function writeParquet(name: string, select: string): Promise<string> {
  await db.run(`COPY (${select}) TO ${quoteLiteral(file(name))} (FORMAT parquet)`);
  return file(name);
}

function source(filePath: string, format: 'csv' | 'parquet', timestampColumn = 'ts', name = 'events'): DataSource {
  return { name, path: filePath, format, timestampColumn, description: '', columns: [], createdAt: '2024-01-01T00:00:00.000Z', createdBy: 'test' };
}

interface FeatureOptions {
  expression: string;
  valueType?: ValueType;
  window?: string | null;
  keyColumns?: Record<string, string>;
  joinKeys?: string[];
  entity?: string;
}

function feature(name: string, src: DataSource, o: FeatureOptions): ResolvedFeature {
  const joinKeys = o.joinKeys ?? ['user_id'];
  const spec: FeatureSpec = {
    entity: o.entity ?? 'user',
    source: src.name,
    valueType: o.valueType ?? 'float64',
    expression: o.expression,
    window: o.window ?? null,
    keyColumns: o.keyColumns ?? Object.fromEntries(joinKeys.map((k) => [k, k])),
    description: '',
    tags: {},
  };
  return { name, version: 1, spec, entityJoinKeys: joinKeys, source: src };
}

function use(f: ResolvedFeature, joinOn: Record<string, string> = {}, as = f.name): TrainingFeature {
  return { feature: f, joinOn, as };
}

/** Awaits a promise that must fail with VALIDATION_FAILED; returns its field errors. */
async function validationErrors(promise: Promise<unknown>): Promise<{ path: string; reason: string }[]> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CairnError);
  expect((err as CairnError).code).toBe('VALIDATION_FAILED');
  return (err as CairnError).details.errors as { path: string; reason: string }[];
}

async function errorPaths(promise: Promise<unknown>): Promise<string[]> {
  return (await validationErrors(promise)).map((e) => e.path).sort();
}

async function readRows(filePath: string): Promise<Record<string, unknown>[]> {
  return db.all(`SELECT * FROM read_parquet(${quoteLiteral(filePath)})`);
}

function sha256(filePath: string): string {
  return createHash('sha256').update(fs.readFileSync(filePath)).digest('hex');
}


// The hand-computed example: a CSV of purchases and an entity table in a deliberately unsorted order.
let purchases: DataSource;
let entityPath: string;
let lastAmount: ResolvedFeature;
let sum1d: ResolvedFeature;
let sum7d: ResolvedFeature;

const ENTITY_ROWS: [number, string, string, boolean][] = [
  // row_id, user_id, event_time, label — order as stored
  [4, 'u1', '2024-01-06 12:00:00', true],
  [0, 'u1', '2024-01-01 09:00:00', false],
  [7, 'u2', '2024-01-10 00:00:00', true],
  [2, 'u1', '2024-01-02 10:00:00', false],
  [5, 'u2', '2024-01-01 00:00:00', false],
  [1, 'u1', '2024-01-01 10:00:00', true],
  [6, 'u3', '2024-01-04 00:00:00', false],
  [3, 'u1', '2024-01-02 11:00:00', true],
];

beforeAll(async () => {
  const csv = writeCsv('purchases.csv', [
    'user_id,ts,amount,note',
    'u1,2024-01-01 10:00:00,10,a',
    'u1,2024-01-02 10:00:00,20,b',
    'u1,2024-01-02 10:00:00,5,c',
    'u1,2024-01-05 10:00:00,40,d',
    'u2,2024-01-03 00:00:00,7,e',
  ]);
  purchases = source(csv, 'csv');
  const values = ENTITY_ROWS.map(([id, user, t, label]) => `(${id}, '${user}', TIMESTAMP '${t}', ${label})`).join(', ');
  entityPath = await writeParquet('entity.parquet', `SELECT * FROM (VALUES ${values}) AS t(row_id, user_id, event_time, label)`);
  lastAmount = feature('last_amount', purchases, { expression: 'amount', valueType: 'float64' });
  sum1d = feature('sum_1d', purchases, { expression: 'sum(amount)', valueType: 'int64', window: '1d' });
  sum7d = feature('sum_7d', purchases, { expression: 'sum(amount)', valueType: 'int64', window: '7d' });
});

function handRequest(overrides: Partial<TrainingSetRequest> = {}): TrainingSetRequest {
  return {
    entityTable: { path: entityPath },
    eventTimeColumn: 'event_time',
    features: [use(lastAmount), use(sum1d), use(sum7d)],
    ttlSeconds: null,
    outputPath: file(`ts-${Math.random().toString(36).slice(2)}.parquet`),
    ...overrides,
  };
}

// ---- DuckDb wrapper ------------------------------------------------------------------------------

describe('DuckDb', () => {
  it('returns plain JS values: safe BigInts as numbers, others as strings, ISO timestamps, dates, decimals', async () => {
    const [row] = await db.all(
      `SELECT 42::BIGINT AS small, 9007199254740993::BIGINT AS big, TIMESTAMP '2024-03-01 12:34:56.789' AS ts,
              TIMESTAMPTZ '2024-03-01 12:00:00+02' AS tstz, DATE '2024-03-01' AS d, 1.25::DECIMAL(10,2) AS dec,
              TIMESTAMP '1969-12-31 23:59:59.9995' AS before_epoch, $1 AS param`,
      ['x'],
    );
    expect(row).toEqual({
      small: 42,
      big: '9007199254740993',
      ts: '2024-03-01T12:34:56.789Z',
      tstz: '2024-03-01T10:00:00.000Z',
      d: '2024-03-01',
      dec: 1.25,
      before_epoch: '1969-12-31T23:59:59.999Z',
      param: 'x',
    });
  });

  it('streams rows in chunks with the same conversions', async () => {
    let rows = 0;
    let chunks = 0;
    let last = 0;
    for await (const chunk of db.stream<{ i: number; t: string }>(`SELECT range AS i, TIMESTAMP '2024-01-01' + INTERVAL (range) SECOND AS t FROM range(5000)`)) {
      chunks += 1;
      rows += chunk.length;
      last = chunk.at(-1)!.i;
      expect(typeof chunk[0]!.t).toBe('string');
    }
    expect(rows).toBe(5000);
    expect(chunks).toBeGreaterThan(1);
    expect(last).toBe(4999);
  });

  it('refuses more than one statement, and SQL that does not parse', async () => {
    await expect(db.assertSingleStatement('SELECT 1')).resolves.toBeUndefined();
    expect(await errorPaths(db.assertSingleStatement('SELECT 1; DROP TABLE x', 'query'))).toEqual(['query']);
    expect(await errorPaths(db.assertSingleStatement('SELEC 1', 'query'))).toEqual(['query']);
    expect(await errorPaths(db.assertSingleStatement('  ', 'query'))).toEqual(['query']);
  });

  it('quotes identifiers and literals', async () => {
    const [row] = await db.all(`SELECT ${quoteLiteral("it's")} AS ${quoteIdent('a "b"')}`);
    expect(row).toEqual({ 'a "b"': "it's" });
  });

  it('describes a query without running it', async () => {
    expect(await db.columns(`SELECT 1::BIGINT AS a, 'x' AS b;`)).toEqual([
      { name: 'a', type: 'BIGINT' },
      { name: 'b', type: 'VARCHAR' },
    ]);
  });
});

// ---- inspectSource -------------------------------------------------------------------------------

describe('inspectSource', () => {
  it('reads the columns of a CSV file and of a glob of Parquet files', async () => {
    const csv = await engine.inspectSource({ path: purchases.path, format: 'csv', timestampColumn: 'ts' });
    expect(csv.columns).toEqual([
      { name: 'user_id', type: 'VARCHAR' },
      { name: 'ts', type: 'TIMESTAMP' },
      { name: 'amount', type: 'BIGINT' },
      { name: 'note', type: 'VARCHAR' },
    ]);
    await writeParquet('glob-a.parquet', `SELECT 'u1' AS user_id, DATE '2024-01-01' AS day, 1.5 AS x`);
    await writeParquet('glob-b.parquet', `SELECT 'u2' AS user_id, DATE '2024-01-02' AS day, 2.5 AS x`);
    const parquet = await engine.inspectSource({ path: file('glob-*.parquet'), format: 'parquet', timestampColumn: 'day' });
    expect(parquet.columns.map((c) => c.name)).toEqual(['user_id', 'day', 'x']);
  });

  it('reports a path that matches no file', async () => {
    const errors = await validationErrors(engine.inspectSource({ path: file('nothing-*.parquet'), format: 'parquet', timestampColumn: 'ts' }));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('path');
    expect(errors[0]!.reason).toMatch(/no file matches/);
  });

  it('reports a file that is not in the given format', async () => {
    const errors = await validationErrors(engine.inspectSource({ path: purchases.path, format: 'parquet', timestampColumn: 'ts' }));
    expect(errors.map((e) => e.path)).toEqual(['path']);
    expect(errors[0]!.reason).toMatch(/cannot be read as parquet/);
  });

  it('reports a missing timestamp column, naming the columns that exist', async () => {
    const errors = await validationErrors(engine.inspectSource({ path: purchases.path, format: 'csv', timestampColumn: 'when' }));
    expect(errors.map((e) => e.path)).toEqual(['timestampColumn']);
    expect(errors[0]!.reason).toContain('user_id, ts, amount, note');
  });

  it('reports a timestamp column that is not temporal', async () => {
    const errors = await validationErrors(engine.inspectSource({ path: purchases.path, format: 'csv', timestampColumn: 'amount' }));
    expect(errors.map((e) => e.path)).toEqual(['timestampColumn']);
    expect(errors[0]!.reason).toMatch(/BIGINT/);
  });
});

// ---- checkFeature --------------------------------------------------------------------------------

describe('checkFeature', () => {
  const check = (o: FeatureOptions) => engine.checkFeature(feature('f', purchases, o));

  it('accepts row-level expressions and returns the produced type', async () => {
    expect(await check({ expression: 'amount * 2', valueType: 'int64' })).toEqual({ producedType: 'BIGINT' });
    // Integers may feed a float64 feature.
    expect(await check({ expression: 'amount', valueType: 'float64' })).toEqual({ producedType: 'BIGINT' });
    expect(await check({ expression: "note || '!'", valueType: 'string' })).toEqual({ producedType: 'VARCHAR' });
    expect(await check({ expression: 'amount > 10', valueType: 'bool' })).toEqual({ producedType: 'BOOLEAN' });
    expect(await check({ expression: "ts + INTERVAL 1 HOUR -- shifted\n", valueType: 'timestamp' })).toEqual({ producedType: 'TIMESTAMP' });
  });

  it('accepts windowed aggregates, including several aggregates in one expression', async () => {
    expect(await check({ expression: 'avg(CASE WHEN amount > 15 THEN 1.0 ELSE 0.0 END)', window: '7d' })).toEqual({ producedType: 'DOUBLE' });
    expect(await check({ expression: 'count(*)', window: '24h', valueType: 'int64' })).toEqual({ producedType: 'BIGINT' });
    expect(await check({ expression: 'sum(amount) / count(*) FILTER (WHERE amount > 0)', window: '1d' })).toEqual({ producedType: 'DOUBLE' });
  });

  it('rejects an expression that does not parse', async () => {
    const errors = await validationErrors(check({ expression: 'amount +' }));
    expect(errors.map((e) => e.path)).toEqual(['expression']);
    expect(errors[0]!.reason).toMatch(/does not parse/);
  });

  it('rejects an empty expression', async () => {
    expect(await errorPaths(check({ expression: '  ' }))).toEqual(['expression']);
  });

  it('rejects a column that does not exist, with DuckDB’s reason', async () => {
    const errors = await validationErrors(check({ expression: 'amont * 2' }));
    expect(errors.map((e) => e.path)).toEqual(['expression']);
    expect(errors[0]!.reason).toMatch(/does not bind: .*amont/);
    expect(errors[0]!.reason).not.toMatch(/LINE 1/);
  });

  it('never runs SQL smuggled into an expression', async () => {
    const marker = file('pwned.csv');
    const attempts = [
      `1); COPY (SELECT 42) TO ${quoteLiteral(marker)}; SELECT (1`,
      `amount) AS value FROM read_csv(${quoteLiteral(purchases.path)}) --`,
      `amount) AS value, (1`,
      `(SELECT count(*) FROM read_csv(${quoteLiteral(purchases.path)}))`,
      `amount) UNION SELECT (1`,
      `1) FROM (SELECT 1) t WHERE (1`,
      `$1`,
      `sum(amount) OVER ()`,
    ];
    for (const expression of attempts) {
      const errors = await validationErrors(check({ expression }));
      expect(errors.map((e) => e.path), expression).toContain('expression');
    }
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('rejects an aggregate without a window and a non-aggregate with one', async () => {
    const noWindow = await validationErrors(check({ expression: 'sum(amount)' }));
    expect(noWindow.map((e) => e.path)).toEqual(['expression']);
    expect(noWindow[0]!.reason).toMatch(/is an aggregate/);
    const windowed = await validationErrors(check({ expression: 'amount', window: '7d' }));
    expect(windowed.map((e) => e.path)).toEqual(['expression']);
    expect(windowed[0]!.reason).toMatch(/not an aggregate/);
  });

  it('rejects a value type the expression does not produce', async () => {
    const errors = await validationErrors(check({ expression: 'note', valueType: 'float64' }));
    expect(errors).toEqual([{ path: 'valueType', reason: 'expression produces VARCHAR, not float64' }]);
    expect(await errorPaths(check({ expression: 'amount * 1.5', valueType: 'int64' }))).toEqual(['valueType']);
    expect(await errorPaths(check({ expression: '[amount]', valueType: 'int64' }))).toEqual(['valueType']);
  });

  it('rejects key columns that name no source column, and join keys without a column', async () => {
    const badColumn = await validationErrors(check({ expression: 'amount', keyColumns: { user_id: 'customer' } }));
    expect(badColumn.map((e) => e.path)).toEqual(['keyColumns.user_id']);
    expect(badColumn[0]!.reason).toContain('customer');
    const noColumn = await validationErrors(
      engine.checkFeature(feature('f', purchases, { expression: 'amount', joinKeys: ['account'], keyColumns: {} })),
    );
    expect(noColumn.map((e) => e.path)).toEqual(['keyColumns.account']);
  });

  it('reports every problem at once', async () => {
    const paths = await errorPaths(
      engine.checkFeature(
        feature('f', purchases, { expression: 'amount +', window: '7 days', keyColumns: { user_id: 'nope', extra: 'x' } }),
      ),
    );
    expect(paths).toEqual(['expression', 'keyColumns.extra', 'keyColumns.user_id', 'window']);
    const bindAndType = await errorPaths(
      engine.checkFeature(feature('f', purchases, { expression: 'note', valueType: 'int64', keyColumns: { user_id: 'nope' } })),
    );
    expect(bindAndType).toEqual(['keyColumns.user_id', 'valueType']);
  });

  it('reports a source that can no longer be read', async () => {
    const gone = source(file('gone.csv'), 'csv');
    expect(await errorPaths(engine.checkFeature(feature('f', gone, { expression: 'amount' })))).toEqual(['source']);
  });
});

// ---- buildTrainingSet ----------------------------------------------------------------------------

describe('buildTrainingSet', () => {
  it('joins point-in-time on a hand-computed example, keeping the entity table’s order and columns', async () => {
    const req = handRequest();
    const result = await engine.buildTrainingSet(req);
    expect(result.rowCount).toBe(8);
    expect(result.columns).toEqual([
      { name: 'row_id', type: 'INTEGER' },
      { name: 'user_id', type: 'VARCHAR' },
      { name: 'event_time', type: 'TIMESTAMP' },
      { name: 'label', type: 'BOOLEAN' },
      { name: 'last_amount', type: 'DOUBLE' },
      { name: 'sum_1d', type: 'BIGINT' },
      { name: 'sum_7d', type: 'BIGINT' },
    ]);
    const rows = await readRows(req.outputPath);
    expect(rows.map((r) => r.row_id)).toEqual(ENTITY_ROWS.map(([id]) => id));
    const byId = new Map(rows.map((r) => [r.row_id, [r.last_amount, r.sum_1d, r.sum_7d]]));
    expect(Object.fromEntries(byId)).toEqual({
      0: [null, null, null], // before any purchase
      1: [10, null, null], // row-level value known at its own timestamp; windowed sees only ts < T
      2: [20, 10, 10], // duplicate (u1, ts): the greatest value wins; window sees the point before
      3: [20, 35, 35], // frame [ts - 1d, ts] includes its lower bound and both peers
      4: [40, 40, 75],
      5: [null, null, null],
      6: [null, null, null], // unknown key
      7: [7, 7, 7],
    });
    expect(rows.find((r) => r.row_id === 4)).toMatchObject({ user_id: 'u1', event_time: '2024-01-06T12:00:00.000Z', label: true });
  });

  it('applies a TTL: values older than event time - ttl become NULL', async () => {
    const req = handRequest({ ttlSeconds: 86_400 });
    await engine.buildTrainingSet(req);
    const rows = await readRows(req.outputPath);
    const byId = Object.fromEntries(rows.map((r) => [r.row_id, [r.last_amount, r.sum_1d, r.sum_7d]]));
    expect(byId).toEqual({
      0: [null, null, null],
      1: [10, null, null],
      2: [20, 10, 10], // the point at exactly T - ttl is still fresh
      3: [20, 35, 35],
      4: [null, null, null], // last purchase 26h before
      5: [null, null, null],
      6: [null, null, null],
      7: [null, null, null],
    });
  });

  it('prunes history no further back than TTL plus window', async () => {
    // The only event time is 01-02 11:00; with a 1-day TTL the point at 01-02 10:00 is fresh, and
    // its 1-day frame reaches back to 01-01 10:00 — before event time - ttl.
    const req = handRequest({
      entityTable: { query: `SELECT * FROM read_parquet(${quoteLiteral(entityPath)}) WHERE row_id = 3` },
      ttlSeconds: 86_400,
    });
    await engine.buildTrainingSet(req);
    const rows = await readRows(req.outputPath);
    expect(rows.map((r) => [r.last_amount, r.sum_1d, r.sum_7d])).toEqual([[20, 35, 35]]);
  });

  it('takes the entity table as a query, with joinOn mapping a differently named column', async () => {
    const req = handRequest({
      entityTable: {
        query: `SELECT row_id, user_id AS customer, CAST(event_time AS TIMESTAMPTZ) AS at FROM read_parquet(${quoteLiteral(entityPath)}) WHERE label ORDER BY row_id;`,
      },
      eventTimeColumn: 'at',
      features: [use(lastAmount, { user_id: 'customer' }, 'amount_then'), use(sum7d, { user_id: 'customer' })],
    });
    const result = await engine.buildTrainingSet(req);
    expect(result.columns.map((c) => c.name)).toEqual(['row_id', 'customer', 'at', 'amount_then', 'sum_7d']);
    const rows = await readRows(req.outputPath);
    expect(rows.map((r) => [r.row_id, r.amount_then, r.sum_7d])).toEqual([
      [1, 10, null],
      [3, 20, 35],
      [4, 40, 75],
      [7, 7, 7],
    ]);
  });

  it('joins on composite keys', async () => {
    const csv = writeCsv('regional.csv', [
      'user_id,region,ts,score',
      'u1,eu,2024-01-01 00:00:00,1.5',
      'u1,us,2024-01-01 00:00:00,2.5',
      'u1,eu,2024-01-03 00:00:00,3.5',
    ]);
    const src = source(csv, 'csv', 'ts', 'regional');
    const score = feature('score', src, { expression: 'score', joinKeys: ['user_id', 'region'], entity: 'user_region' });
    const visits = feature('visits', src, { expression: 'count(*)', valueType: 'int64', window: '7d', joinKeys: ['user_id', 'region'], entity: 'user_region' });
    const req = handRequest({
      entityTable: {
        query: `SELECT * FROM (VALUES ('u1', 'eu', TIMESTAMP '2024-01-02'), ('u1', 'us', TIMESTAMP '2024-01-04'), ('u1', 'eu', TIMESTAMP '2024-01-04'), ('u2', 'eu', TIMESTAMP '2024-01-04')) t(user_id, region, seen)`,
      },
      eventTimeColumn: 'seen',
      features: [use(score), use(visits)],
    });
    await engine.buildTrainingSet(req);
    const rows = await readRows(req.outputPath);
    expect(rows.map((r) => [r.region, r.score, r.visits])).toEqual([
      ['eu', 1.5, 1],
      ['us', 2.5, 1],
      ['eu', 3.5, 2],
      ['eu', null, null],
    ]);
  });

  it('reports every request problem at once', async () => {
    const missing = await errorPaths(engine.buildTrainingSet(handRequest({ entityTable: { path: file('absent.parquet') } })));
    expect(missing).toEqual(['entityTable']);

    const paths = await errorPaths(
      engine.buildTrainingSet(
        handRequest({
          eventTimeColumn: 'label',
          features: [use(lastAmount, { user_id: 'customer' }), use(sum1d, {}, 'label'), use(sum7d, {}, 'x'), use(lastAmount, {}, 'x')],
        }),
      ),
    );
    expect(paths).toEqual(['eventTimeColumn', 'features[0].joinOn.user_id', 'features[1].as', 'features[3].as']);

    expect(await errorPaths(engine.buildTrainingSet(handRequest({ eventTimeColumn: 'nope' })))).toEqual(['eventTimeColumn']);
    expect(await errorPaths(engine.buildTrainingSet(handRequest({ entityTable: { query: 'SELECT * FROM nowhere' } })))).toEqual(['entityTable']);
    const smuggled = await validationErrors(
      engine.buildTrainingSet(handRequest({ entityTable: { query: `SELECT 1 AS user_id; DROP TABLE x` } })),
    );
    expect(smuggled.map((e) => e.path)).toEqual(['entityTable']);
    expect(await errorPaths(engine.buildTrainingSet(handRequest({ ttlSeconds: -5 })))).toEqual(['ttlSeconds']);
    const broken = feature('broken', purchases, { expression: '1); DROP TABLE x; SELECT (1' });
    expect(await errorPaths(engine.buildTrainingSet(handRequest({ features: [use(broken), use(sum1d, {}, 'label')] })))).toEqual([
      'features[0].feature.expression',
      'features[1].as',
    ]);
  });

  it('leaves outputPath untouched when the build fails midway', async () => {
    const outputPath = file('keep.parquet');
    fs.writeFileSync(outputPath, 'previous');
    const failing = feature('failing', purchases, { expression: `CAST('x' || amount AS BIGINT)`, valueType: 'int64' });
    await expect(engine.checkFeature(failing)).resolves.toEqual({ producedType: 'BIGINT' });
    await expect(engine.buildTrainingSet(handRequest({ features: [use(failing)], outputPath }))).rejects.toThrow(/Conversion|convert|cast/i);
    expect(fs.readFileSync(outputPath, 'utf8')).toBe('previous');
    expect(fs.readdirSync(dir).filter((n) => n.includes('keep.parquet'))).toEqual(['keep.parquet']);
  });

  it('reports progress phases', async () => {
    const phases: string[] = [];
    await engine.buildTrainingSet(handRequest({ onProgress: (p) => phases.push(`${p.phase} ${p.done}/${p.total}`) }));
    // Three timelines: the row-level feature, and one per window (1d, 7d).
    expect(phases).toContain('computing features 0/3');
    expect(phases).toContain('computing features 3/3');
    expect(phases.at(-1)).toBe('writing 1/1');
  });
});

// ---- the point-in-time property on random data ---------------------------------------------------

interface Event {
  key: string;
  ts: number; // epoch ms
  amount: number | null;
}

const BASE = Date.UTC(2024, 0, 1);
const MINUTE = 60_000;

/** Random events on a coarse time grid (so timestamps collide), split over two Parquet files. */
async function randomEvents(seed: number, count: number): Promise<{ events: Event[]; src: DataSource }> {
  const random = seededRandom(seed);
  const events: Event[] = [];
  for (let i = 0; i < count; i++) {
    events.push({
      key: `k${Math.floor(random() * 8)}`,
      ts: BASE + Math.floor(random() * 200) * 10 * MINUTE,
      amount: random() < 0.05 ? null : Math.floor(random() * 400) / 4, // quarters: sums are exact
    });
  }
  const values = (part: Event[]) =>
    part.map((e) => `('${e.key}', make_timestamp(${e.ts * 1000}::BIGINT), ${e.amount === null ? 'NULL' : e.amount}::DOUBLE)`).join(', ');
  const half = Math.floor(count / 2);
  await writeParquet(`random-${seed}-1.parquet`, `SELECT * FROM (VALUES ${values(events.slice(0, half))}) AS t(user_id, ts, amount)`);
  await writeParquet(`random-${seed}-2.parquet`, `SELECT * FROM (VALUES ${values(events.slice(half))}) AS t(user_id, ts, amount)`);
  return { events, src: source(file(`random-${seed}-*.parquet`), 'parquet', 'ts', `random${seed}`) };
}

/** The latest row-level value at or before T: the greatest non-null value among rows at the latest ts. */
function bruteRowLevel(events: Event[], key: string, t: number, ttlMs: number | null, value: (e: Event) => number | null): number | null {
  const mine = events.filter((e) => e.key === key && e.ts <= t);
  if (mine.length === 0) return null;
  const latest = Math.max(...mine.map((e) => e.ts));
  if (ttlMs !== null && latest < t - ttlMs) return null;
  const values = mine.filter((e) => e.ts === latest).map(value).filter((v): v is number => v !== null);
  return values.length === 0 ? null : Math.max(...values);
}

/** The windowed value at the latest point strictly before T, over [point - window, point]. */
function bruteWindowed(
  events: Event[],
  key: string,
  t: number,
  windowMs: number,
  ttlMs: number | null,
  aggregate: (frame: Event[], point: number) => number | null,
): number | null {
  const before = events.filter((e) => e.key === key && e.ts < t);
  if (before.length === 0) return null;
  const point = Math.max(...before.map((e) => e.ts));
  if (ttlMs !== null && point < t - ttlMs) return null;
  return aggregate(events.filter((e) => e.key === key && e.ts >= point - windowMs && e.ts <= point), point);
}

function sumOf(frame: Event[]): number | null {
  const xs = frame.map((e) => e.amount).filter((v): v is number => v !== null);
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0);
}

describe('point-in-time correctness on random data', () => {
  let events: Event[];
  let src: DataSource;
  let features: ResolvedFeature[];
  let entityTable: { query: string };
  let entity: { row: number; key: string; t: number }[];

  beforeAll(async () => {
    ({ events, src } = await randomEvents(7, 1500));
    const random = seededRandom(99);
    entity = [];
    for (let row = 0; row < 600; row++) {
      const onGrid = random() < 0.7; // most event times equal some source timestamps
      const t = BASE + Math.floor(random() * 215 - 5) * 10 * MINUTE + (onGrid ? 0 : 5 * MINUTE);
      entity.push({ row, key: `k${Math.floor(random() * 10)}`, t });
    }
    const values = entity.map((e) => `(${e.row}, '${e.key}', make_timestamp(${e.t * 1000}::BIGINT))`).join(', ');
    entityTable = { query: `SELECT * FROM (VALUES ${values}) AS t(row_id, user_id, event_time)` };
    features = [
      feature('amount', src, { expression: 'amount' }),
      feature('seen_at', src, { expression: 'epoch(ts)' }), // the feature's own timestamp, in seconds
      feature('sum_1h', src, { expression: 'sum(amount)', window: '1h' }),
      feature('count_2h', src, { expression: 'count(*)', window: '2h', valueType: 'int64' }),
      feature('mean_1h', src, { expression: 'sum(amount) / count(*)', window: '1h' }),
      feature('frame_end_30m', src, { expression: 'max(epoch(ts))', window: '30m' }),
    ];
    for (const f of features) await engine.checkFeature(f);
  });

  for (const ttlSeconds of [null, 3 * 3600]) {
    it(`matches a brute-force computation and never uses a value from after the event time (ttl ${ttlSeconds})`, async () => {
      const outputPath = file(`random-training-${ttlSeconds}.parquet`);
      await engine.buildTrainingSet({ entityTable, eventTimeColumn: 'event_time', features: features.map((f) => use(f)), ttlSeconds, outputPath });
      const rows = await readRows(outputPath);
      expect(rows.map((r) => r.row_id)).toEqual(entity.map((e) => e.row));
      const ttlMs = ttlSeconds === null ? null : ttlSeconds * 1000;
      let matched = 0;
      for (const [i, row] of rows.entries()) {
        const { key, t } = entity[i]!;
        // The property itself: a feature's timestamp is never after the row's event time, and a
        // window's frame ends strictly before it.
        if (row.seen_at !== null) expect(row.seen_at as number).toBeLessThanOrEqual(t / 1000);
        if (row.frame_end_30m !== null) expect(row.frame_end_30m as number).toBeLessThan(t / 1000);

        const expected = {
          amount: bruteRowLevel(events, key, t, ttlMs, (e) => e.amount),
          seen_at: bruteRowLevel(events, key, t, ttlMs, (e) => e.ts / 1000),
          sum_1h: bruteWindowed(events, key, t, 60 * MINUTE, ttlMs, sumOf),
          count_2h: bruteWindowed(events, key, t, 120 * MINUTE, ttlMs, (frame) => frame.length),
          mean_1h: bruteWindowed(events, key, t, 60 * MINUTE, ttlMs, (frame) => {
            const s = sumOf(frame);
            return s === null ? null : s / frame.length;
          }),
          frame_end_30m: bruteWindowed(events, key, t, 30 * MINUTE, ttlMs, (_, point) => point / 1000),
        };
        expect({ row: i, ...pick(row, Object.keys(expected)) }).toEqual({ row: i, ...expected });
        if (row.sum_1h !== null) matched += 1;
      }
      // The data must exercise the join: plenty of rows match, and some equal-timestamp cases exist.
      expect(matched).toBeGreaterThan(100);
      expect(entity.filter((e) => events.some((ev) => ev.key === e.key && ev.ts === e.t)).length).toBeGreaterThan(50);
    });
  }

  it('builds byte-identical files from the same inputs', async () => {
    // Enough rows with float aggregates and many equal timestamps for the parallel plan to differ.
    await writeParquet(
      'big-events.parquet',
      `SELECT 'k' || (hash(i) % 50) AS user_id,
              TIMESTAMP '2024-01-01' + INTERVAL ((hash(i * 7) % 5000) * 60) SECOND AS ts,
              (hash(i * 13) % 100000) / 7.0 + 0.1 AS amount
       FROM range(300000) AS r(i)`,
    );
    const big = source(file('big-events.parquet'), 'parquet', 'ts', 'big');
    const bigFeatures = [
      feature('mean_1d', big, { expression: 'avg(amount::DOUBLE)', window: '1d' }),
      feature('sum_6h', big, { expression: 'sum(amount::DOUBLE * 1.1)', window: '6h' }),
      feature('last', big, { expression: 'amount::DOUBLE / 3' }),
    ];
    const req = (outputPath: string): TrainingSetRequest => ({
      entityTable: { query: `SELECT user_id, ts + INTERVAL 30 SECOND AS at FROM read_parquet(${quoteLiteral(big.path)}) WHERE hash(ts) % 3 = 0` },
      eventTimeColumn: 'at',
      features: bigFeatures.map((f) => use(f)),
      ttlSeconds: null,
      outputPath,
    });
    await engine.buildTrainingSet(req(file('same-1.parquet')));
    await engine.buildTrainingSet(req(file('same-2.parquet')));
    const other = await OfflineEngine.open({ threads: 2 });
    try {
      await other.buildTrainingSet(req(file('same-3.parquet')));
    } finally {
      await other.close();
    }
    const first = sha256(file('same-1.parquet'));
    expect(sha256(file('same-2.parquet'))).toBe(first);
    expect(sha256(file('same-3.parquet'))).toBe(first);
  });
});

function pick(row: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, row[k]]));
}

// ---- latestValues --------------------------------------------------------------------------------

describe('latestValues', () => {
  async function collect(req: Parameters<OfflineEngine['latestValues']>[0]): Promise<{ rows: LatestValueRow[]; batches: number[]; total: number | null; keys: number }> {
    const rows: LatestValueRow[] = [];
    const batches: number[] = [];
    let total: number | null = null;
    const { keys } = await engine.latestValues({ ...req, onTotal: (n) => (total = n) }, async (batch) => {
      expect(total).not.toBeNull(); // onTotal comes before the first batch
      batches.push(batch.length);
      rows.push(...batch);
    });
    return { rows, batches, total, keys };
  }

  const hand = () => [lastAmount, sum1d, sum7d];

  it('emits each changed key’s latest values with their timeline timestamps', async () => {
    const { rows, keys, total } = await collect({ features: hand(), start: null, end: '2024-01-31T00:00:00Z' });
    expect(keys).toBe(2);
    expect(total).toBe(2);
    expect(rows).toEqual([
      {
        key: ['u1'],
        values: {
          'last_amount@1': { value: 40, eventTime: '2024-01-05T10:00:00.000Z' },
          'sum_1d@1': { value: 40, eventTime: '2024-01-05T10:00:00.000Z' },
          'sum_7d@1': { value: 75, eventTime: '2024-01-05T10:00:00.000Z' },
        },
      },
      {
        key: ['u2'],
        values: {
          'last_amount@1': { value: 7, eventTime: '2024-01-03T00:00:00.000Z' },
          'sum_1d@1': { value: 7, eventTime: '2024-01-03T00:00:00.000Z' },
          'sum_7d@1': { value: 7, eventTime: '2024-01-03T00:00:00.000Z' },
        },
      },
    ]);
  });

  it('only emits keys with events in (start, end], reaching back before start for windows', async () => {
    const later = await collect({ features: hand(), start: '2024-01-04T00:00:00Z', end: '2024-01-31T00:00:00Z' });
    expect(later.rows.map((r) => r.key)).toEqual([['u1']]);
    expect(later.rows[0]!.values['sum_7d@1']).toEqual({ value: 75, eventTime: '2024-01-05T10:00:00.000Z' });

    const early = await collect({ features: hand(), start: null, end: '2024-01-02T10:00:00.000Z' });
    expect(early.rows).toEqual([
      {
        key: ['u1'],
        values: {
          'last_amount@1': { value: 20, eventTime: '2024-01-02T10:00:00.000Z' }, // end is inclusive; duplicates: greatest
          'sum_1d@1': { value: 35, eventTime: '2024-01-02T10:00:00.000Z' },
          'sum_7d@1': { value: 35, eventTime: '2024-01-02T10:00:00.000Z' },
        },
      },
    ]);

    // start is exclusive: u1's events at exactly start do not count as changes.
    const exclusive = await collect({ features: hand(), start: '2024-01-02T10:00:00Z', end: '2024-01-03T00:00:00Z' });
    expect(exclusive.rows.map((r) => r.key)).toEqual([['u2']]);
  });

  it('unites keys from different key columns and omits features a key has no value for', async () => {
    const csv = writeCsv('trips.csv', ['origin,destination,ts,fare', 'AAA,BBB,2024-01-01 08:00:00,100', 'AAA,CCC,2024-01-01 09:00:00,50', 'BBB,AAA,2024-01-02 08:00:00,70']);
    const trips = source(csv, 'csv', 'ts', 'trips');
    const airport = { joinKeys: ['airport'], entity: 'airport' };
    const departures = feature('departures_1d', trips, { ...airport, expression: 'count(*)', valueType: 'int64', window: '1d', keyColumns: { airport: 'origin' } });
    const arrivalFare = feature('arrival_fare', trips, { ...airport, expression: 'fare', keyColumns: { airport: 'destination' } });
    const { rows } = await collect({ features: [departures, arrivalFare], start: null, end: '2024-01-10T00:00:00Z' });
    expect(rows).toEqual([
      {
        key: ['AAA'],
        values: {
          'departures_1d@1': { value: 2, eventTime: '2024-01-01T09:00:00.000Z' },
          'arrival_fare@1': { value: 70, eventTime: '2024-01-02T08:00:00.000Z' },
        },
      },
      {
        key: ['BBB'],
        values: {
          'departures_1d@1': { value: 1, eventTime: '2024-01-02T08:00:00.000Z' },
          'arrival_fare@1': { value: 100, eventTime: '2024-01-01T08:00:00.000Z' },
        },
      },
      { key: ['CCC'], values: { 'arrival_fare@1': { value: 50, eventTime: '2024-01-01T09:00:00.000Z' } } },
    ]);
  });

  it('streams in batches, in key order, one batch at a time, matching a brute-force computation', async () => {
    const { events, src } = await randomEvents(11, 800);
    const amount = feature('amount', src, { expression: 'amount' });
    const sum2h = feature('sum_2h', src, { expression: 'sum(amount)', window: '2h' });
    const start = BASE + 100 * 10 * MINUTE;
    const end = BASE + 150 * 10 * MINUTE;
    let inFlight = 0;
    const batches: number[] = [];
    const rows: LatestValueRow[] = [];
    const { keys } = await engine.latestValues(
      { features: [amount, sum2h], start: new Date(start).toISOString(), end: new Date(end).toISOString(), batchSize: 3 },
      async (batch) => {
        inFlight += 1;
        expect(inFlight).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 5));
        batches.push(batch.length);
        rows.push(...batch);
        inFlight -= 1;
      },
    );
    const changed = [...new Set(events.filter((e) => e.ts > start && e.ts <= end).map((e) => e.key))].sort();
    expect(keys).toBe(changed.length);
    expect(rows.map((r) => r.key[0])).toEqual(changed);
    expect(changed.length).toBeGreaterThan(3);
    const expectedBatches: number[] = [];
    for (let left = changed.length; left > 0; left -= 3) expectedBatches.push(Math.min(3, left));
    expect(batches).toEqual(expectedBatches);
    for (const row of rows) {
      const key = row.key[0] as string;
      const last = Math.max(...events.filter((e) => e.key === key && e.ts <= end).map((e) => e.ts));
      const lastIso = new Date(last).toISOString();
      expect(row.values['amount@1']).toEqual({ value: bruteRowLevel(events, key, end, null, (e) => e.amount), eventTime: lastIso });
      expect(row.values['sum_2h@1']).toEqual({ value: sumOf(events.filter((e) => e.key === key && e.ts >= last - 120 * MINUTE && e.ts <= last)), eventTime: lastIso });
    }
  });

  it('rejects bad requests with every problem at once', async () => {
    const other = feature('other', purchases, { expression: 'amount', entity: 'account', joinKeys: ['user_id'] });
    const paths = await errorPaths(
      engine.latestValues({ features: [lastAmount, other], start: 'yesterday', end: 'soon', batchSize: 0 }, async () => {}),
    );
    expect(paths).toEqual(['batchSize', 'end', 'features[1]', 'start']);
    expect(await errorPaths(engine.latestValues({ features: [lastAmount], start: '2024-02-01T00:00:00Z', end: '2024-01-01T00:00:00Z' }, async () => {}))).toEqual(['start']);
    expect(await errorPaths(engine.latestValues({ features: [], start: null, end: '2024-01-01T00:00:00Z' }, async () => {}))).toEqual(['features']);
  });
});
