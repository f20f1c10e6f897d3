/**
 * The behaviour every ArtifactStore driver must have. A driver's test file calls
 * `describeArtifactStoreContract('S3ArtifactStore', factory)`; the factory gives each test a
 * fresh, empty store and a teardown.
 */

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { ArtifactStore } from '../../src/storage/artifact-store.js';

export interface ArtifactStoreFixture {
  store: ArtifactStore;
  teardown?: () => Promise<void>;
}

export type ArtifactStoreFactory = () => Promise<ArtifactStoreFixture>;

const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABSENT_DIGEST = `sha256:${'0'.repeat(64)}`;
const MALFORMED_DIGESTS = [
  '',
  'sha256:',
  'sha256:abc',
  `sha256:${'A'.repeat(64)}`,
  `sha256:${'g'.repeat(64)}`,
  `sha256:${'0'.repeat(65)}`,
  `md5:${'0'.repeat(32)}`,
  `${'0'.repeat(64)}`,
  `sha256:../../${'0'.repeat(58)}`,
  `sha256:${'0'.repeat(64)}/../x`,
  `sha256:${'0'.repeat(64)}\n`,
];

/** sha256 digest computed independently of any store. */
export function digestOf(...parts: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return `sha256:${hash.digest('hex')}`;
}

/** Reads a stream to the end; rejects with the stream's error. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** `count` deterministic pseudo-random chunks of `chunkSize` bytes, produced lazily. */
async function* pseudoRandomChunks(count: number, chunkSize: number): AsyncGenerator<Buffer> {
  let state = 0x2545f491;
  for (let i = 0; i < count; i++) {
    const chunk = Buffer.alloc(chunkSize);
    for (let j = 0; j < chunkSize; j += 4) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      chunk.writeUInt32LE(state, j);
    }
    yield chunk;
  }
}

