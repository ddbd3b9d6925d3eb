import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { DomainEvent } from './bus.ts';

/**
 * The event log's only module that touches the `events` table.
 *
 * Order without gaps. A position is drawn when a row is inserted, but transactions commit in
 * any order: a reader that took "everything after position 41" could see 43 committed while 42
 * is still in flight, move on, and skip 42 for good (the known problem of transactional
 * outboxes). Readers here order rows by (xid, position), where xid is the writing transaction's
 * id, and only read below the oldest transaction id still running,
 * `pg_snapshot_xmin(pg_current_snapshot())`: every transaction below it has finished, so no row
 * can ever appear behind what a reader has passed. Nothing is skipped; a long transaction only
 * delays what comes after it. (The same approach as Postgres outboxes that order by
 * `pg_current_xact_id()`; EventStoreDB avoids the problem with a single writer instead.)
 *
 * Order per subject. Every transaction that logs an event for a user first takes that user's
 * advisory lock (`lockSubjects`, or `subjectLock` in the WHERE of a one-statement change), before
 * it writes anything, so its transaction id is assigned only once the previous writer of that user
 * has committed: per user, xid order is commit order.
 */

/** A place in the log: everything at or before it has been read. `p = 0` marks "all of xid < x". */
export interface LogPosition {
  x: bigint;
  p: bigint;
}

export const compare = (a: LogPosition, b: LogPosition): number => (a.x !== b.x ? (a.x < b.x ? -1 : 1) : a.p === b.p ? 0 : a.p < b.p ? -1 : 1);

export interface LoggedEvent {
  position: LogPosition;
  appKey: string;
  userId: string;
  direct: boolean;
  event: DomainEvent;
  occurredAt: Date;
}

/** Where one domain event goes in the log: whose stream, and whether only that user's. */
function placement(event: DomainEvent): { userId: string; direct: boolean } | null {
  switch (event.type) {
    case 'profileChanged':
    case 'presenceChanged':
      return { userId: event.userId, direct: false };
    case 'subscriptionChanged':
    case 'subscriptionsExpiring':
    case 'tokensRevoked':
      return { userId: event.userId, direct: true };
    case 'friendEvent':
    case 'watchedUserGone':
      return { userId: event.receiverId, direct: true };
    case 'userRemoved':
      return { userId: event.userId, direct: true };
    case 'appChanged':
    case 'usersCleaned':
      // nobody's stream (no user id is empty): only the relays (appChanged) and the webhook dispatcher act on it
      return { userId: '', direct: true };
    case 'profilesChanged':
      // several subjects' stream: found by its payload's userIds (ownEventsSince, lastChangesSince)
      return { userId: '', direct: false };
    case 'friendshipChanged':
      return null;
  }
}

/** 64-bit advisory lock keys for users (a collision only serializes two users' writes). */
function lockKey(appKey: string, userId: string): string {
  return createHash('sha1').update(`ev\u0000${appKey}\u0000${userId}`).digest().readBigInt64BE(0).toString();
}

/** Takes the users' event locks in one sorted order (no deadlock); must come before any write. */
export async function lockSubjects(trx: Kysely<Database>, subjects: readonly { appKey: string; userId: string }[]): Promise<void> {
  const keys = [...new Set(subjects.map((s) => lockKey(s.appKey, s.userId)))].sort();
  if (keys.length === 0) return;
  if (keys.length === 1) await sql`select pg_advisory_xact_lock(${keys[0]}::bigint)`.execute(trx);
  else await sql`select pg_advisory_xact_lock(k) from (select unnest(${keys}::bigint[]) as k order by 1) s`.execute(trx);
}

/** Appends events inside the caller's transaction; returns the transaction's id. */
export async function appendEvents(trx: Kysely<Database>, events: readonly DomainEvent[], occurredAt: Date): Promise<bigint | null> {
  const rows = [];
  for (const event of events) {
    const place = placement(event);
    if (place) rows.push({ appKey: event.appKey, userId: place.userId, direct: place.direct, kind: event.type, payload: JSON.stringify(event), occurredAt });
  }
  if (rows.length === 0) return null;
  const inserted = await trx.insertInto('events').values(rows).returning('xid').execute();
  return BigInt(inserted[0]!.xid);
}

/**
 * What had committed at one instant: every transaction below `xmin` had finished; between `xmin`
 * and `xmax`, all but those in `inFlight`. A stream that starts reads what was committed then
 * (its replay or snapshot) and takes the rest live, so nothing committed before it waits behind an
 * older transaction that is still open.
 */
export interface CommittedSet {
  xmin: bigint;
  xmax: bigint;
  inFlight: Set<bigint>;
}

export async function committedNow(db: Kysely<Database>): Promise<CommittedSet> {
  const { rows } = await sql<{ xmin: string; xmax: string; xip: string[] | string | null }>`
    select pg_snapshot_xmin(s)::text as xmin, pg_snapshot_xmax(s)::text as xmax, array(select pg_snapshot_xip(s)::text) as xip
    from (select pg_current_snapshot() as s) t`.execute(db);
  return toCommittedSet(rows[0]!);
}

