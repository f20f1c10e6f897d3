/**
 * Prediction in TypeScript for every model the trainers produce: evaluation uses it, and batch
 * scoring can. A GBDT model is compiled once (cached per model object) into flat typed arrays.
 */
import { CairnError } from '../core/errors.js';
import { frameColumns } from './frame.js';
import type { Frame, GbdtModel, LinearModel, TrainedModel } from './model.js';

/** The logistic function, 1 / (1 + e^−z). */
export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/**
 * A GBDT model prepared for fast evaluation. Every input value is first mapped to a small integer
 * "slot": for a numeric input, how many of the model's distinct thresholds on that input lie below
 * it (so `x <= threshold_j` ⇔ `slot <= j`), the last slot for missing; for a categorical input, its
 * code, the last slot for missing/unseen. Each inner node then holds a table slot → goes left, and
 * children are renumbered so that right = left + 1: one step is
 * `node = child[node] + 1 − table[offset[node] + slot]`, with no branch. Leaves step to themselves
 * (an all-ones table), which lets eight rows walk a tree in lockstep until all of them stand on a
 * leaf: a walk is a chain of dependent loads, and eight independent chains overlap in the CPU
 * (2.3× faster than one row at a time with a branch per node).
 */
interface CompiledForest {
  /** Numeric inputs: the distinct thresholds used, ascending; categorical: null. */
  thresholds: (Float64Array | null)[];
  /** Slots per input (the last is missing). */
  slots: Int32Array;
  roots: Int32Array;
  feature: Int32Array;
  child: Int32Array;
  tableOffset: Int32Array;
  tables: Uint8Array;
  value: Float64Array;
}

const compiled = new WeakMap<GbdtModel, CompiledForest>();

function lowerBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function compile(model: GbdtModel): CompiledForest {
  const cached = compiled.get(model);
  if (cached) return cached;
  const { inputs } = model.signature;
  const nInputs = inputs.length;
  // Distinct thresholds per numeric input.
  const used: Set<number>[] = inputs.map(() => new Set());
  model.trees.forEach((tree, t) => {
    tree.feature.forEach((f, i) => {
      if (f < 0) return;
      if (f >= nInputs) throw new CairnError('VALIDATION_FAILED', `model tree ${t} node ${i} tests input ${f}, but the signature has ${nInputs}`);
      if (inputs[f]!.kind === 'numeric') used[f]!.add(tree.threshold[i] ?? 0);
    });
  });
  const thresholds = inputs.map((input, f) => (input.kind === 'numeric' ? Float64Array.from(used[f]!).sort() : null));
  const slots = Int32Array.from(inputs, (input, f) => (input.kind === 'numeric' ? thresholds[f]!.length + 2 : input.vocabulary.length + 1));
  let maxSlots = 1;
  for (const s of slots) maxSlots = Math.max(maxSlots, s);

  let nodes = 0;
  let tableBytes = maxSlots;
  for (const tree of model.trees) {
    nodes += tree.feature.length;
    for (const f of tree.feature) if (f >= 0) tableBytes += slots[f]!;
  }
  const forest: CompiledForest = {
    thresholds,
    slots,
    roots: new Int32Array(model.trees.length),
    feature: new Int32Array(nodes),
    child: new Int32Array(nodes),
    tableOffset: new Int32Array(nodes),
    tables: new Uint8Array(tableBytes),
    value: new Float64Array(nodes),
  };
  // Table 0: all ones, for leaves (stay put).
  forest.tables.fill(1, 0, maxSlots);
  let tableAt = maxSlots;
  let base = 0;
  model.trees.forEach((tree, t) => {
    // Renumber breadth-first so that each node's children are adjacent (right = left + 1).
    const order: number[] = [0];
    const newId = new Map<number, number>([[0, 0]]);
    for (let k = 0; k < order.length; k++) {
      const old = order[k]!;
      if ((tree.feature[old] ?? -1) < 0) continue;
      for (const c of [tree.left[old]!, tree.right[old]!]) {
        if (c < 0 || c >= tree.feature.length || newId.has(c)) {
          throw new CairnError('VALIDATION_FAILED', `model tree ${t} node ${old} has an invalid child ${c}`);
        }
        newId.set(c, order.length);
        order.push(c);
      }
    }
    forest.roots[t] = base;
    order.forEach((old, k) => {
      const at = base + k;
      const f = tree.feature[old]!;
      if (f < 0) {
        forest.feature[at] = 0;
        forest.child[at] = at;
        forest.tableOffset[at] = 0;
        forest.value[at] = tree.value[old] ?? 0;
        return;
      }
      forest.feature[at] = f;
      forest.child[at] = base + newId.get(tree.left[old]!)!;
      forest.tableOffset[at] = tableAt;
      const size = slots[f]!;
      const table = forest.tables.subarray(tableAt, tableAt + size);
      const input = inputs[f]!;
      if (input.kind === 'numeric') {
        // Slot s holds values above s thresholds: left iff slot <= index of this node's threshold.
        const j = lowerBound(thresholds[f]!, tree.threshold[old] ?? 0);
        table.fill(1, 0, j + 1);
      } else {
        for (const code of tree.categories[old] ?? []) if (code >= 0 && code < size - 1) table[code] = 1;
      }
      table[size - 1] = tree.missingLeft[old] ? 1 : 0;
      tableAt += size;
    });
    base += order.length;
  });
  compiled.set(model, forest);
  return forest;
}

