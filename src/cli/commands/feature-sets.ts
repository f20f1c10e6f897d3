import type { Command } from 'commander';
import type { FeatureSetVersion, FeatureUse } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, notePage, printResult } from '../output.js';
import { parseFeatureUse, parseNameVersion, positiveInt } from '../parse.js';

/** The features of a set or dataset: output column, exact version and key mapping. */
export function formatUses(uses: FeatureUse[]): string {
  return formatTable(uses, [
    { header: 'column', value: (u) => u.as },
    { header: 'feature', value: (u) => u.ref },
    { header: 'join on', value: (u) => Object.entries(u.joinOn).map(([k, c]) => `${k}=${c}`) },
  ]);
}

function describeSet(s: FeatureSetVersion): string {
  return [
    formatKeyValues([
      ['feature set', `${s.name}@${s.version}`],
      ['description', s.description],
      ['created', `${s.createdAt} by ${s.createdBy}`],
    ]),
    '',
    formatUses(s.features),
  ].join('\n');
}

const FEATURE_HELP = 'a feature use REF[,joinKey=column...][,as=alias], e.g. delay_rate@1,airport=origin,as=origin_rate (repeatable)';

/** `cairn feature-sets create|update|get|list|versions`. */
export function registerFeatureSets(program: Command): void {
  const group = program.command('feature-sets').description('named, versioned lists of features, e.g. a model\'s inputs');

  group
    .command('create <name>')
    .description('create a feature set')
    .requiredOption('-f, --feature <use...>', FEATURE_HELP)
    .option('-d, --description <text>', 'what the set is for')
    .action(async (name: string, o: { feature: string[]; description?: string }, cmd: Command) => {
      const set = await clientFor(cmd).featureSets.create({ name, description: o.description, features: o.feature.map((f) => parseFeatureUse(f)) });
      printResult(wantsJson(cmd), set, () => describeSet(set));
    });

  group
    .command('update <name>')
    .description('store a new version with other features or description')
    .option('-f, --feature <use...>', `${FEATURE_HELP}; replaces the whole list`)
    .option('-d, --description <text>', 'what the set is for')
    .action(async (name: string, o: { feature?: string[]; description?: string }, cmd: Command) => {
      const set = await clientFor(cmd).featureSets.update(name, {
        description: o.description,
        features: o.feature?.map((f) => parseFeatureUse(f)),
      });
      printResult(wantsJson(cmd), set, () => describeSet(set));
      if (!wantsJson(cmd) && !set.created) note(`nothing changed: ${set.name}@${set.version} is still the latest`);
    });

  group
    .command('get <ref>')
    .description('show a feature set: name for the latest version, name@N for one version')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { name, version } = parseNameVersion(ref, 'feature set');
      const set = await clientFor(cmd).featureSets.get(name, version);
      printResult(wantsJson(cmd), set, () => describeSet(set));
    });

  group
    .command('list')
    .description('list feature sets')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).featureSets.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'name', value: (s) => s.name },
          { header: 'version', value: (s) => s.version },
          { header: 'features', value: (s) => s.features.map((f) => f.ref) },
          { header: 'description', value: (s) => s.description },
        ], '(no feature sets)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('versions <name>')
    .description('list every version of a feature set')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const versions = await clientFor(cmd).featureSets.versions(name);
      printResult(wantsJson(cmd), versions, () =>
        formatTable(versions, [
          { header: 'version', value: (s) => s.version },
          { header: 'features', value: (s) => s.features.map((f) => f.ref) },
          { header: 'created', value: (s) => s.createdAt },
          { header: 'by', value: (s) => s.createdBy },
        ]),
      );
    });
}
