import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { CairnClient, CreateStudyInput, Study, StudyProgress, Trial } from '../../sdk/index.js';
import type { Objective } from '../../tuning/index.js';
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

/**
 * The objective of a `command` study, run here: the command sees CAIRN_PARAMS (JSON),
 * CAIRN_PARAM_<NAME>, CAIRN_TRIAL_ID, CAIRN_RUN_ID and the server's CAIRN_URL/CAIRN_TOKEN, and
 * prints its value as its last line (or logs the study's metric to its run).
 */
function commandObjective(client: CairnClient, study: Study, command: string, token: string | undefined): Objective {
  return async (params, trial) => {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      CAIRN_URL: client.url,
      ...(token ? { CAIRN_TOKEN: token } : {}),
      CAIRN_PARAMS: JSON.stringify(params),
      CAIRN_TRIAL_ID: trial.id,
      CAIRN_STUDY: study.name,
      ...(trial.runId ? { CAIRN_RUN_ID: trial.runId } : {}),
    };
    for (const [k, v] of Object.entries(params)) env[`CAIRN_PARAM_${k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = String(v);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(command, { shell: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`command exited with ${code}: ${err.trim().split('\n').pop() ?? ''}`))));
    });
    const last = output.trim().split('\n').pop()?.trim() ?? '';
    const value = Number(last);
    if (last !== '' && Number.isFinite(value)) return value;
    if (trial.runId) {
      const point = (await client.runs.get(trial.runId)).metrics[study.metric];
      if (point) return point.value;
    }
    throw new Error(`the command printed no value as its last line and logged no ${study.metric}: ${JSON.stringify(last)}`);
  };
}

/** Runs trials of a command study here until it stops, with a progress bar on stderr. */
async function work(cmd: Command, name: string, workers: number): Promise<void> {
  const client = clientFor(cmd);
  const json = wantsJson(cmd);
  const study = await client.tuning.getStudy(name);
  if (study.target.type !== 'command') {
    throw new CairnError('BAD_REQUEST', `study ${name} evaluates a ${study.target.type} target: the CLI runs command targets only (use runStudy() in the SDK)`, { study: name });
  }
  const start = await client.tuning.progress(name);
  // Loaded here so that the other commands do not pay for them at start-up.
  const { default: progress } = await import('cli-progress');
  const { runStudy } = await import('../../tuning/index.js');
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
  const onInterrupt = () => stop.abort();
  process.once('SIGINT', onInterrupt);
  try {
    const result = await runStudy(client.tuning, name, commandObjective(client, study, study.target.command, globalOptions(cmd).token ?? process.env.CAIRN_TOKEN), {
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
    const final = await client.tuning.progress(name);
    printResult(json, { ...result, progress: final }, () => `${describeProgress(final)}\n${formatKeyValues([['this process', `${result.trials} trials, stopped: ${result.reason}`]])}`);
  } finally {
    bar?.stop();
    process.off('SIGINT', onInterrupt);
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
      if (!wantsJson(cmd)) note(study.target.type === 'command' ? `run it with: cairn tune run ${study.name} --workers 4` : `run it with runStudy(client.tuning, '${study.name}', objective) in the SDK`);
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
    .option('--seconds <n>', 'the new time budget in seconds from creation', positiveInt('--seconds'))
    .action(async (name: string, o: { trials?: number; seconds?: number }, cmd: Command) => {
      const study = await clientFor(cmd).tuning.resumeStudy(name, o);
      printResult(wantsJson(cmd), study, () => formatKeyValues([['study', study.name], ['status', study.status], ['budget', study.budget]]));
    });

  group
    .command('run <study>')
    .description('evaluate trials of a command study here with N workers until it stops, with a progress bar')
    .option('-w, --workers <n>', 'concurrent trials in this process', positiveInt('--workers'), 1)
    .action(async (name: string, o: { workers: number }, cmd: Command) => work(cmd, name, o.workers));

  group
    .command('worker <study>')
    .description('join a command study as one worker (start as many as you like, on any machine)')
    .action(async (name: string, _o: unknown, cmd: Command) => work(cmd, name, 1));
}
