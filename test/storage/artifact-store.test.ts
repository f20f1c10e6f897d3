import { randomBytes } from 'node:crypto';
import { access, chmod, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ManualClock } from '../../src/core/clock.js';
import { parseDigest } from '../../src/storage/artifact-store.js';
import { LocalArtifactStore } from '../../src/storage/local-artifact-store.js';
import { describeArtifactStoreContract, digestOf, readAll } from '../contract/artifact-store.contract.js';

const HOUR_MS = 60 * 60 * 1000;

async function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'cairn-artifacts-'));
}

describeArtifactStoreContract('LocalArtifactStore', async () => {
  const root = await makeTempDir();
  return {
    store: await LocalArtifactStore.open(root),
    teardown: () => rm(root, { recursive: true, force: true }),
  };
});

describe('parseDigest', () => {
  it('returns the hex part of a canonical digest', () => {
    const hex = 'ab'.repeat(32);
    expect(parseDigest(`sha256:${hex}`)).toBe(hex);
  });

  it('names the given field in the validation error', () => {
    expect(() => parseDigest('sha256:nope', 'model.artifactDigest')).toThrowError(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        details: { errors: [{ path: 'model.artifactDigest', reason: expect.stringContaining('"sha256:nope"') }] },
      }),
    );
  });

  it('rejects non-strings without crashing', () => {
    expect(() => parseDigest(undefined as unknown as string)).toThrowError(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });
});

describe('LocalArtifactStore', () => {
  let root: string;
  let store: LocalArtifactStore;

  beforeEach(async () => {
    root = await makeTempDir();
    store = await LocalArtifactStore.open(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function objectPath(digest: string): string {
    const hex = parseDigest(digest);
    return join(root, 'sha256', hex.slice(0, 2), hex.slice(2));
  }

  /** Every object file under `<root>/sha256`, as paths relative to it. */
  async function listObjects(): Promise<string[]> {
    const entries = await readdir(join(root, 'sha256'), { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  }

  async function overwriteObject(digest: string, bytes: Buffer): Promise<void> {
    const path = objectPath(digest);
    await chmod(path, 0o644);
    await writeFile(path, bytes);
  }

  it('lays objects out as read-only files at sha256/<2 hex>/<62 hex>', async () => {
    const info = await store.put(Buffer.from('layout'));
    const path = objectPath(info.digest);
    expect(await readFile(path, 'utf8')).toBe('layout');
    expect((await stat(path)).mode & 0o777).toBe(0o444);
    expect(await listObjects()).toEqual([path]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('keeps one object when the same content is put concurrently', async () => {
    const data = randomBytes(100_000);
    const infos = await Promise.all(Array.from({ length: 8 }, () => store.put(data)));
    expect(new Set(infos.map((i) => i.digest))).toEqual(new Set([digestOf(data)]));
    expect(await listObjects()).toHaveLength(1);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  describe('integrity', () => {
    const original = Buffer.from('model weights v1');
    const tampered = Buffer.from('model weights v2'); // same length: only a hash can tell

    it('fails get with ARTIFACT_CORRUPT when the object bytes changed', async () => {
      const { digest } = await store.put(original);
      await overwriteObject(digest, tampered);
      await expect(store.get(digest)).rejects.toMatchObject({
        code: 'ARTIFACT_CORRUPT',
        details: { digest, actual: digestOf(tampered) },
      });
    });

    it('ends getStream with an ARTIFACT_CORRUPT error instead of a clean end', async () => {
      const { digest } = await store.put(original);
      await overwriteObject(digest, tampered);
      const stream = await store.getStream(digest);
      await expect(readAll(stream)).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' });
    });

    it('detects a truncated object', async () => {
      const { digest } = await store.put(original);
      await overwriteObject(digest, original.subarray(0, 5));
      await expect(store.get(digest)).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' });
      await expect(readAll(await store.getStream(digest))).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' });
    });

    it('verifies before handing out a local path', async () => {
      const { digest } = await store.put(original);
      await overwriteObject(digest, tampered);
      await expect(store.localPath(digest)).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' });
    });

    it('repairs a corrupted object when the content is put again', async () => {
      const { digest } = await store.put(original);
      await overwriteObject(digest, tampered);
      await store.put(original);
      expect(await store.get(digest)).toEqual(original);
      expect((await stat(objectPath(digest))).mode & 0o777).toBe(0o444);
    });
  });

  describe('failed writes', () => {
    it('leaves neither an object nor a temp file when the stream errors midway', async () => {
      const failure = new Error('disk on the other side of the network fell over');
      const source = new Readable({ read() {} });
      source.push(randomBytes(256 * 1024));
      setTimeout(() => source.destroy(failure), 10);

      await expect(store.putStream(source)).rejects.toBe(failure);
      expect(await listObjects()).toEqual([]);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
    });

    it('rejects non-byte chunks, destroys the source and cleans up', async () => {
      const source = Readable.from([Buffer.from('ok'), { not: 'bytes' }]);
      await expect(store.putStream(source)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(source.destroyed).toBe(true);
      expect(await listObjects()).toEqual([]);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
    });
  });

  describe('putFile', () => {
    it('copies the file and leaves the source in place', async () => {
      const source = join(root, 'written-by-duckdb.parquet');
      await writeFile(source, 'PAR1…PAR1');
      const info = await store.putFile(source);
      expect(await readFile(source, 'utf8')).toBe('PAR1…PAR1');
      expect((await store.get(info.digest)).toString()).toBe('PAR1…PAR1');
    });

    it('fails with NOT_FOUND for a missing source file', async () => {
      await expect(store.putFile(join(root, 'nope.parquet'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
    });
  });

  describe('stale temp sweep on open', () => {
    async function leaveTemp(name: string, ageMs: number): Promise<string> {
      const path = join(root, 'tmp', name);
      await writeFile(path, 'partial');
      const when = new Date(Date.now() - ageMs);
      await utimes(path, when, when);
      return path;
    }

    it('deletes temp files older than an hour and keeps younger ones', async () => {
      const stale = await leaveTemp('dead-writer.tmp', 2 * HOUR_MS);
      const live = await leaveTemp('live-writer.tmp', 5 * 60 * 1000);
      await LocalArtifactStore.open(root);
      await expect(access(stale)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(access(live)).resolves.toBeUndefined();
    });

    it('judges age by the injected clock', async () => {
      const live = await leaveTemp('live-writer.tmp', 0);
      const clock = new ManualClock(new Date(Date.now() + 61 * 60 * 1000));
      await LocalArtifactStore.open(root, { clock });
      await expect(access(live)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('leaves stored objects alone', async () => {
      const info = await store.put(Buffer.from('keep me'));
      await LocalArtifactStore.open(root, { clock: new ManualClock(new Date(Date.now() + 48 * HOUR_MS)) });
      expect((await store.get(info.digest)).toString()).toBe('keep me');
    });
  });
});
