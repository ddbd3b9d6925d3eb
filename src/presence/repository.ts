import { type Kysely, sql, type Transaction } from 'kysely';
import type { Selectable } from 'kysely';
import type { Database, PresenceConnectionsTable, PresenceVisibility } from '../db/database.ts';
import type { CustomStatusJson } from './rules.ts';

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
  /** the user's own presence visibility setting and custom status as of this change (SPEC §10) */
  visibility: PresenceVisibility;
  customStatus: CustomStatusJson | null;
}

/** The custom status columns of a presence row, as the JSON events carry. */
function customStatusOf(row: { customStatusText: string | null; customStatusEmoji: string | null; customStatusExpiresAt: Date | string | null }): CustomStatusJson | null {
  if (row.customStatusText === null) return null;
  return { text: row.customStatusText, emoji: row.customStatusEmoji, expiresAt: row.customStatusExpiresAt === null ? null : new Date(row.customStatusExpiresAt).toISOString() };
}

/** (app, user, platform) keys as three parallel arrays, for set-based statements over `unnest`. */
type PlatformKey = Pick<ConnectionRecord, 'appKey' | 'userId' | 'platform'>;

function columns(keys: readonly PlatformKey[]) {
  return {
    apps: keys.map((k) => k.appKey),
    users: keys.map((k) => k.userId),
    platforms: keys.map((k) => k.platform),
  };
}

const keyOf = (k: PlatformKey) => `${k.appKey}\u0000${k.userId}\u0000${k.platform}`;

function distinctKeys(keys: readonly PlatformKey[]): PlatformKey[] {
  const seen = new Map<string, PlatformKey>();
  for (const k of keys) if (!seen.has(keyOf(k))) seen.set(keyOf(k), { appKey: k.appKey, userId: k.userId, platform: k.platform });
  return [...seen.values()];
}

/**
 * Platforms switching online or offline, all at once: their rows, one presence version per user,
 * and each user's whole state after it (one change per user, however many of its platforms
 * switched). The callers hold the users' event locks, which serialize every presence change of a
 * user, so versions grow by one per change.
 */
async function switchPlatforms(trx: Transaction<Database>, keys: readonly PlatformKey[], online: boolean, changeTimes: readonly Date[]): Promise<PresenceChange[]> {
  if (keys.length === 0) return [];
  const { apps, users, platforms } = columns(keys);
  await sql`
    insert into presence_platforms (app_key, user_id, platform, online, change_time)
    select a, u, p, ${online}, t from unnest(${apps}::text[], ${users}::text[], ${platforms}::text[], ${changeTimes.map((t) => t.toISOString())}::timestamptz[]) as k(a, u, p, t)
    on conflict (app_key, user_id, platform) do update set online = excluded.online, change_time = excluded.change_time, offline_due_at = null, left_at = null`.execute(trx);
  // the same statement returns the user's presence settings, which the audience needs (no extra lookup)
  const { rows } = await sql<{
    userId: string;
    appKey: string;
    version: number;
    visibility: PresenceVisibility;
    customStatusText: string | null;
    customStatusEmoji: string | null;
    customStatusExpiresAt: Date | null;
    createdAt: Date;
    platform: string | null;
    online: boolean | null;
    changeTime: Date | null;
  }>`
    with k as (select distinct a, u from unnest(${apps}::text[], ${users}::text[]) as k(a, u)),
    v as (
      insert into presence_users (app_key, user_id, version) select a, u, 1 from k
      on conflict (app_key, user_id) do update set version = presence_users.version + 1
      returning app_key, user_id, version, visibility, custom_status_text, custom_status_emoji, custom_status_expires_at)
    select v.app_key, v.user_id, v.version, v.visibility, v.custom_status_text, v.custom_status_emoji, v.custom_status_expires_at, usr.created_at, p.platform, p.online, p.change_time
    from v join users usr on usr.app_key = v.app_key and usr.user_id = v.user_id
    left join presence_platforms p on p.app_key = v.app_key and p.user_id = v.user_id
    order by v.app_key, v.user_id, p.platform`.execute(trx);
  const firstOfUser = new Map<string, number>();
  keys.forEach((k, i) => {
    const userKey = `${k.appKey}\u0000${k.userId}`;
    if (!firstOfUser.has(userKey)) firstOfUser.set(userKey, i);
  });
  const changes = new Map<string, PresenceChange>();
  for (const row of rows) {
    const userKey = `${row.appKey}\u0000${row.userId}`;
    let change = changes.get(userKey);
    if (!change) {
      const first = firstOfUser.get(userKey)!;
      change = {
        appKey: row.appKey,
        userId: row.userId,
        platform: keys[first]!.platform,
        online,
        version: Number(row.version),
        incarnation: new Date(row.createdAt).getTime(),
        details: [],
        changeTime: changeTimes[first]!,
        visibility: row.visibility,
        customStatus: customStatusOf(row),
      };
      changes.set(userKey, change);
    }
    if (row.platform !== null) change.details.push({ platform: row.platform, online: row.online!, changeTime: new Date(row.changeTime!) });
  }
  if (changes.size !== firstOfUser.size) throw new Error('presence change for a user that does not exist');
  return [...changes.values()];
}