export function describeArtifactStoreContract(name: string, factory: ArtifactStoreFactory): void {
  describe(`ArtifactStore contract: ${name}`, () => {
    let fixture: ArtifactStoreFixture;
    let store: ArtifactStore;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.teardown?.();
    });

    it('round-trips bytes through put and get', async () => {
      const data = randomBytes(10_000);
      const info = await store.put(data);
      expect(await store.get(info.digest)).toEqual(data);
    });

    it('accepts a plain Uint8Array', async () => {
      const data = new Uint8Array([1, 2, 3, 250]);
      const info = await store.put(data);
      expect(info).toEqual({ digest: digestOf(data), size: 4 });
      expect(new Uint8Array(await store.get(info.digest))).toEqual(data);
    });

    it('names content by its sha256 and reports its size', async () => {
      const data = Buffer.from('the quick brown fox');
      const info = await store.put(data);
      expect(info).toEqual({ digest: digestOf(data), size: data.length });
    });

    it('stores the same content once, whichever way it arrives', async () => {
      const data = randomBytes(4096);
      const first = await store.put(data);
      const second = await store.put(Buffer.from(data));
      const streamed = await store.putStream(Readable.from([data.subarray(0, 100), data.subarray(100)]));
      expect(second).toEqual(first);
      expect(streamed).toEqual(first);
      // One object: a single delete removes it.
      expect(await store.delete(first.digest)).toBe(true);
      expect(await store.exists(first.digest)).toBe(false);
    });

    it('stores different content under different digests', async () => {
      const a = await store.put(Buffer.from('a'));
      const b = await store.put(Buffer.from('b'));
      expect(a.digest).not.toBe(b.digest);
      expect((await store.get(a.digest)).toString()).toBe('a');
      expect((await store.get(b.digest)).toString()).toBe('b');
    });

    it('streams a multi-megabyte async iterable in and out', async () => {
      const chunkCount = 96; // 96 × 64 KiB = 6 MiB
      const chunkSize = 64 * 1024;
      const hash = createHash('sha256');
      for await (const chunk of pseudoRandomChunks(chunkCount, chunkSize)) hash.update(chunk);
      const expected = `sha256:${hash.digest('hex')}`;

      const info = await store.putStream(pseudoRandomChunks(chunkCount, chunkSize));
      expect(info).toEqual({ digest: expected, size: chunkCount * chunkSize });

      const back = await readAll(await store.getStream(info.digest));
      expect(back.length).toBe(chunkCount * chunkSize);
      expect(digestOf(back)).toBe(expected);
    });

    it('streams a Node Readable in', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const pieces: Buffer[] = [];
      for (let offset = 0; offset < data.length; offset += 65_536) pieces.push(data.subarray(offset, offset + 65_536));
      const info = await store.putStream(Readable.from(pieces));
      expect(info).toEqual({ digest: digestOf(data), size: data.length });
      expect((await store.get(info.digest)).equals(data)).toBe(true);
    });

    it('stores nothing when the input stream fails midway', async () => {
      const firstChunk = randomBytes(1000);
      const failure = new Error('source went away');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield firstChunk;
        throw failure;
      }
      await expect(store.putStream(failing())).rejects.toBe(failure);
      expect(await store.exists(digestOf(firstChunk))).toBe(false);
    });

    it('puts a local file', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cairn-artifact-src-'));
      try {
        const data = randomBytes(200_000);
        const path = join(dir, 'data.parquet');
        await writeFile(path, data);
        const info = await store.putFile(path);
        expect(info).toEqual({ digest: digestOf(data), size: data.length });
        expect((await store.get(info.digest)).equals(data)).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('stores empty content', async () => {
      const info = await store.put(Buffer.alloc(0));
      expect(info).toEqual({ digest: EMPTY_DIGEST, size: 0 });
      expect((await store.get(EMPTY_DIGEST)).length).toBe(0);
      expect((await readAll(await store.getStream(EMPTY_DIGEST))).length).toBe(0);
      expect(await store.putStream(Readable.from([]))).toEqual(info);
      expect(await store.stat(EMPTY_DIGEST)).toEqual(info);
    });

    it('streams a stored object out', async () => {
      const data = randomBytes(300_000);
      const info = await store.put(data);
      expect((await readAll(await store.getStream(info.digest))).equals(data)).toBe(true);
    });

    it('reports stat and exists, and deletes', async () => {
      const data = Buffer.from('hello artifacts');
      const info = await store.put(data);
      expect(await store.exists(info.digest)).toBe(true);
      expect(await store.stat(info.digest)).toEqual({ digest: info.digest, size: data.length });

      expect(await store.delete(info.digest)).toBe(true);
      expect(await store.exists(info.digest)).toBe(false);
      expect(await store.delete(info.digest)).toBe(false);
      await expect(store.get(info.digest)).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' });

      // Deleted content can be stored again.
      expect(await store.put(data)).toEqual(info);
      expect(await store.get(info.digest)).toEqual(data);
    });

    it('answers ARTIFACT_NOT_FOUND for an absent digest', async () => {
      await expect(store.get(ABSENT_DIGEST)).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' });
      await expect(store.getStream(ABSENT_DIGEST)).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' });
      await expect(store.stat(ABSENT_DIGEST)).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' });
      if (store.localPath) {
        await expect(store.localPath(ABSENT_DIGEST)).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' });
      }
      expect(await store.exists(ABSENT_DIGEST)).toBe(false);
      expect(await store.delete(ABSENT_DIGEST)).toBe(false);
    });

    it('rejects a malformed digest with VALIDATION_FAILED in every method', async () => {
      const invalid = { code: 'VALIDATION_FAILED', details: { errors: [{ path: 'digest' }] } };
      for (const digest of MALFORMED_DIGESTS) {
        await expect(store.get(digest), digest).rejects.toMatchObject(invalid);
        await expect(store.getStream(digest), digest).rejects.toMatchObject(invalid);
        await expect(store.exists(digest), digest).rejects.toMatchObject(invalid);
        await expect(store.stat(digest), digest).rejects.toMatchObject(invalid);
        await expect(store.delete(digest), digest).rejects.toMatchObject(invalid);
        if (store.localPath) await expect(store.localPath(digest), digest).rejects.toMatchObject(invalid);
      }
    });

    it('gives engines a local path with the content, when it offers one', async () => {
      if (!store.localPath) return;
      const data = randomBytes(5000);
      const info = await store.put(data);
      expect((await readFile(await store.localPath(info.digest))).equals(data)).toBe(true);
    });
  });
}
