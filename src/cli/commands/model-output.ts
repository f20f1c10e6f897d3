/**
 * What `cairn models` reads and prints: card fields from a file and options, and the human
 * renderings of versions, histories and lineage.
 */
import fs from 'node:fs';
import { CairnError } from '../../core/errors.js';
import type { CardPatch, LineageDetail, ModelVersion, ModelVersionDetail, StageTransition } from '../../sdk/index.js';
import { formatKeyValues, formatTable } from '../output.js';

const invalid = (option: string, reason: string) => CairnError.validation([{ path: option, reason }], `invalid ${option}`);

/** Card fields that hold lists: repeating `--set limitations=…` adds to the list. */
const LIST_FIELDS = new Set(['intendedUse', 'owners', 'references', 'users', 'limitations', 'tradeoffs', 'ethicalConsiderations', 'outOfScopeUses', 'caveats']);

export interface CardOptions {
  cardFile?: string;
  description?: string;
  intendedUse?: string[];
  trainingData?: string;
  set?: string[];
  clear?: string[];
}

/** A JSON file of card fields (CardInput), refused with the reason when it is not one. */
function readCardFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid('--card-file', `cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid('--card-file', `${file} is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('--card-file', `${file} must hold an object of card fields`);
  return parsed as Record<string, unknown>;
}

/**
 * Card fields from `--card-file`, then the named options, then each `--set field=value` (lists
 * grow with each repetition) and `--clear field`. The server checks the fields themselves.
 */
export function cardFromOptions(o: CardOptions): CardPatch {
  const card: Record<string, unknown> = o.cardFile ? readCardFile(o.cardFile) : {};
  if (o.description !== undefined) card.description = o.description;
  if (o.intendedUse !== undefined) card.intendedUse = o.intendedUse;
  if (o.trainingData !== undefined) card.trainingData = o.trainingData;
  const fromSet = new Set<string>();
  for (const item of o.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw invalid('--set', `${JSON.stringify(item)} is not field=value`);
    const field = item.slice(0, eq).trim();
    const value = item.slice(eq + 1);
    if (LIST_FIELDS.has(field)) {
      // The first --set of a list replaces what the file said; later ones add to it.
      const current = fromSet.has(field) && Array.isArray(card[field]) ? (card[field] as unknown[]) : [];
      card[field] = [...current, value];
    } else {
      if (fromSet.has(field)) throw invalid('--set', `${field} is given twice`);
      card[field] = value;
    }
    fromSet.add(field);
  }
  for (const field of o.clear ?? []) card[field] = null;
  return card as CardPatch;
}

const num = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

function source(v: ModelVersion): string {
  return v.source.kind === 'run' ? `run ${v.source.runId} (${v.source.artifactPath})` : 'uploaded file';
}

export function versionsTable(items: ModelVersion[]): string {
  return formatTable(
    items,
    [
      { header: 'version', value: (v) => v.version },
      { header: 'stage', value: (v) => v.stage },
      { header: 'aliases', value: (v) => v.aliases },
      { header: 'card', value: (v) => `r${v.card.revision} ${v.card.status}` },
      { header: 'source', value: source },
      { header: 'created', value: (v) => v.createdAt },
      { header: 'by', value: (v) => v.createdBy },
    ],
    '(no versions)',
  );
}

export function productionTable(items: ModelVersion[]): string {
  return formatTable(
    items,
    [
      { header: 'model', value: (v) => v.model },
      { header: 'version', value: (v) => v.version },
      { header: 'since', value: (v) => v.stageUpdatedAt },
      { header: 'aliases', value: (v) => v.aliases },
      { header: 'card', value: (v) => `r${v.card.revision} ${v.card.status}` },
    ],
    '(no model is in Production)',
  );
}

export function describeVersion(v: ModelVersionDetail): string {
  const card = v.card;
  const blocks = [
    formatKeyValues([
      ['model', v.model],
      ['version', v.version],
      ['stage', `${v.stage} (since ${v.stageUpdatedAt})`],
      ['aliases', v.aliases],
      ['source', source(v)],
      ['model digest', v.modelDigest],
      ['files', v.artifacts.map((a) => a.path)],
      ['inputs', v.signature.inputs.map((i) => `${i.name}:${i.type}`)],
      ['dataset', v.lineage.dataset ? `${v.lineage.dataset.ref} (${v.lineage.dataset.contentHash ?? 'no hash'})` : null],
      ['features', v.lineage.features],
      ['trainer', v.lineage.trainer],
      ['parent', v.lineage.parent ? `${v.lineage.parent.model}@${v.lineage.parent.version}` : null],
      ['card', `revision ${card.revision}, ${card.status}${card.complete ? ', complete' : `, incomplete (missing ${card.missing.join(', ')})`}`],
      ['description', card.card.modelDetails.overview],
      ['registered', `${v.createdAt} by ${v.createdBy}`],
    ]),
  ];
  const metrics = card.card.quantitativeAnalysis.performanceMetrics;
  if (metrics.length > 0) {
    blocks.push(formatTable(metrics, [
      { header: 'metric', value: (m) => m.type },
      { header: 'slice', value: (m) => m.slice },
      { header: 'value', value: (m) => num(m.value) },
    ]));
  }
  return blocks.join('\n\n');
}

export function historyTable(items: StageTransition[]): string {
  return formatTable(
    items,
    [
      { header: 'at', value: (t) => t.at },
      { header: 'version', value: (t) => t.version },
      { header: 'from', value: (t) => t.from },
      { header: 'to', value: (t) => t.to },
      { header: 'by', value: (t) => t.actor },
      { header: 'comment', value: (t) => (t.automatic ? `(automatic) ${t.comment}` : t.comment) },
    ],
    '(no transitions)',
  );
}

export function describeLineage(l: LineageDetail): string {
  const blocks = [
    formatKeyValues([
      ['model', `${l.model}@${l.version}`],
      ['run', l.run ? `${l.run.id} (${l.run.experiment} / ${l.run.name}, ${l.run.status})` : l.source.kind === 'upload' ? '(uploaded file)' : null],
      ['dataset', l.dataset ? `${l.dataset.ref}${l.dataset.rowCount !== null ? `, ${l.dataset.rowCount} rows` : ''}` : null],
      ['content hash', l.dataset?.contentHash],
      ['feature set', l.featureSet],
      ['trainer', l.trainer],
      ['code version', l.codeVersion],
      ['parent', l.parent ? `${l.parent.model}@${l.parent.version}` : null],
    ]),
  ];
  if (l.features.length > 0) {
    blocks.push(formatTable(l.features, [
      { header: 'feature', value: (f) => f.ref },
      { header: 'entity', value: (f) => f.entity },
      { header: 'type', value: (f) => f.valueType },
      { header: 'window', value: (f) => f.window },
      { header: 'expression', value: (f) => f.expression },
    ]));
  }
  const params = Object.entries(l.params);
  if (params.length > 0) blocks.push(formatTable(params, [{ header: 'param', value: ([k]) => k }, { header: 'value', value: ([, v]) => v }]));
  return blocks.join('\n\n');
}
