/** The feature store's figures: online read latency (SQLite, Redis) and training-set throughput. */
import { benchOffline } from './features-offline.js';
import { benchOnline } from './features-online.js';

export async function benchFeatures(): Promise<Record<string, number>> {
  const online = await benchOnline();
  const offline = await benchOffline();
  return { ...online, ...offline };
}
