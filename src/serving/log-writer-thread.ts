/** Worker-thread entry of the prediction-log writer (see log-writer.ts). */
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../core/logger.js';
import { openDatabase } from '../storage/db.js';
import { SqlPredictionLogStore } from './log-sql-store.js';
import type { LogWriterData, LogWriterMessage } from './log-writer.js';
import { PredictionLog } from './prediction-log.js';

const port = parentPort!;
const data = workerData as LogWriterData;
const send = (m: LogWriterMessage) => port.postMessage(m);
/**
 * Niceness of this thread (Linux keeps it per thread, so the primary's own loop is not slowed):
 * when the workers keep every CPU busy their requests go first, the sealed files wait on disk and
 * the writer catches up as soon as they leave time (at the latest on stop). Not the lowest, so
 * that a transaction holding the store's write lock is never starved for long.
 */
const WRITER_NICE = 10;

try {
  const database = await openDatabase(data.database);
  const log = await PredictionLog.open({
    store: new SqlPredictionLogStore(database.db, database.dialect),
    spoolDir: data.spoolDir,
    logger: createLogger(data.logLevel),
    flushIntervalMs: data.flushIntervalMs,
  });
  port.once('message', () => {
    void (async () => {
      await log.close();
      await database.close().catch(() => {});
      send({ type: 'closed' });
    })();
  });
  try {
    os.setPriority(Math.max(os.getPriority(), WRITER_NICE));
  } catch {
    // Not permitted here: the writer runs at the primary's priority.
  }
  send({ type: 'ready' });
} catch (err) {
  send({ type: 'error', message: (err as Error).message });
}
