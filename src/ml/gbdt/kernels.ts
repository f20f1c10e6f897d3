/**
 * The hot loops of training: gradients, gradient histograms, row partitioning and raw-score
 * updates. They take typed arrays only and allocate nothing.
 *
 * Each kernel is self-contained — it references nothing but its parameters (constants are written
 * out) — because the helper thread (see lanes.ts) runs the very same code, built from the
 * functions' source text. Keep it that way: no imports, module constants or nested functions here.
 *
 * Layouts:
 * - bins: one Uint8Array, column-major: feature f of row r at f * n + r; bin 255 = missing.
 * - histograms: per feature 256 bins × [gradient sum, hessian sum, count] = 768 doubles, feature f
 *   at offset f * 768. With a constant hessian the hessian sums stay 0 and counts stand in.
 * - `pair`: scratch of 2 × 768 doubles, zero on entry and exit. The histogram loops alternate rows
 *   between its two halves and sum them into the output at the end, so that consecutive rows in
 *   the same bin do not wait on each other's store — twice the throughput on low-cardinality or
 *   sorted features.
 *
 * The loops are unrolled by hand with every load of a group ahead of its stores: V8 does not
 * reorder typed-array loads past stores, and grouping them lets the CPU overlap the cache misses
 * (1.5–2× on the partition, ~20% on histograms, measured on Node 20).
 */

/**
 * Logistic-loss gradients and hessians for rows start..end-1: p = sigmoid(raw), g = p − y,
 * h = max(p(1 − p), 1e-16). e^z comes from `expTable` (e^(i/16 − 64), i = 0..2048) times a
 * degree-6 Taylor polynomial on the remaining [0, 1/16): relative error < 1e-12, far below the
 * float32 the gradients are stored in, and about twice as fast as Math.exp in the loop.
 * With `withLoss` = 1 it also writes the summed log loss of these rows at the current scores into
 * loss[slot] (paid only when someone asks for the training loss).
 */
export function kernelLogisticGradients(
  raw: Float64Array,
  y: Float64Array,
  grad: Float32Array,
  hess: Float32Array,
  expTable: Float64Array,
  loss: Float64Array,
  slot: number,
  withLoss: number,
  start: number,
  end: number,
): void {
  let sum = 0;
  for (let r = start; r < end; r++) {
    const z = raw[r]!;
    // t >= 64, so truncation is floor; an int32 index keeps V8 on its fast typed-array path.
    const t = Math.min(Math.max(-z, -60), 60) * 16 + 1024;
    const k = t | 0;
    const f = (t - k) * 0.0625;
    const e =
      expTable[k]! *
      (1 + f * (1 + f * (0.5 + f * (0.16666666666666666 + f * (0.041666666666666664 + f * (0.008333333333333333 + f * 0.001388888888888889))))));
    const p = 1 / (1 + e);
    grad[r] = p - y[r]!;
    hess[r] = Math.max(p * (1 - p), 1e-16);
    if (withLoss === 1) {
      // log(1 + e^−|z|) + max(z, 0) − y·z, stable for any z (e = e^−z, clamped far out).
      // log1p(a) for a in (0, 1] = 2·atanh(s), s = a / (2 + a) <= 1/3: the odd series to s^11
      // is within 1e-7 of it (a logged metric needs no more) and far cheaper than Math.log1p.
      const a = z >= 0 ? e : 1 / e;
      const s = a / (2 + a);
      const s2 = s * s;
      const s4 = s2 * s2;
      const log1p = 2 * s * (1 + s2 * (1 / 3) + s4 * (1 / 5 + s2 * (1 / 7)) + s4 * s4 * (1 / 9 + s2 * (1 / 11)));
      sum += log1p + (z > 0 ? z : 0) - y[r]! * z;
    }
  }
  if (withLoss === 1) loss[slot] = sum;
}

/**
 * Squared-error gradients for rows start..end-1: g = raw − y (the hessian is the constant 1);
 * with `withLoss` = 1 the sum of squared errors into loss[slot].
 */
