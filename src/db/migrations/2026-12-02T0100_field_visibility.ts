import { type Kysely, sql } from 'kysely';

/**
 * Per-field visibility (SPEC §10): a user's overrides live on the user's own row, so that the row
 * (and the copy of it every profileChanged event carries) is all a cut needs. Keys: a standard
 * field's name (`email`) or `ext:<key>` for an ext key; values: EVERYONE, FRIENDS_ONLY, INVISIBLE.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('field_visibility', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('field_visibility').execute();
}
