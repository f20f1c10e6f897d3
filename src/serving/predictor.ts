/**
 * One prediction request from instances to answers: resolve the version (a map read), check every
 * instance, fill inputs from the online store, run in a shared micro-batch, record each prediction
 * in the prediction log. A request is answered whole or refused whole; a refusal is counted by
 * reason in the log and the metrics.
 */
import { CairnError, type FieldError } from '../core/errors.js';
import type { OnlineStore } from '../features/index.js';
import { fillFromOnlineStore } from './feature-fill.js';
import { checkInstances, type PathOf } from './instance-validation.js';
import { PredictionIds } from './prediction-ids.js';
import type { PredictionLog, PredictionRecord } from './prediction-log.js';
import type { ServedVersion } from './served-version.js';
import type { ServedStage, ServingService } from './service.js';

/** What a request addresses: a stage (default Production) or a version number. */
export type Target = { stage: ServedStage } | { version: number };

export interface PredictionBatch {
  served: ServedVersion;
  stage: ServedStage | null;
  ids: string[];
  /** The model's output per instance: the positive-class probability (binary) or the value. */
  values: Float64Array;
}

/** A request's instances, and how to name their fields and their count in error messages. */
export interface PreparedRequest {
  instances: readonly unknown[];
  pathOf: PathOf;
  countPath: string;
}

/** Where the predictor reports what it served and refused (Prometheus metrics). */
export interface PredictionObserver {
  served(served: ServedVersion, instances: number, seconds: number): void;
  refused(model: string, version: number | null, reason: string): void;
}

/** The reason a refusal is counted under: its error code in lower case (`validation_failed`…). */
export function refusalReason(err: unknown): string {
  return err instanceof CairnError ? err.code.toLowerCase() : 'internal';
}

export class Predictor {
  private readonly ids = new PredictionIds();

  constructor(
    private readonly service: ServingService,
    private readonly online: OnlineStore,
    private readonly log: Pick<PredictionLog, 'record' | 'refused'>,
    private readonly observer: PredictionObserver | null = null,
  ) {}

  /**
   * Predicts for every instance, or refuses the request. `prepare` reads the request's instances
   * once the version is known (the OIP tensor format needs its inputs); its `pathOf` names an
   * instance's fields in error messages (`instances[2].distance`).
   * @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND, VALIDATION_FAILED listing every problem,
   *   UNAVAILABLE when the online store cannot be reached
   */
  async predict(model: string, target: Target, prepare: (served: ServedVersion) => PreparedRequest): Promise<PredictionBatch> {
    const started = performance.now();
    let served: ServedVersion | null = null;
    try {
      served = 'stage' in target ? await this.service.byStage(model, target.stage) : await this.service.byVersion(model, target.version);
      const { instances, pathOf, countPath } = prepare(served);
      const max = this.service.config.maxInstances;
      if (instances.length === 0) throw CairnError.validation([{ path: countPath, reason: 'at least one instance is required' }]);
      if (instances.length > max) throw CairnError.validation([{ path: countPath, reason: `at most ${max} instances per request, got ${instances.length}` }]);
      const strict = this.service.config.strict;
      const errors: FieldError[] = [];
      const checked = checkInstances(served.plan, instances, strict, pathOf, errors);
      if (errors.length === 0) await fillFromOnlineStore(this.online, served.plan, checked, strict, pathOf, errors);
      if (errors.length > 0) throw CairnError.validation(errors);
      const rows = new Array<Record<string, unknown>>(checked.length);
      for (let i = 0; i < checked.length; i++) rows[i] = checked[i]!.row;
      const values = await served.predict(rows);
      const latencyMs = performance.now() - started;
      const stage = 'stage' in target ? target.stage : null;
      const ids = this.record(served, stage, checked as { row: Record<string, unknown>; entities: Record<string, string | number> | null }[], values, latencyMs);
      this.observer?.served(served, instances.length, latencyMs / 1000);
      return { served, stage, ids, values };
    } catch (err) {
      this.refuse(model, served?.version ?? null, err);
      throw err;
    } finally {
      served?.release();
    }
  }

  /** Counts a refused request (in the prediction log and the metrics) under its reason. */
  refuse(model: string, version: number | null, err: unknown): void {
    const reason = refusalReason(err);
    this.log.refused(model, reason);
    this.observer?.refused(model, version, reason);
  }

  private record(
    served: ServedVersion,
    stage: ServedStage | null,
    checked: { row: Record<string, unknown>; entities: Record<string, string | number> | null }[],
    values: Float64Array,
    latencyMs: number,
  ): string[] {
    const at = new Date().toISOString();
    const binary = served.task === 'binary';
    const ids = new Array<string>(values.length);
    const records = new Array<PredictionRecord>(values.length);
    for (let i = 0; i < values.length; i++) {
      const id = this.ids.next();
      ids[i] = id;
      const value = values[i]!;
      const c = checked[i]!;
      records[i] = {
        id,
        at,
        model: served.model,
        version: served.version,
        stage,
        variant: null,
        features: c.row as PredictionRecord['features'],
        entities: c.entities === null ? null : stringValues(c.entities),
        output: binary ? { value, probability: value, label: value > served.threshold ? 1 : 0 } : { value },
        latencyMs,
      };
    }
    this.log.record(records);
    return ids;
  }
}

function stringValues(o: Record<string, string | number>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in o) out[k] = String(o[k]);
  return out;
}
