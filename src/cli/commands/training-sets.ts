import path from 'node:path';
import { Option, type Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { BuildTrainingSetInput } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, note, printResult } from '../output.js';
import { parseFeatureUse } from '../parse.js';
import { formatUses } from './feature-sets.js';

interface BuildOptions {
  entityFile?: string;
  entityQuery?: string;
  eventTime: string;
  feature?: string[];
  featureSet?: string;
  ttl?: string;
}

/** `cairn training-sets build`: a point-in-time correct training set, recorded as a dataset version. */
export function registerTrainingSets(program: Command): void {
  const group = program.command('training-sets').description('point-in-time correct training sets');

  group
    .command('build <dataset>')
    .description('join features to entity rows as of each row\'s event time; records a new version of <dataset>')
    .addOption(new Option('--entity-file <path>', 'entity rows: a Parquet or CSV file (keys, event time, labels)').conflicts('entityQuery'))
    .addOption(new Option('--entity-query <sql>', 'entity rows: a DuckDB query'))
    .requiredOption('--event-time <column>', 'the entity rows\' event time column')
    .option('-f, --feature <use...>', 'a feature use REF[,joinKey=column...][,as=alias] (repeatable)')
    .option('--feature-set <ref>', 'the features of a feature set, name or name@N')
    .option('--ttl <duration>', 'leave values older than this at the event time empty, e.g. 30d')
    .action(async (dataset: string, o: BuildOptions, cmd: Command) => {
      if (o.entityFile === undefined && o.entityQuery === undefined) {
        throw new CairnError('BAD_REQUEST', 'give the entity rows with --entity-file <path> or --entity-query <sql>');
      }
      if (o.feature === undefined && o.featureSet === undefined) {
        throw new CairnError('BAD_REQUEST', 'give the features with --feature <use>... and/or --feature-set <ref>');
      }
      const input: BuildTrainingSetInput = {
        name: dataset,
        // The server resolves paths against its own directory; the user means this shell's.
        entityTable: o.entityFile !== undefined ? { path: path.resolve(o.entityFile) } : { query: o.entityQuery },
        eventTimeColumn: o.eventTime,
        ...(o.feature ? { features: o.feature.map((f) => parseFeatureUse(f)) } : {}),
        ...(o.featureSet ? { featureSet: o.featureSet } : {}),
        ...(o.ttl ? { ttl: o.ttl } : {}),
      };
      if (!wantsJson(cmd)) note(`building ${dataset}…`);
      const result = await clientFor(cmd).trainingSets.build(input);
      const d = result.dataset;
      printResult(wantsJson(cmd), result, () =>
        [
          formatKeyValues([
            ['dataset', `${d.name}@${d.version}`],
            ['new version', result.created ? 'yes' : `no: same content as ${d.name}@${d.version}`],
            ['rows', d.rowCount],
            ['sha256', d.contentHash],
            ['took', `${result.seconds.toFixed(2)} s`],
          ]),
          '',
          formatUses(d.features),
        ].join('\n'),
      );
    });
}
