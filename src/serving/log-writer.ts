/**
 * The prediction-log writer of `cairn serve`'s primary: a PredictionLog in `self` mode that
 * records nothing and stores the spool files the spool-only workers seal (see PredictionLog).
 *
 * It runs in a worker thread of the primary, not on the primary's own event loop: the primary
 * hands every new connection to a worker (node:cluster's round-robin), and SQLite's driver is
 * synchronous, so a replay on the primary's loop — slowed further when the workers keep the CPUs
 * busy — would hold new connections for hundreds of milliseconds. The thread runs at a lower
 * priority than the workers (see log-writer-thread.ts).
 */
import type { Worker } from 'node:worker_threads';
import type { CairnConfig, DatabaseConfig } from '../core/config.js';
import { startTsWorker } from '../core/ts-worker.js';

export interface LogWriterData {
  database: DatabaseConfig;
  spoolDir: string;
  flushIntervalMs: number;
  logLevel: CairnConfig['logLevel'];
}

/** Messages of the writer thread: ready once open (or an error), closed once everything is stored. */
export type LogWriterMessage = { type: 'ready' } | { type: 'closed' } | { type: 'error'; message: string };

export interface LogWriter {
  /** Stores every sealed and orphaned spool file (as far as the store allows), then stops the thread. Never rejects. */
  close(): Promise<void>;
}

function nextMessage(worker: Worker): Promise<LogWriterMessage> {
  return new Promise((resolve) => {
    const onMessage = (m: LogWriterMessage) => done(m);
    const onError = (err: Error) => done({ type: 'error', message: err.message });
    const onExit = (code: number) => done({ type: 'error', message: `the prediction log writer exited (code ${code})` });
    const done = (m: LogWriterMessage) => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      resolve(m);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/**
 * Starts the writer thread; `onFailure` hears of its death later (the files then wait for the next start).
 * @throws when it cannot open the store or the spool directory
 */
export async function startLogWriter(data: LogWriterData, onFailure: (message: string) => void): Promise<LogWriter> {
  const worker = startTsWorker(new URL('./log-writer-thread.ts', import.meta.url), { workerData: { ...data } });
  const opened = await nextMessage(worker);
  if (opened.type !== 'ready') {
    await worker.terminate();
    throw new Error(`cannot start the prediction log writer: ${opened.type === 'error' ? opened.message : opened.type}`);
  }
  let closing: Promise<void> | null = null;
  worker.on('error', (err) => onFailure(`the prediction log writer failed: ${err.message}`));
  return {
    close: () =>
      (closing ??= (async () => {
        const closed = nextMessage(worker);
        worker.postMessage('close');
        await closed;
        await worker.terminate();
      })()),
  };
}
