/**
 * Offline feature engine benchmark on the flights demo data (3M rows, Jan–Jun 2001): a
 * point-in-time training set for January's flights with 7 features, and the latest values of
 * the airport features for materialization. Run alone: `npx tsx bench/features-offline.ts`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { prepareFlightsData } from '../examples/flights/prepare-data.js';
import { OfflineEngine, type ResolvedFeature, type TrainingFeature } from '../src/features/offline-engine.js';
import type { DataSource, FeatureSpec, ValueType } from '../src/features/model.js';
import { quoteLiteral } from '../src/storage/duckdb.js';

const BENCH_DIR = path.join(os.tmpdir(), 'cairn-bench');

function flightsSource(file: string): DataSource {
  return {
    name: 'flights',
    path: file,
    format: 'parquet',
    timestampColumn: 'date',
    description: '',
    columns: [],
    createdAt: '2001-01-01T00:00:00.000Z',
    createdBy: 'bench',
  };
}

function feature(
  source: DataSource,
  name: string,
  entity: { name: string; key: string },
  valueType: ValueType,
  expression: string,
  window: string | null,
  keyColumn: string,
): ResolvedFeature {
  const spec: FeatureSpec = {
    entity: entity.name,
    source: source.name,
    valueType,
    expression,
    window,
    keyColumns: { [entity.key]: keyColumn },
    description: '',
    tags: {},
  };
  return { name, version: 1, spec, entityJoinKeys: [entity.key], source };
}

function demoFeatures(source: DataSource): { flight: ResolvedFeature[]; airport: ResolvedFeature[] } {
  const flight = { name: 'flight', key: 'flight_id' };
  const airport = { name: 'airport', key: 'airport' };
  const delayed = 'avg(CASE WHEN delay > 15 THEN 1.0 ELSE 0.0 END)';
  return {
    flight: [
      feature(source, 'dep_hour', flight, 'int64', 'hour(date)', null, 'flight_id'),
      feature(source, 'day_of_week', flight, 'int64', 'dayofweek(date)', null, 'flight_id'),
      feature(source, 'distance', flight, 'float64', 'distance', null, 'flight_id'),
    ],
    airport: [
      feature(source, 'origin_delay_rate_7d', airport, 'float64', delayed, '7d', 'origin'),
      feature(source, 'origin_flights_24h', airport, 'int64', 'count(*)', '24h', 'origin'),
      feature(source, 'origin_avg_delay_7d', airport, 'float64', 'avg(delay)', '7d', 'origin'),
      feature(source, 'dest_delay_rate_7d', airport, 'float64', delayed, '7d', 'destination'),
    ],
  };
}

function trainingUse(f: ResolvedFeature): TrainingFeature {
  const joinColumn = f.name.startsWith('dest_') ? 'destination' : f.spec.keyColumns[f.entityJoinKeys[0]!]!;
  return { feature: f, joinOn: { [f.entityJoinKeys[0]!]: joinColumn }, as: f.name };
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const started = performance.now();
  const result = await work();
  return { result, seconds: (performance.now() - started) / 1000 };
}

/**
 * Prepares the flights file under `<tmpdir>/cairn-bench` (reused when present), builds the January
 * training set and computes latest values; prints a table and returns the figures.
 */
export async function benchOffline(): Promise<Record<string, number>> {
  const file = path.join(BENCH_DIR, 'flights.parquet');
  const prepared = await timed(() => prepareFlightsData(file));
  const source = flightsSource(file);
  const features = demoFeatures(source);
  const engine = await OfflineEngine.open();
  try {
    const outputPath = path.join(BENCH_DIR, 'january-training-set.parquet');
    const build = await timed(() =>
      engine.buildTrainingSet({
        entityTable: {
          query: `SELECT flight_id, origin, destination, date, delay > 15 AS delayed
                  FROM read_parquet(${quoteLiteral(file)})
                  WHERE date >= TIMESTAMP '2001-01-01' AND date < TIMESTAMP '2001-02-01'
                  ORDER BY flight_id`,
        },
        eventTimeColumn: 'date',
        features: [...features.flight, ...features.airport].map(trainingUse),
        ttlSeconds: null,
        outputPath,
      }),
    );
    fs.rmSync(outputPath, { force: true });

    const origin = features.airport.filter((f) => !f.name.startsWith('dest_'));
    let airportKeys = 0;
    const latestAirports = await timed(() =>
      engine.latestValues({ features: origin, start: null, end: '2001-07-01T00:00:00Z' }, async (rows) => {
        airportKeys += rows.length;
      }),
    );
    const latestIncremental = await timed(() =>
      engine.latestValues({ features: origin, start: '2001-06-30T00:00:00Z', end: '2001-07-01T00:00:00Z' }, async () => {}),
    );
    let flightKeys = 0;
    const latestFlights = await timed(() =>
      engine.latestValues({ features: features.flight, start: null, end: '2001-07-01T00:00:00Z' }, async (rows) => {
        flightKeys += rows.length;
      }),
    );

    const figures: Record<string, number> = {
      prepareSeconds: prepared.seconds,
      trainingRows: build.result.rowCount,
      trainingFeatures: features.flight.length + features.airport.length,
      trainingSeconds: build.seconds,
      trainingRowsPerSecond: build.result.rowCount / build.seconds,
      latestAirportKeys: airportKeys,
      latestAirportSeconds: latestAirports.seconds,
      latestAirportIncrementalKeys: latestIncremental.result.keys,
      latestAirportIncrementalSeconds: latestIncremental.seconds,
      latestFlightKeys: flightKeys,
      latestFlightSeconds: latestFlights.seconds,
      latestFlightKeysPerSecond: flightKeys / latestFlights.seconds,
    };
    printTable(figures);
    return figures;
  } finally {
    await engine.close();
  }
}

function printTable(figures: Record<string, number>): void {
  const width = Math.max(...Object.keys(figures).map((k) => k.length));
  console.log('\noffline feature engine (flights, 3M source rows)');
  for (const [name, value] of Object.entries(figures)) {
    const shown = Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 3 });
    console.log(`  ${name.padEnd(width)}  ${shown.padStart(14)}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  await benchOffline();
}
