/**
 * Histogram-based gradient boosting (as LightGBM and scikit-learn's HistGradientBoosting) for
 * binary classification (logistic loss) and regression (squared error): inputs are binned once,
 * then each iteration fits a leaf-wise tree to the loss's gradients and hessians and adds it,
 * shrunk by the learning rate, to the raw scores. Deterministic for a given seed.
 */
import os from 'node:os';
import { ValidationErrors } from '../../core/errors.js';
import { type TrainingData, frameColumns } from '../frame.js';
import { logLoss, rmse, rocAuc } from '../metrics.js';
import type { Frame, GbdtModel, Signature, Tree } from '../model.js';
import { type FeatureBins, applyBins, fitBins } from './binning.js';
import { type BinnedTree, TreeGrower, addBinnedTree } from './grower.js';
import { Lanes, allocateLaneBuffers } from './lanes.js';
import { Rng } from './random.js';

/** Below this many training rows a helper thread costs more than it saves. */
const PARALLEL_MIN_ROWS = 50_000;

export type ValidationMetric = 'logloss' | 'rmse' | 'auc';

/** Training parameters; every one is optional (defaults in DEFAULT_GBDT_PARAMS). */
export interface GbdtParams {
  /** Shrinkage applied to every leaf value. */
  learningRate?: number;
  /** Boosting iterations (sklearn's max_iter, LightGBM's num_iterations). */
  nTrees?: number;
  /** Leaves per tree (leaf-wise growth). */
  maxLeaves?: number;
  /** Maximum depth of a leaf (the root is depth 0); null for no limit. */
  maxDepth?: number | null;
  /** Fewest training rows a leaf may hold. */
  minSamplesLeaf?: number;
  /** L2 penalty λ on leaf values. */
  l2?: number;
  /** Value bins per input, 2..255 (a separate bin holds missing values). */
  maxBins?: number;
  /** Share of rows each tree is fitted on (bagging fraction, drawn anew per tree). */
  rowSubsample?: number;
  /** Share of inputs each tree may split on (column sampling by tree). */
  featureSubsample?: number;
  /** Stop when the validation metric has not improved for this many iterations; null: never. */
  earlyStoppingRounds?: number | null;
  /** Validation metric: logloss (binary default), auc (binary), rmse (regression default). */
  validationMetric?: ValidationMetric;
  /** Smallest hessian sum a leaf may have. */
  minChildWeight?: number;
  /** A split must gain more than this. */
  minGainToSplit?: number;
  /** Smoothing added to a category's hessian sum when ordering categories. */
  catSmooth?: number;
  /** Categories with fewer rows in a node always go right there. */
  minCategorySupport?: number;
  seed?: number;
}

export type ResolvedGbdtParams = Required<Omit<GbdtParams, 'validationMetric'>> & { validationMetric: ValidationMetric | null };

export const DEFAULT_GBDT_PARAMS: ResolvedGbdtParams = {
  learningRate: 0.1,
  nTrees: 100,
  maxLeaves: 31,
  maxDepth: null,
  minSamplesLeaf: 20,
  l2: 0,
  maxBins: 255,
  rowSubsample: 1,
  featureSubsample: 1,
  earlyStoppingRounds: null,
  validationMetric: null,
  minChildWeight: 1e-3,
  minGainToSplit: 0,
  catSmooth: 10,
  minCategorySupport: 10,
  seed: 0,
};

export interface IterationInfo {
  /** 1-based: the number of trees so far. */
  iteration: number;
  /** Training loss (logloss or RMSE) after this tree; only computed when onIteration is given. */
  trainLoss: number | null;
  /** Validation loss (logloss or RMSE), when a validation set is given. */
  validLoss: number | null;
  /** The validation metric (validLoss unless it is AUC), when a validation set is given. */
  validMetric: number | null;
}

export interface GbdtOptions {
  /**
   * Threads to train with: 1, or 2 for a helper worker thread that takes half of each large
   * histogram, partition and gradient pass. The model is identical either way. Default: 2 when the
   * machine has more than one core and the training set has at least 50,000 rows.
   */
  threads?: number;
  /** Validation rows (same inputs and codes as training) for the metric and early stopping. */
  valid?: { frame: Frame; labels: Float64Array };
  /** Called after every iteration, e.g. to log metrics to a tracking run. */
  onIteration?: (info: IterationInfo) => void;
  /**
   * Asked after every iteration (after onIteration); true ends training there, keeping the trees
   * so far. The fit is synchronous, so this is how another thread stops it (a pruned trial).
   */
  shouldStop?: () => boolean;
}

