/** Shared fixtures for the ml tests: signatures, frames, and a brute-force tree walk. */
import type { TrainingData } from '../../src/ml/frame.js';
import type { Frame, GbdtModel, InputSpec, Signature, Task, Tree } from '../../src/ml/model.js';

export function numeric(name: string, min = 0, max = 1): InputSpec {
  return { name, kind: 'numeric', min, max };
}

export function categorical(name: string, size: number): InputSpec {
  return { name, kind: 'categorical', vocabulary: Array.from({ length: size }, (_, i) => `c${i}`) };
}

/** Training data from plain arrays: numbers for numeric inputs, codes for categorical ones. */
export function data(task: Task, inputs: InputSpec[], columns: number[][], labels: number[]): TrainingData {
  const signature: Signature = { task, inputs, label: 'y' };
  const frame: Frame = { rows: labels.length, columns: {} };
  inputs.forEach((input, i) => {
    frame.columns[input.name] = input.kind === 'numeric' ? Float64Array.from(columns[i]!) : Int32Array.from(columns[i]!);
  });
  return { frame, labels: Float64Array.from(labels), signature };
}

/** One tree's leaf value for row r, straight from the Tree semantics in model.ts. */
export function walkTree(tree: Tree, signature: Signature, frame: Frame, r: number): { value: number; leaf: number } {
  let node = 0;
  while (tree.feature[node]! >= 0) {
    const f = tree.feature[node]!;
    const input = signature.inputs[f]!;
    const x = frame.columns[input.name]![r]!;
    let left: boolean;
    if (input.kind === 'categorical') {
      const missing = x < 0 || x >= input.vocabulary.length;
      left = missing ? tree.missingLeft[node]! : tree.categories[node]!.includes(x);
    } else {
      left = Number.isNaN(x) ? tree.missingLeft[node]! : x <= tree.threshold[node]!;
    }
    node = left ? tree.left[node]! : tree.right[node]!;
  }
  return { value: tree.value[node]!, leaf: node };
}

/** Raw score by walking every tree one row at a time. */
export function bruteForceRaw(model: GbdtModel, frame: Frame): Float64Array {
  const out = new Float64Array(frame.rows);
  for (let r = 0; r < frame.rows; r++) {
    let s = model.baseScore;
    for (const tree of model.trees) s += walkTree(tree, model.signature, frame, r).value;
    out[r] = s;
  }
  return out;
}
