/**
 * Model cards: the fields an author writes, the rules they follow, completeness, and the card
 * document in Model Card Toolkit sections.
 *
 * Authors write flat fields (CardInput); the document (ModelCard) places them in sections:
 *
 * | field | section |
 * | --- | --- |
 * | description | modelDetails.overview |
 * | owners, license, references | modelDetails |
 * | modelArchitecture, inputFormat, outputFormat | modelParameters |
 * | trainingData, evaluationData | modelParameters.data.training / .evaluation (description) |
 * | performanceMetrics | quantitativeAnalysis (besides the run's final metrics) |
 * | intendedUse | considerations.useCases |
 * | users, limitations, tradeoffs, ethicalConsiderations, outOfScopeUses, caveats | considerations |
 *
 * Required at registration: description, intendedUse, trainingData. **Complete** (what the
 * Production gate asks for): those three plus at least one limitation, one ethical consideration,
 * one owner, and a license.
 */
import { ValidationErrors } from '../core/errors.js';
import type { CardFields, CardOwner, CardRisk, Lineage, ModelCard, ModelSignature, PerformanceMetric } from './model.js';
import { MAX_TEXT } from './validation.js';

type TextList = string | string[];

/** A card as an author writes it; every field optional here, three are required at registration. */
export interface CardInput {
  description?: string;
  intendedUse?: TextList;
  trainingData?: string;
  evaluationData?: string | null;
  owners?: string | (string | { name: string; contact?: string | null })[];
  license?: string | null;
  references?: TextList;
  modelArchitecture?: string | null;
  inputFormat?: string | null;
  outputFormat?: string | null;
  performanceMetrics?: { type: string; value: number; slice?: string | null }[];
  users?: TextList;
  limitations?: TextList;
  tradeoffs?: TextList;
  ethicalConsiderations?: string | (string | { name: string; mitigationStrategy?: string | null })[];
  outOfScopeUses?: TextList;
  caveats?: TextList;
}

/** An edit: the fields given replace the current ones, `null` empties an optional field. */
export type CardPatch = { [K in keyof CardInput]?: CardInput[K] | null };

export const REQUIRED_FIELDS = ['description', 'intendedUse', 'trainingData'] as const;
/** What a complete card has filled, besides the required fields. */
export const COMPLETENESS_FIELDS = [...REQUIRED_FIELDS, 'limitations', 'ethicalConsiderations', 'owners', 'license'] as const;

const REQUIRED_REASON: Record<(typeof REQUIRED_FIELDS)[number], string> = {
  description: 'required: what the model does',
  intendedUse: 'required: what the model is meant to be used for',
  trainingData: 'required: what data the model was trained on',
};

const MAX_ITEMS = 100;
const EMPTY_FIELDS: CardFields = {
  description: '',
  intendedUse: [],
  trainingData: '',
  evaluationData: null,
  owners: [],
  license: null,
  references: [],
  modelArchitecture: null,
  inputFormat: null,
  outputFormat: null,
  performanceMetrics: [],
  users: [],
  limitations: [],
  tradeoffs: [],
  ethicalConsiderations: [],
  outOfScopeUses: [],
  caveats: [],
};
const FIELD_NAMES = new Set(Object.keys(EMPTY_FIELDS));

function text(v: ValidationErrors, path: string, value: unknown): string | null {
  return v.text(path, value, MAX_TEXT)?.trim() ?? null;
}

/** A list of items, or one item standing for a list of one; empty strings are dropped. */
function list<T>(v: ValidationErrors, path: string, value: unknown, item: (path: string, x: unknown) => T | null): T[] {
  const items = Array.isArray(value) ? value : [value];
  if (items.length > MAX_ITEMS) {
    v.add(path, `at most ${MAX_ITEMS} entries`);
    return [];
  }
  const out: T[] = [];
  items.forEach((x, i) => {
    const parsed = item(Array.isArray(value) ? `${path}[${i}]` : path, x);
    if (parsed !== null && parsed !== '') out.push(parsed);
  });
  return out;
}

function owner(v: ValidationErrors, path: string, x: unknown): CardOwner | null {
  if (typeof x === 'string') return x.trim() ? { name: text(v, path, x) ?? '', contact: null } : null;
  if (x && typeof x === 'object' && !Array.isArray(x)) {
    const o = x as { name?: unknown; contact?: unknown };
    const name = text(v, `${path}.name`, o.name);
    const contact = o.contact === undefined || o.contact === null ? null : text(v, `${path}.contact`, o.contact);
    if (name === '') v.add(`${path}.name`, 'must not be empty');
    return name ? { name, contact: contact || null } : null;
  }
  v.add(path, 'expected a name or {name, contact}');
  return null;
}