export interface GbdtResult {
  model: GbdtModel;
  /** Per iteration, including those past the best one that early stopping discarded. */
  history: IterationInfo[];
  /** Trees kept in the model. */
  iterations: number;
  /** 1-based iteration with the best validation metric (the last one without a validation set). */
  bestIteration: number;
  stoppedEarly: boolean;
  /** Ended by `options.shouldStop` before nTrees (and before early stopping). */
  stopped: boolean;
  validationMetric: ValidationMetric | null;
}

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

/** Defaults applied and every parameter checked. Throws VALIDATION_FAILED naming each bad one. */
export function resolveGbdtParams(params: GbdtParams = {}): ResolvedGbdtParams {
  const p = { ...DEFAULT_GBDT_PARAMS } as ResolvedGbdtParams;
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) (p as unknown as Record<string, unknown>)[key] = value;
  }
  const errors = new ValidationErrors();
  const known = new Set(Object.keys(DEFAULT_GBDT_PARAMS));
  for (const key of Object.keys(params)) if (!known.has(key)) errors.add(`params.${key}`, 'is not a gbdt parameter');
  const positive = (key: keyof ResolvedGbdtParams, v: unknown) => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) errors.add(`params.${key}`, 'must be a number > 0');
  };
  const fraction = (key: keyof ResolvedGbdtParams, v: unknown) => {
    if (!(typeof v === 'number' && v > 0 && v <= 1)) errors.add(`params.${key}`, 'must be in (0, 1]');
  };
  const nonNegative = (key: keyof ResolvedGbdtParams, v: unknown) => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) errors.add(`params.${key}`, 'must be a number >= 0');
  };
  const intAtLeast = (key: keyof ResolvedGbdtParams, v: unknown, min: number, max = Infinity) => {
    if (!(isInt(v) && v >= min && v <= max)) errors.add(`params.${key}`, `must be an integer in [${min}, ${max === Infinity ? '∞' : max}]`);
  };
  positive('learningRate', p.learningRate);
  intAtLeast('nTrees', p.nTrees, 1);
  intAtLeast('maxLeaves', p.maxLeaves, 2, 65_536);
  if (p.maxDepth !== null) intAtLeast('maxDepth', p.maxDepth, 1);
  intAtLeast('minSamplesLeaf', p.minSamplesLeaf, 1);
  nonNegative('l2', p.l2);
  intAtLeast('maxBins', p.maxBins, 2, 255);
  fraction('rowSubsample', p.rowSubsample);
  fraction('featureSubsample', p.featureSubsample);
  if (p.earlyStoppingRounds !== null) intAtLeast('earlyStoppingRounds', p.earlyStoppingRounds, 1);
  if (p.validationMetric !== null && !['logloss', 'rmse', 'auc'].includes(p.validationMetric)) {
    errors.add('params.validationMetric', 'must be logloss, rmse or auc');
  }
  nonNegative('minChildWeight', p.minChildWeight);
  nonNegative('minGainToSplit', p.minGainToSplit);
  nonNegative('catSmooth', p.catSmooth);
  nonNegative('minCategorySupport', p.minCategorySupport);
  intAtLeast('seed', p.seed, -(2 ** 31), 2 ** 32 - 1);
  errors.throwIfAny();
  return p;
}

function checkLabels(labels: Float64Array, rows: number, signature: Signature, path: string, errors: ValidationErrors): void {
  if (labels.length !== rows) {
    errors.add(path, `has ${labels.length} values for ${rows} rows`);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const y = labels[r]!;
    if (signature.task === 'binary' ? y !== 0 && y !== 1 : !Number.isFinite(y)) {
      errors.add(path, `row ${r}: ${signature.task === 'binary' ? 'expected 0 or 1' : 'expected a finite number'}, got ${y}`);
      return;
    }
  }
}

function sigmoidArray(raw: Float64Array): Float64Array {
  const p = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) p[i] = 1 / (1 + Math.exp(-raw[i]!));
  return p;
}

/**
 * Trains a gradient-boosted tree model. `train.signature.task` picks the loss; categorical inputs
 * are split natively. With `options.valid` the validation metric is computed every iteration and,
 * with `earlyStoppingRounds`, training stops once it has not improved for that many iterations and
 * the model keeps the trees up to the best one. Throws VALIDATION_FAILED for bad parameters,
 * columns that do not match the signature, labels of the wrong kind, or early stopping without a
 * validation set.
 */
