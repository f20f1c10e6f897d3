/**
 * ONNX export of Cairn's trained models, so that any ONNX runtime (onnxruntime, Triton, KServe,
 * Seldon…) serves the same predictions as Cairn's TypeScript `predict` (src/ml/predict.ts).
 *
 * ## The graph
 *
 * Versions: IR 8, opsets `ai.onnx` 17 and `ai.onnx.ml` 3. These are the newest that both
 * onnxruntime 1.30 and the ONNX checker of Debian 12 (python3-onnx 1.12, which CI runs on every
 * export) understand. onnxruntime 1.30 also runs `ai.onnx.ml` 5's `TreeEnsemble` with
 * `BRANCH_MEMBER`, but onnx 1.12 cannot check it, so we stay on the opset-3 operators.
 *
 * Inputs: one per signature input, in signature order, named as the input, shape `[N, 1]`
 * (`N` symbolic): numeric → `tensor(double)` (NaN = missing); categorical → `tensor(string)`. Each
 * categorical goes through an `ai.onnx.ml.LabelEncoder` (keys = the vocabulary, values = codes
 * 0…V-1, default -1), so a string outside the vocabulary becomes -1, i.e. missing, exactly like a
 * `Frame` code of -1. Feeding any string that is not in the vocabulary (the runner uses a
 * sentinel) is how a caller says "missing". A vocabulary entry may not contain NUL: onnxruntime
 * hands input strings to its kernels as C strings, so such an entry could never be matched.
 *
 * Outputs (their names are also recorded in the `cairn.outputs` metadata; should an input already
 * carry one of these names, the output gets `_` appended):
 * - binary: `probability` `[N]` float, the positive-class probability, and `label` `[N]` int64,
 *   1 exactly when the raw score is > 0 (probability > 0.5);
 * - regression: `value` `[N, 1]` float.
 *
 * Metadata (`metadata_props`): `cairn.signature` (the Signature as JSON), `cairn.model_type`
 * (`gbdt` | `linear`), `cairn.version` (the Cairn version that exported it), `cairn.outputs`
 * (JSON: `{"primary": name, "label"?: name}`); producer_name `cairn`.
 *
 * ## GBDT
 *
 * All inputs are concatenated to an `[N, F]` double matrix (categoricals as their code) feeding one
 * `TreeEnsembleRegressor` (SUM, `base_values` = baseScore) that yields the raw score; binary models
 * add a `Sigmoid`. We use the regressor plus `Sigmoid` rather than `TreeEnsembleClassifier`
 * because the score is then accumulated exactly as the TypeScript model does (base score plus the
 * leaves), with no dependence on the classifier's special binary-case rules, and because it is one
 * code path for both tasks.
 *
 * Numeric split `x <= t`: `BRANCH_LEQ` with `nodes_missing_value_tracks_true = missingLeft`.
 *
 * Float precision: thresholds, leaf values and the base score are written as double tensors
 * (`nodes_values_as_tensor`, `target_weights_as_tensor`, `base_values_as_tensor`) and the input is
 * double. onnxruntime then instantiates the tree kernel with double thresholds, so every split is
 * the float64 comparison the TypeScript model makes — bit for bit, with no nudging of thresholds.
 * (With `tensor(float)` inputs and the float `nodes_values` attribute, `float32(x) <=
 * float32(t)` differs from `x <= t` whenever x and t round to the same float32 but x > t, e.g.
 * t = 0.1 and x = 0.10000000000000002; the tests check such thresholds against the values right
 * next to them.) The leaves are summed in float64 too; only the final score is rounded once to
 * float32, the regressor's output type by the ONNX spec (a test checks 2^24 + 3 × 0.5).
 *
 * Categorical split "code ∈ S goes left": onnx 1.12 has no set-membership mode (BRANCH_MEMBER
 * is opset 5), so the split becomes a small decision structure on the code, whose exits are the
 * left and the right subtree. Missing is code -1 (the LabelEncoder default), so "missing goes
 * left" simply puts -1 into S; no NaN handling is involved. Codes can only be -1…V-1, so
 * testing S or its complement is equivalent. Two encodings (see `writeCategoricalSplit`):
 * - a chain of `BRANCH_EQ` tests over the smaller of S and its complement (equal → that side,
 *   end of chain → the other): m nodes, up to m tests per row — used for small sets and
 *   vocabularies;
 * - a balanced search tree of `code <= b` / `code > b` over the runs of consecutive codes with the
 *   same side: about 2 nodes per run, at most ⌈log2 runs⌉ + 1 tests per row — used when the chain
 *   would be longer (a split on 90 of 300 airports: 8 tests instead of up to 90).
 * The left and right subtrees are written once and shared by every exit that leads to them (a
 * DAG). The ONNX spec does not forbid it and onnxruntime accepts it (LightGBM's converter relies on
 * it) provided a shared node is reached through true edges only, but for at most one false edge
 * that is its first visit: onnxruntime lays each node's false child right after it. Both encodings
 * respect that; where a search-tree exit would be a false edge it goes through an always-true
 * test (`code <= V`) whose false child is an unreachable 0 leaf. Duplicating subtrees instead would
 * grow the model with the product of the set sizes along a path.
 *
 * ## Linear
 *
 * Numerics: `Concat` → `Where(IsNaN(x), mean, x)` → `Sub(mean)` → `MatMul(weight / std)`, all in
 * double (missing contributes 0, as in the model; a zero std counts as 1, as in `predict`). Each categorical: its code indexes a
 * double initializer `[w_0 … w_{V-1}, 0]` through `Gather`, so code -1 (missing or unseen) picks the
 * trailing 0. `Sum` adds the intercept and every contribution; binary models add `Sigmoid`. The
 * result is cast to float at the end.
 */
