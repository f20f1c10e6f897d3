/**
 * A serving process for the kill -9 test: `prediction-log-child.ts <sqlite-file> <spool-dir> <flush-ms> <batch-size>`.
 * Records predictions one per "request", forever, and acknowledges each on stdout only after
 * record() returned — as a server answers only after logging. The test kills it with SIGKILL.
 */
import { SqlPredictionLogStore } from '../../src/serving/log-sql-store.js';
import { PredictionLog } from '../../src/serving/prediction-log.js';
import { openDatabase } from '../../src/storage/db.js';
import { predictionRecord } from '../contract/prediction-log-store.contract.js';

const [file, spoolDir, flushMs, batchSize] = process.argv.slice(2) as [string, string, string, string];
const database = await openDatabase({ kind: 'sqlite', path: file });
const log = await PredictionLog.open({
  store: new SqlPredictionLogStore(database.db, database.dialect),
  spoolDir,
  flushIntervalMs: Number(flushMs),
  batchSize: Number(batchSize),
  maxQueue: 1_000_000,
});
for (let n = 0; ; n++) {
  const id = `kill-${n}`;
  log.record([predictionRecord(id, { features: { n, origin: 'ATL' } })]);
  // Pipes are synchronous on Linux: the test sees this line only after record() returned.
  process.stdout.write(`ack ${id}\n`);
  // Let flush passes run between "requests", as they do between a server's requests.
  if (n % 20 === 19) await new Promise((r) => setImmediate(r));
}
