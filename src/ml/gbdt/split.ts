/**
 * Best split of a node from its histogram. The gain of sending (G_L, H_L) left and (G_R, H_R)
 * right is G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ) (the second-order loss reduction without the
 * constant ½, as LightGBM and sklearn).
 *
 * - Numeric: every bin boundary, with the node's missing values tried on both sides.
 * - Categorical (Fisher's grouping, as LightGBM/sklearn): categories with enough rows are sorted
 *   by G/(H + catSmooth) and every prefix of that order, scanned from both ends, is a candidate
 *   left set; missing values are tried on both sides; rare categories always go right.
 *
 * When a node has no missing values, missing values at prediction time follow the larger child.
 */
import { type FeatureBins, MISSING_BIN } from './binning.js';

/** Histogram layout (see kernels.ts): 256 bins × [gradient sum, hessian sum, count] per feature. */
const STRIDE = 3;
const FEATURE_SIZE = 768;

export interface SplitParams {
  minSamplesLeaf: number;
  /** Smallest hessian sum a child may have (sklearn's min_hessian_to_split, LightGBM's min_sum_hessian_in_leaf). */
  minChildWeight: number;
  l2: number;
  /** A split must gain strictly more than this. */
  minGainToSplit: number;
  /** Added to a category's hessian sum when ordering categories (LightGBM's cat_smooth). */
  catSmooth: number;
  /** Categories with fewer rows in the node are not candidates for the left set. */
  minCategorySupport: number;
}

/** The best split found for a node (mutable, reused). `feature` is -1 when none qualifies. */
export class SplitInfo {
  gain = 0;
  feature = -1;
  /** Numeric: rows with bin <= this go left. */
  bin = 0;
  categorical = false;
  missingLeft = false;
  /** Categorical: the bins that go left (the missing bin is governed by `missingLeft`). */
  leftBins: number[] = [];
  gLeft = 0;
  hLeft = 0;
  cLeft = 0;

  reset(): void {
    this.gain = 0;
    this.feature = -1;
    this.bin = 0;
    this.categorical = false;
    this.missingLeft = false;
    this.leftBins.length = 0;
  }

  /** Which bins go left, as a 256-entry table (index = bin, 1 = left), for partitioning rows. */
  fillTable(table: Uint8Array): void {
    table.fill(0);
    if (this.categorical) for (const b of this.leftBins) table[b] = 1;
    else table.fill(1, 0, this.bin + 1);
    table[MISSING_BIN] = this.missingLeft ? 1 : 0;
  }
}

/** Scratch space for the categorical sort, reused across nodes. */
export class SplitScratch {
  readonly order = new Int32Array(256);
  readonly keys = new Float64Array(256);
}

/**
 * Finds the best split of a node over the active features and writes it into `out` (which is
 * reset first). G, H, C are the node's totals; with `constantHessian` the histogram's counts
 * stand in for hessians (and H must be C).
 */
