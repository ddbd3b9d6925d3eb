/**
 * The floor: the same work as our server for the benchmarked operations, without the framework.
 * node:http + pg run the same SQL statements (same text, same order of dependence), apply the
 * same visibility rule (src/visibility/rule.ts) and write the same JSON for the same selection;
 * plain `ws` speaks just enough graphql-transport-ws (connection_init with the same JWT check and
 * revocation lookup, subscribe, next, complete) to push the same bytes to the same sockets.
 *
 * It answers only the operations in bench/lib/operations.ts, by operationName, and is as fast as
 * we could make it: named (prepared) statements, one JSON.stringify per response, one profile
 * serialisation per audience per change and string templates per receiver.
 *
 * Env: DATABASE_URL, TOKEN_SECRET, PORT, HOST, POOL_SIZE, FLOOR_PREPARED (default 1). The SQL, caller
 * check, profile JSON and Write are in ./common.ts, shared with the socket.io peer.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { effectiveVisibility } from '../../src/visibility/rule.ts';
import { accessFor, needsFriendship, appOf, authorizedPost, callerOf, errorBody, extKeysOf, pool, profileOut, query, send, SQL, write, type Caller } from './common.ts';

async function handle(req: IncomingMessage, res: ServerResponse) {
  const request = await authorizedPost(req, res);
  if (!request) return;
  const { body, caller } = request;
  if (body.operationName === 'Read') return send(res, 200, await read(caller, body.variables.ids));
  if (body.operationName === 'Write') return send(res, 200, await write(caller, body.variables.p, (appKey, row) => publish(appKey, row, req.headers['x-device-id'] as string | undefined)));
  return send(res, 400, errorBody('the floor knows only Read and Write', 'BAD_USER_INPUT'));
}

/** userProfiles(userIds) { …every field… } */
async function read(caller: Caller, requested: string[]): Promise<string> {
  if (!Array.isArray(requested) || requested.length < 1 || requested.length > 20) return errorBody('userIds must hold 1 to 20 ids', 'BAD_USER_INPUT');
  const ids = [...new Set(requested)];
  const rows = await query(SQL.usersIn(ids.length), [caller.appKey, ...ids]);
  const byId = new Map<string, any>();
  for (const r of rows) byId.set(r.user_id, r);
  const ordered: any[] = [];
  for (const id of ids) {
    const r = byId.get(id);
    if (r) ordered.push(r);
  }
  // one decision per owner; friendship looked up once, for the FRIENDS_ONLY owners only
  const effective = ordered.map((r) => effectiveVisibility(r.visibility, caller.app.default_profile_visibility));
  const askFriend: string[] = [];
  ordered.forEach((r, i) => {
    if (r.user_id !== caller.userId && needsFriendship(effective[i]!)) askFriend.push(r.user_id);
  });
  const friends = new Set<string>();
  if (askFriend.length) for (const f of await query(SQL.friendsIn(askFriend.length), [caller.appKey, caller.userId, ...askFriend])) friends.add(f.friend_id);
  const access = ordered.map((r, i) =>
    accessFor(effective[i]!, r.user_id === caller.userId ? 'self' : friends.has(r.user_id) ? 'friend' : 'stranger'),
  );
  const extKeys = access.includes('full') ? await extKeysOf(caller.appKey) : null;
  return JSON.stringify({ data: { userProfiles: ordered.map((r, i) => profileOut(r, access[i]!, extKeys)) } });
}

// ---- fan-out over plain ws ----------------------------------------------------------------------------
interface Registration {
  socket: WebSocket;
  id: string;
  types: Set<string>;
}
/** userId -> the subscribe operations of that user's sockets here */
const registrations = new Map<string, Set<Registration>>();
const chains = new Map<string, Promise<void>>();

