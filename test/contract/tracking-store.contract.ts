/**
 * The contract every TrackingStore backend meets. Run on SQLite and PostgreSQL by
 * test/tracking/tracking-store.test.ts. Search results are checked against a brute-force oracle
 * for many filters, orders and page sizes, with search windows small enough that both search
 * plans (the sort-order walk and filter-first) answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import { isUniqueViolation } from '../../src/storage/db.js';
import type { Experiment, MetricEntry, Run, RunArtifact } from '../../src/tracking/model.js';
import { parseFilter, parseOrderBy } from '../../src/tracking/search-parser.js';
import type { RunImport, SearchPosition, TrackingStore } from '../../src/tracking/store.js';
import { lcg } from '../support/fixtures.js';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

function experiment(name: string): Experiment {
  return { name, description: `about ${name}`, tags: { team: 'ml', 'ünï': 'cödé' }, createdAt: T0, createdBy: 'ada' };
}

function run(id: string, over: Partial<Run> = {}): Run {
  return {
    id,
    experiment: 'exp',
    name: id,
    status: 'running',
    startTime: T0,
    endTime: null,
    author: 'ada',
    endedBy: null,
    parentRunId: null,
    params: {},
    metrics: {},
    tags: {},
    inputs: { dataset: { ref: 'jan@1', contentHash: DIGEST_A }, featureSet: 'inputs@2', features: ['delay@1', 'hour@3'] },
    source: { command: 'train.ts --fast', codeVersion: 'abc123' },
    ...over,
  };
}

const point = (key: string, value: number, step: number, timestamp = T0): MetricEntry => ({ key, value, step, timestamp });

/** The CairnError a promise rejects with. */
async function rejection(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

// ---- the oracle of the search properties ---------------------------------------------------

type Value = string | number | null;
interface SearchCase {
  filter: string;
  match: (r: Run) => boolean;
}
interface OrderCase {
  orderBy: string;
  keys: { value: (r: Run) => Value; descending: boolean }[];
}

const metric = (key: string) => (r: Run) => r.metrics[key]?.value ?? null;
const param = (key: string) => (r: Run) => r.params[key] ?? null;
const num = (v: string | undefined) => (v !== undefined && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : null);

const SEARCH_CASES: SearchCase[] = [
  { filter: '', match: () => true },
  { filter: 'metrics.auc > 0.5', match: (r) => (metric('auc')(r) ?? -1) > 0.5 },
  { filter: 'metrics.auc <= 0.3 OR metrics.loss >= 0.8', match: (r) => (metric('auc')(r) ?? 9) <= 0.3 || (metric('loss')(r) ?? -1) >= 0.8 },
  { filter: "params.trainer = 'gbdt' AND metrics.auc > 0.2", match: (r) => r.params.trainer === 'gbdt' && (metric('auc')(r) ?? -1) > 0.2 },
  { filter: 'params.depth >= 6', match: (r) => (num(r.params.depth) ?? -1) >= 6 },
  { filter: "params.depth != '6'", match: (r) => r.params.depth !== undefined && r.params.depth !== '6' },
  { filter: "tags.team IN ('ops', 'ml')", match: (r) => ['ops', 'ml'].includes(r.tags.team ?? '') },
  { filter: "tags.team NOT IN ('ops')", match: (r) => r.tags.team !== undefined && r.tags.team !== 'ops' },
  { filter: "attributes.status = 'finished' AND (metrics.auc > 0.7 OR params.trainer LIKE 'lin%')", match: (r) => r.status === 'finished' && ((metric('auc')(r) ?? -1) > 0.7 || (r.params.trainer ?? '').startsWith('lin')) },
  { filter: 'metrics.auc IS NULL', match: (r) => metric('auc')(r) === null },
  { filter: "attributes.start_time >= '2026-01-01T00:30:00Z'", match: (r) => r.startTime >= '2026-01-01T00:30:00.000Z' },
  // Ranges on a sort key narrow the sort-order walk itself: against the order, and on text.
  { filter: "metrics.auc < 0.5 AND attributes.status != 'running'", match: (r) => (metric('auc')(r) ?? 9) < 0.5 && r.status !== 'running' },
  {
    filter: "params.trainer >= 'gbdt' AND params.trainer < 'lin_svm' AND metrics.loss > 0.2 AND metrics.loss <= 0.8",
    match: (r) => (r.params.trainer ?? '') >= 'gbdt' && (r.params.trainer ?? '') < 'lin_svm' && (metric('loss')(r) ?? -1) > 0.2 && (metric('loss')(r) ?? 9) <= 0.8,
  },
  { filter: 'params.depth = 6 AND params.depth > 5', match: (r) => (num(r.params.depth) ?? -1) === 6 },
];

const ORDER_CASES: OrderCase[] = [
  { orderBy: 'metrics.auc DESC', keys: [{ value: metric('auc'), descending: true }] },
  { orderBy: 'metrics.loss ASC', keys: [{ value: metric('loss'), descending: false }] },
  { orderBy: 'params.trainer, metrics.auc DESC', keys: [{ value: param('trainer'), descending: false }, { value: metric('auc'), descending: true }] },
  { orderBy: 'params.depth DESC, attributes.name', keys: [{ value: param('depth'), descending: true }, { value: (r) => r.name, descending: false }] },
  { orderBy: 'attributes.start_time DESC', keys: [{ value: (r) => r.startTime, descending: true }] },
  { orderBy: 'tags.team DESC, metrics.loss', keys: [{ value: (r) => r.tags.team ?? null, descending: true }, { value: metric('loss'), descending: false }] },
];

/** Sorts as the store must: each key ASC or DESC with missing values last, then the run id. */
function oracleSort(runs: Run[], order: OrderCase): Run[] {
  const cmp = (a: Value, b: Value) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1);
  return [...runs].sort((x, y) => {
    for (const k of order.keys) {
      const a = k.value(x);
      const b = k.value(y);
      if (a === b) continue;
      if (a === null || b === null) return cmp(a, b);
      return k.descending ? cmp(b, a) : cmp(a, b);
    }
    return x.id < y.id ? -1 : 1;
  });
}

