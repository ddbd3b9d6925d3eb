import type { Kysely } from 'kysely';

/** See AppSecretChecksTable: a fast keyed check of each app's secret, beside its slow hash. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('app_secret_checks')
    .addColumn('app_key', 'text', (c) => c.primaryKey().references('apps.app_key').onDelete('cascade'))
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('check', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('app_secret_checks').execute();
}
