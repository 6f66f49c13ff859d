import { DatabaseSync } from 'node:sqlite';
import { SqliteHome } from '../../../src/records/stores/sqlite-home.ts';
import { GroupCommit } from '../../../src/store/group-commit.ts';
import { homeStoreConformance } from './home-store-conformance.ts';

homeStoreConformance('SQLite (the node\'s own file)', async () => {
  const db = new DatabaseSync(':memory:');
  return { store: new SqliteHome(db, new GroupCommit(db)), remove: async () => db.close() };
});
