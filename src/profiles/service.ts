import type { Services } from '../context.ts';
import type { ExtProfileKeyRow, UserRow } from '../db/database.ts';
import { appError, badInput, notFound } from '../errors.ts';
import type { ChangeOrigin } from '../events/bus.ts';
import type { RecordEvent } from '../events/log.ts';
import { friendsOfEach } from '../friends/repository.ts';
import { presenceOf } from '../presence/repository.ts';
import { removeSubscriptionsTo, subscribersOfEach } from '../subscriptions/repository.ts';
import { cleanUsers, ensureUser, findUsers, listUsers, updateProfile, type ProfilePatch } from './repository.ts';
import { intInRange, userIdList } from '../schema/validate-args.ts';
import { RC } from './rules.ts';
import { profilePatchFrom, type ProfileInput, type Writer } from './validation.ts';

/**
 * Profile rules and writes (SPEC §2). Every write commits the profile row and its
 * `profileChanged` event in one transaction; delivery to subscribers, friends and the owner's
 * other devices follows from the event log.
 */

type Deps = Pick<Services, 'db' | 'clock' | 'events'>;

export interface ProfileWrite {
  appKey: string;
  userId: string;
  writer: Writer;
  origin: ChangeOrigin;
  expectedVersion?: number;
  /** the backend's setUserProfile creates the user */
  createIfMissing?: boolean;
}

class RefusedWrite {
  constructor(readonly reason: 'not_found' | 'version_conflict' | 'unique_id_taken') {}
}

/** Validates an input against the app's ext keys and writes it (all or nothing). */
export async function writeProfile(s: Deps, write: ProfileWrite, input: ProfileInput, extKeys: readonly ExtProfileKeyRow[]): Promise<UserRow> {
  return applyProfilePatch(s, write, profilePatchFrom(input, write.writer, extKeys as ExtProfileKeyRow[]));
}

/** Writes a validated patch atomically with its event; refusals write nothing. */
export async function applyProfilePatch(s: Deps, write: ProfileWrite, patch: ProfilePatch): Promise<UserRow> {
  const now = s.clock.now();
  const { appKey, userId } = write;
  if (!write.createIfMissing) {
    // one statement: the user's event lock, the update and its event (no transaction round trips)
    const at = now.toISOString();
    const outcome = await updateProfile(s.db, appKey, userId, patch, now, write.expectedVersion, { origin: write.origin, at });
    if (!outcome.ok) throw refusal(outcome.reason, write, patch);
    await s.events.committedAlone(outcome.xid ?? null, [{ type: 'profileChanged', appKey, userId, profile: outcome.row, at, origin: write.origin }]);
    return outcome.row;
  }
  try {
    return await s.events.write({ appKey, userIds: [userId] }, async (trx, record) => {
      if (write.createIfMissing) await ensureUser(trx, appKey, userId, now);
      const outcome = await updateProfile(trx, appKey, userId, patch, now, write.expectedVersion);
      // a refused write (e.g. a taken uniqueId) leaves the transaction aborted: roll it back, user creation included
      if (!outcome.ok) throw new RefusedWrite(outcome.reason);
      record({ type: 'profileChanged', appKey, userId, profile: outcome.row, at: now.toISOString(), origin: write.origin });
      return outcome.row;
    });
  } catch (error) {
    if (!(error instanceof RefusedWrite)) throw error;
    throw refusal(error.reason, write, patch);
  }
}

function refusal(reason: RefusedWrite['reason'], write: ProfileWrite, patch: ProfilePatch) {
  switch (reason) {
    case 'version_conflict':
      return appError('VERSION_CONFLICT', `expectedVersion ${write.expectedVersion} does not match the stored version; reload and retry`, {
        fields: ['expectedVersion'],
      });
    case 'unique_id_taken':
      return badInput(`uniqueId "${patch.set.uniqueId}" is already taken in this app`, { fields: ['uniqueId'] });
    case 'not_found':
      return notFound(`user "${write.userId}" does not exist`, { rcCode: RC.USER_NOT_FOUND });
  }
}

/**
 * Removes profiles with their subscriptions, friendships and applications, and says so in the
 * same transaction (SPEC §2): each former friend gets FriendDeleted naming the cleaned users it
 * lost, each watcher of a cleaned user that was online gets its offline status, and the cleaned
 * users' sockets are closed. Returns how many profiles were removed.
 */
