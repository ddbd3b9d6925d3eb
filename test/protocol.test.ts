/**
 * Protocol abuse on raw graphql-ws sockets: each of graphql-ws's close codes for its case,
 * malformed, binary and oversized frames, and a flood of subscribe messages. The server stays up
 * throughout, and a bystander connection (another user) keeps working.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphQLClient } from './helpers/client.ts';
import { openRaw, type RawSocket } from './helpers/raw-ws.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { connectLive, type LiveClient } from './helpers/ws.ts';

const MAX_PAYLOAD = 4096;
let server: TestServer;
let app: TestApp;
let alice: GraphQLClient & { token: string };
let bystander: LiveClient;

beforeAll(async () => {
  // the other limits keep their defaults (20 operations per connection, 50 requests/s per user)
  server = await startTestServer({ config: { wsInitTimeoutMs: 1500, wsMaxPayloadBytes: MAX_PAYLOAD } });
  app = await server.newApp();
  alice = await app.user('alice');
  const bob = await app.user('bob');
  bystander = connectLive(server.url, { authToken: bob.token, platform: 'WEB' });
  await bystander.connected;
});
afterAll(async () => {
  await bystander?.dispose();
  await server?.stop();
});

async function until(check: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The server and the bystander are fine: it answers a query over its socket, and HTTP answers. */
async function stillServing() {
  expect((await bystander.execute('{ myUserProfile { userId } }')).data).toEqual({ myUserProfile: { userId: 'bob' } });
  expect((await server.anonymous.request('{ __typename }')).data).toEqual({ __typename: 'Query' });
}

async function initialized(): Promise<RawSocket> {
  const raw = await openRaw(server.url);
  await raw.init({ authToken: alice.token, platform: 'WEB' });
  return raw;
}

/** A socket with any (or no) subprotocol; resolves with how the server closed it. */
function closeOf(protocols: string | string[] | undefined, send?: (ws: WebSocket) => void): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = protocols === undefined ? new WebSocket(server.url.replace(/^http/, 'ws')) : new WebSocket(server.url.replace(/^http/, 'ws'), protocols);
    ws.on('open', () => send?.(ws));
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
    ws.on('error', reject);
  });
}

