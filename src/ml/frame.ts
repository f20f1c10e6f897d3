/**
 * Loading a training (or validation/test) set from Parquet into a columnar Frame: numeric features
 * as Float64Array (NaN for missing), categorical features as Int32Array of vocabulary codes (-1 for
 * missing or unseen), labels as Float64Array. DuckDB reads and casts; rows are copied chunk by
 * chunk straight into preallocated typed arrays.
 */
import { CairnError, ValidationErrors } from '../core/errors.js';
import { type DuckDb, quoteIdent, quoteLiteral, readableDuckDbError } from '../storage/duckdb.js';
import type { CategoricalInput, Frame, InputSpec, NumericInput, Signature, Task } from './model.js';

export interface LoadFrameOptions {
  /** Feature columns, in the order the model's signature will list them. */
  features: string[];
  /** Label column: BOOLEAN or numeric. */
  label: string;
  /**
   * Features to treat as categorical. Default: the VARCHAR and BOOLEAN columns among `features`.
   * When given, it is the complete list: a VARCHAR feature missing from it is an error.
   */
  categorical?: string[];
  /**
   * Vocabularies to encode categorical features with (a validation/test frame takes the training
   * signature's, so that codes match). Values outside a vocabulary get code -1. Without one, the
   * vocabulary is built from the data: by frequency descending, then by value.
   */
  vocabularies?: Record<string, string[]>;
  /** Read at most this many rows (in file order). */
  limit?: number;
  /**
   * Task the labels are for. Default: `binary` when the label column is BOOLEAN or holds only 0 and
   * 1, else `regression`. With `binary` every label must be 0/1 (or a BOOLEAN).
   */
  task?: Task;
}

/** What a trainer needs: a frame, its labels and its signature (a LoadedFrame is one). */
export interface TrainingData {
  frame: Frame;
  labels: Float64Array;
  signature: Signature;
}

export interface LoadedFrame {
  frame: Frame;
  /** Binary: 1 for the positive class, 0 otherwise. Regression: the target. */
  labels: Float64Array;
  /** Task, inputs (numeric min/max over this frame; categorical vocabularies) and label name. */
  signature: Signature;
  /** Per categorical feature encoded with a given vocabulary: how many rows held a value outside it. */
  unseen: Record<string, number>;
}

const NUMERIC_TYPE = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL(\(\d+,\s*\d+\))?)$/;
const DEFAULT_CATEGORICAL_TYPE = /^(VARCHAR|BOOLEAN|ENUM\(.*\))$/s;
const CATEGORICAL_ABLE_TYPE = /^(VARCHAR|BOOLEAN|ENUM\(.*\)|TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/s;
/** How many offending row numbers an error message lists. */
const EXAMPLE_ROWS = 5;

function describeRows(rows: number[], total: number): string {
  const shown = rows.slice(0, EXAMPLE_ROWS).join(', ');
  return total > EXAMPLE_ROWS ? `rows ${shown}, … (${total} in all)` : `row${total === 1 ? '' : 's'} ${shown}`;
}

/** Vocabulary order: frequency descending, then value (code-unit order, locale-independent). */
function byFrequencyThenValue(counts: Map<string, number>): string[] {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([value]) => value);
}

interface ColumnPlan {
  name: string;
  kind: 'numeric' | 'categorical';
}

/**
 * Loads `path` (a Parquet file or glob DuckDB can read) into a Frame with its labels and signature.
 * Row numbers in messages are 0-based positions in the file. Throws VALIDATION_FAILED naming every
 * problem: unreadable file, missing columns, a feature that is neither numeric nor categorical, a
 * categorical/vocabulary option naming a non-feature, an infinite numeric value, a label that is
 * NULL or (for `binary`) not 0/1, or a feature with no values at all.
 */
