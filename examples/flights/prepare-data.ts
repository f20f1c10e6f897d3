/**
 * Prepares the flights demo's source file: the vega-datasets 3M-row flights Parquet (Jan–Jun 2001)
 * plus a deterministic `flight_id`, so that each flight can be an entity of its own.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { DuckDb, quoteLiteral } from '../../src/storage/duckdb.js';

/** The vega-datasets flights file: date TIMESTAMP, delay BIGINT, distance BIGINT, origin VARCHAR, destination VARCHAR. */
export function vegaFlightsPath(): string {
  // The package's `exports` hides package.json, so resolve its entry point and walk up to the root.
  let dir = path.dirname(createRequire(import.meta.url).resolve('vega-datasets'));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'data', 'flights-3m.parquet');
}

async function parquetRowCount(db: DuckDb, file: string): Promise<number> {
  const [row] = await db.all<{ n: number }>(`SELECT count(*) AS n FROM read_parquet(${quoteLiteral(file)})`);
  return row!.n;
}

async function hasFlightId(db: DuckDb, file: string): Promise<boolean> {
  const columns = await db.columns(`SELECT * FROM read_parquet(${quoteLiteral(file)})`);
  return columns.some((c) => c.name === 'flight_id' && c.type === 'BIGINT');
}

/**
 * Writes the flights source to `outPath` (Parquet): `flight_id` BIGINT 1..N numbered by
 * (date, origin, destination, distance, delay) — rows equal in all of these are identical, so the
 * numbering is deterministic — then the vega columns, in flight_id order. Written to a temp file
 * and renamed. Skips the work when `outPath` already holds a file with flight_id and the right row
 * count. Throws when the vega-datasets package is missing or the file cannot be written.
 */
export async function prepareFlightsData(outPath: string): Promise<{ rows: number }> {
  const source = vegaFlightsPath();
  const db = await DuckDb.open();
  try {
    const rows = await parquetRowCount(db, source);
    if (fs.existsSync(outPath)) {
      const usable = await Promise.all([parquetRowCount(db, outPath), hasFlightId(db, outPath)]).catch(() => null);
      if (usable && usable[0] === rows && usable[1]) return { rows };
    }
    fs.mkdirSync(path.dirname(outPath), { recursive: true });
    const temp = path.join(path.dirname(outPath), `.${path.basename(outPath)}.${randomUUID()}.tmp`);
    try {
      await db.run(
        `COPY (
           SELECT row_number() OVER (ORDER BY date, origin, destination, distance, delay) AS flight_id,
                  date, delay, distance, origin, destination
           FROM read_parquet(${quoteLiteral(source)})
           ORDER BY flight_id
         ) TO ${quoteLiteral(temp)} (FORMAT parquet)`,
      );
      fs.renameSync(temp, outPath);
    } finally {
      fs.rmSync(temp, { force: true });
    }
    return { rows };
  } finally {
    db.close();
  }
}
