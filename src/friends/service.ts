import type { GraphQLError } from 'graphql';
import type { Services } from '../context.ts';
import type { Kysely } from 'kysely';
import type { AppRow, Database, FriendApplicationRow } from '../db/database.ts';
import { badInput, forbidden, limitExceeded, notFound } from '../errors.ts';
import type { FriendEventPayload } from '../events/bus.ts';
import type { RecordEvent } from '../events/log.ts';
import { findUsers } from '../profiles/repository.ts';
import { recordFriendshipPresence } from '../presence/service.ts';
import { RC } from '../profiles/rules.ts';
import {
  type Befriended,
  type FriendshipRefusal,
  FRIEND_LIMIT,
  acceptApplication,
  addFriend,
  adminAddFriend,
  applicationStatus,
  deleteFriendships,
  refuseApplication,
  friendIdsAmong,
  friendIdsOf,
  setFriendAddPermission,
  setFriendRemark,
  listFriends,
  type FriendCursor,
  type FriendItem,
} from './repository.ts';
import { intInRange, userIdList } from '../schema/validate-args.ts';
import { isValidUserId } from '../profiles/rules.ts';
import { textProblem } from '../profiles/rules.ts';
import type { FriendAddPermission } from '../db/database.ts';
import type { PagedList } from '../events/cursor.ts';

/**
 * Friendship rules and writes (SPEC §4). Each operation commits its change and the events of both
 * parties in one transaction (src/events/log.ts), so a friend event can be late but never lost.
 */

type Deps = Pick<Services, 'db' | 'clock' | 'events'>;

/** An application as one party sees it; the same shape is logged in friend events (ISO timestamps). */
export type ApplicationView = Extract<FriendEventPayload, { kind: 'FriendApplicationStatusChanged' }>['application'];

export function applicationView(row: FriendApplicationRow, viewerId: string, now: Date): ApplicationView {
  const sent = row.fromUserId === viewerId;
  return {
    userId: sent ? row.toUserId : row.fromUserId,
    direction: sent ? 'SENT' : 'RECEIVED',
    status: applicationStatus(row, now),
    extra: row.extra,
    reason: row.reason,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
  };
}

export function refusalError(refusal: FriendshipRefusal, callerId: string | null): GraphQLError {
  switch (refusal.reason) {
    case 'user_not_found':
      return notFound(`user "${refusal.userId}" does not exist`, { rcCode: RC.USER_NOT_FOUND, userIds: [refusal.userId] });
    case 'already_friends':
      return badInput('you are already friends', { rcCode: RC.FRIEND_ALREADY });
    case 'not_allowed':
      return forbidden('this user does not accept friend requests', { rcCode: RC.FRIEND_ADD_DISALLOWED });
    case 'application_not_found':
      return notFound('no pending friend application from this user (it may have expired or been handled)', {
        rcCode: RC.FRIEND_APPLICATION_MISSING,
      });
    case 'limit': {
      // "my" limit is the caller's; for the backend, that of the first user argument
      const mine = refusal.userId === callerId;
      return limitExceeded(`user "${refusal.userId}" already has ${FRIEND_LIMIT} friends, the most allowed`, {
        rcCode: mine ? RC.FRIEND_MY_LIMIT : RC.FRIEND_THEIR_LIMIT,
        userIds: [refusal.userId],
      });
    }
  }
}

export function rejectSelf(userId: string, otherId: string, arg: string): void {
  if (userId === otherId) throw badInput('a user cannot befriend itself', { fields: [arg], rcCode: RC.FRIEND_SELF });
}

function friendEvent(record: RecordEvent, appKey: string, receiverId: string, event: FriendEventPayload, at: Date): void {
  record({ type: 'friendEvent', appKey, receiverId, event, at: at.toISOString() });
}

/** Both parties learn the application's new status, each from their own side. */
function recordApplication(record: RecordEvent, appKey: string, row: FriendApplicationRow, now: Date): void {
  for (const receiverId of [row.fromUserId, row.toUserId]) {
    friendEvent(record, appKey, receiverId, { kind: 'FriendApplicationStatusChanged', application: applicationView(row, receiverId, now) }, now);
  }
}

/**
 * A new friendship: applications it accepted, FriendAdded to both (with the other's name and
 * portraitUri as they are now: RongCloud's onFriendAdd carries them, and they are visible to
 * anyone), then the relation change.
 */
async function recordFriendship(trx: Kysely<Database>, record: RecordEvent, appKey: string, a: string, b: string, result: Befriended): Promise<void> {
  const now = result.addedAt;
  for (const row of result.accepted) recordApplication(record, appKey, row, now);
  const addedAt = now.toISOString();
  const users = new Map((await findUsers(trx, appKey, [a, b])).map((u) => [u.userId, u]));
  const added = (userId: string): FriendEventPayload => ({
    kind: 'FriendAdded',
    userId,
    addedAt,
    name: users.get(userId)?.name ?? null,
    portraitUri: users.get(userId)?.portraitUri ?? null,
  });
  friendEvent(record, appKey, a, added(b), now);
  friendEvent(record, appKey, b, added(a), now);
  record({ type: 'friendshipChanged', appKey, userIds: [a, b], at: addedAt });
  await recordFriendshipPresence(trx, record, appKey, [[a, b]], now);
}

