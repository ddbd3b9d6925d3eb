import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { loadDevSecrets, saveDevSecrets } from '../secrets-store.ts';
import { createApp, findApp } from './repository.ts';

/**
 * The development app of the embedded setup: created on first start, reused afterwards.
 * Its secret is kept beside the data so that every start can print working credentials.
 */
export async function ensureDevApp(db: Kysely<Database>, dataDir: string, now: Date) {
  const secrets = loadDevSecrets(dataDir);
  if (secrets.devApp && (await findApp(db, secrets.devApp.appKey))) return secrets.devApp;
  const devApp = await createApp(db, 'Development', now);
  saveDevSecrets(dataDir, { ...secrets, devApp });
  return devApp;
}