import { createRequire } from 'node:module';
import { CairnError, type FieldError } from '../../core/errors.js';
import type { CategoricalInput, GbdtModel, LinearModel, Signature, TrainedModel, Tree } from '../model.js';
import { encodeModel, GraphBuilder, ML_DOMAIN, valueInfo, DataType } from './graph.js';

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;
export const ONNX_ML_OPSET = 3;

/** metadata_props keys written by `exportOnnx` and read by `OnnxModelRunner`. */
export const METADATA_KEYS = {
  signature: 'cairn.signature',
  modelType: 'cairn.model_type',
  version: 'cairn.version',
  outputs: 'cairn.outputs',
} as const;

/** Value of the `cairn.outputs` metadata entry: which graph outputs hold what. */
export interface OnnxOutputNames {
  /** `probability` (binary) or `value` (regression): what `OnnxModelRunner.run` returns. */
  primary: string;
  /** Binary models: the int64 label output. */
  label?: string;
}

const { version: CAIRN_VERSION } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/**
 * Encodes a trained model as a self-describing ONNX ModelProto (see the module notes for the
 * graph). Deterministic: the same model gives the same bytes.
 *
 * @throws CairnError VALIDATION_FAILED when the model is inconsistent (no inputs, duplicate or
 *   empty input names, a duplicate vocabulary entry, a split on an input of the wrong kind or out
 *   of range, a child index out of range, a cycle, linear terms that do not match the inputs);
 *   `details.errors` lists every problem found.
 */