export function kernelSquaredGradients(
  raw: Float64Array,
  y: Float64Array,
  grad: Float32Array,
  loss: Float64Array,
  slot: number,
  withLoss: number,
  start: number,
  end: number,
): void {
  let sum = 0;
  for (let r = start; r < end; r++) {
    const d = raw[r]! - y[r]!;
    grad[r] = d;
    sum += d * d;
  }
  if (withLoss === 1) loss[slot] = sum;
}

/**
 * Histogram of rows start..end-1 (all of them, no index) over the active features, written into
 * `out` (each active feature's section is overwritten).
 */
export function kernelHistogramRange(
  out: Float64Array,
  bins: Uint8Array,
  n: number,
  features: Int32Array,
  nActive: number,
  grad: Float32Array,
  hess: Float32Array,
  constantHessian: number,
  start: number,
  end: number,
  pair: Float64Array,
): void {
  for (let j = 0; j < nActive; j++) {
    const f = features[j]!;
    const col = f * n;
    let r = start;
    // Four rows per step, loads before updates (the CPU overlaps them); rows alternate halves.
    if (constantHessian === 1) {
      for (; r + 3 < end; r += 4) {
        const a = bins[col + r]! * 3;
        const b = 768 + bins[col + r + 1]! * 3;
        const c = bins[col + r + 2]! * 3;
        const d = 768 + bins[col + r + 3]! * 3;
        const ga = grad[r]!;
        const gb = grad[r + 1]!;
        const gc = grad[r + 2]!;
        const gd = grad[r + 3]!;
        pair[a] = pair[a]! + ga;
        pair[a + 2] = pair[a + 2]! + 1;
        pair[b] = pair[b]! + gb;
        pair[b + 2] = pair[b + 2]! + 1;
        pair[c] = pair[c]! + gc;
        pair[c + 2] = pair[c + 2]! + 1;
        pair[d] = pair[d]! + gd;
        pair[d + 2] = pair[d + 2]! + 1;
      }
      for (; r < end; r++) {
        const a = bins[col + r]! * 3;
        pair[a] = pair[a]! + grad[r]!;
        pair[a + 2] = pair[a + 2]! + 1;
      }
    } else {
      for (; r + 3 < end; r += 4) {
        const a = bins[col + r]! * 3;
        const b = 768 + bins[col + r + 1]! * 3;
        const c = bins[col + r + 2]! * 3;
        const d = 768 + bins[col + r + 3]! * 3;
        const ga = grad[r]!;
        const gb = grad[r + 1]!;
        const gc = grad[r + 2]!;
        const gd = grad[r + 3]!;
        const ha = hess[r]!;
        const hb = hess[r + 1]!;
        const hc = hess[r + 2]!;
        const hd = hess[r + 3]!;
        pair[a] = pair[a]! + ga;
        pair[a + 1] = pair[a + 1]! + ha;
        pair[a + 2] = pair[a + 2]! + 1;
        pair[b] = pair[b]! + gb;
        pair[b + 1] = pair[b + 1]! + hb;
        pair[b + 2] = pair[b + 2]! + 1;
        pair[c] = pair[c]! + gc;
        pair[c + 1] = pair[c + 1]! + hc;
        pair[c + 2] = pair[c + 2]! + 1;
        pair[d] = pair[d]! + gd;
        pair[d + 1] = pair[d + 1]! + hd;
        pair[d + 2] = pair[d + 2]! + 1;
      }
      for (; r < end; r++) {
        const a = bins[col + r]! * 3;
        pair[a] = pair[a]! + grad[r]!;
        pair[a + 1] = pair[a + 1]! + hess[r]!;
        pair[a + 2] = pair[a + 2]! + 1;
      }
    }
    const off = f * 768;
    for (let i = 0; i < 768; i++) {
      out[off + i] = pair[i]! + pair[768 + i]!;
      pair[i] = 0;
      pair[768 + i] = 0;
    }
  }
}

/**
 * Gathers the gradients (and hessians) of rows idx[start..end) into og/oh at the same positions,
 * so that each feature's histogram pass reads them sequentially.
 */
