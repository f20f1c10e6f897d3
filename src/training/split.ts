import { seededRandom } from '../core/random.js';
import type { Frame } from '../ml/index.js';

/** A frame with its labels; what training and evaluation consume. */
export interface LabelledFrame {
  frame: Frame;
  labels: Float64Array;
}

/** Rows `indices` of a frame, in that order. */
export function takeRows(data: LabelledFrame, indices: Uint32Array): LabelledFrame {
  const columns: Frame['columns'] = {};
  for (const [name, column] of Object.entries(data.frame.columns)) {
    const out = column instanceof Float64Array ? new Float64Array(indices.length) : new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) out[i] = column[indices[i]!]!;
    columns[name] = out;
  }
  const labels = new Float64Array(indices.length);
  for (let i = 0; i < indices.length; i++) labels[i] = data.labels[indices[i]!]!;
  return { frame: { rows: indices.length, columns }, labels };
}


/**
 * Holds out a random `fraction` of the rows for validation (seeded Fisher–Yates), keeping each
 * part in the original row order. Both parts get at least one row.
 */
export function holdOut(data: LabelledFrame, fraction: number, seed: number): { train: LabelledFrame; valid: LabelledFrame } {
  const n = data.frame.rows;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const next = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const validCount = Math.min(Math.max(Math.round(n * fraction), 1), n - 1);
  const valid = order.slice(0, validCount).sort();
  const train = order.slice(validCount).sort();
  return { train: takeRows(data, train), valid: takeRows(data, valid) };
}
