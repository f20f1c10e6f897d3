/**
 * The prediction log in the SDK: `client.predictions`. Reads logged predictions with their
 * feedback, per-version performance and refusal counts, and records actual outcomes
 * (`POST /v1/feedback`, beside the prediction endpoints).
 */
import type { Page } from '../core/pagination.js';
import type { Actual, FeedbackResult, LoggedPrediction, ModelPerformance, RefusalCount } from '../serving/index.js';
import type { ListOptions } from './client.js';
import type { TrackingTransport } from './tracking.js';

const enc = encodeURIComponent;

export interface PredictionFilter extends ListOptions {
  model?: string;
  version?: number;
  /** ISO-8601 time, inclusive. */
  since?: string;
  /** ISO-8601 time, exclusive. */
  until?: string;
}

export type InstanceValue = number | string | boolean | null;

/** One answer of `predict`: the id to send feedback for, and the model's output. */
export interface Prediction {
  id: string;
  /** The positive-class probability (binary classifier) or the predicted value. */
  value: number;
  probability?: number;
  label?: number;
}

export interface PredictResult {
  model: string;
  version: number;
  stage: string | null;
  predictions: Prediction[];
}

/** `client.predictions`: predictions, the prediction log and feedback. */
export class PredictionsClient {
  constructor(private readonly transport: Pick<TrackingTransport, 'request'>) {}

  /**
   * Predicts with the model's Production version, or the version or stage given. Instances carry
   * input values by name and/or entity keys to read the other inputs from the online store.
   * Throws VALIDATION_FAILED listing every problem (paths like `instances[2].distance`),
   * MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND.
   */
  predict(model: string, instances: Record<string, InstanceValue>[], at: { version?: number; stage?: string } = {}): Promise<PredictResult> {
    const route =
      at.version !== undefined
        ? `/v1/models/${enc(model)}/versions/${at.version}/predict`
        : at.stage !== undefined
          ? `/v1/models/${enc(model)}/stages/${enc(at.stage)}/predict`
          : `/v1/models/${enc(model)}/predict`;
    return this.transport.request<PredictResult>('POST', route, { body: { instances } });
  }

  /** Logged predictions, newest first. Throws VALIDATION_FAILED naming every bad parameter. */
  list(filter: PredictionFilter = {}): Promise<Page<LoggedPrediction>> {
    return this.transport.request<Page<LoggedPrediction>>('GET', '/api/v1/predictions', { query: { ...filter } });
  }

  /** One prediction with its feedback. Throws PREDICTION_NOT_FOUND. */
  get(id: string): Promise<LoggedPrediction> {
    return this.transport.request<LoggedPrediction>('GET', `/api/v1/predictions/${enc(id)}`);
  }

  /**
   * Records actual outcomes (editor role). A second outcome for an id replaces the first; ids
   * that are not logged predictions come back in `unknown`. Throws PREDICTION_NOT_FOUND when
   * none is known, VALIDATION_FAILED naming every bad item.
   */
  feedback(items: { predictionId: string; actual: Actual }[]): Promise<FeedbackResult> {
    return this.transport.request<FeedbackResult>('POST', '/v1/feedback', { body: { items } });
  }

  /** Per version: predictions, how many have feedback, and metrics on those. Throws MODEL_NOT_FOUND. */
  performance(model: string, range: { since?: string; until?: string } = {}): Promise<ModelPerformance> {
    return this.transport.request<ModelPerformance>('GET', `/api/v1/models/${enc(model)}/performance`, { query: { ...range } });
  }

  /** Refused prediction requests per minute, model and reason (the last 24 hours unless `since`). */
  async refusals(filter: { model?: string; since?: string; until?: string } = {}): Promise<RefusalCount[]> {
    return (await this.transport.request<{ items: RefusalCount[] }>('GET', '/api/v1/refusals', { query: { ...filter } })).items;
  }
}
