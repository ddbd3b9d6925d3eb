import type { Kysely } from 'kysely';

/**
 * See AppSealedSecretsTable: each app's secret encrypted under SECRET_ENCRYPTION_KEY, so that the
 * RongCloud server API can verify its signatures. Apps created before have none (only the hash)
 * until rotateAppSecret gives them a new secret. Also the users' `tokens_issued_before`: the server
 * API's token expiry refuses the tokens issued before a given time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('app_sealed_secrets')
    .addColumn('app_key', 'text', (c) => c.primaryKey().references('apps.app_key').onDelete('cascade'))
    .addColumn('sealed', 'text', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('users').addColumn('tokens_issued_before', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('tokens_issued_before').execute();
  await db.schema.dropTable('app_sealed_secrets').execute();
}
