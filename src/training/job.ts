/**
 * One training, start to finish, as pure computation: load the dataset(s), fit, evaluate, export
 * ONNX and profile the training data. It runs in a worker thread (see worker.ts) so that a long
 * fit never blocks the server's event loop.
 */
import { DuckDb } from '../storage/duckdb.js';
import {
  classificationMetrics,
  exportOnnx,
  loadFrame,
  predict,
  profileFrame,
  regressionMetrics,
  trainGbdt,
  trainLinear,
  type DataProfile,
  type Signature,
  type TrainedModel,
} from '../ml/index.js';
import type { EvaluationMetrics, IterationReport, TrainJob } from './model.js';
import { holdOut, type LabelledFrame } from './split.js';

export type JobEvent = { type: 'phase'; phase: string } | { type: 'iteration'; report: IterationReport };

/** A fit ended by its stop flag: no model (nothing half-made reaches the run), only how far it got. */
export interface StoppedTrainJob {
  stopped: true;
  /** Iterations (trees, solver steps) done before the stop. */
  iterations: number;
}

export interface TrainJobResult {
  model: TrainedModel;
  onnx: Uint8Array;
  profile: DataProfile;
  signature: Signature;
  metrics: { train: EvaluationMetrics; valid: EvaluationMetrics };
  rows: { train: number; valid: number };
  iterations: number;
  bestIteration: number | null;
  seconds: { load: number; fit: number; evaluate: number; export: number };
}

const since = (t: number) => (performance.now() - t) / 1000;

function evaluate(model: TrainedModel, data: LabelledFrame): EvaluationMetrics {
  const predictions = predict(model, data.frame);
  return model.signature.task === 'binary' ? classificationMetrics(data.labels, predictions) : regressionMetrics(data.labels, predictions);
}

/**
 * Runs `job`; `report` hears phases and per-iteration metrics. `shouldStop` is asked after every
 * iteration: once it says yes the fit ends there and no model is evaluated or exported. Throws
 * CairnError for bad data.
 */
export async function runTrainJob(job: TrainJob, report: (event: JobEvent) => void, shouldStop: () => boolean = () => false): Promise<TrainJobResult | StoppedTrainJob> {
  const db = await DuckDb.open();
  try {
    report({ type: 'phase', phase: 'loading' });
    let t = performance.now();
    const loaded = await loadFrame(db, job.trainPath, { features: job.features, label: job.label, ...(job.categorical ? { categorical: job.categorical } : {}) });
    const signature = loaded.signature;
    let train: LabelledFrame = loaded;
    let valid: LabelledFrame;
    if (job.validationPath !== null) {
      const vocabularies = Object.fromEntries(signature.inputs.flatMap((i) => (i.kind === 'categorical' ? [[i.name, i.vocabulary]] : [])));
      valid = await loadFrame(db, job.validationPath, {
        features: job.features,
        label: job.label,
        categorical: Object.keys(vocabularies),
        vocabularies,
        task: signature.task,
      });
    } else {
      ({ train, valid } = holdOut(loaded, job.validationFraction ?? 0.2, job.seed));
    }
    const load = since(t);

    report({ type: 'phase', phase: 'training' });
    t = performance.now();
    let model: TrainedModel;
    let iterations: number;
    let bestIteration: number | null = null;
    if (job.trainer === 'gbdt') {
      const result = trainGbdt({ ...train, signature }, job.params, {
        valid,
        shouldStop,
        onIteration: (info) => {
          const metrics: Record<string, number> = {};
          if (info.trainLoss !== null) metrics.train_loss = info.trainLoss;
          if (info.validLoss !== null) metrics.valid_loss = info.validLoss;
          if (info.validMetric !== null && info.validMetric !== info.validLoss) metrics.valid_metric = info.validMetric;
          report({ type: 'iteration', report: { iteration: info.iteration, metrics } });
        },
      });
      if (result.stopped) return { stopped: true, iterations: result.history.length };
      model = result.model;
      iterations = result.iterations;
      bestIteration = result.bestIteration;
    } else {
      const result = trainLinear({ ...train, signature }, job.params, {
        shouldStop,
        onIteration: (info) => report({ type: 'iteration', report: { iteration: info.iteration, metrics: { train_loss: info.loss } } }),
      });
      if (result.stopped) return { stopped: true, iterations: result.iterations };
      model = result.model;
      iterations = result.iterations;
    }
    const fit = since(t);

    report({ type: 'phase', phase: 'evaluating' });
    t = performance.now();
    const metrics = { train: evaluate(model, train), valid: evaluate(model, valid) };
    const evaluateSeconds = since(t);

    report({ type: 'phase', phase: 'exporting' });
    t = performance.now();
    const onnx = exportOnnx(model);
    const profile = profileFrame(loaded.frame, signature, loaded.labels);
    return {
      model,
      onnx,
      profile,
      signature,
      metrics,
      rows: { train: train.frame.rows, valid: valid.frame.rows },
      iterations,
      bestIteration,
      seconds: { load, fit, evaluate: evaluateSeconds, export: since(t) },
    };
  } finally {
    db.close();
  }
}
