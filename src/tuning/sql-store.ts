import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../storage/db.js';
import { isUniqueViolation } from '../storage/db.js';
import type { Schema, StudyTable, TrialTable } from '../storage/schema.js';
import type { Study, StudySpec, StudyStatus, Trial, TrialState } from './model.js';
import type { ClaimRequest, ClaimResult, TuningStore } from './store.js';

const json = (v: unknown): string => JSON.stringify(v);
const parse = <T>(s: string): T => JSON.parse(s) as T;

function toStudy(r: StudyTable): Study {
  const spec = parse<Omit<StudySpec, 'name'>>(r.spec);
  return {
    name: r.name,
    ...spec,
    status: r.status as StudyStatus,
    stopReason: r.stop_reason,
    runId: r.run_id,
    createdAt: r.created_at,
    createdBy: r.created_by,
    endedAt: r.ended_at,
    resumedAt: r.resumed_at,
    elapsedBeforeResume: Number(r.elapsed_before_resume),
  };
}

function toTrial(r: TrialTable): Trial {
  return {
    id: r.id,
    study: r.study,
    number: Number(r.number),
    params: parse(r.params),
    state: r.state as TrialState,
    value: r.value === null ? null : Number(r.value),
    intermediate: parse(r.intermediate),
    runId: r.run_id,
    worker: r.worker,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    endedAt: r.ended_at,
    error: r.error,
    retriedBy: r.retried_by,
  };
}

function specOf(s: Study): Omit<StudySpec, 'name'> {
  const { name: _n, status: _s, stopReason: _r, runId: _id, createdAt: _c, createdBy: _b, endedAt: _e, resumedAt: _ra, elapsedBeforeResume: _eb, ...spec } = s;
  return spec;
}

/** Studies and trials on Kysely: one implementation for SQLite and PostgreSQL. */
/** Ends a claim's transaction with a rollback (the study's next number stays) and an answer. */
class Refused extends Error {
  constructor(readonly result: ClaimResult) {
    super(result.kind);
  }
}

