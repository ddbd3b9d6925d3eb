import { inTransaction } from '../db/transaction.ts';
import { randomInt } from 'node:crypto';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import { changeWithEvent, subjectLock } from '../events/repository.ts';
import { compiledStatement } from '../db/compiled.ts';
import type { Database, DecidedVisibility, UserRow, UsersTable } from '../db/database.ts';
import { extOverrideKey } from '../visibility/rule.ts';

export type ProfileColumns = Pick<
  UsersTable,
  'name' | 'portraitUri' | 'uniqueId' | 'email' | 'birthday' | 'gender' | 'location' | 'role' | 'level' | 'visibility'
>;

/** A validated change to one profile: columns to set, ext entries to set and to remove. */
export interface ProfilePatch {
  set: Partial<ProfileColumns>;
  extSet: Record<string, string>;
  extRemove: string[];
  /** per-field visibility overrides (see UsersTable.fieldVisibility); absent: unchanged */
  fieldVisibility?: FieldVisibilityChange;
}

/**
 * A change of a user's overrides: entries set and removed (merged into the stored ones), or with
 * `replace` the stored ones replaced by `set` (an import makes them equal to its line).
 */
export interface FieldVisibilityChange {
  set: Record<string, DecidedVisibility>;
  remove: string[];
  replace?: boolean;
}

/** The SQL of a users row's overrides after a change. */
function fieldVisibilityAfter(change: FieldVisibilityChange) {
  if (change.replace) return sql<string>`${JSON.stringify(change.set)}::jsonb`;
  return sql<string>`(field_visibility || ${JSON.stringify(change.set)}::jsonb) - ${change.remove}::text[]`;
}

export const emptyPatch = (): ProfilePatch => ({ set: {}, extSet: {}, extRemove: [] });

const usersIn = compiledStatement((db, appKey: string, userIds: readonly string[]) =>
  db.selectFrom('users').selectAll().where('appKey', '=', appKey).where('userId', 'in', userIds),
);

export async function findUsers(db: Kysely<Database>, appKey: string, userIds: readonly string[]): Promise<UserRow[]> {
  if (userIds.length === 0) return [];
  return usersIn(db, appKey, userIds);
}

export async function findUser(db: Kysely<Database>, appKey: string, userId: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('appKey', '=', appKey).where('userId', '=', userId).executeTakeFirst();
}

/** Who holds each of these uniqueIds in the app (uniqueId → userId; unheld ones are left out). */
export async function holdersOfUniqueIds(db: Kysely<Database>, appKey: string, uniqueIds: readonly string[]): Promise<Map<string, string>> {
  if (uniqueIds.length === 0) return new Map();
  const rows = await db.selectFrom('users').select(['userId', 'uniqueId']).where('appKey', '=', appKey).where('uniqueId', 'in', uniqueIds).execute();
  return new Map(rows.map((r) => [r.uniqueId!, r.userId]));
}

export async function findUserByUniqueId(db: Kysely<Database>, appKey: string, uniqueId: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('appKey', '=', appKey).where('uniqueId', '=', uniqueId).executeTakeFirst();
}

/**
 * The user, created empty (version 1) when missing. A new user starts at a random token
 * generation: tokens of an earlier user with the same id (removed by cleanUserProfiles) stay
 * refused. Below 2^30, so that revocations can count up without leaving the integer column.
 */
export async function ensureUser(db: Kysely<Database>, appKey: string, userId: string, now: Date): Promise<UserRow> {
  const inserted = await db
    .insertInto('users')
    .values(newUser(appKey, userId, now))
    .onConflict((oc) => oc.columns(['appKey', 'userId']).doNothing())
    .returningAll()
    .executeTakeFirst();
  return inserted ?? (await findUser(db, appKey, userId))!;
}

/** ensureUser for many users in one statement (in the given order); returns the ids it created. */
export async function ensureUsers(db: Kysely<Database>, appKey: string, userIds: readonly string[], now: Date): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const inserted = await db
    .insertInto('users')
    .values(userIds.map((userId) => newUser(appKey, userId, now)))
    .onConflict((oc) => oc.columns(['appKey', 'userId']).doNothing())
    .returning('userId')
    .execute();
  return new Set(inserted.map((r) => r.userId));
}

