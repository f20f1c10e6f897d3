/**
 * The typed TypeScript client of the Cairn REST API. One method per route, grouped by resource
 * (`client.features.get('delay_rate', 2)`); every failure is a CairnError with the server's code,
 * message and details, so callers handle SDK and in-process errors the same way.
 *
 * Only types are imported from the domains: the SDK runs anywhere global fetch does and never
 * loads server code.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { CairnError, type ErrorCode } from '../core/errors.js';
import type { Page } from '../core/pagination.js';
import type {
  BuildResult,
  BuildTrainingSetInput,
  CreateEntityInput,
  CreateFeatureSetInput,
  CreateSourceInput,
  DataSource,
  DatasetVersion,
  Entity,
  FeatureSetVersion,
  FeatureSpecFields,
  FeatureVersion,
  MaterializationProgress,
  MaterializeInput,
  OnlineReadInput,
  OnlineReadResult,
  ValueType,
} from '../features/index.js';
import type { ApiToken, Role } from '../identity/index.js';
import { EventsClient, LineageClient, ModelsClient, type RegistryTransport } from './registry.js';
import { TrackingClient } from './tracking.js';
import { TuningClient } from './tuning.js';
import { PredictionsClient } from './predictions.js';
import type { TrainerName, TrainRequest, TrainingOutcome } from '../training/index.js';

export type { Page };

export interface CairnClientOptions {
  /** Base URL of the server; default `$CAIRN_URL`, else http://127.0.0.1:8080. */
  url?: string;
  /** API token sent as a Bearer token; default `$CAIRN_TOKEN`. Not needed when auth is off. */
  token?: string;
  /**
   * Time limit of an ordinary request, in ms (default 30 000; 0 for none). Requests that do long
   * work on the server (training set builds, materializations with `wait`) and the body of a
   * download are not limited unless a per-call `timeoutMs` is given.
   */
  timeoutMs?: number;
}

/** Per-call options of the methods that may take long. */
export interface CallOptions {
  /** Time limit of this call in ms; 0 or absent for none. */
  timeoutMs?: number;
}

export interface ListOptions {
  limit?: number;
  cursor?: string;
}

export type { CreateEntityInput, CreateFeatureSetInput, CreateSourceInput };

/** The service's feature spec, with the fields a new feature cannot do without made required and typed. */
export type FeatureSpecInput = Omit<FeatureSpecFields, 'entity' | 'source' | 'valueType' | 'expression'> & {
  entity: string;
  source: string;
  valueType: ValueType;
  expression: string;
};

export interface CreateFeatureInput extends FeatureSpecInput {
  name: string;
}

export type UpdateFeatureSetInput = Partial<Omit<CreateFeatureSetInput, 'name'>>;

/** An update's answer: the version now current, and whether the update minted it. */
export type Updated<T> = T & { created: boolean };

export interface WhoAmI {
  user: string;
  role: Role;
  authEnabled: boolean;
}

export interface Readiness {
  ready: boolean;
  status: string;
  /** Each dependency and `ok` or what is wrong with it. */
  checks: Record<string, string>;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
}

export interface WaitOptions {
  /** Called after every poll with the run's progress. */
  onProgress?: (m: MaterializationProgress) => void;
  /** Delay between polls; default 500 ms. */
  pollMs?: number;
  /** Stops waiting: the promise rejects with an AbortError. The run itself continues on the server. */
  signal?: AbortSignal;
}

type QueryValue = string | number | boolean | null | undefined;

interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Bytes to send as they are (artifact uploads), instead of a JSON `body`. */
  raw?: { body: Uint8Array | AsyncIterable<Uint8Array>; contentType: string; length?: number };
  /** undefined: the client's default; 0: none. */
  timeoutMs?: number;
  /** Non-2xx statuses that still carry a normal answer (/readyz answers 503 with its checks). */
  acceptStatus?: number[];
}

const DEFAULT_URL = 'http://127.0.0.1:8080';
const DEFAULT_TIMEOUT_MS = 30_000;
const FINISHED = new Set(['succeeded', 'failed']);

