import { SqlFeatureStore } from '../../src/features/sql-store.js';
import { describeFeatureStoreContract } from '../contract/feature-store.contract.js';
import { METADATA_BACKENDS } from '../support/backends.js';

for (const backend of METADATA_BACKENDS) {
  describeFeatureStoreContract(backend.name, async () => {
    const t = await backend.open();
    return { store: new SqlFeatureStore(t.database.db), cleanup: t.cleanup };
  });
}
