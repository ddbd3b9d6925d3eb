import type { Kysely } from 'kysely';

/**
 * The offline grace (SPEC §5): when a platform's last connection closes, its offline is only
 * announced at `offline_due_at` (wall-clock time, like instance liveness), and a reconnect before
 * then cancels it; `left_at` is when the device left (the change time the offline will carry).
 * Kept in the database so that any instance (or a restart) announces it if the one that set it dies.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('presence_platforms').addColumn('offline_due_at', 'timestamptz').addColumn('left_at', 'timestamptz').execute();
  await db.schema.createIndex('presence_platforms_due').on('presence_platforms').column('offline_due_at').where('offline_due_at', 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('presence_platforms_due').execute();
  await db.schema.alterTable('presence_platforms').dropColumn('offline_due_at').dropColumn('left_at').execute();
}
