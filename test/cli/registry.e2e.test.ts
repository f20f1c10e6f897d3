/**
 * `cairn models`, `cairn lineage` and `cairn events` as a user runs them: bin/cairn.js in a child
 * process against a server in this process, whose feature store and runs are seeded directly.
 * Each case checks what only a real process shows: tables, exit codes, files written.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCairn } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/platform.js';
import { foreignOnnx, handmadeRun, seedFeatureStore } from '../support/registry.js';

describe('cairn models, lineage and events', () => {
  let server: TestServer;
  let url: string;
  let runId: string;
  let dir: string;
  const cairn = (...args: string[]) => runCairn(['--url', url, ...args]);
  const lines = (text: string) => text.trimEnd().split('\n');

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    dir = server.home;
    await seedFeatureStore(server.platform, dir);
    runId = (await handmadeRun(server.platform)).id;
    fs.writeFileSync(path.join(dir, 'card.json'), JSON.stringify({ description: 'Flight delay risk.', intendedUse: ['Ops dashboard'], trainingData: 'January 2001 flights' }));
    fs.writeFileSync(path.join(dir, 'foreign.onnx'), foreignOnnx());
    fs.writeFileSync(path.join(dir, 'bogus.onnx'), 'not onnx');
  });
  afterAll(async () => server?.close());

  it('creates a model and refuses a registration whose card misses required fields, naming them', async () => {
    const created = await cairn('models', 'create', 'delay', '--description', 'delay risk', '--tag', 'team=ops');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(/^model:\s+delay$/m);
    const refused = await cairn('models', 'register', 'delay', '--run', runId, '--description', 'x');
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(lines(refused.stderr).slice(1)).toEqual([
      '  card.intendedUse: required: what the model is meant to be used for',
      '  card.trainingData: required: what data the model was trained on',
    ]);
  });

  it('registers from a run with a card file, and from an uploaded ONNX file with lineage', async () => {
    const fromRun = await cairn('models', 'register', 'delay', '--run', runId, '--card-file', path.join(dir, 'card.json'), '--set', 'license=MIT');
    expect(fromRun.code).toBe(0);
    expect(fromRun.stdout).toMatch(/^version:\s+1$/m);
    expect(fromRun.stdout).toMatch(/^features:\s+dep_hour@1, distance@1$/m);
    expect(fromRun.stdout).toMatch(/^valid_auc\s+validation\s+0\.71$/m);
    const uploaded = await cairn(
      'models', 'upload', 'delay', '--file', path.join(dir, 'foreign.onnx'), '--card-file', path.join(dir, 'card.json'),
      '--dataset', 'flights_jan@1', '--feature', 'dep_hour@1', '--trainer', 'sklearn', '--param', 'alpha=0.1', '--json',
    );
    expect(uploaded.code).toBe(0);
    expect(JSON.parse(uploaded.stdout)).toMatchObject({ version: 2, source: { kind: 'upload' }, lineage: { trainer: 'sklearn', params: { alpha: '0.1' }, features: ['dep_hour@1'] } });
    const bogus = await cairn('models', 'upload', 'delay', '--file', path.join(dir, 'bogus.onnx'), '--card-file', path.join(dir, 'card.json'));
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/^ {2}file: it does not decode as an ONNX ModelProto/m);
    const versions = await cairn('models', 'versions', 'delay');
    expect(lines(versions.stdout)[0]!.split(/\s+/)).toEqual(['version', 'stage', 'aliases', 'card', 'source', 'created', 'by']);
    expect(lines(versions.stdout).slice(1).map((l) => l.trim().split(/\s+/).slice(0, 4))).toEqual([
      ['2', 'None', '-', 'r1'],
      ['1', 'None', '-', 'r1'],
    ]);
  });

  it('keeps a version with an incomplete card out of Production until it is complete and approved', async () => {
    const incomplete = await cairn('models', 'transition', 'delay', '1', 'production');
    expect(incomplete.code).toBe(2);
    expect(incomplete.stderr).toBe(
      'error: version 1 of delay cannot move to Production: its card (revision 1) is incomplete, missing card.limitations, card.ethicalConsiderations, card.owners\n',
    );
    const edit = await cairn('models', 'card-edit', 'delay', '1', '--set', 'limitations=one month', '--set', 'limitations=four airports', '--set', 'ethicalConsiderations=scheduling pressure', '--set', 'owners=Ada');
    expect(edit).toMatchObject({ code: 0, stdout: 'revision 2 of the card of delay version 1 (pending review)\n' });
    expect((await cairn('models', 'reject', 'delay', '1')).stderr).toContain('  comment: required when rejecting');
    expect((await cairn('models', 'approve', 'delay', '1', '--revision', '2', '-m', 'ok')).stdout).toBe('revision 2 of the card of delay version 1: approved by tester\n');
    const promoted = await cairn('models', 'transition', 'delay', '1', 'production', '-m', 'go');
    expect(promoted.code).toBe(0);
    expect(lines(promoted.stdout)[1]).toMatch(/\s1\s+None\s+Production\s+tester\s+go$/);
    const shown = await cairn('models', 'get', 'delay', '--stage', 'production');
    expect(shown.stdout).toMatch(/^stage:\s+Production \(since /m);
    expect(shown.stdout).toMatch(/^card:\s+revision 2, approved, complete$/m);
  });

  it('sets and follows aliases, and shows history, lineage and every Production version', async () => {
    expect((await cairn('models', 'alias', 'delay', 'champion', '1')).stdout).toBe('delay@champion → version 1\n');
    expect(JSON.parse((await cairn('models', 'get', 'delay', '--alias', 'champion', '--json')).stdout)).toMatchObject({ version: 1, aliases: ['champion'] });
    expect((await cairn('models', 'alias', 'delay', 'champion', '--delete')).stdout).toBe('deleted champion (was version 1)\n');
    expect(await cairn('models', 'get', 'delay', '--alias', 'champion')).toMatchObject({ code: 2, stderr: 'error: model delay has no alias champion\n' });
    const history = await cairn('models', 'history', 'delay');
    expect(lines(history.stdout)).toHaveLength(2);
    const lineage = await cairn('models', 'lineage', 'delay', '1');
    expect(lineage.stdout).toMatch(/^dataset:\s+flights_jan@1, \d+ rows$/m);
    expect(lineage.stdout).toMatch(/^dep_hour@1\s+flight\s+int64\s+-\s+hour\(date\)$/m);
    const production = await cairn('models', 'production');
    expect(lines(production.stdout).slice(1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([['delay', '1']]);
  });

  it('prints the card as Markdown, writes it as HTML, and follows lineage forward', async () => {
    const md = await cairn('models', 'card', 'delay', '1');
    expect(md.stdout).toMatch(/^# Model card: delay version 1\n/);
    expect(md.stdout).toContain('## Lineage');
    const file = path.join(dir, 'card.html');
    const html = await cairn('models', 'card', 'delay', '1', '--revision', '1', '--format', 'html', '-o', file);
    expect(html).toMatchObject({ code: 0, stdout: '', stderr: `wrote ${file}\n` });
    expect(fs.readFileSync(file, 'utf8')).toContain('revision 1: pending review');
    const feature = await cairn('lineage', 'feature', 'dep_hour@1');
    expect(lines(feature.stdout).slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['delay', '1', 'Production'],
      ['delay', '2', 'None'],
    ]);
    expect((await cairn('lineage', 'dataset', 'flights_jan')).stderr).toContain('needs an explicit version');
    const events = await cairn('events', 'list', '--type', 'model_card.approved');
    expect(lines(events.stdout)[1]).toMatch(/model_card\.approved\s+tester\s+\{"model":"delay","version":1,"revision":2,"comment":"ok"\}$/);
  });
});
