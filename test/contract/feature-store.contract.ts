/**
 * The contract every FeatureStore backend meets. Run on SQLite and PostgreSQL by
 * test/features/feature-store.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureStore, Materialization } from '../../src/features/store.js';
import type { DatasetVersion, FeatureSetVersion, FeatureVersion } from '../../src/features/model.js';
import { isUniqueViolation } from '../../src/storage/db.js';

const T0 = '2026-01-01T00:00:00.000Z';

function featureVersion(name: string, version: number, over: Partial<FeatureVersion> = {}): FeatureVersion {
  return {
    name,
    version,
    entity: 'airport',
    source: 'flights',
    valueType: 'float64',
    expression: `avg(delay) + ${version}`,
    window: '7d',
    keyColumns: { airport: 'origin' },
    description: `v${version}`,
    tags: { team: 'ops', 'ünï': 'cödé' },
    changes: version === 1 ? [] : ['expression'],
    createdAt: T0,
    createdBy: 'ada',
    ...over,
  };
}

export function describeFeatureStoreContract(name: string, open: () => Promise<{ store: FeatureStore; cleanup(): Promise<void> }>): void {
  describe(`FeatureStore contract on ${name}`, () => {
    let store: FeatureStore;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ store, cleanup } = await open());
      await store.insertEntity({ name: 'airport', joinKeys: ['airport'], description: 'an airport', createdAt: T0, createdBy: 'ada' });
      await store.insertEntity({ name: 'route', joinKeys: ['origin', 'destination'], description: '', createdAt: T0, createdBy: 'ada' });
      await store.insertSource({
        name: 'flights',
        path: '/data/flights.parquet',
        format: 'parquet',
        timestampColumn: 'date',
        description: 'flights',
        columns: [{ name: 'date', type: 'TIMESTAMP' }],
        createdAt: T0,
        createdBy: 'ada',
      });
    });
    afterAll(async () => cleanup?.());

    it('round-trips entities and sources, and refuses duplicates', async () => {
      expect(await store.getEntity('route')).toMatchObject({ joinKeys: ['origin', 'destination'] });
      expect(await store.getEntity('nope')).toBeNull();
      expect((await store.getSource('flights'))?.columns).toEqual([{ name: 'date', type: 'TIMESTAMP' }]);
      const err = await store
        .insertEntity({ name: 'airport', joinKeys: ['x'], description: '', createdAt: T0, createdBy: 'b' })
        .catch((e: unknown) => e);
      expect(isUniqueViolation(err)).toBe(true);
    });

    it('pages entities by name with an exclusive cursor', async () => {
      expect((await store.listEntities({ limit: 10, after: null })).map((e) => e.name)).toEqual(['airport', 'route']);
      expect((await store.listEntities({ limit: 10, after: 'airport' })).map((e) => e.name)).toEqual(['route']);
      expect(await store.listEntities({ limit: 1, after: null })).toHaveLength(2); // limit + 1 to know a next page exists
    });

    it('keeps every feature version and resolves latest', async () => {
      await store.insertFeatureVersion(featureVersion('rate', 1));
      await store.insertFeatureVersion(featureVersion('rate', 2, { window: null, expression: 'delay' }));
      expect(await store.getFeatureVersion('rate', null)).toEqual(featureVersion('rate', 2, { window: null, expression: 'delay' }));
      expect(await store.getFeatureVersion('rate', 1)).toEqual(featureVersion('rate', 1));
      expect(await store.getFeatureVersion('rate', 3)).toBeNull();
      expect((await store.listFeatureVersions('rate')).map((v) => v.version)).toEqual([1, 2]);
    });

    it('refuses a second version 1 and a version that skips ahead, storing nothing', async () => {
      await store.insertFeatureVersion(featureVersion('hour', 1));
      expect(isUniqueViolation(await store.insertFeatureVersion(featureVersion('hour', 1)).catch((e: unknown) => e))).toBe(true);
      await expect(store.insertFeatureVersion(featureVersion('hour', 3))).rejects.toMatchObject({ code: 'CONFLICT' });
      // A racing writer that lost must not leave a version row behind.
      await expect(store.insertFeatureVersion(featureVersion('hour', 2))).resolves.toBeUndefined();
      expect((await store.listFeatureVersions('hour')).map((v) => v.version)).toEqual([1, 2]);
    });

    it('lists the latest version of each feature, filtered by entity', async () => {
      await store.insertFeatureVersion(featureVersion('route_count', 1, { entity: 'route', keyColumns: { origin: 'origin', destination: 'destination' } }));
      const all = await store.listFeatures({ limit: 100, after: null });
      expect(all.map((f) => `${f.name}@${f.version}`)).toEqual(['hour@2', 'rate@2', 'route_count@1']);
      const airport = await store.listFeatures({ limit: 100, after: null, entity: 'airport' });
      expect(airport.map((f) => f.name)).toEqual(['hour', 'rate']);
      expect((await store.listFeatures({ limit: 100, after: 'hour' })).map((f) => f.name)).toEqual(['rate', 'route_count']);
    });

    it('versions feature sets', async () => {
      const set = (version: number): FeatureSetVersion => ({
        name: 'delay_model',
        version,
        description: `set v${version}`,
        features: [{ ref: `rate@${version}`, joinOn: { airport: 'origin' }, as: 'origin_rate' }],
        createdAt: T0,
        createdBy: 'ada',
      });
      await store.insertFeatureSetVersion(set(1));
      await store.insertFeatureSetVersion(set(2));
      expect(await store.getFeatureSetVersion('delay_model', null)).toEqual(set(2));
      expect(await store.getFeatureSetVersion('delay_model', 1)).toEqual(set(1));
      expect((await store.listFeatureSetVersions('delay_model')).map((s) => s.version)).toEqual([1, 2]);
      expect((await store.listFeatureSets({ limit: 10, after: null })).map((s) => s.version)).toEqual([2]);
    });

    it('versions datasets with their content hash and lineage', async () => {
      const ds = (version: number): DatasetVersion => ({
        name: 'jan',
        version,
        contentHash: `sha256:${String(version).repeat(64)}`,
        rowCount: 500_000 + version,
        schema: [{ name: 'label', type: 'BOOLEAN' }],
        features: [{ ref: 'rate@1', joinOn: { airport: 'origin' }, as: 'rate' }],
        entityTable: { query: 'select 1', eventTimeColumn: 'date' },
        ttlSeconds: version === 1 ? null : 86_400,
        createdAt: T0,
        createdBy: 'ada',
      });
      await store.insertDatasetVersion(ds(1));
      await store.insertDatasetVersion(ds(2));
      expect(await store.getDatasetVersion('jan', null)).toEqual(ds(2));
      expect(await store.getDatasetVersion('jan', 1)).toEqual(ds(1));
      expect(await store.getDatasetVersion('feb', null)).toBeNull();
      expect(await store.listDatasets({ limit: 10, after: null })).toEqual([ds(2)]);
    });

    it('tracks materializations and pages them newest first', async () => {
      const m = (id: string, createdAt: string): Materialization => ({
        id,
        entity: 'airport',
        features: ['rate@2'],
        windowStart: null,
        windowEnd: '2001-02-01T00:00:00.000Z',
        incremental: false,
        status: 'pending',
        totalKeys: null,
        doneKeys: 0,
        valuesWritten: 0,
        error: null,
        createdAt,
        createdBy: 'ada',
        startedAt: null,
        finishedAt: null,
      });
      await store.insertMaterialization(m('mat_a', '2026-01-01T00:00:01.000Z'));
      await store.insertMaterialization(m('mat_b', '2026-01-01T00:00:02.000Z'));
      await store.insertMaterialization(m('mat_c', '2026-01-01T00:00:02.000Z'));
      await store.updateMaterialization('mat_a', { status: 'succeeded', totalKeys: 229, doneKeys: 229, valuesWritten: 458, finishedAt: T0 });
      expect(await store.getMaterialization('mat_a')).toMatchObject({ status: 'succeeded', totalKeys: 229, doneKeys: 229, valuesWritten: 458, incremental: false });
      const first = await store.listMaterializations({ limit: 2, after: null });
      expect(first.map((x) => x.id)).toEqual(['mat_c', 'mat_b', 'mat_a']);
      const rest = await store.listMaterializations({ limit: 2, after: `${first[1]!.createdAt}|${first[1]!.id}` });
      expect(rest.map((x) => x.id)).toEqual(['mat_a']);
    });

    it('keeps watermarks per feature version', async () => {
      await store.setWatermarks(['rate@1', 'rate@2'], '2001-01-31T00:00:00.000Z', T0);
      await store.setWatermarks(['rate@2'], '2001-02-28T00:00:00.000Z', T0);
      expect(await store.getWatermarks(['rate@1', 'rate@2', 'hour@1'])).toEqual({
        'rate@1': '2001-01-31T00:00:00.000Z',
        'rate@2': '2001-02-28T00:00:00.000Z',
      });
      expect(await store.getWatermarks([])).toEqual({});
    });
  });
}