function newUser(appKey: string, userId: string, now: Date) {
  return { appKey, userId, ext: '{}', visibility: 'NOT_SET', friendAddPermission: 'NOT_SET', version: 1, tokenGeneration: randomInt(2 ** 30), createdAt: now, updatedAt: now } as never;
}

export type UpdateOutcome = { ok: true; row: UserRow } | { ok: false; reason: 'not_found' | 'version_conflict' | 'unique_id_taken' };

/** The event a profile write appends in the same statement (see `changeWithEvent`). */
export interface LoggedProfileChange {
  origin: unknown;
  at: string;
}

/**
 * Applies a patch in one statement: the version check, the ext merge and the version bump
 * happen atomically in the database, so two concurrent writers cannot both pass one expectedVersion.
 * With `logged`, that same statement also takes the user's event lock and appends its
 * `profileChanged` event (`xid` is then the committed transaction's id).
 */
export async function updateProfile(
  db: Kysely<Database>,
  appKey: string,
  userId: string,
  patch: ProfilePatch,
  now: Date,
  expectedVersion?: number,
  logged?: LoggedProfileChange,
): Promise<UpdateOutcome & { xid?: bigint | null }> {
  let query = db
    .updateTable('users')
    .set({
      ...patch.set,
      ext: sql<string>`(ext || ${JSON.stringify(patch.extSet)}::jsonb) - ${patch.extRemove}::text[]`,
      ...(patch.fieldVisibility ? { fieldVisibility: fieldVisibilityAfter(patch.fieldVisibility) } : {}),
      version: sql<number>`version + 1`,
      updatedAt: now,
    })
    .where('appKey', '=', appKey)
    .where('userId', '=', userId);
  if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
  try {
    if (logged) {
      const statement = changeWithEvent(query.where(subjectLock(appKey, userId)).returningAll().compile(), {
        appKey,
        userId,
        kind: 'profileChanged',
        occurredAt: now,
        payload: (param) =>
          `jsonb_build_object('type', 'profileChanged', 'appKey', changed.app_key, 'userId', changed.user_id, 'at', ${param(logged.at)}::text, 'origin', ${param(JSON.stringify(logged.origin))}::jsonb, 'profile', ${profileJson('changed')})`,
      });
      const { rows } = await db.executeQuery<UserRow & { eventXid: string | null }>(CompiledQuery.raw(statement.sql, statement.parameters as unknown[]));
      const found = rows[0];
      if (found) {
        const { eventXid, ...row } = found;
        return { ok: true, row: row as UserRow, xid: eventXid === null ? null : BigInt(eventXid) };
      }
    } else {
      const row = await query.returningAll().executeTakeFirst();
      if (row) return { ok: true, row };
    }
  } catch (error) {
    if (isUniqueViolation(error, 'users_unique_id')) return { ok: false, reason: 'unique_id_taken' };
    throw error;
  }
  if (expectedVersion === undefined) return { ok: false, reason: 'not_found' };
  const exists = await findUser(db, appKey, userId);
  return { ok: false, reason: exists ? 'version_conflict' : 'not_found' };
}

/** The columns a patch sets, by ProfileColumns key, with their SQL type. */
const PATCH_COLUMNS: Record<keyof ProfileColumns, { column: string; type: 'text' | 'integer' }> = {
  name: { column: 'name', type: 'text' },
  portraitUri: { column: 'portrait_uri', type: 'text' },
  uniqueId: { column: 'unique_id', type: 'text' },
  email: { column: 'email', type: 'text' },
  birthday: { column: 'birthday', type: 'text' },
  gender: { column: 'gender', type: 'text' },
  location: { column: 'location', type: 'text' },
  role: { column: 'role', type: 'integer' },
  level: { column: 'level', type: 'integer' },
  visibility: { column: 'visibility', type: 'text' },
};

/**
 * updateProfile (without expectedVersion) for many distinct users in one statement: each row gets
 * its own patch — the columns it sets, its ext entries merged and removed — its version bumped by
 * one and updatedAt set, as updateProfile does for one. Returns the changed rows by userId (users
 * that do not exist are left out). A uniqueId taken by another row fails the whole statement
 * (a unique violation; see isUniqueViolation): callers run it under a savepoint when that can happen.
 */
