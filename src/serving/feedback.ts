/**
 * Feedback and the reading side of the prediction log: actual outcomes recorded against
 * prediction ids, logged predictions listed and read back, per-version performance, and refusal
 * counts.
 *
 * Rules. Recording feedback needs the editor role (a viewer token only reads). A request carries
 * one `{predictionId, actual}` or `{items: [...]}` (at most 10,000, no id twice); unknown ids are
 * answered in `unknown` and nothing is stored for them, and when no id is known the answer is 404
 * PREDICTION_NOT_FOUND naming them all. A second feedback for an id replaces the first (an outcome
 * can be corrected); the answer lists the ids it replaced. Feedback may arrive before its
 * prediction reached the store: an id not found is looked up again after flushing this process's
 * log, and — when other serving processes log into the same spool directory — again until their
 * records can have reached the store (`PredictionLog.siblingDelayMs`; in `cairn serve` the
 * workers' files are written by the primary, so this includes its next pass).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type Clock } from '../core/clock.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import { decodeCursor, pageSize, toPage, type Page } from '../core/pagination.js';
import { requireRole, type Actor } from '../identity/index.js';
import type { Actual, FeedbackResult, LoggedPrediction, ModelPerformance, RefusalCount } from './log-model.js';
import type { PredictionLogStore, TimeRange } from './log-store.js';
import { versionPerformance } from './performance.js';
import type { PredictionLog } from './prediction-log.js';

export const MAX_FEEDBACK_ITEMS = 10_000;
const MAX_ID_LENGTH = 200;
const MAX_ACTUAL_LENGTH = 1000;
/** Margin over a sibling's flush interval before an id is declared unknown. */
const SIBLING_MARGIN_MS = 250;
/** How often the store is asked again while waiting for siblings. */
const SIBLING_POLL_MS = 100;

export interface FeedbackItem {
  predictionId: string;
  actual: Actual;
}

