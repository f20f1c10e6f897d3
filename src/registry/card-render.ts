/**
 * Model cards as Markdown and as a standalone HTML page, with the version's lineage and metrics.
 * Both are rendered from one list of blocks, so they always say the same. In HTML every piece of
 * user text is escaped (and only http(s) references become links); in Markdown `<` is
 * backslash-escaped so that no user text becomes raw HTML where the Markdown is rendered, and
 * table cells keep to one line.
 */
import type { CardRevision, LineageDetail, ModelVersion } from './model.js';

/** Inline text: plain, or code (refs, hashes, expressions). */
type Inline = string | { code: string };
type Block =
  | { kind: 'heading'; level: 2 | 3; text: string }
  | { kind: 'para'; text: string }
  | { kind: 'fields'; items: [string, Inline | null][] }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; header: string[]; rows: Inline[][] };

const NOT_STATED = 'Not stated.';

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

function reviewLine(card: CardRevision): string {
  const last = card.reviews.at(-1);
  if (card.status === 'pending' || !last) return `revision ${card.revision}: pending review`;
  const verb = card.status === 'approved' ? 'approved' : 'rejected';
  return `revision ${card.revision}: ${verb} by ${last.actor} at ${last.at}${last.comment ? ` — “${last.comment}”` : ''}`;
}

function listOr(heading: string, items: string[]): Block[] {
  return [{ kind: 'heading', level: 3, text: heading }, items.length > 0 ? { kind: 'list', items } : { kind: 'para', text: NOT_STATED }];
}

/** The card, its review state, metrics and lineage as blocks. */
function blocks(card: CardRevision, version: ModelVersion, lineage: LineageDetail): Block[] {
  const c = card.card;
  const d = c.modelDetails;
  const p = c.modelParameters;
  const k = c.considerations;
  const metrics = c.quantitativeAnalysis.performanceMetrics;
  const out: Block[] = [
    {
      kind: 'fields',
      items: [
        ['Card', reviewLine(card)],
        ['Complete', card.complete ? 'yes' : `no — missing ${card.missing.join(', ')}`],
        ['Stage', version.stage],
        ['Aliases', version.aliases.length > 0 ? version.aliases.join(', ') : null],
        ['Registered', `${version.createdAt} by ${version.createdBy}`],
      ],
    },
    { kind: 'heading', level: 2, text: 'Model details' },
    { kind: 'para', text: d.overview },
    {
      kind: 'fields',
      items: [
        ['Owners', d.owners.length > 0 ? d.owners.map((o) => (o.contact ? `${o.name} (${o.contact})` : o.name)).join(', ') : null],
        ['License', d.license],
        ['Version', String(d.version)],
      ],
    },
    ...(d.references.length > 0 ? listOr('References', d.references) : []),
    { kind: 'heading', level: 2, text: 'Model parameters' },
    { kind: 'fields', items: [['Architecture', p.modelArchitecture], ['Input format', p.inputFormat], ['Output format', p.outputFormat]] },
    { kind: 'heading', level: 3, text: 'Training data' },
    { kind: 'para', text: p.data.training.description },
    ...(p.data.training.dataset
      ? [{ kind: 'fields' as const, items: [['Dataset', { code: p.data.training.dataset.ref }], ['Content hash', p.data.training.dataset.contentHash ? { code: p.data.training.dataset.contentHash } : null]] as [string, Inline | null][] }]
      : []),
    { kind: 'heading', level: 3, text: 'Evaluation data' },
    { kind: 'para', text: p.data.evaluation.description ?? NOT_STATED },
    { kind: 'heading', level: 2, text: 'Quantitative analysis' },
    metrics.length > 0
      ? { kind: 'table', header: ['metric', 'slice', 'value', 'source'], rows: metrics.map((m) => [m.type, m.slice ?? '-', formatNumber(m.value), m.source]) }
      : { kind: 'para', text: 'No performance metrics recorded.' },
    { kind: 'heading', level: 2, text: 'Considerations' },
    ...listOr('Intended use', k.useCases),
    ...listOr('Users', k.users),
    ...listOr('Limitations', k.limitations),
    ...listOr('Tradeoffs', k.tradeoffs),
    ...listOr('Ethical considerations', k.ethicalConsiderations.map((r) => (r.mitigationStrategy ? `${r.name} — mitigation: ${r.mitigationStrategy}` : r.name))),
    ...listOr('Out-of-scope uses', k.outOfScopeUses),
    ...listOr('Caveats', k.caveats),
    ...lineageBlocks(lineage),
  ];
  return out;
}

