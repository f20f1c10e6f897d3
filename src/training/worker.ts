/** Worker-thread entry: runs one TrainJob and posts its events and result to the parent. */
import { parentPort, workerData } from 'node:worker_threads';
import { CairnError } from '../core/errors.js';
import { runTrainJob } from './job.js';
import type { TrainJob } from './model.js';

const port = parentPort!;
const { job, stop } = workerData as { job: TrainJob; stop: SharedArrayBuffer };
// The fit is synchronous, so a stop message could not be heard until it ends; a shared flag can.
const stopFlag = new Int32Array(stop);
runTrainJob(job, (event) => port.postMessage(event), () => Atomics.load(stopFlag, 0) !== 0).then(
  (result) => port.postMessage('stopped' in result ? { type: 'stopped', iterations: result.iterations } : { type: 'result', result }),
  (err: unknown) =>
    port.postMessage({
      type: 'error',
      error:
        err instanceof CairnError
          ? { code: err.code, message: err.message, details: err.details }
          : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), details: {} },
    }),
);