/** A status code's CairnError code, for answers that do not carry Cairn's error body. */
function codeForStatus(status: number): ErrorCode {
  const byStatus: Record<number, ErrorCode> = {
    400: 'BAD_REQUEST',
    401: 'UNAUTHENTICATED',
    403: 'FORBIDDEN',
    404: 'NOT_FOUND',
    409: 'CONFLICT',
    413: 'PAYLOAD_TOO_LARGE',
    415: 'UNSUPPORTED_MEDIA_TYPE',
    429: 'RATE_LIMITED',
    502: 'UNAVAILABLE',
    503: 'UNAVAILABLE',
    504: 'UNAVAILABLE',
  };
  return byStatus[status] ?? (status >= 400 && status < 500 ? 'BAD_REQUEST' : 'INTERNAL');
}

/**
 * Rebuilds the server's CairnError from a non-2xx answer: `{error: {code, message, details}}`, or
 * a code derived from the status when something else (a proxy, say) answered.
 */
async function errorFromResponse(res: Response, method: string, url: string): Promise<CairnError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const e = body.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      const details = e.details !== null && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : {};
      // The server's code is kept even if this client does not know it: it is the contract.
      return new CairnError(e.code as ErrorCode, e.message, details);
    }
  } catch {
    // not JSON: fall through to the status
  }
  const snippet = text.trim().slice(0, 200);
  return new CairnError(
    codeForStatus(res.status),
    `${method} ${url} answered HTTP ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`,
    { status: res.status },
  );
}

function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

const enc = encodeURIComponent;

/** Every item of a paginated list, fetching pages as they are consumed. */
export async function* listAll<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

/**
 * Client of one Cairn server. Methods throw CairnError: the server's own error, UNAVAILABLE when
 * the server cannot be reached or does not answer in time.
 */
