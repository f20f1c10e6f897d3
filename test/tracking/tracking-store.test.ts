import { SqlTrackingStore } from '../../src/tracking/sql-store.js';
import { describeTrackingStoreContract } from '../contract/tracking-store.contract.js';
import { METADATA_BACKENDS } from '../support/backends.js';

for (const backend of METADATA_BACKENDS) {
  describeTrackingStoreContract(backend.name, async () => {
    const t = await backend.open();
    const { db, dialect } = t.database;
    return { store: new SqlTrackingStore(db, dialect), reopen: (options) => new SqlTrackingStore(db, dialect, options), cleanup: t.cleanup };
  });
}
