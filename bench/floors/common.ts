/**
 * What the floor (bench/floors/server.ts) and the socket.io peer (bench/peers/socketio.ts) share:
 * the pool and its named statements, the exact SQL text Kysely generates for the server's
 * statements, the caller check, the profile JSON, the HTTP helpers and the Write. One copy, so the
 * two contestants cannot drift apart.
 *
 * Env: DATABASE_URL, TOKEN_SECRET, POOL_SIZE, FLOOR_PREPARED (default 1).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';
import { TokenService } from '../../src/auth/tokens.ts';
import { systemClock } from '../../src/clock.ts';
import { profilePatchFrom, type ProfileInput } from '../../src/profiles/validation.ts';
import { type Audience, sees } from '../../src/visibility/rule.ts';
import type { ExtProfileKeyRow, ProfileVisibility } from '../../src/db/database.ts';

pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
export const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 10) });
pool.on('error', () => {});
const prepared = process.env.FLOOR_PREPARED !== '0';
export const tokens = new TokenService(process.env.TOKEN_SECRET!, systemClock);

// ---- SQL: the exact text Kysely generates for the server's statements -------------------------------
export const SQL = {
  caller:
    'select "users"."token_generation", "apps"."app_key", "apps"."name", "apps"."secret_hash", "apps"."default_profile_visibility", "apps"."default_friend_add_permission", "apps"."created_at" from "users" inner join "apps" on "apps"."app_key" = "users"."app_key" where "users"."app_key" = $1 and "users"."user_id" = $2',
  usersIn: (n: number) => `select * from "users" where "app_key" = $1 and "user_id" in (${params(2, n)})`,
  friendsIn: (n: number) => `select "friend_id" from "friendships" where "app_key" = $1 and "user_id" = $2 and "friend_id" in (${params(3, n)})`,
  extKeys: 'select * from "ext_profile_keys" where "app_key" = $1 order by "key"',
  app: 'select * from "apps" where "app_key" = $1',
  subscribers:
    'select "subscriber_id", (extract(epoch from subscribed_at) * 1000)::float8 as "subscribed_at_ms", "expiry", (extract(epoch from expires_at) * 1000)::float8 as "expires_at_ms" from "status_subscriptions" where "app_key" = $1 and "target_id" = $2 and "type" = $3 and "expires_at" > $4',
  friendIds: 'select "friend_id" from "friendships" where "app_key" = $1 and "user_id" = $2',
};
export function params(from: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += (i ? ', $' : '$') + (from + i);
  return s;
}
const names = new Map<string, string>();
export function query<R = any>(text: string, values: unknown[]): Promise<R[]> {
  let name: string | undefined;
  if (prepared) {
    name = names.get(text);
    if (!name) names.set(text, (name = `f${names.size}`));
  }
  return pool.query({ name, text, values }).then((r) => r.rows as R[]);
}

export type AppRow = { app_key: string; default_profile_visibility: Exclude<ProfileVisibility, 'NOT_SET'> };
export type ExtKey = { key: string; allow_client_read: boolean; allow_client_write: boolean; created_at: Date; app_key: string };
export type Caller = { appKey: string; userId: string; app: AppRow; tokenGeneration: number };

/**
 * The app row and its ext keys, read once per app and kept, as our server keeps them (it forgets
 * them when they change; nothing changes them during a benchmark).
 */
const perApp = new Map<string, { app: Promise<AppRow[]>; extKeys: Promise<ExtKey[]> }>();
function cachedFor(appKey: string) {
  let entry = perApp.get(appKey);
  if (!entry) perApp.set(appKey, (entry = { app: query<AppRow>(SQL.app, [appKey]), extKeys: query<ExtKey>(SQL.extKeys, [appKey]) }));
  return entry;
}
export const appOf = (appKey: string) => cachedFor(appKey).app;
export const extKeysOf = (appKey: string) => cachedFor(appKey).extKeys;

/** Same as CallerResolver.fromUserToken: HS256 verify, then one lookup for revocation and the app. */
export async function callerOf(token: string | undefined): Promise<Caller | null> {
  if (!token) return null;
  const claims = await tokens.verify(token);
  if (!claims) return null;
  const [row] = await query<AppRow & { token_generation: number }>(SQL.caller, [claims.appKey, claims.userId]);
  if (!row || row.token_generation !== claims.generation) return null;
  return { appKey: claims.appKey, userId: claims.userId, app: row, tokenGeneration: row.token_generation };
}

