import { SqlRegistryStore } from '../../src/registry/sql-store.js';
import { EventLog } from '../../src/storage/event-log.js';
import { describeRegistryStoreContract } from '../contract/registry-store.contract.js';
import { METADATA_BACKENDS } from '../support/backends.js';

for (const backend of METADATA_BACKENDS) {
  describeRegistryStoreContract(backend.name, async () => {
    const t = await backend.open();
    const { db, dialect } = t.database;
    return { store: new SqlRegistryStore(db, dialect), events: new EventLog(db), cleanup: t.cleanup };
  });
}
