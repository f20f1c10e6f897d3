/**
 * Grows one regression tree on gradients, leaf-wise (best-first, as LightGBM and sklearn's
 * max_leaf_nodes): the leaf whose best split gains most is split next, until `maxLeaves` leaves or
 * no split gains. Rows live in one index array; each node owns a contiguous range of it, split by
 * a stable partition (so rows stay ascending and memory access stays sequential). Only the smaller
 * child's histogram is built from rows; the larger one's is the parent's minus it.
 */
import type { FeatureBins } from './binning.js';
import type { Lanes } from './lanes.js';
import { SplitInfo, SplitScratch, type SplitParams, findBestSplit } from './split.js';

/** Doubles per feature in a histogram (256 bins × gradient sum, hessian sum, count). */
const FEATURE_SIZE = 768;

export interface GrowerParams extends SplitParams {
  maxLeaves: number;
  /** Deepest level a split may happen at plus one (the root is depth 0); Infinity for no limit. */
  maxDepth: number;
}

/**
 * A grown tree in bin space. Node 0 is the root; children are numbered in creation order. At an
 * inner node, a row goes left when `table[node][bin] === 1`.
 */
export interface BinnedTree {
  /** Input index at inner nodes, -1 at leaves. */
  feature: number[];
  /** Numeric splits: the last bin that goes left. */
  bin: number[];
  categorical: boolean[];
  /** Categorical splits: bins that go left. */
  leftBins: (number[] | null)[];
  missingLeft: boolean[];
  table: (Uint8Array | null)[];
  left: number[];
  right: number[];
  /** Newton step −G/(H+λ) at leaves (before the learning rate); 0 at inner nodes. */
  value: number[];
  gain: number[];
  /** Training rows (of the bag) that reached the node. */
  count: number[];
}

interface GrowNode {
  id: number;
  start: number;
  end: number;
  depth: number;
  g: number;
  h: number;
  c: number;
  /** Histogram slot, -1 when the node has none. */
  slot: number;
  split: SplitInfo | null;
}

/** Reusable buffers and the growth loop; one grower serves every tree of a training run. */
export class TreeGrower {
  /** After growth, leaf i owns rows lanes.buffers.idx[leafStart[i]..leafEnd[i]). */
  readonly leafStart: number[] = [];
  readonly leafEnd: number[] = [];
  readonly leafNode: number[] = [];
  private readonly slots: Float64Array[];
  private readonly freeSlots: number[] = [];
  private readonly scratch = new SplitScratch();
  private readonly splitPool: SplitInfo[] = [];
  /** 0..n-1, copied into the index array before each tree on all rows. */
  private readonly identity: Uint32Array;

  constructor(
    private readonly lanes: Lanes,
    private readonly featureBins: FeatureBins[],
    private readonly params: GrowerParams,
  ) {
    this.identity = Uint32Array.from({ length: lanes.buffers.n }, (_, i) => i);
    this.slots = Array.from({ length: Math.max(params.maxLeaves, 2) }, () => new Float64Array(featureBins.length * FEATURE_SIZE));
  }

