import { inTransaction } from '../db/transaction.ts';
import { type Kysely, type Transaction, sql } from 'kysely';
import type { AppRow, Database, FriendAddPermission, FriendApplicationRow } from '../db/database.ts';
import { compiledStatement } from '../db/compiled.ts';

/** At most this many friends per user (RongCloud's limit). */
export const FRIEND_LIMIT = 3000;
/** An unhandled application expires this long after it was (re)sent. */
export const APPLICATION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

type Db = Kysely<Database> | Transaction<Database>;

export type ApplicationStatus = 'UNHANDLED' | 'ACCEPTED' | 'REFUSED' | 'EXPIRED';
export type ApplicationDirection = 'SENT' | 'RECEIVED';

/** EXPIRED is not stored: it is an UNHANDLED application whose expiry has passed. */
export function applicationStatus(row: FriendApplicationRow, now: Date): ApplicationStatus {
  return row.status === 'UNHANDLED' && row.expiresAt.getTime() <= now.getTime() ? 'EXPIRED' : row.status;
}

function isPending(row: FriendApplicationRow | undefined, now: Date): row is FriendApplicationRow {
  return row !== undefined && applicationStatus(row, now) === 'UNHANDLED';
}

// ---------------------------------------------------------------------------------------------
// Reads

const friendsAmongStatement = compiledStatement((db, appKey: string, userId: string, candidateIds: readonly string[]) =>
  db.selectFrom('friendships').select('friendId').where('appKey', '=', appKey).where('userId', '=', userId).where('friendId', 'in', candidateIds),
);

/** Which of the candidates are friends of `userId` (one indexed lookup; visibility decisions batch into it). */
export async function friendIdsAmong(db: Db, appKey: string, userId: string, candidateIds: readonly string[]): Promise<Set<string>> {
  if (candidateIds.length === 0) return new Set();
  const rows = await friendsAmongStatement(db as Kysely<Database>, appKey, userId, candidateIds);
  return new Set(rows.map((r) => r.friendId));
}

export interface FriendItem {
  friendId: string;
  remark: string | null;
  addedAt: Date;
}

/** Keyset position in a friend list ordered by (addedAt, friendId), either way. */
export interface FriendCursor {
  addedAt: Date;
  friendId: string;
}

export async function listFriends(
  db: Db,
  appKey: string,
  userId: string,
  after: FriendCursor | null,
  limit: number,
  newestFirst = false,
): Promise<FriendItem[]> {
  let query = db
    .selectFrom('friendships')
    .select(['friendId', 'remark', 'addedAt'])
    .where('appKey', '=', appKey)
    .where('userId', '=', userId);
  if (after) query = query.where((eb) => eb(eb.refTuple('addedAt', 'friendId'), newestFirst ? '<' : '>', eb.tuple(after.addedAt, after.friendId)));
  const direction = newestFirst ? 'desc' : 'asc';
  return query.orderBy('addedAt', direction).orderBy('friendId', direction).limit(limit).execute();
}

/** Keyset position in an application list ordered newest first; (from, to) makes it unique. */
export interface ApplicationCursor {
  createdAt: Date;
  fromUserId: string;
  toUserId: string;
}

export interface ApplicationFilter {
  direction: ApplicationDirection | null;
  status: ApplicationStatus | null;
}

export async function listApplications(
  db: Db,
  appKey: string,
  userId: string,
  filter: ApplicationFilter,
  after: ApplicationCursor | null,
  limit: number,
  now: Date,
): Promise<FriendApplicationRow[]> {
  let query = db.selectFrom('friendApplications').selectAll().where('appKey', '=', appKey);
  query =
    filter.direction === 'SENT'
      ? query.where('fromUserId', '=', userId)
      : filter.direction === 'RECEIVED'
        ? query.where('toUserId', '=', userId)
        : query.where((eb) => eb.or([eb('fromUserId', '=', userId), eb('toUserId', '=', userId)]));
  switch (filter.status) {
    case 'UNHANDLED':
      query = query.where('status', '=', 'UNHANDLED').where('expiresAt', '>', now);
      break;
    case 'EXPIRED':
      query = query.where('status', '=', 'UNHANDLED').where('expiresAt', '<=', now);
      break;
    case 'ACCEPTED':
    case 'REFUSED':
      query = query.where('status', '=', filter.status);
      break;
  }
  if (after) {
    query = query.where((eb) =>
      eb(eb.refTuple('createdAt', 'fromUserId', 'toUserId'), '<', eb.tuple(after.createdAt, after.fromUserId, after.toUserId)),
    );
  }
  return query.orderBy('createdAt', 'desc').orderBy('fromUserId', 'desc').orderBy('toUserId', 'desc').limit(limit).execute();
}

