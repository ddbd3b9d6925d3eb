/**
 * The socket.io peer of the fan-out scenario: what a team would build on socket.io for the same
 * change, to compare our fan-out with a widely used realtime stack, not only with the floor.
 *
 * Per change it does the floor's work (bench/floors/server.ts) with socket.io doing the pushing:
 * - HTTP: the same Write POST on /graphql, the same JWT check and revocation lookup, the same
 *   UPDATE … RETURNING * and the same JSON answer;
 * - fan-out: the same four lookups, the same two cuts of the profile and the same payload per
 *   subscriber (the `payload` of the floor's `next` frame: same keys, same order, same text once
 *   serialised), but pushed the socket.io way: subscribers that get the same payload form one
 *   audience, and each audience is one `io.to(rooms).emit`, which socket.io serialises and frames
 *   once for all its sockets;
 * - sockets: socket.io over WebSocket only (no polling), the token in the handshake's `auth`,
 *   verified like the floor's connection_init; a client emits `subscribe` with the same query and
 *   joins one room per subscribed type, `<type>:<userId>`, and gets one SyncFinished per type.
 *
 * The SQL, token check and profile JSON are copied from the floor rather than shared, so that the
 * floor stays as it is for the other scenarios; keep them in step with it.
 *
 * Env: DATABASE_URL, TOKEN_SECRET, PORT, HOST, POOL_SIZE, FLOOR_PREPARED (default 1).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Server } from 'socket.io';
import { TokenService } from '../../src/auth/tokens.ts';
import { systemClock } from '../../src/clock.ts';
import { profilePatchFrom, type ProfileInput } from '../../src/profiles/validation.ts';
import { accessFor, effectiveVisibility, type Access } from '../../src/visibility/rule.ts';
import type { ExtProfileKeyRow, ProfileVisibility } from '../../src/db/database.ts';

pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 10) });
pool.on('error', () => {});
const prepared = process.env.FLOOR_PREPARED !== '0';
const tokens = new TokenService(process.env.TOKEN_SECRET!, systemClock);

// ---- SQL: the floor's statements that a write and its fan-out run ------------------------------------
const SQL = {
  caller:
    'select "users"."token_generation", "apps"."app_key", "apps"."name", "apps"."secret_hash", "apps"."default_profile_visibility", "apps"."default_friend_add_permission", "apps"."created_at" from "users" inner join "apps" on "apps"."app_key" = "users"."app_key" where "users"."app_key" = $1 and "users"."user_id" = $2',
  extKeys: 'select * from "ext_profile_keys" where "app_key" = $1 order by "key"',
  app: 'select * from "apps" where "app_key" = $1',
  subscribers:
    'select "subscriber_id", (extract(epoch from subscribed_at) * 1000)::float8 as "subscribed_at_ms", "expiry", (extract(epoch from expires_at) * 1000)::float8 as "expires_at_ms" from "status_subscriptions" where "app_key" = $1 and "target_id" = $2 and "type" = $3 and "expires_at" > $4',
  friendIds: 'select "friend_id" from "friendships" where "app_key" = $1 and "user_id" = $2',
};
const names = new Map<string, string>();
function query<R = any>(text: string, values: unknown[]): Promise<R[]> {
  let name: string | undefined;
  if (prepared) {
    name = names.get(text);
    if (!name) names.set(text, (name = `f${names.size}`));
  }
  return pool.query({ name, text, values }).then((r) => r.rows as R[]);
}

type AppRow = { app_key: string; default_profile_visibility: Exclude<ProfileVisibility, 'NOT_SET'> };
type ExtKey = { key: string; allow_client_read: boolean; allow_client_write: boolean; created_at: Date; app_key: string };
type Caller = { appKey: string; userId: string; app: AppRow; tokenGeneration: number };

/** Same as the floor's (and CallerResolver.fromUserToken): jose HS256 verify, then one lookup for revocation and the app. */
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
const appOf = (appKey: string) => cachedFor(appKey).app;
const extKeysOf = (appKey: string) => cachedFor(appKey).extKeys;

async function callerOf(token: string | undefined): Promise<Caller | null> {
  if (!token) return null;
  const claims = await tokens.verify(token);
  if (!claims) return null;
  const [row] = await query<AppRow & { token_generation: number }>(SQL.caller, [claims.appKey, claims.userId]);
  if (!row || row.token_generation !== claims.generation) return null;
  return { appKey: claims.appKey, userId: claims.userId, app: row, tokenGeneration: row.token_generation };
}