export function trainGbdt(train: TrainingData, params: GbdtParams = {}, options: GbdtOptions = {}): GbdtResult {
  const p = resolveGbdtParams(params);
  const { signature, frame } = train;
  const binary = signature.task === 'binary';
  const n = frame.rows;
  const errors = new ValidationErrors();
  if (n < 1) errors.add('train.frame', 'has no rows');
  if (signature.inputs.length === 0) errors.add('train.signature.inputs', 'must list at least one input');
  checkLabels(train.labels, n, signature, 'train.labels', errors);
  const metric: ValidationMetric = p.validationMetric ?? (binary ? 'logloss' : 'rmse');
  if (binary ? metric === 'rmse' : metric !== 'rmse') errors.add('params.validationMetric', `${metric} does not apply to a ${signature.task} task`);
  if (p.earlyStoppingRounds !== null && !options.valid) errors.add('params.earlyStoppingRounds', 'needs a validation set (options.valid)');
  if (options.valid) checkLabels(options.valid.labels, options.valid.frame.rows, signature, 'valid.labels', errors);
  errors.throwIfAny();
  const columns = frameColumns(frame, signature);
  const validColumns = options.valid ? frameColumns(options.valid.frame, signature) : null;

  const rng = new Rng(p.seed);
  const featureBins = fitBins(columns, signature, n, p.maxBins, rng);
  const nFeatures = signature.inputs.length;
  const buffers = allocateLaneBuffers(n, nFeatures, p.maxLeaves);
  applyBins(columns, featureBins, n, buffers.bins);
  const nValid = options.valid?.frame.rows ?? 0;
  const validBins = validColumns ? applyBins(validColumns, featureBins, nValid) : null;

  const y = train.labels;
  buffers.y.set(y);
  let mean = 0;
  for (let r = 0; r < n; r++) mean += y[r]!;
  mean /= n;
  const clipped = Math.min(Math.max(mean, 1e-15), 1 - 1e-15);
  const baseScore = binary ? Math.log(clipped / (1 - clipped)) : mean;
  const raw = buffers.raw;
  raw.fill(baseScore);
  const validRaw = new Float64Array(nValid).fill(baseScore);
  const features = buffers.features;
  const inBag = p.rowSubsample < 1 ? new Uint8Array(n) : null;

  const threads = options.threads ?? (os.availableParallelism() > 1 && n >= PARALLEL_MIN_ROWS ? 2 : 1);
  const lanes = new Lanes(buffers, threads >= 2);
  try {
    const grower = new TreeGrower(lanes, featureBins, {
      maxLeaves: p.maxLeaves,
      maxDepth: p.maxDepth ?? Infinity,
      minSamplesLeaf: p.minSamplesLeaf,
      minChildWeight: p.minChildWeight,
      l2: p.l2,
      minGainToSplit: p.minGainToSplit,
      catSmooth: p.catSmooth,
      minCategorySupport: p.minCategorySupport,
    });
    const trees: BinnedTree[] = [];
    const history: IterationInfo[] = [];
    const higherIsBetter = metric === 'auc';
    let best = { iteration: 0, value: NaN };
    let stoppedEarly = false;
    let stopped = false;
    const lr = p.learningRate;

    // With an onIteration listener the training loss is computed in the same pass as the next
    // iteration's gradients, which then need not be computed again.
    let gradientsReady = false;
    for (let it = 1; it <= p.nTrees; it++) {
      if (!gradientsReady) lanes.gradients(binary);
      gradientsReady = false;

      // Bagging: each row joins with probability rowSubsample (at least one row).
      let bagSize = n;
      if (inBag) {
        const idx = buffers.idx;
        bagSize = 0;
        for (let r = 0; r < n; r++) {
          const take = rng.next() < p.rowSubsample ? 1 : 0;
          inBag[r] = take;
          if (take) idx[bagSize++] = r;
        }
        if (bagSize === 0) {
          const r = rng.int(n);
          inBag[r] = 1;
          idx[bagSize++] = r;
        }
      }
      // Column sampling by tree.
      let nActive = nFeatures;
      if (p.featureSubsample < 1) {
        const chosen = rng.sample(nFeatures, Math.max(1, Math.round(p.featureSubsample * nFeatures)));
        features.set(chosen);
        nActive = chosen.length;
      } else for (let f = 0; f < nFeatures; f++) features[f] = f;

      const tree = grower.grow(!binary, bagSize, inBag === null, nActive);
      trees.push(tree);

      // Raw scores: bag rows by their leaf ranges, out-of-bag rows by walking the tree.
      const nLeaves = grower.leafNode.length;
      for (let leaf = 0; leaf < nLeaves; leaf++) {
        buffers.leafStart[leaf] = grower.leafStart[leaf]!;
        buffers.leafEnd[leaf] = grower.leafEnd[leaf]!;
        buffers.leafValue[leaf] = lr * tree.value[grower.leafNode[leaf]!]!;
      }
      lanes.addLeafValues(nLeaves, bagSize);
      if (inBag) addBinnedTree(tree, buffers.bins, n, lr, raw, inBag);
      if (validBins) addBinnedTree(tree, validBins, nValid, lr, validRaw);

      const info: IterationInfo = { iteration: it, trainLoss: null, validLoss: null, validMetric: null };
      if (options.onIteration) {
        const sum = lanes.gradients(binary, true);
        gradientsReady = true;
        info.trainLoss = binary ? sum / n : Math.sqrt(sum / n);
      }
      if (options.valid) {
        const vy = options.valid.labels;
        if (binary) {
          info.validLoss = logLoss(vy, sigmoidArray(validRaw));
          info.validMetric = metric === 'auc' ? rocAuc(vy, validRaw) : info.validLoss;
        } else {
          info.validLoss = rmse(vy, validRaw);
          info.validMetric = info.validLoss;
        }
        const value = info.validMetric;
        if (Number.isNaN(best.value) || (higherIsBetter ? value > best.value : value < best.value)) best = { iteration: it, value };
      }
      history.push(info);
      options.onIteration?.(info);
      if (p.earlyStoppingRounds !== null && it - best.iteration >= p.earlyStoppingRounds) {
        stoppedEarly = true;
        break;
      }
      if (it < p.nTrees && options.shouldStop?.()) {
        stopped = true;
        break;
      }
    }

    const kept = p.earlyStoppingRounds !== null && best.iteration > 0 ? trees.slice(0, best.iteration) : trees;
    const model: GbdtModel = {
      type: 'gbdt',
      signature: structuredClone(signature),
      baseScore,
      trees: kept.map((t) => exportTree(t, featureBins, lr)),
      featureImportance: importance(kept, signature),
    };
    return {
      model,
      history,
      iterations: kept.length,
      bestIteration: options.valid ? best.iteration : trees.length,
      stoppedEarly,
      stopped,
      validationMetric: options.valid ? metric : null,
    };
  } finally {
    lanes.close();
  }
}

