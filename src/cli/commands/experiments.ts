import type { Command } from 'commander';
import type { Experiment } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, notePage, printResult } from '../output.js';
import { collect, parsePairs, positiveInt } from '../parse.js';

function describeExperiment(e: Experiment): string {
  return formatKeyValues([
    ['experiment', e.name],
    ['description', e.description],
    ['tags', e.tags],
    ['created', `${e.createdAt} by ${e.createdBy}`],
  ]);
}

/** `cairn experiments create|list|get`. */
export function registerExperiments(program: Command): void {
  const group = program.command('experiments').description('experiments: named groups of runs');

  group
    .command('create <name>')
    .description('create an experiment')
    .option('-d, --description <text>', 'what the experiment is about')
    .option('--tag <key=value>', 'a tag (repeatable)', collect)
    .action(async (name: string, o: { description?: string; tag?: string[] }, cmd: Command) => {
      const experiment = await clientFor(cmd).experiments.create({
        name,
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.tag ? { tags: parsePairs(o.tag, '--tag') } : {}),
      });
      printResult(wantsJson(cmd), experiment, () => describeExperiment(experiment));
    });

  group
    .command('list')
    .description('list experiments by name')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).experiments.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'name', value: (e) => e.name },
          { header: 'description', value: (e) => e.description },
          { header: 'tags', value: (e) => e.tags },
          { header: 'created', value: (e) => e.createdAt },
          { header: 'by', value: (e) => e.createdBy },
        ], '(no experiments)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('get <name>')
    .description('show an experiment')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const experiment = await clientFor(cmd).experiments.get(name);
      printResult(wantsJson(cmd), experiment, () => describeExperiment(experiment));
    });
}