/** Random runs with ties and missing values, ASCII only so that every collation agrees. */
function randomRuns(count: number): RunImport[] {
  const rand = lcg(11);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const round = (x: number) => Math.round(x * 10) / 10; // few distinct values: many ties
  return Array.from({ length: count }, (_, i) => {
    const metrics: MetricEntry[] = [];
    if (rand() < 0.85) metrics.push(point('auc', round(rand()) / 2, 0), point('auc', round(rand()), 5, at(i)));
    if (rand() < 0.7) metrics.push(point('loss', round(rand()), 1, at(i)));
    const params: Record<string, string> = {};
    if (rand() < 0.9) params.trainer = pick(['gbdt', 'linear', 'lin_svm', 'forest']);
    if (rand() < 0.8) params.depth = pick(['3', '6', '6.0', '10', 'deep', '-1']);
    const tags: Record<string, string> = rand() < 0.75 ? { team: pick(['ops', 'ml', 'data']) } : {};
    const id = `run_${String(i).padStart(3, '0')}`;
    const status = pick(['finished', 'finished', 'failed', 'running'] as const);
    const { metrics: _none, ...attrs } = run(id, { experiment: 'search', name: pick(['alpha', 'beta', 'gamma']), status, startTime: at(i % 60), params, tags, endTime: status === 'running' ? null : at(90) });
    return { run: attrs, metrics };
  });
}

