import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import { loadFrame } from '../../src/ml/frame.js';
import { DuckDb, quoteLiteral } from '../../src/storage/duckdb.js';

let dir: string;
let db: DuckDb;
let trainPath: string;
let testPath: string;

/** Writes `select` to a Parquet file in the temp dir. */
async function parquet(name: string, select: string): Promise<string> {
  const file = path.join(dir, name);
  await db.run(`COPY (${select}) TO ${quoteLiteral(file)} (FORMAT parquet)`);
  return file;
}

function fieldErrors(fn: () => Promise<unknown>): Promise<string[]> {
  return fn().then(
    () => {
      throw new Error('expected a CairnError');
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).toBe('VALIDATION_FAILED');
      return ((err as CairnError).details.errors as { path: string; reason: string }[]).map((e) => `${e.path}: ${e.reason}`);
    },
  );
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-frame-'));
  db = await DuckDb.open({ threads: 2 });
  trainPath = await parquet(
    'train.parquet',
    `SELECT * FROM (VALUES
       (1, 10.5::DOUBLE, 'SFO', true,  100::BIGINT, TIMESTAMP '2001-01-01 10:00', 3.5::DECIMAL(5,2), true),
       (2, NULL,         'ATL', false, 200,         TIMESTAMP '2001-01-01 11:00', 1.25,             false),
       (3, 7.0,          'ATL', NULL,  300,         TIMESTAMP '2001-01-01 12:00', 2.0,              true),
       (4, -2.0,         NULL,  true,  400,         TIMESTAMP '2001-01-01 13:00', 0.5,              false),
       (5, 3.0,          'BOS', true,  500,         TIMESTAMP '2001-01-01 14:00', 9.0,              false),
       (6, 3.0,          'ATL', false, 600,         TIMESTAMP '2001-01-01 15:00', 4.0,              true)
     ) t(id, dist, origin, weekend, seats, departed, fare, delayed)`,
  );
  testPath = await parquet(
    'test.parquet',
    `SELECT * FROM (VALUES (1, 1.0, 'BOS', 1), (2, 2.0, 'JFK', 0), (3, 3.0, 'ATL', 1)) t(id, dist, origin, delayed)`,
  );
});

