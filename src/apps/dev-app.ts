import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { loadDevSecrets, saveDevSecrets } from '../secrets-store.ts';
import { createApp, findApp, sealKnownSecret, type SecretKeepers } from './repository.ts';

/**
 * The development app of the embedded setup: created on first start, reused afterwards.
 * Its secret is kept beside the data so that every start can print working credentials.
 */
export async function ensureDevApp(db: Kysely<Database>, dataDir: string, now: Date, keepers: SecretKeepers) {
  const secrets = loadDevSecrets(dataDir);
  if (secrets.devApp && (await findApp(db, secrets.devApp.appKey))) {
    // one created before secrets were sealed: its secret is known here, so the server API works for it too
    await sealKnownSecret(db, secrets.devApp.appKey, secrets.devApp.appSecret, keepers.box);
    return secrets.devApp;
  }
  const devApp = await createApp(db, 'Development', now, keepers);
  saveDevSecrets(dataDir, { ...secrets, devApp });
  return devApp;
}
