// The SDK's reconnect waits: full-jitter backoff (reconnectDelay) and the wait a shedding server
// asks for with a 1013 close ("retry after <N> ms"), against a real server and a tiny ws one.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  createProfileClient,
  Events,
  RECONNECT_CAP_MS,
  RECONNECT_MIN_MS,
  RETRY_AFTER_MAX_MS,
  reconnectDelay,
  retryAfterMs,
  shedDelay,
  SubscribeType,
} from '../src/client/index.ts';
import { updateMy } from './helpers/profiles.ts';
import { dropConnections, sdkClient } from './helpers/sdk.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** Just below 1: the largest value Math.random() can return. */
const ALMOST_ONE = 1 - 2 ** -53;
/**
 * Timers fire on a loop clock of whole milliseconds, so a wait of N ms may measure N - 1 on
 * performance.now(): the "not before N ms" assertions allow that much and no more.
 */
const TIMER_GRANULARITY_MS = 1;

describe('reconnectDelay (full jitter)', () => {
  it('at 0 retries: uniformly in [RECONNECT_MIN_MS, 500 ms]', () => {
    expect(reconnectDelay(0, () => 0)).toBe(RECONNECT_MIN_MS);
    expect(reconnectDelay(0, () => 0.5)).toBe(250);
    expect(reconnectDelay(0, () => ALMOST_ONE)).toBeLessThanOrEqual(500);
    expect(reconnectDelay(0, () => ALMOST_ONE)).toBeGreaterThan(490);
  });

  it('the bound doubles per retry up to the 30 s cap, and stays there', () => {
    expect(reconnectDelay(1, () => 0.5)).toBe(500);
    expect(reconnectDelay(5, () => 0.5)).toBe(8000);
    // 0.5 s · 2^6 = 32 s: capped
    expect(reconnectDelay(6, () => 0.5)).toBe(RECONNECT_CAP_MS / 2);
    for (const retries of [6, 7, 20, 1000, 1e9, Number.MAX_SAFE_INTEGER]) {
      expect(reconnectDelay(retries, () => ALMOST_ONE)).toBeLessThanOrEqual(RECONNECT_CAP_MS);
      expect(reconnectDelay(retries, () => ALMOST_ONE)).toBeGreaterThan(RECONNECT_CAP_MS - 10);
      expect(reconnectDelay(retries, () => 0)).toBe(RECONNECT_MIN_MS);
    }
  });

  it('with Math.random: never below the minimum nor above min(30 s, 0.5 s · 2^retries)', () => {
    for (let retries = 0; retries <= 40; retries++) {
      const bound = Math.min(RECONNECT_CAP_MS, 500 * 2 ** retries);
      for (let i = 0; i < 500; i++) {
        const delay = reconnectDelay(retries);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(RECONNECT_MIN_MS);
        expect(delay).toBeLessThanOrEqual(bound);
      }
    }
  });
});

describe('retryAfterMs and shedDelay', () => {
  it('reads N from a 1013 close whose reason contains "retry after <N> ms", nothing from others', () => {
    expect(retryAfterMs(1013, 'retry after 300 ms')).toBe(300);
    expect(retryAfterMs(1013, 'overloaded; Retry after 1500ms')).toBe(1500);
    expect(retryAfterMs(1013, 'try again later')).toBeUndefined();
    expect(retryAfterMs(1012, 'retry after 300 ms')).toBeUndefined();
    expect(retryAfterMs(1006, '')).toBeUndefined();
    // a huge hint is capped (setTimeout would fire at once beyond 2^31 - 1 ms)
    expect(retryAfterMs(1013, 'retry after 99999999999999 ms')).toBe(RETRY_AFTER_MAX_MS);
  });

  it('waits N plus a jitter of up to N', () => {
    expect(shedDelay(300, () => 0)).toBe(300);
    expect(shedDelay(300, () => 0.5)).toBe(450);
    expect(shedDelay(300, () => ALMOST_ONE)).toBe(599);
    for (let i = 0; i < 1000; i++) {
      const delay = shedDelay(300);
      expect(delay).toBeGreaterThanOrEqual(300);
      expect(delay).toBeLessThan(600);
    }
  });
});

