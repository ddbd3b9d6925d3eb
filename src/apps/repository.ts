import { inTransaction } from '../db/transaction.ts';
import { type Kysely, sql } from 'kysely';
import type { AppRow, Database, ExtProfileKeyRow, FriendAddPermission, PresenceVisibility, ProfileVisibility, UserRow } from '../db/database.ts';
import { compiledStatement } from '../db/compiled.ts';
import { hashSecret, randomToken, type SecretCheck } from '../auth/secrets.ts';
import type { SecretBox } from './secret-box.ts';

export interface AppCredentials {
  appKey: string;
  appSecret: string;
}

/** How an app's secret is kept: its slow hash, its fast keyed check and its sealed (encrypted) copy. */
export interface SecretKeepers {
  /** without it (a CLI that does not know TOKEN_SECRET) the fast check is written on first use */
  check?: SecretCheck;
  box: SecretBox;
}

/**
 * Creates an app; the secret is returned once. Stored: its slow hash, its fast check and its copy
 * encrypted under SECRET_ENCRYPTION_KEY (for the RongCloud server API's signatures), never the text.
 */
export async function createApp(db: Kysely<Database>, name: string, now: Date, keepers: SecretKeepers): Promise<AppCredentials> {
  // 16 random bytes, base64url: unguessable and URL/header safe (no ':' that would break Basic auth)
  const appKey = randomToken(16);
  const appSecret = randomToken(32);
  const secretHash = await hashSecret(appSecret);
  await inTransaction(db, async (trx) => {
    await trx
      .insertInto('apps')
      .values({ appKey, name, secretHash, defaultProfileVisibility: 'INVISIBLE', defaultFriendAddPermission: 'NEED_VERIFY', createdAt: now })
      .execute();
    if (keepers.check) await trx.insertInto('appSecretChecks').values({ appKey, keyId: keepers.check.keyId, check: keepers.check.of(appKey, appSecret) }).execute();
    await trx.insertInto('appSealedSecrets').values({ appKey, sealed: keepers.box.seal(appKey, appSecret) }).execute();
  });
  return { appKey, appSecret };
}

/**
 * Replaces an app's secret: its slow hash (computed by the caller, outside any transaction), fast
 * check and sealed copy together; the old one stops working. False for an unknown app.
 */
export async function replaceAppSecret(db: Kysely<Database>, appKey: string, appSecret: string, secretHash: string, keepers: SecretKeepers): Promise<boolean> {
  const check = keepers.check ? { keyId: keepers.check.keyId, check: keepers.check.of(appKey, appSecret) } : undefined;
  const sealed = keepers.box.seal(appKey, appSecret);
  return inTransaction(db, async (trx) => {
    const updated = await trx.updateTable('apps').set({ secretHash }).where('appKey', '=', appKey).executeTakeFirst();
    if (updated.numUpdatedRows === 0n) return false;
    // the old secret's fast check must not outlive it
    if (check) await trx.insertInto('appSecretChecks').values({ appKey, ...check }).onConflict((oc) => oc.column('appKey').doUpdateSet(check)).execute();
    else await trx.deleteFrom('appSecretChecks').where('appKey', '=', appKey).execute();
    await trx.insertInto('appSealedSecrets').values({ appKey, sealed }).onConflict((oc) => oc.column('appKey').doUpdateSet({ sealed })).execute();
    return true;
  });
}

/** Seals a secret known to be the app's (the development app's, kept in DATA_DIR) unless one is sealed already. */
export async function sealKnownSecret(db: Kysely<Database>, appKey: string, appSecret: string, box: SecretBox): Promise<void> {
  await db.insertInto('appSealedSecrets').values({ appKey, sealed: box.seal(appKey, appSecret) }).onConflict((oc) => oc.column('appKey').doNothing()).execute();
}

/** The app and its sealed secret (absent for apps created before secrets were sealed). */
export async function findAppWithSealedSecret(db: Kysely<Database>, appKey: string): Promise<{ app: AppRow; sealed?: string } | undefined> {
  if (!APP_KEY_PATTERN.test(appKey)) return undefined;
  const row = await db
    .selectFrom('apps')
    .leftJoin('appSealedSecrets as s', 's.appKey', 'apps.appKey')
    .selectAll('apps')
    .select('s.sealed')
    .where('apps.appKey', '=', appKey)
    .executeTakeFirst();
  if (!row) return undefined;
  const { sealed, ...app } = row;
  return { app, sealed: sealed ?? undefined };
}