function risk(v: ValidationErrors, path: string, x: unknown): CardRisk | null {
  if (typeof x === 'string') return x.trim() ? { name: text(v, path, x) ?? '', mitigationStrategy: null } : null;
  if (x && typeof x === 'object' && !Array.isArray(x)) {
    const r = x as { name?: unknown; mitigationStrategy?: unknown };
    const name = text(v, `${path}.name`, r.name);
    const mitigation = r.mitigationStrategy === undefined || r.mitigationStrategy === null ? null : text(v, `${path}.mitigationStrategy`, r.mitigationStrategy);
    if (name === '') v.add(`${path}.name`, 'must not be empty');
    return name ? { name, mitigationStrategy: mitigation || null } : null;
  }
  v.add(path, 'expected a text or {name, mitigationStrategy}');
  return null;
}

function metric(v: ValidationErrors, path: string, x: unknown): PerformanceMetric | null {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) {
    v.add(path, 'expected {type, value, slice?}');
    return null;
  }
  const m = x as { type?: unknown; value?: unknown; slice?: unknown };
  const type = text(v, `${path}.type`, m.type);
  if (type === '') v.add(`${path}.type`, 'must not be empty');
  const valueOk = typeof m.value === 'number' && Number.isFinite(m.value);
  if (!valueOk) v.add(`${path}.value`, 'expected a finite number');
  const slice = m.slice === undefined || m.slice === null ? null : text(v, `${path}.slice`, m.slice);
  return type && valueOk ? { type, value: m.value as number, slice: slice || null, source: 'user' } : null;
}

const plainText = (v: ValidationErrors) => (p: string, x: unknown) => text(v, p, x);

/** Parses one field's new value into `out`; `null` empties it. */
function applyField(v: ValidationErrors, out: CardFields, key: keyof CardFields, value: unknown, path: string): void {
  const f = out as unknown as Record<string, unknown>;
  if (value === null) {
    f[key] = Array.isArray(EMPTY_FIELDS[key]) ? [] : typeof EMPTY_FIELDS[key] === 'string' ? '' : null;
    return;
  }
  switch (key) {
    case 'description':
    case 'trainingData':
      f[key] = text(v, path, value) ?? '';
      return;
    case 'evaluationData':
    case 'license':
    case 'modelArchitecture':
    case 'inputFormat':
    case 'outputFormat':
      f[key] = text(v, path, value) || null;
      return;
    case 'owners':
      out.owners = list(v, path, value, (p, x) => owner(v, p, x));
      return;
    case 'ethicalConsiderations':
      out.ethicalConsiderations = list(v, path, value, (p, x) => risk(v, p, x));
      return;
    case 'performanceMetrics':
      if (!Array.isArray(value)) v.add(path, 'expected a list of {type, value, slice?}');
      else out.performanceMetrics = list(v, path, value, (p, x) => metric(v, p, x));
      return;
    default:
      f[key] = list(v, path, value, plainText(v));
  }
}

/**
 * Checks a card given at registration (`base` null) or an edit of `base`, adding every bad or
 * missing field to `v` (`card.intendedUse: required: …`), and returns the card's fields. The
 * required fields must be filled afterwards; an edit cannot empty them.
 */
export function checkCard(v: ValidationErrors, input: unknown, base: CardFields | null, path = 'card'): CardFields {
  const before = v.errors.length;
  const out: CardFields = structuredClone(base ?? EMPTY_FIELDS);
  if (input === undefined || input === null) {
    v.add(path, base === null ? 'required: a model card with at least description, intendedUse and trainingData' : 'expected the card fields to change');
    return out;
  }
  if (typeof input !== 'object' || Array.isArray(input)) {
    v.add(path, 'expected an object of card fields');
    return out;
  }
  for (const [key, value] of Object.entries(input)) {
    if (!FIELD_NAMES.has(key)) v.add(`${path}.${key}`, `unknown card field; known: ${[...FIELD_NAMES].join(', ')}`);
    else if (value !== undefined) applyField(v, out, key as keyof CardFields, value, `${path}.${key}`);
  }
  for (const key of REQUIRED_FIELDS) {
    const given = v.errors.slice(before).some((e) => e.path === `${path}.${key}` || e.path.startsWith(`${path}.${key}[`));
    if (!given && isEmpty(out[key])) v.add(`${path}.${key}`, REQUIRED_REASON[key]);
  }
  return out;
}

