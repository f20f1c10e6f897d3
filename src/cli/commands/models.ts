import fs from 'node:fs';
import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { CairnClient, CardInput, LineageInput, ModelVersionDetail, RegisteredModel } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, notePage, printResult } from '../output.js';
import { collect, parsePairs, parseParams, positiveInt } from '../parse.js';
import { cardFromOptions, describeLineage, describeVersion, historyTable, productionTable, versionsTable, type CardOptions } from './model-output.js';

const invalid = (option: string, reason: string) => CairnError.validation([{ path: option, reason }], `invalid ${option}`);

function describeModel(m: RegisteredModel): string {
  return formatKeyValues([
    ['model', m.name],
    ['description', m.description],
    ['owner', m.owner],
    ['tags', m.tags],
    ['latest version', m.latestVersion || null],
    ['created', `${m.createdAt} by ${m.createdBy}`],
    ['updated', `${m.updatedAt} by ${m.updatedBy}`],
  ]);
}

/** A version number argument: a positive integer. */
function versionArg(text: string): number {
  if (!/^[1-9]\d*$/.test(text)) throw invalid('version', `expected a version number like 3, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The card options `register`, `upload` and `card-edit` share. */
function withCardOptions(cmd: Command, editing = false): Command {
  cmd
    .option('--card-file <file>', 'a JSON file of card fields (description, intendedUse, trainingData, limitations, …)')
    .option('--description <text>', 'card: what the model does')
    .option('--intended-use <text>', 'card: what it is for (repeatable)', collect)
    .option('--training-data <text>', 'card: what it was trained on')
    .option('--set <field=value>', 'card: any field, e.g. license=MIT, limitations=… (repeat to add to a list)', collect);
  if (editing) cmd.option('--clear <field>', 'card: empty an optional field (repeatable)', collect);
  return cmd;
}

function printVersion(cmd: Command, v: ModelVersionDetail): void {
  printResult(wantsJson(cmd), v, () => describeVersion(v));
}

/** `cairn models …`: the model registry. */
export function registerModels(program: Command): void {
  const group = program.command('models').description('the model registry: models, versions, stages, aliases, lineage, model cards');
  const client = (cmd: Command): CairnClient => clientFor(cmd);

  group
    .command('create <name>')
    .description('register a model name')
    .option('-d, --description <text>', 'what the model is for')
    .option('--owner <user>', 'who answers for it (default: you)')
    .option('--tag <key=value>', 'a tag (repeatable)', collect)
    .action(async (name: string, o: { description?: string; owner?: string; tag?: string[] }, cmd: Command) => {
      const m = await client(cmd).models.create({ name, description: o.description, owner: o.owner, ...(o.tag ? { tags: parsePairs(o.tag, '--tag') } : {}) });
      printResult(wantsJson(cmd), m, () => describeModel(m));
    });

  group
    .command('list')
    .description('list models by name')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await client(cmd).models.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'name', value: (m) => m.name },
          { header: 'latest', value: (m) => m.latestVersion },
          { header: 'owner', value: (m) => m.owner },
          { header: 'description', value: (m) => m.description },
        ], '(no models)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  // The version is an argument, not --version: that flag is cairn's own, and commander reads the
  // root's options anywhere on the line.
  group
    .command('get <model> [version]')
    .description('show a model, or one of its versions: by number, --stage or --alias')
    .option('--stage <stage>', 'the version in this stage, e.g. production')
    .option('--alias <alias>', 'the version this alias points at, e.g. champion')
    .action(async (name: string, version: string | undefined, o: { stage?: string; alias?: string }, cmd: Command) => {
      const given = [version, o.stage, o.alias].filter((x) => x !== undefined).length;
      if (given > 1) throw invalid('--stage', 'give one of a version number, --stage and --alias');
      const models = client(cmd).models;
      if (given === 0) {
        const m = await models.get(name);
        printResult(wantsJson(cmd), m, () => describeModel(m));
        return;
      }
      const v =
        version !== undefined ? await models.version(name, versionArg(version)) : o.stage !== undefined ? await models.byStage(name, o.stage) : await models.byAlias(name, o.alias!);
      printVersion(cmd, v);
    });

  group
    .command('versions <model>')
    .description("list a model's versions, newest first")
    .option('--stage <stage>', 'only versions in this stage')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (name: string, o: { stage?: string; limit?: number; cursor?: string }, cmd: Command) => {
      const page = await client(cmd).models.versions(name, o);
      printResult(wantsJson(cmd), page, () => versionsTable(page.items));
      if (!wantsJson(cmd)) notePage(page);
    });

  withCardOptions(
    group
      .command('register <model>')
      .description("register the next version from a finished run's ONNX model, with its card")
      .requiredOption('--run <id>', 'the run')
      .option('--artifact <path>', 'the ONNX file in the run', 'model/model.onnx')
      .option('--parent <model@version>', 'the version this one derives from'),
  ).action(async (name: string, o: CardOptions & { run: string; artifact: string; parent?: string }, cmd: Command) => {
    const v = await client(cmd).models.register(name, { runId: o.run, artifactPath: o.artifact, parent: o.parent, card: cardFromOptions(o) as CardInput });
    printVersion(cmd, v);
  });

  withCardOptions(
    group
      .command('upload <model>')
      .description('register the next version from an ONNX file of any framework, with its card and lineage')
      .requiredOption('--file <model.onnx>', 'the ONNX file')
      .option('--dataset <name@version>', 'lineage: the training dataset version')
      .option('--feature <name@version>', 'lineage: a feature version it was trained on (repeatable)', collect)
      .option('--trainer <name>', 'lineage: what trained it (sklearn, xgboost, …)')
      .option('--param <key=value>', 'lineage: a training parameter (repeatable)', collect)
      .option('--code-version <version>', 'lineage: the code version (a commit)')
      .option('--parent <model@version>', 'the version this one derives from'),
  ).action(async (name: string, o: CardOptions & { file: string; dataset?: string; feature?: string[]; trainer?: string; param?: string[]; codeVersion?: string; parent?: string }, cmd: Command) => {
    if (!fs.existsSync(o.file)) throw invalid('--file', `no file at ${o.file}`);
    const lineage: LineageInput = {
      ...(o.dataset ? { dataset: o.dataset } : {}),
      ...(o.feature ? { features: o.feature } : {}),
      ...(o.trainer ? { trainer: o.trainer } : {}),
      ...(o.param ? { params: parseParams(o.param) as Record<string, string | number | boolean> } : {}),
      ...(o.codeVersion ? { codeVersion: o.codeVersion } : {}),
    };
    const v = await client(cmd).models.upload(name, o.file, { lineage, parent: o.parent, card: cardFromOptions(o) as CardInput });
    printVersion(cmd, v);
  });

  group
    .command('transition <model> <version> <stage>')
    .description('move a version to None, Staging, Production or Archived (Production needs an approver and an approved card)')
    .option('-m, --comment <text>', 'why')
    .option('--keep-existing', 'into Production: keep the current Production version instead of archiving it')
    .action(async (name: string, version: string, stage: string, o: { comment?: string; keepExisting?: boolean }, cmd: Command) => {
      const result = await client(cmd).models.transition(name, versionArg(version), { stage, comment: o.comment, ...(o.keepExisting ? { archiveExisting: false } : {}) });
      printResult(wantsJson(cmd), result, () => historyTable(result.transitions));
    });

  group
    .command('alias <model> <alias> [version]')
    .description('point an alias (champion, challenger…) at a version, or --delete it')
    .option('--delete', 'remove the alias')
    .action(async (name: string, alias: string, version: string | undefined, o: { delete?: boolean }, cmd: Command) => {
      const models = client(cmd).models;
      if (o.delete && version !== undefined) throw invalid('--delete', 'give no version when deleting an alias');
      if (!o.delete && version === undefined) throw invalid('version', 'give the version the alias should point at (or --delete)');
      const result = o.delete ? await models.deleteAlias(name, alias) : await models.setAlias(name, alias, versionArg(version!));
      printResult(wantsJson(cmd), result, () => (o.delete ? `deleted ${alias} (was version ${result.version})` : `${name}@${alias} → version ${result.version}`));
    });

  group
    .command('history <model> [version]')
    .description('the stage transitions of a model (or of one version), oldest first')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (name: string, version: string | undefined, o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await client(cmd).models.history(name, { ...o, ...(version !== undefined ? { version: versionArg(version) } : {}) });
      printResult(wantsJson(cmd), page, () => historyTable(page.items));
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('lineage <model> <version>')
    .description('a version traced back to its run, dataset version and feature definitions')
    .action(async (name: string, version: string, _o: unknown, cmd: Command) => {
      const l = await client(cmd).models.lineage(name, versionArg(version));
      printResult(wantsJson(cmd), l, () => describeLineage(l));
    });

  group
    .command('card <model> <version>')
    .description("show a version's model card (the current revision, or --revision N)")
    .option('--revision <n>', 'an earlier revision', positiveInt('--revision'))
    .option('--format <format>', 'json, md or html', 'md')
    .option('-o, --output <file>', 'write it to a file instead')
    .action(async (name: string, version: string, o: { revision?: number; format: string; output?: string }, cmd: Command) => {
      if (!['json', 'md', 'html'].includes(o.format)) throw invalid('--format', `expected json, md or html, got ${JSON.stringify(o.format)}`);
      const models = client(cmd).models;
      const v = versionArg(version);
      const text = o.format === 'json' || wantsJson(cmd) ? `${JSON.stringify(await models.card(name, v, o.revision), null, 2)}\n` : await models.renderCard(name, v, o.format as 'md' | 'html', o.revision);
      if (o.output) {
        fs.writeFileSync(o.output, text);
        note(`wrote ${o.output}`);
      } else process.stdout.write(text);
    });

  withCardOptions(
    group.command('card-edit <model> <version>').description('edit the card: a new revision, pending review'),
    true,
  ).action(async (name: string, version: string, o: CardOptions, cmd: Command) => {
    const patch = cardFromOptions(o);
    if (Object.keys(patch).length === 0) throw invalid('--set', 'give the fields to change: --card-file, --set field=value or --clear field');
    const r = await client(cmd).models.editCard(name, versionArg(version), patch);
    printResult(wantsJson(cmd), r, () =>
      r.created ? `revision ${r.revision} of the card of ${name} version ${version} (pending review)${r.complete ? '' : `; still missing ${r.missing.join(', ')}`}` : `no change: revision ${r.revision} already says this`,
    );
  });

  for (const decision of ['approve', 'reject'] as const) {
    group
      .command(`${decision} <model> <version>`)
      .description(`${decision} the current card revision (approver role)${decision === 'reject' ? '; say why with --comment' : ''}`)
      .option('--revision <n>', 'the revision you reviewed (refused if it is no longer current)', positiveInt('--revision'))
      .option('-m, --comment <text>', decision === 'reject' ? 'what must change (required)' : 'a note')
      .action(async (name: string, version: string, o: { revision?: number; comment?: string }, cmd: Command) => {
        const models = client(cmd).models;
        const v = versionArg(version);
        const r = decision === 'approve' ? await models.approve(name, v, o) : await models.reject(name, v, { revision: o.revision, comment: o.comment ?? '' });
        printResult(wantsJson(cmd), r, () => `revision ${r.review.revision} of the card of ${name} version ${v}: ${r.review.decision} by ${r.review.actor}`);
      });
  }

  group
    .command('production')
    .description("every model's Production version")
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await client(cmd).models.production(o);
      printResult(wantsJson(cmd), page, () => productionTable(page.items));
      if (!wantsJson(cmd)) notePage(page);
    });
}