  /**
   * Grows a tree on the gradients in lanes.buffers, over the first `bagSize` entries of its `idx`
   * (rows 0..n-1 in order when `allRows`, which the grower fills in itself). Active features are
   * lanes.buffers.features[0..nActive). With `constantHessian` every row's hessian is 1.
   */
  grow(constantHessian: boolean, bagSize: number, allRows: boolean, nActive: number): BinnedTree {
    const { params, lanes } = this;
    const { idx } = lanes.buffers;
    const tree: BinnedTree = {
      feature: [],
      bin: [],
      categorical: [],
      leftBins: [],
      missingLeft: [],
      table: [],
      left: [],
      right: [],
      value: [],
      gain: [],
      count: [],
    };
    this.freeSlots.length = 0;
    for (let s = this.slots.length - 1; s >= 0; s--) this.freeSlots.push(s);
    this.leafStart.length = 0;
    this.leafEnd.length = 0;
    this.leafNode.length = 0;

    // Root: histogram first, then the totals from it (every row is in one bin of any feature).
    if (allRows) idx.set(this.identity.subarray(0, bagSize));
    const rootSlot = this.freeSlots.pop()!;
    const rootHist = this.slots[rootSlot]!;
    if (allRows) lanes.histogramRange(rootHist, nActive, constantHessian, 0, bagSize);
    else lanes.histogramIndexed(rootHist, nActive, constantHessian, 0, bagSize);
    let G = 0;
    let H = 0;
    const off = lanes.buffers.features[0]! * FEATURE_SIZE;
    for (let b = 0; b < 256; b++) {
      G += rootHist[off + b * 3]!;
      H += rootHist[off + b * 3 + 1]!;
    }
    if (constantHessian) H = bagSize;
    const root = this.newNode(tree, 0, bagSize, 0, G, H, bagSize);
    root.slot = rootSlot;
    if (this.splittable(root, 1)) this.evaluate(root, nActive, constantHessian);
    else this.release(root);

    const leaves: GrowNode[] = [root];
    while (leaves.length < params.maxLeaves) {
      let best = -1;
      for (let i = 0; i < leaves.length; i++) {
        const split = leaves[i]!.split;
        if (split && (best < 0 || split.gain > leaves[best]!.split!.gain)) best = i;
      }
      if (best < 0) break;
      const parent = leaves[best]!;
      const split = parent.split!;
      parent.split = null;
      const [left, right] = this.addChildren(tree, parent, split);
      leaves.splice(best, 1, left, right);
      const leftCan = this.splittable(left, leaves.length);
      const rightCan = this.splittable(right, leaves.length);
      const parentSlot = parent.slot;
      parent.slot = -1;
      // Build the smaller child's histogram from its rows, derive the larger one's by
      // subtraction (in the parent's slot); skip both when neither child can split.
      const smallIsLeft = left.c <= right.c;
      const [small, large] = smallIsLeft ? [left, right] : [right, left];
      const smallCan = smallIsLeft ? leftCan : rightCan;
      const largeCan = smallIsLeft ? rightCan : leftCan;
      const parentHist = this.slots[parentSlot]!;
      let target: Float64Array | null = null;
      if (largeCan) {
        small.slot = this.freeSlots.pop()!;
        target = this.slots[small.slot]!;
      } else if (smallCan) {
        // Only the smaller child can split: build it in the parent's slot, nothing to subtract.
        small.slot = parentSlot;
        target = parentHist;
      } else this.freeSlots.push(parentSlot);

      const table = tree.table[parent.id]!;
      lanes.buffers.table.set(table);
      const leftCount = lanes.partitionAndHistogram(split.feature, parent.start, parent.end, target ? (smallIsLeft ? 'left' : 'right') : null, target, nActive, constantHessian);
      if (leftCount !== split.cLeft) {
        // The histogram and the partition must agree; a mismatch is a bug, not bad input.
        throw new Error(`gbdt: split of node ${parent.id} sent ${leftCount} rows left, histogram said ${split.cLeft}`);
      }
      this.splitPool.push(split);
      if (largeCan) {
        subtract(parentHist, target!, lanes.buffers.features, nActive);
        large.slot = parentSlot;
      }
      if (smallCan) this.evaluate(small, nActive, constantHessian);
      else this.release(small);
      if (largeCan) this.evaluate(large, nActive, constantHessian);
    }

    for (const leaf of leaves) {
      this.release(leaf);
      if (leaf.split) {
        this.splitPool.push(leaf.split);
        leaf.split = null;
      }
      this.leafStart.push(leaf.start);
      this.leafEnd.push(leaf.end);
      this.leafNode.push(leaf.id);
    }
    return tree;
  }

  private release(node: GrowNode): void {
    if (node.slot >= 0) this.freeSlots.push(node.slot);
    node.slot = -1;
  }

