import { inTransaction } from '../db/transaction.ts';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Selectable } from 'kysely';
import { compiledStatement } from '../db/compiled.ts';
import type { Database, StatusSubscribeType, StatusSubscriptionsTable } from '../db/database.ts';

export const SUBSCRIPTIONS_PER_SUBSCRIBER = 1000;
export const SUBSCRIBERS_PER_TARGET = 5000;

export type SubscriptionRow = Omit<Selectable<StatusSubscriptionsTable>, 'appKey'>;

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
  s: { appKey: string; subscriberId: string; type: StatusSubscribeType; targetIds: readonly string[]; expiry: number; now: Date },
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
      await trx
        .insertInto('statusSubscriptions')
        .values(subscribed.map((targetId) => ({ appKey: s.appKey, subscriberId: s.subscriberId, targetId, type: s.type, subscribedAt: s.now, expiry: s.expiry, expiresAt })))
        .onConflict((oc) => oc.columns(['appKey', 'subscriberId', 'type', 'targetId']).doUpdateSet({ subscribedAt: s.now, expiry: s.expiry, expiresAt }))
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
