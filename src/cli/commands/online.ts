import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { OnlineReadInput } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatTable, printResult } from '../output.js';
import { parseFeatureUse, parseRow } from '../parse.js';

/** `cairn online get`: feature vectors from the online store, one table row per --row. */
export function registerOnline(program: Command): void {
  const group = program.command('online').description('the online feature store');

  group
    .command('get')
    .description('read feature values for entity keys, e.g. --feature delay_rate@1,airport=origin --row origin=BOS')
    .option('-f, --feature <use...>', 'a feature use REF[,joinKey=column...][,as=alias] (repeatable)')
    .option('--feature-set <ref>', 'the features of a feature set, name or name@N')
    .requiredOption('-r, --row <keys...>', 'entity keys col=value[,col=value]... (repeatable; numeric values are sent as numbers)')
    .action(async (o: { feature?: string[]; featureSet?: string; row: string[] }, cmd: Command) => {
      if (o.feature === undefined && o.featureSet === undefined) {
        throw new CairnError('BAD_REQUEST', 'give the features with --feature <use>... and/or --feature-set <ref>');
      }
      const rows = o.row.map((r) => parseRow(r));
      const input: OnlineReadInput = {
        rows,
        ...(o.feature ? { features: o.feature.map((f) => parseFeatureUse(f)) } : {}),
        ...(o.featureSet ? { featureSet: o.featureSet } : {}),
      };
      const result = await clientFor(cmd).online.read(input);
      const keyColumns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      printResult(wantsJson(cmd), result, () =>
        formatTable(result.rows.map((r, i) => ({ keys: rows[i]!, values: r.values })), [
          ...keyColumns.map((c) => ({ header: c, value: (r: { keys: Record<string, unknown> }) => r.keys[c] })),
          ...result.features.map((f) => ({ header: f.name, value: (r: { values: Record<string, unknown> }) => r.values[f.name] })),
        ]),
      );
    });
}
