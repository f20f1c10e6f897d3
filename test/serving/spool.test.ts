/**
 * The spool directory: append-only files, torn last lines, and which files a process may take
 * over (owners that are gone: no heartbeat file, a dead pid on this host, a stale heartbeat).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool, SpoolWriter, readSpoolLines } from '../../src/serving/spool.js';
import { tempDir } from '../support/backends.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('cairn-spool-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

function writeOwner(owner: string, info: { pid: number; host?: string }, lines: string[], ageMs = 0): string {
  const alive = path.join(dir, `${owner}.alive`);
  fs.writeFileSync(alive, JSON.stringify({ host: os.hostname(), ...info }));
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    fs.utimesSync(alive, then, then);
  }
  const file = path.join(dir, `${owner}.000000001.jsonl`);
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  return file;
}

const jsonl = () => fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();

describe('spool files', () => {
  it('appends whole lines and reads them back; a last line without its newline is torn and left out', async () => {
    const file = path.join(dir, 'a.jsonl');
    const w = new SpoolWriter(file);
    w.append('{"a":1}\n{"a":2}\n');
    w.append('{"a":3}\n');
    w.seal();
    expect(() => w.append('{"a":4}\n')).toThrow(/sealed/);
    expect(await readSpoolLines(file)).toEqual({ lines: ['{"a":1}', '{"a":2}', '{"a":3}'], torn: false });
    fs.appendFileSync(file, '{"a":4');
    expect(await readSpoolLines(file)).toEqual({ lines: ['{"a":1}', '{"a":2}', '{"a":3}'], torn: true });
  });

  it('reads an empty file as no lines', async () => {
    const file = path.join(dir, 'empty.jsonl');
    fs.writeFileSync(file, '');
    expect(await readSpoolLines(file)).toEqual({ lines: [], torn: false });
  });
});

describe('Spool ownership', () => {
  it('names its files after its owner and announces itself; close() withdraws', () => {
    const spool = Spool.open(dir, { staleAfterMs: 60_000 });
    expect(path.basename(spool.nextFile())).toMatch(new RegExp(`^${spool.owner}\\.000000001\\.jsonl$`));
    expect(path.basename(spool.nextFile())).toMatch(/\.000000002\.jsonl$/);
    expect(fs.existsSync(path.join(dir, `${spool.owner}.alive`))).toBe(true);
    spool.close();
    expect(fs.existsSync(path.join(dir, `${spool.owner}.alive`))).toBe(false);
  });

  it('takes over the files of gone owners only, renaming them into its own name', async () => {
    writeOwner('dead-pid', { pid: deadPid() }, ['{"n":1}']);
    writeOwner('stale', { pid: process.pid }, ['{"n":2}'], 120_000);
    writeOwner('live', { pid: process.pid }, ['{"n":3}']);
    writeOwner('elsewhere', { pid: deadPid(), host: 'another-host' }, ['{"n":4}']);
    fs.writeFileSync(path.join(dir, 'no-heartbeat.000000007.jsonl'), '{"n":5}\n');

    const spool = Spool.open(dir, { staleAfterMs: 60_000 });
    const claimed = spool.claimOrphans();
    expect(claimed).toHaveLength(3);
    expect(claimed.every((f) => path.basename(f).startsWith(`${spool.owner}.`))).toBe(true);
    const contents = await Promise.all(claimed.map(async (f) => (await readSpoolLines(f)).lines[0]));
    expect(contents.sort()).toEqual(['{"n":1}', '{"n":2}', '{"n":5}']);
    // A live owner keeps its file; one on another host is judged by its heartbeat, which is fresh.
    expect(jsonl()).toEqual(expect.arrayContaining(['live.000000001.jsonl', 'elsewhere.000000001.jsonl']));
    expect(fs.existsSync(path.join(dir, 'dead-pid.alive'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'stale.alive'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'live.alive'))).toBe(true);
    spool.close();
  });

  it('lets exactly one of two processes take each orphan', () => {
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, `gone.00000000${i}.jsonl`), `{"n":${i}}\n`);
    const a = Spool.open(dir, { staleAfterMs: 60_000 });
    const b = Spool.open(dir, { staleAfterMs: 60_000 });
    const first = a.claimOrphans();
    const second = b.claimOrphans();
    expect(first).toHaveLength(5);
    expect(second).toEqual([]);
    // Neither takes the other's files: both are alive.
    expect(a.claimOrphans()).toEqual([]);
    expect(b.hasLiveSiblings()).toBe(true);
    a.close();
    expect(b.hasLiveSiblings()).toBe(false);
    expect(b.claimOrphans()).toHaveLength(5);
    b.close();
  });

  it('announces itself again when its heartbeat file was removed', async () => {
    const spool = Spool.open(dir, { staleAfterMs: 60_000 });
    fs.rmSync(path.join(dir, `${spool.owner}.alive`));
    await spool.heartbeat();
    expect(fs.existsSync(path.join(dir, `${spool.owner}.alive`))).toBe(true);
    spool.close();
  });
});
