import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { CairnClient, Run } from '../../sdk/index.js';
import { clientFor, globalOptions, wantsJson } from '../context.js';
import { runExternal } from '../external-run.js';
import { formatKeyValues, formatTable, note, printResult } from '../output.js';
import { collect, parseNameVersion, parsePairs, parseParams } from '../parse.js';

interface TrainOptions {
  experiment: string;
  name?: string;
  trainer?: string;
  dataset?: string;
  validation?: string;
  validationFraction?: string;
  label?: string;
  features?: string;
  categorical?: string;
  param: string[];
  tag: string[];
  command?: string;
  wait: boolean;
}

const list = (text: string | undefined) => (text === undefined ? undefined : text.split(',').map((s) => s.trim()).filter(Boolean));
const invalid = (path: string, reason: string) => CairnError.validation([{ path, reason }]);

// Per-iteration curves and counts are in the run; the summary shows the validation scores.
const HIDDEN = /^(train_|valid_loss$|valid_metric$|valid_(rows|positives|threshold)$)/;

/** Final metrics of a run as a table: validation scores, then fit facts. */
function metricsTable(run: Run): string {
  const rows = Object.entries(run.metrics)
    .filter(([key]) => !HIDDEN.test(key))
    .sort(([a], [b]) => (a.startsWith('valid_') === b.startsWith('valid_') ? a.localeCompare(b) : a.startsWith('valid_') ? -1 : 1));
  return formatTable(rows, [
    { header: 'metric', value: ([k]) => k },
    { header: 'value', value: ([, p]) => Number(p.value.toPrecision(6)) },
  ]);
}

function describe(run: Run): string {
  const seconds = run.endTime ? ((Date.parse(run.endTime) - Date.parse(run.startTime)) / 1000).toFixed(1) : null;
  return [
    formatKeyValues([
      ['run', run.id],
      ['name', run.name],
      ['experiment', run.experiment],
      ['status', run.status],
      ['trainer', run.params.trainer ?? run.tags['cairn.trainer']],
      ['dataset', run.inputs.dataset?.ref ?? null],
      ['took', seconds === null ? null : `${seconds} s`],
      ['error', run.tags['cairn.error'] ?? null],
    ]),
    '',
    metricsTable(run),
  ].join('\n');
}

