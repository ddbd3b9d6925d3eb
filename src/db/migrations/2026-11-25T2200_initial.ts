import { type Kysely, sql } from 'kysely';

// Plain PostgreSQL 15 SQL: the embedded PGlite is PostgreSQL 18, so nothing newer than 15 is used.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('apps')
    .addColumn('app_key', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('default_profile_visibility', 'text', (c) => c.notNull().defaultTo('INVISIBLE'))
    .addColumn('default_friend_add_permission', 'text', (c) => c.notNull().defaultTo('NEED_VERIFY'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('ext_profile_keys')
    .addColumn('app_key', 'text', (c) => c.notNull().references('apps.app_key').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('allow_client_read', 'boolean', (c) => c.notNull())
    .addColumn('allow_client_write', 'boolean', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('ext_profile_keys_pk', ['app_key', 'key'])
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('app_key', 'text', (c) => c.notNull().references('apps.app_key').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.generatedAlwaysAsIdentity())
    .addColumn('name', 'text')
    .addColumn('portrait_uri', 'text')
    .addColumn('unique_id', 'text')
    .addColumn('email', 'text')
    .addColumn('birthday', 'text')
    .addColumn('gender', 'text')
    .addColumn('location', 'text')
    .addColumn('role', 'integer')
    .addColumn('level', 'integer')
    .addColumn('ext', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('visibility', 'text', (c) => c.notNull().defaultTo('NOT_SET'))
    .addColumn('friend_add_permission', 'text', (c) => c.notNull().defaultTo('NOT_SET'))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('token_generation', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('users_pk', ['app_key', 'user_id'])
    .execute();
  await db.schema.createIndex('users_unique_id').unique().on('users').columns(['app_key', 'unique_id']).execute();
  await db.schema.createIndex('users_creation_order').on('users').columns(['app_key', 'seq']).execute();

  await db.schema
    .createTable('friendships')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('friend_id', 'text', (c) => c.notNull())
    .addColumn('remark', 'text')
    .addColumn('added_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('friendships_pk', ['app_key', 'user_id', 'friend_id'])
    .addForeignKeyConstraint('friendships_user_fk', ['app_key', 'user_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .addForeignKeyConstraint('friendships_friend_fk', ['app_key', 'friend_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .execute();
  // keyset pagination of a user's friends
  await db.schema.createIndex('friendships_by_added').on('friendships').columns(['app_key', 'user_id', 'added_at', 'friend_id']).execute();
  await db.schema.createIndex('friendships_by_friend').on('friendships').columns(['app_key', 'friend_id']).execute();

  await db.schema
    .createTable('friend_applications')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('from_user_id', 'text', (c) => c.notNull())
    .addColumn('to_user_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('extra', 'text')
    .addColumn('reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('handled_at', 'timestamptz')
    .addPrimaryKeyConstraint('friend_applications_pk', ['app_key', 'from_user_id', 'to_user_id'])
    .addForeignKeyConstraint('friend_applications_from_fk', ['app_key', 'from_user_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .addForeignKeyConstraint('friend_applications_to_fk', ['app_key', 'to_user_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('friend_applications_received').on('friend_applications').columns(['app_key', 'to_user_id', 'created_at']).execute();
  await db.schema.createIndex('friend_applications_sent').on('friend_applications').columns(['app_key', 'from_user_id', 'created_at']).execute();

  // Status subscriptions may name users that do not exist yet (SPEC §5), so only the
  // subscriber is a foreign key; cleanUserProfiles removes rows naming a cleaned target itself.
  await db.schema
    .createTable('status_subscriptions')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('subscriber_id', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('subscribed_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expiry', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('status_subscriptions_pk', ['app_key', 'subscriber_id', 'type', 'target_id'])
    .addForeignKeyConstraint('status_subscriptions_subscriber_fk', ['app_key', 'subscriber_id'], 'users', ['app_key', 'user_id'], (c) => c.onDelete('cascade'))
    .execute();
  // receivers of a change: who subscribes to this target with this type
  await db.schema.createIndex('status_subscriptions_by_target').on('status_subscriptions').columns(['app_key', 'target_id', 'type', 'expires_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['status_subscriptions', 'friend_applications', 'friendships', 'users', 'ext_profile_keys', 'apps']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