/** The floor's profile JSON: same keys, same order as the GraphQL selection. */
function profileOut(row: any, access: Access, extKeys: ExtKey[] | null) {
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

// ---- HTTP: the floor's Write ----------------------------------------------------------------------------
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

function send(res: ServerResponse, status: number, body: string) {
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
const errorBody = (message: string, code: string) => JSON.stringify({ errors: [{ message, extensions: { code } }] });

async function handle(req: IncomingMessage, res: ServerResponse) {
  if (req.method !== 'POST' || !req.url?.startsWith('/graphql')) return send(res, 404, errorBody('not found', 'NOT_FOUND'));
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body: { operationName?: string; variables?: any };
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return send(res, 400, errorBody('bad JSON', 'BAD_USER_INPUT'));
  }
  const auth = req.headers.authorization;
  const caller = await callerOf(auth?.startsWith('Bearer ') ? auth.slice(7) : undefined);
  if (!caller) return send(res, 200, JSON.stringify({ errors: [{ message: 'user token required', extensions: { code: 'UNAUTHENTICATED' } }], data: null }));
  if (body.operationName === 'Write') return send(res, 200, await write(caller, body.variables.p));
  return send(res, 400, errorBody('the socket.io peer knows only Write', 'BAD_USER_INPUT'));
}

const camelExt = (k: ExtKey): ExtProfileKeyRow => ({ appKey: k.app_key, key: k.key, allowClientRead: k.allow_client_read, allowClientWrite: k.allow_client_write, createdAt: k.created_at });
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** updateMyUserProfile(profile) { userId name version updatedAt }, then the change is published. */
async function write(caller: Caller, input: ProfileInput): Promise<string> {
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
  publish(caller.appKey, row);
  return JSON.stringify({ data: { updateMyUserProfile: { userId: row.user_id, name: row.name, version: row.version, updatedAt: row.updated_at.toISOString() } } });
}

// ---- fan-out over socket.io ---------------------------------------------------------------------------
const httpServer = createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error('socket.io peer request failed', error);
    if (!res.headersSent) send(res, 500, errorBody('internal', 'INTERNAL'));
  });
});
// engine.io takes /socket.io/ requests and hands every other one to the handler above
const io = new Server(httpServer, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, maxHttpBufferSize: 65_536 });

const room = (type: string, userId: string) => `${type}:${userId}`;
const chains = new Map<string, Promise<void>>();

/** Changes of one user are pushed in order, as in the floor. */
function publish(appKey: string, row: any) {
  const key = `${appKey}:${row.user_id}`;
  const next = (chains.get(key) ?? Promise.resolve())
    .then(() => fanOut(appKey, row))
    .catch((error) => console.error('socket.io peer fan-out failed', error))
    .finally(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  chains.set(key, next);
}

/** The payload of the floor's `next` frame, as an object whose JSON is the floor's text. */
const statusChange = (row: any, subscribeType: string, subscribeTime: string | null, expiry: number | null, changeTime: string, userProfile: object) => ({
  data: { subscribedUserStatusChange: { __typename: 'UserStatusChange', userId: row.user_id, subscribeType, subscribeTime, expiry, changeTime, userProfile } },
});

/** One change: the floor's four lookups, then one broadcast per audience (subscribers getting the same payload). */
async function fanOut(appKey: string, row: any) {
  const [[app], extKeys, subscribers, friendRows] = await Promise.all([
    appOf(appKey),
    extKeysOf(appKey),
    query(SQL.subscribers, [appKey, row.user_id, 'USER_PROFILE', new Date()]),
    query(SQL.friendIds, [appKey, row.user_id]),
  ]);
  if (!app) return;
  const effective = effectiveVisibility(row.visibility, app.default_profile_visibility);
  const friendProfile = profileOut(row, accessFor(effective, 'friend'), extKeys);
  const otherProfile = profileOut(row, accessFor(effective, 'stranger'), extKeys);
  const friends = new Set<string>();
  for (const f of friendRows) friends.add(f.friend_id);
  const changeTime = (row.updated_at as Date).toISOString();
  // a subscriber's payload depends on its cut of the profile and its subscription's time and expiry
  const audiences = new Map<string, { friend: boolean; subscribedAtMs: number; expiry: number; rooms: string[] }>();
  for (const s of subscribers) {
    const friend = friends.has(s.subscriber_id);
    const key = `${friend ? 'f' : 'o'}:${s.subscribed_at_ms}:${s.expiry}`;
    let audience = audiences.get(key);
    if (!audience) audiences.set(key, (audience = { friend, subscribedAtMs: s.subscribed_at_ms, expiry: s.expiry, rooms: [] }));
    audience.rooms.push(room('USER_PROFILE', s.subscriber_id));
  }
  for (const a of audiences.values()) {
    const payload = statusChange(row, 'USER_PROFILE', new Date(a.subscribedAtMs).toISOString(), a.expiry, changeTime, a.friend ? friendProfile : otherProfile);
    io.to(a.rooms).emit('next', payload);
  }
  // io.to([]) would mean every socket: no friends, no broadcast
  if (friends.size) io.to([...friends].map((id) => room('FRIEND_USER_PROFILE', id))).emit('next', statusChange(row, 'FRIEND_USER_PROFILE', null, null, changeTime, friendProfile));
}

const ALL_TYPES = ['ONLINE_STATUS', 'USER_PROFILE', 'FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE'];

io.use((socket, next) => {
  callerOf(socket.handshake.auth?.token).then(
    (caller) => {
      if (!caller) return next(new Error('Forbidden'));
      socket.data.userId = caller.userId;
      next();
    },
    (error) => next(error instanceof Error ? error : new Error(String(error))),
  );
});
io.on('connection', (socket) => {
  const userId = socket.data.userId as string;
  socket.on('subscribe', (message: { query?: string }) => {
    const match = /subscribedUserStatusChange\(types: \[([A-Z_, ]+)\]\)/.exec(message?.query ?? '');
    const types = match ? match[1]!.split(/,\s*/) : ALL_TYPES;
    void socket.join(types.map((type) => room(type, userId)));
    // like the floor, no snapshot: the sync is finished at once (not measured)
    for (const type of types) socket.emit('next', { data: { subscribedUserStatusChange: { __typename: 'SubscribedUserStatusSyncFinished', subscribeType: type } } });
  });
});

httpServer.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1', backlog: 4096 }, () => {
  const { port } = httpServer.address() as AddressInfo;
  console.log(`peer listening at http://${process.env.HOST ?? '127.0.0.1'}:${port}/graphql`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    io.disconnectSockets(true);
    httpServer.close();
    void pool.end().finally(() => process.exit(0));
  });
}
