/**
 * The artifact store: immutable, content-addressed blobs (model files, Parquet data, cards).
 * An artifact is named by the sha256 of its bytes, so the same content is stored once and a
 * reader can always check that what it got is what was written. The local-disk driver lives in
 * `local-artifact-store.ts`; an object-store driver (S3) implements the same interface and must
 * pass the same contract suite (`test/contract/artifact-store.contract.ts`).
 */

import { CairnError } from '../core/errors.js';

/** What the store knows about one artifact. */
export interface ArtifactInfo {
  /** `sha256:<64 lowercase hex digits>` of the content. */
  digest: string;
  /** Content length in bytes. */
  size: number;
}

/**
 * Content-addressed blob storage. Every method that takes a digest validates it first and
 * throws VALIDATION_FAILED for anything that is not `sha256:<64 lowercase hex>`.
 */
export interface ArtifactStore {
  /** Stores bytes; returns their digest. Idempotent: storing the same content twice is one object. */
  put(data: Buffer | Uint8Array): Promise<ArtifactInfo>;

  /**
   * Streams bytes in, hashing while writing; never buffers the whole content. If the stream
   * errors, the promise rejects with that error and nothing is stored.
   */
  putStream(stream: NodeJS.ReadableStream | AsyncIterable<Uint8Array>): Promise<ArtifactInfo>;

  /** Copies (or moves, driver's choice) a local file in, e.g. a Parquet file just written. */
  putFile(path: string): Promise<ArtifactInfo>;

  /**
   * The whole content, after recomputing its sha256.
   * @throws ARTIFACT_NOT_FOUND if absent; ARTIFACT_CORRUPT if the bytes no longer match the digest.
   */
  get(digest: string): Promise<Buffer>;

  /**
   * The content as a stream. The hash is checked as the bytes flow; a mismatch makes the
   * stream emit an ARTIFACT_CORRUPT error instead of ending cleanly.
   * @throws ARTIFACT_NOT_FOUND (the promise rejects) if absent.
   */
  getStream(digest: string): Promise<NodeJS.ReadableStream>;

  /**
   * A local file path with the content, for engines that read files directly (DuckDB).
   * Integrity is verified before the path is returned; the file must be treated as read-only.
   * @throws ARTIFACT_NOT_FOUND, ARTIFACT_CORRUPT
   */
  localPath?(digest: string): Promise<string>;

  /** Whether an object with this digest is stored (no integrity check). */
  exists(digest: string): Promise<boolean>;

  /**
   * Digest and size of a stored object (no integrity check).
   * @throws ARTIFACT_NOT_FOUND if absent.
   */
  stat(digest: string): Promise<ArtifactInfo>;

  /** Removes the object; true if it existed, false if it was already absent. */
  delete(digest: string): Promise<boolean>;
}

const DIGEST_PATTERN = /^sha256:([0-9a-f]{64})$/;

/**
 * Validates a digest and returns its hex part. Only the canonical form is accepted
 * (`sha256:` + 64 lowercase hex digits), so one content has exactly one name and a digest can
 * never carry path separators or `..` into a storage key.
 * @param field the input field to name in the error (e.g. `model.artifactDigest`).
 * @throws VALIDATION_FAILED naming `field` if the digest is malformed.
 */
export function parseDigest(digest: string, field = 'digest'): string {
  const match = typeof digest === 'string' ? DIGEST_PATTERN.exec(digest) : null;
  if (!match?.[1]) {
    throw CairnError.validation([
      { path: field, reason: `expected "sha256:" followed by 64 lowercase hex digits, got ${describe(digest)}` },
    ]);
  }
  return match[1];
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : typeof value;
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(shown);
}
