import { sql, type Kysely } from 'kysely';
import { chunks, type Dialect } from '../storage/db.js';
import type { PredictionTable, Schema } from '../storage/schema.js';
import type { Actual, Feedback, LoggedPrediction, RefusalCount } from './log-model.js';
import type { FeedbackPair, PredictionLogStore, PredictionQuery, TimeRange, VersionCount } from './log-store.js';
import { decodeLabel, type PredictionRow } from './prediction-rows.js';

/**
 * Rows per INSERT statement: at 12 parameters a row this stays far under SQLite's 32,766 and
 * PostgreSQL's 65,535 bound parameters; the log's default batch is one statement.
 */
const INSERT_ROWS = 500;
/** Ids per `IN (…)` list. */
const ID_CHUNK = 500;


/** A prediction with its feedback, as the left join reads it. */
type JoinedRow = PredictionTable & { actual: string | null; feedback_at: string | null; feedback_by: string | null };

function toPrediction(r: JoinedRow): LoggedPrediction {
  return {
    id: r.id,
    at: r.at,
    model: r.model,
    version: Number(r.version),
    stage: r.stage,
    variant: r.variant,
    features: JSON.parse(r.features) as LoggedPrediction['features'],
    entities: r.entities === null ? null : (JSON.parse(r.entities) as Record<string, string>),
    output: { value: Number(r.value), label: decodeLabel(r.label), probability: r.probability === null ? null : Number(r.probability) },
    latencyMs: Number(r.latency_ms),
    feedback: r.actual === null ? null : { actual: JSON.parse(r.actual) as Actual, at: r.feedback_at!, by: r.feedback_by! },
  };
}

/** The prediction log, feedback and refusal counts on Kysely: one implementation for SQLite and PostgreSQL. */
export class SqlPredictionLogStore implements PredictionLogStore {
  constructor(
    private readonly db: Kysely<Schema>,
    readonly dialect: Dialect,
  ) {}

  async writeBatch(rows: PredictionRow[], refusals: RefusalCount[]): Promise<void> {
    if (rows.length === 0 && refusals.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(rows, INSERT_ROWS)) {
        await trx
          .insertInto('predictions')
          .values(part)
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
      }
      if (refusals.length > 0) {
        await trx
          .insertInto('prediction_refusals')
          .values(refusals.map((r) => ({ minute: r.minute, model: r.model, reason: r.reason, requests: r.count })))
          .onConflict((oc) =>
            oc.columns(['minute', 'model', 'reason']).doUpdateSet({ requests: sql<number>`prediction_refusals.requests + excluded.requests` }),
          )
          .execute();
      }
    });
  }

  async ping(): Promise<void> {
    await this.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
  }

  private joined() {
    return this.db
      .selectFrom('predictions as p')
      .leftJoin('prediction_feedback as f', 'f.prediction_id', 'p.id')
      .select([
        'p.id',
        'p.at',
        'p.model',
        'p.version',
        'p.stage',
        'p.variant',
        'p.features',
        'p.entities',
        'p.value',
        'p.label',
        'p.probability',
        'p.latency_ms',
        'f.actual',
        'f.at as feedback_at',
        'f.created_by as feedback_by',
      ]);
  }

  async getPrediction(id: string): Promise<LoggedPrediction | null> {
    const r = await this.joined().where('p.id', '=', id).executeTakeFirst();
    return r ? toPrediction(r as JoinedRow) : null;
  }

  async listPredictions(q: PredictionQuery): Promise<LoggedPrediction[]> {
    let query = this.joined().orderBy('p.at', 'desc').orderBy('p.id', 'desc').limit(q.limit);
    if (q.model !== undefined) query = query.where('p.model', '=', q.model);
    if (q.version !== undefined) query = query.where('p.version', '=', q.version);
    if (q.since !== undefined) query = query.where('p.at', '>=', q.since);
    if (q.until !== undefined) query = query.where('p.at', '<', q.until);
    if (q.after !== null) {
      const { at, id } = q.after;
      query = query.where((eb) => eb.or([eb('p.at', '<', at), eb.and([eb('p.at', '=', at), eb('p.id', '<', id)])]));
    }
    return (await query.execute()).map((r) => toPrediction(r as JoinedRow));
  }

  async knownPredictionIds(ids: string[]): Promise<Set<string>> {
    const known = new Set<string>();
    for (const part of chunks([...new Set(ids)], ID_CHUNK)) {
      const rows = await this.db.selectFrom('predictions').select('id').where('id', 'in', part).execute();
      for (const r of rows) known.add(r.id);
    }
    return known;
  }

  async putFeedback(items: Feedback[]): Promise<string[]> {
    if (items.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const replaced: string[] = [];
      for (const part of chunks(items, ID_CHUNK)) {
        const existing = await trx
          .selectFrom('prediction_feedback')
          .select('prediction_id')
          .where(
            'prediction_id',
            'in',
            part.map((i) => i.predictionId),
          )
          .execute();
        replaced.push(...existing.map((e) => e.prediction_id));
        await trx
          .insertInto('prediction_feedback')
          .values(part.map((i) => ({ prediction_id: i.predictionId, actual: JSON.stringify(i.actual), at: i.at, created_by: i.by })))
          .onConflict((oc) =>
            oc.column('prediction_id').doUpdateSet((eb) => ({
              actual: eb.ref('excluded.actual'),
              at: eb.ref('excluded.at'),
              created_by: eb.ref('excluded.created_by'),
            })),
          )
          .execute();
      }
      return replaced;
    });
  }

  async versionCounts(model: string, range: TimeRange): Promise<VersionCount[]> {
    let q = this.db
      .selectFrom('predictions as p')
      .leftJoin('prediction_feedback as f', 'f.prediction_id', 'p.id')
      .select((eb) => ['p.version', eb.fn.countAll<number>().as('predictions'), eb.fn.count<number>('f.prediction_id').as('with_feedback')])
      .where('p.model', '=', model)
      .groupBy('p.version')
      .orderBy('p.version');
    if (range.since !== undefined) q = q.where('p.at', '>=', range.since);
    if (range.until !== undefined) q = q.where('p.at', '<', range.until);
    return (await q.execute()).map((r) => ({ version: Number(r.version), predictions: Number(r.predictions), withFeedback: Number(r.with_feedback) }));
  }

  async feedbackPairs(model: string, range: TimeRange): Promise<FeedbackPair[]> {
    let q = this.db
      .selectFrom('predictions as p')
      .innerJoin('prediction_feedback as f', 'f.prediction_id', 'p.id')
      .select(['p.version', 'p.value', 'p.label', 'p.probability', 'f.actual'])
      .where('p.model', '=', model);
    if (range.since !== undefined) q = q.where('p.at', '>=', range.since);
    if (range.until !== undefined) q = q.where('p.at', '<', range.until);
    return (await q.execute()).map((r) => ({
      version: Number(r.version),
      value: Number(r.value),
      label: decodeLabel(r.label),
      probability: r.probability === null ? null : Number(r.probability),
      actual: JSON.parse(r.actual) as Actual,
    }));
  }

  async refusals(q: TimeRange & { model?: string }): Promise<RefusalCount[]> {
    let query = this.db.selectFrom('prediction_refusals').selectAll().orderBy('minute').orderBy('model').orderBy('reason');
    if (q.model !== undefined) query = query.where('model', '=', q.model);
    if (q.since !== undefined) query = query.where('minute', '>=', q.since);
    if (q.until !== undefined) query = query.where('minute', '<', q.until);
    return (await query.execute()).map((r) => ({ minute: r.minute, model: r.model, reason: r.reason, count: Number(r.requests) }));
  }
}
