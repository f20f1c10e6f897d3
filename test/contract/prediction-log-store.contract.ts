/**
 * The contract every PredictionLogStore backend meets. Run on SQLite and PostgreSQL by
 * test/serving/prediction-log-store.test.ts: batches written once however often they are
 * replayed, round trips of every field, listing newest first with filters and keyset pages,
 * feedback that replaces, the per-version join, and refusal counts that add up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PredictionRecord } from '../../src/serving/log-model.js';
import type { PredictionLogStore } from '../../src/serving/log-store.js';
import { encodePrediction, type PredictionRow } from '../../src/serving/prediction-rows.js';

const T0 = Date.parse('2026-02-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

export function predictionRecord(id: string, over: Partial<PredictionRecord> = {}): PredictionRecord {
  return {
    id,
    at: at(0),
    model: 'delay',
    version: 1,
    stage: 'Production',
    variant: null,
    features: { distance: 812, origin: 'ATL', late: true, gate: null },
    entities: { origin: 'ATL' },
    output: { value: 0.25, label: 0, probability: 0.25 },
    latencyMs: 1.5,
    ...over,
  };
}

const row = (id: string, over: Partial<PredictionRecord> = {}): PredictionRow => encodePrediction(predictionRecord(id, over)).row;

export function describePredictionLogStoreContract(name: string, open: () => Promise<{ store: PredictionLogStore; cleanup(): Promise<void> }>): void {
  describe(`PredictionLogStore contract on ${name}`, () => {
    let store: PredictionLogStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => ({ store, cleanup } = await open()));
    afterAll(async () => cleanup?.());

    it('round-trips every field of a prediction', async () => {
      const r = predictionRecord('rt-1', { stage: null, variant: 'b', entities: null, output: { value: 3.5, label: 'late', probability: null }, latencyMs: 0.25 });
      await store.writeBatch([encodePrediction(r).row], []);
      expect(await store.getPrediction('rt-1')).toEqual({
        id: 'rt-1',
        at: r.at,
        model: 'delay',
        version: 1,
        stage: null,
        variant: 'b',
        features: { distance: 812, origin: 'ATL', late: true, gate: null },
        entities: null,
        output: { value: 3.5, label: 'late', probability: null },
        latencyMs: 0.25,
        feedback: null,
      });
      expect(await store.getPrediction('nope')).toBeNull();
    });

    it('writes a batch once however often it is written (replay is idempotent)', async () => {
      const batch = Array.from({ length: 1200 }, (_, i) => row(`dup-${i}`, { model: 'dup' }));
      await store.writeBatch(batch, []);
      await store.writeBatch(batch.slice(600), []);
      await store.writeBatch(batch, []);
      const counts = await store.versionCounts('dup', {});
      expect(counts).toEqual([{ version: 1, predictions: 1200, withFeedback: 0 }]);
    });

    it('writes a batch whole or not at all', async () => {
      const good = row('atomic-1', { model: 'atomic' });
      // Same id twice is skipped, so the failure comes from a value the column refuses.
      const bad = { ...row('atomic-2', { model: 'atomic' }), at: null as unknown as string };
      await expect(store.writeBatch([good, bad], [])).rejects.toThrow();
      expect(await store.getPrediction('atomic-1')).toBeNull();
    });

    it('lists newest first, filtered by model, version and time, in keyset pages', async () => {
      const rows = [
        row('l-a', { model: 'list', version: 1, at: at(10) }),
        row('l-b', { model: 'list', version: 2, at: at(20) }),
        row('l-c', { model: 'list', version: 2, at: at(20) }),
        row('l-d', { model: 'list', version: 1, at: at(30) }),
        row('l-x', { model: 'other', version: 1, at: at(25) }),
      ];
      await store.writeBatch(rows, []);
      const ids = async (q: Parameters<PredictionLogStore['listPredictions']>[0]) => (await store.listPredictions(q)).map((p) => p.id);
      expect(await ids({ model: 'list', limit: 10, after: null })).toEqual(['l-d', 'l-c', 'l-b', 'l-a']);
      expect(await ids({ model: 'list', version: 2, limit: 10, after: null })).toEqual(['l-c', 'l-b']);
      expect(await ids({ model: 'list', since: at(20), until: at(30), limit: 10, after: null })).toEqual(['l-c', 'l-b']);
      // A page boundary between two predictions of the same time loses neither.
      expect(await ids({ model: 'list', limit: 2, after: null })).toEqual(['l-d', 'l-c']);
      expect(await ids({ model: 'list', limit: 2, after: { at: at(20), id: 'l-c' } })).toEqual(['l-b', 'l-a']);
      expect(await ids({ since: at(25), until: at(26), limit: 10, after: null })).toEqual(['l-x']);
    });

    it('tells which ids are logged predictions', async () => {
      await store.writeBatch([row('k-1'), row('k-2')], []);
      const many = Array.from({ length: 1100 }, (_, i) => `k-missing-${i}`);
      expect([...(await store.knownPredictionIds(['k-1', 'k-2', 'k-3', ...many]))].sort()).toEqual(['k-1', 'k-2']);
    });

    it('stores feedback, replaces it on a second one and reports which it replaced', async () => {
      await store.writeBatch([row('f-1'), row('f-2')], []);
      expect(await store.putFeedback([{ predictionId: 'f-1', actual: 1, at: at(100), by: 'ada' }])).toEqual([]);
      const replaced = await store.putFeedback([
        { predictionId: 'f-1', actual: false, at: at(200), by: 'rey' },
        { predictionId: 'f-2', actual: 'late', at: at(200), by: 'rey' },
      ]);
      expect(replaced).toEqual(['f-1']);
      expect((await store.getPrediction('f-1'))!.feedback).toEqual({ actual: false, at: at(200), by: 'rey' });
      expect((await store.getPrediction('f-2'))!.feedback).toEqual({ actual: 'late', at: at(200), by: 'rey' });
      const listed = await store.listPredictions({ limit: 10, after: null, since: at(0), until: at(1) });
      expect(listed.find((p) => p.id === 'f-1')!.feedback!.actual).toBe(false);
    });

    it('joins predictions with feedback per version, within a time window', async () => {
      await store.writeBatch(
        [
          row('p-1', { model: 'perf', version: 1, at: at(1), output: { value: 0.9, label: 1, probability: 0.9 } }),
          row('p-2', { model: 'perf', version: 1, at: at(2), output: { value: 0.2, label: 0, probability: 0.2 } }),
          row('p-3', { model: 'perf', version: 2, at: at(3), output: { value: 0.7, label: 1, probability: 0.7 } }),
          row('p-4', { model: 'perf', version: 2, at: at(50) }),
        ],
        [],
      );
      await store.putFeedback([
        { predictionId: 'p-1', actual: 1, at: at(60), by: 'ada' },
        { predictionId: 'p-3', actual: true, at: at(60), by: 'ada' },
      ]);
      expect(await store.versionCounts('perf', {})).toEqual([
        { version: 1, predictions: 2, withFeedback: 1 },
        { version: 2, predictions: 2, withFeedback: 1 },
      ]);
      expect(await store.versionCounts('perf', { until: at(10) })).toEqual([
        { version: 1, predictions: 2, withFeedback: 1 },
        { version: 2, predictions: 1, withFeedback: 1 },
      ]);
      const pairs = (await store.feedbackPairs('perf', {})).sort((a, b) => a.version - b.version);
      expect(pairs).toEqual([
        { version: 1, value: 0.9, label: 1, probability: 0.9, actual: 1 },
        { version: 2, value: 0.7, label: 1, probability: 0.7, actual: true },
      ]);
      expect(await store.feedbackPairs('perf', { since: at(10) })).toEqual([]);
      expect(await store.versionCounts('nothing-here', {})).toEqual([]);
    });

    it('adds refusal counts of the same minute, model and reason, in the same transaction as predictions', async () => {
      const minute = '2026-02-01T10:00:00.000Z';
      await store.writeBatch([], [{ minute, model: 'ref', reason: 'validation', count: 2 }]);
      await store.writeBatch([row('r-1', { model: 'ref' })], [
        { minute, model: 'ref', reason: 'validation', count: 3 },
        { minute, model: 'ref', reason: 'unknown_model', count: 1 },
        { minute: '2026-02-01T10:01:00.000Z', model: 'ref', reason: 'validation', count: 1 },
        { minute, model: 'other', reason: 'validation', count: 7 },
      ]);
      expect(await store.refusals({ model: 'ref' })).toEqual([
        { minute, model: 'ref', reason: 'unknown_model', count: 1 },
        { minute, model: 'ref', reason: 'validation', count: 5 },
        { minute: '2026-02-01T10:01:00.000Z', model: 'ref', reason: 'validation', count: 1 },
      ]);
      expect(await store.refusals({ since: '2026-02-01T10:01:00.000Z' })).toEqual([{ minute: '2026-02-01T10:01:00.000Z', model: 'ref', reason: 'validation', count: 1 }]);
      expect((await store.refusals({ until: '2026-02-01T10:01:00.000Z' })).map((r) => r.model)).toEqual(['other', 'ref', 'ref']);
    });

    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
