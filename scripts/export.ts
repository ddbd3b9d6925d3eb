// npm run export -- --app <appKey> > profiles.jsonl
// Writes every profile of an app to stdout as JSON Lines, one {"userId", "profile"} object per
// line in userId order (the shape `npm run import` reads, see src/profiles/portable.ts): read a
// page at a time by keyset (the last userId of a page starts the next), so memory stays flat
// whatever the number of profiles, and stdout's pace is kept (a slow reader slows the reading).
// Profiles written meanwhile appear with whatever they hold when their page is read.
// Works on DATABASE_URL or the embedded database under DATA_DIR, as `npm run seed` does.
// stderr: the progress bar and a summary.
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { findApp, listExtProfileKeys } from '../src/apps/repository.ts';
import { profileLine } from '../src/profiles/portable.ts';
import { countUsers, usersAfter } from '../src/profiles/repository.ts';
import { runCli, UsageError, withMigratedDatabase } from './cli-database.ts';
import { Progress } from './progress.ts';

const USAGE = 'usage: npm run export -- --app <appKey> > profiles.jsonl';
const PAGE = 500;

function parseAppKey(): string {
  let values: { app?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { app: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.app) throw new UsageError(`--app is required\n${USAGE}`);
  return values.app;
}

// a reader that goes away (`| head`) ends the export quietly
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

await runCli('export', async () => {
  const appKey = parseAppKey();
  await withMigratedDatabase(async (db, _applied, description) => {
    const app = await findApp(db, appKey);
    if (!app) throw new Error(`no app with appKey "${appKey}" on the ${description} (create one with npm run app:create)`);
    const extKeys = await listExtProfileKeys(db, appKey);
    const started = Date.now();
    const progress = new Progress('export', await countUsers(db, appKey));
    let exported = 0;
    let after: string | null = null;
    for (;;) {
      const rows = await usersAfter(db, appKey, after, PAGE);
      if (rows.length === 0) break;
      const text = rows.map((row) => `${JSON.stringify(profileLine(row, extKeys))}\n`).join('');
      if (!process.stdout.write(text)) await once(process.stdout, 'drain');
      exported += rows.length;
      after = rows[rows.length - 1]!.userId;
      progress.set(exported);
      if (rows.length < PAGE) break;
    }
    progress.set(exported);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.error(`Exported ${exported} profiles of app "${app.name}" (${appKey}) on ${description} in ${seconds}s`);
  });
});
