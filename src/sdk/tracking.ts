/**
 * Experiment tracking in the SDK: `client.experiments`, `client.runs`, and the RunLogger that a
 * training loop logs through. Logging a metric only appends to a buffer; the buffer is sent in
 * batches when it fills, on a timer and when the run ends, so logging never waits on the network.
 *
 *     const run = await client.runs.start({ experiment: 'flights', params: { lr: 0.1 } });
 *     for (let step = 0; step < 100; step++) run.logMetric('loss', loss, step);
 *     await run.end();   // sends what is left, then ends the run
 */
import fs from 'node:fs';
import path from 'node:path';
import { CairnError } from '../core/errors.js';
import type { Page } from '../core/pagination.js';
import type {
  CreateExperimentInput,
  CreateRunInput,
  EndStatus,
  Experiment,
  LogBatchInput,
  MetricPoint,
  Run,
  RunArtifact,
  RunComparison,
  SearchRunsInput,
} from '../tracking/index.js';
import type { CallOptions, DownloadResult, ListOptions } from './client.js';

/** A request as CairnClient sends it; `raw` carries bytes instead of JSON. */
export interface TransportRequest {
  query?: Record<string, string | number | boolean | null | undefined>;
  body?: unknown;
  raw?: { body: Uint8Array | AsyncIterable<Uint8Array>; contentType: string; length?: number };
  timeoutMs?: number;
}

/** How the tracking client reaches the server: CairnClient's own request and download paths. */
export interface TrackingTransport {
  request<T>(method: string, route: string, options?: TransportRequest): Promise<T>;
  download(route: string, toPath: string, options?: CallOptions): Promise<DownloadResult>;
}

export interface RunLoggerOptions {
  /** Points per request, and the number buffered that triggers a send; default 1000. */
  batchSize?: number;
  /** Sends buffered points at least this often, in ms; default 2000, 0 for never (only on size and end). */
  flushIntervalMs?: number;
  /** Most points held while sends fail; beyond it logMetric throws. Default 1,000,000. */
  maxBuffered?: number;
}

/** An uploaded artifact and whether this upload stored it (false: the same content was there). */
export type UploadedArtifact = RunArtifact & { created: boolean };

const enc = encodeURIComponent;

/**
 * The URL of a run's file. `.` and `..` segments cannot travel in a URL path (every URL parser
 * resolves them, even percent-encoded), so they are refused here; the server checks the rest.
 */
function artifactRoute(runId: string, artifactPath: string): string {
  if (artifactPath.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw invalid('artifactPath', `${JSON.stringify(artifactPath)} holds a . or .. segment: paths stay inside the run`);
  }
  return `/api/v1/runs/${enc(runId)}/artifacts/${artifactPath.split('/').map(enc).join('/')}`;
}

// Mirrors the server's key rule, so a bad key fails at logMetric instead of poisoning a batch.
const KEY_PATTERN = /^[A-Za-z0-9_.\-/]+(?: [A-Za-z0-9_.\-/]+)*$/;

function invalid(field: string, reason: string): CairnError {
  return CairnError.validation([{ path: field, reason }]);
}

/** Every file under `dir`, as paths relative to it with `/` separators, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  walk('');
  return out.sort();
}

export class ExperimentsClient {
  constructor(private readonly t: TrackingTransport) {}

  /** Creates an experiment. Throws VALIDATION_FAILED or ALREADY_EXISTS. */
  create(input: CreateExperimentInput): Promise<Experiment> {
    return this.t.request('POST', '/api/v1/experiments', { body: input });
  }

  /** Throws EXPERIMENT_NOT_FOUND. */
  get(name: string): Promise<Experiment> {
    return this.t.request('GET', `/api/v1/experiments/${enc(name)}`);
  }

  list(o: ListOptions = {}): Promise<Page<Experiment>> {
    return this.t.request('GET', '/api/v1/experiments', { query: { ...o } });
  }
}

export class RunsClient {
  constructor(private readonly t: TrackingTransport) {}

  /** Starts a run. Throws VALIDATION_FAILED naming every bad field, or EXPERIMENT_NOT_FOUND. */
  create(input: CreateRunInput): Promise<Run> {
    return this.t.request('POST', '/api/v1/runs', { body: input });
  }

  /**
   * Starts a run and returns its buffered logger. Unless `input.source` says otherwise, the
   * source records this process's command line and `$CAIRN_CODE_VERSION` (e.g. a commit).
   */
  async start(input: CreateRunInput, options: RunLoggerOptions = {}): Promise<RunLogger> {
    const codeVersion = process.env.CAIRN_CODE_VERSION;
    const source = input.source ?? { command: process.argv.join(' '), ...(codeVersion ? { codeVersion } : {}) };
    return new RunLogger(this, await this.create({ ...input, source }), options);
  }

  /** A buffered logger for a run that already exists (running). */
  async logger(runId: string, options: RunLoggerOptions = {}): Promise<RunLogger> {
    return new RunLogger(this, await this.get(runId), options);
  }

