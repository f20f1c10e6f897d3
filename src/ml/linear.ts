/**
 * Linear models: logistic regression (binary) and linear regression, with an L2 penalty. Numeric
 * inputs are standardized with the training mean and standard deviation (missing → the mean, i.e.
 * 0 after standardizing); categorical inputs are one-hot (one weight per vocabulary code; missing or
 * unseen contributes nothing). The objective
 *
 *     Σ_i loss(y_i, η_i) + (l2 / 2) · ‖w‖²      (the intercept is not penalized)
 *
 * with loss = log(1 + e^η) − yη (binary) or (y − η)² / 2 (regression) is minimized by Newton's
 * method with a backtracking line search (exact in one step for regression); a model with more
 * than NEWTON_MAX_WEIGHTS weights uses L-BFGS instead, whose memory grows linearly. Both are
 * deterministic.
 */
import { ValidationErrors } from '../core/errors.js';
import { type TrainingData, frameColumns } from './frame.js';
import type { LinearModel } from './model.js';

export type LinearSolver = 'auto' | 'newton' | 'lbfgs';

export interface LinearParams {
  /** L2 penalty on the weights (sum-of-losses scale, as scikit-learn's 1/C). */
  l2?: number;
  /** Most solver iterations. */
  maxIterations?: number;
  /**
   * Newton stops when no weight moves by more than this (relative to the largest weight); L-BFGS
   * when the gradient's max-norm per row falls below it, or the objective stops moving.
   */
  tolerance?: number;
  /** auto: Newton up to NEWTON_MAX_WEIGHTS weights, else L-BFGS. */
  solver?: LinearSolver;
}

export type ResolvedLinearParams = Required<LinearParams>;

export const DEFAULT_LINEAR_PARAMS: ResolvedLinearParams = { l2: 1, maxIterations: 100, tolerance: 1e-8, solver: 'auto' };

/** Above this many weights (intercept + numeric inputs + vocabulary sizes) the dense Newton system is too big. */
export const NEWTON_MAX_WEIGHTS = 2000;
/** L-BFGS stops when an iteration lowers the objective by less than this share of it (scipy's default). */
const LBFGS_FTOL = 2.2e-9;
/** The penalty never goes below this, so that collinear one-hot columns leave the system solvable. */
const MIN_RIDGE = 1e-8;

export interface LinearIterationInfo {
  /** 1-based solver iteration. */
  iteration: number;
  /** Mean training loss after it: logloss (binary) or RMSE (regression). */
  loss: number;
}

export interface LinearOptions {
  onIteration?: (info: LinearIterationInfo) => void;
  /** Asked after every iteration; true ends the solve there (another thread stopping a synchronous fit). */
  shouldStop?: () => boolean;
}

export interface LinearResult {
  model: LinearModel;
  iterations: number;
  converged: boolean;
  /** Ended by `options.shouldStop`. */
  stopped: boolean;
  solver: 'newton' | 'lbfgs';
  /** Final mean training loss: logloss (binary) or RMSE (regression). */
  loss: number;
}

/** Defaults applied and every parameter checked. Throws VALIDATION_FAILED naming each bad one. */
export function resolveLinearParams(params: LinearParams = {}): ResolvedLinearParams {
  const p = { ...DEFAULT_LINEAR_PARAMS } as ResolvedLinearParams;
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) (p as unknown as Record<string, unknown>)[key] = value;
  }
  const errors = new ValidationErrors();
  for (const key of Object.keys(params)) if (!(key in DEFAULT_LINEAR_PARAMS)) errors.add(`params.${key}`, 'is not a linear parameter');
  if (!(typeof p.l2 === 'number' && Number.isFinite(p.l2) && p.l2 >= 0)) errors.add('params.l2', 'must be a number >= 0');
  if (!(Number.isInteger(p.maxIterations) && p.maxIterations >= 1)) errors.add('params.maxIterations', 'must be an integer >= 1');
  if (!(typeof p.tolerance === 'number' && p.tolerance > 0)) errors.add('params.tolerance', 'must be a number > 0');
  if (!['auto', 'newton', 'lbfgs'].includes(p.solver)) errors.add('params.solver', 'must be auto, newton or lbfgs');
  errors.throwIfAny();
  return p;
}

