import { inTransaction } from '../db/transaction.ts';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Selectable } from 'kysely';
import type { Database, PresenceConnectionsTable } from '../db/database.ts';

export type ConnectionRecord = Omit<Selectable<PresenceConnectionsTable>, 'connectedAt'>;

export interface PlatformState {
  platform: string;
  online: boolean;
  changeTime: Date;
}

/** A platform of a user going online or offline, with the user's whole state after it. */
export interface PresenceChange {
  appKey: string;
  userId: string;
  platform: string;
  online: boolean;
  version: number;
  incarnation: number;
  details: PlatformState[];
  changeTime: Date;
}

/** Locks the user's presence row: every presence change of one user is serialized on it. */
async function lockUser(trx: Transaction<Database>, appKey: string, userId: string): Promise<void> {
  await trx.insertInto('presenceUsers').values({ appKey, userId, version: 0 }).onConflict((oc) => oc.doNothing()).execute();
  await trx.selectFrom('presenceUsers').select('version').where('appKey', '=', appKey).where('userId', '=', userId).forUpdate().execute();
}

async function switchPlatform(trx: Transaction<Database>, c: Pick<ConnectionRecord, 'appKey' | 'userId' | 'platform'>, online: boolean, now: Date): Promise<PresenceChange> {
  await trx
    .insertInto('presencePlatforms')
    .values({ appKey: c.appKey, userId: c.userId, platform: c.platform, online, changeTime: now })
    .onConflict((oc) => oc.columns(['appKey', 'userId', 'platform']).doUpdateSet({ online, changeTime: now, offlineDueAt: null, leftAt: null }))
    .execute();
  const { version } = await trx
    .updateTable('presenceUsers')
    .set({ version: sql<number>`version + 1` })
    .where('appKey', '=', c.appKey)
    .where('userId', '=', c.userId)
    .returning('version')
    .executeTakeFirstOrThrow();
  const details = await trx
    .selectFrom('presencePlatforms')
    .select(['platform', 'online', 'changeTime'])
    .where('appKey', '=', c.appKey)
    .where('userId', '=', c.userId)
    .orderBy('platform')
    .execute();
  const user = await trx.selectFrom('users').select('createdAt').where('appKey', '=', c.appKey).where('userId', '=', c.userId).executeTakeFirstOrThrow();
  return { appKey: c.appKey, userId: c.userId, platform: c.platform, online, version, incarnation: user.createdAt.getTime(), details, changeTime: now };
}

async function connectionsOnPlatform(trx: Transaction<Database>, c: Pick<ConnectionRecord, 'appKey' | 'userId' | 'platform'>): Promise<number> {
  const { n } = await trx
    .selectFrom('presenceConnections')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('appKey', '=', c.appKey)
    .where('userId', '=', c.userId)
    .where('platform', '=', c.platform)
    .executeTakeFirstOrThrow();
  return n;
}

/**
 * Records a connection; returns the online change when it is the platform's first. A platform whose
 * offline is still pending (its device left less than the grace ago) is simply online again: no
 * change, so its watchers see no offline/online pair.
 */
export async function addConnection(db: Kysely<Database>, c: ConnectionRecord, now: Date): Promise<PresenceChange | null> {
  return inTransaction(db, async (trx) => {
    await lockUser(trx, c.appKey, c.userId);
    await trx.insertInto('presenceConnections').values({ ...c, connectedAt: now }).execute();
    if ((await connectionsOnPlatform(trx, c)) > 1) return null;
    const resumed = await trx
      .updateTable('presencePlatforms')
      .set({ offlineDueAt: null, leftAt: null })
      .where('appKey', '=', c.appKey)
      .where('userId', '=', c.userId)
      .where('platform', '=', c.platform)
      .where('online', '=', true)
      .where('offlineDueAt', 'is not', null)
      .executeTakeFirst();
    if (resumed.numUpdatedRows > 0n) return null;
    return switchPlatform(trx, c, true, now);
  });
}

/** A platform whose last connection closed: its offline waits for the grace (wall-clock `dueAt`). */
export interface PendingOffline {
  appKey: string;
  userId: string;
  platform: string;
  dueAt: Date;
}

/**
 * Forgets a connection; returns the offline change when it was the platform's last. Idempotent.
 * `onlyOrphaned` (the reaper): only while its instance is gone, so an instance that was judged dead
 * but came back and re-registered keeps its users online.
 */
export async function removeConnection(
  db: Kysely<Database>,
  connectionId: string,
  now: Date,
  options: { onlyOrphaned?: boolean; /** wall-clock time until which the offline waits */ graceUntil?: Date } = {},
): Promise<PresenceChange | PendingOffline | null> {
  const c = await db.selectFrom('presenceConnections').selectAll().where('connectionId', '=', connectionId).executeTakeFirst();
  if (!c) return null;
  return inTransaction(db, async (trx) => {
    await lockUser(trx, c.appKey, c.userId);
    let deletion = trx.deleteFrom('presenceConnections').where('connectionId', '=', connectionId);
    if (options.onlyOrphaned) {
      deletion = deletion.where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('serverInstances').select('instanceId').where('instanceId', '=', c.instanceId))),
      );
    }
    const deleted = await deletion.executeTakeFirst();
    if (deleted.numDeletedRows === 0n) return null; // removed concurrently (e.g. by a reaper)
    if ((await connectionsOnPlatform(trx, c)) > 0) return null;
    if (!options.graceUntil) return switchPlatform(trx, c, false, now);
    await trx
      .updateTable('presencePlatforms')
      .set({ offlineDueAt: options.graceUntil, leftAt: now })
      .where('appKey', '=', c.appKey)
      .where('userId', '=', c.userId)
      .where('platform', '=', c.platform)
      .execute();
    return { appKey: c.appKey, userId: c.userId, platform: c.platform, dueAt: options.graceUntil };
  });
}