export function exportOnnx(model: TrainedModel): Uint8Array {
  const errors = model.type === 'gbdt' ? validateGbdt(model) : validateLinear(model);
  if (errors.length > 0) throw CairnError.validation(errors, `model cannot be exported to ONNX: ${errors.map((e) => `${e.path}: ${e.reason}`).join('; ')}`);

  const sig = model.signature;
  const inputNames = sig.inputs.map((i) => i.name);
  const outputs = outputNamesFor(sig, new Set(inputNames));
  const g = new GraphBuilder([...inputNames, outputs.primary, ...(outputs.label ? [outputs.label] : [])]);

  // Categorical inputs → int64 codes, -1 for missing/unseen.
  const codes = new Map<number, string>();
  sig.inputs.forEach((input, i) => {
    if (input.kind === 'categorical') codes.set(i, encodeCategorical(g, input));
  });

  const score = model.type === 'gbdt' ? gbdtScore(g, model, codes) : linearScore(g, model, codes);
  // `score` is float [N,1] for GBDT (the tree operator's output) and double [N,1] for linear.
  const outputInfos = [];
  if (sig.task === 'regression') {
    g.op('Cast', [score], outputs.primary, { to: { int: DataType.FLOAT } });
    outputInfos.push(valueInfo(outputs.primary, 'float', ['N', 1], 'predicted value'));
  } else {
    const axis1 = g.constInt64('axes', [1], [1]);
    const p = g.op('Sigmoid', [score], g.fresh('sigmoid'));
    const pFloat = g.op('Cast', [p], g.fresh('probability'), { to: { int: DataType.FLOAT } });
    g.op('Squeeze', [pFloat, axis1], outputs.primary);
    const zero = model.type === 'gbdt' ? floatZero(g) : g.constDouble('zero', [0], []);
    const positive = g.op('Greater', [score, zero], g.fresh('positive'));
    const label = g.op('Cast', [positive], g.fresh('label'), { to: { int: DataType.INT64 } });
    g.op('Squeeze', [label, axis1], outputs.label as string);
    outputInfos.push(valueInfo(outputs.primary, 'float', ['N'], 'positive-class probability'));
    outputInfos.push(valueInfo(outputs.label as string, 'int64', ['N'], 'predicted class: 1 when probability > 0.5'));
  }

  const metadata: Record<string, string> = {
    [METADATA_KEYS.signature]: JSON.stringify(sig),
    [METADATA_KEYS.modelType]: model.type,
    [METADATA_KEYS.version]: CAIRN_VERSION,
    [METADATA_KEYS.outputs]: JSON.stringify(outputs),
  };
  const what = `${model.type === 'gbdt' ? `gradient-boosted trees (${model.trees.length} trees)` : 'linear model'}, ${sig.task === 'binary' ? 'binary classification' : 'regression'} of '${sig.label}'`;
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsets: [
      { domain: '', version: ONNX_OPSET },
      { domain: ML_DOMAIN, version: ONNX_ML_OPSET },
    ],
    producerVersion: CAIRN_VERSION,
    docString: `Cairn ${what}. Inputs: [N,1] each, numeric as double (NaN = missing), categorical as string (a value outside the vocabulary = missing). Outputs: ${JSON.stringify(outputs)}.`,
    graphName: `cairn_${model.type}_${sig.task}`,
    graph: g,
    inputs: sig.inputs.map((input) =>
      valueInfo(input.name, input.kind === 'numeric' ? 'double' : 'string', ['N', 1], input.kind === 'numeric' ? 'numeric; NaN = missing' : 'categorical; a value outside the vocabulary = missing'),
    ),
    outputs: outputInfos,
    metadata,
  });
}

function outputNamesFor(sig: Signature, taken: Set<string>): OnnxOutputNames {
  const free = (name: string): string => {
    while (taken.has(name)) name += '_';
    taken.add(name);
    return name;
  };
  return sig.task === 'binary' ? { primary: free('probability'), label: free('label') } : { primary: free('value') };
}

function floatZero(g: GraphBuilder): string {
  const name = g.fresh('zero');
  g.initializers.push({ name, dims: [], dataType: DataType.FLOAT, floatData: [0] });
  return name;
}

function encodeCategorical(g: GraphBuilder, input: CategoricalInput): string {
  // An empty vocabulary: every value is unseen. LabelEncoder needs at least one key, so map a
  // single key to -1 as well.
  const keys = input.vocabulary.length > 0 ? input.vocabulary : [''];
  const values = input.vocabulary.length > 0 ? input.vocabulary.map((_, i) => i) : [-1];
  return g.op('LabelEncoder', [input.name], g.fresh(`code/${input.name}`), { keys_strings: { strings: keys }, values_int64s: { ints: values }, default_int64: { int: -1 } }, ML_DOMAIN);
}

/** Input i as a double [N,1] column: the input itself for numerics, the code cast for categoricals. */
function doubleColumn(g: GraphBuilder, sig: Signature, i: number, codes: Map<number, string>): string {
  const input = sig.inputs[i]!;
  if (input.kind === 'numeric') return input.name;
  return g.op('Cast', [codes.get(i)!], g.fresh(`code_double/${input.name}`), { to: { int: DataType.DOUBLE } });
}

