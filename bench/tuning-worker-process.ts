/**
 * One tuning worker in its own process, as a user would start one per machine: it opens the
 * platform on the shared database and evaluates trials of `<study>` until the study stops.
 *   node --import tsx bench/tuning-worker-process.ts <home> <database-url> <study> <worker>
 * Prints "ready" once the platform is open, starts on a line on stdin (so that every worker races
 * from the same moment rather than the first one started doing most of the study), and prints the
 * runStudy result as its last line.
 */
import { once } from 'node:events';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import { openPlatform } from '../src/server/platform.js';
import { runStudy } from '../src/tuning/index.js';
import { cheapObjective } from './tuning-functions.js';

const [home, url, study, worker] = process.argv.slice(2) as [string, string, string, string];
const platform = await openPlatform(loadConfig({ CAIRN_HOME: home, CAIRN_DATABASE_URL: url, CAIRN_LOG_LEVEL: 'silent', CAIRN_LOCAL_USER: 'bench' }), createLogger('silent'));
try {
  process.stdout.write('ready\n');
  await once(process.stdin, 'data');
  const result = await runStudy(platform, study, async (p) => cheapObjective(p), { workerId: worker });
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await platform.close();
}