afterAll(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('loadFrame', () => {
  it('loads numeric and categorical columns into typed arrays, with the signature', async () => {
    const loaded = await loadFrame(db, trainPath, { features: ['dist', 'origin', 'weekend', 'seats', 'fare'], label: 'delayed' });
    const { frame, labels, signature } = loaded;
    expect(frame.rows).toBe(6);
    expect(Array.from(labels)).toEqual([1, 0, 1, 0, 0, 1]);
    expect(signature.task).toBe('binary');
    expect(signature.label).toBe('delayed');
    expect(frame.columns.dist).toBeInstanceOf(Float64Array);
    expect(Array.from(frame.columns.dist!)).toEqual([10.5, NaN, 7, -2, 3, 3]);
    expect(Array.from(frame.columns.seats!)).toEqual([100, 200, 300, 400, 500, 600]);
    expect(Array.from(frame.columns.fare!)).toEqual([3.5, 1.25, 2, 0.5, 9, 4]);
    // Vocabulary by frequency descending, then value; NULL → -1.
    expect(signature.inputs[1]).toEqual({ name: 'origin', kind: 'categorical', vocabulary: ['ATL', 'BOS', 'SFO'] });
    expect(frame.columns.origin).toBeInstanceOf(Int32Array);
    expect(Array.from(frame.columns.origin!)).toEqual([2, 0, 0, -1, 1, 0]);
    // BOOLEAN is categorical by default: true ×3, false ×2.
    expect(signature.inputs[2]).toEqual({ name: 'weekend', kind: 'categorical', vocabulary: ['true', 'false'] });
    expect(Array.from(frame.columns.weekend!)).toEqual([0, 1, -1, 0, 0, 1]);
    expect(signature.inputs[0]).toEqual({ name: 'dist', kind: 'numeric', min: -2, max: 10.5 });
    expect(signature.inputs[3]).toEqual({ name: 'seats', kind: 'numeric', min: 100, max: 600 });
  });

  it('reuses a training vocabulary for a test frame, counting values outside it', async () => {
    const train = await loadFrame(db, trainPath, { features: ['dist', 'origin'], label: 'delayed' });
    const vocabularies = { origin: (train.signature.inputs[1] as { vocabulary: string[] }).vocabulary };
    const test = await loadFrame(db, testPath, { features: ['dist', 'origin'], label: 'delayed', vocabularies });
    expect(test.signature.inputs[1]).toEqual({ name: 'origin', kind: 'categorical', vocabulary: ['ATL', 'BOS', 'SFO'] });
    expect(Array.from(test.frame.columns.origin!)).toEqual([1, -1, 0]);
    expect(test.unseen).toEqual({ origin: 1 });
    expect(test.signature.task).toBe('binary'); // 0/1 integers
  });

  it('treats an integer column listed as categorical by its values, and infers regression from other labels', async () => {
    const loaded = await loadFrame(db, trainPath, { features: ['seats', 'dist'], label: 'fare', categorical: ['seats'] });
    expect(loaded.signature.task).toBe('regression');
    expect(loaded.signature.inputs[0]).toMatchObject({ kind: 'categorical', vocabulary: ['100', '200', '300', '400', '500', '600'] });
    expect(Array.from(loaded.labels)).toEqual([3.5, 1.25, 2, 0.5, 9, 4]);
  });

  it('reads at most `limit` rows', async () => {
    const loaded = await loadFrame(db, trainPath, { features: ['dist'], label: 'delayed', limit: 2 });
    expect(loaded.frame.rows).toBe(2);
    expect(loaded.frame.columns.dist).toHaveLength(2);
    expect(loaded.labels).toHaveLength(2);
  });

  it('names every missing column, non-numeric feature and impossible categorical', async () => {
    const errors = await fieldErrors(() => loadFrame(db, trainPath, { features: ['dist', 'nope', 'departed', 'origin'], label: 'missing_label', categorical: ['dist', 'ghost'] }));
    expect(errors).toEqual([
      'categorical[1]: "ghost" is not one of the features',
      'features[0]: "dist" is DOUBLE, which cannot be categorical (use VARCHAR, BOOLEAN or an integer type)',
      'features[1]: column "nope" not found in ' + trainPath,
      'features[2]: "departed" is TIMESTAMP, not numeric',
      'features[3]: "origin" is VARCHAR, not numeric; list it in categorical',
      'label: column "missing_label" not found in ' + trainPath,
    ]);
  });

  it('rejects a label that is not 0/1 for a binary task and names the rows', async () => {
    const errors = await fieldErrors(() => loadFrame(db, trainPath, { features: ['dist'], label: 'seats', task: 'binary' }));
    expect(errors).toEqual(['label: "seats" must be BOOLEAN or 0/1 for a binary task; other values at rows 0, 1, 2, 3, 4, … (6 in all)']);
  });

  it('rejects NULL labels, naming the rows', async () => {
    const file = await parquet('null-labels.parquet', `SELECT * FROM (VALUES (1.0, 1), (2.0, NULL), (3.0, 0), (4.0, NULL)) t(x, y)`);
    const errors = await fieldErrors(() => loadFrame(db, file, { features: ['x'], label: 'y' }));
    expect(errors).toEqual(['label: "y" is NULL at rows 1, 3']);
  });

  it('rejects a label of the wrong type, a vocabulary for a numeric feature and an unreadable file', async () => {
    const errors = await fieldErrors(() => loadFrame(db, trainPath, { features: ['dist', 'id'], label: 'origin', vocabularies: { dist: ['a'] } }));
    expect(errors).toEqual([
      'vocabularies.dist: "dist" is numeric; only categorical features take a vocabulary',
      'label: "origin" is VARCHAR; a label must be BOOLEAN or numeric',
    ]);
    const missing = await fieldErrors(() => loadFrame(db, path.join(dir, 'nope.parquet'), { features: ['x'], label: 'y' }));
    expect(missing[0]).toMatch(/^path: cannot read Parquet .*nope\.parquet/);
  });
});