// ---------------------------------------------------------------------------------------------
// GBDT

interface EnsembleArrays {
  treeIds: number[];
  nodeIds: number[];
  featureIds: number[];
  modes: string[];
  values: number[];
  trueIds: number[];
  falseIds: number[];
  missingTrue: number[];
  targetTreeIds: number[];
  targetNodeIds: number[];
  targetWeights: number[];
}

function gbdtScore(g: GraphBuilder, model: GbdtModel, codes: Map<number, string>): string {
  const sig = model.signature;
  const columns = sig.inputs.map((_, i) => doubleColumn(g, sig, i, codes));
  const x = g.op('Concat', columns, g.fresh('X'), { axis: { int: 1 } });
  const a: EnsembleArrays = { treeIds: [], nodeIds: [], featureIds: [], modes: [], values: [], trueIds: [], falseIds: [], missingTrue: [], targetTreeIds: [], targetNodeIds: [], targetWeights: [] };
  model.trees.forEach((tree, t) => appendTree(a, tree, t, sig));
  if (a.treeIds.length === 0) appendConstantTree(a, 0, 0); // ONNX needs at least one node
  return g.op(
    'TreeEnsembleRegressor',
    [x],
    g.fresh('score'),
    {
      n_targets: { int: 1 },
      aggregate_function: { string: 'SUM' },
      post_transform: { string: 'NONE' },
      base_values_as_tensor: { doubleTensor: [model.baseScore] },
      nodes_treeids: { ints: a.treeIds },
      nodes_nodeids: { ints: a.nodeIds },
      nodes_featureids: { ints: a.featureIds },
      nodes_modes: { strings: a.modes },
      nodes_values_as_tensor: { doubleTensor: a.values },
      nodes_truenodeids: { ints: a.trueIds },
      nodes_falsenodeids: { ints: a.falseIds },
      nodes_missing_value_tracks_true: { ints: a.missingTrue },
      target_treeids: { ints: a.targetTreeIds },
      target_nodeids: { ints: a.targetNodeIds },
      target_ids: { ints: a.targetTreeIds.map(() => 0) },
      target_weights_as_tensor: { doubleTensor: a.targetWeights },
    },
    ML_DOMAIN,
  );
}

function pushNode(a: EnsembleArrays, tree: number, id: number, feature: number, mode: string, value: number, trueId: number, falseId: number, missingTrue: boolean): void {
  a.treeIds.push(tree);
  a.nodeIds.push(id);
  a.featureIds.push(feature);
  a.modes.push(mode);
  a.values.push(value);
  a.trueIds.push(trueId);
  a.falseIds.push(falseId);
  a.missingTrue.push(missingTrue ? 1 : 0);
}

function appendConstantTree(a: EnsembleArrays, tree: number, value: number): void {
  pushNode(a, tree, 0, 0, 'LEAF', 0, 0, 0, false);
  a.targetTreeIds.push(tree);
  a.targetNodeIds.push(0);
  a.targetWeights.push(value);
}

/** Writes the ONNX nodes of one tree; ids are handed out by `alloc`. */
interface TreeWriter {
  alloc(): number;
  branch(id: number, feature: number, mode: 'BRANCH_LEQ' | 'BRANCH_GT' | 'BRANCH_EQ', value: number, trueId: number, falseId: number, missingTrue: boolean): void;
  leaf(id: number, weight: number): void;
}

/**
 * Appends one tree. ONNX node ids are handed out in visiting order; a categorical split takes as
 * many ids as its encoding has nodes. Only nodes reachable from the root are emitted.
 */
