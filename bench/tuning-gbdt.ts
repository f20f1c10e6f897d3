/**
 * The tuning benchmark's real problem: a gbdt on the flights data with 5 hyperparameters, small
 * enough that a 50-trial study takes about 10 s. Train on every 20th flight of January 2001 (25k
 * rows), evaluate on every 20th of February (23k), same inputs and label as bench/ml.ts; the
 * objective is the validation log loss after a fixed 50 trees, trained in process by trainGbdt.
 */
import os from 'node:os';
import path from 'node:path';
import { prepareFlightsData } from '../examples/flights/prepare-data.js';
import { loadFrame, type LoadedFrame } from '../src/ml/frame.js';
import { trainGbdt } from '../src/ml/gbdt/index.js';
import { logLoss } from '../src/ml/metrics.js';
import { predict } from '../src/ml/predict.js';
import { DuckDb, quoteLiteral } from '../src/storage/duckdb.js';
import type { Params, SearchSpace } from '../src/tuning/index.js';

const BENCH_DIR = path.join(os.tmpdir(), 'cairn-bench');
const FEATURES = ['dep_hour', 'day_of_week', 'distance', 'origin', 'destination'];
const LABEL = 'delayed';
/** One flight in this many, by flight_id: a deterministic subsample. */
const EVERY = 20;
export const GBDT_TREES = 50;

/** Names as a LightGBM user would write them; mapped onto trainGbdt's parameters in the objective. */
export const GBDT_SPACE: SearchSpace = {
  learning_rate: { type: 'float', low: 0.005, high: 0.5, log: true },
  max_depth: { type: 'int', low: 2, high: 12 },
  num_leaves: { type: 'int', low: 4, high: 128, log: true },
  min_child_samples: { type: 'int', low: 5, high: 500, log: true },
  subsample: { type: 'float', low: 0.4, high: 1 },
};

export interface GbdtProblem {
  trainRows: number;
  validRows: number;
  /** Validation log loss of a model trained with `params`. */
  objective(params: Params): number;
}

/** Writes the two slices (cached in the OS temp dir across runs) and loads them. */
export async function loadGbdtProblem(): Promise<GbdtProblem> {
  const flights = path.join(BENCH_DIR, 'flights.parquet');
  await prepareFlightsData(flights);
  const db = await DuckDb.open();
  let train: LoadedFrame;
  let valid: LoadedFrame;
  try {
    const files = { train: path.join(BENCH_DIR, 'tuning-train-jan.parquet'), valid: path.join(BENCH_DIR, 'tuning-valid-feb.parquet') };
    for (const [file, month] of [[files.train, 1], [files.valid, 2]] as const) {
      await db.run(
        `COPY (
           SELECT hour(date) + minute(date) / 60.0 AS dep_hour, dayofweek(date) AS day_of_week, distance, origin, destination,
                  delay > 15 AS ${LABEL}
           FROM read_parquet(${quoteLiteral(flights)}) WHERE month(date) = ${month} AND flight_id % ${EVERY} = 0 ORDER BY flight_id
         ) TO ${quoteLiteral(file)} (FORMAT parquet)`,
      );
    }
    train = await loadFrame(db, files.train, { features: FEATURES, label: LABEL });
    const vocabularies = Object.fromEntries(train.signature.inputs.flatMap((i) => (i.kind === 'categorical' ? [[i.name, i.vocabulary] as const] : [])));
    valid = await loadFrame(db, files.valid, { features: FEATURES, label: LABEL, vocabularies });
  } finally {
    db.close();
  }
  return {
    trainRows: train.frame.rows,
    validRows: valid.frame.rows,
    objective: (p) => {
      const { model } = trainGbdt(
        train,
        {
          nTrees: GBDT_TREES,
          learningRate: p.learning_rate as number,
          maxDepth: p.max_depth as number,
          maxLeaves: p.num_leaves as number,
          minSamplesLeaf: p.min_child_samples as number,
          rowSubsample: p.subsample as number,
          earlyStoppingRounds: null,
        },
        // One thread: the machine's other core runs the Optuna process or another engineer's work.
        { threads: 1 },
      );
      return logLoss(valid.labels, predict(model, valid.frame));
    },
  };
}