/** Upgrades with a hand-made request and returns the code of the first (close) frame the server sends. */
function closeCodeOfRawUpgrade(protocol: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(server.url, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': protocol,
      },
    });
    req.on('upgrade', (_res, socket, head) => {
      let data = head;
      const read = () => {
        if (data.length < 4) return;
        expect(data[0]! & 0x0f, 'a close frame').toBe(0x8);
        socket.destroy();
        resolve(data.readUInt16BE(2));
      };
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        read();
      });
      read();
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('graphql-ws close codes', () => {
  it('4406: no subprotocol, or the legacy subscriptions-transport-ws one', async () => {
    expect((await closeOf(undefined)).code).toBe(4406);
    // a WebSocket client refuses an upgrade without the subprotocol it asked for: read the close frame by hand
    expect(await closeCodeOfRawUpgrade('graphql-ws')).toBe(4406);
    await stillServing();
  });

  it('4400: a connection_init with an unknown platform, a bad deviceId or a payload that is not an object', async () => {
    for (const payload of [
      { authToken: alice.token, platform: 'WINDOWS_PHONE' },
      { authToken: alice.token, platform: 3 },
      { authToken: alice.token, deviceId: 'd'.repeat(129) },
      { authToken: alice.token, deviceId: '' },
      'a string payload',
    ]) {
      const raw = await openRaw(server.url);
      raw.send({ type: 'connection_init', payload });
      expect((await raw.closed).code, JSON.stringify(payload).slice(0, 80)).toBe(4400);
    }
    await stillServing();
  });

  it('4401: subscribe before connection_init (and before its ack)', async () => {
    const raw = await openRaw(server.url);
    raw.send({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } });
    expect(await raw.closed).toEqual({ code: 4401, reason: 'Unauthorized' });
  });

  it.each([
    ['no token', () => ({ platform: 'WEB' })],
    ['a garbage token', () => ({ authToken: 'garbage' })],
    ['a tampered token', () => ({ authToken: `${alice.token.slice(0, -2)}xx` })],
    ['the app backend\'s Basic credentials', () => ({ headers: { Authorization: `Basic ${Buffer.from(`${app.appKey}:${app.appSecret}`).toString('base64')}` } })],
    ['the app secret as a token', () => ({ authToken: app.appSecret })],
    ['the operator token', () => ({ authToken: 'test-operator-token-0123456789abcdef' })],
  ])('4403: %s', async (_what, payload) => {
    const raw = await openRaw(server.url);
    raw.send({ type: 'connection_init', payload: payload() });
    expect((await raw.closed).code).toBe(4403);
  });

  it('4403: a revoked token', async () => {
    const carol = await app.user('carol');
    await app.backend.ok('mutation { revokeUserTokens(userId: "carol") }');
    const raw = await openRaw(server.url);
    raw.send({ type: 'connection_init', payload: { authToken: carol.token } });
    expect((await raw.closed).code).toBe(4403);
  });

  it('4408: no connection_init within WS_INIT_TIMEOUT_MS', async () => {
    const raw = await openRaw(server.url);
    expect(await raw.closed).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
    await stillServing();
  });

  it('4409: a second subscribe with the id of a running one', async () => {
    const raw = await initialized();
    raw.send({ id: 'same', type: 'subscribe', payload: { query: 'subscription { ownUserProfileChanged { name } }' } });
    raw.send({ id: 'same', type: 'subscribe', payload: { query: 'subscription { ownUserProfileChanged { name } }' } });
    expect(await raw.closed).toEqual({ code: 4409, reason: 'Subscriber for same already exists' });
    await stillServing();
  });

  it('4429: a second connection_init on the same socket', async () => {
    const raw = await initialized();
    raw.send({ type: 'connection_init', payload: { authToken: alice.token } });
    expect(await raw.closed).toEqual({ code: 4429, reason: 'Too many initialisation requests' });
  });

  it('4429: more connections than WS_MAX_CONNECTIONS_PER_USER (20 by default)', async () => {
    const dave = await app.user('dave');
    const sockets = await Promise.all(Array.from({ length: 20 }, async () => {
      const raw = await openRaw(server.url);
      await raw.init({ authToken: dave.token, platform: 'WEB' });
      return raw;
    }));
    const extra = await openRaw(server.url);
    extra.send({ type: 'connection_init', payload: { authToken: dave.token, platform: 'WEB' } });
    expect((await extra.closed).code).toBe(4429);
    for (const s of sockets) s.ws.close();
    await Promise.all(sockets.map((s) => s.closed));
    await stillServing();
  });
});

describe('malformed, binary and oversized frames', () => {
  it.each([
    ['text that is not JSON', 'hello'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"connection_init"'],
    ['an unknown message type', JSON.stringify({ type: 'shutdown' })],
    ['a subscribe without an id', JSON.stringify({ type: 'subscribe', payload: { query: '{ __typename }' } })],
    ['a subscribe whose query is not a string', JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 42 } })],
    ['a subscribe without a payload', JSON.stringify({ id: '1', type: 'subscribe' })],
    ['a complete without an id', JSON.stringify({ type: 'complete' })],
    ['an empty frame', ''],
  ])('%s closes with 4400 (after connection_init too)', async (_what, frame) => {
    const before = await openRaw(server.url);
    before.ws.send(frame);
    expect((await before.closed).code).toBe(4400);
    const after = await initialized();
    after.ws.send(frame);
    expect((await after.closed).code).toBe(4400);
  });

  it('a binary frame that is not a message closes with 4400; one holding a JSON message is read as text', async () => {
    const garbage = await initialized();
    garbage.ws.send(Buffer.from([0xff, 0x00, 0xfe, 0x01]), { binary: true });
    expect((await garbage.closed).code).toBe(4400);
    const json = await initialized();
    json.ws.send(Buffer.from(JSON.stringify({ id: 'b', type: 'subscribe', payload: { query: '{ myUserProfile { userId } }' } })), { binary: true });
    await until(() => json.messages.some((m) => m.id === 'b' && m.type === 'complete'), 'the binary-framed query answered');
    expect(json.messages.find((m) => m.id === 'b' && m.type === 'next').payload).toEqual({ data: { myUserProfile: { userId: 'alice' } } });
    json.ws.close();
  });

  it('a frame of WS_MAX_PAYLOAD_BYTES is read; one byte more closes the socket with 1009', async () => {
    const frame = (size: number) => {
      const base = JSON.stringify({ id: 'p', type: 'subscribe', payload: { query: '{ myUserProfile { userId } }' } });
      const padded = base.replace('} }', `} }${' '.repeat(size - base.length)}`);
      expect(Buffer.byteLength(padded)).toBe(size);
      return padded;
    };
    const at = await initialized();
    at.ws.send(frame(MAX_PAYLOAD));
    await until(() => at.messages.some((m) => m.id === 'p' && m.type === 'complete'), 'the full-size frame answered');
    at.ws.close();
    const past = await initialized();
    past.ws.send(frame(MAX_PAYLOAD + 1));
    expect((await past.closed).code).toBe(1009);
    const huge = await initialized();
    huge.ws.send('x'.repeat(4 * 1024 * 1024));
    expect((await huge.closed).code).toBe(1009);
    await stillServing();
  });

  it('unknown ids in complete and stray pongs are ignored', async () => {
    const raw = await initialized();
    raw.send({ id: 'never-started', type: 'complete' });
    raw.send({ type: 'pong' });
    raw.send({ type: 'ping', payload: { n: 1 } });
    await until(() => raw.messages.some((m) => m.type === 'pong'), 'pong');
    expect(raw.messages.find((m) => m.type === 'pong').payload).toEqual({ n: 1 });
    raw.ws.close();
  });
});