/**
 * Records connections, all in one go; returns one online change per user whose platform got its
 * first connection. A platform whose offline is still pending (its device left less than the grace
 * ago) is simply online again: no change, so its watchers see no offline/online pair.
 */
export async function addConnections(trx: Transaction<Database>, records: readonly ConnectionRecord[], now: Date): Promise<PresenceChange[]> {
  if (records.length === 0) return [];
  await trx
    .insertInto('presenceConnections')
    .values(records.map((c) => ({ ...c, connectedAt: now })))
    .execute();
  const keys = distinctKeys(records);
  const { apps, users, platforms } = columns(keys);
  // first connections of their platform, minus the platforms whose pending offline this cancels
  const { rows: first } = await sql<PlatformKey>`
    with k as (select a, u, p from unnest(${apps}::text[], ${users}::text[], ${platforms}::text[]) as k(a, u, p)),
    fresh as (
      select k.* from k where not exists (
        select 1 from presence_connections c
        where c.app_key = k.a and c.user_id = k.u and c.platform = k.p and not (c.connection_id = any(${records.map((r) => r.connectionId)}::text[])))),
    resumed as (
      update presence_platforms pp set offline_due_at = null, left_at = null from fresh f
      where pp.app_key = f.a and pp.user_id = f.u and pp.platform = f.p and pp.online and pp.offline_due_at is not null
      returning pp.app_key as a, pp.user_id as u, pp.platform as p)
    select a as app_key, u as user_id, p as platform from fresh f
    where not exists (select 1 from resumed r where r.a = f.a and r.u = f.u and r.p = f.p)`.execute(trx);
  return switchPlatforms(trx, first, true, first.map(() => now));
}

/** A platform whose last connection closed: its offline waits for the grace (wall-clock `dueAt`). */
export interface PendingOffline {
  appKey: string;
  userId: string;
  platform: string;
  dueAt: Date;
}

/**
 * Forgets connections (already gone ones are skipped); returns one offline change per user whose
 * platform lost its last connection, or, with `graceUntil`, those platforms' pending offlines.
 * `onlyOrphaned` (the reaper): only while their instance is gone, so an instance that was judged
 * dead but came back and re-registered keeps its users online.
 */