/** Polls a training run until it ends, showing the iteration and loss on stderr. */
async function follow(client: CairnClient, runId: string, show: boolean): Promise<Run> {
  for (;;) {
    const run = await client.runs.get(runId);
    if (run.status !== 'running') {
      if (show) process.stderr.write('\n');
      return run;
    }
    if (show) {
      const loss = run.metrics.valid_loss ?? run.metrics.train_loss;
      const text = loss ? `iteration ${loss.step}, ${run.metrics.valid_loss ? 'validation' : 'training'} loss ${loss.value.toFixed(5)}` : 'loading data';
      process.stderr.write(`\rtraining ${runId}: ${text}    `);
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

async function trainBuiltIn(cmd: Command, o: TrainOptions): Promise<void> {
  const client = clientFor(cmd);
  if (!o.dataset) throw invalid('--dataset', 'required with a built-in trainer: the training dataset version, e.g. flights_jan@1');
  if (!o.label) throw invalid('--label', 'required: the label column');
  if (o.validation && o.validationFraction) throw invalid('--validation', 'give --validation or --validation-fraction, not both');
  const validation = o.validation
    ? { dataset: o.validation }
    : o.validationFraction !== undefined
      ? { fraction: Number(o.validationFraction) }
      : undefined;
  const features = list(o.features);
  const categorical = list(o.categorical);
  const { run } = await client.training.start({
    experiment: o.experiment,
    trainer: (o.trainer ?? 'gbdt') as 'gbdt' | 'linear',
    dataset: o.dataset,
    label: o.label,
    params: parseParams(o.param),
    tags: parsePairs(o.tag, '--tag'),
    ...(o.name ? { runName: o.name } : {}),
    ...(validation ? { validation } : {}),
    ...(features ? { features } : {}),
    ...(categorical ? { categorical } : {}),
    ...(process.env.CAIRN_CODE_VERSION ? { codeVersion: process.env.CAIRN_CODE_VERSION } : {}),
  });
  if (!o.wait) {
    printResult(wantsJson(cmd), run, () => `started ${run.id}; follow it with \`cairn runs get ${run.id}\``);
    return;
  }
  const ended = await follow(client, run.id, !wantsJson(cmd) && process.stderr.isTTY === true);
  printResult(wantsJson(cmd), ended, () => describe(ended));
  if (ended.status !== 'finished') process.exitCode = 1;
}

async function trainExternal(cmd: Command, o: TrainOptions): Promise<void> {
  const client = clientFor(cmd);
  const { url, token } = globalOptions(cmd);
  const params = Object.fromEntries(
    Object.entries(parseParams(o.param)).map(([k, v]) => [k, v === null ? 'null' : v]),
  ) as Record<string, string | number | boolean>;
  let dataset: { ref: string; contentHash: string; features: string[] } | undefined;
  let downloadDir: string | null = null;
  if (o.dataset) {
    const { name, version } = parseNameVersion(o.dataset, '--dataset');
    const ds = await client.datasets.get(name, version);
    dataset = { ref: `${ds.name}@${ds.version}`, contentHash: ds.contentHash, features: ds.features.map((f) => f.ref) };
    // The command gets the training set as a local Parquet file, checked against its hash.
    downloadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-dataset-'));
    const file = path.join(downloadDir, `${ds.name}-v${ds.version}.parquet`);
    await client.datasets.download(ds.name, ds.version, file);
    process.env.CAIRN_DATASET_PATH = file;
    process.env.CAIRN_DATASET = dataset.ref;
  }
  try {
    const outcome = await runExternal(
      client,
      { command: o.command!, experiment: o.experiment, ...(o.name ? { name: o.name } : {}), params, tags: parsePairs(o.tag, '--tag'), ...(dataset ? { dataset } : {}) },
      { url: url ?? process.env.CAIRN_URL ?? 'http://127.0.0.1:8080', ...((token ?? process.env.CAIRN_TOKEN) ? { token: token ?? process.env.CAIRN_TOKEN } : {}) },
      wantsJson(cmd) ? process.stderr : process.stdout,
    );
    const run = await client.runs.get(outcome.run.id);
    printResult(wantsJson(cmd), run, () => describe(run));
    if (outcome.exitCode !== 0) {
      note(`the command failed with exit code ${outcome.exitCode}; run ${run.id} is marked failed`);
      process.exitCode = 1;
    }
  } finally {
    if (downloadDir) fs.rmSync(downloadDir, { recursive: true, force: true });
  }
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a model as a tracked run: a built-in trainer on a dataset version, or any --command')
    .requiredOption('--experiment <name>', 'experiment the run belongs to (created if missing)')
    .option('--name <name>', 'run name')
    .option('--trainer <trainer>', 'built-in trainer: gbdt or linear', 'gbdt')
    .option('--dataset <ref>', 'training dataset version, e.g. flights_jan@1')
    .option('--validation <ref>', 'dataset version to evaluate on, e.g. flights_feb@1')
    .option('--validation-fraction <share>', 'hold out this share of the training rows instead (default 0.2)')
    .option('--label <column>', 'label column')
    .option('--features <columns>', 'comma-separated input columns (default: the dataset\'s feature columns)')
    .option('--categorical <columns>', 'comma-separated inputs to treat as categorical (default: text columns)')
    .option('--param <key=value>', 'trainer parameter, e.g. n_trees=100 (repeatable)', collect, [])
    .option('--tag <key=value>', 'run tag (repeatable)', collect, [])
    .option('--command <command>', 'run this command (any language) as the run instead of a built-in trainer')
    .option('--no-wait', 'start a built-in training and return at once')
    .action(async (o: TrainOptions, cmd: Command) => {
      if (o.command) await trainExternal(cmd, o);
      else await trainBuiltIn(cmd, o);
    });
}