function toCommittedSet(row: { xmin: string; xmax: string; xip: string[] | string | null }): CommittedSet {
  const xip = Array.isArray(row.xip) ? row.xip : typeof row.xip === 'string' ? row.xip.replace(/[{}]/g, '').split(',').filter(Boolean) : [];
  return { xmin: BigInt(row.xmin), xmax: BigInt(row.xmax), inFlight: new Set(xip.map((x) => BigInt(x))) };
}

/** Whether rows of transaction `xid` were committed in that set (so read by whoever read it). */
export const wasCommitted = (set: CommittedSet, xid: bigint): boolean => xid < set.xmin || (xid < set.xmax && !set.inFlight.has(xid));

function committedIn(set: CommittedSet) {
  return sql<boolean>`(xid < ${set.xmax.toString()}::bigint and not (xid = any(${[...set.inFlight].map(String)}::bigint[])))`;
}

/** The id below which every transaction has finished: the safe boundary for readers. */
export async function watermark(db: Kysely<Database>): Promise<bigint> {
  const { rows } = await sql<{ xmin: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(db);
  return BigInt(rows[0]!.xmin);
}

interface EventRow {
  position: string;
  xid: string;
  appKey: string;
  userId: string;
  direct: boolean;
  payload: unknown;
  occurredAt: Date;
}

function toLogged(row: EventRow): LoggedEvent {
  const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
  return {
    position: { x: BigInt(row.xid), p: BigInt(row.position) },
    appKey: row.appKey,
    userId: row.userId,
    direct: row.direct,
    event: payload as DomainEvent,
    occurredAt: new Date(row.occurredAt),
  };
}

const COLUMNS = ['position', 'xid', 'appKey', 'userId', 'direct', 'payload', 'occurredAt'] as const;

/**
 * The next rows after `after` that are safe to read, oldest first, and the boundary they were
 * read under: once fewer than `limit` come back, everything below `(boundary, 0)` has been read.
 */
export async function readAfter(db: Kysely<Database>, after: LogPosition, limit: number): Promise<{ events: LoggedEvent[]; boundary: bigint; snapshot: CommittedSet }> {
  // one statement: the snapshot (its xmin is the boundary), and the rows below it (none when there is nothing new)
  const { rows } = await sql<{ xmin: string; xmax: string; xip: string[] | string | null; position: string | null; xid: string; appKey: string; userId: string; direct: boolean; payload: unknown; occurredAt: Date }>`
    with s as (select pg_current_snapshot() as s), b as (
      select pg_snapshot_xmin(s)::text::bigint as xmin, pg_snapshot_xmax(s)::text as xmax, array(select pg_snapshot_xip(s)::text) as xip from s)
    select b.xmin::text as xmin, b.xmax, b.xip, e.position::text as position, e.xid::text as xid, e.app_key, e.user_id, e.direct, e.payload, e.occurred_at
    from b left join lateral (
      select position, xid, app_key, user_id, direct, payload, occurred_at from events
      where (xid, position) > (${after.x.toString()}::bigint, ${after.p.toString()}::bigint) and xid < b.xmin
      order by xid, position limit ${limit}
    ) e on true`.execute(db);
  const snapshot = toCommittedSet(rows[0]!);
  const events = rows.filter((r) => r.position !== null).map((r) => toLogged(r as unknown as EventRow));
  return { events, boundary: snapshot.xmin, snapshot };
}

/**
 * The statement that makes a one-row change and appends its event at once, for the hottest write
 * (a user's own profile): no explicit transaction, one round trip instead of five. `change` is the
 * compiled UPDATE … RETURNING of the subject's row, with the subject's event lock taken in its
 * WHERE (`subjectLock`); `payload` builds the event's JSON from that row (alias `changed`). No row
 * changed, no event.
 */
export function changeWithEvent(change: { sql: string; parameters: readonly unknown[] }, event: { appKey: string; userId: string; kind: string; payload: (param: (value: unknown) => string) => string; occurredAt: Date }) {
  const parameters = [...change.parameters];
  const param = (value: unknown) => {
    parameters.push(value);
    return `$${parameters.length}`;
  };
  const text = `with changed as (${change.sql}),
logged as (insert into events (app_key, user_id, direct, kind, payload, occurred_at)
  select ${param(event.appKey)}, ${param(event.userId)}, false, ${param(event.kind)}, ${event.payload(param)}, ${param(event.occurredAt)} from changed returning xid)
select changed.*, (select xid::text from logged) as event_xid from changed`;
  return { sql: text, parameters };
}

/** A WHERE condition that takes the subject's event lock before the row is written (see lockSubjects). */
export function subjectLock(appKey: string, userId: string) {
  return sql<boolean>`pg_advisory_xact_lock(${lockKey(appKey, userId)}::bigint) is not null`;
}

/**
 * One receiver's own rows after a place that were committed in `set`: its direct events and its
 * own broadcast changes (own profile, alone or in a `profilesChanged` of several), in log order.
 */
export async function ownEventsSince(db: Kysely<Database>, appKey: string, userId: string, after: LogPosition, set: CommittedSet): Promise<LoggedEvent[]> {
  const rows = await db
    .selectFrom('events')
    .select(COLUMNS)
    .where('appKey', '=', appKey)
    .where((eb) =>
      eb.or([
        eb.and([eb('userId', '=', userId), eb.or([eb('direct', '=', true), eb('kind', '=', 'profileChanged')])]),
        eb.and([eb('userId', '=', ''), eb('kind', '=', 'profilesChanged'), sql<boolean>`payload->'userIds' ? ${userId}::text`]),
      ]),
    )
    .where(sql<boolean>`(xid, position) > (${after.x.toString()}::bigint, ${after.p.toString()}::bigint)`)
    .where(committedIn(set))
    .orderBy('xid')
    .orderBy('position')
    .execute();
  return (rows as EventRow[]).map(toLogged);
}

/** For each watched subject and kind of change (profile, presence): its last change after a place, committed in `set`. */
export async function lastChangesSince(
  db: Kysely<Database>,
  appKey: string,
  subjectIds: readonly string[],
  after: LogPosition,
  set: CommittedSet,
): Promise<{ userId: string; kind: 'profileChanged' | 'presenceChanged'; position: LogPosition }[]> {
  if (subjectIds.length === 0) return [];
  const { rows } = await sql<{ userId: string; kind: 'profileChanged' | 'presenceChanged'; xid: string; position: string }>`
    select distinct on (user_id, kind) user_id as "userId", kind, xid::text as xid, position::text as position
    from events
    where app_key = ${appKey} and not direct and user_id = any(${subjectIds}::text[])
      and (xid, position) > (${after.x.toString()}::bigint, ${after.p.toString()}::bigint) and ${committedIn(set)}
    order by user_id, kind, xid desc, position desc`.execute(db);
  // and each subject's last appearance in a change of several profiles at once
  const { rows: together } = await sql<{ userId: string; xid: string; position: string }>`
    select distinct on (u) u as "userId", xid::text as xid, position::text as position
    from events, jsonb_array_elements_text(payload->'userIds') u
    where app_key = ${appKey} and user_id = '' and kind = 'profilesChanged' and u = any(${subjectIds}::text[])
      and (xid, position) > (${after.x.toString()}::bigint, ${after.p.toString()}::bigint) and ${committedIn(set)}
    order by u, xid desc, position desc`.execute(db);
  return [
    ...rows.map((r) => ({ userId: r.userId, kind: r.kind, position: { x: BigInt(r.xid), p: BigInt(r.position) } })),
    ...together.map((r) => ({ userId: r.userId, kind: 'profileChanged' as const, position: { x: BigInt(r.xid), p: BigInt(r.position) } })),
  ];
}

/**
 * What the presence changes of these subjects after a place (committed in `set`) were: the
 * visibility setting each had at that place, when it changed since (the setting before its first
 * change), whether anything else changed (a platform, the custom status), and whether a friendship
 * of the subject with the receiver that its visibility depends on changed. SPEC §10: a resume
 * tells a watcher of a change only if its view of the subject changed.
 */
export async function presenceHistorySince(
  db: Kysely<Database>,
  appKey: string,
  receiverId: string,
  subjectIds: readonly string[],
  after: LogPosition,
  set: CommittedSet,
): Promise<Map<string, { visibilityThen: string | undefined; otherChange: boolean; friendshipChanged: boolean }>> {
  if (subjectIds.length === 0) return new Map();
  const { rows } = await sql<{ userId: string; previous: string | null; flips: number; other: boolean; friendship: boolean }>`
    select user_id as "userId",
      (array_agg(coalesce(payload->>'previousVisibility', 'NOT_SET') order by xid, position) filter (where payload->>'cause' = 'visibility'))[1] as previous,
      count(*) filter (where payload->>'cause' = 'visibility')::int as flips,
      bool_or(coalesce(payload->>'cause', '') not in ('visibility', 'friendship')) as other,
      coalesce(bool_or(payload->>'cause' = 'friendship' and payload->'watchers' ? ${receiverId}::text), false) as friendship
    from events
    where app_key = ${appKey} and not direct and kind = 'presenceChanged' and user_id = any(${subjectIds}::text[])
      and (xid, position) > (${after.x.toString()}::bigint, ${after.p.toString()}::bigint) and ${committedIn(set)}
    group by user_id`.execute(db);
  return new Map(rows.map((r) => [r.userId, { visibilityThen: r.flips > 0 ? (r.previous ?? 'NOT_SET') : undefined, otherChange: r.other, friendshipChanged: r.friendship }]));
}

/** Deletes up to `limit` of the oldest rows that occurred before `before`; returns how many. */
export async function pruneBefore(db: Kysely<Database>, before: Date, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('events')
    .where('position', 'in', (eb) => eb.selectFrom('events').select('position').where('occurredAt', '<', before).orderBy('position').limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
