/** Types of the model registry. Times are ISO-8601 UTC strings. */
import type { Signature } from '../ml/index.js';

/** The lifecycle stages of a model version, in their canonical spelling. */
export const STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export type Stage = (typeof STAGES)[number];

export interface RegisteredModel {
  /** Unique; letters, digits, `_`, `.`, `-`. */
  name: string;
  description: string;
  tags: Record<string, string>;
  /** The user answerable for the model (default: its creator). */
  owner: string;
  /** The highest version number; 0 before the first version. */
  latestVersion: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

/** A file of a model version, by its path inside the version (`model.onnx`, `profile.json`, …). */
export interface VersionArtifact {
  path: string;
  /** `sha256:<hex>` in the artifact store: the content can never change under this name. */
  digest: string;
  size: number;
}

/** Where a version's model came from: a run's artifact, or a file uploaded to the registry. */
export type ModelSource = { kind: 'run'; runId: string; artifactPath: string } | { kind: 'upload'; digest: string };

/** One graph input or output as onnxruntime reports it. */
export interface TensorSpec {
  name: string;
  /** onnxruntime's element type: `float32`, `float64`, `string`, `int64`, … */
  type: string;
  /** Dimensions; a string is a symbolic dimension such as `N`. */
  shape: (number | string)[];
}

/**
 * What a model takes and returns. `inputs`/`outputs` come from the ONNX graph itself, so any
 * framework's export has them; `cairn` is the richer Cairn signature (kinds, ranges,
 * vocabularies, label) when the run's signature.json or the ONNX metadata `cairn.signature` has it.
 */
export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  cairn: Signature | null;
  /** `producer_name` of the ONNX file (`cairn`, `skl2onnx`, `pytorch`, …). */
  producer: string | null;
  /** `cairn.model_type` of a Cairn export (`gbdt`, `linear`). */
  modelType: string | null;
}

/** What a model version was made from, recorded once at registration. */
export interface Lineage {
  runId: string | null;
  /** The training dataset version (`name@version`) and the sha256 of its content. */
  dataset: { ref: string; contentHash: string | null } | null;
  featureSet: string | null;
  /** The exact feature versions (`name@version`) the model was trained on. */
  features: string[];
  trainer: string | null;
  params: Record<string, string>;
  codeVersion: string | null;
  /** The version this one was derived from (fine-tuned, retrained), when given. */
  parent: { model: string; version: number } | null;
}

export type ReviewStatus = 'pending' | 'approved' | 'rejected';
export type ReviewDecision = 'approved' | 'rejected';

/** The state of a version's current card revision, as lists show it. */
export interface CardSummary {
  revision: number;
  status: ReviewStatus;
}

export interface ModelVersion {
  model: string;
  version: number;
  stage: Stage;
  /** When the version entered its current stage (its creation for None). */
  stageUpdatedAt: string;
  /** The aliases pointing at this version. */
  aliases: string[];
  source: ModelSource;
  /** Digest of the ONNX file (also the `model.onnx` artifact). */
  modelDigest: string;
  artifacts: VersionArtifact[];
  signature: ModelSignature;
  lineage: Lineage;
  /** The run's final metrics when the version was registered. */
  metrics: Record<string, number>;
  card: CardSummary;
  createdAt: string;
  createdBy: string;
}

/** A version as `GET …/versions/{v}` returns it: with its whole current card. */
export type ModelVersionDetail = Omit<ModelVersion, 'card'> & { card: CardRevision };

export interface StageTransition {
  id: number;
  model: string;
  version: number;
  from: Stage;
  to: Stage;
  comment: string;
  /** True when the move followed from another (the old Production version archived by a promotion). */
  automatic: boolean;
  at: string;
  actor: string;
}

export interface ModelAlias {
  model: string;
  alias: string;
  version: number;
  updatedAt: string;
  updatedBy: string;
}

// ---- model cards ----------------------------------------------------------------------------

export interface CardOwner {
  name: string;
  contact: string | null;
}