export async function cleanProfiles(s: Deps, appKey: string, userIds: readonly string[]): Promise<number> {
  const now = s.clock.now();
  const at = now.toISOString();
  return s.events.write({ appKey, userIds }, async (trx, record) => {
    const cleaned = new Set(userIds);
    const [friends, presence, subscribers] = await Promise.all([
      friendsOfEach(trx, appKey, userIds),
      presenceOf(trx, appKey, userIds),
      subscribersOfEach(trx, appKey, userIds, 'ONLINE_STATUS', now),
    ]);
    recordFormerFriends(record, appKey, friends, cleaned, at);
    for (const [subjectId, state] of presence) {
      if (!state.details.some((d) => d.online)) continue;
      const gone = { subjectId, details: state.details.map((d) => ({ platform: d.platform, online: false, changeTime: d.online ? at : d.changeTime.toISOString() })), incarnation: state.incarnation, version: state.version + 1, at };
      for (const sub of subscribers.get(subjectId) ?? []) {
        if (cleaned.has(sub.subscriberId)) continue;
        record({ type: 'watchedUserGone', appKey, receiverId: sub.subscriberId, subscribeType: 'ONLINE_STATUS', subscribeTime: sub.subscribedAtMs, expiry: sub.expiry, expiresAt: sub.expiresAtMs, ...gone });
      }
      for (const friendId of friends.get(subjectId) ?? []) {
        if (cleaned.has(friendId)) continue;
        record({ type: 'watchedUserGone', appKey, receiverId: friendId, subscribeType: 'FRIEND_ONLINE_STATUS', subscribeTime: null, expiry: null, expiresAt: null, ...gone });
      }
    }
    await removeSubscriptionsTo(trx, appKey, userIds);
    const removed = await cleanUsers(trx, appKey, userIds);
    for (const userId of userIds) record({ type: 'userRemoved', appKey, userId, at });
    record({ type: 'usersCleaned', appKey, userIds: [...userIds], at });
    return removed;
  });
}

/** One FriendDeleted per former friend, naming every cleaned user it was friends with. */
function recordFormerFriends(record: RecordEvent, appKey: string, friends: Map<string, string[]>, cleaned: Set<string>, at: string): void {
  const lost = new Map<string, string[]>();
  for (const [cleanedId, friendIds] of friends) {
    for (const friendId of friendIds) {
      if (cleaned.has(friendId)) continue;
      let list = lost.get(friendId);
      if (!list) lost.set(friendId, (list = []));
      list.push(cleanedId);
    }
  }
  for (const [receiverId, ids] of lost) {
    record({ type: 'friendEvent', appKey, receiverId, event: { kind: 'FriendDeleted', userIds: ids.sort(), deletedAt: at }, at });
    for (const id of ids) record({ type: 'friendshipChanged', appKey, userIds: [receiverId, id], at });
  }
}

/** The backend reads at most this many profiles by id at once, and cleans at most CLEAN_MAX. */
export const BACKEND_QUERY_MAX = 100;
export const CLEAN_MAX = 20;
export const PAGE_SIZE_MAX = 100;

/** The ids of a backend profile query: 1 to 100 well-formed ids (RC 24365 past it), duplicates collapsed. */
export function backendQueryIds(userIds: readonly string[], arg = 'userIds'): string[] {
  return userIdList(userIds, { max: BACKEND_QUERY_MAX, arg, rcCode: RC.QUERY_COUNT_EXCEEDED });
}

/** Profiles by id for the backend, in input order; unknown ids are left out. */
export async function backendProfiles(s: Pick<Services, 'db'>, appKey: string, userIds: readonly string[], arg = 'userIds'): Promise<UserRow[]> {
  const ids = backendQueryIds(userIds, arg);
  const byId = new Map((await findUsers(s.db, appKey, ids)).map((r) => [r.userId, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** One page of every profile of the app, by creation order: page from 1, size 1 to 100. */
export async function profilePage(s: Pick<Services, 'db'>, appKey: string, args: { page: number; size: number; order: 'asc' | 'desc' }): Promise<{ rows: UserRow[]; totalCount: number }> {
  const page = intInRange(args.page, 1, 1_000_000, 'page');
  const size = intInRange(args.size, 1, PAGE_SIZE_MAX, 'size');
  return listUsers(s.db, appKey, page, size, args.order);
}

/** cleanProfiles for 1 to 20 well-formed ids. */
export function cleanProfilesChecked(s: Deps, appKey: string, userIds: readonly string[], arg = 'userIds'): Promise<number> {
  return cleanProfiles(s, appKey, userIdList(userIds, { max: CLEAN_MAX, arg }));
}