/**
 * The design matrix as a sparse row format: every row has `width` entries (intercept, one per
 * numeric input, one per categorical input) of (column, value); an absent entry has column -1.
 */
interface Design {
  rows: number;
  width: number;
  weights: number;
  col: Int32Array;
  val: Float64Array;
  /** Weights that the penalty applies to (all but the intercept). */
  penalized: Uint8Array;
}

function buildDesign(data: TrainingData, means: Float64Array, stds: Float64Array): { design: Design; offsets: number[] } {
  const { signature, frame } = data;
  const columns = frameColumns(frame, signature);
  const n = frame.rows;
  const width = 1 + signature.inputs.length;
  const offsets: number[] = [];
  let weights = 1;
  for (const input of signature.inputs) {
    offsets.push(weights);
    weights += input.kind === 'numeric' ? 1 : input.vocabulary.length;
  }
  const col = new Int32Array(n * width);
  const val = new Float64Array(n * width);
  for (let r = 0; r < n; r++) {
    col[r * width] = 0;
    val[r * width] = 1;
  }
  signature.inputs.forEach((input, i) => {
    const column = columns[i]!;
    const at = 1 + i;
    const offset = offsets[i]!;
    if (input.kind === 'numeric') {
      const mean = means[i]!;
      const std = stds[i]!;
      for (let r = 0; r < n; r++) {
        const x = column[r]!;
        col[r * width + at] = offset;
        val[r * width + at] = x === x ? (x - mean) / std : 0;
      }
    } else {
      const size = input.vocabulary.length;
      for (let r = 0; r < n; r++) {
        const code = column[r]!;
        if (code >= 0 && code < size) {
          col[r * width + at] = offset + code;
          val[r * width + at] = 1;
        } else col[r * width + at] = -1;
      }
    }
  });
  const penalized = new Uint8Array(weights).fill(1);
  penalized[0] = 0;
  return { design: { rows: n, width, weights, col, val, penalized }, offsets };
}

/** η = Xw for every row. */
function linearPredictor(d: Design, w: Float64Array, eta: Float64Array): void {
  const { col, val, width } = d;
  for (let r = 0, at = 0; r < d.rows; r++) {
    let s = 0;
    for (let k = 0; k < width; k++, at++) {
      const c = col[at]!;
      if (c >= 0) s += w[c]! * val[at]!;
    }
    eta[r] = s;
  }
}

/** Sum of losses at η (no penalty). */
function lossSum(binary: boolean, y: Float64Array, eta: Float64Array): number {
  let sum = 0;
  for (let r = 0; r < y.length; r++) {
    const z = eta[r]!;
    if (binary) sum += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[r]! * z;
    else {
      const e = y[r]! - z;
      sum += 0.5 * e * e;
    }
  }
  return sum;
}

function objective(binary: boolean, y: Float64Array, eta: Float64Array, w: Float64Array, d: Design, ridge: number): number {
  let penalty = 0;
  for (let j = 0; j < w.length; j++) if (d.penalized[j]) penalty += w[j]! * w[j]!;
  return lossSum(binary, y, eta) + 0.5 * ridge * penalty;
}

/** Gradient of the objective into `g`; per-row curvature (hessian weight) into `s` when given. */
function gradient(binary: boolean, y: Float64Array, eta: Float64Array, w: Float64Array, d: Design, ridge: number, g: Float64Array, s: Float64Array | null): void {
  const { col, val, width } = d;
  g.fill(0);
  for (let r = 0, at = 0; r < d.rows; r++) {
    let residual: number;
    if (binary) {
      const p = 1 / (1 + Math.exp(-eta[r]!));
      residual = p - y[r]!;
      if (s) s[r] = p * (1 - p);
    } else {
      residual = eta[r]! - y[r]!;
      if (s) s[r] = 1;
    }
    for (let k = 0; k < width; k++, at++) {
      const c = col[at]!;
      if (c >= 0) g[c] = g[c]! + residual * val[at]!;
    }
  }
  for (let j = 0; j < w.length; j++) if (d.penalized[j]) g[j] = g[j]! + ridge * w[j]!;
}

