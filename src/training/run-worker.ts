import { CairnError, type ErrorCode } from '../core/errors.js';
import { startTsWorker } from '../core/ts-worker.js';
import type { JobEvent, TrainJobResult } from './job.js';
import type { TrainJob } from './model.js';

const WORKER = new URL('./worker.ts', import.meta.url);

type WorkerMessage = JobEvent | { type: 'result'; result: TrainJobResult } | { type: 'error'; error: { code: string; message: string; details: Record<string, unknown> } };

/**
 * Runs a TrainJob in a worker thread and resolves to its result; `onEvent` hears its progress on
 * the main thread. Rejects with the worker's CairnError, or INTERNAL if the worker dies.
 */
export function runInWorker(job: TrainJob, onEvent: (event: JobEvent) => void): Promise<TrainJobResult> {
  return new Promise((resolve, reject) => {
    const worker = startTsWorker(WORKER, { workerData: { job } });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'result') settle(() => resolve(message.result));
      else if (message.type === 'error') settle(() => reject(new CairnError(message.error.code as ErrorCode, message.error.message, message.error.details)));
      else onEvent(message);
    });
    worker.on('error', (err) => settle(() => reject(new CairnError('INTERNAL', `training worker failed: ${err.message}`))));
    worker.on('exit', (code) => settle(() => reject(new CairnError('INTERNAL', `training worker exited with code ${code} before finishing`))));
  });
}
