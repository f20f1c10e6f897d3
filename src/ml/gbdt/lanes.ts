/**
 * Runs the training kernels over two "lanes": a large range of rows is cut at its middle, each half
 * is processed on its own (a histogram per half, summed in a fixed order; a stable partition per
 * half, then stitched), and a helper worker thread takes the second half when one is available.
 * Medium histograms keep one lane of rows but share out their features instead; a partition and
 * the histogram of the child that needs one travel to the helper as one task.
 *
 * The cut depends only on the range (never on the thread count), so a model is bit-for-bit the same
 * with or without the helper. Small ranges (below LANE_MIN_ROWS) are one lane on the calling thread.
 * The big arrays live in SharedArrayBuffers that both threads see; the threads meet through
 * Atomics on a small control array (a command, its arguments, a sequence number). The helper
 * sleeps in Atomics.wait between tasks (spinning instead bought nothing measurable here and hurts
 * on a busy machine).
 */
import { Worker } from 'node:worker_threads';
import {
  kernelAddLeafValues,
  kernelGather,
  kernelHistogramIndexed,
  kernelHistogramRange,
  kernelLogisticGradients,
  kernelPartition,
  kernelSquaredGradients,
} from './kernels.js';

/** Ranges with fewer rows run as a single lane: splitting them costs more than it saves. */
export const LANE_MIN_ROWS = 16_384;
/** Histograms of at least this many rows (and fewer than LANE_MIN_ROWS) split their features with the helper. */
export const FEATURE_SPLIT_MIN_ROWS = 4096;
/** Doubles per feature in a histogram (256 bins × gradient, hessian, count). */
const FEATURE_SIZE = 768;

/** e^(i/16 − 64) for i = 0..2048, for kernelLogisticGradients. */
export const EXP_TABLE: Float64Array = Float64Array.from({ length: 2049 }, (_, i) => Math.exp((i - 1024) / 16));

export interface LaneBuffers {
  /** Rows. */
  n: number;
  /** Column-major bins: feature f of row r at f * n + r. */
  bins: Uint8Array;
  raw: Float64Array;
  y: Float64Array;
  grad: Float32Array;
  hess: Float32Array;
  /** Row indices of the current bag; nodes own contiguous ranges of it. */
  idx: Uint32Array;
  tmp: Uint32Array;
  og: Float32Array;
  oh: Float32Array;
  /** Active features of the current tree (first nActive entries). */
  features: Int32Array;
  /** Bin → goes left (1) of the split being applied. */
  table: Uint8Array;
  /** The second lane's histogram. */
  laneHist: Float64Array;
  /** The last tree's leaves: positions leafStart[l]..leafEnd[l]-1 of idx hold leaf l's rows. */
  leafStart: Int32Array;
  leafEnd: Int32Array;
  /** Leaf values with the learning rate applied. */
  leafValue: Float64Array;
  expTable: Float64Array;
  /** Partial loss sums of the two lanes. */
  loss: Float64Array;
}

function shared<T>(make: (buffer: SharedArrayBuffer) => T, bytes: number): T {
  return make(new SharedArrayBuffer(Math.max(bytes, 8)));
}

/** Allocates the lane buffers (shared memory) for `n` rows, `nFeatures` inputs and trees of up to `maxLeaves` leaves. */
export function allocateLaneBuffers(n: number, nFeatures: number, maxLeaves = 256): LaneBuffers {
  return {
    n,
    bins: shared((b) => new Uint8Array(b, 0, n * nFeatures), n * nFeatures),
    raw: shared((b) => new Float64Array(b, 0, n), n * 8),
    y: shared((b) => new Float64Array(b, 0, n), n * 8),
    grad: shared((b) => new Float32Array(b, 0, n), n * 4),
    hess: shared((b) => new Float32Array(b, 0, n), n * 4),
    idx: shared((b) => new Uint32Array(b, 0, n), n * 4),
    tmp: shared((b) => new Uint32Array(b, 0, n), n * 4),
    og: shared((b) => new Float32Array(b, 0, n), n * 4),
    oh: shared((b) => new Float32Array(b, 0, n), n * 4),
    features: shared((b) => new Int32Array(b, 0, nFeatures), nFeatures * 4),
    table: shared((b) => new Uint8Array(b, 0, 256), 256),
    laneHist: shared((b) => new Float64Array(b, 0, nFeatures * FEATURE_SIZE), nFeatures * FEATURE_SIZE * 8),
    leafStart: shared((b) => new Int32Array(b, 0, maxLeaves), maxLeaves * 4),
    leafEnd: shared((b) => new Int32Array(b, 0, maxLeaves), maxLeaves * 4),
    leafValue: shared((b) => new Float64Array(b, 0, maxLeaves), maxLeaves * 8),
    expTable: EXP_TABLE,
    loss: shared((b) => new Float64Array(b, 0, 2), 16),
  };
}

