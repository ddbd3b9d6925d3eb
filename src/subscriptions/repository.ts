import { inTransaction } from '../db/transaction.ts';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Selectable } from 'kysely';
import { compiledStatement } from '../db/compiled.ts';
import type { Database, StatusSubscribeType, StatusSubscriptionsTable } from '../db/database.ts';

export const SUBSCRIPTIONS_PER_SUBSCRIBER = 1000;
export const SUBSCRIBERS_PER_TARGET = 5000;

export type SubscriptionRow = Omit<Selectable<StatusSubscriptionsTable>, 'appKey' | 'warnAt'>;

/** Serializes work on one key for the rest of the transaction (hash collisions only serialize more). */
async function advisoryLock(trx: Transaction<Database>, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(trx);
}

export type SubscribeOutcome = { ok: true; failedUserIds: string[]; subscribed: string[] } | { ok: false; reason: 'subscriber_limit'; held: number };

/**
 * Subscribes or refreshes. All or nothing for the subscriber's own limit; per target for the
 * target's limit (those ids come back as failed while the rest succeed). Locks: the subscriber
 * first, then targets in sorted order, so concurrent calls cannot deadlock or overshoot a cap.
 */
export async function subscribe(
  db: Kysely<Database>,
  s: {
    appKey: string;
    subscriberId: string;
    type: StatusSubscribeType;
    targetIds: readonly string[];
    expiry: number;
    now: Date;
    /** how long before expiry its warning is due (SPEC §11); null: none */
    warnBeforeMs: number | null;
  },
  limits = { perSubscriber: SUBSCRIPTIONS_PER_SUBSCRIBER, perTarget: SUBSCRIBERS_PER_TARGET },
): Promise<SubscribeOutcome> {
  return inTransaction(db, async (trx) => {
    await advisoryLock(trx, `sub:${s.appKey}:${s.type}:${s.subscriberId}`);
    const mine = trx
      .selectFrom('statusSubscriptions')
      .where('appKey', '=', s.appKey)
      .where('subscriberId', '=', s.subscriberId)
      .where('type', '=', s.type);
    const held = new Set((await mine.select('targetId').where('expiresAt', '>', s.now).execute()).map((r) => r.targetId));
    const fresh = s.targetIds.filter((id) => !held.has(id));
    if (held.size + fresh.length > limits.perSubscriber) return { ok: false, reason: 'subscriber_limit', held: held.size };

    const failed = new Set<string>();
    if (fresh.length) {
      for (const target of [...fresh].sort()) await advisoryLock(trx, `target:${s.appKey}:${s.type}:${target}`);
      const counts = await trx
        .selectFrom('statusSubscriptions')
        .select(['targetId', sql<number>`count(*)::int`.as('n')])
        .where('appKey', '=', s.appKey)
        .where('type', '=', s.type)
        .where('targetId', 'in', fresh)
        .where('expiresAt', '>', s.now)
        .groupBy('targetId')
        .execute();
      for (const { targetId, n } of counts) if (n >= limits.perTarget) failed.add(targetId);
    }
    const subscribed = s.targetIds.filter((id) => !failed.has(id));
    if (subscribed.length) {
      const expiresAt = new Date(s.now.getTime() + s.expiry * 1000);
      // a refresh replaces the pending warning (or schedules one again after it was sent)
      const warnAt = s.warnBeforeMs === null ? null : new Date(expiresAt.getTime() - s.warnBeforeMs);
      await trx
        .insertInto('statusSubscriptions')
        .values(subscribed.map((targetId) => ({ appKey: s.appKey, subscriberId: s.subscriberId, targetId, type: s.type, subscribedAt: s.now, expiry: s.expiry, expiresAt, warnAt })))
        .onConflict((oc) => oc.columns(['appKey', 'subscriberId', 'type', 'targetId']).doUpdateSet({ subscribedAt: s.now, expiry: s.expiry, expiresAt, warnAt }))
        .execute();
    }
    // expired rows of this subscriber are dead weight: drop them while we hold its lock
    await trx
      .deleteFrom('statusSubscriptions')
      .where('appKey', '=', s.appKey)
      .where('subscriberId', '=', s.subscriberId)
      .where('type', '=', s.type)
      .where('expiresAt', '<=', s.now)
      .execute();
    return { ok: true, failedUserIds: [...failed], subscribed };
  });
}

