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
 * The SQL, token check, profile JSON and Write are the floor's own (bench/floors/common.ts).
 *
 * Env: DATABASE_URL, TOKEN_SECRET, PORT, HOST, POOL_SIZE, FLOOR_PREPARED (default 1).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { effectiveVisibility } from '../../src/visibility/rule.ts';
import { accessFor, appOf, authorizedPost, callerOf, errorBody, extKeysOf, pool, profileOut, query, send, SQL, write } from '../floors/common.ts';

async function handle(req: IncomingMessage, res: ServerResponse) {
  const request = await authorizedPost(req, res);
  if (!request) return;
  const { body, caller } = request;
  if (body.operationName === 'Write') return send(res, 200, await write(caller, body.variables.p, publish));
  return send(res, 400, errorBody('the socket.io peer knows only Write', 'BAD_USER_INPUT'));
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