export class SqlTuningStore implements TuningStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: Dialect,
  ) {}

  async insertStudy(s: Study): Promise<void> {
    await this.db
      .insertInto('studies')
      .values({
        name: s.name,
        spec: json(specOf(s)),
        status: s.status,
        stop_reason: s.stopReason,
        run_id: s.runId,
        next_number: 0,
        created_at: s.createdAt,
        created_by: s.createdBy,
        ended_at: s.endedAt,
        resumed_at: s.resumedAt,
        elapsed_before_resume: s.elapsedBeforeResume,
      })
      .execute();
  }

  async getStudy(name: string): Promise<Study | null> {
    const r = await this.db.selectFrom('studies').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toStudy(r) : null;
  }

  async listStudies(o: { limit: number; after: string | null }): Promise<Study[]> {
    let q = this.db.selectFrom('studies').selectAll().orderBy('name').limit(o.limit + 1);
    if (o.after !== null) q = q.where('name', '>', o.after);
    return (await q.execute()).map(toStudy);
  }

  async endStudy(name: string, status: Exclude<StudyStatus, 'running'>, reason: string, endedAt: string): Promise<boolean> {
    const r = await this.db
      .updateTable('studies')
      .set({ status, stop_reason: reason, ended_at: endedAt })
      .where('name', '=', name)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async reopenStudy(name: string, patch: { budget: Study['budget']; resumedAt: string }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const r = await trx.selectFrom('studies').select(['spec', 'created_at', 'resumed_at', 'ended_at', 'elapsed_before_resume']).where('name', '=', name).executeTakeFirstOrThrow();
      const spec = { ...parse<Omit<StudySpec, 'name'>>(r.spec), budget: patch.budget };
      // The time since the last (re)start, up to its end, or now when it is still running.
      const segment = Math.max(0, Date.parse(r.ended_at ?? patch.resumedAt) - Date.parse(r.resumed_at ?? r.created_at)) / 1000;
      await trx
        .updateTable('studies')
        .set({ status: 'running', stop_reason: null, ended_at: null, spec: json(spec), resumed_at: patch.resumedAt, elapsed_before_resume: Number(r.elapsed_before_resume) + segment })
        .where('name', '=', name)
        .execute();
    });
  }

  /** Locks the study row (the first statement writes, so SQLite takes its write lock now). */
  private async lockStudy(trx: Kysely<Schema>, name: string): Promise<{ number: number; status: string } | null> {
    const row = await trx
      .updateTable('studies')
      .set({ next_number: sql<number>`next_number + 1` })
      .where('name', '=', name)
      .returning(['next_number', 'status'])
      .executeTakeFirst();
    return row ? { number: Number(row.next_number) - 1, status: row.status } : null;
  }

  async claimTrial(req: ClaimRequest): Promise<ClaimResult> {
    // A refused claim rolls back, so it takes no trial number.
    try {
      return await this.db.transaction().execute(async (trx): Promise<ClaimResult> => {
        const lock = await this.lockStudy(trx, req.study);
        if (!lock || lock.status !== 'running') throw new Refused({ kind: 'stopped' });
        if (req.maxTrials !== null) {
          const { n } = await trx
            .selectFrom('trials')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('study', '=', req.study)
            .where('retried_by', 'is', null)
            .executeTakeFirstOrThrow();
          if (Number(n) >= req.maxTrials) throw new Refused({ kind: 'budget' });
        }
        const row: TrialTable = {
          id: req.trialId,
          study: req.study,
          number: lock.number,
          params: json(req.params),
          claim_key: req.claimKey,
          state: 'running',
          value: null,
          intermediate: '{}',
          run_id: null,
          worker: req.worker,
          started_at: req.now,
          heartbeat_at: req.now,
          ended_at: null,
          error: null,
          retried_by: null,
        };
        await trx.insertInto('trials').values(row).execute();
        return { kind: 'claimed', trial: toTrial(row) };
      });
    } catch (err) {
      if (err instanceof Refused) return err.result;
      if (isUniqueViolation(err)) return { kind: 'collision' };
      throw err;
    }
  }

  async retryStaleTrial(study: string, staleBefore: string, retryId: string, worker: string, now: string): Promise<{ failed: Trial; retry: Trial } | null> {
    // A cheap look first, so the common case takes no lock.
    const any = await this.db
      .selectFrom('trials')
      .select('id')
      .where('study', '=', study)
      .where('state', '=', 'running')
      .where('heartbeat_at', '<', staleBefore)
      .executeTakeFirst();
    if (!any) return null;
    return this.db
      .transaction()
      .execute(async (trx) => {
      const lock = await this.lockStudy(trx, study);
      if (!lock || lock.status !== 'running') throw new Refused({ kind: 'stopped' });
      const stale = await trx
        .selectFrom('trials')
        .selectAll()
        .where('study', '=', study)
        .where('state', '=', 'running')
        .where('heartbeat_at', '<', staleBefore)
        .orderBy('number')
        .executeTakeFirst();
      if (!stale) throw new Refused({ kind: 'stopped' });
      const error = `worker ${stale.worker} stopped sending heartbeats (last ${stale.heartbeat_at}); retried as trial ${lock.number}`;
      await trx
        .updateTable('trials')
        .set({ state: 'failed', claim_key: null, retried_by: retryId, ended_at: now, error })
        .where('id', '=', stale.id)
        .execute();
      const row: TrialTable = {
        id: retryId,
        study,
        number: lock.number,
        params: stale.params,
        claim_key: stale.claim_key,
        state: 'running',
        value: null,
        intermediate: '{}',
        run_id: null,
        worker,
        started_at: now,
        heartbeat_at: now,
        ended_at: null,
        error: null,
        retried_by: null,
      };
      await trx.insertInto('trials').values(row).execute();
      return { failed: toTrial({ ...stale, state: 'failed', claim_key: null, retried_by: retryId, ended_at: now, error }), retry: toTrial(row) };
      })
      .catch((err: unknown) => {
        // Nothing to retry after all (another worker took it): roll back, keeping the next number.
        if (err instanceof Refused) return null;
        throw err;
      });
  }

  async getTrial(id: string): Promise<Trial | null> {
    const r = await this.db.selectFrom('trials').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toTrial(r) : null;
  }

  async listTrials(study: string): Promise<Trial[]> {
    return (await this.db.selectFrom('trials').selectAll().where('study', '=', study).orderBy('number').execute()).map(toTrial);
  }

  async updateTrial(id: string, patch: { runId?: string; intermediate?: Record<string, number>; heartbeatAt: string }): Promise<boolean> {
    const r = await this.db
      .updateTable('trials')
      .set({
        heartbeat_at: patch.heartbeatAt,
        ...(patch.runId !== undefined ? { run_id: patch.runId } : {}),
        ...(patch.intermediate !== undefined ? { intermediate: json(patch.intermediate) } : {}),
      })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async finishTrial(id: string, end: { state: Exclude<TrialState, 'running'>; value: number | null; error: string | null; endedAt: string }): Promise<boolean> {
    const r = await this.db
      .updateTable('trials')
      .set({ state: end.state, value: end.value, error: end.error, ended_at: end.endedAt })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  get dialectName(): Dialect {
    return this.dialect;
  }
}
