import fs from 'node:fs';
import path from 'node:path';

export interface FlightRow {
  flight_id: number;
  date: string;
  delay: number;
  distance: number;
  origin: string;
  destination: string;
}

/** Deterministic pseudo-random numbers (LCG), so fixtures are the same on every run. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const AIRPORTS = ['ATL', 'BOS', 'DEN', 'SFO'];

/** Flights like the demo's, small: one every `stepMinutes` from 2001-01-01 for `days` days. */
export function makeFlights(opts: { days?: number; stepMinutes?: number; seed?: number } = {}): FlightRow[] {
  const { days = 10, stepMinutes = 90, seed = 7 } = opts;
  const rand = lcg(seed);
  const rows: FlightRow[] = [];
  const start = Date.parse('2001-01-01T00:00:00Z');
  for (let t = 0, id = 1; t < days * 24 * 60; t += stepMinutes, id++) {
    const origin = AIRPORTS[Math.floor(rand() * AIRPORTS.length)]!;
    let destination = AIRPORTS[Math.floor(rand() * AIRPORTS.length)]!;
    if (destination === origin) destination = AIRPORTS[(AIRPORTS.indexOf(origin) + 1) % AIRPORTS.length]!;
    rows.push({
      flight_id: id,
      date: new Date(start + t * 60_000).toISOString().replace('T', ' ').replace('.000Z', ''),
      delay: Math.round(rand() * 60 - 15),
      distance: 100 + Math.round(rand() * 2000),
      origin,
      destination,
    });
  }
  return rows;
}

/** Writes rows as CSV with a header; returns the path. */
export function writeCsv(dir: string, name: string, rows: object[]): string {
  const file = path.join(dir, name);
  const header = Object.keys(rows[0] ?? {});
  const lines = [header.join(','), ...rows.map((r) => header.map((h) => String((r as Record<string, unknown>)[h])).join(','))];
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
