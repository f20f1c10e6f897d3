/**
 * One model version loaded for serving: its ONNX session, the rules its requests are checked
 * against, its online-feature plan and its micro-batcher. Requests hold it while they run
 * (`acquire`/`release`), so a version swapped out by a promotion finishes what it started before
 * its session is released.
 */
import type { InputRow, OnnxModelRunner, Signature } from '../ml/index.js';
import { MicroBatcher } from './batcher.js';
import type { InputPlan } from './instance-validation.js';

export interface ServedVersionInit {
  model: string;
  version: number;
  runner: OnnxModelRunner;
  plan: InputPlan;
  maxBatchRows: number;
  maxWaitMs: number;
  onBatch: (served: ServedVersion, rows: number) => void;
}

/** The positive-class probability above which a binary model's label is 1, unless the signature says otherwise. */
export const DEFAULT_THRESHOLD = 0.5;

export class ServedVersion {
  readonly model: string;
  readonly version: number;
  readonly signature: Signature;
  readonly plan: InputPlan;
  /** Binary models: label 1 when the probability is above this. */
  readonly threshold: number;
  readonly loadedAt = Date.now();
  private readonly runner: OnnxModelRunner;
  private readonly batcher: MicroBatcher<InputRow>;
  private holders = 0;
  private retiring: Promise<void> | null = null;
  private onIdle: (() => void) | null = null;

  constructor(init: ServedVersionInit) {
    this.model = init.model;
    this.version = init.version;
    this.runner = init.runner;
    this.signature = init.runner.signature;
    this.plan = init.plan;
    const declared = (this.signature as Signature & { threshold?: unknown }).threshold;
    this.threshold = typeof declared === 'number' && declared > 0 && declared < 1 ? declared : DEFAULT_THRESHOLD;
    this.batcher = new MicroBatcher<InputRow>((rows) => this.runner.run(rows), {
      maxRows: init.maxBatchRows,
      maxWaitMs: init.maxWaitMs,
      onBatch: (rows) => init.onBatch(this, rows),
    });
  }

  get task(): Signature['task'] {
    return this.signature.task;
  }

  get modelType(): string {
    return this.runner.modelType;
  }

  /** Marks a request as running on this version; every acquire needs its release. */
  acquire(): this {
    this.holders++;
    return this;
  }

  release(): void {
    if (--this.holders === 0 && this.onIdle) this.onIdle();
  }

  /** Model outputs for checked rows, from a run shared with concurrent requests. */
  predict(rows: readonly InputRow[]): Promise<Float64Array> {
    return this.batcher.submit(rows);
  }

  /** Waits for the requests holding it, then frees the session. Idempotent. */
  retire(): Promise<void> {
    this.retiring ??= (async () => {
      if (this.holders > 0) await new Promise<void>((resolve) => (this.onIdle = resolve));
      await this.batcher.drained();
      await this.runner.close();
    })();
    return this.retiring;
  }
}
