import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { Run, RunComparison } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, notePage, printResult } from '../output.js';
import { collect, positiveInt } from '../parse.js';

/** Metric columns a run table shows at most, besides the attributes. */
const MAX_METRIC_COLUMNS = 5;

/** A number for people: integers as they are, others to 6 significant digits. */
function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/**
 * The metrics worth a column: those the filter or the sort names first, then the rest in name
 * order, up to MAX_METRIC_COLUMNS.
 */
function metricColumns(runs: Run[], mentioned: string): string[] {
  const named = [...mentioned.matchAll(/metrics?\.(?:`([^`]+)`|([\w.\-/]+))/g)].map((m) => m[1] ?? m[2]!);
  const present = new Set(runs.flatMap((r) => Object.keys(r.metrics)));
  const keys = [...new Set([...named.filter((k) => present.has(k)), ...[...present].sort()])];
  return keys.slice(0, MAX_METRIC_COLUMNS);
}

function runsTable(runs: Run[], mentioned: string): string {
  return formatTable(
    runs,
    [
      { header: 'id', value: (r) => r.id },
      { header: 'name', value: (r) => r.name },
      { header: 'experiment', value: (r) => r.experiment },
      { header: 'status', value: (r) => r.status },
      { header: 'started', value: (r) => r.startTime },
      ...metricColumns(runs, mentioned).map((key) => ({ header: key, value: (r: Run) => formatNumber(r.metrics[key]?.value) })),
    ],
    '(no runs)',
  );
}

function describeRun(r: Run): string {
  const blocks = [
    formatKeyValues([
      ['run', r.id],
      ['name', r.name],
      ['experiment', r.experiment],
      ['status', r.status],
      ['started', r.startTime],
      ['ended', r.endTime ? `${r.endTime} by ${r.endedBy}` : null],
      ['author', r.author],
      ['parent run', r.parentRunId],
      ['command', r.source.command],
      ['code version', r.source.codeVersion],
      ['dataset', r.inputs.dataset ? `${r.inputs.dataset.ref}${r.inputs.dataset.contentHash ? ` (${r.inputs.dataset.contentHash})` : ''}` : null],
      ['feature set', r.inputs.featureSet],
      ['features', r.inputs.features],
      ['tags', r.tags],
    ]),
  ];
  const params = Object.entries(r.params);
  if (params.length > 0) blocks.push(formatTable(params, [{ header: 'param', value: ([k]) => k }, { header: 'value', value: ([, v]) => v }]));
  const metrics = Object.entries(r.metrics);
  if (metrics.length > 0) {
    blocks.push(
      formatTable(metrics, [
        { header: 'metric', value: ([k]) => k },
        { header: 'value', value: ([, p]) => formatNumber(p.value) },
        { header: 'step', value: ([, p]) => p.step },
        { header: 'logged', value: ([, p]) => p.timestamp },
      ]),
    );
  }
  return blocks.join('\n\n');
}

/** Text cells in aligned columns, two spaces apart. */
function alignColumns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/**
 * Runs side by side: one column per run; rows for attributes, then params (a differing one is
 * marked with `*`), then final metrics. Section rows (`params`, `metrics`) have no values.
 */
export function formatComparison(c: RunComparison): string {
  const blank = c.runs.map(() => '');
  const rows: string[][] = [
    ['run', ...c.runs.map((r) => r.name)],
    ['  id', ...c.runs.map((r) => r.id)],
    ['  experiment', ...c.runs.map((r) => r.experiment)],
    ['  status', ...c.runs.map((r) => r.status)],
    ['  started', ...c.runs.map((r) => r.startTime)],
    ['  author', ...c.runs.map((r) => r.author)],
  ];
  if (c.params.length > 0) {
    rows.push(['params', ...blank]);
    for (const p of c.params) rows.push([`${p.differs ? '*' : ' '} ${p.key}`, ...p.values.map((v) => v ?? '-')]);
  }
  if (c.metrics.length > 0) {
    rows.push(['metrics', ...blank]);
    for (const m of c.metrics) rows.push([`  ${m.key}`, ...m.values.map(formatNumber)]);
  }
  return alignColumns(rows);
}

/** `cairn runs list|get|compare|artifacts|download`. */
export function registerRuns(program: Command): void {
  const group = program.command('runs').description('runs: params, metrics, artifacts; search and compare');

  group
    .command('list')
    .description("search runs, e.g. --filter \"metrics.auc > 0.6 AND params.trainer = 'gbdt'\" --order-by 'metrics.auc DESC'")
    .option('-e, --experiment <name>', 'only runs of this experiment (repeatable)', collect)
    .option('-f, --filter <expression>', 'conditions on metrics., params., tags., attributes. with AND, OR, IN, LIKE…')
    .option('--order-by <keys>', 'sort keys, e.g. "metrics.auc DESC, params.lr" (default newest first)')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { experiment?: string[]; filter?: string; orderBy?: string; limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).runs.search({
        ...(o.experiment ? { experiments: o.experiment } : {}),
        ...(o.filter !== undefined ? { filter: o.filter } : {}),
        ...(o.orderBy !== undefined ? { orderBy: o.orderBy } : {}),
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
        ...(o.cursor !== undefined ? { cursor: o.cursor } : {}),
      });
      printResult(wantsJson(cmd), page, () => runsTable(page.items, `${o.orderBy ?? ''} ${o.filter ?? ''}`));
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('get <id>')
    .description('show a run: attributes, inputs, params and latest metrics')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const run = await clientFor(cmd).runs.get(id);
      printResult(wantsJson(cmd), run, () => describeRun(run));
    });

  group
    .command('compare <ids...>')
    .description('show runs side by side; differing params are marked with *')
    .action(async (ids: string[], _o: unknown, cmd: Command) => {
      // The table shows final values only; --json gets the aligned histories too.
      const comparison = await clientFor(cmd).runs.compare(ids, { history: wantsJson(cmd) });
      printResult(wantsJson(cmd), comparison, () => formatComparison(comparison));
    });

  group
    .command('artifacts <id>')
    .description("list a run's files")
    .option('-p, --prefix <folder>', 'only the files in this folder')
    .action(async (id: string, o: { prefix?: string }, cmd: Command) => {
      const items = await clientFor(cmd).runs.listArtifacts(id, o.prefix);
      printResult(wantsJson(cmd), { items }, () =>
        formatTable(items, [
          { header: 'path', value: (a) => a.path },
          { header: 'size', value: (a) => a.size },
          { header: 'sha256', value: (a) => a.digest.replace(/^sha256:/, '').slice(0, 12) },
          { header: 'created', value: (a) => a.createdAt },
          { header: 'by', value: (a) => a.createdBy },
        ], '(no artifacts)'),
      );
    });

  group
    .command('download <id> <path>')
    .description("download a run's file, or every file of a folder; each sha256 is checked")
    .requiredOption('-o, --output <dest>', 'file to write (a folder downloads into this directory)')
    .action(async (id: string, artifactPath: string, o: { output: string }, cmd: Command) => {
      const runs = clientFor(cmd).runs;
      const folder = artifactPath.replace(/\/+$/, '');
      const inside = await runs.listArtifacts(id, folder);
      if (inside.length === 1 && inside[0]!.path === folder) {
        // Into an existing directory the file keeps its name, as cp does.
        const isDir = fs.existsSync(o.output) && fs.statSync(o.output).isDirectory();
        const target = isDir ? path.join(o.output, path.posix.basename(folder)) : o.output;
        const result = await runs.downloadArtifact(id, folder, target);
        printResult(wantsJson(cmd), result, () => `wrote ${result.path} (${result.bytes} bytes, sha256 ${result.sha256})`);
        return;
      }
      if (inside.length === 0) throw new CairnError('RUN_ARTIFACT_NOT_FOUND', `run ${id} has no artifact ${folder}`, { runId: id, path: folder });
      const results = await runs.downloadArtifacts(id, folder, o.output);
      printResult(wantsJson(cmd), results, () => results.map((r) => `wrote ${r.path} (${r.bytes} bytes)`).join('\n'));
      if (!wantsJson(cmd)) note(`${results.length} files of ${folder}/ in ${path.resolve(o.output)}`);
    });
}