/** One change: the same four lookups as FanOut.profileChanged, then one frame per receiving socket. */
function publish(appKey: string, row: any, _deviceId: string | undefined) {
  const key = `${appKey}:${row.user_id}`;
  const next = (chains.get(key) ?? Promise.resolve())
    .then(() => fanOut(appKey, row))
    .catch((error) => console.error('floor fan-out failed', error))
    .finally(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  chains.set(key, next);
}

async function fanOut(appKey: string, row: any) {
  const [[app], extKeys, subscribers, friendRows] = await Promise.all([
    appOf(appKey),
    extKeysOf(appKey),
    query(SQL.subscribers, [appKey, row.user_id, 'USER_PROFILE', new Date()]),
    query(SQL.friendIds, [appKey, row.user_id]),
  ]);
  if (!app) return;
  const effective = effectiveVisibility(row.visibility, app.default_profile_visibility);
  const friendJson = JSON.stringify(profileOut(row, accessFor(effective, 'friend'), extKeys));
  const otherJson = JSON.stringify(profileOut(row, accessFor(effective, 'stranger'), extKeys));
  const friends = new Set<string>();
  for (const f of friendRows) friends.add(f.friend_id);
  const head = `,"type":"next","payload":{"data":{"subscribedUserStatusChange":{"__typename":"UserStatusChange","userId":${JSON.stringify(row.user_id)},"subscribeType":`;
  const changeTime = (row.updated_at as Date).toISOString();
  for (const s of subscribers) {
    const regs = registrations.get(s.subscriber_id);
    if (!regs) continue;
    const tail = `"USER_PROFILE","subscribeTime":"${new Date(s.subscribed_at_ms).toISOString()}","expiry":${s.expiry},"changeTime":"${changeTime}","userProfile":${friends.has(s.subscriber_id) ? friendJson : otherJson}}}}}`;
    for (const r of regs) if (r.types.has('USER_PROFILE')) r.socket.send(`{"id":${JSON.stringify(r.id)}${head}${tail}`);
  }
  const friendTail = `"FRIEND_USER_PROFILE","subscribeTime":null,"expiry":null,"changeTime":"${changeTime}","userProfile":${friendJson}}}}}`;
  for (const friendId of friends) {
    const regs = registrations.get(friendId);
    if (regs) for (const r of regs) if (r.types.has('FRIEND_USER_PROFILE')) r.socket.send(`{"id":${JSON.stringify(r.id)}${head}${friendTail}`);
  }
}

const ALL_TYPES = ['ONLINE_STATUS', 'USER_PROFILE', 'FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE'];

const server = createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error('floor request failed', error);
    if (!res.headersSent) send(res, 500, errorBody('internal', 'INTERNAL'));
  });
});
const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: 65_536 });
wss.on('connection', (socket) => {
  let userId: string | undefined;
  const mine = new Map<string, Registration>();
  socket.on('message', (data) => {
    let msg: any;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return socket.close(4400, 'bad message');
    }
    switch (msg.type) {
      case 'connection_init':
        void callerOf(msg.payload?.authToken).then((caller) => {
          if (!caller) return socket.close(4403, 'Forbidden');
          userId = caller.userId;
          socket.send('{"type":"connection_ack"}');
        });
        return;
      case 'ping':
        return socket.send('{"type":"pong"}');
      case 'subscribe': {
        if (!userId) return socket.close(4401, 'Unauthorized');
        const match = /subscribedUserStatusChange\(types: \[([A-Z_, ]+)\]\)/.exec(msg.payload?.query ?? '');
        const types = match ? match[1]!.split(/,\s*/) : ALL_TYPES;
        const reg: Registration = { socket, id: String(msg.id), types: new Set(types) };
        mine.set(reg.id, reg);
        let regs = registrations.get(userId);
        if (!regs) registrations.set(userId, (regs = new Set()));
        regs.add(reg);
        // the floor holds no snapshot: it says the sync is finished at once (not measured)
        for (const type of types) {
          socket.send(`{"id":${JSON.stringify(reg.id)},"type":"next","payload":{"data":{"subscribedUserStatusChange":{"__typename":"SubscribedUserStatusSyncFinished","subscribeType":"${type}"}}}}`);
        }
        return;
      }
      case 'complete': {
        const reg = mine.get(String(msg.id));
        if (reg && userId) registrations.get(userId)?.delete(reg);
        mine.delete(String(msg.id));
        return;
      }
    }
  });
  socket.on('close', () => {
    if (!userId) return;
    const regs = registrations.get(userId);
    if (!regs) return;
    for (const reg of mine.values()) regs.delete(reg);
    if (regs.size === 0) registrations.delete(userId);
  });
});

server.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1', backlog: 4096 }, () => {
  const { port } = server.address() as AddressInfo;
  console.log(`floor listening at http://${process.env.HOST ?? '127.0.0.1'}:${port}/graphql`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const client of wss.clients) client.terminate();
    server.close();
    void pool.end().finally(() => process.exit(0));
  });
}