function isEmpty(value: unknown): boolean {
  return value === null || value === '' || (Array.isArray(value) && value.length === 0);
}

/** The fields a complete card still lacks, as `card.<field>` paths (empty when complete). */
export function missingForCompleteness(fields: CardFields): string[] {
  return COMPLETENESS_FIELDS.filter((key) => isEmpty(fields[key])).map((key) => `card.${key}`);
}

// Run metrics that describe the fit rather than the model's quality stay off the card (the
// per-iteration loss curves included: their last point repeats the final metrics).
const NOT_PERFORMANCE = new Set(['iterations', 'best_iteration', 'train_loss', 'valid_loss', 'valid_metric']);
const SLICES: [string, string][] = [
  ['valid_', 'validation'],
  ['train_', 'training'],
  ['test_', 'test'],
  ['eval_', 'evaluation'],
];

/** A run's final metrics as card metrics: `valid_auc` → {type valid_auc, slice validation}. */
export function runPerformanceMetrics(metrics: Record<string, number>): PerformanceMetric[] {
  return Object.entries(metrics)
    .filter(([key]) => !NOT_PERFORMANCE.has(key) && !key.endsWith('_seconds'))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([type, value]) => ({ type, value, slice: SLICES.find(([prefix]) => type.startsWith(prefix))?.[1] ?? null, source: 'run' as const }));
}

/** What a card shows that its author does not write: facts recorded with the version. */
export interface CardFacts {
  model: string;
  version: number;
  createdAt: string;
  signature: ModelSignature;
  lineage: Lineage;
  metrics: Record<string, number>;
}

const ARCHITECTURES: Record<string, string> = { gbdt: 'gradient-boosted decision trees (gbdt)', linear: 'linear model (linear)' };

function defaultInputFormat(s: ModelSignature): string {
  if (s.cairn) return s.cairn.inputs.map((i) => `${i.name} (${i.kind})`).join(', ');
  return s.inputs.map((i) => `${i.name}: ${i.type} [${i.shape.join(', ')}]`).join(', ');
}

function defaultOutputFormat(s: ModelSignature): string {
  if (s.cairn) return s.cairn.task === 'binary' ? `probability that ${s.cairn.label} is true (binary classification)` : `predicted ${s.cairn.label} (regression)`;
  return s.outputs.map((o) => `${o.name}: ${o.type} [${o.shape.join(', ')}]`).join(', ');
}

/**
 * The card document: the author's fields in Model Card Toolkit sections, with what the registry
 * knows filled in — the model's name and version, the training dataset version, the run's final
 * metrics (a hand-written metric of the same type and slice wins), and, unless written, the
 * architecture and input/output formats from the trainer and the signature.
 */
export function buildCard(fields: CardFields, facts: CardFacts): ModelCard {
  const written = new Set(fields.performanceMetrics.map((m) => `${m.type}\u0000${m.slice ?? ''}`));
  const fromRun = runPerformanceMetrics(facts.metrics).filter((m) => !written.has(`${m.type}\u0000${m.slice ?? ''}`));
  const architecture = facts.lineage.trainer ?? facts.signature.modelType;
  return {
    modelDetails: {
      name: facts.model,
      version: facts.version,
      overview: fields.description,
      owners: fields.owners,
      license: fields.license,
      references: fields.references,
      createdAt: facts.createdAt,
    },
    modelParameters: {
      modelArchitecture: fields.modelArchitecture ?? (architecture ? (ARCHITECTURES[architecture] ?? architecture) : null),
      data: {
        training: { description: fields.trainingData, dataset: facts.lineage.dataset },
        evaluation: { description: fields.evaluationData },
      },
      inputFormat: fields.inputFormat ?? defaultInputFormat(facts.signature),
      outputFormat: fields.outputFormat ?? defaultOutputFormat(facts.signature),
    },
    quantitativeAnalysis: { performanceMetrics: [...fromRun, ...fields.performanceMetrics] },
    considerations: {
      users: fields.users,
      useCases: fields.intendedUse,
      limitations: fields.limitations,
      tradeoffs: fields.tradeoffs,
      ethicalConsiderations: fields.ethicalConsiderations,
      outOfScopeUses: fields.outOfScopeUses,
      caveats: fields.caveats,
    },
  };
}

/** Refuses a review comment that is too long, and a rejection without one. */
export function checkReviewComment(comment: unknown, required: boolean): string {
  const v = new ValidationErrors();
  const value = comment === undefined || comment === null ? '' : text(v, 'comment', comment) ?? '';
  if (required && value === '') v.add('comment', 'required when rejecting: say what must change');
  v.throwIfAny();
  return value;
}