export async function unsubscribe(db: Kysely<Database>, appKey: string, subscriberId: string, type: StatusSubscribeType, targetIds: readonly string[]): Promise<string[]> {
  const rows = await db
    .deleteFrom('statusSubscriptions')
    .where('appKey', '=', appKey)
    .where('subscriberId', '=', subscriberId)
    .where('type', '=', type)
    .where('targetId', 'in', targetIds)
    .returning('targetId')
    .execute();
  return rows.map((r) => r.targetId);
}

/** The subscriber's unexpired subscriptions of a type, oldest first; optionally only some targets. */
export async function subscriptionsOf(
  db: Kysely<Database>,
  appKey: string,
  subscriberId: string,
  type: StatusSubscribeType,
  now: Date,
  page?: { targetIds?: readonly string[]; offset?: number; limit?: number },
): Promise<SubscriptionRow[]> {
  let query = db
    .selectFrom('statusSubscriptions')
    .select(['subscriberId', 'targetId', 'type', 'subscribedAt', 'expiry', 'expiresAt'])
    .where('appKey', '=', appKey)
    .where('subscriberId', '=', subscriberId)
    .where('type', '=', type)
    .where('expiresAt', '>', now)
    .orderBy('subscribedAt')
    .orderBy('targetId');
  if (page?.targetIds) query = query.where('targetId', 'in', page.targetIds.length ? page.targetIds : ['']);
  if (page?.limit !== undefined) query = query.limit(page.limit).offset(page.offset ?? 0);
  return query.execute();
}

export async function countSubscriptions(db: Kysely<Database>, appKey: string, subscriberId: string, type: StatusSubscribeType, now: Date): Promise<number> {
  const { n } = await db
    .selectFrom('statusSubscriptions')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('appKey', '=', appKey)
    .where('subscriberId', '=', subscriberId)
    .where('type', '=', type)
    .where('expiresAt', '>', now)
    .executeTakeFirstOrThrow();
  return n;
}

export interface Subscriber {
  subscriberId: string;
  /** epoch ms: a fan-out puts them in thousands of messages, as numbers (no Date parsed or printed per row) */
  subscribedAtMs: number;
  expiry: number;
  expiresAtMs: number;
}

/** Who receives a change of `targetId` for this type: one indexed lookup. */
export async function subscribersOf(db: Kysely<Database>, appKey: string, targetId: string, type: StatusSubscribeType, now: Date): Promise<Subscriber[]> {
  return subscribersStatement(db, appKey, targetId, type, now);
}

/** A subscriber as fan-out needs it: times as epoch ms. */
const SUBSCRIBER_COLUMNS = [
  'subscriberId',
  sql<number>`(extract(epoch from subscribed_at) * 1000)::float8`.as('subscribedAtMs'),
  'expiry',
  sql<number>`(extract(epoch from expires_at) * 1000)::float8`.as('expiresAtMs'),
] as const;

const subscribersStatement = compiledStatement((db, appKey: string, targetId: string, type: StatusSubscribeType, now: Date) =>
  db
    .selectFrom('statusSubscriptions')
    .select(SUBSCRIBER_COLUMNS)
    .where('appKey', '=', appKey)
    .where('targetId', '=', targetId)
    .where('type', '=', type)
    .where('expiresAt', '>', now),
);

/** Removes every subscription naming these users as target (theirs as subscriber go by cascade). */
export async function removeSubscriptionsTo(db: Kysely<Database>, appKey: string, targetIds: readonly string[]): Promise<void> {
  if (targetIds.length === 0) return;
  await db.deleteFrom('statusSubscriptions').where('appKey', '=', appKey).where('targetId', 'in', targetIds).execute();
}

/** Unexpired subscribers of several targets for one type: target → subscribers. */
export async function subscribersOfEach(db: Kysely<Database>, appKey: string, targetIds: readonly string[], type: StatusSubscribeType, now: Date): Promise<Map<string, Subscriber[]>> {
  const result = new Map<string, Subscriber[]>();
  if (targetIds.length === 0) return result;
  const rows = await db
    .selectFrom('statusSubscriptions')
    .select(['targetId', ...SUBSCRIBER_COLUMNS])
    .where('appKey', '=', appKey)
    .where('targetId', 'in', targetIds)
    .where('type', '=', type)
    .where('expiresAt', '>', now)
    .execute();
  for (const { targetId, ...subscriber } of rows) {
    let list = result.get(targetId);
    if (!list) result.set(targetId, (list = []));
    list.push(subscriber);
  }
  return result;
}