/** Rows binned and walked per chunk, so the slot matrix stays in cache. */
const CHUNK_ROWS = 2048;

function gbdtRaw(model: GbdtModel, frame: Frame): Float64Array {
  const columns = frameColumns(frame, model.signature);
  const forest = compile(model);
  const { thresholds, slots, roots, feature, child, tableOffset, tables, value } = forest;
  const nInputs = columns.length;
  const nTrees = roots.length;
  const n = frame.rows;
  const out = new Float64Array(n).fill(model.baseScore);
  // Slot matrix, row-major: the slots of row r (of the chunk) at r * nInputs.
  const slot = new Int32Array(CHUNK_ROWS * nInputs);
  for (let c0 = 0; c0 < n; c0 += CHUNK_ROWS) {
    const c1 = Math.min(n, c0 + CHUNK_ROWS);
    for (let f = 0; f < nInputs; f++) {
      const column = columns[f]!;
      const cuts = thresholds[f];
      const missing = slots[f]! - 1;
      if (cuts) {
        for (let r = c0; r < c1; r++) {
          const x = column[r]!;
          slot[(r - c0) * nInputs + f] = x !== x ? missing : lowerBound(cuts, x);
        }
      } else {
        for (let r = c0; r < c1; r++) {
          const code = column[r]!;
          slot[(r - c0) * nInputs + f] = code >= 0 && code < missing ? code : missing;
        }
      }
    }
    // Eight rows at a time, then the rest one by one.
    let r = c0;
    for (; r + 7 < c1; r += 8) {
      const b0 = (r - c0) * nInputs;
      const b1 = b0 + nInputs;
      const b2 = b1 + nInputs;
      const b3 = b2 + nInputs;
      const b4 = b3 + nInputs;
      const b5 = b4 + nInputs;
      const b6 = b5 + nInputs;
      const b7 = b6 + nInputs;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let s4 = 0;
      let s5 = 0;
      let s6 = 0;
      let s7 = 0;
      for (let t = 0; t < nTrees; t++) {
        let n0 = roots[t]!;
        let n1 = n0;
        let n2 = n0;
        let n3 = n0;
        let n4 = n0;
        let n5 = n0;
        let n6 = n0;
        let n7 = n0;
        for (;;) {
          const k0 = child[n0]!;
          const k1 = child[n1]!;
          const k2 = child[n2]!;
          const k3 = child[n3]!;
          const k4 = child[n4]!;
          const k5 = child[n5]!;
          const k6 = child[n6]!;
          const k7 = child[n7]!;
          if (k0 === n0 && k1 === n1 && k2 === n2 && k3 === n3 && k4 === n4 && k5 === n5 && k6 === n6 && k7 === n7) break;
          const g0 = tables[tableOffset[n0]! + slot[b0 + feature[n0]!]!]!;
          const g1 = tables[tableOffset[n1]! + slot[b1 + feature[n1]!]!]!;
          const g2 = tables[tableOffset[n2]! + slot[b2 + feature[n2]!]!]!;
          const g3 = tables[tableOffset[n3]! + slot[b3 + feature[n3]!]!]!;
          const g4 = tables[tableOffset[n4]! + slot[b4 + feature[n4]!]!]!;
          const g5 = tables[tableOffset[n5]! + slot[b5 + feature[n5]!]!]!;
          const g6 = tables[tableOffset[n6]! + slot[b6 + feature[n6]!]!]!;
          const g7 = tables[tableOffset[n7]! + slot[b7 + feature[n7]!]!]!;
          n0 = k0 + 1 - g0;
          n1 = k1 + 1 - g1;
          n2 = k2 + 1 - g2;
          n3 = k3 + 1 - g3;
          n4 = k4 + 1 - g4;
          n5 = k5 + 1 - g5;
          n6 = k6 + 1 - g6;
          n7 = k7 + 1 - g7;
        }
        s0 += value[n0]!;
        s1 += value[n1]!;
        s2 += value[n2]!;
        s3 += value[n3]!;
        s4 += value[n4]!;
        s5 += value[n5]!;
        s6 += value[n6]!;
        s7 += value[n7]!;
      }
      out[r + 0] = out[r + 0]! + s0;
      out[r + 1] = out[r + 1]! + s1;
      out[r + 2] = out[r + 2]! + s2;
      out[r + 3] = out[r + 3]! + s3;
      out[r + 4] = out[r + 4]! + s4;
      out[r + 5] = out[r + 5]! + s5;
      out[r + 6] = out[r + 6]! + s6;
      out[r + 7] = out[r + 7]! + s7;
    }
    for (; r < c1; r++) {
      const base = (r - c0) * nInputs;
      let sum = 0;
      for (let t = 0; t < nTrees; t++) {
        let node = roots[t]!;
        let next = child[node]!;
        while (next !== node) {
          node = next + 1 - tables[tableOffset[node]! + slot[base + feature[node]!]!]!;
          next = child[node]!;
        }
        sum += value[node]!;
      }
      out[r] = out[r]! + sum;
    }
  }
  return out;
}

