/**
 * The SDK's model registry against a real server in this process: the whole path of a model from
 * an upload to Production and back, the server's errors as CairnErrors, downloads checked by
 * sha256, and the event log read in pages.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient, CairnError } from '../../src/sdk/index.js';
import { startTestServer, type TestServer } from '../support/platform.js';
import { COMPLETE_CARD, MINIMAL_CARD, foreignOnnx, handmadeRun, linearOnnx, seedFeatureStore } from '../support/registry.js';

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

describe('client.models, client.lineage and client.events', () => {
  let server: TestServer;
  let client: CairnClient;

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    client = new CairnClient({ url: `http://127.0.0.1:${(server.app.server.address() as net.AddressInfo).port}` });
    await seedFeatureStore(server.platform, server.home);
  });
  afterAll(async () => server?.close());

  it('takes a model from upload to Production with a reviewed card', async () => {
    await client.models.create({ name: 'delay', tags: { team: 'ops' } });
    expect(await client.models.update('delay', { description: 'delay risk' })).toMatchObject({ description: 'delay risk', tags: { team: 'ops' } });
    expect((await client.models.list()).items.map((m) => m.name)).toEqual(['delay']);
    const v = await client.models.upload('delay', linearOnnx(), { lineage: { dataset: 'flights_jan@1', features: ['dep_hour@1', 'distance@1'] }, card: COMPLETE_CARD });
    expect(v).toMatchObject({ version: 1, signature: { cairn: { label: 'delayed' } }, card: { complete: true, status: 'pending' } });
    const edited = await client.models.editCard('delay', 1, { caveats: ['beta'] });
    expect(edited).toMatchObject({ revision: 2, created: true });
    await client.models.approve('delay', 1, { revision: 2, comment: 'ok' });
    const { transitions } = await client.models.transition('delay', 1, { stage: 'Production' });
    expect(transitions.map((t) => t.to)).toEqual(['Production']);
    expect((await client.models.byStage('delay', 'Production')).version).toBe(1);
    expect((await client.models.cardRevisions('delay', 1)).map((r) => [r.revision, r.status])).toEqual([
      [1, 'pending'],
      [2, 'approved'],
    ]);
    expect((await client.models.reviews('delay', 1)).map((r) => r.comment)).toEqual(['ok']);
    expect((await client.models.card('delay', 1, 1)).card.considerations.caveats).toEqual([]);
    expect(await client.models.renderCard('delay', 1, 'html')).toContain('<h1>Model card: delay version 1</h1>');
  });

  it('registers from a run and from a file on disk, and downloads files checked by sha256', async () => {
    const run = await handmadeRun(server.platform);
    const fromRun = await client.models.register('delay', { runId: run.id, card: MINIMAL_CARD, parent: 'delay@1' });
    expect(fromRun.lineage).toMatchObject({ runId: run.id, parent: { model: 'delay', version: 1 } });
    const onDisk = path.join(server.home, 'foreign.onnx');
    fs.writeFileSync(onDisk, foreignOnnx());
    const file = await client.models.uploadFile('delay', onDisk);
    expect(file.digest).toBe(`sha256:${createHash('sha256').update(foreignOnnx()).digest('hex')}`);
    const target = path.join(server.home, 'profile.json');
    const got = await client.models.downloadArtifact('delay', fromRun.version, 'profile.json', target);
    expect(got.sha256).toBe(fromRun.artifacts.find((a) => a.path === 'profile.json')!.digest.slice('sha256:'.length));
    expect(JSON.parse(fs.readFileSync(target, 'utf8'))).toMatchObject({ rows: 576 });
    expect((await client.lineage.datasetModels('flights_jan', 1)).map((x) => x.version)).toEqual([1, 2]);
    expect((await client.lineage.featureModels('distance', 1)).map((x) => x.version)).toEqual([1, 2]);
  });

  it("rebuilds the server's errors, with their codes and fields", async () => {
    const missing = await rejection(client.models.register('delay', { file: 'sha256:nope', card: {} }));
    expect(missing.code).toBe('VALIDATION_FAILED');
    expect((missing.details.errors as { path: string }[]).map((e) => e.path)).toEqual(['card.description', 'card.intendedUse', 'card.trainingData', 'file']);
    expect(await rejection(client.models.byAlias('delay', 'champion'))).toMatchObject({ code: 'ALIAS_NOT_FOUND' });
    expect(await rejection(client.models.transition('delay', 2, { stage: 'Production' }))).toMatchObject({ code: 'CARD_INCOMPLETE', details: { revision: 1 } });
    expect(await rejection(client.models.version('nope', 1))).toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });

  it('reads the event log a page at a time', async () => {
    const first = await client.events.list({ limit: 3 });
    expect(first).toMatchObject({ hasMore: true, items: [{ type: 'model.created' }, { type: 'model.updated' }, { type: 'model_version.created' }] });
    const rest = await client.events.list({ after: first.lastSeq, limit: 1000 });
    expect(rest.hasMore).toBe(false);
    expect(rest.items.map((e) => e.type)).toContain('model_version.transitioned');
    expect((await client.events.list({ types: ['model_card.approved'] })).items).toEqual([expect.objectContaining({ actor: 'tester', payload: expect.objectContaining({ revision: 2 }) })]);
  });
});