const appByKey = compiledStatement((db, appKey: string) => db.selectFrom('apps').selectAll().where('appKey', '=', appKey));

/**
 * What an appKey can look like: createApp's are base64url. Anything else names no app, and is not
 * sent to PostgreSQL (which refuses U+0000 in text with an error, where the caller meant "no such app").
 */
const APP_KEY_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export async function findApp(db: Kysely<Database>, appKey: string): Promise<AppRow | undefined> {
  if (!APP_KEY_PATTERN.test(appKey)) return undefined;
  return (await appByKey(db, appKey))[0];
}

/** The app and its fast secret check (if one was written), for Basic auth. */
export async function findAppWithSecretCheck(db: Kysely<Database>, appKey: string): Promise<{ app: AppRow; check?: { keyId: string; check: string } } | undefined> {
  if (!APP_KEY_PATTERN.test(appKey)) return undefined;
  const row = await db
    .selectFrom('apps')
    .leftJoin('appSecretChecks as c', 'c.appKey', 'apps.appKey')
    .selectAll('apps')
    .select(['c.keyId', 'c.check'])
    .where('apps.appKey', '=', appKey)
    .executeTakeFirst();
  if (!row) return undefined;
  const { keyId, check, ...app } = row;
  return { app, check: keyId && check ? { keyId, check } : undefined };
}

export async function saveSecretCheck(db: Kysely<Database>, appKey: string, keyId: string, check: string): Promise<void> {
  await db
    .insertInto('appSecretChecks')
    .values({ appKey, keyId, check })
    .onConflict((oc) => oc.column('appKey').doUpdateSet({ keyId, check }))
    .execute();
}

export async function updateAppSettings(
  db: Kysely<Database>,
  appKey: string,
  patch: {
    defaultProfileVisibility?: Exclude<ProfileVisibility, 'NOT_SET'>;
    defaultFriendAddPermission?: Exclude<FriendAddPermission, 'NOT_SET'>;
    defaultPresenceVisibility?: Exclude<PresenceVisibility, 'NOT_SET'>;
  },
): Promise<AppRow> {
  if (Object.keys(patch).length === 0) return (await findApp(db, appKey))!;
  return db.updateTable('apps').set(patch).where('appKey', '=', appKey).returningAll().executeTakeFirstOrThrow();
}

const extKeysOf = compiledStatement((db, appKey: string) => db.selectFrom('extProfileKeys').selectAll().where('appKey', '=', appKey).orderBy('key'));

export async function listExtProfileKeys(db: Kysely<Database>, appKey: string): Promise<ExtProfileKeyRow[]> {
  return extKeysOf(db, appKey);
}

/**
 * Defines or redefines an ext key. Returns 'limit' when the app already has `maxKeys` other keys.
 * The app row is locked so that two concurrent definitions cannot both pass the count.
 */
export async function defineExtProfileKey(
  db: Kysely<Database>,
  appKey: string,
  key: { key: string; allowClientRead: boolean; allowClientWrite: boolean },
  maxKeys: number,
  now: Date,
): Promise<ExtProfileKeyRow | 'limit'> {
  return inTransaction(db, async (trx) => {
    await trx.selectFrom('apps').select('appKey').where('appKey', '=', appKey).forUpdate().execute();
    const existing = await trx.selectFrom('extProfileKeys').select('key').where('appKey', '=', appKey).execute();
    if (!existing.some((k) => k.key === key.key) && existing.length >= maxKeys) return 'limit';
    return trx
      .insertInto('extProfileKeys')
      .values({ appKey, ...key, createdAt: now })
      .onConflict((oc) =>
        oc.columns(['appKey', 'key']).doUpdateSet({ allowClientRead: key.allowClientRead, allowClientWrite: key.allowClientWrite }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Removes a key from the registry; false when it was not defined. */
export async function removeExtProfileKey(db: Kysely<Database>, appKey: string, key: string): Promise<boolean> {
  const removed = await db.deleteFrom('extProfileKeys').where('appKey', '=', appKey).where('key', '=', key).executeTakeFirst();
  return removed.numDeletedRows > 0n;
}
