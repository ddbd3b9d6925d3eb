import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, WebhookDeliveryRow, WebhookDeliveryStatus, WebhookKind, WebhookRow } from '../db/database.ts';
import type { LogPosition } from '../events/repository.ts';

/**
 * The only module that touches the webhooks tables: the app's webhooks, the deliveries (queue and
 * delivery log at once) and the dispatcher's cursor.
 */

/** What an id of ours can look like; anything else names nothing and is not sent to PostgreSQL. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const WEBHOOK_COLUMNS = ['id', 'appKey', 'url', 'kinds', 'enabled', 'sealedSecret', 'createdAt'] as const;
export type StoredWebhook = Omit<WebhookRow, 'sinceXid'>;

function toWebhook<T extends { kinds: unknown }>(row: T): T & { kinds: WebhookKind[] } {
  return { ...row, kinds: (typeof row.kinds === 'string' ? JSON.parse(row.kinds) : row.kinds) as WebhookKind[] };
}

/** The boundary of the log as of this statement (see src/events/repository.ts): events from it on are owed. */
const LOG_BOUNDARY = sql<string>`pg_snapshot_xmin(pg_current_snapshot())::text::bigint`;

/**
 * Adds a webhook unless the app has `max` already ('limit'); the app row is locked so that two
 * creations at once cannot both pass the count.
 */
export async function insertWebhook(
  db: Kysely<Database>,
  webhook: { id: string; appKey: string; url: string; kinds: WebhookKind[]; sealedSecret: string; createdAt: Date },
  max: number,
): Promise<StoredWebhook | 'limit'> {
  return db.transaction().execute(async (trx) => {
    await trx.selectFrom('apps').select('appKey').where('appKey', '=', webhook.appKey).forUpdate().execute();
    const { n } = await trx.selectFrom('webhooks').select((eb) => eb.fn.countAll<string>().as('n')).where('appKey', '=', webhook.appKey).executeTakeFirstOrThrow();
    if (Number(n) >= max) return 'limit';
    const row = await trx
      .insertInto('webhooks')
      .values({ ...webhook, kinds: JSON.stringify(webhook.kinds), enabled: true, sinceXid: LOG_BOUNDARY as never })
      .returning(WEBHOOK_COLUMNS)
      .executeTakeFirstOrThrow();
    return toWebhook(row);
  });
}

export async function listWebhooks(db: Kysely<Database>, appKey: string): Promise<StoredWebhook[]> {
  const rows = await db.selectFrom('webhooks').select(WEBHOOK_COLUMNS).where('appKey', '=', appKey).orderBy('createdAt').orderBy('id').execute();
  return rows.map(toWebhook);
}

export async function findWebhook(db: Kysely<Database>, appKey: string, id: string): Promise<StoredWebhook | undefined> {
  if (!ID_PATTERN.test(id)) return undefined;
  const row = await db.selectFrom('webhooks').select(WEBHOOK_COLUMNS).where('appKey', '=', appKey).where('id', '=', id).executeTakeFirst();
  return row && toWebhook(row);
}

/** Why a webhook's pending deliveries ended when it was disabled. */
export const DISABLED_ERROR = 'webhook disabled';

/**
 * Changes a webhook of the app; undefined when it has none of that id. Enabled again, it is owed
 * events from now on only (not those of the time it was off); disabled, its pending deliveries
 * end as FAILED at once (the dispatcher, which reads webhooks FOR SHARE, adds none after).
 */
