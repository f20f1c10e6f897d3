/**
 * Artifacts as files on local disk, the embedded-mode driver of {@link ArtifactStore}.
 *
 * Layout under the root directory:
 *   sha256/ab/cdef…   one read-only (0o444) file per object; `ab` is the first two hex digits
 *   tmp/              in-flight writes; same filesystem as the objects so rename is atomic
 *
 * A write goes to a temp file, is fsynced, then renamed onto its object path, so a killed
 * process leaves at most a temp file, never a partial object. Reads recompute the sha256.
 */

import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Transform, type TransformCallback } from 'node:stream';

import { systemClock, type Clock } from '../core/clock.js';
import { CairnError } from '../core/errors.js';
import { parseDigest, type ArtifactInfo, type ArtifactStore } from './artifact-store.js';

export interface LocalArtifactStoreOptions {
  /** Time source for the stale-temp sweep. */
  clock?: Clock;
  /** Temp files older than this (by mtime) are leftovers of dead writers; default one hour. */
  staleTempAgeMs?: number;
}

const ONE_HOUR_MS = 60 * 60 * 1000;
const OBJECT_MODE = 0o444;

export class LocalArtifactStore implements ArtifactStore {
  private readonly objectsDir: string;
  private readonly tempDir: string;

  private constructor(readonly root: string) {
    this.objectsDir = join(root, 'sha256');
    this.tempDir = join(root, 'tmp');
  }

  /**
   * Opens (creating if needed) a store rooted at `root` and deletes temp files left by writers
   * that died more than `staleTempAgeMs` ago. A live writer keeps touching its temp file, so
   * its mtime stays fresh and the sweep leaves it alone.
   */
  static async open(root: string, options: LocalArtifactStoreOptions = {}): Promise<LocalArtifactStore> {
    const store = new LocalArtifactStore(root);
    await mkdir(store.objectsDir, { recursive: true });
    await mkdir(store.tempDir, { recursive: true });
    await store.sweepStaleTemps(options.clock ?? systemClock, options.staleTempAgeMs ?? ONE_HOUR_MS);
    return store;
  }

  async put(data: Buffer | Uint8Array): Promise<ArtifactInfo> {
    return this.writeObject([data]);
  }

  /** Strings from an encoded stream are stored as UTF-8; any other non-byte chunk is rejected. */
  async putStream(stream: NodeJS.ReadableStream | AsyncIterable<Uint8Array>): Promise<ArtifactInfo> {
    return this.writeObject(stream as AsyncIterable<unknown>);
  }

