/**
 * Dynamic micro-batching: concurrent requests for one model version are merged into one model run
 * and the results split back. Small requests are the common case (one instance each), and one ONNX
 * run of 64 rows costs little more than a run of one, so merging is where the throughput comes from.
 *
 * At most one run is in flight per batcher: while it runs, new requests queue and go together in
 * the next run as soon as it ends (under load, batches form by themselves, with no added wait).
 * When idle, the first request waits at most `maxWaitMs` for company, or less when `maxRows` rows
 * are queued. A run takes whole requests in arrival order up to `maxRows` rows (a larger request
 * runs alone), so a request is never split across runs.
 */

export interface BatcherOptions {
  maxRows: number;
  maxWaitMs: number;
  /** Told the number of rows of every run, for metrics. */
  onBatch?: (rows: number) => void;
}

/** Runs the model on rows; returns one value per row, in order. */
export type RunBatch<Row> = (rows: Row[]) => Promise<Float64Array>;

interface Pending<Row> {
  rows: readonly Row[];
  resolve: (values: Float64Array) => void;
  reject: (err: unknown) => void;
}

export class MicroBatcher<Row> {
  private queue: Pending<Row>[] = [];
  private queuedRows = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly run: RunBatch<Row>,
    private readonly options: BatcherOptions,
  ) {}

  /** The predictions for `rows`, computed in a run shared with other requests. */
  submit(rows: readonly Row[]): Promise<Float64Array> {
    return new Promise<Float64Array>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
      if (this.running) return;
      if (this.queuedRows >= this.options.maxRows) this.dispatch();
      else if (this.timer === null) this.timer = setTimeout(() => this.dispatch(), this.options.maxWaitMs);
    });
  }

  /** Requests queued or running. */
  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  /** Resolves once every submitted request has been answered. */
  drained(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private dispatch(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.running || this.queue.length === 0) return;
    const take = this.takeBatch();
    this.running = true;
    void this.execute(take).finally(() => {
      this.running = false;
      // Whatever queued meanwhile has already waited a whole run: go at once.
      if (this.queue.length > 0) this.dispatch();
      else for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  private takeBatch(): Pending<Row>[] {
    let n = 0;
    let k = 0;
    while (k < this.queue.length && (k === 0 || n + this.queue[k]!.rows.length <= this.options.maxRows)) n += this.queue[k++]!.rows.length;
    const take = this.queue.splice(0, k);
    this.queuedRows -= n;
    return take;
  }

  private async execute(batch: Pending<Row>[]): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0]!;
      await this.runOne(only.rows).then(only.resolve, only.reject);
      return;
    }
    const rows: Row[] = [];
    for (const p of batch) for (const r of p.rows) rows.push(r);
    let values: Float64Array;
    try {
      values = await this.runOne(rows);
    } catch {
      // One request's rows may have made the whole run fail: run each alone so that only it fails.
      for (const p of batch) await this.runOne(p.rows).then(p.resolve, p.reject);
      return;
    }
    let offset = 0;
    for (const p of batch) {
      p.resolve(values.subarray(offset, offset + p.rows.length));
      offset += p.rows.length;
    }
  }

  private async runOne(rows: readonly Row[]): Promise<Float64Array> {
    this.options.onBatch?.(rows.length);
    const values = await this.run(rows as Row[]);
    if (values.length !== rows.length) throw new Error(`the model returned ${values.length} values for ${rows.length} rows`);
    return values;
  }
}
