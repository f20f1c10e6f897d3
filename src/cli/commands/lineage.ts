import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { ModelVersion } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatTable, printResult } from '../output.js';
import { collect, parseNameVersion, positiveInt } from '../parse.js';

function usersTable(items: ModelVersion[], what: string): string {
  return formatTable(
    items,
    [
      { header: 'model', value: (v) => v.model },
      { header: 'version', value: (v) => v.version },
      { header: 'stage', value: (v) => v.stage },
      { header: 'aliases', value: (v) => v.aliases },
      { header: 'created', value: (v) => v.createdAt },
    ],
    `(no model version uses ${what})`,
  );
}

/** `cairn lineage feature|dataset <name@version>`: forward lineage to model versions. */
export function registerLineage(program: Command): void {
  const group = program.command('lineage').description('forward lineage: the model versions trained on a feature or dataset version');
  for (const kind of ['feature', 'dataset'] as const) {
    group
      .command(`${kind} <ref>`)
      .description(`every model version trained on a ${kind} version, e.g. ${kind === 'feature' ? 'dep_hour@2' : 'flights_jan@1'}`)
      .action(async (ref: string, _o: unknown, cmd: Command) => {
        const { name, version } = parseNameVersion(ref, kind, true);
        const lineage = clientFor(cmd).lineage;
        const items = kind === 'feature' ? await lineage.featureModels(name, version!) : await lineage.datasetModels(name, version!);
        printResult(wantsJson(cmd), { items }, () => usersTable(items, `${name}@${version}`));
      });
  }
}

function sequenceNumber(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw CairnError.validation([{ path: '--after', reason: `expected a sequence number like 42, got ${JSON.stringify(text)}` }], 'invalid --after');
  return Number(text);
}

/** `cairn events list`: the durable event log. */
export function registerEvents(program: Command): void {
  const group = program.command('events').description('the durable event log (registry events)');
  group
    .command('list')
    .description('events in order, from a sequence number on')
    .option('--type <type>', 'only this type, e.g. model_version.transitioned (repeatable)', collect)
    .option('--after <seq>', 'only events after this sequence number (0 for the start)', sequenceNumber)
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .action(async (o: { type?: string[]; after?: number; limit?: number }, cmd: Command) => {
      const page = await clientFor(cmd).events.list({ types: o.type, after: o.after, limit: o.limit });
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'seq', value: (e) => e.seq },
          { header: 'at', value: (e) => e.at },
          { header: 'type', value: (e) => e.type },
          { header: 'by', value: (e) => e.actor },
          { header: 'payload', value: (e) => e.payload },
        ], '(no events)'),
      );
    });
}