  /** Throws RUN_NOT_FOUND. */
  get(id: string): Promise<Run> {
    return this.t.request('GET', `/api/v1/runs/${enc(id)}`);
  }

  /**
   * Runs matching a filter such as `metrics.auc > 0.6 AND params.trainer = 'gbdt'`, ordered by
   * `orderBy` (default newest first), a page at a time. Throws VALIDATION_FAILED with the
   * position of a filter's mistake.
   */
  search(input: SearchRunsInput = {}): Promise<Page<Run>> {
    return this.t.request('POST', '/api/v1/runs/search', { body: input });
  }

  /**
   * Logs params, metrics and tags in one atomic request. Throws VALIDATION_FAILED naming every bad
   * entry, CONFLICT when a param would change or the run has ended, RUN_NOT_FOUND.
   */
  log(runId: string, batch: LogBatchInput): Promise<{ params: number; metrics: number; tags: number }> {
    return this.t.request('POST', `/api/v1/runs/${enc(runId)}/batch`, { body: batch });
  }

  /** Ends a run (default finished, now). Throws CONFLICT when it has already ended. */
  end(runId: string, input: { status?: EndStatus; endTime?: string } = {}): Promise<Run> {
    return this.t.request('POST', `/api/v1/runs/${enc(runId)}/end`, { body: input });
  }

  /** Every point of one metric, by step. */
  async metricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    return (await this.t.request<{ points: MetricPoint[] }>('GET', `/api/v1/runs/${enc(runId)}/metrics/${enc(key)}`)).points;
  }

  /** Runs side by side; `history: false` leaves the aligned metric histories out. */
  compare(ids: string[], options: { history?: boolean } = {}): Promise<RunComparison> {
    return this.t.request('POST', '/api/v1/runs/compare', { body: { ids, ...options } });
  }

  /**
   * Uploads a local file as the run's artifact at `artifactPath` (default the file's name). The
   * same content at the same path again is no change; other content there is a CONFLICT.
   */
  async uploadArtifact(runId: string, localFile: string, artifactPath = path.basename(localFile), options: CallOptions = {}): Promise<UploadedArtifact> {
    const route = artifactRoute(runId, artifactPath);
    const { size } = await fs.promises.stat(localFile).catch(() => {
      throw invalid('localFile', `no file at ${localFile}`);
    });
    return this.t.request('PUT', route, {
      raw: { body: fs.createReadStream(localFile), contentType: 'application/octet-stream', length: size },
      timeoutMs: options.timeoutMs ?? 0,
    });
  }

  /** Uploads every file under a local folder, keeping its layout under `artifactFolder` (default the top). */
  async uploadArtifacts(runId: string, localDir: string, artifactFolder = '', options: CallOptions = {}): Promise<UploadedArtifact[]> {
    const prefix = artifactFolder.replace(/\/+$/, '');
    const out: UploadedArtifact[] = [];
    for (const rel of filesUnder(localDir)) {
      out.push(await this.uploadArtifact(runId, path.join(localDir, rel), prefix ? `${prefix}/${rel}` : rel, options));
    }
    return out;
  }

  /** The run's files, all or those in one folder. */
  async listArtifacts(runId: string, folder?: string): Promise<RunArtifact[]> {
    return (await this.t.request<{ items: RunArtifact[] }>('GET', `/api/v1/runs/${enc(runId)}/artifacts`, { query: { prefix: folder } })).items;
  }

  /** Downloads one file to `toPath`, checking its sha256; nothing is left behind on failure. */
  async downloadArtifact(runId: string, artifactPath: string, toPath: string, options: CallOptions = {}): Promise<DownloadResult> {
    return this.t.download(artifactRoute(runId, artifactPath), toPath, options);
  }

  /** Downloads every file of a folder (all files for '') into `toDir`, keeping the layout below the folder. */
  async downloadArtifacts(runId: string, folder: string, toDir: string, options: CallOptions = {}): Promise<DownloadResult[]> {
    const base = folder.replace(/\/+$/, '');
    const root = path.resolve(toDir);
    const out: DownloadResult[] = [];
    for (const a of await this.listArtifacts(runId, base)) {
      const rel = base && a.path !== base ? a.path.slice(base.length + 1) : path.posix.basename(a.path);
      const target = path.resolve(root, ...rel.split('/'));
      // The server refuses such paths; checking again keeps a broken server from writing outside toDir.
      if (!target.startsWith(root + path.sep)) throw new CairnError('INTERNAL', `artifact path ${a.path} leaves ${root}`);
      await fs.promises.mkdir(path.dirname(target), { recursive: true });
      out.push(await this.downloadArtifact(runId, a.path, target, options));
    }
    return out;
  }
}

/** `client.experiments` and `client.runs` together. */
export class TrackingClient {
  readonly experiments: ExperimentsClient;
  readonly runs: RunsClient;
  constructor(transport: TrackingTransport) {
    this.experiments = new ExperimentsClient(transport);
    this.runs = new RunsClient(transport);
  }
}

