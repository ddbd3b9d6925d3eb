import type { Services } from '../context.ts';
import type { ChangeOrigin } from '../events/bus.ts';
import { badInput, limitExceeded } from '../errors.ts';
import { RC } from '../profiles/rules.ts';
import type { StatusSubscribeType } from '../realtime/messages.ts';
import { subscribe, unsubscribe } from './repository.ts';

export const EXPIRY_MIN = 60;
export const EXPIRY_MAX = 2_592_000;
export const IDS_PER_CALL = 200;

type Deps = Pick<Services, 'db' | 'clock' | 'events' | 'config'>;

/**
 * SPEC §11: a subscription's expiry warning comes min(SUBSCRIPTION_EXPIRY_WARNING_SECONDS, expiry / 2)
 * before it expires (half its life for short ones, so that there is time to renew); null when
 * warnings are off (0).
 */
export function warningLeadMs(expiry: number, warningSeconds: number): number | null {
  return warningSeconds > 0 ? Math.min(warningSeconds * 1000, expiry * 500) : null;
}

/** Only ONLINE_STATUS and USER_PROFILE are subscribed to; the FRIEND_* types come with friendship. */
export function subscribableType(type: StatusSubscribeType): 'ONLINE_STATUS' | 'USER_PROFILE' {
  if (type !== 'ONLINE_STATUS' && type !== 'USER_PROFILE') {
    throw badInput(`${type} needs no subscription: friends receive it automatically`, { fields: ['type'] });
  }
  return type;
}

/**
 * Subscribes (or refreshes) and records the relation change in the same transaction. The relation
 * event is what the subscriber's other devices see, and what makes every streaming connection of
 * the subscriber push the current status of the newly subscribed users (SPEC §5).
 */
export async function subscribeToStatus(
  s: Deps,
  who: { appKey: string; userId: string; origin: ChangeOrigin },
  type: 'ONLINE_STATUS' | 'USER_PROFILE',
  ids: string[],
  expiry: number,
): Promise<string[]> {
  if (ids.includes(who.userId)) throw badInput('you cannot subscribe to yourself', { fields: ['userIds'] });
  const now = s.clock.now();
  const outcome = await s.events.write({ appKey: who.appKey, userIds: [who.userId] }, async (trx, record) => {
    const warnBeforeMs = warningLeadMs(expiry, s.config.subscriptionExpiryWarningSeconds);
    const result = await subscribe(trx, { appKey: who.appKey, subscriberId: who.userId, type, targetIds: ids, expiry, now, warnBeforeMs });
    if (result.ok && result.subscribed.length) {
      record({ type: 'subscriptionChanged', appKey: who.appKey, userId: who.userId, origin: who.origin, operationType: 'SUBSCRIBE', subscribeType: type, userIds: result.subscribed, expiry, at: now.toISOString() });
    }
    return result;
  });
  if (!outcome.ok) {
    throw limitExceeded(`a user holds at most 1000 ${type} subscriptions; you hold ${outcome.held} and asked for ${ids.length} more or refreshed`, {
      rcCode: RC.SUBSCRIBE_SUBSCRIBER_FULL,
    });
  }
  return outcome.failedUserIds;
}

export async function unsubscribeFromStatus(s: Deps, who: { appKey: string; userId: string; origin: ChangeOrigin }, type: 'ONLINE_STATUS' | 'USER_PROFILE', ids: string[]): Promise<void> {
  const now = s.clock.now();
  await s.events.write({ appKey: who.appKey, userIds: [who.userId] }, async (trx, record) => {
    const removed = await unsubscribe(trx, who.appKey, who.userId, type, ids);
    if (removed.length) {
      record({ type: 'subscriptionChanged', appKey: who.appKey, userId: who.userId, origin: who.origin, operationType: 'UNSUBSCRIBE', subscribeType: type, userIds: removed, expiry: null, at: now.toISOString() });
    }
  });
}
