/**
 * The model and the requests of the serving benchmark: the flights model (dep_hour, day_of_week,
 * distance, origin, destination; delayed > 15 min) trained on January through the feature store
 * and the training service, registered and promoted to Production in a Cairn home that later runs
 * reuse; and single-instance requests built from real February flights.
 */
import fs from 'node:fs';
import path from 'node:path';
import { prepareFlightsData } from '../examples/flights/prepare-data.js';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import type { Actor } from '../src/identity/index.js';
import type { Signature } from '../src/ml/index.js';
import { openPlatform } from '../src/server/platform.js';
import { DuckDb, quoteLiteral } from '../src/storage/duckdb.js';

export const MODEL = 'flight-delay';
const ADMIN: Actor = { user: 'bench', role: 'admin', tokenId: null };
const REVIEWER: Actor = { user: 'bench-reviewer', role: 'approver', tokenId: null };
const FEATURES: [string, string, string][] = [
  ['dep_hour', 'int64', 'hour(date)'],
  ['day_of_week', 'int64', 'dayofweek(date)'],
  ['distance', 'float64', 'distance'],
];

export interface BenchModel {
  home: string;
  version: number;
  signature: Signature;
  trainedNow: boolean;
}

/** A Cairn home under `dir` whose `flight-delay` Production version is the flights gbdt; trains it the first time. */
export async function ensureFlightsModel(dir: string): Promise<BenchModel> {
  const flights = path.join(dir, 'flights.parquet');
  await prepareFlightsData(flights);
  const home = path.join(dir, 'serve-home');
  fs.mkdirSync(home, { recursive: true });
  const platform = await openPlatform(loadConfig({ CAIRN_HOME: home, CAIRN_LOG_LEVEL: 'warn' }), createLogger('warn'));
  try {
    const existing = await platform.registry.getByStage(MODEL, 'Production').catch(() => null);
    if (existing?.signature.cairn) return { home, version: existing.version, signature: existing.signature.cairn, trainedNow: false };
    const defs = platform.features.definitions;
    await defs.getEntity('flight').catch(() => defs.createEntity({ name: 'flight', joinKeys: ['flight_id'] }, ADMIN));
    await defs.getSource('flights').catch(() => defs.createSource({ name: 'flights', path: flights, timestampColumn: 'date' }, ADMIN));
    for (const [name, valueType, expression] of FEATURES) {
      await defs.getFeature(name, 1).catch(() => defs.createFeature({ name, entity: 'flight', source: 'flights', valueType, expression }, ADMIN));
    }
    const entityTable = `SELECT flight_id, origin, destination, date AS t, delay > 15 AS delayed FROM read_parquet(${quoteLiteral(flights)}) WHERE date < '2001-02-01'`;
    await platform.features.trainingSets.get('flights_jan', 1).catch(() =>
      platform.features.trainingSets.build({ name: 'flights_jan', entityTable: { query: entityTable }, eventTimeColumn: 't', features: FEATURES.map(([n]) => `${n}@1`) }, ADMIN),
    );
    const run = await platform.training.start(
      {
        experiment: 'serve-bench',
        trainer: 'gbdt',
        dataset: 'flights_jan@1',
        validation: { fraction: 0.1 },
        label: 'delayed',
        features: ['dep_hour', 'day_of_week', 'distance', 'origin', 'destination'],
        params: { n_trees: 100, learning_rate: 0.1, max_leaves: 31, min_samples_leaf: 20, seed: 1 },
      },
      ADMIN,
    );
    const outcome = await platform.training.wait(run.id);
    if (outcome?.run.status !== 'finished') throw new Error(`training failed: ${outcome?.error}`);
    await platform.registry.getModel(MODEL).catch(() => platform.registry.createModel({ name: MODEL, description: 'flight delay risk' }, ADMIN));
    const card = {
      description: 'Probability that a US domestic flight departs more than 15 minutes late.',
      intendedUse: 'Benchmarking the prediction service.',
      trainingData: 'January 2001 flights (vega-datasets), point-in-time features.',
      limitations: ['One month of 2001 data.'],
      ethicalConsiderations: [{ name: 'None beyond benchmarking', mitigationStrategy: 'Not used for decisions.' }],
      owners: [{ name: 'bench', contact: null }],
      license: 'Apache-2.0',
    };
    const v = await platform.registry.registerVersion(MODEL, { runId: run.id, card }, ADMIN);
    await platform.registry.cards.review(MODEL, v.version, 'approved', { comment: 'benchmark' }, REVIEWER);
    await platform.registry.transition(MODEL, v.version, { stage: 'Production' }, REVIEWER);
    return { home, version: v.version, signature: v.signature.cairn!, trainedNow: true };
  } finally {
    await platform.close();
  }
}

export type FlightInstance = { dep_hour: number; day_of_week: number; distance: number; origin: string; destination: string };

/**
 * Up to `count` February flights as instances, evenly spread over the month; flights the model
 * cannot answer for (an airport it never saw, a distance outside its training range) are left out
 * and counted, since strict serving refuses them.
 */
export async function februaryInstances(dir: string, signature: Signature, count: number): Promise<{ instances: FlightInstance[]; excluded: number; total: number }> {
  const db = await DuckDb.open();
  try {
    const rows = await db.all<FlightInstance>(
      `SELECT hour(date)::DOUBLE AS dep_hour, dayofweek(date)::DOUBLE AS day_of_week, distance::DOUBLE AS distance, origin, destination
       FROM read_parquet(${quoteLiteral(path.join(dir, 'flights.parquet'))}) WHERE month(date) = 2 ORDER BY flight_id`,
    );
    const ok = (r: FlightInstance) =>
      signature.inputs.every((i) => {
        const v = r[i.name as keyof FlightInstance];
        return i.kind === 'numeric' ? typeof v === 'number' && v >= i.min && v <= i.max : i.vocabulary.includes(String(v));
      });
    const usable = rows.filter(ok);
    const step = Math.max(1, Math.floor(usable.length / count));
    const instances: FlightInstance[] = [];
    for (let i = 0; i < usable.length && instances.length < count; i += step) instances.push(usable[i]!);
    return { instances, excluded: rows.length - usable.length, total: rows.length };
  } finally {
    db.close();
  }
}
