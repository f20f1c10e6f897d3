/**
 * The contract every RegistryStore backend meets. Run on SQLite and PostgreSQL by
 * test/registry/registry-store.test.ts: round trips, the in-transaction checks that make racing
 * writers fail cleanly (version numbers, stages, card revisions, aliases), the indexed lineage
 * lookups, and events appended in the same transaction as the change they describe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import type { CairnEvent } from '../../src/core/event-bus.js';
import type { CardFields, ModelVersion, RegisteredModel, Stage } from '../../src/registry/model.js';
import type { RegistryStore, StoredCardRevision } from '../../src/registry/store.js';
import { isUniqueViolation } from '../../src/storage/db.js';
import type { EventLog } from '../../src/storage/event-log.js';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
const DIGEST = `sha256:${'a'.repeat(64)}`;
const HASH = `sha256:${'b'.repeat(64)}`;

const FIELDS: CardFields = {
  description: 'predicts delays',
  intendedUse: ['ops dashboard'],
  trainingData: 'jan 2001',
  evaluationData: null,
  owners: [{ name: 'Ada', contact: null }],
  license: 'MIT',
  references: [],
  modelArchitecture: null,
  inputFormat: null,
  outputFormat: null,
  performanceMetrics: [{ type: 'auc', value: 0.7, slice: null, source: 'user' }],
  users: [],
  limitations: ['ünïcödé limits'],
  tradeoffs: [],
  ethicalConsiderations: [{ name: 'bias', mitigationStrategy: null }],
  outOfScopeUses: [],
  caveats: [],
};

function model(name: string): RegisteredModel {
  return { name, description: `about ${name}`, tags: { team: 'ml' }, owner: 'ada', latestVersion: 0, createdAt: T0, createdBy: 'ada', updatedAt: T0, updatedBy: 'ada' };
}

function version(name: string, n: number, over: { features?: string[]; dataset?: string | null; stage?: Stage } = {}): Omit<ModelVersion, 'aliases'> {
  const dataset = over.dataset === undefined ? 'jan@1' : over.dataset;
  return {
    model: name,
    version: n,
    stage: over.stage ?? 'None',
    stageUpdatedAt: at(n),
    source: { kind: 'upload', digest: DIGEST },
    modelDigest: DIGEST,
    artifacts: [{ path: 'model.onnx', digest: DIGEST, size: 10 }],
    signature: { inputs: [{ name: 'x', type: 'float64', shape: ['N', 1] }], outputs: [], cairn: null, producer: 'test', modelType: null },
    lineage: {
      runId: null,
      dataset: dataset ? { ref: dataset, contentHash: HASH } : null,
      featureSet: null,
      features: over.features ?? ['delay@1', 'hour@3'],
      trainer: 'gbdt',
      params: { lr: '0.1' },
      codeVersion: 'abc',
      parent: null,
    },
    metrics: { valid_auc: 0.7 },
    card: { revision: 1, status: 'pending' },
    createdAt: at(n),
    createdBy: 'ada',
  };
}

const card = (name: string, n: number, revision = 1): StoredCardRevision => ({ model: name, version: n, revision, fields: FIELDS, createdAt: at(n), createdBy: 'ada' });
const event = (type: string, payload: Record<string, unknown> = {}): CairnEvent => ({ type, at: T0, actor: 'ada', payload });

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

export interface RegistryStoreFixture {
  store: RegistryStore;
  events: EventLog;
  cleanup(): Promise<void>;
}

export function describeRegistryStoreContract(name: string, open: () => Promise<RegistryStoreFixture>): void {
  describe(`RegistryStore contract on ${name}`, () => {
    let f: RegistryStoreFixture;
    let store: RegistryStore;
    const allEvents = async () => f.events.list({ types: [], after: 0, limit: 10_000 });
    const add = async (m: string, n: number, over?: Parameters<typeof version>[2]) => store.insertVersion({ version: version(m, n, over), card: card(m, n) }, [event('v', { m, n })]);

    beforeAll(async () => {
      f = await open();
      store = f.store;
    });
    afterAll(async () => f?.cleanup());

    it('stores models with their events, refuses a taken name, updates and pages', async () => {
      const stored = await store.insertModel(model('delay'), [event('model.created', { model: 'delay' })]);
      expect(stored).toEqual([{ ...event('model.created', { model: 'delay' }), seq: expect.any(Number) }]);
      expect(await store.getModel('delay')).toEqual(model('delay'));
      const dup = await store.insertModel(model('delay'), [event('model.created')]).then(() => null, (e: unknown) => e);
      expect(isUniqueViolation(dup)).toBe(true);
      expect((await allEvents()).map((e) => e.type)).toEqual(['model.created']); // the failed insert stored no event
      await store.insertModel(model('churn'), []);
      await store.updateModel({ ...model('churn'), description: 'new', tags: {}, owner: 'bob', updatedAt: at(5), updatedBy: 'bob' }, []);
      expect(await store.getModel('churn')).toMatchObject({ description: 'new', tags: {}, owner: 'bob', updatedAt: at(5), createdAt: T0 });
      expect(await rejection(store.updateModel(model('nope'), []))).toMatchObject({ code: 'MODEL_NOT_FOUND' });
      expect((await store.listModels({ limit: 1, after: null })).map((m) => m.name)).toEqual(['churn', 'delay']);
      expect((await store.listModels({ limit: 5, after: 'churn' })).map((m) => m.name)).toEqual(['delay']);
      expect(await store.getModel('nope')).toBeNull();
    });

    it('writes versions only as latest + 1, with everything round-tripping', async () => {
      await add('delay', 1);
      const v = await store.getVersion('delay', 1);
      expect(v).toEqual({ ...version('delay', 1), aliases: [] });
      expect((await store.getModel('delay'))!.latestVersion).toBe(1);
      expect(await store.getCardRevision('delay', 1, null)).toEqual(card('delay', 1));
      const before = (await allEvents()).length;
      expect(await rejection(add('delay', 3))).toMatchObject({ code: 'CONFLICT', details: { latestVersion: 1 } });
      expect(await rejection(add('delay', 1))).toMatchObject({ code: 'CONFLICT' });
      expect(await rejection(add('nope', 1))).toMatchObject({ code: 'MODEL_NOT_FOUND' });
      expect(await store.getVersion('delay', 3)).toBeNull();
      expect((await allEvents()).length).toBe(before);
      await add('delay', 2, { features: ['delay@1'], dataset: 'feb@1' });
      await add('delay', 3, { features: [], dataset: null });
      await add('churn', 1, { features: ['hour@3'] });
    });

    it('lets exactly one of two racing registrations take a version number', async () => {
      const results = await Promise.allSettled([add('delay', 4), add('delay', 4)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(failed.reason).toMatchObject({ code: 'CONFLICT' });
      expect((await store.getModel('delay'))!.latestVersion).toBe(4);
    });

    it('lists versions newest first, by stage, below a cursor', async () => {
      expect((await store.listVersions('delay', { stage: null, limit: 2, before: null })).map((v) => v.version)).toEqual([4, 3, 2]);
      expect((await store.listVersions('delay', { stage: null, limit: 2, before: 3 })).map((v) => v.version)).toEqual([2, 1]);
      expect((await store.listVersions('delay', { stage: 'Production', limit: 10, before: null })).map((v) => v.version)).toEqual([]);
    });

    it('finds versions by feature version and dataset version', async () => {
      const ids = (vs: ModelVersion[]) => vs.map((v) => `${v.model}@${v.version}`);
      expect(ids(await store.versionsUsingFeature('hour', 3))).toEqual(['churn@1', 'delay@1', 'delay@4']);
      expect(ids(await store.versionsUsingFeature('delay', 1))).toEqual(['delay@1', 'delay@2', 'delay@4']);
      expect(await store.versionsUsingFeature('hour', 2)).toEqual([]);
      expect(ids(await store.versionsUsingDataset('jan', 1))).toEqual(['churn@1', 'delay@1', 'delay@4']);
      expect(ids(await store.versionsUsingDataset('feb', 1))).toEqual(['delay@2']);
    });

    it('keeps card revisions in order and resets the review state on each', async () => {
      await store.insertCardRevision({ ...card('delay', 1, 2), fields: { ...FIELDS, caveats: ['new'] } }, [event('model_card.revised')]);
      expect(await rejection(store.insertCardRevision(card('delay', 1, 2), []))).toMatchObject({ code: 'CONFLICT', details: { revision: 2 } });
      expect(await rejection(store.insertCardRevision(card('delay', 9, 2), []))).toMatchObject({ code: 'MODEL_VERSION_NOT_FOUND' });
      expect((await store.getCardRevision('delay', 1, null))!.fields.caveats).toEqual(['new']);
      expect((await store.getCardRevision('delay', 1, 1))!.fields.caveats).toEqual([]);
      expect(await store.getCardRevision('delay', 1, 3)).toBeNull();
      expect((await store.listCardRevisions('delay', 1)).map((r) => r.revision)).toEqual([1, 2]);
      expect((await store.getVersion('delay', 1))!.card).toEqual({ revision: 2, status: 'pending' });
    });

    it('records reviews of the current revision only, and sets the card status', async () => {
      const stale = await rejection(store.insertReview({ model: 'delay', version: 1, revision: 1, decision: 'approved', comment: '', at: T0, actor: 'april' }, []));
      expect(stale).toMatchObject({ code: 'CONFLICT', details: { revision: 2 } });
      const { review, events } = await store.insertReview({ model: 'delay', version: 1, revision: 2, decision: 'rejected', comment: 'more', at: at(1), actor: 'april' }, [event('model_card.rejected')]);
      expect(review).toEqual({ id: expect.any(Number), model: 'delay', version: 1, revision: 2, decision: 'rejected', comment: 'more', at: at(1), actor: 'april' });
      expect(events[0]!.type).toBe('model_card.rejected');
      await store.insertReview({ model: 'delay', version: 1, revision: 2, decision: 'approved', comment: '', at: at(2), actor: 'april' }, []);
      expect((await store.getVersion('delay', 1))!.card).toEqual({ revision: 2, status: 'approved' });
      expect((await store.listReviews('delay', 1, null)).map((r) => r.decision)).toEqual(['rejected', 'approved']);
      expect(await store.listReviews('delay', 1, 1)).toEqual([]);
    });

    it('moves stages only from the stage and card state the service saw', async () => {
      const move = (v: number, from: Stage, to: Stage, extra: { archive?: number[] | null; approvedRevision?: number | null; minute?: number } = {}) =>
        store.transition(
          { model: 'delay', version: v, from, to, comment: `to ${to}`, at: at(extra.minute ?? 10), actor: 'april', archive: extra.archive ?? null, approvedRevision: extra.approvedRevision ?? null },
          [event('model_version.transitioned', { v, to })],
        );
      expect(await rejection(move(1, 'Staging', 'Production'))).toMatchObject({ code: 'CONFLICT', details: { stage: 'None' } });
      expect(await rejection(move(1, 'None', 'Production', { approvedRevision: 1 }))).toMatchObject({ code: 'CONFLICT', details: { revision: 2, status: 'approved' } });
      expect(await rejection(move(2, 'None', 'Production', { approvedRevision: 1 }))).toMatchObject({ code: 'CONFLICT', details: { status: 'pending' } });
      expect(await rejection(move(9, 'None', 'Staging'))).toMatchObject({ code: 'MODEL_VERSION_NOT_FOUND' });
      const first = await move(1, 'None', 'Production', { approvedRevision: 2, archive: [], minute: 10 });
      expect(first.transitions).toEqual([
        { id: expect.any(Number), model: 'delay', version: 1, from: 'None', to: 'Production', comment: 'to Production', automatic: false, at: at(10), actor: 'april' },
      ]);
      expect(first.events.map((e) => e.type)).toEqual(['model_version.transitioned']);
      // Version 2 may join Production keeping version 1 (archive null); with archive [] it may not.
      await store.insertReview({ model: 'delay', version: 2, revision: 1, decision: 'approved', comment: '', at: T0, actor: 'april' }, []);
      expect(await rejection(move(2, 'None', 'Production', { approvedRevision: 1, archive: [] }))).toMatchObject({ code: 'CONFLICT', details: { production: [1] } });
      await move(2, 'None', 'Production', { approvedRevision: 1, archive: null, minute: 11 });
      expect((await store.versionsInStage('delay', 'Production')).map((v) => v.version)).toEqual([2, 1]);
      await store.insertReview({ model: 'delay', version: 3, revision: 1, decision: 'approved', comment: '', at: T0, actor: 'april' }, []);
      expect(await rejection(move(3, 'None', 'Production', { approvedRevision: 1, archive: [1] }))).toMatchObject({ code: 'CONFLICT' });
      const third = await move(3, 'None', 'Production', { approvedRevision: 1, archive: [1, 2], minute: 12 });
      expect(third.transitions.map((t) => [t.version, t.from, t.to, t.automatic])).toEqual([
        [3, 'None', 'Production', false],
        [1, 'Production', 'Archived', true],
        [2, 'Production', 'Archived', true],
      ]);
      expect(await store.getVersion('delay', 1)).toMatchObject({ stage: 'Archived', stageUpdatedAt: at(12), modelDigest: DIGEST, lineage: version('delay', 1).lineage });
      const history = await store.listTransitions('delay', { version: null, limit: 100, after: null });
      expect(history.map((t) => `${t.version}:${t.to}`)).toEqual(['1:Production', '2:Production', '3:Production', '1:Archived', '2:Archived']);
      expect((await store.listTransitions('delay', { version: 1, limit: 1, after: null })).map((t) => t.to)).toEqual(['Production', 'Archived']);
      expect((await store.listTransitions('delay', { version: null, limit: 100, after: history[2]!.id })).map((t) => t.version)).toEqual([1, 2]);
    });

    it("answers each model's newest Production version, a page of models at a time", async () => {
      await store.insertReview({ model: 'churn', version: 1, revision: 1, decision: 'approved', comment: '', at: T0, actor: 'april' }, []);
      await store.transition({ model: 'churn', version: 1, from: 'None', to: 'Production', comment: '', at: at(20), actor: 'april', archive: [], approvedRevision: 1 }, []);
      expect((await store.productionVersions({ limit: 10, after: null })).map((v) => `${v.model}@${v.version}`)).toEqual(['churn@1', 'delay@3']);
      expect((await store.productionVersions({ limit: 1, after: null })).map((v) => v.model)).toEqual(['churn', 'delay']);
      expect((await store.productionVersions({ limit: 1, after: 'churn' })).map((v) => v.model)).toEqual(['delay']);
    });

    it('points aliases at versions, one version per alias, checking what the service saw', async () => {
      const alias = (name: string, v: number) => ({ model: 'delay', alias: name, version: v, updatedAt: at(30), updatedBy: 'ed' });
      await store.setAlias(alias('champion', 1), null, [event('model_version.alias_set')]);
      expect(await rejection(store.setAlias(alias('champion', 2), null, []))).toMatchObject({ code: 'CONFLICT', details: { version: 1 } });
      await store.setAlias(alias('champion', 2), 1, []);
      await store.setAlias(alias('challenger', 2), null, []);
      expect(await store.getAlias('delay', 'champion')).toEqual(alias('champion', 2));
      expect((await store.getVersion('delay', 2))!.aliases).toEqual(['challenger', 'champion']);
      expect((await store.listAliases('delay')).map((a) => a.alias)).toEqual(['challenger', 'champion']);
      await store.deleteAlias('delay', 'challenger', [event('model_version.alias_deleted')]);
      expect(await rejection(store.deleteAlias('delay', 'challenger', [event('x')]))).toMatchObject({ code: 'ALIAS_NOT_FOUND' });
      expect(await store.getAlias('delay', 'challenger')).toBeNull();
      expect((await allEvents()).some((e) => e.type === 'x')).toBe(false);
    });

    it('keeps the event log in order, filtered by type and read from a sequence number', async () => {
      const all = await allEvents();
      expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((a, b) => a - b));
      const moves = await f.events.list({ types: ['model_version.transitioned'], after: 0, limit: 2 });
      expect(moves).toHaveLength(3);
      expect(moves.every((e) => e.type === 'model_version.transitioned')).toBe(true);
      const rest = await f.events.list({ types: ['model_version.transitioned', 'model_card.revised'], after: moves[1]!.seq, limit: 100 });
      expect(rest[0]!.seq).toBe(moves[2]!.seq);
      expect(await f.events.append([event('extra', { n: 1 })])).toEqual([{ ...event('extra', { n: 1 }), seq: expect.any(Number) }]);
    });
  });
}
