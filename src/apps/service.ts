import type { Services } from '../context.ts';
import type { Transaction } from 'kysely';
import type { AppRow, Database, ExtProfileKeyRow } from '../db/database.ts';
import type { RecordEvent } from '../events/log.ts';
import { defineExtProfileKey, findApp, findAppWithSealedSecret, removeExtProfileKey, replaceAppSecret, updateAppSettings } from './repository.ts';
import { dropExtValues, ensureUser, expireTokensIssuedBefore, revokeTokens } from '../profiles/repository.ts';
import { hashSecret, randomToken } from '../auth/secrets.ts';
import { TOKEN_TTL_DEFAULT, TOKEN_TTL_MAX } from '../auth/tokens.ts';
import { intInRange, userIdArg, userIdList } from '../schema/validate-args.ts';
import { badInput } from '../errors.ts';

type Deps = Pick<Services, 'db' | 'clock' | 'events' | 'appConfig'>;

/** Issues a user token (creating the user when missing); expiresInSeconds 1 to 30 days, default one day. */
export async function issueUserToken(
  s: Pick<Services, 'db' | 'clock' | 'tokens'>,
  appKey: string,
  userId: string,
  expiresInSeconds: number = TOKEN_TTL_DEFAULT,
): Promise<{ token: string; expiresAt: Date }> {
  const id = userIdArg(userId);
  const ttl = intInRange(expiresInSeconds, 1, TOKEN_TTL_MAX, 'expiresInSeconds');
  const user = await ensureUser(s.db, appKey, id, s.clock.now());
  return s.tokens.issue({ appKey, userId: id, generation: user.tokenGeneration }, ttl);
}

/** Users whose tokens one expiry call may end at most (RongCloud's limit). */
export const TOKEN_EXPIRY_USERS_MAX = 20;

/**
 * Every token of these users issued before `before` stops working, and their sockets opened with
 * such a token close (4403), wherever they are. A time in the future counts as now: a token issued
 * after the call always works. Unknown users are left out; returns the users found.
 */
export async function expireUserTokens(s: Deps, appKey: string, userIds: readonly string[], before: Date): Promise<string[]> {
  const ids = userIdList(userIds, { max: TOKEN_EXPIRY_USERS_MAX, arg: 'userId' });
  if (Number.isNaN(before.getTime()) || before.getTime() < 0) throw badInput('time must be a time in milliseconds since the epoch', { fields: ['time'] });
  const now = s.clock.now();
  const until = before.getTime() > now.getTime() ? now : before;
  return s.events.write({ appKey, userIds: ids }, async (trx, record) => {
    const found = await expireTokensIssuedBefore(trx, appKey, ids, until);
    for (const userId of found) record({ type: 'tokensRevoked', appKey, userId, generation: 0, issuedBeforeMs: until.getTime(), at: now.toISOString() });
    return found;
  });
}

/**
 * Gives the app a new secret, returned once: its slow hash, its fast check and its sealed copy
 * replace the old ones, which stops working for Basic auth and for signed server API requests at
 * once (every instance compares the stored hash). User tokens stay valid: they are not signed with
 * the app secret. False for an unknown app.
 */
export async function rotateAppSecret(s: Deps & Pick<Services, 'secretCheck' | 'secretBox'>, appKey: string): Promise<string | null> {
  // an unknown (or malformed) app key costs no slow hash and sends nothing PostgreSQL would refuse
  if (!(await findApp(s.db, appKey))) return null;
  const appSecret = randomToken(32);
  const secretHash = await hashSecret(appSecret); // slow: before the transaction, not inside it
  const replaced = await changingApp(s, appKey, (trx) => replaceAppSecret(trx, appKey, appSecret, secretHash, { check: s.secretCheck, box: s.secretBox }));
  return replaced ? appSecret : null;
}

/**
 * The app's defaults and ext keys are cached by every instance (AppConfigCache): each change
 * records `appChanged` with it, which makes every relay forget them, and this instance forgets
 * them as soon as the change committed (its next request reads the new ones).
 */
