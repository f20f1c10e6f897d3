import { Worker, type WorkerOptions } from 'node:worker_threads';

const ENTRY = new URL('./ts-worker-entry.mjs', import.meta.url);

/**
 * Starts a worker thread running a TypeScript module (`new URL('./x.ts', import.meta.url)`), with
 * `workerData` as usual. Cairn runs from source through tsx, whose loader each thread must
 * register for itself.
 */
export function startTsWorker(module: URL, options: Omit<WorkerOptions, 'eval'> & { workerData?: Record<string, unknown> } = {}): Worker {
  return new Worker(ENTRY, { ...options, workerData: { ...(options.workerData ?? {}), __cairnEntry: module.href } });
}