function appendTree(a: EnsembleArrays, tree: Tree, t: number, sig: Signature): void {
  if (tree.feature.length === 0) return;
  let nextId = 0;
  const w: TreeWriter = {
    alloc: () => nextId++,
    branch: (id, feature, mode, value, trueId, falseId, missingTrue) => pushNode(a, t, id, feature, mode, value, trueId, falseId, missingTrue),
    leaf: (id, weight) => {
      pushNode(a, t, id, 0, 'LEAF', 0, 0, 0, false);
      a.targetTreeIds.push(t);
      a.targetNodeIds.push(id);
      a.targetWeights.push(weight);
    },
  };
  const onnxId = new Map<number, number>(); // model node → ONNX id of its (first) node
  const idOf = (node: number): number => {
    let id = onnxId.get(node);
    if (id === undefined) {
      id = w.alloc();
      onnxId.set(node, id);
    }
    return id;
  };
  const stack = [0];
  idOf(0);
  while (stack.length > 0) {
    const node = stack.pop()!;
    const id = onnxId.get(node)!;
    const feature = tree.feature[node]!;
    if (feature < 0) {
      w.leaf(id, tree.value[node]!);
      continue;
    }
    const left = idOf(tree.left[node]!);
    const right = idOf(tree.right[node]!);
    stack.push(tree.right[node]!, tree.left[node]!);
    const categories = tree.categories[node];
    if (categories === null || categories === undefined) {
      w.branch(id, feature, 'BRANCH_LEQ', tree.threshold[node]!, left, right, tree.missingLeft[node]!);
    } else {
      const vocabSize = (sig.inputs[feature] as CategoricalInput).vocabulary.length;
      writeCategoricalSplit(w, id, feature, categories, tree.missingLeft[node]!, vocabSize, left, right);
    }
  }
}

/**
 * Writes a categorical split "code ∈ S → left" as node `id` and the nodes it needs, routing every
 * code of U = {-1, 0, …, V-1} (-1 = missing) to `left` or `right`.
 *
 * onnxruntime lays a tree out with each node's false child right after it, so it accepts a node
 * reached by several edges only when all but possibly one of them are true edges; both encodings
 * below reach `left` and `right` (which several nodes share) through true edges only, except for
 * the one chain end that is their only reference.
 *
 * - Chain: `code == c` for each c of the smaller of S and U \ S; equality leads to that side, the
 *   end of the chain to the other. m tests, up to m on a row's path.
 * - Search tree: U splits into k maximal runs of consecutive codes with one destination; a
 *   balanced tree of `code <= end of run` tests (`code > …` where that puts the subtree on the
 *   true edge) finds the run in ⌈log2 k⌉ tests. Where both children would be subtrees, the false
 *   one is reached through an always-true test (`code <= V`) whose false child is an unreachable
 *   0 leaf. About 2k nodes, at most ⌈log2 k⌉ + 1 tests on a row's path.
 *
 * The chain is used when it is no longer than the search tree's path (small sets, small
 * vocabularies); large vocabularies (airports) get the search tree.
 */