export async function loadFrame(db: DuckDb, path: string, opts: LoadFrameOptions): Promise<LoadedFrame> {
  const source = `read_parquet(${quoteLiteral(path)})`;
  let columns: { name: string; type: string }[];
  try {
    columns = await db.columns(`SELECT * FROM ${source}`, 'path');
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw CairnError.validation([{ path: 'path', reason: `cannot read Parquet ${path}: ${readableDuckDbError(err)}` }]);
  }
  const types = new Map(columns.map((c) => [c.name, c.type]));
  const plan = planColumns(opts, types, path);

  const select = [
    ...plan.map((c, i) => `CAST(${quoteIdent(c.name)} AS ${c.kind === 'numeric' ? 'DOUBLE' : 'VARCHAR'}) AS c${i}`),
    `CAST(${quoteIdent(opts.label)} AS DOUBLE) AS y`,
  ].join(', ');
  const limit = opts.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(opts.limit))}` : '';
  const [countRow] = await db.all<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM ${source}${limit})`);
  let capacity = Math.max(countRow?.n ?? 0, 1);

  let numeric: (Float64Array | null)[] = plan.map((c) => (c.kind === 'numeric' ? new Float64Array(capacity) : null));
  let codes: (Int32Array | null)[] = plan.map((c) => (c.kind === 'categorical' ? new Int32Array(capacity) : null));
  let labels = new Float64Array(capacity);
  // Categorical values get provisional codes in order of first appearance (or the given
  // vocabulary's codes); once all rows are in, provisional codes are remapped to frequency order.
  const given = plan.map((c) => (c.kind === 'categorical' ? (opts.vocabularies?.[c.name] ?? null) : null));
  const lookup = plan.map((c, i) => {
    if (c.kind !== 'categorical') return null;
    const vocab = given[i];
    return new Map<string, number>(vocab ? vocab.map((v, code) => [v, code]) : []);
  });
  const firstSeen: string[][] = plan.map(() => []);
  const counts: number[][] = plan.map(() => []);
  const unseen = plan.map(() => 0);
  const infiniteRows: number[][] = plan.map(() => []);
  const infiniteCount = plan.map(() => 0);
  const nullLabelRows: number[] = [];
  let nullLabels = 0;

  let rows = 0;
  const keys = plan.map((_, i) => `c${i}`);
  for await (const chunk of db.stream<Record<string, number | string | null>>(`SELECT ${select} FROM ${source}${limit}`)) {
    if (rows + chunk.length > capacity) {
      // The file grew between the count and the read (a glob picked up a new file): grow.
      capacity = Math.max(capacity * 2, rows + chunk.length);
      numeric = numeric.map((a) => (a ? grow(a, capacity) : null));
      codes = codes.map((a) => (a ? growInt(a, capacity) : null));
      labels = grow(labels, capacity);
    }
    for (let c = 0; c < plan.length; c++) {
      const key = keys[c]!;
      const num = numeric[c];
      if (num) {
        for (let r = 0; r < chunk.length; r++) {
          const v = chunk[r]![key];
          if (v === null || v === undefined) num[rows + r] = NaN;
          else {
            const x = v as number;
            if (x === Infinity || x === -Infinity) {
              if (infiniteRows[c]!.length < EXAMPLE_ROWS) infiniteRows[c]!.push(rows + r);
              infiniteCount[c]!++;
            }
            num[rows + r] = x;
          }
        }
        continue;
      }
      const out = codes[c]!;
      const map = lookup[c]!;
      const fixed = given[c] !== null;
      const seen = firstSeen[c]!;
      const count = counts[c]!;
      for (let r = 0; r < chunk.length; r++) {
        const v = chunk[r]![key];
        if (v === null || v === undefined) {
          out[rows + r] = -1;
          continue;
        }
        const text = v as string;
        let code = map.get(text);
        if (code === undefined) {
          if (fixed) {
            unseen[c]!++;
            out[rows + r] = -1;
            continue;
          }
          code = seen.length;
          seen.push(text);
          count.push(0);
          map.set(text, code);
        }
        if (!fixed) count[code]!++;
        out[rows + r] = code;
      }
    }
    for (let r = 0; r < chunk.length; r++) {
      const y = chunk[r]!.y;
      if (y === null || y === undefined || Number.isNaN(y)) {
        if (nullLabelRows.length < EXAMPLE_ROWS) nullLabelRows.push(rows + r);
        nullLabels++;
        labels[rows + r] = NaN;
      } else labels[rows + r] = y as number;
    }
    rows += chunk.length;
  }

  const errors = new ValidationErrors();
  plan.forEach((c, i) => {
    if (infiniteCount[i]! > 0) {
      errors.add(`features[${i}]`, `"${c.name}" has infinite values at ${describeRows(infiniteRows[i]!, infiniteCount[i]!)}`);
    }
  });
  if (nullLabels > 0) errors.add('label', `"${opts.label}" is NULL at ${describeRows(nullLabelRows, nullLabels)}`);
  const labelType = types.get(opts.label)!;
  let task = opts.task;
  if (nullLabels === 0) {
    const bad: number[] = [];
    let badCount = 0;
    for (let r = 0; r < rows; r++) {
      const y = labels[r]!;
      if (y !== 0 && y !== 1) {
        if (bad.length < EXAMPLE_ROWS) bad.push(r);
        badCount++;
      }
    }
    if (task === undefined) task = labelType === 'BOOLEAN' || badCount === 0 ? 'binary' : 'regression';
    if (task === 'binary' && badCount > 0) {
      errors.add('label', `"${opts.label}" must be BOOLEAN or 0/1 for a binary task; other values at ${describeRows(bad, badCount)}`);
    }
  }
  task ??= labelType === 'BOOLEAN' ? 'binary' : 'regression';

  const columnsOut: Record<string, Float64Array | Int32Array> = {};
  const inputs: InputSpec[] = [];
  plan.forEach((c, i) => {
    const num = numeric[i];
    if (num) {
      const data = num.length === rows ? num : num.slice(0, rows);
      let min = Infinity;
      let max = -Infinity;
      for (let r = 0; r < rows; r++) {
        const x = data[r]!;
        if (x < min) min = x;
        if (x > max) max = x;
      }
      if (rows > 0 && min > max) errors.add(`features[${i}]`, `"${c.name}" has no values (every row is NULL or NaN)`);
      columnsOut[c.name] = data;
      const input: NumericInput = { name: c.name, kind: 'numeric', min: min <= max ? min : 0, max: min <= max ? max : 0 };
      inputs.push(input);
      return;
    }
    const raw = codes[i]!;
    const data = raw.length === rows ? raw : raw.slice(0, rows);
    let vocabulary = given[i];
    if (!vocabulary) {
      const seen = firstSeen[i]!;
      const count = counts[i]!;
      vocabulary = byFrequencyThenValue(new Map(seen.map((v, code) => [v, count[code]!])));
      const remap = new Int32Array(seen.length);
      const finalCode = new Map(vocabulary.map((v, code) => [v, code]));
      seen.forEach((v, code) => (remap[code] = finalCode.get(v)!));
      for (let r = 0; r < rows; r++) {
        const code = data[r]!;
        if (code >= 0) data[r] = remap[code]!;
      }
    }
    columnsOut[c.name] = data;
    const input: CategoricalInput = { name: c.name, kind: 'categorical', vocabulary: [...vocabulary] };
    inputs.push(input);
  });
  errors.throwIfAny();

  const unseenOut: Record<string, number> = {};
  plan.forEach((c, i) => {
    if (given[i]) unseenOut[c.name] = unseen[i]!;
  });
  return {
    frame: { rows, columns: columnsOut },
    labels: labels.length === rows ? labels : labels.slice(0, rows),
    signature: { task, inputs, label: opts.label },
    unseen: unseenOut,
  };
}

