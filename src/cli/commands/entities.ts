import type { Command } from 'commander';
import type { Entity } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, notePage, printResult } from '../output.js';
import { collect, positiveInt } from '../parse.js';

function describeEntity(e: Entity): string {
  return formatKeyValues([
    ['name', e.name],
    ['join keys', e.joinKeys],
    ['description', e.description],
    ['created', `${e.createdAt} by ${e.createdBy}`],
  ]);
}

/** `cairn entities create|list|get`. */
export function registerEntities(program: Command): void {
  const group = program.command('entities').description('entities: what features describe (a flight, an airport)');

  group
    .command('create <name>')
    .description('create an entity')
    .requiredOption('-k, --join-key <column>', 'a join key column (repeat for a composite key)', collect)
    .option('-d, --description <text>', 'what the entity is')
    .action(async (name: string, o: { joinKey: string[]; description?: string }, cmd: Command) => {
      const entity = await clientFor(cmd).entities.create({ name, joinKeys: o.joinKey, description: o.description });
      printResult(wantsJson(cmd), entity, () => describeEntity(entity));
    });

  group
    .command('list')
    .description('list entities')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).entities.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'name', value: (e) => e.name },
          { header: 'join keys', value: (e) => e.joinKeys },
          { header: 'description', value: (e) => e.description },
          { header: 'created', value: (e) => e.createdAt },
        ], '(no entities)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('get <name>')
    .description('show an entity')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const entity = await clientFor(cmd).entities.get(name);
      printResult(wantsJson(cmd), entity, () => describeEntity(entity));
    });
}
