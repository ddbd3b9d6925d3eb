import type { Kysely } from 'kysely';
import type { AppRow, Database } from '../db/database.ts';
import type { AppConfigCache } from '../apps/config-cache.ts';
import { presenceOf } from '../presence/repository.ts';
import { effectivePresenceVisibility, liveCustomStatus, maySeePresence } from '../presence/rules.ts';
import { findUsers } from '../profiles/repository.ts';
import type { StatusMessage, StatusSubscribeType } from '../realtime/messages.ts';
import { viewsByAudience } from '../visibility/views.ts';
import { friendIdsAmong, friendIdsOf } from '../friends/repository.ts';
import { subscriptionsOf } from './repository.ts';

const ONLINE_TYPES = new Set<StatusSubscribeType>(['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);

/**
 * The current status of everything one receiver watches with one type: its unexpired
 * subscriptions, or its friends for the FRIEND_* types. A constant number of queries whatever
 * the number of users; each item carries the subject's version as `order`, so the live stream
 * can skip changes the snapshot already contains.
 */
export async function statusSnapshot(
  s: { db: Kysely<Database>; appConfig: AppConfigCache },
  app: AppRow,
  receiverId: string,
  type: StatusSubscribeType,
  now: Date,
  onlyUserIds?: readonly string[],
): Promise<StatusMessage[]> {
  const { db } = s;
  const { appKey } = app;
  let watched: { userId: string; subscribeTime: Date | null; expiry: number | null; expiresAt: Date | null }[];
  if (type === 'ONLINE_STATUS' || type === 'USER_PROFILE') {
    const rows = await subscriptionsOf(db, appKey, receiverId, type, now, onlyUserIds ? { targetIds: onlyUserIds } : undefined);
    watched = rows.map((r) => ({ userId: r.targetId, subscribeTime: r.subscribedAt, expiry: r.expiry, expiresAt: r.expiresAt }));
  } else {
    let friendIds = await friendIdsOf(db, appKey, receiverId);
    if (onlyUserIds) {
      const only = new Set(onlyUserIds);
      friendIds = friendIds.filter((id) => only.has(id));
    }
    watched = friendIds.map((id) => ({ userId: id, subscribeTime: null, expiry: null, expiresAt: null }));
  }
  if (watched.length === 0) return [];
  const ids = watched.map((w) => w.userId);
  const base = (w: (typeof watched)[number]) => ({
    kind: 'status' as const,
    subjectId: w.userId,
    subscribeType: type,
    subscribeTime: w.subscribeTime?.getTime() ?? null,
    expiry: w.expiry,
    expiresAt: w.expiresAt?.getTime() ?? null,
  });

  if (ONLINE_TYPES.has(type)) {
    const presence = await presenceOf(db, appKey, ids);
    // SPEC §10: a subject whose presence this receiver may not see looks never connected
    // the app's default as of now (a socket's caller holds the app row read when it connected)
    const appDefault = ((await s.appConfig.app(appKey)) ?? app).defaultPresenceVisibility;
    const visibilityOf = (id: string) => effectivePresenceVisibility(presence.get(id)?.visibility, appDefault);
    const friendsOnly = ids.filter((id) => visibilityOf(id) === 'FRIENDS_ONLY');
    const friends = type === 'FRIEND_ONLINE_STATUS' || friendsOnly.length === 0 ? null : await friendIdsAmong(db, appKey, receiverId, friendsOnly);
    return watched.map((w) => {
      const p = presence.get(w.userId);
      const hidden = !maySeePresence(visibilityOf(w.userId), friends === null || friends.has(w.userId));
      const details = hidden ? [] : (p?.details ?? []).map((d) => ({ platform: d.platform, online: d.online, changeTime: d.changeTime.toISOString() }));
      const latest = details.reduce<string | null>((max, d) => (max === null || d.changeTime > max ? d.changeTime : max), null);
      const customStatus = hidden ? null : liveCustomStatus(p?.customStatus, now);
      return { ...base(w), details, profile: null, customStatus, hidden, changeTime: latest ?? (w.subscribeTime ?? now).toISOString(), incarnation: p?.incarnation ?? 0, order: p?.version ?? 0 };
    });
  }

  const [rows, extKeys, friendRows] = await Promise.all([
    findUsers(db, appKey, ids),
    s.appConfig.extKeys(appKey),
    type === 'FRIEND_USER_PROFILE' ? Promise.resolve(null) : friendIdsAmong(db, appKey, receiverId, ids),
  ]);
  const friends = friendRows;
  const byId = new Map(rows.map((r) => [r.userId, r]));
  return watched.map((w) => {
    const row = byId.get(w.userId);
    if (!row) return { ...base(w), details: [], profile: null, changeTime: (w.subscribeTime ?? now).toISOString(), incarnation: 0, order: 0 };
    const views = viewsByAudience(row, app, extKeys);
    const isFriend = friends === null || friends.has(w.userId);
    return {
      ...base(w),
      details: [],
      profile: isFriend ? views.friend : views.other,
      changeTime: new Date(row.updatedAt).toISOString(),
      incarnation: new Date(row.createdAt).getTime(),
      order: row.version,
    };
  });
}