  private splittable(node: GrowNode, leavesNow: number): boolean {
    const p = this.params;
    return leavesNow < p.maxLeaves && node.depth < p.maxDepth && node.c >= 2 * p.minSamplesLeaf && node.h >= 2 * p.minChildWeight;
  }

  private newNode(tree: BinnedTree, start: number, end: number, depth: number, g: number, h: number, c: number): GrowNode {
    const id = tree.feature.length;
    tree.feature.push(-1);
    tree.bin.push(0);
    tree.categorical.push(false);
    tree.leftBins.push(null);
    tree.missingLeft.push(false);
    tree.table.push(null);
    tree.left.push(-1);
    tree.right.push(-1);
    const denominator = h + this.params.l2;
    tree.value.push(denominator > 0 ? -g / denominator : 0);
    tree.gain.push(0);
    tree.count.push(c);
    return { id, start, end, depth, g, h, c, slot: -1, split: null };
  }

  private evaluate(node: GrowNode, nActive: number, constantHessian: boolean): void {
    const split = this.splitPool.pop() ?? new SplitInfo();
    const features = this.lanes.buffers.features;
    findBestSplit(this.slots[node.slot]!, features, nActive, this.featureBins, node.g, node.h, node.c, constantHessian, this.params, this.scratch, split);
    if (split.feature >= 0) node.split = split;
    else {
      this.splitPool.push(split);
      this.release(node);
    }
  }

  /**
   * Records the split in `tree` and creates both children: the left one owns the first split.cLeft
   * rows of the parent's range (where the partition will put them), the right one the rest.
   */
  private addChildren(tree: BinnedTree, parent: GrowNode, split: SplitInfo): [GrowNode, GrowNode] {
    const table = new Uint8Array(256);
    split.fillTable(table);
    const id = parent.id;
    tree.feature[id] = split.feature;
    tree.bin[id] = split.bin;
    tree.categorical[id] = split.categorical;
    tree.leftBins[id] = split.categorical ? [...split.leftBins].sort((a, b) => a - b) : null;
    tree.missingLeft[id] = split.missingLeft;
    tree.table[id] = table;
    tree.gain[id] = split.gain;
    tree.value[id] = 0;
    const depth = parent.depth + 1;
    const l = parent.start + split.cLeft;
    const left = this.newNode(tree, parent.start, l, depth, split.gLeft, split.hLeft, split.cLeft);
    const right = this.newNode(tree, l, parent.end, depth, parent.g - split.gLeft, parent.h - split.hLeft, parent.c - split.cLeft);
    tree.left[id] = left.id;
    tree.right[id] = right.id;
    return [left, right];
  }
}

/** parent -= child over the active features: the sibling's histogram, without touching its rows. */
function subtract(parent: Float64Array, child: Float64Array, features: Int32Array, nActive: number): void {
  for (let k = 0; k < nActive; k++) {
    const off = features[k]! * FEATURE_SIZE;
    for (let i = off; i < off + FEATURE_SIZE; i++) parent[i] = parent[i]! - child[i]!;
  }
}

/**
 * Adds `scale` × leaf value of `tree` to out[r] for rows 0..n-1 of column-major binned data (bin of
 * feature f for row r at f * n + r), skipping rows where `skip[r] === 1` when `skip` is given.
 */
export function addBinnedTree(tree: BinnedTree, bins: Uint8Array, n: number, scale: number, out: Float64Array, skip: Uint8Array | null = null): void {
  const { feature, table, left, right, value } = tree;
  for (let r = 0; r < n; r++) {
    if (skip !== null && skip[r] === 1) continue;
    let node = 0;
    let f = feature[0]!;
    while (f >= 0) {
      node = table[node]![bins[f * n + r]!] === 1 ? left[node]! : right[node]!;
      f = feature[node]!;
    }
    out[r] = out[r]! + scale * value[node]!;
  }
}

