import type { Kysely } from 'kysely';

/**
 * Each instance declares how long it counts as alive after its last heartbeat (its own
 * PRESENCE_TIMEOUT_MS). Reapers judged by their own timeout before: during a rolling change of
 * that setting, an instance with a shorter one reaped healthy instances that heartbeat less often.
 * Null for rows of instances that predate the column: those are still judged by the reaper's timeout.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('server_instances').addColumn('alive_until', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('server_instances').dropColumn('alive_until').execute();
}
