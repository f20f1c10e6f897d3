import type { Command } from 'commander';
import type { FeatureSpecInput, FeatureVersion } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, notePage, printResult } from '../output.js';
import { collect, parseNameVersion, parsePairs, positiveInt } from '../parse.js';

interface SpecOptions {
  entity?: string;
  source?: string;
  type?: string;
  expression?: string;
  /** false from --no-window: clear the window. */
  window?: string | false;
  keyColumn?: string[];
  tag?: string[];
  description?: string;
}

/** The spec fields the options give; absent options are left out, so an update changes only those. */
function specFrom(o: SpecOptions): Partial<FeatureSpecInput> {
  const spec: Partial<FeatureSpecInput> = {};
  if (o.entity !== undefined) spec.entity = o.entity;
  if (o.source !== undefined) spec.source = o.source;
  if (o.type !== undefined) spec.valueType = o.type as FeatureSpecInput['valueType'];
  if (o.expression !== undefined) spec.expression = o.expression;
  if (o.window !== undefined) spec.window = o.window === false ? null : o.window;
  if (o.keyColumn !== undefined) spec.keyColumns = parsePairs(o.keyColumn, '--key-column');
  if (o.tag !== undefined) spec.tags = parsePairs(o.tag, '--tag');
  if (o.description !== undefined) spec.description = o.description;
  return spec;
}

function describeFeature(f: FeatureVersion): string {
  return formatKeyValues([
    ['feature', `${f.name}@${f.version}`],
    ['entity', f.entity],
    ['source', f.source],
    ['type', f.valueType],
    ['expression', f.expression],
    ['window', f.window],
    ['key columns', f.keyColumns],
    ['tags', f.tags],
    ['description', f.description],
    ['changes', f.changes],
    ['created', `${f.createdAt} by ${f.createdBy}`],
  ]);
}

function specOptions(cmd: Command, required: boolean): Command {
  const opt = (flags: string, text: string) => (required ? cmd.requiredOption(flags, text) : cmd.option(flags, text));
  opt('-e, --entity <entity>', 'the entity the feature describes');
  opt('-s, --source <source>', 'the data source it is computed from');
  opt('-t, --type <type>', 'value type: int64, float64, string, bool or timestamp');
  opt('-x, --expression <sql>', 'DuckDB SQL over the source columns (an aggregate when --window is given)');
  return cmd
    .option('-w, --window <duration>', 'aggregate over this much history, e.g. 7d')
    .option('--key-column <key=column>', 'source column of a join key (repeatable)', collect)
    .option('--tag <key=value>', 'a tag (repeatable; replaces all tags on update)', collect)
    .option('-d, --description <text>', 'what the feature means');
}

/** `cairn features create|update|get|list|versions`. */
export function registerFeatures(program: Command): void {
  const group = program.command('features').description('versioned feature definitions');

  specOptions(group.command('create <name>').description('create a feature (version 1)'), true).action(
    async (name: string, o: SpecOptions, cmd: Command) => {
      const feature = await clientFor(cmd).features.create({ name, ...(specFrom(o) as FeatureSpecInput) });
      printResult(wantsJson(cmd), feature, () => describeFeature(feature));
    },
  );

  specOptions(group.command('update <name>').description('store a new version with the given fields changed'), false)
    .option('--no-window', 'make it a row-level feature again')
    .action(async (name: string, o: SpecOptions, cmd: Command) => {
      const feature = await clientFor(cmd).features.update(name, specFrom(o));
      printResult(wantsJson(cmd), feature, () => describeFeature(feature));
      if (!wantsJson(cmd) && !feature.created) note(`nothing changed: ${feature.name}@${feature.version} is still the latest`);
    });

  group
    .command('get <ref>')
    .description('show a feature: name for the latest version, name@N for one version')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { name, version } = parseNameVersion(ref, 'feature');
      const feature = await clientFor(cmd).features.get(name, version);
      printResult(wantsJson(cmd), feature, () => describeFeature(feature));
    });

  group
    .command('list')
    .description('list features at their latest version')
    .option('-e, --entity <entity>', 'only the features of this entity')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { entity?: string; limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).features.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'name', value: (f) => f.name },
          { header: 'version', value: (f) => f.version },
          { header: 'entity', value: (f) => f.entity },
          { header: 'type', value: (f) => f.valueType },
          { header: 'window', value: (f) => f.window },
          { header: 'expression', value: (f) => f.expression },
        ], '(no features)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('versions <name>')
    .description('list every version of a feature')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const versions = await clientFor(cmd).features.versions(name);
      printResult(wantsJson(cmd), versions, () =>
        formatTable(versions, [
          { header: 'version', value: (f) => f.version },
          { header: 'changes', value: (f) => f.changes },
          { header: 'expression', value: (f) => f.expression },
          { header: 'window', value: (f) => f.window },
          { header: 'created', value: (f) => f.createdAt },
          { header: 'by', value: (f) => f.createdBy },
        ]),
      );
    });
}
