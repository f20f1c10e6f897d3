import path from 'node:path';
import type { Command } from 'commander';
import type { DataSource } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, notePage, printResult } from '../output.js';
import { positiveInt } from '../parse.js';

function describeSource(s: DataSource): string {
  return [
    formatKeyValues([
      ['name', s.name],
      ['path', s.path],
      ['format', s.format],
      ['timestamp column', s.timestampColumn],
      ['description', s.description],
      ['created', `${s.createdAt} by ${s.createdBy}`],
    ]),
    '',
    formatTable(s.columns, [
      { header: 'column', value: (c) => c.name },
      { header: 'type', value: (c) => c.type },
    ]),
  ].join('\n');
}

/** `cairn sources create|list|get`. */
export function registerSources(program: Command): void {
  const group = program.command('sources').description('data sources: Parquet or CSV files that features are computed from');

  group
    .command('create <name>')
    .description('register a file or glob as a data source')
    .requiredOption('-p, --path <path>', 'file path or glob (relative paths are made absolute here)')
    .requiredOption('-t, --timestamp-column <column>', 'the column with each row\'s event time')
    .option('-f, --format <format>', 'parquet or csv (default: from the file name)')
    .option('-d, --description <text>', 'what the data is')
    .action(async (name: string, o: { path: string; timestampColumn: string; format?: string; description?: string }, cmd: Command) => {
      const source = await clientFor(cmd).sources.create({
        name,
        // The server resolves paths against its own directory; the user means this shell's.
        path: path.resolve(o.path),
        timestampColumn: o.timestampColumn,
        format: o.format as DataSource['format'] | undefined,
        description: o.description,
      });
      printResult(wantsJson(cmd), source, () => describeSource(source));
    });

  group
    .command('list')
    .description('list data sources')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).sources.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'name', value: (s) => s.name },
          { header: 'format', value: (s) => s.format },
          { header: 'timestamp', value: (s) => s.timestampColumn },
          { header: 'columns', value: (s) => s.columns.length },
          { header: 'path', value: (s) => s.path },
        ], '(no data sources)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('get <name>')
    .description('show a data source and its columns')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const source = await clientFor(cmd).sources.get(name);
      printResult(wantsJson(cmd), source, () => describeSource(source));
    });
}