describe('a 1013 "retry after 300 ms" close from the real server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('the SDK reconnects, not before 300 ms, resumes and streams again', async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const bob = await app.user('bob');
    // (sdkClient's retryWait is the helper's fast one, 100 ms at the first retry: the hint wins)
    const alice = await sdkClient(server, app, 'alice');
    const at: Record<string, number[]> = { [Events.DISCONNECT]: [], [Events.CONNECTING]: [] };
    alice.client.addEventListener(Events.DISCONNECT, () => at[Events.DISCONNECT]!.push(performance.now()));
    alice.client.addEventListener(Events.CONNECTING, () => at[Events.CONNECTING]!.push(performance.now()));
    await alice.client.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 3600);
    await alice.client.connect();
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);

    expect(dropConnections(server, app, 'alice', 1013, 'overloaded: retry after 300 ms')).toBe(1);
    await alice.waitFor(Events.CONNECTED, 2);
    expect(alice.of(Events.DISCONNECT)).toEqual([{ code: 1013, reason: 'overloaded: retry after 300 ms', willReconnect: true }]);
    // the first CONNECTING was connect()'s own; the second is the reconnect
    expect(at[Events.CONNECTING]!).toHaveLength(2);
    expect(at[Events.CONNECTING]![1]! - at[Events.DISCONNECT]![0]!).toBeGreaterThanOrEqual(300 - TIMER_GRANULARITY_MS);
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 8);

    await updateMy(bob, { name: 'Bob after the shed' });
    await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.userProfile?.name === 'Bob after the shed');
    await alice.client.disconnect();
  });
});

describe('a tiny ws server that sheds the first two connections before connection_ack', () => {
  let http: Server;
  let wss: WebSocketServer;
  let url: string;
  /** when each connection arrived (performance.now()) */
  const arrivals: number[] = [];
  const SHED = 2;

  beforeAll(async () => {
    // connect() asks for myUserProfile over HTTP once the stream caught up
    http = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: { myUserProfile: { userId: 'alice' } } }));
      });
    });
    wss = new WebSocketServer({ server: http, path: '/graphql' });
    wss.on('connection', (socket) => {
      arrivals.push(performance.now());
      if (arrivals.length <= SHED) return socket.close(1013, 'retry after 300 ms');
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { type: string; id?: string };
        if (message.type === 'connection_init') socket.send(JSON.stringify({ type: 'connection_ack' }));
        if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
        if (message.type === 'subscribe') {
          const caughtUp = { cursor: 'cursor-1', event: { __typename: 'UserEventsCaughtUp', resumed: false } };
          socket.send(JSON.stringify({ id: message.id, type: 'next', payload: { data: { userEvents: caughtUp } } }));
        }
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
  });
  afterAll(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    await new Promise((resolve) => http.close(resolve));
  });

  it('with the default retryWait: each attempt after a shed comes not before 300 ms, then connect() succeeds', async () => {
    const client = createProfileClient({ url, token: 'any', webSocketImpl: WebSocket });
    const disconnects: { code: number; reason: string; willReconnect: boolean }[] = [];
    client.addEventListener(Events.DISCONNECT, (info) => disconnects.push(info));
    expect(await client.connect()).toEqual({ code: 0, data: { userId: 'alice' } });
    expect(disconnects).toEqual(Array(SHED).fill({ code: 1013, reason: 'retry after 300 ms', willReconnect: true }));
    expect(arrivals).toHaveLength(SHED + 1);
    // (measured on the server: each gap also holds the close and the new handshake)
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(300 - TIMER_GRANULARITY_MS);
    await client.disconnect();
  });
});