function writeCategoricalSplit(w: TreeWriter, id: number, feature: number, categories: number[], missingLeft: boolean, vocabSize: number, left: number, right: number): void {
  const inLeft = new Uint8Array(vocabSize + 1); // index code + 1
  for (const c of categories) if (Number.isInteger(c) && c >= 0 && c < vocabSize) inLeft[c + 1] = 1;
  if (missingLeft) inLeft[0] = 1;
  let leftCount = 0;
  for (const v of inLeft) leftCount += v;
  const rightCount = vocabSize + 1 - leftCount;

  if (leftCount === 0 || rightCount === 0) {
    // Everything goes one way: a never-true test (codes are never -2).
    const [never, always] = leftCount === 0 ? [left, right] : [right, left];
    w.branch(id, feature, 'BRANCH_EQ', -2, never, always, false);
    return;
  }

  const runs: { end: number; target: number }[] = [];
  for (let c = -1; c < vocabSize; c++) {
    const target = inLeft[c + 1] ? left : right;
    const last = runs[runs.length - 1];
    if (last && last.target === target) last.end = c;
    else runs.push({ end: c, target });
  }
  const chainLength = Math.min(leftCount, rightCount);
  if (chainLength <= Math.ceil(Math.log2(runs.length)) + 1) {
    const testLeft = leftCount <= rightCount;
    const tests: number[] = [];
    for (let c = -1; c < vocabSize; c++) if (Boolean(inLeft[c + 1]) === testLeft) tests.push(c);
    const [whenEqual, otherwise] = testLeft ? [left, right] : [right, left];
    let current = id;
    tests.forEach((code, j) => {
      const next = j === tests.length - 1 ? otherwise : w.alloc();
      w.branch(current, feature, 'BRANCH_EQ', code, whenEqual, next, false);
      current = next;
    });
    return;
  }

  // Search tree over runs[lo..hi] (hi > lo), rooted at node `at`.
  const build = (at: number, lo: number, hi: number): void => {
    const mid = (lo + hi) >> 1; // codes <= runs[mid].end are runs lo..mid
    const threshold = runs[mid]!.end;
    const lowIsRun = lo === mid;
    const highIsRun = mid + 1 === hi;
    if (!lowIsRun && !highIsRun) {
      const low = w.alloc();
      const high = w.alloc();
      w.branch(at, feature, 'BRANCH_LEQ', threshold, low, high, false);
      build(low, lo, mid);
      build(high, mid + 1, hi);
    } else if (lowIsRun && !highIsRun) {
      const high = w.alloc();
      w.branch(at, feature, 'BRANCH_LEQ', threshold, runs[lo]!.target, high, false);
      build(high, mid + 1, hi);
    } else if (!lowIsRun && highIsRun) {
      const low = w.alloc();
      w.branch(at, feature, 'BRANCH_GT', threshold, runs[hi]!.target, low, false);
      build(low, lo, mid);
    } else {
      const always = w.alloc();
      const unreachable = w.alloc();
      w.branch(at, feature, 'BRANCH_LEQ', threshold, runs[lo]!.target, always, false);
      w.branch(always, feature, 'BRANCH_LEQ', vocabSize, runs[hi]!.target, unreachable, false);
      w.leaf(unreachable, 0);
    }
  };
  build(id, 0, runs.length - 1);
}

function validateGbdt(model: GbdtModel): FieldError[] {
  const errors = validateSignature(model.signature);
  const inputs = model.signature.inputs;
  if (!Number.isFinite(model.baseScore)) errors.push({ path: 'baseScore', reason: `must be a finite number, got ${model.baseScore}` });
  model.trees.forEach((tree, t) => {
    const n = tree.feature.length;
    const at = (field: string, node?: number): string => `trees[${t}].${field}${node === undefined ? '' : `[${node}]`}`;
    let consistent = true;
    for (const field of ['threshold', 'categories', 'missingLeft', 'left', 'right', 'value'] as const) {
      if (tree[field].length === n) continue;
      errors.push({ path: at(field), reason: `has ${tree[field].length} entries, feature has ${n}` });
      consistent = false;
    }
    if (!consistent) return;
    // Every node reachable from the root exactly once (a tree, no cycles, no shared children).
    const seen = new Uint8Array(n);
    const stack = n > 0 ? [0] : [];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (seen[node]) {
        errors.push({ path: at('feature', node), reason: 'node is reached twice (the tree has a cycle or a shared child)' });
        return;
      }
      seen[node] = 1;
      const f = tree.feature[node]!;
      if (f < 0) continue;
      const input = inputs[f];
      if (!Number.isInteger(f) || input === undefined) {
        errors.push({ path: at('feature', node), reason: `input index ${f} is out of range (${inputs.length} inputs)` });
        continue;
      }
      const categories = tree.categories[node];
      if (input.kind === 'numeric' && categories !== null) errors.push({ path: at('categories', node), reason: `categorical split on numeric input '${input.name}'` });
      if (input.kind === 'categorical' && categories === null) errors.push({ path: at('categories', node), reason: `numeric split on categorical input '${input.name}'` });
      if (categories === null && Number.isNaN(tree.threshold[node])) errors.push({ path: at('threshold', node), reason: 'is NaN' });
      for (const child of [tree.left[node]!, tree.right[node]!]) {
        if (!Number.isInteger(child) || child <= 0 || child >= n) errors.push({ path: at(child === tree.left[node] ? 'left' : 'right', node), reason: `child ${child} is out of range (1…${n - 1})` });
        else stack.push(child);
      }
    }
  });
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Linear

