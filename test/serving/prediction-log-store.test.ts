import { SqlPredictionLogStore } from '../../src/serving/log-sql-store.js';
import { describePredictionLogStoreContract } from '../contract/prediction-log-store.contract.js';
import { METADATA_BACKENDS } from '../support/backends.js';

for (const backend of METADATA_BACKENDS) {
  describePredictionLogStoreContract(backend.name, async () => {
    const t = await backend.open();
    return { store: new SqlPredictionLogStore(t.database.db, t.database.dialect), cleanup: t.cleanup };
  });
}