export async function updateWebhook(
  db: Kysely<Database>,
  appKey: string,
  id: string,
  patch: { url?: string; kinds?: WebhookKind[]; enabled?: boolean },
  now: Date,
): Promise<StoredWebhook | undefined> {
  if (!ID_PATTERN.test(id)) return undefined;
  return db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('webhooks').select(['enabled']).where('appKey', '=', appKey).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!current) return undefined;
    const set: Record<string, unknown> = {};
    if (patch.url !== undefined) set.url = patch.url;
    if (patch.kinds !== undefined) set.kinds = JSON.stringify(patch.kinds);
    if (patch.enabled !== undefined) set.enabled = patch.enabled;
    if (patch.enabled === true && !current.enabled) set.sinceXid = LOG_BOUNDARY;
    const row = Object.keys(set).length
      ? await trx.updateTable('webhooks').set(set).where('id', '=', id).returning(WEBHOOK_COLUMNS).executeTakeFirstOrThrow()
      : await trx.selectFrom('webhooks').select(WEBHOOK_COLUMNS).where('id', '=', id).executeTakeFirstOrThrow();
    if (patch.enabled === false && current.enabled) {
      await trx
        .updateTable('webhookDeliveries')
        .set({ status: 'FAILED', lastError: DISABLED_ERROR, nextAttemptAt: null, claimedUntil: null, claim: null, finishedAt: now })
        .where('webhookId', '=', id)
        .where('status', '=', 'PENDING')
        .execute();
    }
    return toWebhook(row);
  });
}