export interface PredictionListQuery {
  model?: string;
  version?: number;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

export interface FeedbackServiceDeps {
  store: PredictionLogStore;
  log: PredictionLog;
  /** The registry's model lookup: performance of a model it does not know is MODEL_NOT_FOUND. */
  models: { getModel(name: string): Promise<unknown> };
  clock?: Clock;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkItem(v: ValidationErrors, item: unknown, at: string): FeedbackItem | null {
  const path = (field: string) => (at ? `${at}.${field}` : field);
  if (!isObject(item)) {
    v.add(at, `expected an object with predictionId and actual, got ${describe(item)}`);
    return null;
  }
  for (const key of Object.keys(item)) if (key !== 'predictionId' && key !== 'actual') v.add(path(key), 'unknown field');
  const { predictionId, actual } = item;
  let ok = true;
  if (predictionId === undefined) v.add(path('predictionId'), 'required');
  else if (typeof predictionId !== 'string' || predictionId === '' || predictionId.length > MAX_ID_LENGTH) {
    v.add(path('predictionId'), `expected a prediction id (1 to ${MAX_ID_LENGTH} characters), got ${describe(predictionId)}`);
  }
  if (actual === undefined) {
    v.add(path('actual'), 'required');
    ok = false;
  } else if (typeof actual === 'number' ? !Number.isFinite(actual) : typeof actual === 'string' ? actual === '' || actual.length > MAX_ACTUAL_LENGTH : typeof actual !== 'boolean') {
    v.add(path('actual'), `expected a finite number, a boolean or a non-empty string, got ${describe(actual)}`);
    ok = false;
  }
  return ok && typeof predictionId === 'string' ? { predictionId, actual: actual as Actual } : null;
}

/**
 * The items of a feedback body: `{predictionId, actual}` or `{items: [...]}`.
 * @throws VALIDATION_FAILED naming every bad field
 */
export function parseFeedbackBody(body: unknown): FeedbackItem[] {
  const v = new ValidationErrors();
  if (!isObject(body)) {
    v.add('body', `expected an object, got ${describe(body)}`).throwIfAny();
    return [];
  }
  const items: FeedbackItem[] = [];
  if ('items' in body) {
    for (const key of Object.keys(body)) if (key !== 'items') v.add(key, key === 'predictionId' || key === 'actual' ? 'give either items or predictionId and actual, not both' : 'unknown field');
    const list = body.items;
    if (!Array.isArray(list)) v.add('items', `expected an array, got ${describe(list)}`);
    else if (list.length === 0) v.add('items', 'must not be empty');
    else if (list.length > MAX_FEEDBACK_ITEMS) v.add('items', `at most ${MAX_FEEDBACK_ITEMS} per request, got ${list.length}`);
    else {
      const first = new Map<string, number>();
      list.forEach((raw, i) => {
        const item = checkItem(v, raw, `items[${i}]`);
        if (!item) return;
        const seen = first.get(item.predictionId);
        if (seen !== undefined) v.add(`items[${i}].predictionId`, `repeats items[${seen}]`);
        else first.set(item.predictionId, i);
        items.push(item);
      });
    }
  } else {
    const item = checkItem(v, body, '');
    if (item) items.push(item);
  }
  v.throwIfAny();
  return items;
}

/** An ISO-8601 time as stored (UTC with milliseconds), or a field error. */
function checkTime(v: ValidationErrors, field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) {
    v.add(field, `expected an ISO-8601 time like 2026-01-31T00:00:00Z, got ${describe(value)}`);
    return undefined;
  }
  return new Date(t).toISOString();
}

function checkRange(v: ValidationErrors, q: { since?: string; until?: string }): TimeRange {
  const since = checkTime(v, 'since', q.since);
  const until = checkTime(v, 'until', q.until);
  if (since !== undefined && until !== undefined && since >= until) v.add('until', 'must be after since');
  return { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
}

const CURSOR_SEPARATOR = '\n';

/** Records actual outcomes and reads the prediction log. */
export class FeedbackService {
  private readonly clock: Clock;

  constructor(private readonly deps: FeedbackServiceDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /**
   * Stores the actual outcome of predictions; see the module comment for the rules.
   * @throws VALIDATION_FAILED naming every bad field, PREDICTION_NOT_FOUND when no id is known, FORBIDDEN below editor
   */
  async record(body: unknown, actor: Actor): Promise<FeedbackResult> {
    requireRole(actor, 'editor', 'recording feedback');
    const items = parseFeedbackBody(body);
    const known = await this.findPredictions(items.map((i) => i.predictionId));
    const unknown = items.filter((i) => !known.has(i.predictionId)).map((i) => i.predictionId);
    if (known.size === 0) {
      throw new CairnError(
        'PREDICTION_NOT_FOUND',
        unknown.length === 1 ? `prediction ${unknown[0]} not found` : `none of the ${unknown.length} predictions was found`,
        { unknown },
      );
    }
    const at = this.clock.now().toISOString();
    const replaced = await this.deps.store.putFeedback(
      items.filter((i) => known.has(i.predictionId)).map((i) => ({ predictionId: i.predictionId, actual: i.actual, at, by: actor.user })),
    );
    return { recorded: known.size, replaced, unknown };
  }

  /** The ids that are logged predictions, waiting for logs that may not have flushed them yet. */
  private async findPredictions(ids: string[]): Promise<Set<string>> {
    const { store, log } = this.deps;
    const known = await store.knownPredictionIds(ids);
    const missing = () => ids.filter((id) => !known.has(id));
    const lookAgain = async () => {
      for (const id of await store.knownPredictionIds(missing())) known.add(id);
    };
    if (missing().length === 0) return known;
    await log.flush();
    await lookAgain();
    if (missing().length > 0 && log.hasLiveSiblings()) {
      // Looked for a few times rather than once at the end: a spool-only log's records arrive
      // with the writer's next pass, usually well before the bound.
      const deadline = Date.now() + log.siblingDelayMs() + SIBLING_MARGIN_MS;
      while (missing().length > 0 && Date.now() < deadline) {
        await sleep(Math.min(SIBLING_POLL_MS, Math.max(0, deadline - Date.now())));
        await lookAgain();
      }
    }
    return known;
  }

  /** A logged prediction with its feedback. @throws PREDICTION_NOT_FOUND */
  async getPrediction(id: string): Promise<LoggedPrediction> {
    let found = await this.deps.store.getPrediction(id);
    if (!found) {
      await this.deps.log.flush();
      found = await this.deps.store.getPrediction(id);
    }
    if (!found) throw new CairnError('PREDICTION_NOT_FOUND', `prediction ${id} not found`, { id });
    return found;
  }

  /**
   * Logged predictions, newest first, filtered by model, version and time (`since` inclusive,
   * `until` exclusive). Predictions still in memory are not listed until flushed (at most a second).
   * @throws VALIDATION_FAILED naming every bad parameter
   */
  async listPredictions(q: PredictionListQuery): Promise<Page<LoggedPrediction>> {
    const v = new ValidationErrors();
    const range = checkRange(v, q);
    if (q.version !== undefined && (!Number.isSafeInteger(q.version) || q.version < 1)) v.add('version', 'must be a positive integer');
    if (q.model !== undefined && q.model === '') v.add('model', 'must not be empty');
    let limit = 0;
    let after: { at: string; id: string } | null = null;
    try {
      limit = pageSize(q.limit);
    } catch (err) {
      for (const e of (err as CairnError).details.errors as { path: string; reason: string }[]) v.add(e.path, e.reason);
    }
    try {
      const key = decodeCursor(q.cursor);
      if (key !== null) {
        const cut = key.indexOf(CURSOR_SEPARATOR);
        if (cut < 0) throw CairnError.validation([{ path: 'cursor', reason: 'not a cursor returned by this API' }]);
        after = { at: key.slice(0, cut), id: key.slice(cut + 1) };
      }
    } catch {
      v.add('cursor', 'not a cursor returned by this API');
    }
    v.throwIfAny();
    const rows = await this.deps.store.listPredictions({
      ...range,
      ...(q.model !== undefined ? { model: q.model } : {}),
      ...(q.version !== undefined ? { version: q.version } : {}),
      limit: limit + 1,
      after,
    });
    return toPage(rows, limit, (p) => `${p.at}${CURSOR_SEPARATOR}${p.id}`);
  }

  /**
   * Per version of a model: predictions in the window, how many have feedback, and metrics on
   * those (classifier: accuracy, ROC AUC, log loss; regressor: RMSE, MAE).
   * @throws VALIDATION_FAILED, MODEL_NOT_FOUND for a model that has no predictions and is not registered
   */
  async performance(model: string, q: { since?: string; until?: string } = {}): Promise<ModelPerformance> {
    const v = new ValidationErrors();
    const range = checkRange(v, q);
    v.throwIfAny();
    const counts = await this.deps.store.versionCounts(model, range);
    if (counts.length === 0) await this.deps.models.getModel(model);
    const pairs = counts.some((c) => c.withFeedback > 0) ? await this.deps.store.feedbackPairs(model, range) : [];
    return { model, since: range.since ?? null, until: range.until ?? null, versions: versionPerformance(counts, pairs) };
  }

  /**
   * Refused prediction requests per minute, model and reason; the last 24 hours unless `since`.
   * @throws VALIDATION_FAILED
   */
  async refusals(q: { model?: string; since?: string; until?: string }): Promise<{ items: RefusalCount[] }> {
    const v = new ValidationErrors();
    const range = checkRange(v, q);
    v.throwIfAny();
    const since = range.since ?? new Date(this.clock.now().getTime() - 24 * 3600_000).toISOString();
    return { items: await this.deps.store.refusals({ ...range, since, ...(q.model !== undefined ? { model: q.model } : {}) }) };
  }
}
