import { PostgresHome } from '../../src/records/postgres-home.ts';
import { TEST_PG_URL, testSchema } from '../harness/postgres.ts';
import { homeStoreConformance } from './home-store-conformance.ts';

homeStoreConformance('PostgreSQL', async () => {
  const { schema, drop } = testSchema();
  const store = await PostgresHome.open({ url: TEST_PG_URL, schema });
  return { store, remove: async () => { await store.close(); await drop(); } };
});
