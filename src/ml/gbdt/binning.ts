/**
 * Binning: every input becomes one byte per row. Numeric inputs get quantile bins (as scikit-learn's
 * HistGradientBoosting: midpoints between distinct values when there are few, else midpoint
 * percentiles of a sample); categorical inputs get one bin per category (the rarest share an
 * "other" bin when there are more categories than bins). Bin 255 holds missing values.
 */
import type { Signature } from '../model.js';
import type { Rng } from './random.js';

/** The bin of missing values (NaN, code -1 or a code outside the vocabulary). */
export const MISSING_BIN = 255;
/** Bins per feature in a histogram: up to 255 value bins and the missing bin. */
export const BINS_PER_FEATURE = 256;
/** Rows used to find numeric bin edges, as sklearn's `subsample` (2e5). */
export const BINNING_SAMPLE = 200_000;

export interface NumericBins {
  kind: 'numeric';
  /** Non-missing bins. */
  nBins: number;
  /**
   * Upper edges of bins 0..nBins-2: a value goes to the first bin whose edge is >= it, the last
   * bin takes everything above. A split "bin <= b" is therefore "x <= edges[b]" on raw values.
   */
  edges: Float64Array;
}

export interface CategoricalBins {
  kind: 'categorical';
  nBins: number;
  /** Bin of each vocabulary code. */
  codeToBin: Uint8Array;
  /** Vocabulary codes in each bin (one code per bin, except an "other" bin). */
  binCodes: number[][];
}

export type FeatureBins = NumericBins | CategoricalBins;

/** Column data in signature order: Float64Array (numeric) or Int32Array (categorical codes). */
export type Columns = (Float64Array | Int32Array)[];

/**
 * Finds bin edges for every input from the training columns (`rows` rows); deterministic for a
 * given `rng` state. `maxBins` (2..255) bounds the value bins per input.
 */
export function fitBins(columns: Columns, signature: Signature, rows: number, maxBins: number, rng: Rng): FeatureBins[] {
  const sample = rows > BINNING_SAMPLE ? rng.sample(rows, BINNING_SAMPLE) : null;
  return signature.inputs.map((input, f) => {
    const column = columns[f]!;
    if (input.kind === 'numeric') return fitNumeric(column as Float64Array, rows, sample, maxBins);
    return fitCategorical(column as Int32Array, rows, input.vocabulary.length, maxBins);
  });
}

function fitNumeric(column: Float64Array, rows: number, sample: Int32Array | null, maxBins: number): NumericBins {
  const n = sample ? sample.length : rows;
  const values = new Float64Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const x = column[sample ? sample[i]! : i]!;
    if (x === x) values[m++] = x;
  }
  const sorted = values.subarray(0, m).sort();
  if (m === 0) return { kind: 'numeric', nBins: 1, edges: new Float64Array(0) };
  let distinct = 1;
  for (let i = 1; i < m; i++) if (sorted[i] !== sorted[i - 1]) distinct++;
  let edges: number[] = [];
  if (distinct <= maxBins) {
    let previous = sorted[0]!;
    for (let i = 1; i < m; i++) {
      const x = sorted[i]!;
      if (x !== previous) {
        edges.push(midpoint(previous, x));
        previous = x;
      }
    }
  } else {
    // numpy.percentile(values, linspace(0, 100, maxBins + 1)[1:-1], method='midpoint'), deduplicated.
    for (let k = 1; k < maxBins; k++) {
      const position = (k / maxBins) * (m - 1);
      const lo = Math.floor(position);
      const hi = Math.ceil(position);
      edges.push(position === lo ? sorted[lo]! : midpoint(sorted[lo]!, sorted[hi]!));
    }
    edges = edges.filter((e, i) => i === 0 || e !== edges[i - 1]);
  }
  return { kind: 'numeric', nBins: edges.length + 1, edges: Float64Array.from(edges, (e) => e + 0) };
}

/** Halfway between a and b, never rounding outside [a, b]. */
function midpoint(a: number, b: number): number {
  const mid = a + (b - a) / 2;
  return mid < a ? a : mid > b ? b : mid;
}

function fitCategorical(column: Int32Array, rows: number, vocabularySize: number, maxBins: number): CategoricalBins {
  const codeToBin = new Uint8Array(vocabularySize);
  if (vocabularySize <= maxBins) {
    const binCodes: number[][] = [];
    for (let code = 0; code < vocabularySize; code++) {
      codeToBin[code] = code;
      binCodes.push([code]);
    }
    return { kind: 'categorical', nBins: Math.max(vocabularySize, 1), codeToBin, binCodes: vocabularySize > 0 ? binCodes : [[]] };
  }
  // More categories than bins: the most frequent maxBins-1 get a bin each, the rest share the last.
  const counts = new Float64Array(vocabularySize);
  for (let r = 0; r < rows; r++) {
    const code = column[r]!;
    if (code >= 0 && code < vocabularySize) counts[code] = counts[code]! + 1;
  }
  const order = Array.from({ length: vocabularySize }, (_, code) => code).sort((a, b) => counts[b]! - counts[a]! || a - b);
  const other = maxBins - 1;
  const binCodes: number[][] = Array.from({ length: maxBins }, () => []);
  order.forEach((code, rank) => {
    const bin = Math.min(rank, other);
    codeToBin[code] = bin;
    binCodes[bin]!.push(code);
  });
  binCodes[other]!.sort((a, b) => a - b);
  return { kind: 'categorical', nBins: maxBins, codeToBin, binCodes };
}

/** The bin of a numeric value: the first edge >= x (binary search), MISSING_BIN for NaN. */
export function numericBin(edges: Float64Array, x: number): number {
  if (x !== x) return MISSING_BIN;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Bins `rows` rows of every column into one column-major Uint8Array (feature f of row r at
 * f * rows + r), `out` when given (it must hold rows × inputs bytes).
 */
export function applyBins(columns: Columns, bins: FeatureBins[], rows: number, out: Uint8Array = new Uint8Array(rows * bins.length)): Uint8Array {
  bins.forEach((spec, f) => {
    const base = f * rows;
    const column = columns[f]!;
    if (spec.kind === 'numeric') {
      const values = column as Float64Array;
      const edges = spec.edges;
      for (let r = 0; r < rows; r++) out[base + r] = numericBin(edges, values[r]!);
    } else {
      const codes = column as Int32Array;
      const map = spec.codeToBin;
      const size = map.length;
      for (let r = 0; r < rows; r++) {
        const code = codes[r]!;
        out[base + r] = code >= 0 && code < size ? map[code]! : MISSING_BIN;
      }
    }
  });
  return out;
}