async function changingApp<T>(s: Deps, appKey: string, work: (trx: Transaction<Database>, record: RecordEvent) => Promise<T>): Promise<T> {
  const now = s.clock.now();
  try {
    return await s.events.write({ appKey, userIds: [] }, async (trx, record) => {
      const result = await work(trx, record);
      record({ type: 'appChanged', appKey, at: now.toISOString() });
      return result;
    });
  } finally {
    s.appConfig.forget(appKey);
  }
}

export function changeAppSettings(s: Deps, appKey: string, patch: Parameters<typeof updateAppSettings>[2]): Promise<AppRow> {
  if (Object.keys(patch).length === 0) return s.appConfig.app(appKey).then((app) => app!);
  return changingApp(s, appKey, (trx) => updateAppSettings(trx, appKey, patch));
}

/** Defines or redefines an ext key; 'limit' when the app already has `maxKeys` other keys. */
export function defineExtKey(s: Deps, appKey: string, key: { key: string; allowClientRead: boolean; allowClientWrite: boolean }, maxKeys: number): Promise<ExtProfileKeyRow | 'limit'> {
  return changingApp(s, appKey, (trx) => defineExtProfileKey(trx, appKey, key, maxKeys, s.clock.now()));
}

/**
 * Ends every token of the user issued before now; its open sockets close (4403) wherever they
 * are, through the event log. False for an unknown user.
 */
export async function revokeUserTokens(s: Deps, appKey: string, userId: string): Promise<boolean> {
  const now = s.clock.now();
  const generation = await s.events.write({ appKey, userIds: [userId] }, async (trx, record) => {
    const bumped = await revokeTokens(trx, appKey, userId);
    if (bumped !== null) record({ type: 'tokensRevoked', appKey, userId, generation: bumped, at: now.toISOString() });
    return bumped;
  });
  return generation !== null;
}

/**
 * Profiles per `profilesChanged` event: an app with many profiles holding the key records (and the
 * bus carries) one event per this many, not one per profile. Each row of the log carries them all.
 */
export const PROFILES_PER_EVENT = 200;

/**
 * Removes an ext key; each profile that lost a value changed like any backend write, and its
 * owner, subscribers and friends are told so as for one (the receivers' messages are the same).
 */
export async function removeExtKey(s: Deps, appKey: string, key: string): Promise<boolean> {
  const now = s.clock.now();
  // the profiles it touches are only known inside (and may be very many, too many to lock each):
  // their event order is kept by their versions
  return changingApp(s, appKey, async (trx, record) => {
    if (!(await removeExtProfileKey(trx, appKey, key))) return false;
    const changed = await dropExtValues(trx, appKey, key, now);
    for (let i = 0; i < changed.length; i += PROFILES_PER_EVENT) {
      const profiles = changed.slice(i, i + PROFILES_PER_EVENT);
      record({ type: 'profilesChanged', appKey, userIds: profiles.map((p) => p.userId), profiles, at: now.toISOString(), origin: { by: 'backend' } });
    }
    return true;
  });
}

/** The app's secret as the server API's signature check needs it, or why there is none. */
export type SigningSecret =
  | { ok: true; app: AppRow; secret: string }
  /** no such app; 'unreadable': created before secrets were sealed (or sealed under another SECRET_ENCRYPTION_KEY) */
  | { ok: false; reason: 'unknown app' | 'unreadable' | 'other key' };

export async function signingSecretOf(s: Pick<Services, 'db' | 'secretBox'>, appKey: string): Promise<SigningSecret> {
  const found = await findAppWithSealedSecret(s.db, appKey);
  if (!found) return { ok: false, reason: 'unknown app' };
  if (!found.sealed) return { ok: false, reason: 'unreadable' };
  const opened = s.secretBox.open(appKey, found.sealed);
  if (opened === 'other key') return { ok: false, reason: 'other key' };
  if (opened === null) return { ok: false, reason: 'unreadable' };
  return { ok: true, app: found.app, secret: opened };
}