export async function updateProfiles(db: Kysely<Database>, appKey: string, changes: readonly { userId: string; patch: ProfilePatch }[], now: Date): Promise<Map<string, UserRow>> {
  if (changes.length === 0) return new Map();
  const keys = [...new Set(changes.flatMap((c) => Object.keys(c.patch.set)))] as (keyof ProfileColumns)[];
  const assignments = keys.map((key) => {
    const { column, type } = PATCH_COLUMNS[key];
    return `${column} = case when v.p ? '${key}' then (v.p->>'${key}')::${type} else u.${column} end`;
  });
  const items = changes.map(({ userId, patch }) => ({
    user_id: userId,
    p: patch.set,
    ext_set: patch.extSet,
    ext_remove: patch.extRemove,
    fv_set: patch.fieldVisibility?.set ?? null,
    fv_remove: patch.fieldVisibility?.remove ?? [],
    fv_replace: patch.fieldVisibility?.replace ?? false,
  }));
  const { rows } = await sql<UserRow>`
    update users as u set ${sql.raw(assignments.map((a) => `${a}, `).join(''))}
      ext = (u.ext || v.ext_set) - array(select jsonb_array_elements_text(v.ext_remove)),
      field_visibility = case
        when v.fv_set is null then u.field_visibility
        when v.fv_replace then v.fv_set
        else (u.field_visibility || v.fv_set) - array(select jsonb_array_elements_text(v.fv_remove)) end,
      version = u.version + 1,
      updated_at = ${now}
    from jsonb_to_recordset(${JSON.stringify(items)}::jsonb) as v(user_id text, p jsonb, ext_set jsonb, ext_remove jsonb, fv_set jsonb, fv_remove jsonb, fv_replace boolean)
    where u.app_key = ${appKey} and u.user_id = v.user_id
    returning u.*`.execute(db);
  return new Map(rows.map((row) => [row.userId, row]));
}

/**
 * Runs one step of a longer transaction under a savepoint: when the step reports a refusal
 * (`ok: false`, e.g. a taken uniqueId, which aborts the statement), what it wrote is undone and
 * the transaction goes on. A step that throws aborts the whole transaction, as without a savepoint.
 */
export async function undoneIfRefused<T extends { ok: boolean }>(trx: Kysely<Database>, step: () => Promise<T>): Promise<T> {
  await sql`savepoint refusable_step`.execute(trx);
  const outcome = await step();
  if (outcome.ok) await sql`release savepoint refusable_step`.execute(trx);
  else await sql`rollback to savepoint refusable_step`.execute(trx);
  return outcome;
}

