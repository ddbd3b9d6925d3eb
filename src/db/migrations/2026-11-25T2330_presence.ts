import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // Every running server process; survivors reap the connections of one whose heartbeat stopped.
  await db.schema
    .createTable('server_instances')
    .addColumn('instance_id', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull())
    .execute();

  // One row per authenticated graphql-ws connection.
  await db.schema
    .createTable('presence_connections')
    .addColumn('connection_id', 'text', (c) => c.primaryKey())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text')
    .addColumn('connected_at', 'timestamptz', (c) => c.notNull())
    .addForeignKeyConstraint('presence_connections_user_fk', ['app_key', 'user_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('presence_connections_by_user').on('presence_connections').columns(['app_key', 'user_id', 'platform']).execute();
  await db.schema.createIndex('presence_connections_by_instance').on('presence_connections').columns(['instance_id']).execute();

  // Per-user presence: `version` orders a user's presence changes and is the row every change locks.
  await db.schema
    .createTable('presence_users')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('presence_users_pk', ['app_key', 'user_id'])
    .addForeignKeyConstraint('presence_users_user_fk', ['app_key', 'user_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .execute();

  // Per-platform state, kept after going offline for its last change time (SPEC §6 sync details).
  await db.schema
    .createTable('presence_platforms')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('online', 'boolean', (c) => c.notNull())
    .addColumn('change_time', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('presence_platforms_pk', ['app_key', 'user_id', 'platform'])
    .addForeignKeyConstraint('presence_platforms_user_fk', ['app_key', 'user_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['presence_platforms', 'presence_users', 'presence_connections', 'server_instances']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