export class CairnClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  /** Throws BAD_REQUEST when the URL is not an http(s) URL. */
  constructor(options: CairnClientOptions = {}) {
    this.url = (options.url ?? (process.env.CAIRN_URL || DEFAULT_URL)).replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]/.test(this.url) || !URL.canParse(this.url)) {
      throw new CairnError('BAD_REQUEST', `${JSON.stringify(this.url)} is not a server URL like http://127.0.0.1:8080`, { url: this.url });
    }
    this.token = options.token ?? (process.env.CAIRN_TOKEN || undefined);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  readonly entities = {
    /** Creates an entity. Throws VALIDATION_FAILED or ALREADY_EXISTS. */
    create: (input: CreateEntityInput) => this.request<Entity>('POST', '/api/v1/entities', { body: input }),
    list: (o: ListOptions = {}) => this.request<Page<Entity>>('GET', '/api/v1/entities', { query: { ...o } }),
    /** Throws ENTITY_NOT_FOUND. */
    get: (name: string) => this.request<Entity>('GET', `/api/v1/entities/${enc(name)}`),
  };

  readonly sources = {
    /** Registers a file or glob; the server reads its schema, so a bad path fails here. */
    create: (input: CreateSourceInput) => this.request<DataSource>('POST', '/api/v1/sources', { body: input }),
    list: (o: ListOptions = {}) => this.request<Page<DataSource>>('GET', '/api/v1/sources', { query: { ...o } }),
    /** Throws SOURCE_NOT_FOUND. */
    get: (name: string) => this.request<DataSource>('GET', `/api/v1/sources/${enc(name)}`),
  };

  readonly features = {
    /** Creates version 1 of a feature. Throws VALIDATION_FAILED naming every bad field, or ALREADY_EXISTS. */
    create: (input: CreateFeatureInput) => this.request<FeatureVersion>('POST', '/api/v1/features', { body: input }),
    /** Stores a new version from the changed fields; `created` is false when nothing changed. */
    update: (name: string, patch: Partial<FeatureSpecInput>) =>
      this.request<Updated<FeatureVersion>>('PATCH', `/api/v1/features/${enc(name)}`, { body: patch }),
    /** The latest version, or `version`. Throws FEATURE_NOT_FOUND / FEATURE_VERSION_NOT_FOUND. */
    get: (name: string, version?: number | null) =>
      version == null
        ? this.request<FeatureVersion>('GET', `/api/v1/features/${enc(name)}`)
        : this.request<FeatureVersion>('GET', `/api/v1/features/${enc(name)}/versions/${version}`),
    /** Features at their latest version, optionally of one entity. */
    list: (o: ListOptions & { entity?: string } = {}) =>
      this.request<Page<FeatureVersion>>('GET', '/api/v1/features', { query: { ...o } }),
    versions: async (name: string) =>
      (await this.request<{ items: FeatureVersion[] }>('GET', `/api/v1/features/${enc(name)}/versions`)).items,
  };

  readonly featureSets = {
    create: (input: CreateFeatureSetInput) => this.request<FeatureSetVersion>('POST', '/api/v1/feature-sets', { body: input }),
    /** Stores a new version; `created` is false when it would equal the latest. */
    update: (name: string, patch: UpdateFeatureSetInput) =>
      this.request<Updated<FeatureSetVersion>>('PATCH', `/api/v1/feature-sets/${enc(name)}`, { body: patch }),
    /** The latest version, or `version`. Throws FEATURE_SET_NOT_FOUND. */
    get: (name: string, version?: number | null) =>
      this.request<FeatureSetVersion>('GET', `/api/v1/feature-sets/${enc(name)}`, { query: { version } }),
    list: (o: ListOptions = {}) => this.request<Page<FeatureSetVersion>>('GET', '/api/v1/feature-sets', { query: { ...o } }),
    versions: async (name: string) =>
      (await this.request<{ items: FeatureSetVersion[] }>('GET', `/api/v1/feature-sets/${enc(name)}/versions`)).items,
  };

  readonly trainingSets = {
    /**
     * Builds a point-in-time training set and records it as a dataset version (`created` is false
     * when the content equals the latest version). Not time-limited unless `options.timeoutMs`.
     */
    build: (input: BuildTrainingSetInput, options: CallOptions = {}) =>
      this.request<BuildResult>('POST', '/api/v1/training-sets', { body: input, timeoutMs: options.timeoutMs ?? 0 }),
  };

  readonly datasets = {
    /** Datasets at their latest version. */
    list: (o: ListOptions = {}) => this.request<Page<DatasetVersion>>('GET', '/api/v1/datasets', { query: { ...o } }),
    /** The latest version, or `version`. Throws DATASET_NOT_FOUND. */
    get: (name: string, version?: number | null) =>
      version == null
        ? this.request<DatasetVersion>('GET', `/api/v1/datasets/${enc(name)}`)
        : this.request<DatasetVersion>('GET', `/api/v1/datasets/${enc(name)}/versions/${version}`),
    versions: async (name: string) =>
      (await this.request<{ items: DatasetVersion[] }>('GET', `/api/v1/datasets/${enc(name)}/versions`)).items,
    /**
     * Streams a dataset version's Parquet file to `toPath`. The file appears only when complete
     * and its sha256 matches the server's; otherwise nothing is left behind and ARTIFACT_CORRUPT
     * (or the transfer's error) is thrown.
     */
    download: (name: string, version: number, toPath: string, options: CallOptions = {}) =>
      this.download(`/api/v1/datasets/${enc(name)}/versions/${version}/data`, toPath, options),
  };

  readonly materializations = {
    /**
     * Starts materializing features into the online store. Returns at once with the pending run,
     * or with `{wait: true}` when the run has ended (not time-limited unless `timeoutMs`).
     */
    start: (input: MaterializeInput, options: CallOptions & { wait?: boolean } = {}) =>
      this.request<MaterializationProgress>('POST', '/api/v1/materializations', {
        body: input,
        query: { wait: options.wait ? true : undefined },
        timeoutMs: options.wait ? (options.timeoutMs ?? 0) : options.timeoutMs,
      }),
    /** A run with its progress, rate and ETA. Throws MATERIALIZATION_NOT_FOUND. */
    get: (id: string) => this.request<MaterializationProgress>('GET', `/api/v1/materializations/${enc(id)}`),
    /** Runs, newest first. */
    list: (o: ListOptions = {}) =>
      this.request<Page<MaterializationProgress>>('GET', '/api/v1/materializations', { query: { ...o } }),
    /** Resumes a failed run from the keys it had written. Throws CONFLICT unless the run failed. */
    resume: (id: string) => this.request<MaterializationProgress>('POST', `/api/v1/materializations/${enc(id)}/resume`),
    /**
     * Polls a run until it has succeeded or failed, reporting progress; returns the final state
     * (a failed run is returned, not thrown: its `error` says why and it can be resumed).
     */
    waitFor: (id: string, options: WaitOptions = {}) => this.waitForMaterialization(id, options),
  };

  readonly online = {
    /** Feature vectors for entity keys, pinned to exact feature versions. */
    read: (input: OnlineReadInput) => this.request<OnlineReadResult>('POST', '/api/v1/online-features', { body: input }),
  };

  private readonly tracking = new TrackingClient({
    request: (method, route, options) => this.request(method, route, options),
    download: (route, toPath, options) => this.download(route, toPath, options ?? {}),
  });

  /** Experiments: create, get, list. */
  readonly experiments = this.tracking.experiments;

  /** Runs: start one with a buffered logger, log, end, search, compare, artifacts. */
  readonly runs = this.tracking.runs;

  private readonly registryTransport: RegistryTransport = {
    request: (method, route, options) => this.request(method, route, options),
    download: (route, toPath, options) => this.download(route, toPath, options ?? {}),
    text: (route, query) => this.exchange('GET', route, { query }, (res) => res.text()),
  };

  /** The model registry: models, versions, stages, aliases, lineage, model cards and reviews. */
  readonly models = new ModelsClient(this.registryTransport);

  /** Forward lineage: the model versions trained on a feature or dataset version. */
  readonly lineage = new LineageClient(this.registryTransport);

  /** The durable event log (registry events), read from a sequence number on. */
  readonly events = new EventsClient(this.registryTransport);

  /** Hyperparameter tuning: studies, progress, and the worker protocol (`runStudy(client.tuning, …)`). */
  readonly tuning = new TuningClient({ request: (method, route, options) => this.request(method, route, options) });

  /** The prediction log: logged predictions, feedback (actual outcomes), per-version performance, refusals. */
  readonly predictions = new PredictionsClient({ request: (method, route, options) => this.request(method, route, options) });

  readonly training = {
    /** The built-in trainers and their parameters (snake_case) with defaults. */
    trainers: async () => (await this.request<{ items: { name: TrainerName; params: Record<string, unknown> }[] }>('GET', '/api/v1/trainers')).items,
    /**
     * Trains a built-in model on a dataset version as a tracked run. Returns at once with the
     * running run unless `wait`, then with the outcome (a failed training is returned, not thrown).
     * Throws VALIDATION_FAILED naming every bad field or parameter, DATASET_NOT_FOUND.
     */
    start: (input: TrainRequest, options: CallOptions & { wait?: boolean } = {}) =>
      this.request<TrainingOutcome>('POST', '/api/v1/training-runs', {
        body: input,
        query: options.wait ? { wait: 'true' } : {},
        timeoutMs: options.timeoutMs ?? (options.wait ? 0 : undefined),
      }),
  };

  readonly tokens = {
    /** Creates a token (admin). The `secret` in the answer is never shown again. */
    create: (input: { user: string; role: Role; name?: string }) =>
      this.request<ApiToken & { secret: string }>('POST', '/api/v1/tokens', { body: input }),
    list: async () => (await this.request<{ items: ApiToken[] }>('GET', '/api/v1/tokens')).items,
    /** Revokes a token (admin); revoking twice is harmless. Throws TOKEN_NOT_FOUND. */
    revoke: (id: string) => this.request<ApiToken>('DELETE', `/api/v1/tokens/${enc(id)}`),
  };

  /** Who the server takes this client for. */
  whoami(): Promise<WhoAmI> {
    return this.request<WhoAmI>('GET', '/api/v1/whoami');
  }

  /** Liveness: resolves when the process answers. */
  health(): Promise<{ status: string }> {
    return this.request<{ status: string }>('GET', '/healthz');
  }

  /** Readiness with each dependency's check; `ready` is false (not an error) when one fails. */
  async ready(): Promise<Readiness> {
    const body = await this.request<Omit<Readiness, 'ready'>>('GET', '/readyz', { acceptStatus: [503] });
    return { ready: body.status === 'ready', ...body };
  }

  private async waitForMaterialization(id: string, options: WaitOptions): Promise<MaterializationProgress> {
    const pollMs = options.pollMs ?? 500;
    for (;;) {
      options.signal?.throwIfAborted();
      const m = await this.materializations.get(id);
      options.onProgress?.(m);
      if (FINISHED.has(m.status)) return m;
      await sleep(pollMs, undefined, { signal: options.signal });
    }
  }

  private async download(route: string, toPath: string, options: CallOptions): Promise<DownloadResult> {
    const target = path.resolve(toPath);
    // Written beside the target and renamed at the end, so a failed transfer never leaves a partial file.
    const partial = `${target}.${randomBytes(4).toString('hex')}.part`;
    return this.exchange('GET', route, { timeoutMs: options.timeoutMs ?? this.timeoutMs }, async (res, stopTimer) => {
      // A large file legitimately takes long: the default limit covers only the wait for the answer.
      if (options.timeoutMs === undefined) stopTimer();
      if (!res.body) throw new CairnError('INTERNAL', `GET ${route} answered without a body`);
      const hash = createHash('sha256');
      let bytes = 0;
      const measure = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      try {
        const file = fs.createWriteStream(partial);
        await pipeline(Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>), measure, file).catch((err: NodeJS.ErrnoException) => {
          // A local write failure is the caller's to fix (path, permissions, disk), not the server's.
          throw err.syscall ? new CairnError('BAD_REQUEST', `cannot write ${target}: ${err.message}`, { path: target }) : err;
        });
        const sha256 = hash.digest('hex');
        // The server names content as `sha256:<hex>`; compare the hex.
        const expected = res.headers.get('x-content-sha256')?.replace(/^sha256:/, '');
        if (expected && expected !== sha256) {
          throw new CairnError('ARTIFACT_CORRUPT', `downloaded data has sha256 ${sha256}, the server announced ${expected}`, {
            expected,
            actual: sha256,
          });
        }
        fs.renameSync(partial, target);
        return { path: target, bytes, sha256 };
      } finally {
        // Gone after the rename; never created when the directory is unusable.
        await fs.promises.rm(partial, { force: true }).catch(() => {});
      }
    });
  }

  private request<T>(method: string, route: string, options: RequestOptions = {}): Promise<T> {
    return this.exchange(method, route, options, async (res) => (await res.json()) as T);
  }

  /**
   * One HTTP exchange: sends the request, turns a non-2xx answer into the server's CairnError and
   * hands a good one to `read`. The time limit covers `read` too unless it calls `stopTimer`.
   */
  private async exchange<T>(
    method: string,
    route: string,
    options: RequestOptions,
    read: (res: Response, stopTimer: () => void) => Promise<T>,
  ): Promise<T> {
    const url = new URL(this.url + route);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.raw) headers['content-type'] = options.raw.contentType;
    if (options.raw?.length !== undefined) headers['content-length'] = String(options.raw.length);

    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => controller.abort(), timeoutMs) : undefined;
    const stopTimer = () => clearTimeout(timer);
    const timedOut = () =>
      new CairnError('UNAVAILABLE', `the Cairn server at ${this.url} did not answer ${method} ${route} within ${timeoutMs / 1000}s`, {
        timeoutMs,
      });
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers,
          body: options.raw ? options.raw.body : options.body === undefined ? undefined : JSON.stringify(options.body),
          // A streamed body must say so; undici sends it as it is read.
          ...(options.raw ? { duplex: 'half' as const } : {}),
          signal: controller.signal,
        });
      } catch (err) {
        if (controller.signal.aborted) throw timedOut();
        throw new CairnError('UNAVAILABLE', `cannot reach the Cairn server at ${this.url}: ${reasonOf(err)} — is \`cairn up\` running?`, {
          url: this.url,
        });
      }
      if (!res.ok && !options.acceptStatus?.includes(res.status)) throw await errorFromResponse(res, method, url.toString());
      try {
        return await read(res, stopTimer);
      } catch (err) {
        if (controller.signal.aborted) throw timedOut();
        if (err instanceof CairnError) throw err;
        throw new CairnError('UNAVAILABLE', `reading the answer to ${method} ${route} from ${this.url} failed: ${reasonOf(err)}`);
      }
    } finally {
      stopTimer();
    }
  }
}
