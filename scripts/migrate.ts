// npm run migrate: applies every pending migration to DATABASE_URL, or to the embedded database under DATA_DIR.
import { runCli, withMigratedDatabase } from './cli-database.ts';

await runCli('migrate', () =>
  withMigratedDatabase(async (_db, applied, description) => {
    if (applied.length === 0) console.log(`${description}: already up to date, no migration applied`);
    else {
      console.log(`${description}: applied ${applied.length} migration(s)`);
      for (const name of applied) console.log(`  applied ${name}`);
    }
  }),
);