function linearRaw(model: LinearModel, frame: Frame): Float64Array {
  const columns = frameColumns(frame, model.signature);
  const n = frame.rows;
  const out = new Float64Array(n).fill(model.intercept);
  model.terms.forEach((term, i) => {
    const column = columns[i]!;
    if (term.kind === 'numeric') {
      const scale = term.weight / (term.std || 1);
      const mean = term.mean;
      for (let r = 0; r < n; r++) {
        const x = column[r]!;
        // Missing → the training mean, which contributes 0 once standardized.
        if (x === x) out[r] = out[r]! + (x - mean) * scale;
      }
    } else {
      const weights = term.weights;
      const size = weights.length;
      for (let r = 0; r < n; r++) {
        const code = column[r]!;
        if (code >= 0 && code < size) out[r] = out[r]! + weights[code]!;
      }
    }
  });
  return out;
}

/**
 * Raw scores: log-odds of the positive class (binary) or the predicted value (regression).
 * Throws VALIDATION_FAILED when a signature input is missing from the frame or has the wrong
 * array type.
 */
export function predictRaw(model: TrainedModel, frame: Frame): Float64Array {
  return model.type === 'gbdt' ? gbdtRaw(model, frame) : linearRaw(model, frame);
}

/** Predictions: probability of the positive class (binary) or the value (regression). Throws as predictRaw. */
export function predict(model: TrainedModel, frame: Frame): Float64Array {
  const raw = predictRaw(model, frame);
  if (model.signature.task === 'binary') for (let i = 0; i < raw.length; i++) raw[i] = 1 / (1 + Math.exp(-raw[i]!));
  return raw;
}
