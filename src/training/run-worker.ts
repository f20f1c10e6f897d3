import { CairnError, type ErrorCode } from '../core/errors.js';
import { startTsWorker } from '../core/ts-worker.js';
import type { JobEvent, StoppedTrainJob, TrainJobResult } from './job.js';
import type { TrainJob } from './model.js';

const WORKER = new URL('./worker.ts', import.meta.url);

type WorkerMessage =
  | JobEvent
  | { type: 'result'; result: TrainJobResult }
  | { type: 'stopped'; iterations: number }
  | { type: 'error'; error: { code: string; message: string; details: Record<string, unknown> } };

/** A TrainJob running in a worker thread. */
export interface WorkerTraining {
  /** The job's result, or how far it got when stopped. Rejects with the worker's CairnError, or INTERNAL if the worker dies. */
  done: Promise<TrainJobResult | StoppedTrainJob>;
  /** Asks the fit to end after its current iteration (it resolves `done` as stopped). */
  stop(): void;
}

/** Runs a TrainJob in a worker thread; `onEvent` hears its progress on the main thread. */
export function runInWorker(job: TrainJob, onEvent: (event: JobEvent) => void): WorkerTraining {
  const stop = new SharedArrayBuffer(4);
  const flag = new Int32Array(stop);
  const done = new Promise<TrainJobResult | StoppedTrainJob>((resolve, reject) => {
    const worker = startTsWorker(WORKER, { workerData: { job, stop } });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'result') settle(() => resolve(message.result));
      else if (message.type === 'stopped') settle(() => resolve({ stopped: true, iterations: message.iterations }));
      else if (message.type === 'error') settle(() => reject(new CairnError(message.error.code as ErrorCode, message.error.message, message.error.details)));
      else onEvent(message);
    });
    worker.on('error', (err) => settle(() => reject(new CairnError('INTERNAL', `training worker failed: ${err.message}`))));
    worker.on('exit', (code) => settle(() => reject(new CairnError('INTERNAL', `training worker exited with code ${code} before finishing`))));
  });
  return { done, stop: () => void Atomics.store(flag, 0, 1) };
}
