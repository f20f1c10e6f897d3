import fs from 'node:fs';
import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
import type { Actual, LoggedPrediction, PredictionFilter, VersionPerformance } from '../../sdk/index.js';
import { clientFor, wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, notePage, printResult } from '../output.js';
import { coerceValue, parseNameVersion, positiveInt } from '../parse.js';

/** `1` → 1, `true` → true, anything else stays text (a class label). */
function parseActual(text: string): Actual {
  if (text === 'true' || text === 'false') return text === 'true';
  return coerceValue(text);
}

function invalidFile(file: string, reason: string): CairnError {
  return CairnError.validation([{ path: '--file', reason: `${file}: ${reason}` }], 'invalid --file');
}

/** Items from a JSON array or JSON lines of `{predictionId, actual}`; the server checks each item. */
function readFeedbackFile(file: string): { predictionId: string; actual: Actual }[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw invalidFile(file, `cannot read it: ${(err as Error).message}`);
  }
  const trimmed = text.trim();
  try {
    const parsed = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown) : trimmed.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
    if (!Array.isArray(parsed) || parsed.length === 0) throw new Error('expected a JSON array or JSON lines of {predictionId, actual}');
    return parsed as { predictionId: string; actual: Actual }[];
  } catch (err) {
    throw invalidFile(file, `not feedback: ${(err as Error).message}`);
  }
}

const output = (p: LoggedPrediction) => (p.output.probability !== null ? `${p.output.label ?? '-'} (p=${p.output.probability.toFixed(4)})` : p.output.label ?? p.output.value);

function describePrediction(p: LoggedPrediction): string {
  return formatKeyValues([
    ['id', p.id],
    ['at', p.at],
    ['model', `${p.model} version ${p.version}`],
    ['stage', p.stage],
    ['variant', p.variant],
    ['output', p.output],
    ['latency', `${p.latencyMs} ms`],
    ['entities', p.entities],
    ['features', p.features],
    ['actual', p.feedback ? `${JSON.stringify(p.feedback.actual)} (${p.feedback.at} by ${p.feedback.by})` : null],
  ]);
}

const fixed = (x: number | null | undefined) => (x === null || x === undefined ? null : Number(x.toFixed(4)));

function metricsText(v: VersionPerformance): string {
  const m = v.metrics;
  if (!m) return '-';
  return m.task === 'classification' ? `accuracy ${fixed(m.accuracy) ?? '-'}, AUC ${fixed(m.auc) ?? '-'}, log loss ${fixed(m.logLoss) ?? '-'}` : `RMSE ${fixed(m.rmse) ?? '-'}, MAE ${fixed(m.mae) ?? '-'}`;
}

/** `cairn predictions list|show|feedback|performance|refusals`. */
export function registerPredictions(program: Command): void {
  const group = program.command('predictions').description('the prediction log: logged predictions, feedback (actual outcomes), performance per model version');

  group
    .command('list')
    .description('logged predictions, newest first')
    .option('--model <name[@version]>', 'only this model, or one version of it (delay@2)')
    .option('--since <time>', 'from this ISO-8601 time on')
    .option('--until <time>', 'before this ISO-8601 time')
    .option('--limit <n>', 'page size', positiveInt('--limit'))
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (o: Omit<PredictionFilter, 'version'>, cmd: Command) => {
      // --version is the program's own option, so a version goes with the model name.
      const model = o.model === undefined ? null : parseNameVersion(o.model, '--model');
      const filter: PredictionFilter = { ...o, ...(model ? { model: model.name, ...(model.version !== null ? { version: model.version } : {}) } : {}) };
      const page = await clientFor(cmd).predictions.list(filter);
      printResult(wantsJson(cmd), page, () =>
        formatTable(
          page.items,
          [
            { header: 'id', value: (p) => p.id },
            { header: 'at', value: (p) => p.at },
            { header: 'model', value: (p) => `${p.model}@${p.version}` },
            { header: 'stage', value: (p) => p.stage },
            { header: 'output', value: output },
            { header: 'ms', value: (p) => p.latencyMs },
            { header: 'actual', value: (p) => (p.feedback ? JSON.stringify(p.feedback.actual) : null) },
          ],
          '(no predictions)',
        ),
      );
      if (!wantsJson(cmd)) notePage(page);
    });

  group
    .command('show <id>')
    .description('one prediction: features, output, latency and its feedback')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const p = await clientFor(cmd).predictions.get(id);
      printResult(wantsJson(cmd), p, () => describePrediction(p));
    });

  group
    .command('feedback [id] [actual]')
    .description('record the actual outcome of a prediction (a second one replaces the first); exits 2 when an id is unknown')
    .option('-f, --file <file>', 'many at once: a JSON array or JSON lines of {"predictionId": …, "actual": …}')
    .action(async (id: string | undefined, actual: string | undefined, o: { file?: string }, cmd: Command) => {
      if (o.file !== undefined && id !== undefined) throw CairnError.validation([{ path: '--file', reason: 'give either <id> <actual> or --file, not both' }], 'invalid arguments');
      if (o.file === undefined && (id === undefined || actual === undefined)) {
        throw CairnError.validation([{ path: id === undefined ? 'id' : 'actual', reason: 'required (or --file with many)' }], 'usage: cairn predictions feedback <id> <actual>');
      }
      const items = o.file !== undefined ? readFeedbackFile(o.file) : [{ predictionId: id!, actual: parseActual(actual!) }];
      const result = await clientFor(cmd).predictions.feedback(items);
      printResult(wantsJson(cmd), result, () =>
        formatKeyValues([
          ['recorded', result.recorded],
          ['replaced', result.replaced],
          ['unknown', result.unknown],
        ]),
      );
      if (result.unknown.length > 0) {
        if (!wantsJson(cmd)) note(`${result.unknown.length} unknown prediction id(s): nothing was recorded for them`);
        process.exitCode = 2;
      }
    });

  group
    .command('performance <model>')
    .description('per version: predictions, how many have feedback, accuracy/AUC/log loss (classifiers) or RMSE/MAE (regressors)')
    .option('--since <time>', 'predictions from this ISO-8601 time on')
    .option('--until <time>', 'predictions before this ISO-8601 time')
    .action(async (model: string, o: { since?: string; until?: string }, cmd: Command) => {
      const perf = await clientFor(cmd).predictions.performance(model, o);
      printResult(wantsJson(cmd), perf, () =>
        formatTable(
          perf.versions,
          [
            { header: 'version', value: (v) => v.version },
            { header: 'predictions', value: (v) => v.predictions },
            { header: 'with feedback', value: (v) => v.withFeedback },
            { header: 'metrics', value: metricsText },
          ],
          `(no predictions of ${model} logged)`,
        ),
      );
    });

  group
    .command('refusals')
    .description('refused prediction requests per minute, model and reason (the last 24 hours unless --since)')
    .option('--model <name>', 'only this model')
    .option('--since <time>', 'from this ISO-8601 time on')
    .option('--until <time>', 'before this ISO-8601 time')
    .action(async (o: { model?: string; since?: string; until?: string }, cmd: Command) => {
      const items = await clientFor(cmd).predictions.refusals(o);
      printResult(wantsJson(cmd), items, () =>
        formatTable(
          items,
          [
            { header: 'minute', value: (r) => r.minute },
            { header: 'model', value: (r) => r.model },
            { header: 'reason', value: (r) => r.reason },
            { header: 'count', value: (r) => r.count },
          ],
          '(no refused requests)',
        ),
      );
    });
}