export async function requestFriendship(s: Deps, app: AppRow, userId: string, targetId: string, extra: string | null): Promise<'ADDED' | 'APPLICATION_SENT'> {
  rejectSelf(userId, targetId, 'userId');
  const now = s.clock.now();
  const result = await s.events.write({ appKey: app.appKey, userIds: [userId, targetId] }, async (trx, record) => {
    const outcome = await addFriend(trx, app, userId, targetId, extra, now);
    if (outcome.ok && outcome.outcome === 'ADDED') await recordFriendship(trx, record, app.appKey, userId, targetId, outcome);
    else if (outcome.ok) recordApplication(record, app.appKey, outcome.application, now);
    return outcome;
  });
  if (!result.ok) throw refusalError(result, userId);
  return result.outcome;
}

export async function acceptFriendship(s: Deps, appKey: string, userId: string, applicantId: string): Promise<void> {
  const now = s.clock.now();
  const result = await s.events.write({ appKey, userIds: [userId, applicantId] }, async (trx, record) => {
    const outcome = await acceptApplication(trx, appKey, userId, applicantId, now);
    if (outcome.ok) await recordFriendship(trx, record, appKey, userId, applicantId, outcome);
    return outcome;
  });
  if (!result.ok) throw refusalError(result, userId);
}

export async function refuseFriendship(s: Deps, appKey: string, userId: string, applicantId: string, reason: string | null): Promise<void> {
  const now = s.clock.now();
  const row = await s.events.write({ appKey, userIds: [userId, applicantId] }, async (trx, record) => {
    const refused = await refuseApplication(trx, appKey, applicantId, userId, reason, now);
    if (refused) recordApplication(record, appKey, refused, now);
    return refused;
  });
  if (!row) throw refusalError({ ok: false, reason: 'application_not_found' }, userId);
}

/** Ends friendships from `userId`'s side; returns the former friends. Both sides get FriendDeleted. */
export async function endFriendships(s: Deps, appKey: string, userId: string, friendIds: readonly string[]): Promise<string[]> {
  const now = s.clock.now();
  const deletedAt = now.toISOString();
  return s.events.write({ appKey, userIds: [userId, ...friendIds] }, async (trx, record) => {
    const removed = await deleteFriendships(trx, appKey, userId, friendIds);
    if (removed.length === 0) return removed;
    friendEvent(record, appKey, userId, { kind: 'FriendDeleted', userIds: removed, deletedAt }, now);
    for (const friendId of removed) friendEvent(record, appKey, friendId, { kind: 'FriendDeleted', userIds: [userId], deletedAt }, now);
    for (const friendId of removed) record({ type: 'friendshipChanged', appKey, userIds: [userId, friendId], at: deletedAt });
    await recordFriendshipPresence(trx, record, appKey, removed.map((friendId) => [userId, friendId] as const), now);
    return removed;
  });
}

/** The backend makes two users friends without an application (idempotent). */
export async function makeFriends(s: Deps, appKey: string, userId: string, friendId: string): Promise<void> {
  rejectSelf(userId, friendId, 'friendId');
  const now = s.clock.now();
  const result = await s.events.write({ appKey, userIds: [userId, friendId] }, async (trx, record) => {
    const outcome = await adminAddFriend(trx, appKey, userId, friendId, now);
    if (outcome.ok && outcome.outcome === 'ADDED') await recordFriendship(trx, record, appKey, userId, friendId, outcome);
    return outcome;
  });
  if (!result.ok) throw refusalError(result, userId);
}

/** Limits of the friend operations, shared by every transport. */
export const FRIEND_EXTRA_MAX = 128;
export const FRIEND_CHECK_MAX = 20;
export const FRIEND_DELETE_MAX = 100;
export const PERMISSION_USERS_MAX = 100;

/** Free text of the friend operations: null stays null; code points counted; controls refused. */
export function friendText(value: string | null | undefined, max: number, arg: string): string | null {
  if (value === null || value === undefined) return null;
  const problem = textProblem(value, max);
  if (problem) throw badInput(`${arg} ${problem}`, { fields: [arg], rcCode: problem.startsWith('is ') ? RC.FRIEND_FIELD_TOO_LONG : undefined });
  return value;
}

/** Which of 1 to 20 ids are friends of the user. */
export async function checkFriends(s: Pick<Services, 'db'>, appKey: string, userId: string, userIds: readonly string[], arg = 'userIds'): Promise<{ userId: string; isFriend: boolean }[]> {
  const ids = userIdList(userIds, { max: FRIEND_CHECK_MAX, arg });
  const friends = await friendIdsAmong(s.db, appKey, userId, ids);
  return ids.map((id) => ({ userId: id, isFriend: friends.has(id) }));
}