/** In-place Cholesky factorization of the symmetric p×p matrix `a` (lower triangle); false if not positive definite. */
function cholesky(a: Float64Array, p: number): boolean {
  for (let j = 0; j < p; j++) {
    let diag = a[j * p + j]!;
    for (let k = 0; k < j; k++) diag -= a[j * p + k]! * a[j * p + k]!;
    if (!(diag > 0)) return false;
    const root = Math.sqrt(diag);
    a[j * p + j] = root;
    for (let i = j + 1; i < p; i++) {
      let v = a[i * p + j]!;
      for (let k = 0; k < j; k++) v -= a[i * p + k]! * a[j * p + k]!;
      a[i * p + j] = v / root;
    }
  }
  return true;
}

/** Solves L Lᵀ x = b with the factor from `cholesky`; b is overwritten with x. */
function choleskySolve(l: Float64Array, p: number, b: Float64Array): void {
  for (let i = 0; i < p; i++) {
    let v = b[i]!;
    for (let k = 0; k < i; k++) v -= l[i * p + k]! * b[k]!;
    b[i] = v / l[i * p + i]!;
  }
  for (let i = p - 1; i >= 0; i--) {
    let v = b[i]!;
    for (let k = i + 1; k < p; k++) v -= l[k * p + i]! * b[k]!;
    b[i] = v / l[i * p + i]!;
  }
}

interface SolveState {
  binary: boolean;
  y: Float64Array;
  d: Design;
  ridge: number;
  w: Float64Array;
  eta: Float64Array;
  maxIterations: number;
  tolerance: number;
  report: (iteration: number) => void;
  /** True ends the solve after the iteration just reported. */
  stop: () => boolean;
}

/** Newton's method with a dense Hessian and a backtracking line search on the objective. */
function solveNewton(st: SolveState): { iterations: number; converged: boolean } {
  const { binary, y, d, ridge, w, eta } = st;
  const p = d.weights;
  const g = new Float64Array(p);
  const s = new Float64Array(d.rows);
  const h = new Float64Array(p * p);
  const step = new Float64Array(p);
  const trial = new Float64Array(p);
  const trialEta = new Float64Array(d.rows);
  let f = objective(binary, y, eta, w, d, ridge);
  for (let it = 1; it <= st.maxIterations; it++) {
    gradient(binary, y, eta, w, d, ridge, g, s);
    // Hessian Xᵀ S X + ridge·I (penalized weights), accumulated from each row's few entries.
    h.fill(0);
    const { col, val, width } = d;
    for (let r = 0, base = 0; r < d.rows; r++, base += width) {
      const sr = s[r]!;
      for (let a = 0; a < width; a++) {
        const ca = col[base + a]!;
        if (ca < 0) continue;
        const va = sr * val[base + a]!;
        for (let b = 0; b < width; b++) {
          const cb = col[base + b]!;
          if (cb >= 0 && cb <= ca) h[ca * p + cb] = h[ca * p + cb]! + va * val[base + b]!;
        }
      }
    }
    for (let j = 0; j < p; j++) if (d.penalized[j]) h[j * p + j] = h[j * p + j]! + ridge;
    // Rounding can leave a nearly singular system not positive definite: add jitter until it is.
    let jitter = 0;
    for (;;) {
      const a = Float64Array.from(h);
      if (jitter > 0) for (let j = 0; j < p; j++) a[j * p + j] = a[j * p + j]! + jitter;
      if (cholesky(a, p)) {
        for (let j = 0; j < p; j++) step[j] = -g[j]!;
        choleskySolve(a, p, step);
        break;
      }
      jitter = jitter === 0 ? 1e-10 * Math.max(1, d.rows) : jitter * 10;
    }
    // Backtracking: halve the step until the objective does not increase.
    let t = 1;
    let fNew = Infinity;
    for (let k = 0; k < 40; k++) {
      for (let j = 0; j < p; j++) trial[j] = w[j]! + t * step[j]!;
      linearPredictor(d, trial, trialEta);
      fNew = objective(binary, y, trialEta, trial, d, ridge);
      if (fNew <= f) break;
      t /= 2;
    }
    if (!(fNew <= f)) return { iterations: it, converged: true }; // no descent left: at the optimum to rounding
    let change = 0;
    let size = 0;
    for (let j = 0; j < p; j++) {
      change = Math.max(change, Math.abs(trial[j]! - w[j]!));
      size = Math.max(size, Math.abs(trial[j]!));
    }
    w.set(trial);
    eta.set(trialEta);
    const previous = f;
    f = fNew;
    st.report(it);
    if (st.stop()) return { iterations: it, converged: false };
    if (change <= st.tolerance * (1 + size) || previous - f <= 1e-15 * Math.abs(previous)) return { iterations: it, converged: true };
  }
  return { iterations: st.maxIterations, converged: false };
}