describe('a flood of subscribe messages', () => {
  it('5000 subscribes on one socket: at most 20 run (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION), every other one is refused; everyone else is served', async () => {
    const raw = await initialized();
    const query = 'subscription { ownUserProfileChanged { name } }';
    const frames = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ id: `f${i}`, type: 'subscribe', payload: { query } }));
    for (const frame of frames) raw.ws.send(frame);
    // meanwhile, other clients are served
    await stillServing();
    const answered = () => raw.messages.filter((m) => m.type === 'error').length;
    // every refused subscribe gets its error; the accepted ones run silently until an event
    await until(() => answered() >= 5000 - 20, 'refusals of the flood', 60_000);
    raw.send({ type: 'ping' });
    await until(() => raw.messages.some((m) => m.type === 'pong'), 'the flooding socket still answers pings');
    const errors = raw.messages.filter((m) => m.type === 'error');
    const codes = new Set(errors.map((m) => m.payload[0].extensions.code));
    expect([...codes].every((c) => c === 'LIMIT_EXCEEDED' || c === 'RATE_LIMITED'), [...codes].join()).toBe(true);
    const running = 5000 - errors.length;
    expect(running).toBeGreaterThan(0);
    expect(running).toBeLessThanOrEqual(20);
    // exactly the running ones receive an event
    await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "flooded" }) { version } }');
    await until(() => raw.messages.filter((m) => m.type === 'next').length === running, 'events on the running subscriptions');
    await new Promise((r) => setTimeout(r, 200));
    expect(raw.messages.filter((m) => m.type === 'next')).toHaveLength(running);
    raw.ws.close();
    await raw.closed;
    await stillServing();
  }, 120_000);
});

describe('an empty connection_init (how GraphiQL connects): authenticated by the first operation', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { wsInitTimeoutMs: 1500 } });
  });
  afterAll(() => server?.stop());

  it('runs an operation whose extensions.headers carry a valid Bearer token, as that user', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const raw = await openRaw(server.url);
    await raw.init({});
    raw.send({ id: '1', type: 'subscribe', payload: { query: '{ myUserProfile { userId } }', extensions: { headers: { Authorization: `Bearer ${alice.token}` } } } });
    const deadline = Date.now() + 10_000;
    while (!raw.messages.some((m) => m.type === 'next') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(raw.messages.find((m) => m.type === 'next')?.payload).toEqual({ data: { myUserProfile: { userId: 'alice' } } });
    expect(server.app.realtime.transport.connections().some((c) => c.info.appKey === app.appKey && c.info.userId === 'alice')).toBe(true);
    raw.ws.close();
  });

  it('closes with 4403 when the first operation has no or a bad token', async () => {
    for (const extensions of [undefined, { headers: { Authorization: 'Bearer nope' } }]) {
      const raw = await openRaw(server.url);
      await raw.init({});
      raw.send({ id: '1', type: 'subscribe', payload: { query: '{ __typename }', extensions } });
      expect((await raw.closed).code, JSON.stringify(extensions)).toBe(4403);
    }
  });

  it('closes with 4403 when no operation comes within the init timeout', async () => {
    const raw = await openRaw(server.url);
    await raw.init({});
    expect((await raw.closed).code).toBe(4403);
  });
});