/** Removes a webhook and every delivery of it (pending ones are dropped); false when the app has none of that id. */
export async function deleteWebhook(db: Kysely<Database>, appKey: string, id: string): Promise<boolean> {
  if (!ID_PATTERN.test(id)) return false;
  const result = await db.deleteFrom('webhooks').where('appKey', '=', appKey).where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export type DeliveryRecord = Omit<WebhookDeliveryRow, 'seq' | 'body' | 'claim' | 'claimedUntil' | 'finishedAt' | 'subject' | 'giveUpAt'>;
const DELIVERY_COLUMNS = ['id', 'webhookId', 'kind', 'status', 'attempts', 'lastStatusCode', 'lastError', 'createdAt', 'deliveredAt', 'nextAttemptAt'] as const;

/** A webhook's deliveries, newest first. */
export async function listDeliveries(db: Kysely<Database>, webhookId: string, status: WebhookDeliveryStatus | null, count: number): Promise<DeliveryRecord[]> {
  let query = db.selectFrom('webhookDeliveries').select(DELIVERY_COLUMNS).where('webhookId', '=', webhookId);
  if (status) query = query.where('status', '=', status);
  return query.orderBy('seq', 'desc').limit(count).execute();
}

export async function findDelivery(db: Kysely<Database>, id: string): Promise<DeliveryRecord | undefined> {
  return db.selectFrom('webhookDeliveries').select(DELIVERY_COLUMNS).where('id', '=', id).executeTakeFirst();
}

// --- the dispatcher ---------------------------------------------------------------------------

/** Any 64-bit constant: the dispatcher's advisory lock (one instance at a time turns the log into deliveries). */
const DISPATCH_LOCK = '7311920460023409117';

/** Takes the dispatcher's lock for this transaction, or false when another instance holds it. */
export async function tryLockDispatch(trx: Transaction<Database>): Promise<boolean> {
  const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${DISPATCH_LOCK}::bigint) as locked`.execute(trx);
  return rows[0]!.locked;
}

export async function dispatchCursor(trx: Transaction<Database>): Promise<LogPosition> {
  const row = await trx.selectFrom('webhookDispatch').select([sql<string>`x::text`.as('x'), sql<string>`p::text`.as('p')]).where('id', '=', 1).executeTakeFirstOrThrow();
  return { x: BigInt(row.x), p: BigInt(row.p) };
}

export async function saveDispatchCursor(trx: Transaction<Database>, at: LogPosition): Promise<void> {
  await trx.updateTable('webhookDispatch').set({ x: at.x.toString(), p: at.p.toString() }).where('id', '=', 1).execute();
}

/**
 * Whether any app has an enabled webhook, and the log's complete boundary, in one statement (one
 * snapshot): a webhook not visible in it is not committed yet, so its transaction and every
 * change after it are at or above that boundary.
 */
export async function webhooksAndBoundary(trx: Transaction<Database>): Promise<{ any: boolean; boundary: bigint }> {
  const { rows } = await sql<{ any: boolean; boundary: string }>`
    select exists (select 1 from webhooks where enabled) as any, pg_snapshot_xmin(pg_current_snapshot())::text as boundary`.execute(trx);
  return { any: rows[0]!.any, boundary: BigInt(rows[0]!.boundary) };
}

export interface DispatchTarget {
  id: string;
  appKey: string;
  kinds: WebhookKind[];
  sinceXid: bigint;
}

/**
 * The enabled webhooks of these apps, read FOR SHARE: a webhook being disabled or deleted meanwhile
 * is waited for and then left out, so none gets deliveries after its change committed.
 */
export async function enabledWebhooksOf(trx: Transaction<Database>, appKeys: readonly string[]): Promise<DispatchTarget[]> {
  if (appKeys.length === 0) return [];
  const rows = await trx
    .selectFrom('webhooks')
    .select(['id', 'appKey', 'kinds', sql<string>`since_xid::text`.as('sinceXid')])
    .where('appKey', 'in', appKeys)
    .where('enabled', '=', true)
    .forShare()
    .execute();
  return rows.map((r) => ({ ...toWebhook(r), sinceXid: BigInt(r.sinceXid) }));
}

export interface NewDelivery {
  id: string;
  webhookId: string;
  subject: string;
  kind: WebhookKind;
  body: string;
  createdAt: Date;
  giveUpAt: Date;
}

export async function insertDeliveries(trx: Kysely<Database>, deliveries: readonly NewDelivery[]): Promise<void> {
  for (let i = 0; i < deliveries.length; i += 500) {
    const chunk = deliveries.slice(i, i + 500).map((d) => ({ ...d, status: 'PENDING' as const, nextAttemptAt: d.createdAt }));
    await trx.insertInto('webhookDeliveries').values(chunk).execute();
  }
}

// --- the workers ------------------------------------------------------------------------------

/** A leased delivery with what sending it needs. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  appKey: string;
  url: string;
  sealedSecret: string;
  kind: WebhookKind;
  body: string;
  attempts: number;
  giveUpAt: Date;
}

/**
 * Leases due deliveries to `claim` until `leaseUntil`, oldest due first, at most `limit`. A delivery
 * is due when its time has come, it is not leased, and no earlier delivery of its webhook in its
 * lane (same subject; '' waits for and holds back every lane) is still pending: per webhook, one
 * subject's deliveries go in order, and a FAILED one no longer holds the next back. A webhook has
 * at most `perWebhook` leased at once, across instances (its leases are counted), so a receiver
 * that never answers holds only its own slots. Two instances claiming at once: the second's
 * UPDATE waits for the first's row locks and then finds those rows leased (its WHERE is checked
 * again), so no attempt is sent twice at once.
 */
export async function claimDue(
  db: Kysely<Database>,
  options: { now: Date; leaseUntil: Date; claim: string; perWebhook: number; limit: number },
): Promise<ClaimedDelivery[]> {
  const { now, leaseUntil, claim, perWebhook, limit } = options;
  const { rows } = await sql<ClaimedDelivery>`
    with ready as (
      select d.id, d.webhook_id, d.next_attempt_at, d.seq,
        row_number() over (partition by d.webhook_id order by d.next_attempt_at, d.seq) as n
      from webhook_deliveries d
      where d.status = 'PENDING' and d.next_attempt_at <= ${now}
        and (d.claimed_until is null or d.claimed_until <= ${now})
        and not exists (
          select 1 from webhook_deliveries e
          where e.webhook_id = d.webhook_id and e.status = 'PENDING' and e.seq < d.seq
            and (e.subject = d.subject or e.subject = '' or d.subject = ''))
    ), busy as (
      select webhook_id, count(*) as n from webhook_deliveries
      where status = 'PENDING' and claimed_until > ${now}
      group by webhook_id
    ), chosen as (
      select r.id from ready r left join busy b on b.webhook_id = r.webhook_id
      where r.n + coalesce(b.n, 0) <= ${perWebhook}
      order by r.next_attempt_at, r.seq
      limit ${limit}
    )
    update webhook_deliveries d set claimed_until = ${leaseUntil}, claim = ${claim}
    from chosen, webhooks w
    where d.id = chosen.id and w.id = d.webhook_id and d.status = 'PENDING'
      and (d.claimed_until is null or d.claimed_until <= ${now})
    returning d.id, d.webhook_id, w.app_key, w.url, w.sealed_secret, d.kind, d.body, d.attempts, d.give_up_at`.execute(db);
  return rows.map((r) => ({ ...r, giveUpAt: new Date(r.giveUpAt) }));
}

/** A delivery created leased, to be sent at once (pingWebhook). */
export async function insertLeasedDelivery(db: Kysely<Database>, delivery: NewDelivery, claim: string, leaseUntil: Date): Promise<void> {
  await db
    .insertInto('webhookDeliveries')
    .values({ ...delivery, status: 'PENDING', nextAttemptAt: delivery.createdAt, claim, claimedUntil: leaseUntil })
    .execute();
}

export type AttemptOutcome =
  | { status: 'DELIVERED'; statusCode: number; at: Date }
  | { status: 'PENDING'; statusCode: number | null; error: string; at: Date; nextAttemptAt: Date }
  | { status: 'FAILED'; statusCode: number | null; error: string; at: Date };

/**
 * Records one attempt of a delivery still leased to `claim`; false when the lease was lost (it ran
 * out and another worker took the delivery, or the webhook was deleted or disabled meanwhile).
 */
export async function recordAttempt(db: Kysely<Database>, id: string, claim: string, outcome: AttemptOutcome): Promise<boolean> {
  const common = { attempts: sql<number>`attempts + 1`, lastStatusCode: outcome.statusCode, claim: null, claimedUntil: null };
  const set =
    outcome.status === 'DELIVERED'
      ? { ...common, status: 'DELIVERED' as const, lastError: null, deliveredAt: outcome.at, finishedAt: outcome.at, nextAttemptAt: null }
      : outcome.status === 'PENDING'
        ? { ...common, lastError: outcome.error, nextAttemptAt: outcome.nextAttemptAt }
        : { ...common, status: 'FAILED' as const, lastError: outcome.error, finishedAt: outcome.at, nextAttemptAt: null };
  const result = await db.updateTable('webhookDeliveries').set(set).where('id', '=', id).where('claim', '=', claim).where('status', '=', 'PENDING').executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Gives back the leases of attempts that were cut off (a graceful stop): they count as not made. */
export async function releaseClaims(db: Kysely<Database>, ids: readonly string[], claim: string): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('webhookDeliveries').set({ claim: null, claimedUntil: null }).where('id', 'in', ids).where('claim', '=', claim).execute();
}

/** Deletes up to `limit` delivered or failed deliveries that finished before `before`; returns how many. */
export async function pruneFinished(db: Kysely<Database>, before: Date, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('webhookDeliveries')
    .where('id', 'in', (eb) => eb.selectFrom('webhookDeliveries').select('id').where('status', '<>', 'PENDING').where('finishedAt', '<', before).limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** How many deliveries are pending, and when the oldest of them was created. */
export async function pendingQueue(db: Kysely<Database>): Promise<{ pending: number; oldest: Date | null }> {
  const row = await db
    .selectFrom('webhookDeliveries')
    .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.min('createdAt').as('oldest')])
    .where('status', '=', 'PENDING')
    .executeTakeFirstOrThrow();
  return { pending: Number(row.n), oldest: row.oldest ? new Date(row.oldest as Date) : null };
}
