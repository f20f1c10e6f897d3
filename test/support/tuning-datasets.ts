import { makeFlights, writeCsv } from './fixtures.js';
import type { TestServer } from './platform.js';

/** The inputs of the datasets below. */
export const FLIGHT_FEATURES = ['dep_hour', 'distance', 'origin'];

/**
 * Two training sets of small flights whose label the inputs predict (long flights with big delays
 * are `delayed`), so that tuning has something to find: `flights_a@1` (20 days) to train on and
 * `flights_b@1` (10 days) to validate on.
 */
export async function createFlightDatasets(s: TestServer, opts: { days?: number; stepMinutes?: number } = {}): Promise<void> {
  const days = opts.days ?? 30;
  const csv = writeCsv(s.home, 'flights.csv', makeFlights({ days, stepMinutes: opts.stepMinutes ?? 20 }));
  const post = async (url: string, body: object) => {
    const res = await s.app.inject({ method: 'POST', url: `/api/v1${url}`, payload: body });
    if (res.statusCode !== 201) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`);
  };
  await post('/entities', { name: 'flight', joinKeys: ['flight_id'] });
  await post('/sources', { name: 'flights', path: csv, timestampColumn: 'date' });
  await post('/features', { name: 'dep_hour', entity: 'flight', source: 'flights', valueType: 'int64', expression: 'hour(date)' });
  await post('/features', { name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' });
  const split = new Date(Date.parse('2001-01-01') + Math.round((days * 2) / 3) * 86_400_000).toISOString().slice(0, 10);
  const query = (from: string, to: string) =>
    `SELECT flight_id, origin, date AS t, distance + 20 * delay > 1500 AS delayed FROM read_csv('${csv}') WHERE date >= '${from}' AND date < '${to}'`;
  for (const [name, from, to] of [
    ['flights_a', '2001-01-01', split],
    ['flights_b', split, '2002-01-01'],
  ] as const) {
    await post('/training-sets', { name, entityTable: { query: query(from, to) }, eventTimeColumn: 't', features: ['dep_hour@1', 'distance@1'] });
  }
}