/** A bin-space tree as the model's Tree: real thresholds (bin upper edges) and vocabulary codes. */
function exportTree(tree: BinnedTree, featureBins: FeatureBins[], lr: number): Tree {
  const size = tree.feature.length;
  const out: Tree = { feature: [], threshold: [], categories: [], missingLeft: [], left: [], right: [], value: [] };
  for (let node = 0; node < size; node++) {
    const f = tree.feature[node]!;
    out.feature.push(f);
    out.missingLeft.push(tree.missingLeft[node]!);
    out.left.push(tree.left[node]!);
    out.right.push(tree.right[node]!);
    if (f < 0) {
      out.threshold.push(0);
      out.categories.push(null);
      out.value.push(lr * tree.value[node]!);
      continue;
    }
    out.value.push(0);
    const spec = featureBins[f]!;
    if (spec.kind === 'numeric') {
      const bin = tree.bin[node]!;
      // The last value bin has no upper edge: "every non-missing value goes left".
      out.threshold.push(bin < spec.edges.length ? spec.edges[bin]! : Number.MAX_VALUE);
      out.categories.push(null);
    } else {
      out.threshold.push(0);
      const codes = tree.leftBins[node]!.flatMap((b) => spec.binCodes[b] ?? []);
      out.categories.push(codes.sort((a, b) => a - b));
    }
  }
  return out;
}

function importance(trees: BinnedTree[], signature: Signature): Record<string, number> {
  const gains = new Float64Array(signature.inputs.length);
  for (const tree of trees) {
    for (let node = 0; node < tree.feature.length; node++) {
      const f = tree.feature[node]!;
      if (f >= 0) gains[f] = gains[f]! + tree.gain[node]!;
    }
  }
  let total = 0;
  for (const g of gains) total += g;
  const out: Record<string, number> = {};
  signature.inputs.forEach((input, f) => (out[input.name] = total > 0 ? gains[f]! / total : 0));
  return out;
}

