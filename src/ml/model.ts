/**
 * Trained models as plain data: what the trainers produce, what ONNX export reads, and what
 * prediction in TypeScript evaluates. A model carries its signature (inputs, types, vocabularies,
 * ranges) so that serving can validate requests and monitoring can compare distributions.
 */

export type Task = 'binary' | 'regression';

export interface NumericInput {
  name: string;
  kind: 'numeric';
  /** Range seen in training (for validation and drift). */
  min: number;
  max: number;
}

export interface CategoricalInput {
  name: string;
  kind: 'categorical';
  /** Code i stands for vocabulary[i]; a value outside it is treated as missing. */
  vocabulary: string[];
}

export type InputSpec = NumericInput | CategoricalInput;

export interface Signature {
  task: Task;
  inputs: InputSpec[];
  /** Name of the label column the model was trained on. */
  label: string;
}

/**
 * A columnar batch of inputs: numeric columns are Float64Array with NaN for missing; categorical
 * columns are Int32Array of vocabulary codes with -1 for missing or unseen.
 */
export interface Frame {
  rows: number;
  columns: Record<string, Float64Array | Int32Array>;
}

/**
 * One regression tree as parallel arrays; node 0 is the root. For a numeric split a value goes
 * left when `x <= threshold`; for a categorical split when its code is in `categories[node]`.
 * Missing values (NaN, code -1) go left when `missingLeft[node]`.
 */
export interface Tree {
  /** Input index (into signature.inputs) tested at the node; -1 at a leaf. */
  feature: number[];
  threshold: number[];
  /** Codes going left at a categorical split; null at numeric splits and leaves. */
  categories: (number[] | null)[];
  missingLeft: boolean[];
  left: number[];
  right: number[];
  /** Leaf output added to the raw score (the learning rate already applied); 0 at inner nodes. */
  value: number[];
}

export interface GbdtModel {
  type: 'gbdt';
  signature: Signature;
  /** Raw score before any tree: log-odds of the base rate (binary) or the mean (regression). */
  baseScore: number;
  trees: Tree[];
  /** Total split gain per input, normalized to sum to 1. */
  featureImportance: Record<string, number>;
}

export interface LinearModel {
  type: 'linear';
  signature: Signature;
  intercept: number;
  /**
   * One entry per input, in signature order. Numeric: the input is standardized with mean/std
   * (missing → mean) and multiplied by `weight`. Categorical: one weight per vocabulary code
   * (missing or unseen contributes 0).
   */
  terms: ({ kind: 'numeric'; mean: number; std: number; weight: number } | { kind: 'categorical'; weights: number[] })[];
}

export type TrainedModel = GbdtModel | LinearModel;
