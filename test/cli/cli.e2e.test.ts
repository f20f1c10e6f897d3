/**
 * The `cairn` CLI as a user runs it: bin/cairn.js in a child process, against a server started in
 * this process. Each spawn costs a few hundred ms, so each case checks what only a real process
 * shows: output streams, exit codes and the launcher itself.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '../../src/sdk/index.js';
import { tempDir } from '../support/backends.js';
import { CAIRN_BIN as BIN, runCairn } from '../support/cli.js';
import { startTestServer, type TestServer } from '../support/platform.js';


/** The environment of a user with no Cairn variables set, plus `env`. */
function userEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
  return { ...clean, ...env };
}

const cairn = runCairn;

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('cairn CLI', () => {
  let server: TestServer;
  let url: string;
  let sdk: CairnClient;
  let dataDir: string;
  /** `cairn --url <server> <args>` */
  const remote = (...args: string[]) => cairn(['--url', url, ...args]);

  beforeAll(async () => {
    server = await startTestServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as net.AddressInfo).port}`;
    sdk = new CairnClient({ url });
    dataDir = tempDir('cairn-cli-data-');
    fs.writeFileSync(path.join(dataDir, 'flights.csv'), 'flight_id,date,delay,origin\n1,2001-01-01 10:00:00,5,BOS\n2,2001-01-02 11:00:00,12,SFO\n');
  });

  afterAll(async () => {
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates an entity and lists it as JSON', async () => {
    const created = await remote('entities', 'create', 'flight', '--join-key', 'flight_id', '--description', 'one flight');
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^name:\s+flight$/m);
    expect(created.stdout).toMatch(/^join keys:\s+flight_id$/m);

    const listed = await remote('entities', 'list', '--json');
    expect(listed.code).toBe(0);
    const page = JSON.parse(listed.stdout) as { items: { name: string; joinKeys: string[]; createdBy: string }[]; nextCursor: null };
    expect(page.items).toEqual([expect.objectContaining({ name: 'flight', joinKeys: ['flight_id'], createdBy: 'tester' })]);
    expect(page.nextCursor).toBeNull();
  });

  it('prints each field of a validation failure and exits 2', async () => {
    const run = await remote('entities', 'create', 'Bad', '--join-key', '1x');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stderr).toMatch(/^ {2}name: must start with a lowercase letter/m);
    expect(run.stderr).toMatch(/^ {2}joinKeys\[0\]: must be a column name/m);
  });

  it('exits 2 for something that does not exist', async () => {
    const run = await remote('entities', 'get', 'nope');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('error: entity nope not found\n');
  });

  it('exits 1 when the server cannot be reached', async () => {
    const port = await closedPort();
    const run = await cairn(['--url', `http://127.0.0.1:${port}`, 'entities', 'list']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: cannot reach the Cairn server at http://127.0.0.1:${port}`);
    expect(run.stderr).toContain('cairn up');
  });

  it('parses feature uses and rows, materializes with progress and reads online values', async () => {
    await sdk.entities.create({ name: 'airport', joinKeys: ['airport'] });
    await sdk.sources.create({ name: 'flights', path: path.join(dataDir, 'flights.csv'), timestampColumn: 'date' });
    await sdk.features.create({ name: 'last_delay', entity: 'airport', source: 'flights', valueType: 'int64', expression: 'delay', keyColumns: { airport: 'origin' } });

    const set = await remote('feature-sets', 'create', 'inputs', '--feature', 'last_delay@1,airport=origin,as=origin_delay');
    expect(set.code).toBe(0);
    expect((await sdk.featureSets.get('inputs')).features).toEqual([{ ref: 'last_delay@1', joinOn: { airport: 'origin' }, as: 'origin_delay' }]);

    const run = await remote('materialize', '--features', 'last_delay@1', '--end', '2001-02-01T00:00:00Z');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^status:\s+succeeded$/m);
    expect(run.stdout).toMatch(/^keys:\s+2\/2$/m);

    const read = await remote('online', 'get', '--feature-set', 'inputs', '--row', 'origin=BOS', 'origin=SFO');
    expect(read.code).toBe(0);
    const [header, ...rows] = read.stdout.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['origin', 'origin_delay']);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['BOS', 'SFO']);

    const bad = await remote('online', 'get', '--feature', 'last_delay@1,airport', '--row', 'origin=BOS');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('  --feature: "airport" in "airport" is not joinKey=value');
  });

  it('creates a token in the metadata store of CAIRN_HOME and prints its secret once', async () => {
    const home = tempDir('cairn-cli-home-');
    try {
      const created = await cairn(['tokens', 'create', '--user', 'ana', '--role', 'editor'], { CAIRN_HOME: home, CAIRN_LOCAL_USER: 'ops' });
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/^secret:\s+cairn_[\w-]{20,}$/m);
      expect(created.stdout).toMatch(/^created:\s+\S+ by ops$/m);
      expect(created.stderr).toContain('not shown again');

      const listed = await cairn(['tokens', 'list', '--json'], { CAIRN_HOME: home });
      const { items } = JSON.parse(listed.stdout) as { items: Record<string, unknown>[] };
      expect(items).toEqual([expect.objectContaining({ user: 'ana', role: 'editor', revokedAt: null })]);
      expect(JSON.stringify(items)).not.toContain('cairn_');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses an invalid CAIRN_PORT with exit 78, naming the variable', async () => {
    const run = await cairn(['config'], { CAIRN_PORT: 'eighty' });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('CAIRN_PORT');
    expect(run.stderr).toContain('"eighty"');
  });

  it('refuses to start with auth off on a non-loopback address unless told to', async () => {
    const run = await cairn(['up'], { CAIRN_HOST: '0.0.0.0', CAIRN_HOME: dataDir });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('refusing to listen on 0.0.0.0 with auth off');
    expect(run.stderr).toContain('CAIRN_ALLOW_INSECURE_BIND');
  });

  it('exits 2 on an unknown command or option', async () => {
    const command = await cairn(['entitees', 'list']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("unknown command 'entitees'");
    const option = await cairn(['entities', 'list', '--colour']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("unknown option '--colour'");
  });

  it('runs the server with `up` and shuts it down gracefully on SIGTERM', async () => {
    const home = tempDir('cairn-cli-up-');
    const child = spawn(BIN, ['up', '--port', '0'], { env: userEnv({ CAIRN_HOME: home, CAIRN_LOG_LEVEL: 'silent' }), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const upUrl = await new Promise<string>((resolve, reject) => {
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const m = /Cairn is up at (http:\/\/\S+)/.exec(stdout);
          if (m) resolve(m[1]!);
        });
        child.on('close', (code) => reject(new Error(`cairn up exited ${code}: ${stderr}`)));
      });
      expect(await new CairnClient({ url: upUrl }).health()).toEqual({ status: 'ok' });

      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toContain('SIGTERM: shutting down');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
