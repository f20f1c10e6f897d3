/** The rules of experiment tracking, on an embedded store with a manual clock. */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { CairnError } from '../../src/core/errors.js';
import { EventBus, type CairnEvent } from '../../src/core/event-bus.js';
import type { Actor } from '../../src/identity/index.js';
import { LocalArtifactStore } from '../../src/storage/local-artifact-store.js';
import { SqlTrackingStore, TrackingService, type RunInputCatalog } from '../../src/tracking/index.js';
import { METADATA_BACKENDS, tempDir, type TestDatabase } from '../support/backends.js';

const editor: Actor = { user: 'ed', role: 'editor', tokenId: null };
const viewer: Actor = { user: 'vera', role: 'viewer', tokenId: null };
const HASH = `sha256:${'c'.repeat(64)}`;

/** A catalog that knows dataset jan@1, feature set inputs@2 (delay@1, hour@3) and those features. */
const catalog: RunInputCatalog = {
  datasetHash: async (name, version) => (name === 'jan' && version === 1 ? HASH : null),
  featureSetFeatures: async (name, version) => (name === 'inputs' && version === 2 ? ['delay@1', 'hour@3'] : null),
  hasFeature: async (name, version) => ['delay@1', 'hour@3'].includes(`${name}@${version}`),
};

