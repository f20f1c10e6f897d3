/**
 * The rules of the model registry, on a whole embedded platform with a manual clock: numbering,
 * immutability, stages with auto-archiving, aliases, cards (required fields, revisions, approval,
 * the Production gate), roles, lineage both ways and durable events.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { loadConfig } from '../../src/core/config.js';
import { CairnError } from '../../src/core/errors.js';
import type { CairnEvent } from '../../src/core/event-bus.js';
import { createLogger } from '../../src/core/logger.js';
import type { Actor } from '../../src/identity/index.js';
import type { RegistryService } from '../../src/registry/index.js';
import { openPlatform, type Platform } from '../../src/server/platform.js';
import { tempDir } from '../support/backends.js';
import { COMPLETE_CARD, MINIMAL_CARD, foreignOnnx, handmadeRun, linearOnnx, seedFeatureStore, type SeededStore } from '../support/registry.js';

const editor: Actor = { user: 'ed', role: 'editor', tokenId: null };
const approver: Actor = { user: 'april', role: 'approver', tokenId: null };
const viewer: Actor = { user: 'vera', role: 'viewer', tokenId: null };

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}
const paths = (e: CairnError) => (e.details.errors as { path: string }[]).map((x) => x.path);

describe('RegistryService', () => {
  let home: string;
  let platform: Platform;
  let registry: RegistryService;
  let seeded: SeededStore;
  const clock = new ManualClock('2026-04-01T09:00:00.000Z');
  const published: CairnEvent[] = [];
  const tick = () => clock.advance(60_000);

  /** Registers a version of `model` from a fresh handmade run. */
  const register = async (model: string, card = MINIMAL_CARD) => registry.registerVersion(model, { runId: (await handmadeRun(platform)).id, card }, editor);
  /** Registers a version and takes it through approval into Production. */
  const promoted = async (model: string, options: { archiveExisting?: boolean } = {}) => {
    const v = await register(model, COMPLETE_CARD);
    await registry.cards.review(model, v.version, 'approved', { comment: 'reviewed' }, approver);
    tick();
    await registry.transition(model, v.version, { stage: 'Production', ...options }, approver);
    return v.version;
  };

  beforeAll(async () => {
    home = tempDir('cairn-registry-');
    const config = loadConfig({ CAIRN_HOME: home, CAIRN_LOCAL_USER: 'tester', CAIRN_LOG_LEVEL: 'silent' });
    platform = await openPlatform(config, createLogger('silent'), clock);
    registry = platform.registry;
    platform.bus.on('*', (e) => void published.push(e));
    seeded = await seedFeatureStore(platform, home);
  });
  afterAll(async () => {
    await platform?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  describe('registered models', () => {
    it('creates a model owned by its creator, and announces it', async () => {
      const m = await registry.createModel({ name: 'delay', description: 'flight delay risk', tags: { team: 'ops' } }, editor);
      expect(m).toMatchObject({ name: 'delay', owner: 'ed', latestVersion: 0, tags: { team: 'ops' }, createdBy: 'ed', createdAt: '2026-04-01T09:00:00.000Z' });
      expect(published.at(-1)).toMatchObject({ type: 'model.created', actor: 'ed', payload: { model: 'delay' }, seq: expect.any(Number) });
      expect(await registry.getModel('delay')).toEqual(m);
    });

    it('refuses bad names, duplicates, unknown models and viewers', async () => {
      expect(paths(await rejection(registry.createModel({ name: '-bad name', tags: { 'a b': 'x' } }, editor)))).toEqual(['name', 'tags.a b']);
      expect(await rejection(registry.createModel({ name: 'delay' }, editor))).toMatchObject({ code: 'ALREADY_EXISTS' });
      expect(await rejection(registry.getModel('nope'))).toMatchObject({ code: 'MODEL_NOT_FOUND' });
      expect(await rejection(registry.createModel({ name: 'x' }, viewer))).toMatchObject({
        code: 'FORBIDDEN',
        message: 'registering a model needs the editor role; vera has viewer',
        details: { requiredRole: 'editor' },
      });
    });

    it('updates description, tags and owner, and pages models by name', async () => {
      await registry.createModel({ name: 'churn', owner: 'bob' }, editor);
      const m = await registry.updateModel('churn', { description: 'who leaves', tags: { tier: '1' } }, editor);
      expect(m).toMatchObject({ description: 'who leaves', tags: { tier: '1' }, owner: 'bob', updatedBy: 'ed' });
      const first = await registry.listModels({ limit: 1 });
      expect(first.items.map((x) => x.name)).toEqual(['churn']);
      expect((await registry.listModels({ limit: 1, cursor: first.nextCursor! })).items.map((x) => x.name)).toEqual(['delay']);
    });
  });

  describe('registering versions', () => {
    it("makes version 1 from a run's ONNX artifact with its files, signature, lineage, metrics and card", async () => {
      const run = await handmadeRun(platform);
      const v = await registry.registerVersion('delay', { runId: run.id, card: MINIMAL_CARD }, editor);
      expect(v).toMatchObject({ model: 'delay', version: 1, stage: 'None', aliases: [], createdBy: 'ed', source: { kind: 'run', runId: run.id, artifactPath: 'model/model.onnx' } });
      const runFiles = await platform.tracking.listArtifacts(run.id, 'model');
      const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
      expect([...v.artifacts].sort(byPath)).toEqual(runFiles.map((a) => ({ path: a.path.slice('model/'.length), digest: a.digest, size: a.size })).sort(byPath));
      expect(v.modelDigest).toBe(runFiles.find((a) => a.path === 'model/model.onnx')!.digest);
      expect(v.signature.inputs).toEqual([
        { name: 'dep_hour', type: 'float64', shape: ['N', 1] },
        { name: 'distance', type: 'float64', shape: ['N', 1] },
      ]);
      expect(v.signature).toMatchObject({ producer: 'cairn', modelType: 'linear', cairn: { task: 'binary', label: 'delayed' } });
      const hash = (await platform.features.trainingSets.get('flights_jan', 1)).contentHash;
      expect(v.lineage).toEqual({
        runId: run.id,
        dataset: { ref: 'flights_jan@1', contentHash: hash },
        featureSet: null,
        features: ['dep_hour@1', 'distance@1'],
        trainer: 'linear',
        params: { trainer: 'linear', l2: '0.5' },
        codeVersion: 'abc123',
        parent: null,
      });
      expect(v.metrics).toMatchObject({ valid_auc: 0.71, valid_log_loss: 0.52 });
      expect(v.card).toMatchObject({ revision: 1, status: 'pending', current: true, complete: false });
      expect(v.card.missing).toEqual(['card.limitations', 'card.ethicalConsiderations', 'card.owners', 'card.license']);
      // The run's final metrics fill the card; timings stay off it.
      expect(v.card.card.quantitativeAnalysis.performanceMetrics).toEqual([
        { type: 'train_auc', value: 0.74, slice: 'training', source: 'run' },
        { type: 'valid_auc', value: 0.71, slice: 'validation', source: 'run' },
        { type: 'valid_log_loss', value: 0.52, slice: 'validation', source: 'run' },
      ]);
      expect(v.card.card.modelParameters).toMatchObject({
        modelArchitecture: 'linear model (linear)',
        data: { training: { description: MINIMAL_CARD.trainingData, dataset: { ref: 'flights_jan@1', contentHash: hash } } },
        inputFormat: 'dep_hour (numeric), distance (numeric)',
        outputFormat: 'probability that delayed is true (binary classification)',
      });
      expect(published.at(-1)).toMatchObject({ type: 'model_version.created', payload: { model: 'delay', version: 1, features: ['dep_hour@1', 'distance@1'] } });
    });

    it('numbers versions 1, 2, 3 per model', async () => {
      expect((await register('delay')).version).toBe(2);
      expect((await register('delay')).version).toBe(3);
      expect((await register('churn')).version).toBe(1);
      expect((await registry.getModel('delay')).latestVersion).toBe(3);
      const page = await registry.listVersions('delay', { limit: 2 });
      expect(page.items.map((x) => x.version)).toEqual([3, 2]);
      expect((await registry.listVersions('delay', { limit: 2, cursor: page.nextCursor! })).items.map((x) => x.version)).toEqual([1]);
    });

    it('refuses a registration without the required card fields, naming each', async () => {
      const run = await handmadeRun(platform);
      const before = (await platform.events.list({ types: [], after: 0, limit: 1000 })).length;
      const none = await rejection(registry.registerVersion('delay', { runId: run.id, card: {} }, editor));
      expect(none.code).toBe('VALIDATION_FAILED');
      expect(paths(none)).toEqual(['card.description', 'card.intendedUse', 'card.trainingData']);
      expect(none.message).toContain('card.intendedUse: required: what the model is meant to be used for');
      const blank = await rejection(registry.registerVersion('delay', { runId: run.id, card: { ...MINIMAL_CARD, description: '  ', intendedUse: [] } }, editor));
      expect(paths(blank)).toEqual(['card.description', 'card.intendedUse']);
      expect(paths(await rejection(registry.registerVersion('delay', { runId: run.id } as never, editor)))).toEqual(['card']);
      // Refused writes change nothing: no version, no event.
      expect((await registry.getModel('delay')).latestVersion).toBe(3);
      expect((await platform.events.list({ types: [], after: 0, limit: 1000 })).length).toBe(before);
    });

    it('refuses unknown, running or model-less runs and non-ONNX artifacts, each under its field', async () => {
      const running = await handmadeRun(platform, { end: false });
      const e1 = await rejection(registry.registerVersion('delay', { runId: 'run_nope', card: MINIMAL_CARD }, editor));
      expect(e1.details.errors).toEqual([{ path: 'runId', reason: 'run run_nope not found' }]);
      const e2 = await rejection(registry.registerVersion('delay', { runId: running.id, card: MINIMAL_CARD }, editor));
      expect(e2.details.errors).toEqual([{ path: 'runId', reason: `run ${running.id} is running: only a finished run's model can be registered` }]);
      const done = await handmadeRun(platform);
      const e3 = await rejection(registry.registerVersion('delay', { runId: done.id, artifactPath: 'model/other.onnx', card: { description: 'x' } }, editor));
      expect(paths(e3)).toEqual(['card.intendedUse', 'card.trainingData', 'artifactPath']);
      const bogus = await handmadeRun(platform, { onnx: Buffer.from('not a model at all') });
      const e4 = await rejection(registry.registerVersion('delay', { runId: bogus.id, card: MINIMAL_CARD }, editor));
      expect(paths(e4)).toEqual(['artifactPath']);
      expect(e4.message).toMatch(/^artifactPath: /);
      const e5 = await rejection(registry.registerVersion('delay', { runId: done.id, file: `sha256:${'0'.repeat(64)}`, card: MINIMAL_CARD }, editor));
      expect(paths(e5)).toEqual(['file']);
      expect(await rejection(registry.registerVersion('nope', { runId: done.id, card: MINIMAL_CARD }, editor))).toMatchObject({ code: 'MODEL_NOT_FOUND' });
      expect(await rejection(registry.registerVersion('delay', { runId: done.id, card: MINIMAL_CARD }, viewer))).toMatchObject({ code: 'FORBIDDEN' });
    });

    it('registers an uploaded ONNX file of any framework, with stated lineage', async () => {
      await registry.createModel({ name: 'doubler' }, editor);
      const bad = await rejection(registry.uploadFile('doubler', Buffer.from('{"not": "onnx"}'), editor));
      expect(bad).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(paths(bad)).toEqual(['file']);
      const file = await registry.uploadFile('doubler', foreignOnnx(), editor);
      expect(file.signature).toEqual({
        inputs: [{ name: 'X', type: 'float32', shape: ['N', 2] }],
        outputs: [{ name: 'Y', type: 'float32', shape: ['N', 2] }],
        cairn: null,
        producer: 'skl2onnx',
        modelType: null,
      });
      const refused = await rejection(
        registry.registerVersion('doubler', { file: file.digest, lineage: { dataset: 'flights_jan@9', features: ['dep_hour@1', 'nope@1'] }, card: MINIMAL_CARD }, editor),
      );
      expect(refused.details.errors).toEqual([
        { path: 'lineage.dataset', reason: 'dataset version flights_jan@9 not found' },
        { path: 'lineage.features[1]', reason: 'feature version nope@1 not found' },
      ]);
      const v = await registry.registerVersion(
        'doubler',
        { file: file.digest, lineage: { dataset: 'flights_jan@1', features: ['dep_hour@1'], trainer: 'sklearn', params: { alpha: 0.1 }, codeVersion: 'def456' }, parent: 'delay@1', card: MINIMAL_CARD },
        editor,
      );
      expect(v).toMatchObject({ version: 1, source: { kind: 'upload', digest: file.digest }, modelDigest: file.digest, artifacts: [{ path: 'model.onnx', digest: file.digest, size: file.size }] });
      expect(v.lineage).toMatchObject({ runId: null, dataset: { ref: 'flights_jan@1', contentHash: expect.stringMatching(/^sha256:/) }, trainer: 'sklearn', params: { alpha: '0.1' }, parent: { model: 'delay', version: 1 } });
      expect(v.card.card.modelParameters.inputFormat).toBe('X: float32 [N, 2]');
      expect(paths(await rejection(registry.registerVersion('doubler', { file: file.digest, parent: 'delay@99', card: MINIMAL_CARD }, editor)))).toEqual(['parent']);
    });
  });

  describe('stages', () => {
    it('records who, when, from, to and why; only the stage changes', async () => {
      tick();
      const before = await registry.getVersion('delay', 1);
      const { version, transitions } = await registry.transition('delay', 1, { stage: 'staging', comment: 'shadow traffic first' }, editor);
      expect(version).toMatchObject({ stage: 'Staging', stageUpdatedAt: clock.now().toISOString() });
      expect(transitions).toEqual([
        { id: expect.any(Number), model: 'delay', version: 1, from: 'None', to: 'Staging', comment: 'shadow traffic first', automatic: false, at: clock.now().toISOString(), actor: 'ed' },
      ]);
      const { stage: _s, stageUpdatedAt: _u, ...unchanged } = before;
      expect(await registry.getVersion('delay', 1)).toMatchObject(unchanged);
      expect(await rejection(registry.transition('delay', 1, { stage: 'Staging' }, editor))).toMatchObject({ code: 'CONFLICT', message: 'version 1 of delay is already in Staging' });
      expect(paths(await rejection(registry.transition('delay', 1, { stage: 'live' }, editor)))).toEqual(['stage']);
    });

    it('lets only approvers move a version into Production', async () => {
      const denied = await rejection(registry.transition('delay', 1, { stage: 'Production' }, editor));
      expect(denied).toMatchObject({ code: 'FORBIDDEN', message: 'moving a model version to Production needs the approver role; ed has editor', details: { requiredRole: 'approver' } });
    });

    it('keeps a version with an incomplete or unapproved card out of Production, saying what is missing', async () => {
      const incomplete = await rejection(registry.transition('delay', 1, { stage: 'Production' }, approver));
      expect(incomplete).toMatchObject({ code: 'CARD_INCOMPLETE', details: { revision: 1, missing: ['card.limitations', 'card.ethicalConsiderations', 'card.owners', 'card.license'] } });
      expect(incomplete.httpStatus).toBe(409);
      expect(incomplete.message).toBe(
        'version 1 of delay cannot move to Production: its card (revision 1) is incomplete, missing card.limitations, card.ethicalConsiderations, card.owners, card.license',
      );
      await registry.cards.edit('delay', 1, { limitations: 'one month of data', ethicalConsiderations: 'scheduling pressure', owners: 'Ada', license: 'MIT' }, editor);
      const unapproved = await rejection(registry.transition('delay', 1, { stage: 'Production' }, approver));
      expect(unapproved).toMatchObject({ code: 'CARD_NOT_APPROVED', details: { revision: 2, status: 'pending' } });
      expect(unapproved.message).toBe('version 1 of delay cannot move to Production: revision 2 of its card has not been approved; an approver must approve it');
      await registry.cards.review('delay', 1, 'rejected', { comment: 'name the airports it does not know' }, approver);
      const rejected = await rejection(registry.transition('delay', 1, { stage: 'Production' }, approver));
      expect(rejected.message).toContain('revision 2 of its card was rejected by april: name the airports it does not know');
      expect((await registry.getVersion('delay', 1)).stage).toBe('Staging');
    });

    it('promotes an approved version and archives the previous Production version', async () => {
      await registry.cards.edit('delay', 1, { limitations: ['one month of data', 'unknown airports: all but ATL, BOS, DEN, SFO'] }, editor);
      await registry.cards.review('delay', 1, 'approved', { revision: 3, comment: 'fine now' }, approver);
      tick();
      const first = await registry.transition('delay', 1, { stage: 'Production', comment: 'go' }, approver);
      expect(first.version.stage).toBe('Production');
      expect((await registry.getByStage('delay', 'production')).version).toBe(1);

      const v2 = await register('delay', COMPLETE_CARD);
      await registry.cards.review('delay', v2.version, 'approved', {}, approver);
      tick();
      const second = await registry.transition('delay', v2.version, { stage: 'Production' }, approver);
      expect(second.transitions.map((t) => [t.version, t.from, t.to, t.automatic])).toEqual([
        [v2.version, 'None', 'Production', false],
        [1, 'Production', 'Archived', true],
      ]);
      expect(second.transitions[1]!.comment).toBe(`archived: version ${v2.version} moved to Production`);
      expect((await registry.getVersion('delay', 1)).stage).toBe('Archived');
      expect((await registry.getByStage('delay', 'Production')).version).toBe(v2.version);
      const moved = published.filter((e) => e.type === 'model_version.transitioned').slice(-2);
      expect(moved.map((e) => [e.payload.version, e.payload.to, e.payload.automatic])).toEqual([
        [v2.version, 'Production', false],
        [1, 'Archived', true],
      ]);
    });

    it('keeps the previous Production version when asked, and serves the newest promotion', async () => {
      const current = (await registry.getByStage('delay', 'Production')).version;
      const v = await promoted('delay', { archiveExisting: false });
      expect((await registry.listVersions('delay', { stage: 'Production' })).items.map((x) => x.version)).toEqual([v, current]);
      expect((await registry.getByStage('delay', 'production')).version).toBe(v);
      // An archived version can come back (a rollback) with its approved card.
      tick();
      await registry.transition('delay', 1, { stage: 'Production', comment: 'rollback' }, approver);
      expect((await registry.listVersions('delay', { stage: 'Production' })).items.map((x) => x.version)).toEqual([1]);
    });

    it('lets only approvers move a version out of Production', async () => {
      const denied = await rejection(registry.transition('delay', 1, { stage: 'Archived' }, editor));
      expect(denied.message).toBe('moving a model version out of Production needs the approver role; ed has editor');
    });

    it("lists every model's Production version, and the full history of transitions", async () => {
      await promoted('churn');
      const all = await registry.productionVersions({});
      expect(all.items.map((x) => `${x.model}@${x.version}`)).toEqual(['churn@2', 'delay@1']);
      const paged = await registry.productionVersions({ limit: 1 });
      expect((await registry.productionVersions({ limit: 1, cursor: paged.nextCursor! })).items.map((x) => x.model)).toEqual(['delay']);
      const history = await registry.history('delay', {});
      expect(history.items.map((t) => `${t.version}:${t.from}->${t.to}`)).toEqual([
        '1:None->Staging',
        '1:Staging->Production',
        '4:None->Production',
        '1:Production->Archived',
        '5:None->Production',
        '1:Archived->Production',
        '4:Production->Archived',
        '5:Production->Archived',
      ]);
      const page = await registry.history('delay', { version: 1, limit: 2 });
      expect(page.items.map((t) => t.to)).toEqual(['Staging', 'Production']);
      expect((await registry.history('delay', { version: 1, cursor: page.nextCursor! })).items.map((t) => t.to)).toEqual(['Archived', 'Production']);
      expect(await rejection(registry.getByStage('doubler', 'Production'))).toMatchObject({ code: 'MODEL_VERSION_NOT_FOUND', message: 'model doubler has no version in Production' });
    });
  });

  describe('aliases', () => {
    it('points, moves and deletes aliases: one alias names one version', async () => {
      const set = await registry.setAlias('delay', 'champion', 1, editor);
      expect(set).toMatchObject({ model: 'delay', alias: 'champion', version: 1, updatedBy: 'ed' });
      await registry.setAlias('delay', 'challenger', 2, editor);
      expect((await registry.getByAlias('delay', 'champion')).version).toBe(1);
      await registry.setAlias('delay', 'champion', 2, editor);
      expect(published.at(-1)).toMatchObject({ type: 'model_version.alias_set', payload: { alias: 'champion', version: 2, previousVersion: 1 } });
      expect((await registry.getVersion('delay', 2)).aliases).toEqual(['challenger', 'champion']);
      expect((await registry.getVersion('delay', 1)).aliases).toEqual([]);
      expect((await registry.listAliases('delay')).map((a) => `${a.alias}→${a.version}`)).toEqual(['challenger→2', 'champion→2']);
      expect((await registry.deleteAlias('delay', 'challenger', editor)).version).toBe(2);
      expect(await rejection(registry.getByAlias('delay', 'challenger'))).toMatchObject({ code: 'ALIAS_NOT_FOUND' });
      expect(await rejection(registry.deleteAlias('delay', 'challenger', editor))).toMatchObject({ code: 'ALIAS_NOT_FOUND' });
    });

    it('refuses bad or reserved names, unknown versions and viewers', async () => {
      expect((await rejection(registry.setAlias('delay', '1st', 1, editor))).details.errors).toEqual([
        { path: 'alias', reason: 'must start with a lowercase letter and hold only a-z, 0-9, _ and - (at most 64), e.g. champion' },
      ]);
      expect((await rejection(registry.setAlias('delay', 'production', 1, editor))).details.errors).toEqual([
        { path: 'alias', reason: 'production is reserved (stage names and latest cannot be aliases)' },
      ]);
      expect(await rejection(registry.setAlias('delay', 'x', 99, editor))).toMatchObject({ code: 'MODEL_VERSION_NOT_FOUND' });
      expect(await rejection(registry.setAlias('delay', 'x', 1, viewer))).toMatchObject({ code: 'FORBIDDEN' });
    });
  });

  describe('model cards', () => {
    it('makes every edit a new revision and keeps the earlier ones readable', async () => {
      const v = await register('delay');
      const edited = await registry.cards.edit('delay', v.version, { caveats: 'beta', license: 'MIT' }, editor);
      expect(edited).toMatchObject({ revision: 2, status: 'pending', created: true, createdBy: 'ed' });
      expect(edited.card.considerations.caveats).toEqual(['beta']);
      expect((await registry.cards.get('delay', v.version, 1)).card.considerations.caveats).toEqual([]);
      const again = await registry.cards.edit('delay', v.version, { caveats: ['beta'] }, editor);
      expect(again).toMatchObject({ revision: 2, created: false });
      const cleared = await registry.cards.edit('delay', v.version, { license: null }, editor);
      expect(cleared.card.modelDetails.license).toBeNull();
      expect((await registry.cards.revisions('delay', v.version)).map((r) => [r.revision, r.current])).toEqual([
        [1, false],
        [2, false],
        [3, true],
      ]);
      expect((await registry.getVersion('delay', v.version)).card.revision).toBe(3);
      expect(paths(await rejection(registry.cards.edit('delay', v.version, { description: null, colour: 'red' } as never, editor)))).toEqual([
        'card.colour',
        'card.description',
      ]);
      expect(await rejection(registry.cards.get('delay', v.version, 9))).toMatchObject({ code: 'NOT_FOUND' });
      expect(await rejection(registry.cards.edit('delay', v.version, { caveats: 'x' }, viewer))).toMatchObject({ code: 'FORBIDDEN' });
    });

    it('merges hand-written metrics over the run\'s, and checks each', async () => {
      const v = await register('delay');
      const r = await registry.cards.edit('delay', v.version, { performanceMetrics: [{ type: 'valid_auc', value: 0.69, slice: 'validation' }, { type: 'auc', value: 0.7, slice: 'ATL only' }] }, editor);
      expect(r.card.quantitativeAnalysis.performanceMetrics).toEqual([
        { type: 'train_auc', value: 0.74, slice: 'training', source: 'run' },
        { type: 'valid_log_loss', value: 0.52, slice: 'validation', source: 'run' },
        { type: 'valid_auc', value: 0.69, slice: 'validation', source: 'user' },
        { type: 'auc', value: 0.7, slice: 'ATL only', source: 'user' },
      ]);
      const bad = await rejection(registry.cards.edit('delay', v.version, { performanceMetrics: [{ type: '', value: Number.NaN }], owners: [{ name: '' }] } as never, editor));
      expect(paths(bad)).toEqual(['card.performanceMetrics[0].type', 'card.performanceMetrics[0].value', 'card.owners[0].name']);
    });

    it('needs a new approval after an edit, and refuses stale or incomplete approvals', async () => {
      const v = await register('delay', COMPLETE_CARD);
      const approvedByEditor = await rejection(registry.cards.review('delay', v.version, 'approved', {}, editor));
      expect(approvedByEditor.message).toBe('approving a model card needs the approver role; ed has editor');
      // Four eyes: with a token, the revision's author cannot approve it, another approver can.
      const author: Actor = { user: 'ed', role: 'approver', tokenId: 'tok_ed' };
      expect(await rejection(registry.cards.review('delay', v.version, 'approved', {}, author))).toMatchObject({
        code: 'FORBIDDEN',
        message: `ed wrote revision 1 of the card of delay version ${v.version}: another approver must approve it`,
      });
      const { review, card } = await registry.cards.review('delay', v.version, 'approved', { revision: 1, comment: 'ok' }, { ...approver, tokenId: 'tok_april' });
      expect(review).toMatchObject({ revision: 1, decision: 'approved', comment: 'ok', actor: 'april', at: clock.now().toISOString() });
      expect(card.status).toBe('approved');
      await registry.cards.edit('delay', v.version, { caveats: 'changed after approval' }, editor);
      expect((await registry.getVersion('delay', v.version)).card).toMatchObject({ revision: 2, status: 'pending' });
      expect((await registry.cards.get('delay', v.version, 1)).status).toBe('approved');
      expect(await rejection(registry.transition('delay', v.version, { stage: 'Production' }, approver))).toMatchObject({ code: 'CARD_NOT_APPROVED' });
      expect(await rejection(registry.cards.review('delay', v.version, 'approved', { revision: 1 }, approver))).toMatchObject({
        code: 'CONFLICT',
        details: { revision: 1, currentRevision: 2 },
      });
      expect(paths(await rejection(registry.cards.review('delay', v.version, 'rejected', {}, approver)))).toEqual(['comment']);
      const incomplete = await register('delay');
      expect(await rejection(registry.cards.review('delay', incomplete.version, 'approved', {}, approver))).toMatchObject({ code: 'CARD_INCOMPLETE' });
      await registry.cards.review('delay', v.version, 'rejected', { comment: 'say more' }, approver);
      expect((await registry.cards.reviews('delay', v.version)).map((r) => [r.revision, r.decision, r.actor])).toEqual([
        [1, 'approved', 'april'],
        [2, 'rejected', 'april'],
      ]);
    });

    it('renders Markdown and HTML with lineage and metrics, escaping user text', async () => {
      const v = await register('delay', { ...COMPLETE_CARD, caveats: '<script>alert(1)</script> & more', references: ['https://example.com/paper', 'javascript:alert(1)'] });
      const md = await registry.cards.render('delay', v.version, 'md');
      expect(md).toMatch(/^# Model card: delay version \d+\n/);
      expect(md).toContain('| valid_auc | validation | 0.71 | run |');
      expect(md).toContain('| `dep_hour@1` | flight | `hour(date)` | - |');
      expect(md).toContain('- **Dataset:** `flights_jan@1 sha256:');
      expect(md).toContain('- **Trainer:** linear');
      expect(md).toContain('- \\<script>alert(1)\\</script> & more');
      const html = await registry.cards.render('delay', v.version, 'html');
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).not.toContain('<script>');
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; more');
      expect(html).toContain('<a href="https://example.com/paper"');
      expect(html).not.toContain('href="javascript:');
      expect(html).toContain('<code>hour(date)</code>');
    });
  });

  describe('lineage', () => {
    it('traces a version back to its run, dataset version and feature definitions', async () => {
      const l = await registry.lineage('delay', 1);
      expect(l.run).toMatchObject({ experiment: 'registry-tests', status: 'finished', author: 'root' });
      expect(l.dataset).toMatchObject({ ref: 'flights_jan@1', name: 'flights_jan', version: 1, contentHash: expect.stringMatching(/^sha256:/), found: true });
      expect(l.dataset!.rowCount).toBeGreaterThan(0);
      expect(l.features).toEqual([
        expect.objectContaining({ ref: 'dep_hour@1', entity: 'flight', expression: 'hour(date)', valueType: 'int64', description: 'hour of departure', found: true }),
        expect.objectContaining({ ref: 'distance@1', entity: 'flight', expression: 'distance', found: true }),
      ]);
      expect(l).toMatchObject({ trainer: 'linear', params: { l2: '0.5' }, codeVersion: 'abc123', metrics: { valid_auc: 0.71 } });
    });

    it('finds every model version using a feature or dataset version', async () => {
      const byFeature = await registry.versionsUsingFeature('dep_hour', 1);
      expect(byFeature.map((x) => `${x.model}@${x.version}`)).toContain('doubler@1');
      expect(byFeature.filter((x) => x.model === 'delay').map((x) => x.version)).toEqual(Array.from({ length: (await registry.getModel('delay')).latestVersion }, (_, i) => i + 1));
      expect((await registry.versionsUsingFeature('distance', 1)).some((x) => x.model === 'doubler')).toBe(false);
      expect((await registry.versionsUsingDataset('flights_jan', 1)).length).toBe(byFeature.length);
      expect(await rejection(registry.versionsUsingFeature('dep_hour', 7))).toMatchObject({ code: 'FEATURE_VERSION_NOT_FOUND' });
      expect(await rejection(registry.versionsUsingDataset('flights_jan', 7))).toMatchObject({ code: 'DATASET_NOT_FOUND' });
    });
  });

  describe('events', () => {
    it('stores every registry event durably, in order, and publishes each with its sequence number', async () => {
      const stored = await platform.events.list({ types: [], after: 0, limit: 1000 });
      const types = new Set(stored.map((e) => e.type));
      for (const t of ['model.created', 'model.updated', 'model_version.created', 'model_version.transitioned', 'model_version.alias_set', 'model_version.alias_deleted', 'model_card.revised', 'model_card.approved', 'model_card.rejected']) {
        expect(types).toContain(t);
      }
      const registryPublished = published.filter((e) => e.seq !== undefined);
      expect(registryPublished.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
      expect(registryPublished.map((e) => e.type)).toEqual(stored.map((e) => e.type));
      const approvals = await platform.events.list({ types: ['model_card.approved'], after: 0, limit: 2 });
      expect(approvals.length).toBe(3); // limit + 1: a next page exists
      const next = await platform.events.list({ types: ['model_card.approved'], after: approvals[1]!.seq, limit: 100 });
      expect(next[0]!.seq).toBe(approvals[2]!.seq);
      expect(next.every((e) => e.type === 'model_card.approved' && e.actor === 'april')).toBe(true);
    });
  });

  describe('a model trained by the platform', () => {
    it('registers straight from a training run, with its features, trainer and metrics', async () => {
      const run = await platform.training.start(
        { experiment: 'trained', trainer: 'gbdt', dataset: seeded.dataset, label: 'delayed', features: ['dep_hour', 'distance'], params: { n_trees: 5, max_leaves: 4 } },
        editor,
      );
      const outcome = await platform.training.wait(run.id);
      expect(outcome?.error).toBeNull();
      await registry.createModel({ name: 'delay-gbdt' }, editor);
      const v = await registry.registerVersion('delay-gbdt', { runId: run.id, card: MINIMAL_CARD, parent: 'delay@1' }, editor);
      expect(v.artifacts.map((a) => a.path).sort()).toEqual(['feature_importance.json', 'model.json', 'model.onnx', 'profile.json', 'signature.json']);
      expect(v.lineage).toMatchObject({ trainer: 'gbdt', features: seeded.features, dataset: { ref: seeded.dataset }, parent: { model: 'delay', version: 1 } });
      expect(v.card.card.modelParameters.modelArchitecture).toBe('gradient-boosted decision trees (gbdt)');
      expect(v.card.card.quantitativeAnalysis.performanceMetrics.map((m) => m.type)).toEqual(expect.arrayContaining(['valid_auc', 'valid_log_loss']));
      expect(await registry.versionsUsingFeature('distance', 1)).toContainEqual(expect.objectContaining({ model: 'delay-gbdt', version: 1 }));
      // The uploaded Cairn export is the same model: a second registration path, same signature.
      const file = await registry.uploadFile('delay-gbdt', linearOnnx(), editor);
      expect(file.signature.cairn?.label).toBe('delayed');
      await rejection(registry.uploadFile('delay-gbdt', linearOnnx(), viewer)).then((e) => expect(e.code).toBe('FORBIDDEN'));
    });
  });
});