function linearScore(g: GraphBuilder, model: LinearModel, codes: Map<number, string>): string {
  const sig = model.signature;
  const parts: string[] = [g.constDouble('intercept', [model.intercept], [1])];

  const numeric = sig.inputs.flatMap((input, i) => (input.kind === 'numeric' ? [i] : []));
  if (numeric.length > 0) {
    const terms = numeric.map((i) => model.terms[i] as { mean: number; std: number; weight: number });
    const f = numeric.length;
    const x = g.op('Concat', numeric.map((i) => sig.inputs[i]!.name), g.fresh('numeric'), { axis: { int: 1 } });
    const means = g.constDouble('mean', terms.map((t) => t.mean), [1, f]);
    // As predict.ts: (x - mean) * (weight / std), a zero (or NaN) std counting as 1.
    const scales = g.constDouble('scale', terms.map((t) => t.weight / (t.std || 1)), [f, 1]);
    const isNaN = g.op('IsNaN', [x], g.fresh('is_missing'));
    const filled = g.op('Where', [isNaN, means, x], g.fresh('filled'));
    const centered = g.op('Sub', [filled, means], g.fresh('centered'));
    parts.push(g.op('MatMul', [centered, scales], g.fresh('numeric_sum')));
  }

  sig.inputs.forEach((input, i) => {
    if (input.kind !== 'categorical') return;
    const term = model.terms[i] as { weights: number[] };
    // Index -1 (missing or unseen) selects the trailing 0.
    const table = g.constDouble(`weights/${input.name}`, [...term.weights, 0], [term.weights.length + 1]);
    parts.push(g.op('Gather', [table, codes.get(i)!], g.fresh(`contribution/${input.name}`), { axis: { int: 0 } }));
  });

  return g.op('Sum', parts, g.fresh('score'));
}

function validateLinear(model: LinearModel): FieldError[] {
  const errors = validateSignature(model.signature);
  const inputs = model.signature.inputs;
  if (!Number.isFinite(model.intercept)) errors.push({ path: 'intercept', reason: `must be a finite number, got ${model.intercept}` });
  if (model.terms.length !== inputs.length) {
    errors.push({ path: 'terms', reason: `has ${model.terms.length} entries for ${inputs.length} inputs` });
    return errors;
  }
  model.terms.forEach((term, i) => {
    const input = inputs[i]!;
    if (term.kind !== input.kind) errors.push({ path: `terms[${i}].kind`, reason: `is ${term.kind} but input '${input.name}' is ${input.kind}` });
    else if (term.kind === 'categorical' && input.kind === 'categorical' && term.weights.length !== input.vocabulary.length)
      errors.push({ path: `terms[${i}].weights`, reason: `has ${term.weights.length} entries for a vocabulary of ${input.vocabulary.length}` });
  });
  return errors;
}

function validateSignature(sig: Signature): FieldError[] {
  const errors: FieldError[] = [];
  if (sig.task !== 'binary' && sig.task !== 'regression') errors.push({ path: 'signature.task', reason: `unknown task '${String(sig.task)}'` });
  if (sig.inputs.length === 0) errors.push({ path: 'signature.inputs', reason: 'a model needs at least one input (ONNX takes the batch size from the inputs)' });
  const names = new Set<string>();
  sig.inputs.forEach((input, i) => {
    if (input.name === '') errors.push({ path: `signature.inputs[${i}].name`, reason: 'is empty' });
    if (names.has(input.name)) errors.push({ path: `signature.inputs[${i}].name`, reason: `duplicate input name '${input.name}'` });
    names.add(input.name);
    if (input.kind === 'categorical') {
      const seen = new Set<string>();
      input.vocabulary.forEach((v, j) => {
        if (seen.has(v)) errors.push({ path: `signature.inputs[${i}].vocabulary[${j}]`, reason: `duplicate category '${v}'` });
        // onnxruntime passes input strings as C strings: it could never match such a category.
        if (v.includes('\u0000')) errors.push({ path: `signature.inputs[${i}].vocabulary[${j}]`, reason: 'contains a NUL character, which onnxruntime string inputs cannot carry' });
        seen.add(v);
      });
    }
  });
  return errors;
}