/**
 * The subscribers that have an expiry warning due at `now`, from at most `limit` due subscriptions
 * (the longest due first). A subscription that expired before its warning went out (every
 * instance was down then) is not warned about any more.
 */
export async function subscribersWithDueWarnings(db: Kysely<Database>, now: Date, limit: number): Promise<{ appKey: string; userId: string }[]> {
  const { rows } = await sql<{ appKey: string; subscriberId: string }>`
    select app_key as "appKey", subscriber_id as "subscriberId" from status_subscriptions
    where warn_at is not null and warn_at <= ${now} and expires_at > ${now} order by warn_at limit ${limit}`.execute(db);
  const seen = new Map<string, { appKey: string; userId: string }>();
  for (const r of rows) seen.set(`${r.appKey}\u0000${r.subscriberId}`, { appKey: r.appKey, userId: r.subscriberId });
  return [...seen.values()];
}

/** Subscriptions of one subscriber and type that expire within the same minute: one warning. */
export interface ExpiringGroup {
  appKey: string;
  subscriberId: string;
  type: 'ONLINE_STATUS' | 'USER_PROFILE';
  targetIds: string[];
  /** the earliest expiry of the group */
  expiresAt: Date;
}

/**
 * Claims the due warnings of these subscribers: clears `warn_at` of each due subscription and of
 * every other unwarned one of the same subscriber and type expiring in the same minute (warned
 * together, at the first one's time), and returns them grouped. A conditional UPDATE: of two
 * instances sweeping at once, the second finds nothing left to claim.
 */
export async function claimDueWarnings(trx: Kysely<Database>, subscribers: readonly { appKey: string; userId: string }[], now: Date): Promise<ExpiringGroup[]> {
  if (subscribers.length === 0) return [];
  const { rows } = await sql<{ appKey: string; subscriberId: string; type: 'ONLINE_STATUS' | 'USER_PROFILE'; targetId: string; expiresAtMs: number }>`
    with batch as (
      select * from unnest(${subscribers.map((s) => s.appKey)}::text[], ${subscribers.map((s) => s.userId)}::text[]) as b(app_key, subscriber_id)
    ), due as (
      select distinct s.app_key, s.subscriber_id, s.type, floor(extract(epoch from s.expires_at) / 60) as minute
      from status_subscriptions s join batch b on b.app_key = s.app_key and b.subscriber_id = s.subscriber_id
      where s.warn_at is not null and s.warn_at <= ${now} and s.expires_at > ${now}
    )
    update status_subscriptions s set warn_at = null
    from due
    where s.app_key = due.app_key and s.subscriber_id = due.subscriber_id and s.type = due.type
      and s.warn_at is not null and floor(extract(epoch from s.expires_at) / 60) = due.minute
    returning s.app_key as "appKey", s.subscriber_id as "subscriberId", s.type, s.target_id as "targetId",
      (extract(epoch from s.expires_at) * 1000)::float8 as "expiresAtMs"`.execute(trx);
  // earliest first, so that each group's first row carries its expiresAt
  rows.sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.targetId < b.targetId ? -1 : 1));
  const groups = new Map<string, ExpiringGroup>();
  for (const row of rows) {
    if (row.expiresAtMs <= now.getTime()) continue; // a member of the group that expired already
    const key = `${row.appKey}\u0000${row.subscriberId}\u0000${row.type}\u0000${Math.floor(row.expiresAtMs / 60_000)}`;
    const found = groups.get(key);
    if (found) found.targetIds.push(row.targetId);
    else groups.set(key, { appKey: row.appKey, subscriberId: row.subscriberId, type: row.type, targetIds: [row.targetId], expiresAt: new Date(row.expiresAtMs) });
  }
  return [...groups.values()];
}

/** Forgets (up to `limit`) warnings that were never sent because their subscription expired first: they leave the index of pending ones. */
export async function dropMissedWarnings(db: Kysely<Database>, now: Date, limit: number): Promise<void> {
  await sql`
    update status_subscriptions s set warn_at = null
    from (select app_key, subscriber_id, type, target_id from status_subscriptions
          where warn_at is not null and warn_at <= ${now} and expires_at <= ${now} limit ${limit}) missed
    where s.app_key = missed.app_key and s.subscriber_id = missed.subscriber_id and s.type = missed.type and s.target_id = missed.target_id`.execute(db);
}