/** L-BFGS (memory 10) with a backtracking Armijo line search. */
function solveLbfgs(st: SolveState): { iterations: number; converged: boolean } {
  const { binary, y, d, ridge, w, eta } = st;
  const p = d.weights;
  const m = 10;
  const sList: Float64Array[] = [];
  const yList: Float64Array[] = [];
  const rho: number[] = [];
  const g = new Float64Array(p);
  const gNew = new Float64Array(p);
  const dir = new Float64Array(p);
  const trial = new Float64Array(p);
  const trialEta = new Float64Array(d.rows);
  const alpha = new Float64Array(m);
  gradient(binary, y, eta, w, d, ridge, g, null);
  let f = objective(binary, y, eta, w, d, ridge);
  const scale = Math.max(1, d.rows);
  for (let it = 1; it <= st.maxIterations; it++) {
    let gMax = 0;
    for (let j = 0; j < p; j++) gMax = Math.max(gMax, Math.abs(g[j]!));
    if (gMax <= st.tolerance * scale) return { iterations: it - 1, converged: true };
    // Two-loop recursion: dir = −H·g.
    for (let j = 0; j < p; j++) dir[j] = -g[j]!;
    for (let k = sList.length - 1; k >= 0; k--) {
      let dot = 0;
      for (let j = 0; j < p; j++) dot += sList[k]![j]! * dir[j]!;
      alpha[k] = rho[k]! * dot;
      for (let j = 0; j < p; j++) dir[j] = dir[j]! - alpha[k]! * yList[k]![j]!;
    }
    let gamma = 1 / scale;
    if (sList.length > 0) {
      const last = sList.length - 1;
      let sy = 0;
      let yy = 0;
      for (let j = 0; j < p; j++) {
        sy += sList[last]![j]! * yList[last]![j]!;
        yy += yList[last]![j]! * yList[last]![j]!;
      }
      gamma = sy / yy;
    }
    for (let j = 0; j < p; j++) dir[j] = dir[j]! * gamma;
    for (let k = 0; k < sList.length; k++) {
      let dot = 0;
      for (let j = 0; j < p; j++) dot += yList[k]![j]! * dir[j]!;
      const beta = rho[k]! * dot;
      for (let j = 0; j < p; j++) dir[j] = dir[j]! + (alpha[k]! - beta) * sList[k]![j]!;
    }
    let slope = 0;
    for (let j = 0; j < p; j++) slope += g[j]! * dir[j]!;
    if (!(slope < 0)) {
      // Not a descent direction (curvature information went stale): restart from steepest descent.
      sList.length = 0;
      yList.length = 0;
      rho.length = 0;
      for (let j = 0; j < p; j++) dir[j] = -g[j]! / scale;
      slope = 0;
      for (let j = 0; j < p; j++) slope += g[j]! * dir[j]!;
    }
    let t = 1;
    let fNew = Infinity;
    for (let k = 0; k < 50; k++) {
      for (let j = 0; j < p; j++) trial[j] = w[j]! + t * dir[j]!;
      linearPredictor(d, trial, trialEta);
      fNew = objective(binary, y, trialEta, trial, d, ridge);
      if (fNew <= f + 1e-4 * t * slope) break;
      t /= 2;
    }
    if (!(fNew < f)) return { iterations: it, converged: true };
    gradient(binary, y, trialEta, trial, d, ridge, gNew, null);
    const sv = new Float64Array(p);
    const yv = new Float64Array(p);
    let sy = 0;
    for (let j = 0; j < p; j++) {
      sv[j] = trial[j]! - w[j]!;
      yv[j] = gNew[j]! - g[j]!;
      sy += sv[j]! * yv[j]!;
    }
    if (sy > 1e-12) {
      if (sList.length === m) {
        sList.shift();
        yList.shift();
        rho.shift();
      }
      sList.push(sv);
      yList.push(yv);
      rho.push(1 / sy);
    }
    w.set(trial);
    eta.set(trialEta);
    g.set(gNew);
    const previous = f;
    f = fNew;
    st.report(it);
    if (st.stop()) return { iterations: it, converged: false };
    // scipy's L-BFGS-B test (factr 1e7): the objective stopped moving relative to its size.
    if ((previous - f) / Math.max(Math.abs(previous), Math.abs(f), 1) <= LBFGS_FTOL) return { iterations: it, converged: true };
  }
  return { iterations: st.maxIterations, converged: false };
}