export function describeTrackingStoreContract(
  name: string,
  open: (options?: { searchWindow?: number }) => Promise<{ store: TrackingStore; reopen(options: { searchWindow?: number }): TrackingStore; cleanup(): Promise<void> }>,
): void {
  describe(`TrackingStore contract on ${name}`, () => {
    let store: TrackingStore;
    let reopen: (options: { searchWindow?: number }) => TrackingStore;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ store, reopen, cleanup } = await open());
      for (const e of ['exp', 'search', 'other']) await store.insertExperiment(experiment(e));
    });
    afterAll(async () => cleanup?.());

    it('round-trips experiments, pages them by name and refuses duplicates', async () => {
      expect(await store.getExperiment('exp')).toEqual(experiment('exp'));
      expect(await store.getExperiment('nope')).toBeNull();
      expect((await store.listExperiments({ limit: 10, after: null })).map((e) => e.name)).toEqual(['exp', 'other', 'search']);
      expect((await store.listExperiments({ limit: 1, after: 'exp' })).map((e) => e.name)).toEqual(['other', 'search']);
      expect(isUniqueViolation(await store.insertExperiment(experiment('exp')).catch((e: unknown) => e))).toBe(true);
    });

    it('round-trips a run with its params, tags, inputs and source', async () => {
      const r = run('run_rt', { params: { lr: '0.1', trainer: 'gbdt' }, tags: { team: 'ops', 'a b/c': 'd' } });
      await store.insertRun(r);
      expect(await store.getRun('run_rt')).toEqual(r);
      expect(await store.getRun('run_nope')).toBeNull();
      expect((await store.getRuns(['run_rt', 'run_nope'])).map((x) => x.id)).toEqual(['run_rt']);
      expect(await store.getRuns([])).toEqual([]);
    });

    it('keeps params once: the same value again is fine, another is refused with both values', async () => {
      await store.insertRun(run('run_p', { params: { lr: '0.1' } }));
      await store.logBatch('run_p', { params: [{ key: 'lr', value: '0.1' }, { key: 'depth', value: '6' }], metrics: [], tags: [] });
      const err = await rejection(store.logBatch('run_p', { params: [{ key: 'depth', value: '6' }, { key: 'lr', value: '0.2' }], metrics: [], tags: [] }));
      expect(err.code).toBe('CONFLICT');
      expect(err.message).toContain('lr is "0.1", not "0.2"');
      expect(err.details.conflicts).toEqual([{ key: 'lr', oldValue: '0.1', newValue: '0.2' }]);
      expect((await store.getRun('run_p'))!.params).toEqual({ lr: '0.1', depth: '6' });
    });

    it('writes a batch atomically: a refused batch leaves no metric, tag or param behind', async () => {
      await store.insertRun(run('run_atomic', { params: { lr: '0.1' } }));
      const err = await rejection(
        store.logBatch('run_atomic', {
          params: [{ key: 'fresh', value: 'x' }, { key: 'lr', value: '0.5' }],
          metrics: [point('auc', 0.9, 1)],
          tags: [{ key: 'team', value: 'ops' }],
        }),
      );
      expect(err.code).toBe('CONFLICT');
      const after = await store.getRun('run_atomic');
      expect(after).toMatchObject({ params: { lr: '0.1' }, metrics: {}, tags: {} });
      expect(await store.getMetricHistory('run_atomic')).toEqual({});
    });

    it('keeps every metric point and moves the latest forward by step, then time', async () => {
      await store.insertRun(run('run_m'));
      await store.logBatch('run_m', { params: [], tags: [], metrics: [point('auc', 0.5, 1, at(1)), point('auc', 0.7, 3, at(2)), point('loss', 2, 0, at(1))] });
      // An older step logged later is history, not the latest.
      await store.logBatch('run_m', { params: [], tags: [], metrics: [point('auc', 0.6, 2, at(3))] });
      expect((await store.getRun('run_m'))!.metrics.auc).toEqual({ value: 0.7, step: 3, timestamp: at(2) });
      // The same step logged again later replaces it; within one batch the last entry wins.
      await store.logBatch('run_m', { params: [], tags: [], metrics: [point('auc', 0.71, 3, at(4)), point('auc', 0.72, 3, at(4))] });
      expect((await store.getRun('run_m'))!.metrics).toEqual({ auc: { value: 0.72, step: 3, timestamp: at(4) }, loss: { value: 2, step: 0, timestamp: at(1) } });
      const history = await store.getMetricHistory('run_m');
      expect(history.auc!.map((p) => [p.step, p.value])).toEqual([[1, 0.5], [2, 0.6], [3, 0.7], [3, 0.71], [3, 0.72]]);
      expect(Object.keys(await store.getMetricHistory('run_m', ['loss']))).toEqual(['loss']);
      expect(await store.getMetricHistory('run_m', [])).toEqual({});
    });

    it('stores large batches and extreme values exactly', async () => {
      await store.insertRun(run('run_big'));
      const metrics = Array.from({ length: 2500 }, (_, i) => point(`k${i % 25}`, i === 0 ? 1e-300 : i === 1 ? -1.7976931348623157e308 : i / 7, Math.floor(i / 25), at(i)));
      await store.logBatch('run_big', { params: [], tags: [], metrics });
      const history = await store.getMetricHistory('run_big');
      expect(Object.keys(history)).toHaveLength(25);
      expect(history.k0![0]!.value).toBe(1e-300);
      expect(history.k1![0]!.value).toBe(-1.7976931348623157e308);
      expect(history.k3!.map((p) => p.value)).toEqual(metrics.filter((m) => m.key === 'k3').map((m) => m.value));
      expect((await store.getRun('run_big'))!.metrics.k24).toEqual({ value: 2499 / 7, step: 99, timestamp: at(2499) });
    });

    it('overwrites tags, the last entry of a batch winning', async () => {
      await store.insertRun(run('run_t', { tags: { team: 'ops' } }));
      await store.logBatch('run_t', { params: [], metrics: [], tags: [{ key: 'team', value: 'ml' }, { key: 'team', value: 'data' }, { key: 'tier', value: '1' }] });
      expect((await store.getRun('run_t'))!.tags).toEqual({ team: 'data', tier: '1' });
    });

    it('ends a run once and refuses logging to it afterwards', async () => {
      await store.insertRun(run('run_e'));
      await store.endRun('run_e', 'failed', at(5), 'bob');
      expect(await store.getRun('run_e')).toMatchObject({ status: 'failed', endTime: at(5), endedBy: 'bob' });
      expect(await rejection(store.endRun('run_e', 'finished', at(6), 'bob'))).toMatchObject({ code: 'CONFLICT' });
      const err = await rejection(store.logBatch('run_e', { params: [], tags: [], metrics: [point('a', 1, 0)] }));
      expect(err).toMatchObject({ code: 'CONFLICT', details: { status: 'failed', endTime: at(5) } });
      expect(await rejection(store.logBatch('run_none', { params: [], tags: [], metrics: [] }))).toMatchObject({ code: 'RUN_NOT_FOUND' });
      expect(await rejection(store.endRun('run_none', 'killed', at(1), 'bob'))).toMatchObject({ code: 'RUN_NOT_FOUND' });
    });

    it('imports whole runs, deriving the latest metrics from their histories', async () => {
      const { metrics: _m, ...attrs } = run('run_imp', { experiment: 'other', status: 'finished', endTime: at(9), params: { a: '1' } });
      await store.importRuns([{ run: attrs, metrics: [point('auc', 0.9, 4), point('auc', 0.8, 2), point('loss', 1, 0)] }]);
      expect((await store.getRun('run_imp'))!.metrics).toEqual({ auc: { value: 0.9, step: 4, timestamp: T0 }, loss: { value: 1, step: 0, timestamp: T0 } });
      expect((await store.getMetricHistory('run_imp')).auc).toHaveLength(2);
    });

    describe('artifacts', () => {
      const artifact = (path: string, digest = DIGEST_A): RunArtifact => ({ runId: 'run_art', path, digest, size: 5, createdAt: T0, createdBy: 'ada' });

      beforeAll(async () => store.insertRun(run('run_art')));

      it('records a file once: the same content again is no change, other content is refused', async () => {
        expect(await store.putArtifact(artifact('model/model.onnx'))).toEqual({ artifact: artifact('model/model.onnx'), created: true });
        expect(await store.putArtifact(artifact('model/model.onnx'))).toEqual({ artifact: artifact('model/model.onnx'), created: false });
        const err = await rejection(store.putArtifact(artifact('model/model.onnx', DIGEST_B)));
        expect(err).toMatchObject({ code: 'CONFLICT', details: { path: 'model/model.onnx', digest: DIGEST_A } });
        expect(await store.getArtifact('run_art', 'model/model.onnx')).toEqual(artifact('model/model.onnx'));
        expect(await store.getArtifact('run_art', 'model')).toBeNull();
      });

      it('never lets a path be both a file and a folder', async () => {
        expect(await rejection(store.putArtifact(artifact('model')))).toMatchObject({ code: 'CONFLICT', details: { existing: 'model/model.onnx' } });
        expect(await rejection(store.putArtifact(artifact('model/model.onnx/x')))).toMatchObject({ code: 'CONFLICT', details: { existing: 'model/model.onnx' } });
        await store.putArtifact(artifact('modelling.txt')); // a sibling that merely starts alike is fine
      });

      it('lists a folder by prefix without pattern semantics', async () => {
        await store.putArtifact(artifact('a_%/x.txt'));
        await store.putArtifact(artifact('ab%/y.txt'));
        await store.putArtifact(artifact('model/sub/deep.bin'));
        const paths = async (folder: string) => (await store.listArtifacts('run_art', folder)).map((a) => a.path);
        expect(await paths('')).toEqual(['a_%/x.txt', 'ab%/y.txt', 'model/model.onnx', 'model/sub/deep.bin', 'modelling.txt']);
        expect(await paths('model')).toEqual(['model/model.onnx', 'model/sub/deep.bin']);
        expect(await paths('model/sub')).toEqual(['model/sub/deep.bin']);
        expect(await paths('a_%')).toEqual(['a_%/x.txt']);
        expect(await paths('modelling.txt')).toEqual(['modelling.txt']);
        expect(await paths('mod')).toEqual([]);
      });

      it('refuses files for ended and unknown runs', async () => {
        await store.insertRun(run('run_art_done'));
        await store.endRun('run_art_done', 'finished', at(1), 'ada');
        expect(await rejection(store.putArtifact({ ...artifact('x'), runId: 'run_art_done' }))).toMatchObject({ code: 'CONFLICT' });
        expect(await rejection(store.putArtifact({ ...artifact('x'), runId: 'run_gone' }))).toMatchObject({ code: 'RUN_NOT_FOUND' });
      });
    });

    describe('search', () => {
      let runs: Run[];

      beforeAll(async () => {
        const imports = randomRuns(70);
        await store.importRuns(imports);
        runs = await store.getRuns(imports.map((r) => r.run.id));
      });

      /** Every page of a search, following positions, on a store with the given window. */
      async function searchAll(s: TrackingStore, c: SearchCase, o: OrderCase, limit: number): Promise<string[]> {
        const ids: string[] = [];
        let after: SearchPosition | null = null;
        for (let page = 0; page < 200; page++) {
          const rows = await s.searchRuns({ experiments: ['search'], filter: parseFilter(c.filter), orderBy: parseOrderBy(o.orderBy), limit, after });
          const items = rows.slice(0, limit);
          ids.push(...items.map((r) => r.run.id));
          if (rows.length <= limit) return ids;
          const last = items[items.length - 1]!;
          after = { values: last.sortValues, id: last.run.id };
        }
        throw new Error('too many pages');
      }

      it('matches the oracle for every filter, order and page size, on both search plans', async () => {
        for (const window of [undefined, 3]) {
          const s = window === undefined ? store : reopen({ searchWindow: window });
          for (const c of SEARCH_CASES) {
            for (const o of ORDER_CASES) {
              const expected = oracleSort(runs.filter(c.match), o).map((r) => r.id);
              for (const limit of [2, 100]) {
                const got = await searchAll(s, c, o, limit);
                expect(got, `${c.filter} | ${o.orderBy} | limit ${limit} | window ${window}`).toEqual(expected);
              }
            }
          }
        }
      });

      it('returns sort values and whole runs', async () => {
        const [row] = await store.searchRuns({ experiments: ['search'], filter: parseFilter('metrics.auc IS NOT NULL'), orderBy: parseOrderBy('metrics.auc DESC, params.trainer'), limit: 1, after: null });
        const best = oracleSort(runs.filter((r) => r.metrics.auc), ORDER_CASES[0]!)[0]!;
        expect(row!.sortValues[0]).toBe(best.metrics.auc!.value);
        expect(row!.run).toEqual(runs.find((r) => r.id === row!.run.id));
      });

      it('compares params numerically only with an unquoted number, and text otherwise', async () => {
        const ids = async (filter: string) =>
          (await store.searchRuns({ experiments: ['search'], filter: parseFilter(filter), orderBy: parseOrderBy('attributes.run_id'), limit: 1000, after: null })).map((r) => r.run.id);
        const having = (pred: (depth: string) => boolean) => runs.filter((r) => r.params.depth !== undefined && pred(r.params.depth)).map((r) => r.id).sort();
        expect(await ids('params.depth = 6')).toEqual(having((d) => d === '6' || d === '6.0'));
        expect(await ids("params.depth = '6'")).toEqual(having((d) => d === '6'));
        expect(await ids('params.depth < 0')).toEqual(having((d) => d === '-1'));
        expect(await ids("params.depth > '6'")).toEqual(having((d) => d > '6')); // text: 'deep' > '6', '10' < '6'
        expect(await ids('params.depth IN (3, 10)')).toEqual(having((d) => d === '3' || d === '10'));
      });

      it('matches LIKE case-sensitively and ILIKE not, with \\ escaping wildcards', async () => {
        await store.importRuns(
          ['Gbdt_v2', 'gbdt_v2', 'gbdtXv2', '100%', '1000'].map((trainer, i) => {
            const { metrics: _m, ...attrs } = run(`run_like_${i}`, { experiment: 'other', params: { trainer } });
            return { run: attrs, metrics: [] };
          }),
        );
        const names = async (filter: string) =>
          (await store.searchRuns({ experiments: ['other'], filter: parseFilter(filter), orderBy: parseOrderBy('params.trainer'), limit: 100, after: null })).map((r) => r.run.params.trainer);
        expect(await names("params.trainer LIKE 'gbdt%'")).toEqual(['gbdtXv2', 'gbdt_v2']);
        expect(await names("params.trainer ILIKE 'GBDT%'")).toEqual(['Gbdt_v2', 'gbdtXv2', 'gbdt_v2']);
        expect(await names("params.trainer LIKE 'gbdt\\_v_'")).toEqual(['gbdt_v2']);
        expect(await names("params.trainer LIKE '100\\%'")).toEqual(['100%']);
        expect(await names("params.trainer NOT LIKE '%v2'")).toEqual(['100%', '1000']);
        expect(await names("params.trainer LIKE '1_0%'")).toEqual(['100%', '1000']);
      });

      it('filters on attributes, the experiment list and the parent run', async () => {
        await store.insertRun(run('run_parent', { experiment: 'other' }));
        await store.insertRun(run('run_child', { experiment: 'other', parentRunId: 'run_parent', name: "it's a trial" }));
        const ids = async (filter: string, experiments: string[] = []) =>
          (await store.searchRuns({ experiments, filter: parseFilter(filter), orderBy: parseOrderBy('attributes.run_id'), limit: 1000, after: null })).map((r) => r.run.id);
        expect(await ids("attributes.parent_run_id = 'run_parent'")).toEqual(['run_child']);
        expect(await ids("attributes.name = 'it''s a trial'")).toEqual(['run_child']);
        expect(await ids("attributes.run_id IN ('run_child', 'run_parent') AND attributes.parent_run_id IS NULL")).toEqual(['run_parent']);
        expect(await ids("attributes.experiment = 'other' AND attributes.status = 'failed'", ['search'])).toEqual([]);
        expect(await ids("attributes.end_time > '2026-01-01T01:00:00Z'", ['search'])).toEqual(runs.filter((r) => r.endTime !== null).map((r) => r.id).sort());
      });
    });
  });
}