export function findBestSplit(
  hist: Float64Array,
  features: Int32Array,
  nActive: number,
  bins: FeatureBins[],
  G: number,
  H: number,
  C: number,
  constantHessian: boolean,
  params: SplitParams,
  scratch: SplitScratch,
  out: SplitInfo,
): void {
  out.reset();
  const { minSamplesLeaf, minChildWeight, l2 } = params;
  const parentScore = (G * G) / (H + l2);
  let bestGain = params.minGainToSplit;
  const hOffset = constantHessian ? 2 : 1;

  for (let k = 0; k < nActive; k++) {
    const f = features[k]!;
    const spec = bins[f]!;
    const off = f * FEATURE_SIZE;
    const mo = off + MISSING_BIN * STRIDE;
    const gm = hist[mo]!;
    const hm = hist[mo + hOffset]!;
    const cm = hist[mo + 2]!;
    const nb = spec.nBins;

    if (spec.kind === 'numeric') {
      let gl = 0;
      let hl = 0;
      let cl = 0;
      for (let b = 0; b < nb; b++) {
        const o = off + b * STRIDE;
        gl += hist[o]!;
        hl += hist[o + hOffset]!;
        cl += hist[o + 2]!;
        // b = nb-1 puts every non-missing row left: only a split when there are missing values.
        if (b === nb - 1 && cm === 0) break;
        // Missing values right.
        const cr = C - cl;
        if (cl >= minSamplesLeaf && cr >= minSamplesLeaf && hl >= minChildWeight && H - hl >= minChildWeight) {
          const gr = G - gl;
          const gain = (gl * gl) / (hl + l2) + (gr * gr) / (H - hl + l2) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            record(out, gain, f, b, false, cm > 0 ? false : cl >= cr, gl, hl, cl);
          }
        }
        // Missing values left.
        if (cm > 0 && b < nb - 1) {
          const gl2 = gl + gm;
          const hl2 = hl + hm;
          const cl2 = cl + cm;
          const cr2 = C - cl2;
          if (cl2 >= minSamplesLeaf && cr2 >= minSamplesLeaf && hl2 >= minChildWeight && H - hl2 >= minChildWeight) {
            const gr = G - gl2;
            const gain = (gl2 * gl2) / (hl2 + l2) + (gr * gr) / (H - hl2 + l2) - parentScore;
            if (gain > bestGain) {
              bestGain = gain;
              record(out, gain, f, b, false, true, gl2, hl2, cl2);
            }
          }
        }
      }
      continue;
    }

    // Categorical.
    const { order, keys } = scratch;
    let m = 0;
    for (let b = 0; b < nb; b++) {
      const o = off + b * STRIDE;
      const c = hist[o + 2]!;
      if (c > 0 && c >= params.minCategorySupport) {
        order[m++] = b;
        keys[b] = hist[o]! / (hist[o + hOffset]! + params.catSmooth);
      }
    }
    if (m === 0) continue;
    const sorted = order.subarray(0, m).sort((a, b) => keys[a]! - keys[b]! || a - b);
    for (let direction = 0; direction < 2; direction++) {
      let gl = 0;
      let hl = 0;
      let cl = 0;
      for (let i = 0; i < m; i++) {
        const b = direction === 0 ? sorted[i]! : sorted[m - 1 - i]!;
        const o = off + b * STRIDE;
        gl += hist[o]!;
        hl += hist[o + hOffset]!;
        cl += hist[o + 2]!;
        for (let missing = 0; missing < (cm > 0 ? 2 : 1); missing++) {
          const gl2 = missing ? gl + gm : gl;
          const hl2 = missing ? hl + hm : hl;
          const cl2 = missing ? cl + cm : cl;
          const cr2 = C - cl2;
          if (cl2 < minSamplesLeaf || cr2 < minSamplesLeaf || hl2 < minChildWeight || H - hl2 < minChildWeight) continue;
          const gr = G - gl2;
          const gain = (gl2 * gl2) / (hl2 + l2) + (gr * gr) / (H - hl2 + l2) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            record(out, gain, f, 0, true, cm > 0 ? missing === 1 : cl2 >= cr2, gl2, hl2, cl2);
            out.leftBins.length = 0;
            for (let j = 0; j <= i; j++) out.leftBins.push(direction === 0 ? sorted[j]! : sorted[m - 1 - j]!);
          }
        }
      }
    }
  }
}

function record(
  out: SplitInfo,
  gain: number,
  feature: number,
  bin: number,
  categorical: boolean,
  missingLeft: boolean,
  gl: number,
  hl: number,
  cl: number,
): void {
  out.gain = gain;
  out.feature = feature;
  out.bin = bin;
  out.categorical = categorical;
  out.missingLeft = missingLeft;
  out.gLeft = gl;
  out.hLeft = hl;
  out.cLeft = cl;
}
