import { type Kysely, sql } from 'kysely';

/**
 * The durable event log (SPEC §9): every change that produces an event writes its row here in the
 * same transaction. `xid` is the writing transaction's id; readers take rows in (xid, position)
 * order and only below the oldest transaction still running (src/events/repository.ts explains
 * why that order has no gaps although transactions commit out of position order).
 *
 * `user_id` is whose stream the row belongs to: for a `direct` row only that user's, otherwise the
 * subject's, fanned out to its audience (subscribers, friends) when delivered. One index serves the
 * relay's tailing, one a receiver's replay of both kinds.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('events')
    .addColumn('position', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('xid', 'bigint', (c) => c.notNull().defaultTo(sql`(pg_current_xact_id()::text::bigint)`))
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('direct', 'boolean', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_tail').on('events').columns(['xid', 'position']).execute();
  await db.schema.createIndex('events_by_user').on('events').columns(['app_key', 'user_id', 'xid', 'position']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('events').execute();
}