// Control array slots.
const SEQ = 0;
const DONE = 1;
const CMD = 2;
const START = 3;
const END = 4;
const FEATURE = 5;
const N_ACTIVE = 6;
const CONSTANT_HESSIAN = 7;
const RESULT = 8;
const STATE = 9;
const SIDE = 10;
// Commands.
const EXIT = 0;
const LOGISTIC = 1;
const SQUARED = 2;
const HIST_RANGE = 3;
const HIST_INDEXED = 4;
const ADD_LEAVES = 6;
const HIST_FEATURES = 7;
const PARTITION_HIST = 8;
// STATE values: the worker claims 0 → 1 when it starts; the main thread 0 → 2 when it gives up.
const STARTED = 1;
const ABANDONED = 2;
/** How long the first task waits for the helper to start before running without it. */
const START_TIMEOUT_MS = 10_000;

interface Kernels {
  logistic: typeof kernelLogisticGradients;
  squared: typeof kernelSquaredGradients;
  range: typeof kernelHistogramRange;
  gather: typeof kernelGather;
  indexed: typeof kernelHistogramIndexed;
  partition: typeof kernelPartition;
  addLeaves: typeof kernelAddLeafValues;
}

/**
 * The helper's loop (runs in the worker; self-contained like the kernels, which it receives as
 * `K`): wait for a new sequence number, run the command on the second lane, publish DONE.
 */
function helperMain(data: LaneBuffers & { ctl: Int32Array }, K: Kernels): void {
  const ctl = data.ctl;
  const pair = new Float64Array(1536);
  if (Atomics.compareExchange(ctl, 9, 0, 1) !== 0) return;
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    const seq = Atomics.load(ctl, 0);
    if (seq === seen) continue;
    seen = seq;
    const cmd = ctl[2]!;
    if (cmd === 0) return;
    const start = ctl[3]!;
    const end = ctl[4]!;
    let result = 0;
    try {
      if (cmd === 1) K.logistic(data.raw, data.y, data.grad, data.hess, data.expTable, data.loss, 1, ctl[6]!, start, end);
      else if (cmd === 2) K.squared(data.raw, data.y, data.grad, data.loss, 1, ctl[6]!, start, end);
      else if (cmd === 3) {
        K.range(data.laneHist, data.bins, data.n, data.features, ctl[6]!, data.grad, data.hess, ctl[7]!, start, end, pair);
      } else if (cmd === 4) {
        K.gather(data.idx, data.grad, data.hess, data.og, data.oh, ctl[7]!, start, end);
        K.indexed(data.laneHist, data.bins, data.n, data.features, 0, ctl[6]!, data.idx, data.og, data.oh, ctl[7]!, start, end, pair);
      } else if (cmd === 7) {
        K.indexed(data.laneHist, data.bins, data.n, data.features, ctl[5]!, ctl[6]!, data.idx, data.og, data.oh, ctl[7]!, start, end, pair);
      } else if (cmd === 8) {
        result = K.partition(data.idx, data.tmp, data.bins, data.n, ctl[5]!, data.table, start, end);
        const side = ctl[10]!;
        if (side !== 0) {
          const s = side === 1 ? start : start + result;
          const e = side === 1 ? start + result : end;
          K.gather(data.idx, data.grad, data.hess, data.og, data.oh, ctl[7]!, s, e);
          K.indexed(data.laneHist, data.bins, data.n, data.features, 0, ctl[6]!, data.idx, data.og, data.oh, ctl[7]!, s, e, pair);
        }
      } else if (cmd === 6) K.addLeaves(data.raw, data.idx, data.leafStart, data.leafEnd, data.leafValue, ctl[6]!, start, end);
    } catch {
      result = -1;
    }
    ctl[8] = result;
    Atomics.store(ctl, 1, seq);
    Atomics.notify(ctl, 1);
  }
}

