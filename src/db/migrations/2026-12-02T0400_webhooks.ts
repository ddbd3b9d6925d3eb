import { type Kysely, sql } from 'kysely';

/**
 * Webhooks (SPEC §12): an app's endpoints, the deliveries owed to them, and the dispatcher's place
 * in the event log.
 *
 * `webhooks.sealed_secret` is the Standard Webhooks signing secret sealed like app secrets
 * (SECRET_ENCRYPTION_KEY), never its text. `since_xid` is the log boundary when the webhook was
 * created (or enabled again): it is owed the events of transactions from there on only.
 *
 * `webhook_deliveries` is both the queue and the delivery log: PENDING rows are due at
 * `next_attempt_at` and retried until `give_up_at` (fixed at creation, WEBHOOK_RETRY_WINDOW_MS), leased by one worker until `claimed_until` (`claim` names the lease, so a
 * worker whose lease ran out cannot record over its successor). `subject` is the lane whose order
 * is kept per webhook (a user id; '' for a change of several users, which waits for everything
 * before it and holds back everything after it). `seq` is creation order.
 *
 * `webhook_dispatch` is the single row of the dispatcher's cursor, a log position as the relays
 * keep one (src/events/repository.ts); it starts where the log stands when this migration runs.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('app_key', 'text', (c) => c.notNull().references('apps.app_key').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('kinds', 'jsonb', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull())
    .addColumn('sealed_secret', 'text', (c) => c.notNull())
    .addColumn('since_xid', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhooks_by_app').on('webhooks').columns(['app_key', 'created_at']).execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull().unique().generatedAlwaysAsIdentity())
    .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('give_up_at', 'timestamptz', (c) => c.notNull())
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('claimed_until', 'timestamptz')
    .addColumn('claim', 'text')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .execute();
  // the workers' due work, the per-subject order check, the delivery log, the pruner
  await sql`create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'PENDING'`.execute(db);
  await sql`create index webhook_deliveries_lane on webhook_deliveries (webhook_id, subject, seq) where status = 'PENDING'`.execute(db);
  await db.schema.createIndex('webhook_deliveries_log').on('webhook_deliveries').columns(['webhook_id', 'seq']).execute();
  await sql`create index webhook_deliveries_finished on webhook_deliveries (finished_at) where status <> 'PENDING'`.execute(db);

  await db.schema
    .createTable('webhook_dispatch')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('x', 'bigint', (c) => c.notNull())
    .addColumn('p', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into webhook_dispatch (id, x, p) values (1, pg_snapshot_xmin(pg_current_snapshot())::text::bigint, 0)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_dispatch').execute();
  await db.schema.dropTable('webhook_deliveries').execute();
  await db.schema.dropTable('webhooks').execute();
}
