/**
 * A tuning worker in its own process, for the racing tests: `tsx worker-process.ts <db-url> <study> <worker> [hang]`.
 * With `hang`, it claims one trial and never finishes it (the test kills it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventBus } from '../../src/core/event-bus.js';
import { openDatabase } from '../../src/storage/db.js';
import { LocalArtifactStore } from '../../src/storage/local-artifact-store.js';
import { SqlTrackingStore, TrackingService } from '../../src/tracking/index.js';
import { SqlTuningStore, TuningService, runStudy } from '../../src/tuning/index.js';

const [url, study, worker, mode] = process.argv.slice(2) as [string, string, string, string | undefined];
const database = await openDatabase(url.startsWith('sqlite:') ? { kind: 'sqlite', path: url.slice(7) } : { kind: 'postgres', url });
const artifacts = await LocalArtifactStore.open(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-worker-')));
const tracking = new TrackingService(new SqlTrackingStore(database.db, database.dialect), artifacts, new EventBus());
const tuning = new TuningService(new SqlTuningStore(database.db, database.dialect), tracking);
const result = await runStudy(
  tuning.backend({ user: worker, role: 'editor', tokenId: null }),
  study,
  async (p) => {
    if (mode === 'hang') {
      process.stdout.write('claimed\n');
      await new Promise(() => {});
    }
    await new Promise((r) => setTimeout(r, 2));
    return ((p.x as number) - 2) ** 2 + ((p.y as number) + 1) ** 2;
  },
  { workerId: worker, heartbeatMs: 100 },
);
process.stdout.write(JSON.stringify(result) + '\n');
await database.close();
