import type { Services } from '../context.ts';
import { GraphQLError } from 'graphql';
import type { ExtProfileKeyRow, ProfileVisibility, UserRow } from '../db/database.ts';
import { fieldVisibilityChange, type FieldVisibilityEntry } from '../visibility/service.ts';
import { appError, badInput, limitExceeded, notFound } from '../errors.ts';
import type { ChangeOrigin } from '../events/bus.ts';
import type { RecordEvent } from '../events/log.ts';
import { friendsOfEach } from '../friends/repository.ts';
import { presenceOf } from '../presence/repository.ts';
import { effectivePresenceVisibility, maySeePresence } from '../presence/rules.ts';
import { findApp } from '../apps/repository.ts';
import { removeSubscriptionsTo, subscribersOfEach } from '../subscriptions/repository.ts';
import { intInRange, userIdArg, userIdList } from '../schema/validate-args.ts';
import {
  cleanUsers,
  ensureUser,
  ensureUsers,
  findUsers,
  holdersOfUniqueIds,
  isUniqueViolation,
  listUsers,
  undoneIfRefused,
  updateProfile,
  updateProfiles,
  type ProfilePatch,
  type UpdateOutcome,
} from './repository.ts';
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

function refusal(reason: RefusedWrite['reason'], write: Pick<ProfileWrite, 'userId' | 'expectedVersion'>, patch: ProfilePatch) {
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

/** The most profiles one setUserProfiles call (and one import batch) writes. */
export const UPSERTS_PER_CALL = 100;

export interface ProfileUpsert {
  userId: string;
  input: ProfileInput;
  /**
   * the user's privacy choices, as an import carries them (SPEC §3, §10): its own visibility, and
   * its per-field overrides, which then replace the stored ones; absent: left as they are
   */
  privacy?: { visibility?: ProfileVisibility; fieldVisibility?: readonly FieldVisibilityEntry[] };
}

/** An upsert's patch: its profile input and its privacy choices, validated together (all or nothing). */
function upsertPatch(item: ProfileUpsert, extKeys: readonly ExtProfileKeyRow[]): ProfilePatch {
  const patch = profilePatchFrom(item.input, 'backend', extKeys);
  if (item.privacy?.visibility !== undefined) patch.set.visibility = item.privacy.visibility;
  if (item.privacy?.fieldVisibility !== undefined) patch.fieldVisibility = { ...fieldVisibilityChange(item.privacy.fieldVisibility, extKeys), replace: true };
  return patch;
}

/** One item's outcome: the row as written, or why nothing of the item was written. */
export type UpsertOutcome = { userId: string; row: UserRow; error?: undefined } | { userId: string; row?: undefined; error: GraphQLError };

/**
 * The backend's setUserProfile for 1 to UPSERTS_PER_CALL users at once (SPEC §13). Each item is
 * checked and written exactly as setUserProfile would (the same validation, the same refusals,
 * the missing user created, one `profileChanged` each), all or nothing on its own: a refused item
 * writes nothing and the others go on. Items naming the same user apply in input order, as
 * separate setUserProfile calls would. Outcomes come back in input order.
 *
 * All items share one transaction (one commit, one event append); the users are created in one
 * statement, and the items are updated together, one statement per run of distinct users, unless
 * a uniqueId conflict is possible: then that run goes one item at a time, each item that sets a
 * uniqueId (the one refusal the database decides) under a savepoint of its own, so that its
 * refusal undoes just that item.
 */
export async function upsertProfiles(s: Deps, appKey: string, items: readonly ProfileUpsert[], extKeys: readonly ExtProfileKeyRow[]): Promise<UpsertOutcome[]> {
  if (items.length === 0) throw badInput(`items must hold 1 to ${UPSERTS_PER_CALL} profiles; got none`, { fields: ['items'] });
  if (items.length > UPSERTS_PER_CALL) {
    throw limitExceeded(`items holds at most ${UPSERTS_PER_CALL} profiles per call; got ${items.length}`, { fields: ['items'], max: UPSERTS_PER_CALL });
  }
  const outcomes: UpsertOutcome[] = new Array(items.length);
  const valid: { index: number; userId: string; patch: ProfilePatch }[] = [];
  items.forEach((item, index) => {
    try {
      valid.push({ index, userId: userIdArg(item.userId), patch: upsertPatch(item, extKeys) });
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      outcomes[index] = { userId: item.userId, error };
    }
  });
  if (valid.length === 0) return outcomes;

  const now = s.clock.now();
  const at = now.toISOString();
  const origin: ChangeOrigin = { by: 'backend' };
  const refusable = (patch: ProfilePatch) => patch.set.uniqueId !== undefined && patch.set.uniqueId !== null;
  const userIds = [...new Set(valid.map((v) => v.userId))];
  const written = await s.events.write({ appKey, userIds }, async (trx, record) => {
    await ensureUsers(trx, appKey, [...new Set(valid.filter((v) => !refusable(v.patch)).map((v) => v.userId))], now);
    const results: UpdateOutcome[] = new Array(valid.length);
    /** one item as setUserProfile writes it; a refusable one under its own savepoint */
    const one = (i: number): Promise<UpdateOutcome> => {
      const { userId, patch } = valid[i]!;
      if (!refusable(patch)) return updateProfile(trx, appKey, userId, patch, now);
      return undoneIfRefused(trx, async () => {
        await ensureUser(trx, appKey, userId, now);
        return updateProfile(trx, appKey, userId, patch, now);
      });
    };
    for (const segment of distinctRuns(valid.map((v) => v.userId))) {
      const rows = await togetherIfNoConflict(trx, appKey, segment.map((i) => valid[i]!), now, refusable);
      for (const i of segment) results[i] = rows ? { ok: true, row: rows.get(valid[i]!.userId)! } : await one(i);
    }
    valid.forEach(({ userId }, i) => {
      const outcome = results[i]!;
      if (outcome.ok) record({ type: 'profileChanged', appKey, userId, profile: outcome.row, at, origin });
    });
    return results;
  });
  valid.forEach(({ index, userId, patch }, i) => {
    const outcome = written[i]!;
    outcomes[index] = outcome.ok ? { userId, row: outcome.row } : { userId, error: refusal(outcome.reason, { userId }, patch) };
  });
  return outcomes;
}

/**
 * The input split into runs of consecutive items naming distinct users (indexes): a run's items
 * can be written at once, and runs one after the other keep each user's items in input order.
 */
function distinctRuns(userIds: readonly string[]): number[][] {
  const runs: number[][] = [];
  let run: number[] = [];
  let inRun = new Set<string>();
  userIds.forEach((userId, i) => {
    if (inRun.has(userId)) {
      runs.push(run);
      run = [];
      inRun = new Set();
    }
    run.push(i);
    inRun.add(userId);
  });
  if (run.length) runs.push(run);
  return runs;
}

/**
 * Writes a run of items (distinct users) in one statement when that ends as writing them one by
 * one in input order would: always, unless uniqueIds are at stake — then only when no uniqueId
 * an item sets is held by another user or set by two items (whatever order the database updates
 * the rows in, no item could then be refused). Returns the rows, or null when the items must be
 * written one by one: a possible conflict, or a uniqueId taken meanwhile by another writer (the
 * statement runs under a savepoint then, so its failure undoes just it).
 */
async function togetherIfNoConflict(
  trx: Parameters<typeof updateProfiles>[0],
  appKey: string,
  run: readonly { userId: string; patch: ProfilePatch }[],
  now: Date,
  refusable: (patch: ProfilePatch) => boolean,
): Promise<Map<string, UserRow> | null> {
  if (run.length === 1) return null;
  const touching = run.filter((r) => r.patch.set.uniqueId !== undefined);
  if (touching.length === 0) return updateProfiles(trx, appKey, run, now);
  const wanted = touching.flatMap((r) => (r.patch.set.uniqueId ? [{ userId: r.userId, uniqueId: r.patch.set.uniqueId }] : []));
  // clearing a uniqueId refuses nobody
  if (wanted.length === 0) return updateProfiles(trx, appKey, run, now);
  if (new Set(wanted.map((w) => w.uniqueId)).size < wanted.length) return null;
  const holders = await holdersOfUniqueIds(trx, appKey, wanted.map((w) => w.uniqueId));
  if (wanted.some((w) => (holders.get(w.uniqueId) ?? w.userId) !== w.userId)) return null;
  const outcome = await undoneIfRefused(trx, async () => {
    try {
      await ensureUsers(trx, appKey, run.filter((r) => refusable(r.patch)).map((r) => r.userId), now);
      return { ok: true as const, rows: await updateProfiles(trx, appKey, run, now) };
    } catch (error) {
      if (isUniqueViolation(error, 'users_unique_id')) return { ok: false as const };
      throw error;
    }
  });
  return outcome.ok ? outcome.rows : null;
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
    const [friends, presence, subscribers, app] = await Promise.all([
      friendsOfEach(trx, appKey, userIds),
      presenceOf(trx, appKey, userIds),
      subscribersOfEach(trx, appKey, userIds, 'ONLINE_STATUS', now),
      findApp(trx, appKey),
    ]);
    recordFormerFriends(record, appKey, friends, cleaned, at);
    for (const [subjectId, state] of presence) {
      if (!state.details.some((d) => d.online)) continue;
      // only those who saw it online learn it went offline (SPEC §10)
      const presenceVisibility = effectivePresenceVisibility(state.visibility, app?.defaultPresenceVisibility);
      const friendSet = new Set(friends.get(subjectId) ?? []);
      const gone = { subjectId, details: state.details.map((d) => ({ platform: d.platform, online: false, changeTime: d.online ? at : d.changeTime.toISOString() })), incarnation: state.incarnation, version: state.version + 1, at };
      for (const sub of subscribers.get(subjectId) ?? []) {
        if (cleaned.has(sub.subscriberId) || !maySeePresence(presenceVisibility, friendSet.has(sub.subscriberId))) continue;
        record({ type: 'watchedUserGone', appKey, receiverId: sub.subscriberId, subscribeType: 'ONLINE_STATUS', subscribeTime: sub.subscribedAtMs, expiry: sub.expiry, expiresAt: sub.expiresAtMs, ...gone });
      }
      for (const friendId of friends.get(subjectId) ?? []) {
        if (cleaned.has(friendId) || !maySeePresence(presenceVisibility, true)) continue;
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
