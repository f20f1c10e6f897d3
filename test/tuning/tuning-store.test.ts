import { SqlTrackingStore } from '../../src/tracking/sql-store.js';
import { SqlTuningStore } from '../../src/tuning/sql-store.js';
import { describeTuningStoreContract } from '../contract/tuning-store.contract.js';
import { METADATA_BACKENDS } from '../support/backends.js';

for (const backend of METADATA_BACKENDS) {
  describeTuningStoreContract(backend.name, async () => {
    const t = await backend.open();
    const { db, dialect } = t.database;
    const tracking = new SqlTrackingStore(db, dialect);
    const T0 = '2026-01-01T00:00:00.000Z';
    await tracking.insertExperiment({ name: 'exp', description: '', tags: {}, createdAt: T0, createdBy: 'ada' });
    const runId = 'run_study';
    await tracking.insertRun({
      id: runId, experiment: 'exp', name: 'study', status: 'running', startTime: T0, endTime: null, author: 'ada', endedBy: null, parentRunId: null,
      params: {}, metrics: {}, tags: {}, inputs: { dataset: null, featureSet: null, features: [] }, source: { command: null, codeVersion: null },
    });
    return { store: new SqlTuningStore(db, dialect), runId, cleanup: t.cleanup };
  });
}
