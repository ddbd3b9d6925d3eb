import { type Kysely, sql } from 'kysely';

/**
 * Subscription expiry warnings (SPEC §11): `warn_at` is when a subscription's SubscriptionsExpiring
 * event is due (null: sent, or none to send). Subscribing (again) sets it, the sweeper clears it
 * when it logs the warning; the partial index holds only the unsent ones, so the sweep's search
 * costs what is due, not the size of the table.
 *
 * Subscriptions made before this migration are scheduled as with the default lead
 * (min(3600 s, expiry / 2)): their subscribers are warned too.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('status_subscriptions').addColumn('warn_at', 'timestamptz').execute();
  await sql`update status_subscriptions set warn_at = expires_at - least(3600, expiry / 2.0) * interval '1 second' where expires_at > now()`.execute(db);
  await db.schema.createIndex('status_subscriptions_warn_due').on('status_subscriptions').column('warn_at').where('warn_at', 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('status_subscriptions_warn_due').execute();
  await db.schema.alterTable('status_subscriptions').dropColumn('warn_at').execute();
}
