import fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, redactUrl, type CairnConfig } from '../../core/config.js';
import { CairnError } from '../../core/errors.js';
import type { Actor } from '../../identity/index.js';
import type { CreateStudyInput, Study, StudyProgress, Trial } from '../../sdk/index.js';
import type { Objective, TuningBackend } from '../../tuning/index.js';
import { clientFor, globalOptions, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, notePage, printResult } from '../output.js';
import { positiveInt } from '../parse.js';
import { formatSeconds } from './materialize.js';

function describeProgress(p: StudyProgress): string {
  const s = p.study;
  return formatKeyValues([
    ['study', s.name],
    ['status', s.stopReason ? `${s.status} (${s.stopReason})` : s.status],
    ['objective', `${s.direction} ${s.metric}`],
    ['sampler', s.sampler.type],
    ['pruner', s.pruner.type],
    ['target', s.target.type === 'command' ? `command: ${s.target.command}` : s.target.type === 'trainer' ? `trainer ${s.target.trainer} on ${s.target.dataset}` : 'function (SDK runStudy)'],
    ['trials', `${p.done}/${p.budget ?? '∞'} done (${p.counts.running} running, ${p.counts.complete} complete, ${p.counts.pruned} pruned, ${p.counts.failed} failed)`],
    ['best value', p.best ? `${p.best.value} (trial ${p.best.trial})` : null],
    ['best params', p.best?.params ?? null],
    ['elapsed', formatSeconds(p.elapsedSeconds)],
    ['estimate left', s.status === 'running' ? formatSeconds(p.etaSeconds) : null],
    ['run', s.runId],
    ['created', `${s.createdAt} by ${s.createdBy}`],
  ]);
}

function readStudyFile(file: string): Partial<CreateStudyInput> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw CairnError.validation([{ path: '--file', reason: `cannot read ${file}: ${(err as Error).message}` }], 'invalid --file');
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a JSON object');
    return parsed as Partial<CreateStudyInput>;
  } catch (err) {
    throw CairnError.validation([{ path: '--file', reason: `${file} is not a study specification: ${(err as Error).message}` }], 'invalid --file');
  }
}

/** Where a worker's trials come from and how it evaluates them. */
interface WorkerSetup {
  backend: TuningBackend;
  progress: () => Promise<StudyProgress>;
  objective: Objective;
  /** Closes what the setup opened. */
  close(): Promise<void>;
}

/**
 * A worker on the metadata store of this machine's configuration (CAIRN_DATABASE_URL, and
 * CAIRN_HOME for the artifacts): no server involved, workers meet in the database. A trainer
 * study has to run this way, its trainings run here in worker threads.
 */
async function localSetup(name: string, config: CairnConfig, expectRunId: string | null): Promise<WorkerSetup> {
  // Loaded on use: the platform (database drivers, DuckDB) is the heaviest part of the CLI.
  const [{ openPlatform }, { targetObjective }, { pino, destination }] = await Promise.all([import('../../server/index.js'), import('../../tuning/index.js'), import('pino')]);
  // Logs go to stderr, quiet unless asked: stdout carries the result.
  const logger = pino({ level: process.env.CAIRN_LOG_LEVEL ? config.logLevel : 'warn', base: { service: 'cairn-tune' } }, destination(2));
  // Other processes' trainings on this machine (a server, other workers) are not interrupted ones.
  const platform = await openPlatform(config, logger, undefined, { recoverInterrupted: false });
  try {
    const study = await platform.tuning.getStudy(name);
    if (expectRunId !== null && study.runId !== expectRunId) {
      throw new CairnError('INVALID_CONFIG', `study ${name} of the server is not the one in ${describeDatabase(config)}: a trainer study's workers need the server's CAIRN_DATABASE_URL and CAIRN_HOME`, {
        study: name,
      });
    }
    const actor: Actor = { user: config.auth.localUser, role: 'admin', tokenId: null };
    return {
      backend: platform.tuning.backend(actor),
      progress: () => platform.tuning.progress(name),
      objective: targetObjective(study, { training: platform.training, tracking: platform.tracking, actor }),
      close: () => platform.close(),
    };
  } catch (err) {
    await platform.close().catch(() => {});
    if (err instanceof CairnError && err.code === 'NOT_FOUND' && expectRunId !== null) {
      throw new CairnError('INVALID_CONFIG', `study ${name} is a trainer study of the server, but not in ${describeDatabase(config)}: its workers need the server's CAIRN_DATABASE_URL and CAIRN_HOME`, { study: name });
    }
    throw err;
  }
}