/** The CairnError a promise rejects with. */
async function rejection(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

const paths = (e: CairnError) => (e.details.errors as { path: string }[]).map((x) => x.path);

describe('TrackingService', () => {
  let t: TestDatabase;
  let dir: string;
  let service: TrackingService;
  let artifacts: LocalArtifactStore;
  const clock = new ManualClock('2026-03-01T10:00:00.000Z');
  const events: CairnEvent[] = [];

  beforeAll(async () => {
    t = await METADATA_BACKENDS[0]!.open();
    dir = tempDir('cairn-tracking-');
    artifacts = await LocalArtifactStore.open(path.join(dir, 'artifacts'));
    const bus = new EventBus();
    bus.on('*', (e) => void events.push(e));
    service = new TrackingService(new SqlTrackingStore(t.database.db, t.database.dialect), artifacts, bus, clock, catalog);
    await service.createExperiment({ name: 'flights', description: 'delay models', tags: { team: 'ml' } }, editor);
  });
  afterAll(async () => {
    await t?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('experiments', () => {
    it('creates one with its author and time, and announces it', async () => {
      const e = await service.createExperiment({ name: 'Delay-2026.v1' }, editor);
      expect(e).toEqual({ name: 'Delay-2026.v1', description: '', tags: {}, createdAt: '2026-03-01T10:00:00.000Z', createdBy: 'ed' });
      expect(events.at(-1)).toMatchObject({ type: 'experiment.created', actor: 'ed', payload: { name: 'Delay-2026.v1' } });
      expect(await service.getExperiment('Delay-2026.v1')).toEqual(e);
    });

    it('refuses bad names and tags, duplicates, unknown names and viewers', async () => {
      const bad = await rejection(service.createExperiment({ name: '-x y', tags: { 'bad key!': 'v', ok: 5 as unknown as string } }, editor));
      expect(paths(bad)).toEqual(['name', 'tags.bad key!', 'tags.ok']);
      expect(await rejection(service.createExperiment({ name: 'flights' }, editor))).toMatchObject({ code: 'ALREADY_EXISTS' });
      expect(await rejection(service.getExperiment('nope'))).toMatchObject({ code: 'EXPERIMENT_NOT_FOUND' });
      const denied = await rejection(service.createExperiment({ name: 'x' }, viewer));
      expect(denied).toMatchObject({ code: 'FORBIDDEN', message: 'creating an experiment needs the editor role; vera has viewer' });
    });

    it('pages experiments by name', async () => {
      const first = await service.listExperiments({ limit: 1 });
      expect(first.items.map((e) => e.name)).toEqual(['Delay-2026.v1']);
      expect((await service.listExperiments({ limit: 1, cursor: first.nextCursor! })).items.map((e) => e.name)).toEqual(['flights']);
    });
  });

  describe('runs', () => {
    it('starts a run with defaults: a name from its id, the clock, the author, running', async () => {
      const before = events.length;
      const run = await service.createRun({ experiment: 'flights', params: { lr: 0.1, deep: true, trainer: 'gbdt' }, tags: { team: 'ops' } }, editor);
      expect(run).toMatchObject({
        experiment: 'flights',
        name: `run-${run.id.slice(4, 12)}`,
        status: 'running',
        startTime: '2026-03-01T10:00:00.000Z',
        endTime: null,
        author: 'ed',
        params: { lr: '0.1', deep: 'true', trainer: 'gbdt' },
        tags: { team: 'ops' },
        inputs: { dataset: null, featureSet: null, features: [] },
        source: { command: null, codeVersion: null },
      });
      expect(run.id).toMatch(/^run_[0-9a-f]{24}$/);
      expect(events.slice(before)).toEqual([
        { type: 'run.created', at: '2026-03-01T10:00:00.000Z', actor: 'ed', payload: { runId: run.id, experiment: 'flights', name: run.name, parentRunId: null } },
      ]);
      expect(await service.getRun(run.id)).toEqual(run);
    });

    it('records inputs checked against the feature store, filling the dataset hash and pinned features', async () => {
      const run = await service.createRun(
        { experiment: 'flights', inputs: { dataset: { ref: 'jan@1' }, featureSet: 'inputs@2' }, source: { command: 'train --fast', codeVersion: 'abc' } },
        editor,
      );
      expect(run.inputs).toEqual({ dataset: { ref: 'jan@1', contentHash: HASH }, featureSet: 'inputs@2', features: ['delay@1', 'hour@3'] });
      expect(run.source).toEqual({ command: 'train --fast', codeVersion: 'abc' });
    });

    it('lists every bad field of a run at once', async () => {
      const err = await rejection(
        service.createRun(
          {
            experiment: 'flights',
            name: '',
            params: { 'bad key!': 1, lr: { x: 1 } as unknown as string, huge: 'x'.repeat(6001) },
            tags: { team: 7 as unknown as string },
            startTime: 'yesterday',
            parentRunId: 'run_nope',
            inputs: { dataset: { ref: 'jan', contentHash: 'md5:1' }, featureSet: 'inputs@9', features: ['delay@1', 'gone@1', 'bad ref'] },
            source: { command: 5 as unknown as string },
          },
          editor,
        ),
      );
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(paths(err)).toEqual([
        'name',
        'params.bad key!',
        'params.lr',
        'params.huge',
        'tags.team',
        'startTime',
        'source.command',
        'inputs.dataset.ref',
        'inputs.dataset.contentHash',
        'inputs.featureSet',
        'inputs.features[1]',
        'inputs.features[2]',
        'parentRunId',
      ]);
      const mismatch = await rejection(service.createRun({ experiment: 'flights', inputs: { dataset: { ref: 'jan@1', contentHash: `sha256:${'d'.repeat(64)}` } } }, editor));
      expect(mismatch.details.errors).toEqual([{ path: 'inputs.dataset.contentHash', reason: `dataset jan@1 has content ${HASH}` }]);
      expect(await rejection(service.createRun({ experiment: 'nope' }, editor))).toMatchObject({ code: 'EXPERIMENT_NOT_FOUND' });
      expect(await rejection(service.createRun({ experiment: 'flights' }, viewer))).toMatchObject({ code: 'FORBIDDEN' });
      expect(await rejection(service.getRun('run_nope'))).toMatchObject({ code: 'RUN_NOT_FOUND', details: { runId: 'run_nope' } });
    });

    it('nests runs under a parent', async () => {
      const parent = await service.createRun({ experiment: 'flights', name: 'study' }, editor);
      const child = await service.createRun({ experiment: 'flights', name: 'trial 1', parentRunId: parent.id }, editor);
      expect(child.parentRunId).toBe(parent.id);
      const page = await service.searchRuns({ filter: `attributes.parent_run_id = '${parent.id}'` });
      expect(page.items.map((r) => r.id)).toEqual([child.id]);
    });
  });

  describe('logging', () => {
    it('logs params, metrics and tags in one batch; metric times default to now', async () => {
      const run = await service.createRun({ experiment: 'flights', params: { lr: 0.1 } }, editor);
      clock.advance(1000);
      const counts = await service.logBatch(
        run.id,
        {
          params: [{ key: 'lr', value: 0.1 }, { key: 'depth', value: 6 }],
          metrics: [{ key: 'auc', value: 0.7, step: 1 }, { key: 'auc', value: 0.8, step: 2, timestamp: '2026-03-01T12:00:00+01:00' }],
          tags: [{ key: 'stage', value: 'dev' }],
        },
        editor,
      );
      expect(counts).toEqual({ params: 2, metrics: 2, tags: 1 });
      expect(await service.getMetricHistory(run.id, 'auc')).toEqual([
        { value: 0.7, step: 1, timestamp: '2026-03-01T10:00:01.000Z' },
        { value: 0.8, step: 2, timestamp: '2026-03-01T11:00:00.000Z' },
      ]);
      expect(await service.getRun(run.id)).toMatchObject({ params: { lr: '0.1', depth: '6' }, tags: { stage: 'dev' }, metrics: { auc: { value: 0.8, step: 2 } } });
      expect(await service.getMetricHistory(run.id, 'never')).toEqual([]);
      expect(await rejection(service.getMetricHistory('run_nope', 'auc'))).toMatchObject({ code: 'RUN_NOT_FOUND' });
    });

    it('refuses a batch with bad entries, naming each, and changes nothing', async () => {
      const run = await service.createRun({ experiment: 'flights' }, editor);
      const err = await rejection(
        service.logBatch(
          run.id,
          {
            params: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }, { key: '', value: 'x' }],
            metrics: [
              { key: 'ok', value: 1 },
              { key: 'nan', value: Number.NaN },
              { key: 'inf', value: Number.POSITIVE_INFINITY },
              { key: 'step', value: 1, step: 1.5 },
              { key: 'neg', value: 1, step: -1 },
              { key: 'when', value: 1, timestamp: '03/01/2026' },
              { key: 'bad`key', value: 1 },
            ],
            tags: [{ key: 'team', value: 1 as unknown as string }],
          },
          editor,
        ),
      );
      expect(err.details.errors).toEqual([
        { path: 'params[1].value', reason: 'a is given twice in this batch with different values' },
        { path: 'params[2].key', reason: 'must be 1 to 250 of letters, digits, _ - . / and single spaces between words, got ""' },
        { path: 'metrics[1].value', reason: 'expected a finite number' },
        { path: 'metrics[2].value', reason: 'expected a finite number' },
        { path: 'metrics[3].step', reason: 'expected an integer ≥ 0' },
        { path: 'metrics[4].step', reason: 'expected an integer ≥ 0' },
        { path: 'metrics[5].timestamp', reason: 'expected an ISO-8601 time like 2026-01-31T12:00:00Z, got "03/01/2026"' },
        { path: 'metrics[6].key', reason: 'must be 1 to 250 of letters, digits, _ - . / and single spaces between words, got "bad`key"' },
        { path: 'tags[0].value', reason: 'expected a string' },
      ]);
      expect(await service.getRun(run.id)).toMatchObject({ params: {}, metrics: {}, tags: {} });
      const tooMany = await rejection(service.logBatch(run.id, { metrics: Array.from({ length: 10_001 }, () => ({ key: 'a', value: 1 })) }, editor));
      expect(tooMany.details.errors).toEqual([{ path: 'metrics', reason: 'at most 10000 entries in one batch, got 10001' }]);
    });

    it('logs a param once: the same value again is fine, another is a conflict naming both', async () => {
      const run = await service.createRun({ experiment: 'flights', params: { lr: 0.1 } }, editor);
      await service.logBatch(run.id, { params: [{ key: 'lr', value: '0.1' }] }, editor);
      const err = await rejection(service.logBatch(run.id, { params: [{ key: 'lr', value: 0.2 }], metrics: [{ key: 'auc', value: 1 }] }, editor));
      expect(err).toMatchObject({ code: 'CONFLICT', message: 'params are logged once: lr is "0.1", not "0.2"', details: { conflicts: [{ key: 'lr', oldValue: '0.1', newValue: '0.2' }] } });
      expect((await service.getRun(run.id)).metrics).toEqual({});
      expect(await rejection(service.logBatch(run.id, {}, viewer))).toMatchObject({ code: 'FORBIDDEN' });
      expect(await rejection(service.logBatch('run_nope', {}, editor))).toMatchObject({ code: 'RUN_NOT_FOUND' });
    });

    it('ends a run once, with a status and a time, and refuses logging afterwards', async () => {
      const run = await service.createRun({ experiment: 'flights' }, editor);
      clock.advance(60_000);
      const before = events.length;
      const ended = await service.endRun(run.id, { status: 'killed' }, editor);
      expect(ended).toMatchObject({ status: 'killed', endTime: clock.now().toISOString(), endedBy: 'ed' });
      expect(events.slice(before)).toMatchObject([{ type: 'run.ended', payload: { runId: run.id, experiment: 'flights', status: 'killed', endTime: ended.endTime } }]);
      expect(await rejection(service.endRun(run.id, {}, editor))).toMatchObject({ code: 'CONFLICT' });
      const log = await rejection(service.logBatch(run.id, { metrics: [{ key: 'a', value: 1 }] }, editor));
      expect(log).toMatchObject({ code: 'CONFLICT', message: `cannot log to run ${run.id}: it ended (killed) at ${ended.endTime}` });

      const other = await service.createRun({ experiment: 'flights' }, editor);
      const early = await rejection(service.endRun(other.id, { endTime: '2020-01-01T00:00:00Z' }, editor));
      expect(early.details.errors).toEqual([{ path: 'endTime', reason: `must not be before the run's start, ${other.startTime}` }]);
      const bad = await rejection(service.endRun(other.id, { status: 'done' as 'finished', endTime: 'soon' }, editor));
      expect(paths(bad)).toEqual(['status', 'endTime']);
      expect(await rejection(service.endRun(other.id, {}, viewer))).toMatchObject({ code: 'FORBIDDEN' });
      expect((await service.endRun(other.id, { endTime: '2026-03-01T12:00:00Z' }, editor)).status).toBe('finished');
    });
  });

  describe('search and compare', () => {
    let ids: string[];

    beforeAll(async () => {
      await service.createExperiment({ name: 'compare' }, editor);
      ids = [];
      for (const [lr, trainer, auc] of [[0.1, 'gbdt', 0.81], [0.2, 'gbdt', 0.86], [0.3, 'linear', 0.7]] as const) {
        clock.advance(1000);
        const run = await service.createRun({ experiment: 'compare', params: { lr, trainer, seed: 7 } }, editor);
        await service.logBatch(run.id, { metrics: [{ key: 'auc', value: auc - 0.1, step: 1 }, { key: 'auc', value: auc, step: 2 }] }, editor);
        ids.push(run.id);
      }
      await service.logBatch(ids[2]!, { metrics: [{ key: 'loss', value: 0.5, step: 3 }] }, editor);
    });

    it('pages through results with opaque cursors, newest first by default', async () => {
      const first = await service.searchRuns({ experiments: ['compare'], limit: 2 });
      expect(first.items.map((r) => r.id)).toEqual([ids[2], ids[1]]);
      const second = await service.searchRuns({ experiments: ['compare'], limit: 2, cursor: first.nextCursor! });
      expect(second).toMatchObject({ items: [{ id: ids[0] }], nextCursor: null });
      const byAuc = await service.searchRuns({ experiments: ['compare'], filter: 'metrics.auc > 0.75', orderBy: 'metrics.auc DESC', limit: 1 });
      expect(byAuc.items.map((r) => r.id)).toEqual([ids[1]]);
      const next = await service.searchRuns({ experiments: ['compare'], filter: 'metrics.auc > 0.75', orderBy: 'metrics.auc DESC', limit: 1, cursor: byAuc.nextCursor! });
      expect(next).toMatchObject({ items: [{ id: ids[0] }], nextCursor: null });
    });

    it('refuses a cursor of another order, a forged cursor, a bad filter and unknown experiments', async () => {
      const page = await service.searchRuns({ experiments: ['compare'], orderBy: 'metrics.auc DESC', limit: 1 });
      const other = await rejection(service.searchRuns({ experiments: ['compare'], orderBy: 'params.lr', cursor: page.nextCursor! }));
      expect(other.details.errors).toEqual([{ path: 'cursor', reason: 'this cursor belongs to a search with another orderBy; start again without a cursor' }]);
      const signature = 'attributes.`start_time` DESC';
      for (const forgedText of ['{"x":1}', 'not json', `{"o":"${signature}","v":[{"a":1}],"id":"run_1"}`, `{"o":"${signature}","v":[],"id":"run_1"}`]) {
        const forged = await rejection(service.searchRuns({ cursor: Buffer.from(forgedText).toString('base64url') }));
        expect(forged.details.errors, forgedText).toEqual([{ path: 'cursor', reason: 'not a cursor returned by this API' }]);
      }
      const filter = await rejection(service.searchRuns({ filter: 'metrics.auc >' }));
      expect(filter).toMatchObject({ code: 'VALIDATION_FAILED', message: "invalid filter: position 14: expected a value after '>'" });
      expect(await rejection(service.searchRuns({ orderBy: 'metrics.auc UP' }))).toMatchObject({ details: { errors: [{ path: 'orderBy' }] } });
      expect(await rejection(service.searchRuns({ experiments: ['compare', 'nope'] }))).toMatchObject({ code: 'EXPERIMENT_NOT_FOUND' });
      expect(await rejection(service.searchRuns({ limit: 0 }))).toMatchObject({ details: { errors: [{ path: 'limit' }] } });
    });

    it('puts runs side by side, marking differing params and aligning histories by step', async () => {
      const c = await service.compareRuns([ids[2]!, ids[0]!]);
      expect(c.runs.map((r) => r.id)).toEqual([ids[2], ids[0]]);
      expect(c.params).toEqual([
        { key: 'lr', values: ['0.3', '0.1'], differs: true },
        { key: 'seed', values: ['7', '7'], differs: false },
        { key: 'trainer', values: ['linear', 'gbdt'], differs: true },
      ]);
      expect(c.metrics).toEqual([
        { key: 'auc', values: [0.7, 0.81], differs: true },
        { key: 'loss', values: [0.5, null], differs: true },
      ]);
      expect(c.histories).toEqual([
        { key: 'auc', steps: [1, 2], values: [[expect.closeTo(0.6), 0.7], [expect.closeTo(0.71), 0.81]] },
        { key: 'loss', steps: [3], values: [[0.5], [null]] },
      ]);
      expect((await service.compareRuns([ids[0]!], { history: false })).histories).toEqual([]);
    });

    it('refuses to compare nothing, duplicates, too many runs, and names every missing run', async () => {
      expect((await rejection(service.compareRuns([]))).details.errors).toEqual([{ path: 'ids', reason: 'give at least one run id' }]);
      expect((await rejection(service.compareRuns([ids[0]!, ids[0]!]))).details.errors).toEqual([{ path: 'ids[1]', reason: `${ids[0]} is given twice` }]);
      expect(paths(await rejection(service.compareRuns(Array.from({ length: 51 }, (_, i) => `run_${i}`))))).toEqual(['ids']);
      expect(await rejection(service.compareRuns([ids[0]!, 'run_a', 'run_b']))).toMatchObject({ code: 'RUN_NOT_FOUND', details: { runIds: ['run_a', 'run_b'] } });
    });
  });

  describe('artifacts', () => {
    let runId: string;
    let file: string;

    beforeAll(async () => {
      runId = (await service.createRun({ experiment: 'flights' }, editor)).id;
      file = path.join(dir, 'model.onnx');
      fs.writeFileSync(file, 'onnx bytes');
    });

    it('stores a stream and a local file, lists folders and streams files back', async () => {
      const put = await service.putArtifact(runId, 'report/summary.txt', Readable.from([Buffer.from('good '), Buffer.from('model')]), editor);
      expect(put).toMatchObject({ created: true, artifact: { runId, path: 'report/summary.txt', size: 10, createdBy: 'ed' } });
      const logged = await service.logArtifactFile(runId, 'model/model.onnx', file, editor);
      expect(logged.artifact.digest).toBe((await artifacts.putFile(file)).digest);
      expect((await service.logArtifactFile(runId, 'model/model.onnx', file, editor)).created).toBe(false);
      expect((await service.listArtifacts(runId)).map((a) => a.path)).toEqual(['model/model.onnx', 'report/summary.txt']);
      expect((await service.listArtifacts(runId, 'model/')).map((a) => a.path)).toEqual(['model/model.onnx']);
      const { artifact, stream } = await service.openArtifact(runId, 'report/summary.txt');
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('good model');
      expect(artifact.size).toBe(10);
    });

    it.each([
      ['../etc/passwd', '"../etc/passwd" holds a .. segment: paths stay inside the run'],
      ['a/./b', '"a/./b" holds a . segment: paths stay inside the run'],
      ['/etc/passwd', '"/etc/passwd" is absolute: give a path relative to the run'],
      ['C:/x', '"C:/x" is absolute: give a path relative to the run'],
      ['a\\b', 'use / to separate folders, not \\'],
      ['a//b', '"a//b" has an empty folder name (// or a trailing /)'],
      ['a/', '"a/" has an empty folder name (// or a trailing /)'],
      ['a\nb', 'control characters are not allowed'],
      ['', 'expected a relative path like model/model.onnx'],
    ])('refuses the path %j', async (p, reason) => {
      const err = await rejection(service.putArtifact(runId, p, Readable.from([]), editor));
      expect(err.details.errors).toEqual([{ path: 'path', reason }]);
    });

    it('refuses a missing local file, a viewer, an unknown run, an ended run and unknown paths', async () => {
      const missing = await rejection(service.logArtifactFile(runId, 'x.bin', path.join(dir, 'nope.bin'), editor));
      expect(missing.details.errors).toEqual([{ path: 'localFile', reason: `no file at ${path.join(dir, 'nope.bin')}` }]);
      expect(await rejection(service.logArtifactFile(runId, 'x.bin', file, viewer))).toMatchObject({ code: 'FORBIDDEN' });
      expect(await rejection(service.logArtifactFile('run_nope', 'x.bin', file, editor))).toMatchObject({ code: 'RUN_NOT_FOUND' });
      const done = await service.createRun({ experiment: 'flights' }, editor);
      await service.endRun(done.id, {}, editor);
      expect(await rejection(service.logArtifactFile(done.id, 'x.bin', file, editor))).toMatchObject({ code: 'CONFLICT' });
      expect(await rejection(service.openArtifact(runId, 'nope.txt'))).toMatchObject({ code: 'RUN_ARTIFACT_NOT_FOUND', details: { folder: false } });
      expect(await rejection(service.openArtifact(runId, 'model'))).toMatchObject({ code: 'RUN_ARTIFACT_NOT_FOUND', details: { folder: true } });
      expect(await rejection(service.listArtifacts(runId, '../x'))).toMatchObject({ details: { errors: [{ path: 'prefix' }] } });
      expect(await rejection(service.listArtifacts('run_nope'))).toMatchObject({ code: 'RUN_NOT_FOUND' });
    });
  });
});
