/**
 * Fixtures of the serving tests: a small flights feature store, gbdt models trained on it by the
 * training service, registered with complete cards and moved between stages the way people do.
 */
import type { Actor } from '../../src/identity/index.js';
import type { Platform } from '../../src/server/platform.js';
import { makeFlights, writeCsv } from '../support/fixtures.js';
import { COMPLETE_CARD, ROOT } from '../support/registry.js';

export const APPROVER: Actor = { user: 'april', role: 'approver', tokenId: null };

export interface ServingStore {
  csv: string;
  rows: ReturnType<typeof makeFlights>;
}

/**
 * Entity `flight`, source `flights`, features `dep_hour@1` and `distance@1`, training sets
 * `jan_a@1` (first 20 days) and `jan_b@1` (the rest), label `delayed`.
 */
export async function seedFlights(platform: Platform, dir: string): Promise<ServingStore> {
  const rows = makeFlights({ days: 30, stepMinutes: 30 });
  const csv = writeCsv(dir, 'flights.csv', rows);
  const defs = platform.features.definitions;
  await defs.createEntity({ name: 'flight', joinKeys: ['flight_id'] }, ROOT);
  await defs.createSource({ name: 'flights', path: csv, timestampColumn: 'date' }, ROOT);
  await defs.createFeature({ name: 'dep_hour', entity: 'flight', source: 'flights', valueType: 'int64', expression: 'hour(date)' }, ROOT);
  await defs.createFeature({ name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' }, ROOT);
  const query = (from: string, to: string) =>
    `SELECT flight_id, origin, date AS t, delay > 15 AS delayed FROM read_csv('${csv}') WHERE date >= '${from}' AND date < '${to}'`;
  for (const [name, from, to] of [
    ['jan_a', '2001-01-01', '2001-01-21'],
    ['jan_b', '2001-01-21', '2001-02-01'],
  ] as const) {
    await platform.features.trainingSets.build({ name, entityTable: { query: query(from, to) }, eventTimeColumn: 't', features: ['dep_hour@1', 'distance@1'] }, ROOT);
  }
  return { csv, rows };
}

/** Trains a small gbdt on jan_a (validated on jan_b) and registers it as the next version of `model`. */
export async function trainVersion(platform: Platform, model: string, seed: number, nTrees = 10): Promise<number> {
  await platform.registry.getModel(model).catch(() => platform.registry.createModel({ name: model }, ROOT));
  const run = await platform.training.start(
    {
      experiment: 'serving-tests',
      trainer: 'gbdt',
      dataset: 'jan_a@1',
      validation: { dataset: 'jan_b@1' },
      label: 'delayed',
      features: ['dep_hour', 'distance', 'origin'],
      params: { n_trees: nTrees, learning_rate: 0.3, max_leaves: 8, min_samples_leaf: 5, seed },
    },
    ROOT,
  );
  const outcome = await platform.training.wait(run.id);
  if (outcome?.run.status !== 'finished') throw new Error(`training failed: ${outcome?.error}`);
  return (await platform.registry.registerVersion(model, { runId: run.id, card: COMPLETE_CARD }, ROOT)).version;
}

/** Approves the version's card and moves it to a stage (archiving the previous Production one). */
export async function promote(platform: Platform, model: string, version: number, stage: 'Production' | 'Staging' = 'Production'): Promise<void> {
  if (stage === 'Production') await platform.registry.cards.review(model, version, 'approved', { comment: 'reviewed' }, APPROVER);
  await platform.registry.transition(model, version, { stage }, APPROVER);
}

/** Waits until `check` holds (a swap happens after an event is handled), polling every 10 ms. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