export function kernelGather(
  idx: Uint32Array,
  grad: Float32Array,
  hess: Float32Array,
  og: Float32Array,
  oh: Float32Array,
  constantHessian: number,
  start: number,
  end: number,
): void {
  if (constantHessian === 1) {
    for (let i = start; i < end; i++) og[i] = grad[idx[i]!]!;
  } else {
    let i = start;
    for (; i + 3 < end; i += 4) {
      const r0 = idx[i]!;
      const r1 = idx[i + 1]!;
      const r2 = idx[i + 2]!;
      const r3 = idx[i + 3]!;
      const g0 = grad[r0]!;
      const g1 = grad[r1]!;
      const g2 = grad[r2]!;
      const g3 = grad[r3]!;
      const h0 = hess[r0]!;
      const h1 = hess[r1]!;
      const h2 = hess[r2]!;
      const h3 = hess[r3]!;
      og[i] = g0;
      og[i + 1] = g1;
      og[i + 2] = g2;
      og[i + 3] = g3;
      oh[i] = h0;
      oh[i + 1] = h1;
      oh[i + 2] = h2;
      oh[i + 3] = h3;
    }
    for (; i < end; i++) {
      const r = idx[i]!;
      og[i] = grad[r]!;
      oh[i] = hess[r]!;
    }
  }
}

/**
 * Histogram of the rows idx[start..end) over features[jStart..jEnd), written into `out` (each of
 * those features' sections is overwritten). Reads the gradients gathered by kernelGather.
 */
export function kernelHistogramIndexed(
  out: Float64Array,
  bins: Uint8Array,
  n: number,
  features: Int32Array,
  jStart: number,
  jEnd: number,
  idx: Uint32Array,
  og: Float32Array,
  oh: Float32Array,
  constantHessian: number,
  start: number,
  end: number,
  pair: Float64Array,
): void {
  for (let j = jStart; j < jEnd; j++) {
    const f = features[j]!;
    const col = f * n;
    let i = start;
    if (constantHessian === 1) {
      for (; i + 3 < end; i += 4) {
        const a = bins[col + idx[i]!]! * 3;
        const b = 768 + bins[col + idx[i + 1]!]! * 3;
        const c = bins[col + idx[i + 2]!]! * 3;
        const d = 768 + bins[col + idx[i + 3]!]! * 3;
        const ga = og[i]!;
        const gb = og[i + 1]!;
        const gc = og[i + 2]!;
        const gd = og[i + 3]!;
        pair[a] = pair[a]! + ga;
        pair[a + 2] = pair[a + 2]! + 1;
        pair[b] = pair[b]! + gb;
        pair[b + 2] = pair[b + 2]! + 1;
        pair[c] = pair[c]! + gc;
        pair[c + 2] = pair[c + 2]! + 1;
        pair[d] = pair[d]! + gd;
        pair[d + 2] = pair[d + 2]! + 1;
      }
      for (; i < end; i++) {
        const a = bins[col + idx[i]!]! * 3;
        pair[a] = pair[a]! + og[i]!;
        pair[a + 2] = pair[a + 2]! + 1;
      }
    } else {
      for (; i + 3 < end; i += 4) {
        const a = bins[col + idx[i]!]! * 3;
        const b = 768 + bins[col + idx[i + 1]!]! * 3;
        const c = bins[col + idx[i + 2]!]! * 3;
        const d = 768 + bins[col + idx[i + 3]!]! * 3;
        const ga = og[i]!;
        const gb = og[i + 1]!;
        const gc = og[i + 2]!;
        const gd = og[i + 3]!;
        const ha = oh[i]!;
        const hb = oh[i + 1]!;
        const hc = oh[i + 2]!;
        const hd = oh[i + 3]!;
        pair[a] = pair[a]! + ga;
        pair[a + 1] = pair[a + 1]! + ha;
        pair[a + 2] = pair[a + 2]! + 1;
        pair[b] = pair[b]! + gb;
        pair[b + 1] = pair[b + 1]! + hb;
        pair[b + 2] = pair[b + 2]! + 1;
        pair[c] = pair[c]! + gc;
        pair[c + 1] = pair[c + 1]! + hc;
        pair[c + 2] = pair[c + 2]! + 1;
        pair[d] = pair[d]! + gd;
        pair[d + 1] = pair[d + 1]! + hd;
        pair[d + 2] = pair[d + 2]! + 1;
      }
      for (; i < end; i++) {
        const a = bins[col + idx[i]!]! * 3;
        pair[a] = pair[a]! + og[i]!;
        pair[a + 1] = pair[a + 1]! + oh[i]!;
        pair[a + 2] = pair[a + 2]! + 1;
      }
    }
    const off = f * 768;
    for (let k = 0; k < 768; k++) {
      out[off + k] = pair[k]! + pair[768 + k]!;
      pair[k] = 0;
      pair[768 + k] = 0;
    }
  }
}

