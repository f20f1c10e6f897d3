import type { Command } from 'commander';
import type { CairnClient, MaterializationProgress, MaterializeInput } from '../../sdk/index.js';
import { CairnError } from '../../core/errors.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, notePage, printResult } from '../output.js';
import { parseRefList, positiveInt } from '../parse.js';

/** `95` → `1m 35s`; null (not known yet) → `?`. */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function describeRun(m: MaterializationProgress): string {
  const seconds = m.startedAt && m.finishedAt ? (Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 1000 : null;
  return formatKeyValues([
    ['materialization', m.id],
    ['status', m.status],
    ['entity', m.entity],
    ['features', m.features],
    ['window', `${m.windowStart ?? 'beginning'} → ${m.windowEnd}${m.incremental ? ' (incremental)' : ''}`],
    ['keys', `${m.doneKeys}/${m.totalKeys ?? '?'}`],
    ['values written', m.valuesWritten],
    ['keys/s', m.keysPerSecond],
    ['took', seconds === null ? null : formatSeconds(seconds)],
    ['error', m.error],
    ['created', `${m.createdAt} by ${m.createdBy}`],
  ]);
}

/**
 * Polls a run until it ends, drawing a progress bar (keys done/total, keys/s, ETA) on stderr.
 * Ctrl-C stops following, not the run: it goes on on the server. Returns null when interrupted.
 */
async function follow(client: CairnClient, run: MaterializationProgress, showBar: boolean): Promise<MaterializationProgress | null> {
  // Loaded here so that commands without a progress bar do not pay for it at start-up.
  const { default: progress } = await import('cli-progress');
  const bar = showBar
    ? new progress.SingleBar(
        { format: 'materializing {bar} {percentage}% | {done}/{all} keys | {rate} keys/s | ETA {etaText}', hideCursor: true, stream: process.stderr },
        progress.Presets.shades_classic,
      )
    : null;
  const payload = (m: MaterializationProgress) => ({
    done: m.doneKeys,
    all: m.totalKeys ?? '?',
    rate: m.keysPerSecond ?? '-',
    etaText: m.status === 'succeeded' ? '0s' : formatSeconds(m.etaSeconds),
  });
  // The total is unknown until the server has counted the keys; a total of 1 keeps the bar at 0%.
  bar?.start(Math.max(run.totalKeys ?? 1, 1), run.doneKeys, payload(run));
  const stop = new AbortController();
  const onInterrupt = () => stop.abort();
  process.once('SIGINT', onInterrupt);
  try {
    return await client.materializations.waitFor(run.id, {
      signal: stop.signal,
      onProgress: (m) => {
        if (m.totalKeys !== null) bar?.setTotal(Math.max(m.totalKeys, 1));
        bar?.update(m.status === 'succeeded' && m.totalKeys === 0 ? 1 : m.doneKeys, payload(m));
      },
    });
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    return null;
  } finally {
    bar?.stop();
    process.off('SIGINT', onInterrupt);
  }
}

/** Prints where a run ended up; a failed run sets exit code 1 and says how to resume it. */
async function report(cmd: Command, started: MaterializationProgress, wait: boolean): Promise<void> {
  const json = wantsJson(cmd);
  if (!wait) {
    printResult(json, started, () => describeRun(started));
    if (!json) note(`follow it with: cairn materializations get ${started.id}`);
    return;
  }
  const final = await follow(clientFor(cmd), started, !json);
  if (final === null) {
    note(`stopped following ${started.id}; the run continues on the server: cairn materializations get ${started.id}`);
    process.exitCode = 130;
    return;
  }
  printResult(json, final, () => describeRun(final));
  if (final.status === 'failed') {
    note(`error: materialization ${final.id} failed: ${final.error ?? 'unknown error'}`);
    note(`resume it with: cairn materializations resume ${final.id}`);
    process.exitCode = 1;
  }
}

interface MaterializeOptions {
  features?: string;
  entity?: string;
  start?: string;
  end?: string;
  incremental?: boolean;
  wait: boolean;
}

/** `cairn materialize` and `cairn materializations list|get|resume`. */
export function registerMaterialize(program: Command): void {
  program
    .command('materialize')
    .description('compute the latest feature values into the online store, with a progress bar')
    .option('--features <refs>', 'comma-separated features of one entity, e.g. a@1,b')
    .option('--entity <entity>', 'every feature of this entity, at its latest version')
    .option('--start <time>', 'start of the window (exclusive), ISO-8601')
    .option('--end <time>', 'end of the window (inclusive), ISO-8601; default now')
    .option('--incremental', 'continue from where the last run of each feature ended')
    .option('--no-wait', 'start the run and return at once')
    .action(async (o: MaterializeOptions, cmd: Command) => {
      if ((o.features === undefined) === (o.entity === undefined)) {
        throw new CairnError('BAD_REQUEST', 'give either --features <refs> or --entity <entity>');
      }
      const input: MaterializeInput = {
        ...(o.features !== undefined ? { features: parseRefList(o.features, '--features') } : { entity: o.entity }),
        ...(o.start !== undefined ? { start: o.start } : {}),
        ...(o.end !== undefined ? { end: o.end } : {}),
        ...(o.incremental ? { incremental: true } : {}),
      };
      await report(cmd, await clientFor(cmd).materializations.start(input), o.wait);
    });

  const group = program.command('materializations').description('runs of `cairn materialize`');

  group
    .command('list')
    .description('list runs, newest first')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: { limit?: number; cursor?: string }, cmd: Command) => {
      const page = await clientFor(cmd).materializations.list(o);
      printResult(wantsJson(cmd), page, () =>
        formatTable(page.items, [
          { header: 'id', value: (m) => m.id },
          { header: 'status', value: (m) => m.status },
          { header: 'entity', value: (m) => m.entity },
          { header: 'features', value: (m) => m.features },
          { header: 'keys', value: (m) => `${m.doneKeys}/${m.totalKeys ?? '?'}` },
          { header: 'created', value: (m) => m.createdAt },
        ], '(no materializations)'),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('get <id>')
    .description('show a run with its progress, rate and ETA')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const run = await clientFor(cmd).materializations.get(id);
      printResult(wantsJson(cmd), run, () => describeRun(run));
    });

  group
    .command('resume <id>')
    .description('resume a failed run from the keys it had written')
    .option('--no-wait', 'resume the run and return at once')
    .action(async (id: string, o: { wait: boolean }, cmd: Command) => {
      await report(cmd, await clientFor(cmd).materializations.resume(id), o.wait);
    });
}