/** Every column of a users row by its UserRow key (a Record: the compiler insists on each one). */
const USER_COLUMNS: Record<keyof UserRow, string> = {
  appKey: 'app_key',
  userId: 'user_id',
  seq: 'seq::text',
  name: 'name',
  portraitUri: 'portrait_uri',
  uniqueId: 'unique_id',
  email: 'email',
  birthday: 'birthday',
  gender: 'gender',
  location: 'location',
  role: 'role',
  level: 'level',
  ext: 'ext',
  visibility: 'visibility',
  fieldVisibility: 'field_visibility',
  friendAddPermission: 'friend_add_permission',
  version: 'version',
  tokenGeneration: 'token_generation',
  tokensIssuedBefore: 'tokens_issued_before',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

/** A users row as JSON with the keys UserRow has (the shape events carry the profile in). */
function profileJson(alias: string): string {
  return `jsonb_build_object(${Object.entries(USER_COLUMNS).map(([key, column]) => `'${key}', ${alias}.${column}`).join(', ')})`;
}

/**
 * Drops one ext key's value from every profile of the app that has it; each such profile changed
 * (its version and updatedAt move, SPEC §2). Returns the changed rows. The users' visibility
 * overrides for the key go too (a key defined again later starts without them); a profile that
 * held only an override is not otherwise changed (an override of a key that no longer exists
 * decides nothing), so it keeps its version.
 */
export async function dropExtValues(db: Kysely<Database>, appKey: string, key: string, now: Date): Promise<UserRow[]> {
  const override = extOverrideKey(key);
  const changed = await db
    .updateTable('users')
    .set({ ext: sql<string>`ext - ${key}::text`, fieldVisibility: sql<string>`field_visibility - ${override}::text`, version: sql<number>`version + 1`, updatedAt: now })
    .where('appKey', '=', appKey)
    .where(sql<boolean>`ext ? ${key}::text`)
    .returningAll()
    .execute();
  await db
    .updateTable('users')
    .set({ fieldVisibility: sql<string>`field_visibility - ${override}::text` })
    .where('appKey', '=', appKey)
    .where(sql<boolean>`field_visibility ? ${override}::text`)
    .execute();
  return changed;
}

/**
 * Refuses from now on the users' tokens issued before `before` (a later call may only move it
 * forward: a token refused once stays refused). Returns the users that exist.
 */
export async function expireTokensIssuedBefore(db: Kysely<Database>, appKey: string, userIds: readonly string[], before: Date): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .updateTable('users')
    .set({ tokensIssuedBefore: sql<Date>`greatest(coalesce(tokens_issued_before, ${before}), ${before})` })
    .where('appKey', '=', appKey)
    .where('userId', 'in', userIds)
    .returning('userId')
    .execute();
  return rows.map((r) => r.userId);
}

/** Bumps the user's token generation; returns the new one, or null for an unknown user. */
export async function revokeTokens(db: Kysely<Database>, appKey: string, userId: string): Promise<number | null> {
  const row = await db
    .updateTable('users')
    .set({ tokenGeneration: sql<number>`token_generation + 1` })
    .where('appKey', '=', appKey)
    .where('userId', '=', userId)
    .returning('tokenGeneration')
    .executeTakeFirst();
  return row?.tokenGeneration ?? null;
}

/**
 * Removes profiles; their friendships, applications, presence and own subscriptions go by
 * cascade (subscriptions naming them as target are the subscriptions domain's to remove).
 */
export async function cleanUsers(db: Kysely<Database>, appKey: string, userIds: readonly string[]): Promise<number> {
  return inTransaction(db, async (trx) => {
    // lock the users in id order first, as friend transactions do, so the two cannot deadlock
    await trx.selectFrom('users').select('userId').where('appKey', '=', appKey).where('userId', 'in', userIds).orderBy('userId').forUpdate().execute();
    const result = await trx.deleteFrom('users').where('appKey', '=', appKey).where('userId', 'in', userIds).executeTakeFirst();
    return Number(result.numDeletedRows);
  });
}

export async function listUsers(
  db: Kysely<Database>,
  appKey: string,
  page: number,
  size: number,
  order: 'asc' | 'desc',
): Promise<{ rows: UserRow[]; totalCount: number }> {
  const [rows, count] = await Promise.all([
    db
      .selectFrom('users')
      .selectAll()
      .where('appKey', '=', appKey)
      .orderBy('seq', order)
      .limit(size)
      .offset((page - 1) * size)
      .execute(),
    db.selectFrom('users').select(sql<number>`count(*)::int`.as('n')).where('appKey', '=', appKey).executeTakeFirstOrThrow(),
  ]);
  return { rows, totalCount: count.n };
}

/** One page of the app's users in userId order after `afterUserId` (keyset: no offset to skip over). */
export async function usersAfter(db: Kysely<Database>, appKey: string, afterUserId: string | null, limit: number): Promise<UserRow[]> {
  let query = db.selectFrom('users').selectAll().where('appKey', '=', appKey);
  if (afterUserId !== null) query = query.where('userId', '>', afterUserId);
  return query.orderBy('userId').limit(limit).execute();
}

export async function countUsers(db: Kysely<Database>, appKey: string): Promise<number> {
  const { n } = await db.selectFrom('users').select(sql<number>`count(*)::int`.as('n')).where('appKey', '=', appKey).executeTakeFirstOrThrow();
  return n;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string };
  if (e?.code !== '23505') return false;
  return !constraint || e.constraint === constraint || (e.message ?? '').includes(constraint);
}
