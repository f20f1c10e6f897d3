// Entry of every worker thread that runs Cairn's TypeScript: registers tsx in this thread (Node 20
// does not apply an --import loader to a worker's own entry), then loads the real module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__cairnEntry);