/**
 * Stable partition of idx[start..end) by one feature: rows whose bin `table` marks 1 move to the
 * front, the others after them, both in their original order (via tmp at the same positions).
 * Branch-free — each row is written to the next slot of both groups and one cursor advances — and
 * eight rows per step with their loads ahead of the stores. Returns the number of rows that went
 * left.
 */
export function kernelPartition(
  idx: Uint32Array,
  tmp: Uint32Array,
  bins: Uint8Array,
  n: number,
  feature: number,
  table: Uint8Array,
  start: number,
  end: number,
): number {
  const col = feature * n;
  let l = start;
  let k = start;
  let i = start;
  for (; i + 7 < end; i += 8) {
    const r0 = idx[i]!;
    const r1 = idx[i + 1]!;
    const r2 = idx[i + 2]!;
    const r3 = idx[i + 3]!;
    const r4 = idx[i + 4]!;
    const r5 = idx[i + 5]!;
    const r6 = idx[i + 6]!;
    const r7 = idx[i + 7]!;
    const g0 = table[bins[col + r0]!]!;
    const g1 = table[bins[col + r1]!]!;
    const g2 = table[bins[col + r2]!]!;
    const g3 = table[bins[col + r3]!]!;
    const g4 = table[bins[col + r4]!]!;
    const g5 = table[bins[col + r5]!]!;
    const g6 = table[bins[col + r6]!]!;
    const g7 = table[bins[col + r7]!]!;
    idx[l] = r0;
    tmp[k] = r0;
    l += g0;
    k += 1 - g0;
    idx[l] = r1;
    tmp[k] = r1;
    l += g1;
    k += 1 - g1;
    idx[l] = r2;
    tmp[k] = r2;
    l += g2;
    k += 1 - g2;
    idx[l] = r3;
    tmp[k] = r3;
    l += g3;
    k += 1 - g3;
    idx[l] = r4;
    tmp[k] = r4;
    l += g4;
    k += 1 - g4;
    idx[l] = r5;
    tmp[k] = r5;
    l += g5;
    k += 1 - g5;
    idx[l] = r6;
    tmp[k] = r6;
    l += g6;
    k += 1 - g6;
    idx[l] = r7;
    tmp[k] = r7;
    l += g7;
    k += 1 - g7;
  }
  for (; i < end; i++) {
    const r = idx[i]!;
    const go = table[bins[col + r]!]!;
    idx[l] = r;
    tmp[k] = r;
    l += go;
    k += 1 - go;
  }
  idx.set(tmp.subarray(start, k), l);
  return l - start;
}

/**
 * Adds each leaf's value to the raw score of its rows: leaf l owns positions
 * leafStart[l]..leafEnd[l]-1 of idx; only positions within start..end-1 are touched.
 */
export function kernelAddLeafValues(
  raw: Float64Array,
  idx: Uint32Array,
  leafStart: Int32Array,
  leafEnd: Int32Array,
  leafValue: Float64Array,
  nLeaves: number,
  start: number,
  end: number,
): void {
  for (let leaf = 0; leaf < nLeaves; leaf++) {
    const from = Math.max(leafStart[leaf]!, start);
    const to = Math.min(leafEnd[leaf]!, end);
    const v = leafValue[leaf]!;
    for (let i = from; i < to; i++) {
      const r = idx[i]!;
      raw[r] = raw[r]! + v;
    }
  }
}