/** The metadata store of a configuration, for messages (no password). */
const describeDatabase = (config: CairnConfig) => (config.database.kind === 'sqlite' ? `sqlite:${config.database.path}` : redactUrl(config.database.url));

/** A worker of a command study through a server: the command logs to its run through the API. */
async function remoteSetup(cmd: Command, study: Study & { target: { type: 'command' } }): Promise<WorkerSetup> {
  const client = clientFor(cmd);
  const { commandObjective } = await import('../../tuning/index.js');
  const token = globalOptions(cmd).token ?? process.env.CAIRN_TOKEN;
  return {
    backend: client.tuning,
    progress: () => client.tuning.progress(study.name),
    objective: commandObjective(study, study.target, {
      env: { CAIRN_URL: client.url, ...(token ? { CAIRN_TOKEN: token } : {}) },
      readMetric: async (runId) => (await client.runs.get(runId)).metrics[study.metric]?.value ?? null,
    }),
    close: async () => {},
  };
}

/**
 * Picks how to work on a study. With a server (--url or CAIRN_URL) a command study runs through
 * it; a trainer study always runs on the configured metadata store, and so does everything when
 * no server is named.
 */
async function setupFor(cmd: Command, name: string): Promise<WorkerSetup> {
  if (globalOptions(cmd).url === undefined && process.env.CAIRN_URL === undefined) return localSetup(name, loadConfig(), null);
  const study = await clientFor(cmd).tuning.getStudy(name);
  if (study.target.type === 'function') throw (await import('../../tuning/index.js')).needsItsFunction(study);
  if (study.target.type === 'trainer') return localSetup(name, loadConfig(), study.runId);
  return remoteSetup(cmd, study as Study & { target: { type: 'command' } });
}

/**
 * Runs trials of a study here with `workers` concurrent loops until it stops, with a progress bar
 * on stderr and a summary at the end. The first Ctrl-C stops claiming (running trials finish);
 * a second one exits at once, leaving its running trials to be retried by another worker once
 * their heartbeat lapses.
 */
async function work(cmd: Command, name: string, workers: number): Promise<void> {
  const json = wantsJson(cmd);
  const setup = await setupFor(cmd, name);
  try {
    const start = await setup.progress();
    const study = start.study;
    // Loaded here so that the other commands do not pay for them at start-up.
    const [{ default: progress }, { runStudy }] = await Promise.all([import('cli-progress'), import('../../tuning/index.js')]);
    const bar = json
      ? null
      : new progress.SingleBar(
          { format: `tuning ${name} {bar} {value}/{total} trials | best {best} | ETA {etaText}`, hideCursor: true, stream: process.stderr },
          progress.Presets.shades_classic,
        );
    let best: number | null = start.best?.value ?? null;
    let done = start.done;
    const better = (v: number) => best === null || (study.direction === 'minimize' ? v < best : v > best);
    const started = Date.now();
    const eta = () => {
      if (start.budget === null || done <= start.done) return '?';
      return formatSeconds(((start.budget - done) * (Date.now() - started)) / 1000 / (done - start.done));
    };
    bar?.start(Math.max(start.budget ?? done + 1, 1), done, { best: best ?? '-', etaText: '?' });
    const stop = new AbortController();
    const onInterrupt = () => {
      if (!stop.signal.aborted) {
        stop.abort();
        note('\nstopping: no new trials, the running ones finish (Ctrl-C again to quit at once)');
        return;
      }
      bar?.stop();
      note('quitting: this worker\'s running trials are retried by another worker once their heartbeat lapses');
      process.exit(130);
    };
    process.on('SIGINT', onInterrupt);
    try {
      const result = await runStudy(setup.backend, name, setup.objective, {
        workers,
        signal: stop.signal,
        onTrial: (t: Trial) => {
          if (t.retriedBy === null) done++;
          if (t.state === 'complete' && t.value !== null && better(t.value)) best = t.value;
          if (start.budget === null) bar?.setTotal(done + 1);
          bar?.update(done, { best: best ?? '-', etaText: eta() });
        },
      });
      bar?.stop();
      const final = await setup.progress();
      printResult(json, { ...result, progress: final }, () => `${describeProgress(final)}\n${formatKeyValues([['this process', `${result.trials} trials, stopped: ${result.reason}`]])}`);
      if (stop.signal.aborted) process.exitCode = 130;
    } finally {
      bar?.stop();
      process.off('SIGINT', onInterrupt);
    }
  } finally {
    await setup.close();
  }
}