  /**
   * Copies the file in; the source is left untouched for its owner to remove.
   * @throws NOT_FOUND if there is no file at `path`.
   */
  async putFile(path: string): Promise<ArtifactInfo> {
    // Open first so a missing file is a clear error rather than a stream failure mid-write.
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) throw new CairnError('NOT_FOUND', `file not found: ${path}`, { path });
      throw err;
    }
    const source = handle.createReadStream();
    try {
      return await this.writeObject(source);
    } finally {
      source.destroy(); // closes the file even if writing failed before reading began
    }
  }

  async get(digest: string): Promise<Buffer> {
    const hex = parseDigest(digest);
    let data: Buffer;
    try {
      data = await readFile(this.objectPath(hex));
    } catch (err) {
      throw missingAsNotFound(err, digest);
    }
    assertIntact(digest, sha256Hex(data));
    return data;
  }

  async getStream(digest: string): Promise<NodeJS.ReadableStream> {
    const hex = parseDigest(digest);
    let handle: FileHandle;
    try {
      handle = await open(this.objectPath(hex), 'r');
    } catch (err) {
      throw missingAsNotFound(err, digest);
    }
    const verifier = new DigestVerifier(digest);
    // pipeline destroys every stream with the first error, so a read failure reaches the caller
    // through `verifier`; the callback has nothing left to do.
    return pipeline(handle.createReadStream(), verifier, () => {});
  }

  async localPath(digest: string): Promise<string> {
    const path = this.objectPath(parseDigest(digest));
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    } catch (err) {
      throw missingAsNotFound(err, digest);
    }
    assertIntact(digest, hash.digest('hex'));
    return path;
  }

  async exists(digest: string): Promise<boolean> {
    const path = this.objectPath(parseDigest(digest));
    try {
      await stat(path);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async stat(digest: string): Promise<ArtifactInfo> {
    const path = this.objectPath(parseDigest(digest));
    try {
      const { size } = await stat(path);
      return { digest, size };
    } catch (err) {
      throw missingAsNotFound(err, digest);
    }
  }

  async delete(digest: string): Promise<boolean> {
    const path = this.objectPath(parseDigest(digest));
    try {
      await unlink(path);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /** `<root>/sha256/ab/cdef…` for a validated hex digest. */
  private objectPath(hex: string): string {
    return join(this.objectsDir, hex.slice(0, 2), hex.slice(2));
  }

  /**
   * Writes the chunks to a temp file while hashing them, makes it durable and read-only, then
   * renames it onto its object path. Renaming over an existing object with the same digest is
   * harmless (same bytes) and repairs a corrupted copy. On any failure the temp file is removed
   * and the original error rethrown.
   */
  private async writeObject(chunks: AsyncIterable<unknown> | Iterable<unknown>): Promise<ArtifactInfo> {
    const tempPath = join(this.tempDir, `${randomUUID()}.tmp`);
    const handle = await open(tempPath, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    let closed = false;
    try {
      for await (const chunk of chunks) {
        const bytes = toBytes(chunk);
        hash.update(bytes);
        size += bytes.length;
        await writeAll(handle, bytes);
      }
      await handle.chmod(OBJECT_MODE);
      await handle.sync();
      await handle.close();
      closed = true;

      const hex = hash.digest('hex');
      const objectPath = this.objectPath(hex);
      const objectDir = join(this.objectsDir, hex.slice(0, 2));
      await mkdir(objectDir, { recursive: true });
      await rename(tempPath, objectPath);
      await syncDirectory(objectDir);
      return { digest: `sha256:${hex}`, size };
    } catch (err) {
      if (!closed) await handle.close().catch(() => {});
      await unlink(tempPath).catch(() => {});
      throw err;
    }
  }

  private async sweepStaleTemps(clock: Clock, maxAgeMs: number): Promise<void> {
    const cutoff = clock.now().getTime() - maxAgeMs;
    for (const name of await readdir(this.tempDir)) {
      const path = join(this.tempDir, name);
      try {
        const info = await stat(path);
        if (info.isFile() && info.mtimeMs < cutoff) await unlink(path);
      } catch (err) {
        // Another process may have finished or swept it between readdir and here.
        if (!isMissing(err)) throw err;
      }
    }
  }
}

/** Passes bytes through while hashing them; fails at the end if they do not match `digest`. */
class DigestVerifier extends Transform {
  private readonly hash = createHash('sha256');

  constructor(private readonly digest: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      assertIntact(this.digest, this.hash.digest('hex'));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** @throws ARTIFACT_CORRUPT if the recomputed hash differs from the digest's. */
function assertIntact(digest: string, actualHex: string): void {
  if (`sha256:${actualHex}` !== digest) {
    throw new CairnError('ARTIFACT_CORRUPT', `artifact ${digest} is corrupt: its content hashes to sha256:${actualHex}`, {
      digest,
      actual: `sha256:${actualHex}`,
    });
  }
}

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw CairnError.validation([
    { path: 'stream', reason: `expected chunks of bytes, got ${chunk === null ? 'null' : typeof chunk}` },
  ]);
}

/** FileHandle.write may write less than asked; loop until every byte is down. */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

/** fsync a directory so that a rename into it survives a power loss; best effort off Linux. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename itself is still atomic.
  } finally {
    await handle?.close().catch(() => {});
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

function missingAsNotFound(err: unknown, digest: string): unknown {
  return isMissing(err) ? new CairnError('ARTIFACT_NOT_FOUND', `artifact ${digest} not found`, { digest }) : err;
}
