import type { Kysely } from 'kysely';

/**
 * Presence visibility and custom status (SPEC §10). Both live on the user's presence row, which
 * every presence change already writes (its version), so the hot connect/disconnect statement reads
 * them in the same lookup. `custom_status_expires_at` is indexed for the expiry sweep; the app's
 * default sits with its other defaults.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('presence_users')
    .addColumn('visibility', 'text', (c) => c.notNull().defaultTo('NOT_SET'))
    .addColumn('custom_status_text', 'text')
    .addColumn('custom_status_emoji', 'text')
    .addColumn('custom_status_expires_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('presence_users_status_expiry')
    .on('presence_users')
    .column('custom_status_expires_at')
    .where('custom_status_expires_at', 'is not', null)
    .execute();
  await db.schema.alterTable('apps').addColumn('default_presence_visibility', 'text', (c) => c.notNull().defaultTo('EVERYONE')).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('apps').dropColumn('default_presence_visibility').execute();
  await db.schema.dropIndex('presence_users_status_expiry').execute();
  await db.schema
    .alterTable('presence_users')
    .dropColumn('visibility')
    .dropColumn('custom_status_text')
    .dropColumn('custom_status_emoji')
    .dropColumn('custom_status_expires_at')
    .execute();
}