/** A risk and how it is mitigated (Model Card Toolkit's `risk`). */
export interface CardRisk {
  name: string;
  mitigationStrategy: string | null;
}

export interface PerformanceMetric {
  /** The metric's name, e.g. `valid_auc`. */
  type: string;
  value: number;
  /** The data it was measured on (`validation`, `training`, a subgroup…), when known. */
  slice: string | null;
  /** `run` when copied from the run's final metrics, `user` when written on the card. */
  source: 'run' | 'user';
}

/**
 * What an author writes on a card, flat and normalized: the form the API, the SDK and
 * `cairn models card-edit --set` take. Each revision stores one of these; the card document
 * (ModelCard) is built from it and the version's recorded facts.
 */
export interface CardFields {
  description: string;
  intendedUse: string[];
  trainingData: string;
  evaluationData: string | null;
  owners: CardOwner[];
  license: string | null;
  references: string[];
  modelArchitecture: string | null;
  inputFormat: string | null;
  outputFormat: string | null;
  /** Metrics added by hand; the run's own are filled in automatically. */
  performanceMetrics: PerformanceMetric[];
  users: string[];
  limitations: string[];
  tradeoffs: string[];
  ethicalConsiderations: CardRisk[];
  outOfScopeUses: string[];
  caveats: string[];
}

/**
 * A model card in the sections of Google's Model Card Toolkit schema, in camelCase:
 * model details, model parameters, quantitative analysis, considerations.
 */
export interface ModelCard {
  modelDetails: {
    name: string;
    version: number;
    /** MCT `overview`: what the model does (the `description` field). */
    overview: string;
    owners: CardOwner[];
    license: string | null;
    references: string[];
    createdAt: string;
  };
  modelParameters: {
    modelArchitecture: string | null;
    data: {
      training: { description: string; dataset: { ref: string; contentHash: string | null } | null };
      evaluation: { description: string | null };
    };
    inputFormat: string | null;
    outputFormat: string | null;
  };
  quantitativeAnalysis: { performanceMetrics: PerformanceMetric[] };
  considerations: {
    users: string[];
    /** MCT `use_cases`: the intended uses (the `intendedUse` field). */
    useCases: string[];
    limitations: string[];
    tradeoffs: string[];
    ethicalConsiderations: CardRisk[];
    outOfScopeUses: string[];
    caveats: string[];
  };
}

export interface CardReview {
  id: number;
  model: string;
  version: number;
  revision: number;
  decision: ReviewDecision;
  comment: string;
  at: string;
  actor: string;
}

/** One revision of a version's card, with its review state and completeness. */
export interface CardRevision extends CardSummary {
  model: string;
  version: number;
  card: ModelCard;
  /** True when every field the Production gate asks for is filled (see cards.ts). */
  complete: boolean;
  /** The fields still empty for completeness, as `card.<field>` paths. */
  missing: string[];
  /** Every approval and rejection of this revision, oldest first. */
  reviews: CardReview[];
  /** True for the version's current revision. */
  current: boolean;
  createdAt: string;
  createdBy: string;
}

// ---- lineage answers ------------------------------------------------------------------------

export interface FeatureLineage {
  ref: string;
  name: string;
  version: number;
  entity: string | null;
  source: string | null;
  valueType: string | null;
  expression: string | null;
  window: string | null;
  description: string | null;
  /** False when the feature store no longer knows this version. */
  found: boolean;
}

/** A model version traced back to its run, data and features. */
export interface LineageDetail {
  model: string;
  version: number;
  source: ModelSource;
  run: { id: string; experiment: string; name: string; status: string; startTime: string; endTime: string | null; author: string } | null;
  dataset: {
    ref: string;
    name: string;
    version: number;
    contentHash: string | null;
    rowCount: number | null;
    createdAt: string | null;
    found: boolean;
  } | null;
  featureSet: string | null;
  features: FeatureLineage[];
  trainer: string | null;
  params: Record<string, string>;
  codeVersion: string | null;
  parent: { model: string; version: number } | null;
  metrics: Record<string, number>;
}
