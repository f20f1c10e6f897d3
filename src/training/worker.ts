/** Worker-thread entry: runs one TrainJob and posts its events and result to the parent. */
import { parentPort, workerData } from 'node:worker_threads';
import { CairnError } from '../core/errors.js';
import { runTrainJob } from './job.js';
import type { TrainJob } from './model.js';

const port = parentPort!;
runTrainJob((workerData as { job: TrainJob }).job, (event) => port.postMessage(event)).then(
  (result) => port.postMessage({ type: 'result', result }),
  (err: unknown) =>
    port.postMessage({
      type: 'error',
      error:
        err instanceof CairnError
          ? { code: err.code, message: err.message, details: err.details }
          : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), details: {} },
    }),
);