// ---- visibility: SPEC §3 at the profile level (the floors have no per-field overrides; the fan-out
// scenario's variant with overrides is measured against our own plain run, not against them) -------
export type Access = 'full' | 'basic';
export const accessFor = (effective: Exclude<ProfileVisibility, 'NOT_SET'>, audience: Audience): Access => (sees(effective, audience) ? 'full' : 'basic');
export const needsFriendship = (effective: Exclude<ProfileVisibility, 'NOT_SET'>) => effective === 'FRIENDS_ONLY';

// ---- profile JSON: same keys, same order as the GraphQL selection -----------------------------------
export function profileOut(row: any, access: Access, extKeys: ExtKey[] | null) {
  const full = access === 'full';
  let ext: { key: string; value: string }[] | null = null;
  if (full) {
    ext = [];
    for (const k of extKeys!) if (k.allow_client_read && row.ext[k.key] !== undefined) ext.push({ key: k.key, value: row.ext[k.key] });
  }
  return {
    userId: row.user_id,
    name: row.name,
    portraitUri: row.portrait_uri,
    uniqueId: full ? row.unique_id : null,
    email: full ? row.email : null,
    birthday: full ? row.birthday : null,
    gender: full ? row.gender : null,
    location: full ? row.location : null,
    role: full ? row.role : null,
    level: full ? row.level : null,
    userExtProfile: ext,
    version: row.version,
    updatedAt: (row.updated_at as Date).toISOString(),
    restricted: !full,
  };
}

// ---- HTTP -----------------------------------------------------------------------------------------------
export const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export function send(res: ServerResponse, status: number, body: string) {
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
export const errorBody = (message: string, code: string) => JSON.stringify({ errors: [{ message, extensions: { code } }] });

export const camelExt = (k: ExtKey): ExtProfileKeyRow => ({ appKey: k.app_key, key: k.key, allowClientRead: k.allow_client_read, allowClientWrite: k.allow_client_write, createdAt: k.created_at });
export const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** updateMyUserProfile(profile) { userId name version updatedAt }; `published` is handed the changed row. */
export async function write(caller: Caller, input: ProfileInput, published: (appKey: string, row: any) => void): Promise<string> {
  const extKeys = await extKeysOf(caller.appKey);
  let patch;
  try {
    patch = profilePatchFrom(input, 'user', extKeys.map(camelExt));
  } catch (error) {
    return errorBody((error as Error).message, 'BAD_USER_INPUT');
  }
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const [k, v] of Object.entries(patch.set)) {
    values.push(v);
    sets.push(`"${snake(k)}" = $${values.length}`);
  }
  values.push(JSON.stringify(patch.extSet), patch.extRemove, new Date(), caller.appKey, caller.userId);
  const n = values.length;
  const text = `update "users" set ${sets.join(', ')}${sets.length ? ', ' : ''}"ext" = (ext || $${n - 4}::jsonb) - $${n - 3}::text[], "version" = version + 1, "updated_at" = $${n - 2} where "app_key" = $${n - 1} and "user_id" = $${n} returning *`;
  const [row] = await query(text, values);
  if (!row) return errorBody('your profile no longer exists', 'NOT_FOUND');
  published(caller.appKey, row);
  return JSON.stringify({ data: { updateMyUserProfile: { userId: row.user_id, name: row.name, version: row.version, updatedAt: row.updated_at.toISOString() } } });
}


/**
 * A POST to /graphql with its JSON body and its user caller; null once an answer (404, bad JSON,
 * UNAUTHENTICATED) has been sent instead.
 */
export async function authorizedPost(req: IncomingMessage, res: ServerResponse): Promise<{ body: { operationName?: string; variables?: any }; caller: Caller } | null> {
  if (req.method !== 'POST' || !req.url?.startsWith('/graphql')) {
    send(res, 404, errorBody('not found', 'NOT_FOUND'));
    return null;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body: { operationName?: string; variables?: any };
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    send(res, 400, errorBody('bad JSON', 'BAD_USER_INPUT'));
    return null;
  }
  const auth = req.headers.authorization;
  const caller = await callerOf(auth?.startsWith('Bearer ') ? auth.slice(7) : undefined);
  if (!caller) {
    send(res, 200, JSON.stringify({ errors: [{ message: 'user token required', extensions: { code: 'UNAUTHENTICATED' } }], data: null }));
    return null;
  }
  return { body, caller };
}
