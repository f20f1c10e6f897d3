/**
 * A profile of a training frame: the reference that monitoring compares live traffic against for
 * drift. Plain JSON (no NaN: statistics of an empty column are null), deterministic for a given
 * frame.
 */
import { frameColumns } from './frame.js';
import type { Frame, Signature, Task } from './model.js';

/** Probabilities of the numeric quantiles: min, deciles, max. */
export const PROFILE_QUANTILES: readonly number[] = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
/** Equal-width bins of a numeric histogram, between the column's min and max. */
export const PROFILE_HISTOGRAM_BINS = 20;
/** Categories listed by name; the rest are counted together as "other". */
export const PROFILE_TOP_CATEGORIES = 100;

export interface NumericStats {
  /** Rows with a value. */
  count: number;
  /** Rows without (NULL/NaN). */
  missing: number;
  mean: number | null;
  /** Population standard deviation (ddof 0). */
  std: number | null;
  min: number | null;
  max: number | null;
  /** At PROFILE_QUANTILES, interpolated linearly between order statistics (numpy's default). */
  quantiles: { p: number; value: number }[];
  /**
   * PROFILE_HISTOGRAM_BINS equal-width bins: bin i covers [edges[i], edges[i+1]), the last one
   * includes max. Empty when there are no values.
   */
  histogram: { edges: number[]; counts: number[] };
}

export interface NumericProfile extends NumericStats {
  name: string;
  kind: 'numeric';
}

export interface CategoricalProfile {
  name: string;
  kind: 'categorical';
  count: number;
  /** Rows with no category or one outside the vocabulary. */
  missing: number;
  /** Distinct categories present. */
  distinct: number;
  /** The most frequent categories (at most PROFILE_TOP_CATEGORIES), by count descending, then value. */
  categories: { value: string; count: number }[];
  /** Rows in a category not listed in `categories`. */
  otherCount: number;
}

export type InputProfile = NumericProfile | CategoricalProfile;

export type LabelProfile =
  | { name: string; task: 'binary'; count: number; positives: number; negatives: number; positiveRate: number | null }
  | ({ name: string; task: 'regression' } & NumericStats);

export interface DataProfile {
  rows: number;
  /** One per signature input, in signature order. */
  inputs: InputProfile[];
  /** The label's distribution, when labels were given. */
  label: LabelProfile | null;
}

/** Statistics of the non-missing values among column[0..rows). */
export function numericStats(column: ArrayLike<number>, rows: number): NumericStats {
  const values = new Float64Array(rows);
  let count = 0;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const x = column[r]!;
    if (x === x) {
      values[count++] = x;
      sum += x;
    }
  }
  const missing = rows - count;
  if (count === 0) return { count, missing, mean: null, std: null, min: null, max: null, quantiles: [], histogram: { edges: [], counts: [] } };
  const sorted = values.subarray(0, count).sort();
  const mean = sum / count;
  let squares = 0;
  for (let i = 0; i < count; i++) {
    const d = sorted[i]! - mean;
    squares += d * d;
  }
  const min = sorted[0]!;
  const max = sorted[count - 1]!;
  const quantiles = PROFILE_QUANTILES.map((p) => {
    const position = p * (count - 1);
    const lo = Math.floor(position);
    const hi = Math.min(lo + 1, count - 1);
    const value = sorted[lo]! + (position - lo) * (sorted[hi]! - sorted[lo]!);
    return { p, value };
  });
  const bins = PROFILE_HISTOGRAM_BINS;
  const width = (max - min) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? max : min + i * width));
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < count; i++) {
    const x = sorted[i]!;
    const bin = width > 0 ? Math.min(bins - 1, Math.floor((x - min) / width)) : 0;
    counts[bin]!++;
  }
  return { count, missing, mean, std: Math.sqrt(squares / count), min, max, quantiles, histogram: { edges, counts } };
}

function categoricalProfile(name: string, codes: Int32Array, rows: number, vocabulary: string[]): CategoricalProfile {
  const counts = new Float64Array(vocabulary.length);
  let missing = 0;
  for (let r = 0; r < rows; r++) {
    const code = codes[r]!;
    if (code >= 0 && code < vocabulary.length) counts[code] = counts[code]! + 1;
    else missing++;
  }
  const present: { value: string; count: number }[] = [];
  counts.forEach((count, code) => {
    if (count > 0) present.push({ value: vocabulary[code]!, count });
  });
  present.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const categories = present.slice(0, PROFILE_TOP_CATEGORIES);
  const listed = categories.reduce((s, c) => s + c.count, 0);
  return { name, kind: 'categorical', count: rows - missing, missing, distinct: present.length, categories, otherCount: rows - missing - listed };
}

function labelProfile(name: string, task: Task, labels: Float64Array, rows: number): LabelProfile {
  if (task === 'regression') return { name, task, ...numericStats(labels, rows) };
  let positives = 0;
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const y = labels[r]!;
    if (y !== y) continue;
    count++;
    if (y > 0.5) positives++;
  }
  return { name, task, count, positives, negatives: count - positives, positiveRate: count > 0 ? positives / count : null };
}

/**
 * Profiles `frame` (its columns must match `signature`, as a loaded or training frame does) and,
 * when given, its labels. Throws VALIDATION_FAILED when a signature input is missing from the frame
 * or has the wrong array type.
 */
export function profileFrame(frame: Frame, signature: Signature, labels?: Float64Array): DataProfile {
  const columns = frameColumns(frame, signature);
  const rows = frame.rows;
  const inputs = signature.inputs.map((input, i): InputProfile => {
    const column = columns[i]!;
    if (input.kind === 'numeric') return { name: input.name, kind: 'numeric', ...numericStats(column, rows) };
    return categoricalProfile(input.name, column as Int32Array, rows, input.vocabulary);
  });
  return { rows, inputs, label: labels ? labelProfile(signature.label, signature.task, labels, rows) : null };
}