/** Pending offlines whose grace is over (wall clock), oldest first. */
export async function dueOfflines(db: Kysely<Database>, wallNow: Date, limit = 1000): Promise<Omit<PendingOffline, 'dueAt'>[]> {
  return db
    .selectFrom('presencePlatforms')
    .select(['appKey', 'userId', 'platform'])
    .where('offlineDueAt', '<=', wallNow)
    .orderBy('offlineDueAt')
    .limit(limit)
    .execute();
}

/**
 * Announces a pending offline once its grace is over and the platform still has no connection;
 * the change carries the time the device left. Null when it was cancelled (a reconnect) or is not
 * due yet. Any instance may do it: the user's lock makes it happen once.
 */
export async function settleOffline(db: Kysely<Database>, p: Omit<PendingOffline, 'dueAt'>, wallNow: Date): Promise<PresenceChange | null> {
  return inTransaction(db, async (trx) => {
    await lockUser(trx, p.appKey, p.userId);
    const row = await trx
      .selectFrom('presencePlatforms')
      .select(['offlineDueAt', 'leftAt'])
      .where('appKey', '=', p.appKey)
      .where('userId', '=', p.userId)
      .where('platform', '=', p.platform)
      .executeTakeFirst();
    if (!row?.offlineDueAt || row.offlineDueAt.getTime() > wallNow.getTime()) return null;
    if ((await connectionsOnPlatform(trx, p)) > 0) return null;
    return switchPlatform(trx, p, false, row.leftAt ?? wallNow);
  });
}

/** Presence of several users: version and per-platform details, for the sync and queries. */
export async function presenceOf(
  db: Kysely<Database>,
  appKey: string,
  userIds: readonly string[],
): Promise<Map<string, { version: number; incarnation: number; details: PlatformState[] }>> {
  const result = new Map<string, { version: number; incarnation: number; details: PlatformState[] }>();
  if (userIds.length === 0) return result;
  const rows = await db
    .selectFrom('users as usr')
    .leftJoin('presenceUsers as u', (j) => j.onRef('u.appKey', '=', 'usr.appKey').onRef('u.userId', '=', 'usr.userId'))
    .leftJoin('presencePlatforms as p', (j) => j.onRef('p.appKey', '=', 'usr.appKey').onRef('p.userId', '=', 'usr.userId'))
    .select(['usr.userId', 'usr.createdAt', 'u.version', 'p.platform', 'p.online', 'p.changeTime'])
    .where('usr.appKey', '=', appKey)
    .where('usr.userId', 'in', userIds)
    .orderBy('p.platform')
    .execute();
  for (const row of rows) {
    let entry = result.get(row.userId);
    if (!entry) result.set(row.userId, (entry = { version: row.version ?? 0, incarnation: new Date(row.createdAt).getTime(), details: [] }));
    if (row.platform !== null) entry.details.push({ platform: row.platform, online: row.online!, changeTime: row.changeTime! });
  }
  return result;
}

/** `aliveUntil`: until when the instance counts as alive without another heartbeat (its own timeout). */
export async function registerInstance(db: Kysely<Database>, instanceId: string, now: Date, aliveUntil: Date): Promise<void> {
  await db
    .insertInto('serverInstances')
    .values({ instanceId, startedAt: now, heartbeatAt: now, aliveUntil })
    .onConflict((oc) => oc.column('instanceId').doUpdateSet({ heartbeatAt: now, aliveUntil }))
    .execute();
}

/** Returns false when the instance row is gone (a survivor judged this instance dead). */
export async function heartbeat(db: Kysely<Database>, instanceId: string, now: Date, aliveUntil: Date): Promise<boolean> {
  const result = await db.updateTable('serverInstances').set({ heartbeatAt: now, aliveUntil }).where('instanceId', '=', instanceId).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function unregisterInstance(db: Kysely<Database>, instanceId: string): Promise<void> {
  await db.deleteFrom('serverInstances').where('instanceId', '=', instanceId).execute();
}

/**
 * Claims instances past the deadline they declared (delete = claim: one reaper wins) and returns
 * every connection left by an instance that no longer exists, this run's or an earlier
 * interrupted run's. An instance that declared no deadline is judged by the reaper's own timeout
 * (its heartbeat older than `staleBefore`).
 */
export async function orphanedConnections(db: Kysely<Database>, now: Date, staleBefore: Date): Promise<{ connectionId: string; appKey: string; userId: string }[]> {
  await db
    .deleteFrom('serverInstances')
    .where((eb) => eb.or([eb('aliveUntil', '<', now), eb.and([eb('aliveUntil', 'is', null), eb('heartbeatAt', '<', staleBefore)])]))
    .execute();
  const rows = await db
    .selectFrom('presenceConnections as c')
    .select(['c.connectionId', 'c.appKey', 'c.userId'])
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('serverInstances as i').select('i.instanceId').whereRef('i.instanceId', '=', 'c.instanceId'))),
    )
    .execute();
  return rows;
}

/** Users online on at least one platform, over all apps (the phs_online_users gauge). */
export async function countOnlineUsers(db: Kysely<Database>): Promise<number> {
  const { n } = await db
    .selectFrom('presencePlatforms')
    .select(sql<number>`count(distinct (app_key, user_id))::int`.as('n'))
    .where('online', '=', true)
    .executeTakeFirstOrThrow();
  return n;
}
