import type { Services } from '../context.ts';
import { removeExtProfileKey } from './repository.ts';
import { dropExtValues, revokeTokens } from '../profiles/repository.ts';

type Deps = Pick<Services, 'db' | 'clock' | 'events'>;

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

/** Removes an ext key; each profile that lost a value changed like any backend write. */
export async function removeExtKey(s: Deps, appKey: string, key: string): Promise<boolean> {
  const now = s.clock.now();
  // the profiles it touches are only known inside: their event order is kept by their versions
  return s.events.write({ appKey, userIds: [] }, async (trx, record) => {
    if (!(await removeExtProfileKey(trx, appKey, key))) return false;
    const changed = await dropExtValues(trx, appKey, key, now);
    for (const profile of changed) record({ type: 'profileChanged', appKey, userId: profile.userId, profile, at: now.toISOString(), origin: { by: 'backend' } });
    return true;
  });
}