export async function removeConnections(
  trx: Transaction<Database>,
  connectionIds: readonly string[],
  now: Date,
  options: { onlyOrphaned?: boolean; /** wall-clock time until which the offline waits */ graceUntil?: Date } = {},
): Promise<{ changes: PresenceChange[]; pending: PendingOffline[] }> {
  if (connectionIds.length === 0) return { changes: [], pending: [] };
  let deletion = trx.deleteFrom('presenceConnections').where('connectionId', 'in', connectionIds);
  if (options.onlyOrphaned) {
    deletion = deletion.where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('serverInstances').select('instanceId').whereRef('serverInstances.instanceId', '=', 'presenceConnections.instanceId'))),
    );
  }
  const deleted = await deletion.returning(['appKey', 'userId', 'platform']).execute();
  const keys = distinctKeys(deleted);
  if (keys.length === 0) return { changes: [], pending: [] };
  const { apps, users, platforms } = columns(keys);
  // platforms left without a connection (a connection of the same platform elsewhere keeps it online)
  const { rows: emptied } = await sql<PlatformKey>`
    select a as app_key, u as user_id, p as platform from unnest(${apps}::text[], ${users}::text[], ${platforms}::text[]) as k(a, u, p)
    where not exists (select 1 from presence_connections c where c.app_key = k.a and c.user_id = k.u and c.platform = k.p)`.execute(trx);
  if (emptied.length === 0) return { changes: [], pending: [] };
  if (!options.graceUntil) return { changes: await switchPlatforms(trx, emptied, false, emptied.map(() => now)), pending: [] };
  const e = columns(emptied);
  await sql`
    update presence_platforms pp set offline_due_at = ${options.graceUntil.toISOString()}::timestamptz, left_at = ${now.toISOString()}::timestamptz
    from unnest(${e.apps}::text[], ${e.users}::text[], ${e.platforms}::text[]) as k(a, u, p)
    where pp.app_key = k.a and pp.user_id = k.u and pp.platform = k.p`.execute(trx);
  return { changes: [], pending: emptied.map((k) => ({ ...k, dueAt: options.graceUntil! })) };
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
 * Announces pending offlines whose grace is over and whose platform still has no connection; each
 * change carries the time the device left. Those cancelled (a reconnect) or not due yet are
 * skipped. Any instance may do it: the users' event locks make each happen once.
 */
export async function settleOfflines(trx: Transaction<Database>, due: readonly Omit<PendingOffline, 'dueAt'>[], wallNow: Date): Promise<PresenceChange[]> {
  if (due.length === 0) return [];
  const { apps, users, platforms } = columns(distinctKeys(due));
  const { rows } = await sql<PlatformKey & { leftAt: Date | null }>`
    select pp.app_key, pp.user_id, pp.platform, pp.left_at
    from presence_platforms pp join unnest(${apps}::text[], ${users}::text[], ${platforms}::text[]) as k(a, u, p)
      on pp.app_key = k.a and pp.user_id = k.u and pp.platform = k.p
    where pp.offline_due_at <= ${wallNow.toISOString()}::timestamptz
      and not exists (select 1 from presence_connections c where c.app_key = k.a and c.user_id = k.u and c.platform = k.p)`.execute(trx);
  return switchPlatforms(
    trx,
    rows.map((r) => ({ appKey: r.appKey, userId: r.userId, platform: r.platform })),
    false,
    rows.map((r) => (r.leftAt ? new Date(r.leftAt) : wallNow)),
  );
}

/** One user's presence as stored: version, per-platform details, visibility setting and custom status. */
export interface PresenceState {
  version: number;
  incarnation: number;
  details: PlatformState[];
  visibility: PresenceVisibility;
  /** as stored: one past its expiry may not have been swept yet (see `liveCustomStatus`) */
  customStatus: CustomStatusJson | null;
}

/** Presence of several users: version, per-platform details and settings, for the sync and queries. */
export async function presenceOf(db: Kysely<Database>, appKey: string, userIds: readonly string[]): Promise<Map<string, PresenceState>> {
  const result = new Map<string, PresenceState>();
  if (userIds.length === 0) return result;
  const rows = await db
    .selectFrom('users as usr')
    .leftJoin('presenceUsers as u', (j) => j.onRef('u.appKey', '=', 'usr.appKey').onRef('u.userId', '=', 'usr.userId'))
    .leftJoin('presencePlatforms as p', (j) => j.onRef('p.appKey', '=', 'usr.appKey').onRef('p.userId', '=', 'usr.userId'))
    .select(['usr.userId', 'usr.createdAt', 'u.version', 'u.visibility', 'u.customStatusText', 'u.customStatusEmoji', 'u.customStatusExpiresAt', 'p.platform', 'p.online', 'p.changeTime'])
    .where('usr.appKey', '=', appKey)
    .where('usr.userId', 'in', userIds)
    .orderBy('p.platform')
    .execute();
  for (const row of rows) {
    let entry = result.get(row.userId);
    if (!entry) {
      entry = {
        version: row.version ?? 0,
        incarnation: new Date(row.createdAt).getTime(),
        details: [],
        visibility: row.visibility ?? 'NOT_SET',
        customStatus: customStatusOf({ customStatusText: row.customStatusText ?? null, customStatusEmoji: row.customStatusEmoji ?? null, customStatusExpiresAt: row.customStatusExpiresAt ?? null }),
      };
      result.set(row.userId, entry);
    }
    if (row.platform !== null) entry.details.push({ platform: row.platform, online: row.online!, changeTime: row.changeTime! });
  }
  return result;
}