function grow(a: Float64Array, capacity: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(capacity);
  b.set(a);
  return b;
}

function growInt(a: Int32Array, capacity: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(capacity);
  b.set(a);
  return b;
}

function planColumns(opts: LoadFrameOptions, types: Map<string, string>, path: string): ColumnPlan[] {
  const errors = new ValidationErrors();
  if (opts.features.length === 0) errors.add('features', 'must list at least one column');
  const seen = new Set<string>();
  opts.features.forEach((name, i) => {
    if (seen.has(name)) errors.add(`features[${i}]`, `"${name}" is listed twice`);
    seen.add(name);
    if (name === opts.label) errors.add(`features[${i}]`, `"${name}" is the label; it cannot be a feature too`);
  });
  const explicit = opts.categorical ? new Set(opts.categorical) : null;
  opts.categorical?.forEach((name, i) => {
    if (!seen.has(name)) errors.add(`categorical[${i}]`, `"${name}" is not one of the features`);
  });
  const plan: ColumnPlan[] = [];
  opts.features.forEach((name, i) => {
    const type = types.get(name);
    if (type === undefined) {
      errors.add(`features[${i}]`, `column "${name}" not found in ${path}`);
      return;
    }
    const categorical = explicit ? explicit.has(name) : DEFAULT_CATEGORICAL_TYPE.test(type);
    if (categorical && !CATEGORICAL_ABLE_TYPE.test(type)) {
      errors.add(`features[${i}]`, `"${name}" is ${type}, which cannot be categorical (use VARCHAR, BOOLEAN or an integer type)`);
    } else if (!categorical && !NUMERIC_TYPE.test(type)) {
      const hint = DEFAULT_CATEGORICAL_TYPE.test(type) ? '; list it in categorical' : '';
      errors.add(`features[${i}]`, `"${name}" is ${type}, not numeric${hint}`);
    }
    plan.push({ name, kind: categorical ? 'categorical' : 'numeric' });
  });
  for (const [name, vocab] of Object.entries(opts.vocabularies ?? {})) {
    const column = plan.find((c) => c.name === name);
    if (!column) errors.add(`vocabularies.${name}`, `"${name}" is not one of the features`);
    else if (column.kind !== 'categorical') errors.add(`vocabularies.${name}`, `"${name}" is numeric; only categorical features take a vocabulary`);
    else if (new Set(vocab).size !== vocab.length) errors.add(`vocabularies.${name}`, 'has duplicate values');
  }
  const labelType = types.get(opts.label);
  if (labelType === undefined) errors.add('label', `column "${opts.label}" not found in ${path}`);
  else if (labelType !== 'BOOLEAN' && !NUMERIC_TYPE.test(labelType)) {
    errors.add('label', `"${opts.label}" is ${labelType}; a label must be BOOLEAN or numeric`);
  }
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 0)) errors.add('limit', 'must be a non-negative integer');
  errors.throwIfAny();
  return plan;
}

/**
 * The columns of `frame` in `signature` input order, checked: each must exist with the right array
 * type (Float64Array for numeric, Int32Array for categorical) and length `frame.rows`. Throws
 * VALIDATION_FAILED naming every bad column.
 */
export function frameColumns(frame: Frame, signature: Signature): (Float64Array | Int32Array)[] {
  const errors = new ValidationErrors();
  const out = signature.inputs.map((input) => {
    const column = frame.columns[input.name];
    if (!column) {
      errors.add(`columns.${input.name}`, 'missing from the frame');
      return new Float64Array(0);
    }
    const expected = input.kind === 'numeric' ? Float64Array : Int32Array;
    if (!(column instanceof expected)) errors.add(`columns.${input.name}`, `expected ${expected.name} for a ${input.kind} input`);
    else if (column.length < frame.rows) errors.add(`columns.${input.name}`, `has ${column.length} values for ${frame.rows} rows`);
    return column;
  });
  errors.throwIfAny();
  return out;
}
