/**
 * The `cairn` command line: one command group per domain, registered here. Every command exits
 * with 0 on success, 2 for a mistake of the caller (bad usage, invalid input, not found), 1 for
 * server trouble and 78 for bad configuration; errors go to stderr as `error: <message>`.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { registerConfig } from './commands/config.js';
import { registerDatasets } from './commands/datasets.js';
import { registerEntities } from './commands/entities.js';
import { registerExperiments } from './commands/experiments.js';
import { registerFeatureSets } from './commands/feature-sets.js';
import { registerFeatures } from './commands/features.js';
import { registerMaterialize } from './commands/materialize.js';
import { registerModels } from './commands/models.js';
import { registerEvents, registerLineage } from './commands/lineage.js';
import { registerOnline } from './commands/online.js';
import { registerPredictions } from './commands/predictions.js';
import { registerRuns } from './commands/runs.js';
import { registerSources } from './commands/sources.js';
import { registerTokens } from './commands/tokens.js';
import { registerTrain } from './commands/train.js';
import { registerTrainingSets } from './commands/training-sets.js';
import { registerTune } from './commands/tune.js';
import { registerServe } from './commands/serve.js';
import { registerUp } from './commands/up.js';
import { printError } from './output.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The whole command tree; errors are thrown to `main` instead of exiting, so it picks the exit code. */
export function buildProgram(): Command {
  const program = new Command('cairn')
    .description('Cairn: features, training sets, the online store, experiment tracking, training and the model registry of one ML platform')
    .version(version)
    .option('--url <url>', 'server URL (default $CAIRN_URL, else http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (default $CAIRN_TOKEN)')
    .option('--json', 'print results as JSON')
    // Set before the subcommands are added: they inherit it.
    .exitOverride()
    .showSuggestionAfterError();
  for (const register of [
    registerUp,
    registerServe,
    registerConfig,
    registerTokens,
    registerEntities,
    registerSources,
    registerFeatures,
    registerFeatureSets,
    registerTrainingSets,
    registerDatasets,
    registerMaterialize,
    registerOnline,
    registerExperiments,
    registerRuns,
    registerTrain,
    registerTune,
    registerModels,
    registerLineage,
    registerEvents,
    registerPredictions,
  ]) {
    register(program);
  }
  return program;
}

/** Runs one command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    // Commander has printed its own message (unknown command, missing option…); help and --version exit 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return printError(err);
  }
}

process.exitCode = await main(process.argv);