// ---------------------------------------------------------------------------------------------
// Simple writes

/** Returns the stored setting, or undefined when the user does not exist. */
export async function setFriendAddPermission(
  db: Db,
  appKey: string,
  userId: string,
  permission: FriendAddPermission,
): Promise<FriendAddPermission | undefined> {
  const row = await db
    .updateTable('users')
    .set({ friendAddPermission: permission })
    .where('appKey', '=', appKey)
    .where('userId', '=', userId)
    .returning('friendAddPermission')
    .executeTakeFirst();
  return row?.friendAddPermission;
}

/** Sets (null clears) the remark on my side of the friendship; false when we are not friends. */
export async function setFriendRemark(db: Db, appKey: string, userId: string, friendId: string, remark: string | null): Promise<boolean> {
  const result = await db
    .updateTable('friendships')
    .set({ remark })
    .where('appKey', '=', appKey)
    .where('userId', '=', userId)
    .where('friendId', '=', friendId)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Removes both rows of each friendship in one statement; returns the former friends, in input order. */
export async function deleteFriendships(db: Db, appKey: string, userId: string, friendIds: readonly string[]): Promise<string[]> {
  const rows = await db
    .deleteFrom('friendships')
    .where('appKey', '=', appKey)
    .where((eb) =>
      eb.or([
        eb.and([eb('userId', '=', userId), eb('friendId', 'in', friendIds)]),
        eb.and([eb('friendId', '=', userId), eb('userId', 'in', friendIds)]),
      ]),
    )
    .returning(['userId', 'friendId'])
    .execute();
  const removed = new Set(rows.filter((r) => r.userId === userId).map((r) => r.friendId));
  return friendIds.filter((id) => removed.has(id));
}

/** Marks an unexpired, unhandled application REFUSED; undefined when there is none. */
export async function refuseApplication(
  db: Db,
  appKey: string,
  fromUserId: string,
  toUserId: string,
  reason: string | null,
  now: Date,
): Promise<FriendApplicationRow | undefined> {
  return db
    .updateTable('friendApplications')
    .set({ status: 'REFUSED', reason, handledAt: now })
    .where('appKey', '=', appKey)
    .where('fromUserId', '=', fromUserId)
    .where('toUserId', '=', toUserId)
    .where('status', '=', 'UNHANDLED')
    .where('expiresAt', '>', now)
    .returningAll()
    .executeTakeFirst();
}

// ---------------------------------------------------------------------------------------------
// Friendship-creating flows. Each runs in one transaction that first locks both users' rows in
// a fixed order, so that two concurrent requests touching the same user are serialized: the
// friend counts checked against FRIEND_LIMIT cannot change before the insert commits, and a
// pair cannot end up with crossing applications.

interface LockedUser {
  userId: string;
  friendAddPermission: FriendAddPermission;
}

/** Locks the users' rows in userId order; the map holds only those that exist. */
async function lockUsers(trx: Transaction<Database>, appKey: string, userIds: string[]): Promise<Map<string, LockedUser>> {
  const locked = new Map<string, LockedUser>();
  // one statement per row, in sorted order: the lock order is then explicit, whatever the plan.
  // NO KEY UPDATE serializes these flows without blocking foreign-key checks of other writers.
  for (const userId of [...userIds].sort()) {
    const row = await trx
      .selectFrom('users')
      .select(['userId', 'friendAddPermission'])
      .where('appKey', '=', appKey)
      .where('userId', '=', userId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (row) locked.set(row.userId, row);
  }
  return locked;
}

async function friendCounts(trx: Transaction<Database>, appKey: string, userIds: string[]): Promise<Map<string, number>> {
  const rows = await trx
    .selectFrom('friendships')
    .select(['userId', sql<number>`count(*)::int`.as('n')])
    .where('appKey', '=', appKey)
    .where('userId', 'in', userIds)
    .groupBy('userId')
    .execute();
  return new Map(rows.map((r) => [r.userId, r.n]));
}

/** The first of `userIds` (in the order given) already at the limit, if any. */
async function firstAtLimit(trx: Transaction<Database>, appKey: string, userIds: [string, string]): Promise<string | undefined> {
  const counts = await friendCounts(trx, appKey, userIds);
  return userIds.find((id) => (counts.get(id) ?? 0) >= FRIEND_LIMIT);
}

async function areFriends(trx: Transaction<Database>, appKey: string, userId: string, friendId: string): Promise<boolean> {
  return (await friendIdsAmong(trx, appKey, userId, [friendId])).has(friendId);
}

async function findApplication(trx: Transaction<Database>, appKey: string, fromUserId: string, toUserId: string) {
  return trx
    .selectFrom('friendApplications')
    .selectAll()
    .where('appKey', '=', appKey)
    .where('fromUserId', '=', fromUserId)
    .where('toUserId', '=', toUserId)
    .executeTakeFirst();
}

/** Both rows of a new friendship, then every pending application between the two marked ACCEPTED. */
async function befriend(trx: Transaction<Database>, appKey: string, a: string, b: string, now: Date): Promise<FriendApplicationRow[]> {
  await trx
    .insertInto('friendships')
    .values([
      { appKey, userId: a, friendId: b, remark: null, addedAt: now },
      { appKey, userId: b, friendId: a, remark: null, addedAt: now },
    ])
    .execute();
  return trx
    .updateTable('friendApplications')
    .set({ status: 'ACCEPTED', handledAt: now })
    .where('appKey', '=', appKey)
    .where((eb) =>
      eb.or([
        eb.and([eb('fromUserId', '=', a), eb('toUserId', '=', b)]),
        eb.and([eb('fromUserId', '=', b), eb('toUserId', '=', a)]),
      ]),
    )
    .where('status', '=', 'UNHANDLED')
    .where('expiresAt', '>', now)
    .returningAll()
    .execute();
}

export type FriendshipRefusal =
  | { ok: false; reason: 'user_not_found'; userId: string }
  | { ok: false; reason: 'already_friends' }
  | { ok: false; reason: 'not_allowed' }
  | { ok: false; reason: 'application_not_found' }
  /** userId is whose friend count would pass FRIEND_LIMIT */
  | { ok: false; reason: 'limit'; userId: string };

/** A friendship was created; `accepted` are the applications this turned to ACCEPTED. */
export interface Befriended {
  ok: true;
  outcome: 'ADDED';
  addedAt: Date;
  accepted: FriendApplicationRow[];
}

export type AddFriendOutcome = Befriended | { ok: true; outcome: 'APPLICATION_SENT'; application: FriendApplicationRow } | FriendshipRefusal;

/**
 * `userId` asks to befriend `targetId`. A pending application from the target to the user is
 * accepted (the target asked first, so its own permission does not matter); otherwise the
 * target's permission decides: FREE befriends now, NEED_VERIFY (re)sends an application that
 * expires after 7 days, NO_ONE_ALLOWED refuses. The limit is checked for an application too:
 * one that could never be accepted would only mislead its sender.
 */
export async function addFriend(
  db: Kysely<Database>,
  app: AppRow,
  userId: string,
  targetId: string,
  extra: string | null,
  now: Date,
): Promise<AddFriendOutcome> {
  const { appKey } = app;
  return inTransaction(db, async (trx): Promise<AddFriendOutcome> => {
    const users = await lockUsers(trx, appKey, [userId, targetId]);
    for (const id of [targetId, userId]) if (!users.has(id)) return { ok: false, reason: 'user_not_found', userId: id };
    if (await areFriends(trx, appKey, userId, targetId)) return { ok: false, reason: 'already_friends' };

    const theirApplication = await findApplication(trx, appKey, targetId, userId);
    const acceptsTheirs = isPending(theirApplication, now);
    const own = users.get(targetId)!.friendAddPermission;
    const permission = own === 'NOT_SET' ? app.defaultFriendAddPermission : own;
    if (!acceptsTheirs && permission === 'NO_ONE_ALLOWED') return { ok: false, reason: 'not_allowed' };

    const full = await firstAtLimit(trx, appKey, [userId, targetId]);
    if (full) return { ok: false, reason: 'limit', userId: full };

    if (acceptsTheirs || permission === 'FREE') {
      return { ok: true, outcome: 'ADDED', addedAt: now, accepted: await befriend(trx, appKey, userId, targetId, now) };
    }
    // NEED_VERIFY: a new application, or a fresh one replacing a pending, refused, expired or old accepted one
    const fresh = { status: 'UNHANDLED' as const, extra, reason: null, createdAt: now, expiresAt: new Date(now.getTime() + APPLICATION_TTL_MS), handledAt: null };
    const application = await trx
      .insertInto('friendApplications')
      .values({ appKey, fromUserId: userId, toUserId: targetId, ...fresh })
      .onConflict((oc) => oc.columns(['appKey', 'fromUserId', 'toUserId']).doUpdateSet(fresh))
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ok: true, outcome: 'APPLICATION_SENT', application };
  });
}

/** `userId` accepts the pending application that `applicantId` sent to it. */
export async function acceptApplication(
  db: Kysely<Database>,
  appKey: string,
  userId: string,
  applicantId: string,
  now: Date,
): Promise<Befriended | FriendshipRefusal> {
  return inTransaction(db, async (trx): Promise<Befriended | FriendshipRefusal> => {
    const users = await lockUsers(trx, appKey, [userId, applicantId]);
    if (!users.has(userId)) return { ok: false, reason: 'user_not_found', userId };
    const application = await findApplication(trx, appKey, applicantId, userId);
    if (!users.has(applicantId) || !isPending(application, now)) return { ok: false, reason: 'application_not_found' };
    // Friendship creation always clears pending applications, so this is only a safety net.
    if (await areFriends(trx, appKey, userId, applicantId)) return { ok: false, reason: 'already_friends' };
    const full = await firstAtLimit(trx, appKey, [userId, applicantId]);
    if (full) return { ok: false, reason: 'limit', userId: full };
    return { ok: true, outcome: 'ADDED', addedAt: now, accepted: await befriend(trx, appKey, userId, applicantId, now) };
  });
}

/** The app backend makes two users friends without an application; idempotent. */
export async function adminAddFriend(
  db: Kysely<Database>,
  appKey: string,
  userId: string,
  friendId: string,
  now: Date,
): Promise<Befriended | { ok: true; outcome: 'ALREADY_FRIENDS' } | FriendshipRefusal> {
  return inTransaction(db, async (trx): Promise<Befriended | { ok: true; outcome: 'ALREADY_FRIENDS' } | FriendshipRefusal> => {
    const users = await lockUsers(trx, appKey, [userId, friendId]);
    for (const id of [userId, friendId]) if (!users.has(id)) return { ok: false, reason: 'user_not_found', userId: id };
    if (await areFriends(trx, appKey, userId, friendId)) return { ok: true, outcome: 'ALREADY_FRIENDS' };
    const full = await firstAtLimit(trx, appKey, [userId, friendId]);
    if (full) return { ok: false, reason: 'limit', userId: full };
    return { ok: true, outcome: 'ADDED', addedAt: now, accepted: await befriend(trx, appKey, userId, friendId, now) };
  });
}

const friendIdsStatement = compiledStatement((db, appKey: string, userId: string) =>
  db.selectFrom('friendships').select('friendId').where('appKey', '=', appKey).where('userId', '=', userId).orderBy('addedAt').orderBy('friendId'),
);

/** Every friend of one user, oldest friendship first (fan-out, snapshots). */
export async function friendIdsOf(db: Db, appKey: string, userId: string): Promise<string[]> {
  return (await friendIdsStatement(db as Kysely<Database>, appKey, userId)).map((r) => r.friendId);
}

/** Friends of several users at once: user → their friends. */
export async function friendsOfEach(db: Db, appKey: string, userIds: readonly string[]): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  if (userIds.length === 0) return result;
  const rows = await db.selectFrom('friendships').select(['userId', 'friendId']).where('appKey', '=', appKey).where('userId', 'in', userIds).execute();
  for (const r of rows) {
    let list = result.get(r.userId);
    if (!list) result.set(r.userId, (list = []));
    list.push(r.friendId);
  }
  return result;
}