/**
 * Trains a linear model on `train` (task from its signature). Throws VALIDATION_FAILED for bad
 * parameters, an empty frame, columns that do not match the signature or labels of the wrong kind.
 */
export function trainLinear(train: TrainingData, params: LinearParams = {}, options: LinearOptions = {}): LinearResult {
  const p = resolveLinearParams(params);
  const { signature, frame, labels } = train;
  const binary = signature.task === 'binary';
  const n = frame.rows;
  const errors = new ValidationErrors();
  if (n < 1) errors.add('train.frame', 'has no rows');
  if (labels.length !== n) errors.add('train.labels', `has ${labels.length} values for ${n} rows`);
  else {
    for (let r = 0; r < n; r++) {
      const y = labels[r]!;
      if (binary ? y !== 0 && y !== 1 : !Number.isFinite(y)) {
        errors.add('train.labels', `row ${r}: ${binary ? 'expected 0 or 1' : 'expected a finite number'}, got ${y}`);
        break;
      }
    }
  }
  errors.throwIfAny();
  const columns = frameColumns(frame, signature);

  // Standardization from the training rows (missing values excluded).
  const means = new Float64Array(signature.inputs.length);
  const stds = new Float64Array(signature.inputs.length).fill(1);
  signature.inputs.forEach((input, i) => {
    if (input.kind !== 'numeric') return;
    const column = columns[i]!;
    let count = 0;
    let mean = 0;
    let m2 = 0;
    for (let r = 0; r < n; r++) {
      const x = column[r]!;
      if (x !== x) continue;
      count++;
      const delta = x - mean;
      mean += delta / count;
      m2 += delta * (x - mean);
    }
    means[i] = count > 0 ? mean : 0;
    const std = count > 0 ? Math.sqrt(m2 / count) : 0;
    stds[i] = std > 0 && Number.isFinite(std) ? std : 1;
  });
  const { design, offsets } = buildDesign(train, means, stds);

  let ySum = 0;
  for (let r = 0; r < n; r++) ySum += labels[r]!;
  const yMean = ySum / n;
  const w = new Float64Array(design.weights);
  const clipped = Math.min(Math.max(yMean, 1e-15), 1 - 1e-15);
  w[0] = binary ? Math.log(clipped / (1 - clipped)) : yMean;
  const eta = new Float64Array(n);
  linearPredictor(design, w, eta);

  const meanLoss = () => {
    const sum = lossSum(binary, labels, eta);
    return binary ? sum / n : Math.sqrt((2 * sum) / n);
  };
  const solver: 'newton' | 'lbfgs' = p.solver === 'auto' ? (design.weights <= NEWTON_MAX_WEIGHTS ? 'newton' : 'lbfgs') : p.solver;
  let stopped = false;
  const state: SolveState = {
    binary,
    y: labels,
    d: design,
    ridge: Math.max(p.l2, MIN_RIDGE),
    w,
    eta,
    maxIterations: p.maxIterations,
    tolerance: p.tolerance,
    report: (iteration) => options.onIteration?.({ iteration, loss: meanLoss() }),
    stop: () => (stopped = options.shouldStop?.() ?? false),
  };
  const { iterations, converged } = solver === 'newton' ? solveNewton(state) : solveLbfgs(state);

  const model: LinearModel = {
    type: 'linear',
    signature: structuredClone(signature),
    intercept: w[0]!,
    terms: signature.inputs.map((input, i) => {
      const offset = offsets[i]!;
      if (input.kind === 'numeric') return { kind: 'numeric' as const, mean: means[i]!, std: stds[i]!, weight: w[offset]! };
      return { kind: 'categorical' as const, weights: Array.from(w.subarray(offset, offset + input.vocabulary.length)) };
    }),
  };
  return { model, iterations, converged, stopped, solver, loss: meanLoss() };
}