/**
 * Logs to one run. Metrics are buffered and sent in order, in batches: when `batchSize` points
 * wait, every `flushIntervalMs`, on flush() and on end(). A failed send keeps its points for the
 * next one, so nothing is lost while the server is away; after a background failure (kept in
 * `lastError`) the timer retries, and flush() or end() retry and throw if it fails again. Params and tags are sent
 * at once, so a param conflict surfaces where it is logged.
 */
export class RunLogger {
  private buffer: { key: string; value: number; step: number; timestamp: string }[] = [];
  private sending: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout | null;
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private ended = false;
  private sendingInBackground = false;
  /** The error of the last background send that failed; null once a send succeeds. */
  lastError: unknown = null;

  constructor(
    private readonly runs: RunsClient,
    /** The run as it was when the logger was made. */
    readonly run: Run,
    options: RunLoggerOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.maxBuffered = options.maxBuffered ?? 1_000_000;
    const interval = options.flushIntervalMs ?? 2000;
    this.timer = interval > 0 ? setInterval(() => this.flushInBackground(), interval) : null;
    // A forgotten logger must not keep the process alive.
    this.timer?.unref();
  }

  get id(): string {
    return this.run.id;
  }

  /** Points logged but not yet acknowledged by the server. */
  get pending(): number {
    return this.buffer.length;
  }

  /**
   * Buffers one metric point; returns at once. `timestamp` defaults to now (the time of logging,
   * not of sending). Throws VALIDATION_FAILED for a bad key, value or step, CONFLICT after end().
   */
  logMetric(key: string, value: number, step = 0, timestamp: Date | string = new Date()): void {
    if (this.ended) throw new CairnError('CONFLICT', `run ${this.id} has ended; start another to log more`);
    if (typeof key !== 'string' || key.length > 250 || !KEY_PATTERN.test(key)) throw invalid('key', `${JSON.stringify(key)} is not a metric key`);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid('value', `${key}: expected a finite number, got ${String(value)}`);
    if (!Number.isSafeInteger(step) || step < 0) throw invalid('step', `${key}: expected an integer ≥ 0, got ${step}`);
    if (this.buffer.length >= this.maxBuffered) {
      throw new CairnError('UNAVAILABLE', `${this.buffer.length} metric points are waiting to be sent: ${String(this.lastError ?? 'the server is slow')}`);
    }
    this.buffer.push({ key, value, step, timestamp: typeof timestamp === 'string' ? timestamp : timestamp.toISOString() });
    // After a failed send, retries wait for the timer (or a flush), not for the next point logged.
    if (this.buffer.length >= this.batchSize && this.lastError === null) this.flushInBackground();
  }

  /** Buffers several metrics at one step. */
  logMetrics(values: Record<string, number>, step = 0, timestamp: Date | string = new Date()): void {
    for (const [key, value] of Object.entries(values)) this.logMetric(key, value, step, timestamp);
  }

  /** Logs params now. Throws CONFLICT naming the key, old and new value when one would change. */
  async logParams(params: Record<string, string | number | boolean>): Promise<void> {
    await this.runs.log(this.id, { params: Object.entries(params).map(([key, value]) => ({ key, value })) });
  }

  /** Sets tags now (a tag's new value replaces the old). */
  async setTags(tags: Record<string, string>): Promise<void> {
    await this.runs.log(this.id, { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) });
  }

  /** Sends every buffered point; resolves when the server has them, throws when a send fails. */
  flush(): Promise<void> {
    const next = this.sending.then(() => this.drain());
    // The chain itself never stays rejected: the next flush retries what is still buffered.
    this.sending = next.catch(() => {});
    return next;
  }

  /** Flushes, then ends the run. If the flush fails the run stays open and this may be retried. */
  async end(status: EndStatus = 'finished'): Promise<Run> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    this.ended = true;
    return this.runs.end(this.id, { status });
  }

  /** Uploads a local file (or with `uploadArtifacts`, a folder) as an artifact of this run. */
  uploadArtifact(localFile: string, artifactPath?: string): Promise<UploadedArtifact> {
    return this.runs.uploadArtifact(this.id, localFile, artifactPath);
  }

  uploadArtifacts(localDir: string, artifactFolder?: string): Promise<UploadedArtifact[]> {
    return this.runs.uploadArtifacts(this.id, localDir, artifactFolder);
  }

  /** One send at a time from the background: a slow or absent server gets one request, not one per point. */
  private flushInBackground(): void {
    if (this.buffer.length === 0 || this.sendingInBackground) return;
    this.sendingInBackground = true;
    this.flush()
      .catch((err: unknown) => {
        this.lastError = err;
      })
      .finally(() => {
        this.sendingInBackground = false;
      });
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.batchSize);
      await this.runs.log(this.id, { metrics: batch });
      // Removed only once the server has them; points logged meanwhile stay behind them.
      this.buffer.splice(0, batch.length);
      this.lastError = null;
    }
  }
}
