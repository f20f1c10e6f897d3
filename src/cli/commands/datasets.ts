import type { Command } from 'commander';
import type { DatasetVersion } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, notePage, printResult } from '../output.js';
import { parseNameVersion, positiveInt } from '../parse.js';
import { formatUses } from './feature-sets.js';

function describeDataset(d: DatasetVersion): string {
  const { eventTimeColumn, ...table } = d.entityTable;
  return [
    formatKeyValues([
      ['dataset', `${d.name}@${d.version}`],
      ['rows', d.rowCount],
      ['sha256', d.contentHash],
      ['entity rows', table.path ?? table.query],
      ['event time', eventTimeColumn],
      ['ttl seconds', d.ttlSeconds],
      ['created', `${d.createdAt} by ${d.createdBy}`],
    ]),
    '',
    formatUses(d.features),
    '',
    formatTable(d.schema, [
      { header: 'column', value: (c) => c.name },
      { header: 'type', value: (c) => c.type },
    ]),
  ].join('\n');
}

const versionColumns = [
  { header: 'version', value: (d: DatasetVersion) => d.version },
  { header: 'rows', value: (d: DatasetVersion) => d.rowCount },
  { header: 'sha256', value: (d: DatasetVersion) => d.contentHash.replace(/^sha256:/, '').slice(0, 12) },
  { header: 'created', value: (d: DatasetVersion) => d.createdAt },
  { header: 'by', value: (d: DatasetVersion) => d.createdBy },
];

/** `cairn datasets list|get|versions|download`. */
export function registerDatasets(program: Command): void {
  const group = program.command('datasets').description('versioned training data built by `cairn training-sets build`');

  group
    .command('list')
    .description('list datasets at their latest version')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).datasets.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [{ header: 'name', value: (d) => d.name }, ...versionColumns], '(no datasets)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('get <ref>')
    .description('show a dataset version: name for the latest, name@N for one version')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { name, version } = parseNameVersion(ref, 'dataset');
      const dataset = await clientFor(cmd).datasets.get(name, version);
      printResult(wantsJson(cmd), dataset, () => describeDataset(dataset));
    });

  group
    .command('versions <name>')
    .description('list every version of a dataset')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const versions = await clientFor(cmd).datasets.versions(name);
      printResult(wantsJson(cmd), versions, () => formatTable(versions, versionColumns));
    });

  group
    .command('download <ref>')
    .description('download a dataset version (name@N) as Parquet; the sha256 is checked')
    .requiredOption('-o, --output <file>', 'where to write the Parquet file')
    .action(async (ref: string, o: { output: string }, cmd: Command) => {
      const { name, version } = parseNameVersion(ref, 'dataset', true);
      const result = await clientFor(cmd).datasets.download(name, version!, o.output);
      printResult(wantsJson(cmd), result, () => `wrote ${result.path} (${result.bytes} bytes, sha256 ${result.sha256})`);
    });
}