/** `cairn tune create|status|list|trials|cancel|resume|run|worker`. */
export function registerTune(program: Command): void {
  const group = program.command('tune').description('hyperparameter tuning: studies, their progress and workers');

  group
    .command('create <study>')
    .description('create a study from a JSON specification (search space, metric, sampler, budget, target)')
    .requiredOption('-f, --file <study.json>', 'the study specification (its name is taken from <study>)')
    .option('--trials <n>', 'trial budget (overrides the file)', positiveInt('--trials'))
    .option('--seconds <n>', 'time budget in seconds (overrides the file)', positiveInt('--seconds'))
    .option('--command <shell>', 'evaluate each trial with this command (overrides the target)')
    .action(async (name: string, o: { file: string; trials?: number; seconds?: number; command?: string }, cmd: Command) => {
      const spec = readStudyFile(o.file);
      const budget = { ...(spec.budget ?? {}), ...(o.trials !== undefined ? { trials: o.trials } : {}), ...(o.seconds !== undefined ? { seconds: o.seconds } : {}) };
      const input = { ...spec, name, ...(Object.keys(budget).length > 0 ? { budget } : {}), ...(o.command !== undefined ? { target: { type: 'command' as const, command: o.command } } : {}) } as CreateStudyInput;
      const study = await clientFor(cmd).tuning.createStudy(input);
      printResult(wantsJson(cmd), study, () =>
        formatKeyValues([
          ['study', study.name],
          ['objective', `${study.direction} ${study.metric}`],
          ['parameters', Object.keys(study.space)],
          ['sampler', study.sampler.type],
          ['budget', study.budget],
          ['run', study.runId],
        ]),
      );
      if (!wantsJson(cmd)) {
        note(
          study.target.type === 'function'
            ? `run it with runStudy(client.tuning, '${study.name}', objective) in the SDK`
            : `run it with: cairn tune run ${study.name} --workers 4${study.target.type === 'trainer' ? ' (with the server’s CAIRN_DATABASE_URL and CAIRN_HOME)' : ''}`,
        );
      }
    });

  group
    .command('status <study>')
    .description('progress of a study: trials done of the budget, the best value and params, elapsed time and an estimate')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const p = await clientFor(cmd).tuning.progress(name);
      printResult(wantsJson(cmd), p, () => describeProgress(p));
    });

  group
    .command('list')
    .description('list studies by name')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).tuning.listStudies(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(
          page.items,
          [
            { header: 'name', value: (s) => s.name },
            { header: 'status', value: (s) => s.status },
            { header: 'metric', value: (s) => `${s.direction === 'minimize' ? 'min' : 'max'} ${s.metric}` },
            { header: 'sampler', value: (s) => s.sampler.type },
            { header: 'target', value: (s) => s.target.type },
            { header: 'created', value: (s) => s.createdAt },
          ],
          '(no studies)',
        ),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('trials <study>')
    .description("a study's trials by number")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const trials = await clientFor(cmd).tuning.listTrials(name);
      printResult(wantsJson(cmd), trials, () =>
        formatTable(
          trials,
          [
            { header: '#', value: (t) => t.number },
            { header: 'state', value: (t) => t.state },
            { header: 'value', value: (t) => t.value },
            { header: 'params', value: (t) => t.params },
            { header: 'worker', value: (t) => t.worker },
            { header: 'error', value: (t) => t.error },
          ],
          '(no trials)',
        ),
      );
    });

  group
    .command('cancel <study>')
    .description('cancel a study: no new trials; running ones are told to stop')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const study = await clientFor(cmd).tuning.cancelStudy(name);
      printResult(wantsJson(cmd), study, () => formatKeyValues([['study', study.name], ['status', study.status]]));
    });

  group
    .command('resume <study>')
    .description('run a completed study again with a new budget')
    .option('--trials <n>', 'the new trial budget (all trials, not more)', positiveInt('--trials'))
    .option('--seconds <n>', 'the new time budget in seconds, counted from now', positiveInt('--seconds'))
    .action(async (name: string, o: { trials?: number; seconds?: number }, cmd: Command) => {
      const study = await clientFor(cmd).tuning.resumeStudy(name, o);
      printResult(wantsJson(cmd), study, () => formatKeyValues([['study', study.name], ['status', study.status], ['budget', study.budget]]));
    });

  group
    .command('run <study>')
    .description('evaluate trials of a trainer or command study here with N workers until it stops, with a progress bar (Ctrl-C: finish running trials)')
    .option('-w, --workers <n>', 'concurrent trials in this process', positiveInt('--workers'), 1)
    .action(async (name: string, o: { workers: number }, cmd: Command) => work(cmd, name, o.workers));

  group
    .command('worker <study>')
    .description('join a study as one worker (start as many as you like, on any machine that reaches its database)')
    .action(async (name: string, _o: unknown, cmd: Command) => work(cmd, name, 1));
}
