/**
 * `npm run bench -- <name>` runs one benchmark; without a name, all of them. Benchmarks print
 * their figures with the machine they ran on; they never assert timings.
 */
import os from 'node:os';

const BENCHES: Record<string, () => Promise<unknown>> = {
  features: async () => (await import('./features.js')).benchFeatures(),
  tracking: async () => (await import('./tracking.js')).benchTracking(),
  ml: async () => (await import('./ml.js')).benchMl(),
  serve: async () => (await import('./serve.js')).benchServe(),
  tuning: async () => (await import('./tuning.js')).benchTuning(),
  'prediction-log': async () => (await import('./prediction-log.js')).benchPredictionLog(),
};

const names = process.argv.slice(2).filter((a) => a !== '--');
const unknown = names.filter((n) => !BENCHES[n]);
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`# ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length}× ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
  console.log(`\n## ${name}`);
  await BENCHES[name]!();
}