/** Ends 1 to 100 of the user's friendships (endFriendships with its limit). */
export function endFriendshipsChecked(s: Deps, appKey: string, userId: string, friendIds: readonly string[], arg = 'userIds'): Promise<string[]> {
  return endFriendships(s, appKey, userId, userIdList(friendIds, { max: FRIEND_DELETE_MAX, arg }));
}

/** Ends every friendship of the user; returns the former friends. */
export async function endAllFriendships(s: Deps, appKey: string, userId: string): Promise<string[]> {
  const friendIds = await friendIdsOf(s.db, appKey, userId);
  return friendIds.length ? endFriendships(s, appKey, userId, friendIds) : [];
}

/** Sets the friend-add permission of existing users; returns those found. */
export async function setFriendAddPermissions(s: Pick<Services, 'db'>, appKey: string, userIds: readonly string[], permission: FriendAddPermission, arg = 'userIds'): Promise<string[]> {
  const ids = userIdList(userIds, { max: PERMISSION_USERS_MAX, arg });
  const found: string[] = [];
  for (const id of ids) if (await setFriendAddPermission(s.db, appKey, id, permission)) found.push(id);
  return found;
}

/** Each user's effective friend-add permission (its own, else the app's default); unknown users are left out. */
export async function friendAddPermissionsOf(s: Pick<Services, 'db'>, app: AppRow, userIds: readonly string[], arg = 'userIds'): Promise<{ userId: string; permission: Exclude<FriendAddPermission, 'NOT_SET'> }[]> {
  const ids = userIdList(userIds, { max: PERMISSION_USERS_MAX, arg });
  const rows = await findUsers(s.db, app.appKey, ids);
  const byId = new Map(rows.map((r) => [r.userId, r.friendAddPermission]));
  return ids.flatMap((userId) => {
    const own = byId.get(userId);
    if (own === undefined) return [];
    return [{ userId, permission: own === 'NOT_SET' ? app.defaultFriendAddPermission : own }];
  });
}

export const FRIEND_PAGE_MAX = 100;
export const FRIEND_REMARK_MAX = 64;

/**
 * One page of the user's friends, oldest friendship first; `pageToken` is the previous page's
 * `nextPageToken` (signed for this user and list: a forged or edited one is BAD_USER_INPUT).
 */
export async function friendsPage(
  s: Pick<Services, 'db' | 'cursors'>,
  appKey: string,
  userId: string,
  args: { pageToken?: string | null; count: number; countArg?: string; newestFirst?: boolean },
): Promise<{ items: FriendItem[]; nextPageToken: string | null }> {
  const count = intInRange(args.count, 1, FRIEND_PAGE_MAX, args.countArg ?? 'count');
  const newestFirst = args.newestFirst ?? false;
  // a token of the newest-first list is signed for another list name, so it cannot page the other order
  const list: PagedList = newestFirst ? 'friends-newest-first' : 'friends';
  const after = args.pageToken ? friendsCursor(s, appKey, userId, list, args.pageToken) : null;
  // one extra row tells whether another page follows
  const rows = await listFriends(s.db, appKey, userId, after, count + 1, newestFirst);
  const items = rows.slice(0, count);
  const last = items[items.length - 1];
  return { items, nextPageToken: rows.length > count && last ? s.cursors.encodePage(appKey, userId, list, [last.addedAt.toISOString(), last.friendId]) : null };
}

function friendsCursor(s: Pick<Services, 'cursors'>, appKey: string, userId: string, list: PagedList, token: string): FriendCursor {
  const [t, u] = s.cursors.decodePage(appKey, userId, list, token);
  const addedAt = t === undefined ? null : new Date(t);
  if (!addedAt || Number.isNaN(addedAt.getTime()) || addedAt.toISOString() !== t || u === undefined || !isValidUserId(u)) {
    throw badInput('pageToken is not a token returned by this list', { fields: ['pageToken'] });
  }
  return { addedAt, friendId: u };
}

/** Sets (null clears) the user's remark on a friend: at most 64 characters; NOT_FOUND (RC 25469) when not friends. */
export async function setRemark(s: Pick<Services, 'db'>, appKey: string, userId: string, friendId: string, remark: string | null | undefined, arg = 'remark'): Promise<void> {
  const text = friendText(remark, FRIEND_REMARK_MAX, arg);
  if (!(await setFriendRemark(s.db, appKey, userId, friendId, text))) {
    throw notFound(`"${friendId}" is not a friend of "${userId}"`, { fields: ['userId'], rcCode: RC.FRIEND_NOT_FRIENDS });
  }
}

/** How many friends the user has (at most FRIEND_LIMIT). */
export async function friendCount(s: Pick<Services, 'db'>, appKey: string, userId: string): Promise<number> {
  return (await friendIdsOf(s.db, appKey, userId)).length;
}