/** A change of a user's presence settings: the new state (a presence version of its own) and the visibility before it. */
export interface SettingsChange extends PresenceChange {
  previousVisibility: PresenceVisibility;
}

/**
 * Changes a user's presence visibility setting and/or custom status (`customStatus: null` clears
 * it), as one presence change: the version grows by one. The caller holds the user's event lock.
 * Returns null when the user does not exist.
 */
export async function changePresenceSettings(
  trx: Kysely<Database>,
  appKey: string,
  userId: string,
  patch: { visibility?: PresenceVisibility; customStatus?: { text: string; emoji: string | null; expiresAt: Date | null } | null },
  now: Date,
): Promise<SettingsChange | null> {
  const before = (await presenceOf(trx, appKey, [userId])).get(userId);
  if (!before) return null;
  const set: { visibility?: PresenceVisibility; customStatusText?: string | null; customStatusEmoji?: string | null; customStatusExpiresAt?: Date | null } = {};
  if (patch.visibility !== undefined) set.visibility = patch.visibility;
  if (patch.customStatus !== undefined) {
    set.customStatusText = patch.customStatus?.text ?? null;
    set.customStatusEmoji = patch.customStatus?.emoji ?? null;
    set.customStatusExpiresAt = patch.customStatus?.expiresAt ?? null;
  }
  const row = await trx
    .insertInto('presenceUsers')
    .values({ appKey, userId, version: 1, ...set })
    .onConflict((oc) => oc.columns(['appKey', 'userId']).doUpdateSet({ ...set, version: sql<number>`presence_users.version + 1` }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return {
    appKey,
    userId,
    platform: '',
    online: before.details.some((d) => d.online),
    version: Number(row.version),
    incarnation: before.incarnation,
    details: before.details,
    changeTime: now,
    visibility: row.visibility,
    customStatus: customStatusOf(row),
    previousVisibility: before.visibility,
  };
}

/** Users whose custom status expired at `now` (any instance's sweep finds them, after a restart too). */
export async function dueCustomStatuses(db: Kysely<Database>, now: Date, limit = 500): Promise<{ appKey: string; userId: string }[]> {
  return db
    .selectFrom('presenceUsers')
    .select(['appKey', 'userId'])
    .where('customStatusExpiresAt', '<=', now)
    .orderBy('customStatusExpiresAt')
    .limit(limit)
    .execute();
}

/**
 * Clears the custom statuses of these users that are still expired at `now` (a conditional
 * update: of several instances sweeping at once, the first clears it and the others find nothing,
 * nor does one whose owner set a new status meanwhile). The caller holds the users' event locks.
 */
export async function clearExpiredCustomStatuses(trx: Transaction<Database>, keys: readonly { appKey: string; userId: string }[], now: Date): Promise<SettingsChange[]> {
  if (keys.length === 0) return [];
  const { rows: cleared } = await sql<{ appKey: string; userId: string; version: number; visibility: PresenceVisibility }>`
    update presence_users pu set custom_status_text = null, custom_status_emoji = null, custom_status_expires_at = null, version = pu.version + 1
    from unnest(${keys.map((k) => k.appKey)}::text[], ${keys.map((k) => k.userId)}::text[]) as k(a, u)
    where pu.app_key = k.a and pu.user_id = k.u and pu.custom_status_expires_at <= ${now.toISOString()}::timestamptz
    returning pu.app_key, pu.user_id, pu.version, pu.visibility`.execute(trx);
  const out: SettingsChange[] = [];
  const byApp = new Map<string, typeof cleared>();
  for (const r of cleared) byApp.set(r.appKey, [...(byApp.get(r.appKey) ?? []), r]);
  for (const [appKey, rows] of byApp) {
    const states = await presenceOf(trx, appKey, rows.map((r) => r.userId));
    for (const r of rows) {
      const state = states.get(r.userId)!;
      out.push({ appKey, userId: r.userId, platform: '', online: state.details.some((d) => d.online), version: Number(r.version), incarnation: state.incarnation, details: state.details, changeTime: now, visibility: r.visibility, customStatus: null, previousVisibility: r.visibility });
    }
  }
  return out;
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
