/**
 * The contract every OnlineStore backend must meet. Run it once per backend:
 *
 *   describeOnlineStoreContract('sqlite', () => openSomeStore(), () => removeItsFiles());
 *
 * One store serves the whole suite; each case writes to entities of its own, so cases never see
 * each other's data (and entity isolation is exercised all along).
 *
 * Tie rule under test: an equal event time overwrites (last write wins), an earlier one is ignored.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FeatureValue } from '../../src/features/model.js';
import type { EntityKey, OnlineStore, OnlineValue } from '../../src/features/online-store.js';

const T1 = '2024-01-01T00:00:00.000Z';
const T2 = '2024-01-02T00:00:00.000Z';
const T3 = '2024-01-03T00:00:00.000Z';

const at = (value: FeatureValue, eventTime = T1): OnlineValue => ({ value, eventTime });

/**
 * Declares the contract suite for one backend. `factory` opens a fresh, empty store (its failure
 * fails every case — a missing backend must not pass by skipping); `cleanup` runs after the store
 * is closed, to drop whatever the backend left behind (temp files, Redis keys).
 */
export function describeOnlineStoreContract(
  name: string,
  factory: () => Promise<OnlineStore>,
  cleanup?: () => Promise<void>,
): void {
  describe(`online store contract: ${name}`, () => {
    let opening: Promise<OnlineStore>;
    let store: OnlineStore;
    let entities = 0;
    /** An entity name no other case uses. */
    const entity = (label: string) => `${label}_${++entities}`;

    beforeAll(() => {
      opening = factory();
      opening.catch(() => {}); // reported by every case below, not as an unhandled rejection
    });
    // Awaited per case so that an unreachable backend fails each case by name instead of skipping.
    beforeEach(async () => {
      store = await opening;
    });
    afterAll(async () => {
      await opening.then((s) => s.close()).catch(() => {});
      await cleanup?.();
    });

    it('answers a ping and reports its kind', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
      expect(['sqlite', 'redis']).toContain(store.kind);
    });

    it('round-trips every value type exactly', async () => {
      const e = entity('types');
      const values: Record<string, FeatureValue> = {
        'int@1': 42,
        'zero@1': 0,
        'negative@1': -17,
        'float@1': 0.1 + 0.2,
        'tiny@1': 5e-324,
        'max_safe@1': Number.MAX_SAFE_INTEGER,
        'huge@1': 1.7976931348623157e308,
        'true@1': true,
        'false@1': false,
        'null@1': null,
        'empty@1': '',
        'unicode@1': 'Zürich ✈ 東京 — 🛫🛬',
        'escapes@1': 'quote " backslash \\ newline \n tab \t nul \u0000',
        'json_like@1': '{"v":1,"t":"x"}',
        'numeric_text@1': '1',
        'bool_text@1': 'true',
        'null_text@1': 'null',
        'timestamp@1': '2001-01-01T08:00:00.000Z',
      };
      const written = await store.write(e, [
        { key: ['k'], values: Object.fromEntries(Object.entries(values).map(([ref, v]) => [ref, at(v)])) },
      ]);
      expect(written).toBe(Object.keys(values).length);

      const [record] = await store.read(e, [['k']], Object.keys(values));
      for (const [ref, value] of Object.entries(values)) {
        expect(record?.[ref], ref).toStrictEqual({ value, eventTime: T1 });
        expect(typeof record?.[ref]?.value, ref).toBe(typeof value);
      }
    });

    it('returns null for missing keys and missing refs', async () => {
      const e = entity('missing');
      await store.write(e, [{ key: ['present'], values: { 'a@1': at(1) } }]);
      const records = await store.read(e, [['present'], ['absent']], ['a@1', 'b@1']);
      expect(records).toStrictEqual([
        { 'a@1': { value: 1, eventTime: T1 }, 'b@1': null },
        { 'a@1': null, 'b@1': null },
      ]);
      expect(await store.read(entity('never_written'), [['present']], ['a@1'])).toStrictEqual([{ 'a@1': null }]);
    });

    it('returns one record per requested key in request order, duplicates included', async () => {
      const e = entity('order');
      await store.write(e, [1, 2, 3, 4, 5].map((i) => ({ key: [i], values: { 'x@1': at(i * 10) } })));
      const keys: EntityKey[] = [[5], [1], [99], [3], [1]];
      const records = await store.read(e, keys, ['x@1']);
      expect(records.map((r) => r['x@1']?.value ?? null)).toStrictEqual([50, 10, null, 30, 10]);
      // Records are independent objects even for the same key.
      expect(records[1]).not.toBe(records[4]);
    });

    it('keeps the requested ref order and includes every requested ref', async () => {
      const e = entity('refs');
      await store.write(e, [{ key: ['k'], values: { 'a@1': at('a'), 'b@1': at('b'), 'c@1': at('c') } }]);
      const [record] = await store.read(e, [['k']], ['c@1', 'a@1', 'zz@1']);
      expect(Object.keys(record ?? {})).toStrictEqual(['c@1', 'a@1', 'zz@1']);
      expect(record?.['c@1']?.value).toBe('c');
      expect(record?.['zz@1']).toBeNull();
    });

    it('keeps a newer stored value when an older one arrives', async () => {
      const e = entity('newer_wins');
      expect(await store.write(e, [{ key: ['k'], values: { 'f@1': at('second', T2) } }])).toBe(1);
      expect(await store.write(e, [{ key: ['k'], values: { 'f@1': at('first', T1) } }])).toBe(0);
      expect((await store.read(e, [['k']], ['f@1']))[0]).toStrictEqual({ 'f@1': { value: 'second', eventTime: T2 } });

      expect(await store.write(e, [{ key: ['k'], values: { 'f@1': at('third', T3) } }])).toBe(1);
      expect((await store.read(e, [['k']], ['f@1']))[0]?.['f@1']).toStrictEqual({ value: 'third', eventTime: T3 });
    });

    it('lets an equal event time overwrite (last write wins on ties)', async () => {
      const e = entity('ties');
      await store.write(e, [{ key: ['k'], values: { 'f@1': at('before', T2) } }]);
      expect(await store.write(e, [{ key: ['k'], values: { 'f@1': at('after', T2) } }])).toBe(1);
      expect((await store.read(e, [['k']], ['f@1']))[0]?.['f@1']).toStrictEqual({ value: 'after', eventTime: T2 });
    });

    it('applies newer-wins per ref, not per key', async () => {
      const e = entity('per_ref');
      await store.write(e, [{ key: ['k'], values: { 'a@1': at('a2', T2), 'b@1': at('b2', T2) } }]);
      const written = await store.write(e, [{ key: ['k'], values: { 'a@1': at('a1', T1), 'b@1': at('b3', T3) } }]);
      expect(written).toBe(1);
      expect((await store.read(e, [['k']], ['a@1', 'b@1']))[0]).toStrictEqual({
        'a@1': { value: 'a2', eventTime: T2 },
        'b@1': { value: 'b3', eventTime: T3 },
      });
    });

    it('applies newer-wins between rows of the same write call', async () => {
      const e = entity('same_call');
      const written = await store.write(e, [
        { key: ['k'], values: { 'f@1': at('newer', T2) } },
        { key: ['k'], values: { 'f@1': at('older', T1) } },
      ]);
      expect(written).toBe(1);
      expect((await store.read(e, [['k']], ['f@1']))[0]?.['f@1']?.value).toBe('newer');
    });

    it('compares event times as instants and returns them normalized to UTC milliseconds', async () => {
      const e = entity('times');
      // Text order would put '…00.500Z' before '…00Z' ('.' < 'Z'); as instants it is later.
      await store.write(e, [{ key: ['k'], values: { 'f@1': at('plain', '2024-01-01T00:00:00Z') } }]);
      expect(await store.write(e, [{ key: ['k'], values: { 'f@1': at('half', '2024-01-01T00:00:00.5Z') } }])).toBe(1);
      // 01:00+02:00 is 23:00 the day before: older, ignored.
      expect(await store.write(e, [{ key: ['k'], values: { 'f@1': at('offset', '2024-01-01T01:00:00+02:00') } }])).toBe(0);
      expect((await store.read(e, [['k']], ['f@1']))[0]?.['f@1']).toStrictEqual({
        value: 'half',
        eventTime: '2024-01-01T00:00:00.500Z',
      });

      await store.write(e, [{ key: ['no_zone'], values: { 'f@1': at(1, '2024-06-01T12:30:00') } }]);
      expect((await store.read(e, [['no_zone']], ['f@1']))[0]?.['f@1']?.eventTime).toBe('2024-06-01T12:30:00.000Z');
    });

    it('rejects an unparsable event time and writes nothing of that call', async () => {
      const e = entity('bad_time');
      await expect(
        store.write(e, [
          { key: ['good'], values: { 'f@1': at(1) } },
          { key: ['bad'], values: { 'f@1': at(2, 'yesterday-ish') } },
        ]),
      ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      expect(await store.read(e, [['good'], ['bad']], ['f@1'])).toStrictEqual([{ 'f@1': null }, { 'f@1': null }]);
    });

    it('keeps entities isolated, including names that extend one another', async () => {
      const base = entity('iso');
      const others = [`${base}_x`, `${base}:x`, `${base}:[`];
      await store.write(base, [{ key: ['k'], values: { 'f@1': at('base') } }]);
      for (const other of others) await store.write(other, [{ key: ['k'], values: { 'f@1': at(other) } }]);

      expect((await store.read(base, [['k']], ['f@1']))[0]?.['f@1']?.value).toBe('base');
      for (const other of others) expect((await store.read(other, [['k']], ['f@1']))[0]?.['f@1']?.value).toBe(other);

      expect(await store.deleteFeatures(base, ['f@1'])).toBe(1);
      for (const other of others) expect((await store.read(other, [['k']], ['f@1']))[0]?.['f@1']?.value).toBe(other);
    });

    it('distinguishes composite keys by type, order and length', async () => {
      const e = entity('composite');
      const keys: EntityKey[] = [['a', 1], ['a', '1'], [1, 'a'], ['a'], ['a', 1, 2], [1], ['1'], [1.5], ['ORD', 'LAX', 20010101]];
      await store.write(e, keys.map((key, i) => ({ key, values: { 'f@1': at(i) } })));
      const records = await store.read(e, keys, ['f@1']);
      expect(records.map((r) => r['f@1']?.value)).toStrictEqual(keys.map((_, i) => i));
    });

    it('reads 1000 keys in one call, with missing keys interleaved', async () => {
      const e = entity('many');
      const rows = Array.from({ length: 1000 }, (_, i) => ({
        key: ['flight', i] as EntityKey,
        values: { 'delay@1': at(i), 'distance@1': at(i * 2), 'carrier@1': at(`C${i}`) },
      }));
      expect(await store.write(e, rows)).toBe(3000);

      const keys: EntityKey[] = Array.from({ length: 1000 }, (_, i) => ['flight', i % 2 === 0 ? i : i + 100_000]);
      const records = await store.read(e, keys, ['carrier@1', 'delay@1']);
      expect(records).toHaveLength(1000);
      records.forEach((record, i) => {
        if (i % 2 === 0) {
          expect(record).toStrictEqual({ 'carrier@1': at(`C${i}`), 'delay@1': at(i) });
        } else {
          expect(record).toStrictEqual({ 'carrier@1': null, 'delay@1': null });
        }
      });
    });

    it('deletes only the named refs of the named entity and counts them', async () => {
      const e = entity('delete');
      const other = entity('delete_other');
      const values = { 'a@1': at(1), 'a@2': at(2), 'b@1': at(3) };
      await store.write(e, [{ key: [1], values }, { key: [2], values }, { key: [3], values: { 'b@1': at(4) } }]);
      await store.write(other, [{ key: [1], values }]);

      expect(await store.deleteFeatures(e, ['a@1', 'never@1'])).toBe(2);
      expect(await store.read(e, [[1], [3]], ['a@1', 'a@2', 'b@1'])).toStrictEqual([
        { 'a@1': null, 'a@2': at(2), 'b@1': at(3) },
        { 'a@1': null, 'a@2': null, 'b@1': at(4) },
      ]);
      expect((await store.read(other, [[1]], ['a@1']))[0]?.['a@1']).toStrictEqual(at(1));
      expect(await store.deleteFeatures(e, ['a@1'])).toBe(0);
    });

    it('accepts older values again after a delete (re-materialization from scratch)', async () => {
      const e = entity('rematerialize');
      await store.write(e, [{ key: ['k'], values: { 'f@1': at('new', T3) } }]);
      expect(await store.deleteFeatures(e, ['f@1'])).toBe(1);
      expect(await store.write(e, [{ key: ['k'], values: { 'f@1': at('old', T1) } }])).toBe(1);
      expect((await store.read(e, [['k']], ['f@1']))[0]?.['f@1']).toStrictEqual(at('old', T1));
    });

    it('counts written values across rows and refs', async () => {
      const e = entity('count');
      expect(
        await store.write(e, [
          { key: [1], values: { 'a@1': at(1), 'b@1': at(2) } },
          { key: [2], values: { 'a@1': at(3) } },
          { key: [3], values: {} },
        ]),
      ).toBe(3);
    });

    it('handles empty inputs', async () => {
      const e = entity('empty');
      expect(await store.write(e, [])).toBe(0);
      expect(await store.write(e, [{ key: ['k'], values: {} }])).toBe(0);
      expect(await store.read(e, [], ['f@1'])).toStrictEqual([]);
      expect(await store.read(e, [['k'], ['j']], [])).toStrictEqual([{}, {}]);
      expect(await store.deleteFeatures(e, [])).toBe(0);
      expect(await store.deleteFeatures(e, ['f@1'])).toBe(0);
    });
  });
}
