import type { Services } from '../context.ts';
import type { Transaction } from 'kysely';
import type { AppRow, Database, ExtProfileKeyRow } from '../db/database.ts';
import type { RecordEvent } from '../events/log.ts';
import { defineExtProfileKey, removeExtProfileKey, updateAppSettings } from './repository.ts';
import { dropExtValues, revokeTokens } from '../profiles/repository.ts';

type Deps = Pick<Services, 'db' | 'clock' | 'events' | 'appConfig'>;

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