function lineageBlocks(l: LineageDetail): Block[] {
  const out: Block[] = [
    { kind: 'heading', level: 2, text: 'Lineage' },
    {
      kind: 'fields',
      items: [
        ['Source', l.source.kind === 'run' ? `run artifact ${l.source.artifactPath}` : 'uploaded ONNX file'],
        ['Run', l.run ? { code: `${l.run.id} (${l.run.experiment} / ${l.run.name}, ${l.run.status})` } : null],
        ['Dataset', l.dataset ? { code: `${l.dataset.ref}${l.dataset.contentHash ? ` ${l.dataset.contentHash}` : ''}` } : null],
        ['Rows', l.dataset?.rowCount != null ? String(l.dataset.rowCount) : null],
        ['Feature set', l.featureSet ? { code: l.featureSet } : null],
        ['Trainer', l.trainer],
        ['Code version', l.codeVersion ? { code: l.codeVersion } : null],
        ['Parent', l.parent ? { code: `${l.parent.model}@${l.parent.version}` } : null],
      ],
    },
  ];
  if (l.features.length > 0) {
    out.push({ kind: 'heading', level: 3, text: 'Feature versions' });
    out.push({
      kind: 'table',
      header: ['feature', 'entity', 'expression', 'window'],
      rows: l.features.map((f) => [{ code: f.ref }, f.entity ?? '-', f.expression ? { code: f.expression } : '-', f.window ?? '-']),
    });
  }
  const params = Object.entries(l.params);
  if (params.length > 0) {
    out.push({ kind: 'heading', level: 3, text: 'Parameters' });
    out.push({ kind: 'table', header: ['param', 'value'], rows: params.map(([key, value]) => [key, { code: value }]) });
  }
  return out;
}

// ---- Markdown -------------------------------------------------------------------------------

const mdText = (s: string) => s.replace(/</g, '\\<');
const mdLine = (s: string) => mdText(s).replace(/\s*[\r\n]+\s*/g, ' ');
function mdInline(x: Inline, cell = false): string {
  if (typeof x === 'string') return cell ? mdLine(x).replace(/\|/g, '\\|') : mdLine(x);
  // A code span needs a fence longer than any run of backticks inside it.
  const fence = '`'.repeat(Math.max(0, ...(x.code.match(/`+/g) ?? []).map((r) => r.length)) + 1);
  const code = x.code.replace(/[\r\n]+/g, ' ');
  return `${fence}${code.startsWith('`') ? ' ' : ''}${cell ? code.replace(/\|/g, '\\|') : code}${code.endsWith('`') ? ' ' : ''}${fence}`;
}

/** The card as Markdown. */
export function cardMarkdown(card: CardRevision, version: ModelVersion, lineage: LineageDetail): string {
  const lines = [`# Model card: ${mdLine(version.model)} version ${version.version}`, ''];
  for (const b of blocks(card, version, lineage)) {
    if (b.kind === 'heading') lines.push(`${'#'.repeat(b.level)} ${b.text}`, '');
    else if (b.kind === 'para') lines.push(mdText(b.text), '');
    else if (b.kind === 'list') lines.push(...b.items.map((i) => `- ${mdLine(i)}`), '');
    else if (b.kind === 'fields') {
      lines.push(...b.items.filter(([, v]) => v !== null).map(([label, v]) => `- **${label}:** ${mdInline(v!)}`), '');
    } else {
      lines.push(`| ${b.header.join(' | ')} |`, `| ${b.header.map(() => '---').join(' | ')} |`);
      lines.push(...b.rows.map((r) => `| ${r.map((x) => mdInline(x, true)).join(' | ')} |`), '');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

// ---- HTML -----------------------------------------------------------------------------------

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function htmlInline(x: Inline): string {
  return typeof x === 'string' ? escapeHtml(x) : `<code>${escapeHtml(x.code)}</code>`;
}

/** A list item; a reference that is an http(s) URL becomes a link (any other scheme stays text). */
function htmlItem(text: string): string {
  return /^https?:\/\/\S+$/.test(text) ? `<a href="${escapeHtml(text)}" rel="noopener noreferrer">${escapeHtml(text)}</a>` : escapeHtml(text);
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:top}
code{background:#f3f4f6;padding:0 .2rem;border-radius:3px}p{white-space:pre-wrap}dt{font-weight:600}dd{margin:0 0 .4rem 0}
dl{display:grid;grid-template-columns:max-content auto;column-gap:1rem}`;

/** The card as a standalone HTML page (no scripts, no external resources). */
export function cardHtml(card: CardRevision, version: ModelVersion, lineage: LineageDetail): string {
  const title = `Model card: ${version.model} version ${version.version}`;
  const body: string[] = [`<h1>${escapeHtml(title)}</h1>`];
  for (const b of blocks(card, version, lineage)) {
    if (b.kind === 'heading') body.push(`<h${b.level}>${escapeHtml(b.text)}</h${b.level}>`);
    else if (b.kind === 'para') body.push(`<p>${escapeHtml(b.text)}</p>`);
    else if (b.kind === 'list') body.push(`<ul>${b.items.map((i) => `<li>${htmlItem(i)}</li>`).join('')}</ul>`);
    else if (b.kind === 'fields') {
      const items = b.items.filter(([, v]) => v !== null);
      body.push(`<dl>${items.map(([label, v]) => `<dt>${escapeHtml(label)}</dt><dd>${htmlInline(v!)}</dd>`).join('')}</dl>`);
    } else {
      const head = `<tr>${b.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
      body.push(`<table>${head}${b.rows.map((r) => `<tr>${r.map((x) => `<td>${htmlInline(x)}</td>`).join('')}</tr>`).join('')}</table>`);
    }
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}