function helperSource(): string {
  return [
    "const { workerData } = require('node:worker_threads');",
    'const K = {',
    `  logistic: ${kernelLogisticGradients.toString()},`,
    `  squared: ${kernelSquaredGradients.toString()},`,
    `  range: ${kernelHistogramRange.toString()},`,
    `  gather: ${kernelGather.toString()},`,
    `  indexed: ${kernelHistogramIndexed.toString()},`,
    `  partition: ${kernelPartition.toString()},`,
    `  addLeaves: ${kernelAddLeafValues.toString()},`,
    '};',
    `(${helperMain.toString()})(workerData, K);`,
  ].join('\n');
}

/** Executes kernels over one or two lanes; see the file comment. Call close() when done. */
export class Lanes {
  private worker: Worker | null = null;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(64));
  private seq = 0;
  private readonly pair = new Float64Array(2 * FEATURE_SIZE);

  /** `helper`: start a worker thread for the second lane (falls back to this thread if it cannot). */
  constructor(
    readonly buffers: LaneBuffers,
    helper: boolean,
  ) {
    if (!helper) return;
    try {
      this.worker = new Worker(helperSource(), { eval: true, workerData: { ...buffers, ctl: this.ctl } });
      this.worker.unref();
      // An error (e.g. the worker cannot start) surfaces here as an event; the lanes then notice
      // that the helper never started and carry on alone.
      this.worker.on('error', () => undefined);
    } catch {
      this.worker = null;
    }
  }

  /** Whether a helper thread takes the second lanes. */
  get parallel(): boolean {
    return this.worker !== null;
  }

  /**
   * Gradients (and hessians) at buffers.raw for every row. With `withLoss`, returns the summed
   * loss at those scores (log loss, or squared error); else NaN.
   */
  gradients(binary: boolean, withLoss = false): number {
    const b = this.buffers;
    const n = b.n;
    const flag = withLoss ? 1 : 0;
    const run = (slot: number, start: number, end: number) => {
      if (binary) kernelLogisticGradients(b.raw, b.y, b.grad, b.hess, b.expTable, b.loss, slot, flag, start, end);
      else kernelSquaredGradients(b.raw, b.y, b.grad, b.loss, slot, flag, start, end);
    };
    b.loss.fill(0);
    if (n < LANE_MIN_ROWS) run(0, 0, n);
    else {
      const mid = n >> 1;
      this.twoLanes(binary ? LOGISTIC : SQUARED, mid, n, 0, flag, 0, () => run(0, 0, mid), () => run(1, mid, n));
    }
    return withLoss ? b.loss[0]! + b.loss[1]! : NaN;
  }

  /** Adds buffers.leafValue to the raw scores of the rows of the first `nLeaves` leaves, which cover idx[0..bagSize). */
  addLeafValues(nLeaves: number, bagSize: number): void {
    const b = this.buffers;
    const run = (s: number, e: number) => kernelAddLeafValues(b.raw, b.idx, b.leafStart, b.leafEnd, b.leafValue, nLeaves, s, e);
    if (bagSize < LANE_MIN_ROWS) return run(0, bagSize);
    const mid = bagSize >> 1;
    this.twoLanes(ADD_LEAVES, mid, bagSize, 0, nLeaves, 0, () => run(0, mid), () => run(mid, bagSize));
  }

  /** Histogram of rows start..end-1 (no index) into `out` over buffers.features[0..nActive). */
  histogramRange(out: Float64Array, nActive: number, constantHessian: boolean, start: number, end: number): void {
    const b = this.buffers;
    const ch = constantHessian ? 1 : 0;
    const run = (target: Float64Array, s: number, e: number) =>
      kernelHistogramRange(target, b.bins, b.n, b.features, nActive, b.grad, b.hess, ch, s, e, this.pair);
    this.histogram(out, nActive, start, end, HIST_RANGE, ch, run);
  }

  /**
   * Histogram of rows idx[start..end) into `out` over buffers.features[0..nActive). Large ranges
   * are cut into two row lanes; medium ones (FEATURE_SPLIT_MIN_ROWS..LANE_MIN_ROWS) keep one lane
   * but give the helper the second half of the features — each feature's sums are then computed
   * exactly as on one thread.
   */
  histogramIndexed(out: Float64Array, nActive: number, constantHessian: boolean, start: number, end: number): void {
    const b = this.buffers;
    const ch = constantHessian ? 1 : 0;
    const rows = end - start;
    if (rows < LANE_MIN_ROWS && (rows < FEATURE_SPLIT_MIN_ROWS || nActive < 2 || !this.worker)) {
      kernelGather(b.idx, b.grad, b.hess, b.og, b.oh, ch, start, end);
      kernelHistogramIndexed(out, b.bins, b.n, b.features, 0, nActive, b.idx, b.og, b.oh, ch, start, end, this.pair);
      return;
    }
    if (rows < LANE_MIN_ROWS) {
      kernelGather(b.idx, b.grad, b.hess, b.og, b.oh, ch, start, end);
      const half = nActive >> 1;
      this.twoLanes(
        HIST_FEATURES,
        start,
        end,
        half,
        nActive,
        ch,
        () => kernelHistogramIndexed(out, b.bins, b.n, b.features, 0, half, b.idx, b.og, b.oh, ch, start, end, this.pair),
        () => kernelHistogramIndexed(b.laneHist, b.bins, b.n, b.features, half, nActive, b.idx, b.og, b.oh, ch, start, end, this.pair),
      );
      const lane = b.laneHist;
      for (let j = half; j < nActive; j++) {
        const off = b.features[j]! * FEATURE_SIZE;
        out.set(lane.subarray(off, off + FEATURE_SIZE), off);
      }
      return;
    }
    const run = (target: Float64Array, s: number, e: number) => {
      kernelGather(b.idx, b.grad, b.hess, b.og, b.oh, ch, s, e);
      kernelHistogramIndexed(target, b.bins, b.n, b.features, 0, nActive, b.idx, b.og, b.oh, ch, s, e, this.pair);
    };
    this.histogram(out, nActive, start, end, HIST_INDEXED, ch, run);
  }

  private histogram(
    out: Float64Array,
    nActive: number,
    start: number,
    end: number,
    cmd: number,
    constantHessian: number,
    run: (target: Float64Array, s: number, e: number) => void,
  ): void {
    if (end - start < LANE_MIN_ROWS) return run(out, start, end);
    const mid = start + ((end - start) >> 1);
    const lane = this.buffers.laneHist;
    this.twoLanes(cmd, mid, end, 0, nActive, constantHessian, () => run(out, start, mid), () => run(lane, mid, end));
    const features = this.buffers.features;
    for (let j = 0; j < nActive; j++) {
      const off = features[j]! * FEATURE_SIZE;
      for (let i = off; i < off + FEATURE_SIZE; i++) out[i] = out[i]! + lane[i]!;
    }
  }

  /**
   * Stable partition of idx[start..end) by `feature` and buffers.table; returns the rows that went
   * left. Two lanes partition their halves, then the halves' right part and left part swap places.
   */
  partition(feature: number, start: number, end: number): number {
    return this.partitionAndHistogram(feature, start, end, null, null, 0, false);
  }

  /**
   * Partitions as `partition`, then writes the histogram of one side (`left` or `right`, over
   * buffers.features[0..nActive)) into `out`. With two lanes each lane histograms its own part of
   * that side right after partitioning its half — one round trip to the helper instead of two —
   * and the parts are summed.
   */
  partitionAndHistogram(
    feature: number,
    start: number,
    end: number,
    side: 'left' | 'right' | null,
    out: Float64Array | null,
    nActive: number,
    constantHessian: boolean,
  ): number {
    const b = this.buffers;
    const ch = constantHessian ? 1 : 0;
    if (end - start < LANE_MIN_ROWS) {
      const left = kernelPartition(b.idx, b.tmp, b.bins, b.n, feature, b.table, start, end);
      if (side && out) {
        if (side === 'left') this.histogramIndexed(out, nActive, constantHessian, start, start + left);
        else this.histogramIndexed(out, nActive, constantHessian, start + left, end);
      }
      return left;
    }
    const mid = start + ((end - start) >> 1);
    const lane = (target: Float64Array, s: number, e: number): number => {
      const left = kernelPartition(b.idx, b.tmp, b.bins, b.n, feature, b.table, s, e);
      if (side) {
        const from = side === 'left' ? s : s + left;
        const to = side === 'left' ? s + left : e;
        kernelGather(b.idx, b.grad, b.hess, b.og, b.oh, ch, from, to);
        kernelHistogramIndexed(target, b.bins, b.n, b.features, 0, nActive, b.idx, b.og, b.oh, ch, from, to, this.pair);
      }
      return left;
    };
    let leftA = 0;
    const sideCode = side === 'left' ? 1 : side === 'right' ? 2 : 0;
    const leftB = this.twoLanes(
      PARTITION_HIST,
      mid,
      end,
      feature,
      nActive,
      ch,
      () => (leftA = lane(out ?? b.laneHist, start, mid)),
      () => lane(b.laneHist, mid, end),
      sideCode,
    );
    if (side && out) {
      const laneHist = b.laneHist;
      for (let j = 0; j < nActive; j++) {
        const off = b.features[j]! * FEATURE_SIZE;
        for (let i = off; i < off + FEATURE_SIZE; i++) out[i] = out[i]! + laneHist[i]!;
      }
    }
    // [leftA rightA | leftB rightB] → [leftA leftB | rightA rightB]
    const rightA = mid - start - leftA;
    if (rightA > 0 && leftB > 0) {
      b.tmp.set(b.idx.subarray(start + leftA, mid), start + leftA);
      b.idx.copyWithin(start + leftA, mid, mid + leftB);
      b.idx.set(b.tmp.subarray(start + leftA, mid), start + leftA + leftB);
    }
    return leftA + leftB;
  }

  /**
   * Runs lane A here and lane B (`cmd` over mid..end) on the helper, or both here when there is no
   * helper. Returns lane B's result.
   */
  private twoLanes(
    cmd: number,
    /** Where lane B starts. */
    mid: number,
    end: number,
    feature: number,
    nActive: number,
    constantHessian: number,
    laneA: () => unknown,
    laneB: () => unknown,
    side = 0,
  ): number {
    if (!this.worker) {
      laneA();
      return Number(laneB() ?? 0);
    }
    const ctl = this.ctl;
    ctl[CMD] = cmd;
    ctl[START] = mid;
    ctl[END] = end;
    ctl[FEATURE] = feature;
    ctl[N_ACTIVE] = nActive;
    ctl[CONSTANT_HESSIAN] = constantHessian;
    ctl[SIDE] = side;
    const seq = ++this.seq;
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
    laneA();
    const startedWaiting = Date.now();
    for (;;) {
      const done = Atomics.load(ctl, DONE);
      if (done === seq) break;
      Atomics.wait(ctl, DONE, done, 50);
      if (Atomics.load(ctl, STATE) !== STARTED && Date.now() - startedWaiting > START_TIMEOUT_MS) {
        if (Atomics.compareExchange(ctl, STATE, 0, ABANDONED) === 0) {
          // The helper never started: give up on it and run the lane here.
          this.dropWorker();
          return Number(laneB() ?? 0);
        }
      }
    }
    const result = ctl[RESULT]!;
    if (result < 0) throw new Error('gbdt: a kernel failed on the helper thread');
    return result;
  }

  private dropWorker(): void {
    const worker = this.worker;
    this.worker = null;
    if (worker) void worker.terminate();
  }

  /** Stops the helper thread. Idempotent. */
  close(): void {
    if (!this.worker) return;
    this.ctl[CMD] = EXIT;
    Atomics.store(this.ctl, SEQ, ++this.seq);
    Atomics.notify(this.ctl, SEQ);
    this.dropWorker();
  }
}
