import { randomInt } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { basic, bearer, GraphQLClient } from './helpers/client.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';

/**
 * SPEC §14, unauthenticated abuse: per-IP limits for requests without valid credentials and for
 * failed authentications (HTTP and WebSocket upgrades), per-user connection attempts, per-app
 * wrong secrets; the client IP from the socket, or from X-Forwarded-For only through TRUST_PROXY.
 * Each server here turns on only the limit it tests (the shared test server has them off).
 */
const ME = 'query { myUserProfile { userId } }';

/**
 * Addresses of this run only: with REDIS_URL the buckets live in Redis, which outlives the run
 * (and is shared with other test files), so no two runs may count the same address. Forwarded
 * ones are IPv6 documentation addresses, one /64 each (the unit the limits count IPv6 in).
 */
const RUN = randomInt(0x10000).toString(16);
const addr = (n: number) => `2001:db8:${RUN}:${n.toString(16)}::1`;
/** A loopback source address of this run, for tests of the socket's own address. */
const loopback = () => `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}`;

/** An anonymous POST of ME from a given source address; its status and first error code. */
function anonymousFrom(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', localAddress, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, code: JSON.parse(text).errors?.[0]?.extensions?.code }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ query: ME }));
  });
}

/** A client whose requests a trusted proxy at 127.0.0.1 says came from `ip`. */
const from = (client: GraphQLClient, ip: string) => client.withHeaders({ 'x-forwarded-for': ip });

/** Opens a socket; resolves with the upgrade's HTTP status when it is refused, or 101. */
function upgradeStatus(url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers, localAddress });
    ws.once('unexpected-response', (_req, res) => (res.resume(), resolve(res.statusCode!)));
    ws.once('open', () => (ws.close(), resolve(101)));
    ws.once('error', reject);
  });
}

describe('requests without valid credentials, per client IP', () => {
  let server: TestServer;
  let app: TestApp;
  beforeAll(async () => {
    server = await startTestServer({ config: { rateLimitIpPerSecond: 0.001, rateLimitIpBurst: 5, trustProxy: ['127.0.0.1'] } });
    app = await server.newApp();
  });
  afterAll(() => server.stop());

  it('the 6th anonymous or refused request of an IP answers 429 RATE_LIMITED with Retry-After; valid callers from it are not counted', async () => {
    const alice = await app.user('alice');
    const attacker = addr(1);
    const anonymous = from(server.anonymous, attacker);
    const badToken = from(new GraphQLClient(server.url, bearer('not.a.token')), attacker);
    for (let i = 0; i < 3; i++) expect((await anonymous.fails(ME)).extensions?.code).toBe('UNAUTHENTICATED');
    // valid credentials from the same IP draw nothing from its budget
    for (let i = 0; i < 10; i++) expect(await from(alice, attacker).ok(ME)).toEqual({ myUserProfile: { userId: 'alice' } });
    for (let i = 0; i < 2; i++) expect((await badToken.fails(ME)).extensions?.code).toBe('UNAUTHENTICATED');
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': attacker },
      body: JSON.stringify({ query: ME }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await response.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'ip' });
    expect(body.errors[0]!.extensions.http).toBeUndefined();
    // a valid caller from that IP still works; another IP is not affected
    expect(await from(alice, attacker).ok(ME)).toEqual({ myUserProfile: { userId: 'alice' } });
    expect((await from(server.anonymous, addr(2)).fails(ME)).extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('X-Forwarded-For counts only from a trusted proxy: a client naming itself gets no new budget', async () => {
    const untrusting = await startTestServer({ config: { rateLimitIpPerSecond: 0.001, rateLimitIpBurst: 3 } });
    try {
      // every request names another address; the server counts the socket's
      const source = loopback();
      const codes: (string | undefined)[] = [];
      for (let i = 0; i < 5; i++) codes.push((await anonymousFrom(untrusting.url, source, { 'x-forwarded-for': addr(100 + i) })).code);
      expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED', 'RATE_LIMITED']);
    } finally {
      await untrusting.stop();
    }
    // behind the trusted proxy, only the hop the proxy appended counts: a forged left part does not
    const forged = `10.9.9.9, ${addr(50)}`;
    for (let i = 0; i < 5; i++) await from(server.anonymous, forged).fails(ME);
    expect((await from(server.anonymous, `1.1.1.1, ${addr(50)}`).fails(ME)).extensions?.code).toBe('RATE_LIMITED');
  });
});

describe('Basic auth under a flood of wrong secrets', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { rateLimitIpPerSecond: 0.001, rateLimitIpBurst: 50, rateLimitAppAuthFailuresPerSecond: 0.001, rateLimitAppAuthFailuresBurst: 20, trustProxy: ['127.0.0.1'] } });
  });
  afterAll(() => server.stop());

  const SETTINGS = 'query { appSettings { defaultProfileVisibility } }';

  it('150 distinct wrong secrets cost no slow hash once the app has its fast check; its own backend passes meanwhile', async () => {
    const app = await server.newApp();
    const backend = from(app.backend, addr(10));
    await backend.ok(SETTINGS); // the first right call writes the app's fast check
    const slowBefore = server.app.services.callers.stats.slowHashes;
    const flood = Array.from({ length: 150 }, (_, i) => from(new GraphQLClient(server.url, basic(app.appKey, `wrong-${i}`)), addr(9)).request(SETTINGS));
    const own = backend.request(SETTINGS);
    const [results, mine] = await Promise.all([Promise.all(flood), own]);
    expect(mine.errors).toBeUndefined();
    expect(server.app.services.callers.stats.slowHashes).toBe(slowBefore);
    const codes = results.map((r) => r.errors?.[0]?.extensions?.code);
    expect(codes.every((c) => c === 'UNAUTHENTICATED' || c === 'RATE_LIMITED')).toBe(true);
    // the app's wrong-secret budget (20) ran out: the rest were refused as RATE_LIMITED
    expect(codes.filter((c) => c === 'UNAUTHENTICATED').length).toBeLessThanOrEqual(20);
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(130);
    // and the right secret still passes, from anywhere
    expect((await from(app.backend, addr(11)).request(SETTINGS)).errors).toBeUndefined();
  });

  it('an app without a fast check yet: slow hashes are bounded and the excess refused at once; the right secret then works', async () => {
    const app = await server.newApp();
    const slowBefore = server.app.services.callers.stats.slowHashes;
    const flood = Array.from({ length: 150 }, (_, i) => from(new GraphQLClient(server.url, basic(app.appKey, `wrong-${i}`)), addr(0x1000 + i)).request(SETTINGS));
    const results = await Promise.all(flood);
    expect(results.every((r) => ['UNAUTHENTICATED', 'RATE_LIMITED'].includes(String(r.errors?.[0]?.extensions?.code)))).toBe(true);
    // at most the two running plus sixteen waiting were hashed at all
    expect(server.app.services.callers.stats.slowHashes - slowBefore).toBeLessThanOrEqual(18 + 20);
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect((await from(app.backend, addr(20)).request(SETTINGS)).errors).toBeUndefined();
  });

  it("an app's first burst of calls with its right secret: no slow hash for a new app, one for all of them for an app without a fast check, none refused", async () => {
    // createApp writes the fast check: a new app's backend never pays the slow hash
    const fresh = await server.newApp();
    const freshBefore = server.app.services.callers.stats.slowHashes;
    const first = await Promise.all(Array.from({ length: 20 }, () => from(fresh.backend, addr(41)).request(SETTINGS)));
    expect(first.map((r) => r.errors?.[0]?.extensions?.code ?? 'ok')).toEqual(Array(20).fill('ok'));
    expect(server.app.services.callers.stats.slowHashes - freshBefore).toBe(0);
    // an app from before the fast check was written at creation: its first burst shares one slow check
    const app = await server.newApp();
    await server.app.services.db.deleteFrom('appSecretChecks').where('appKey', '=', app.appKey).execute();
    const slowBefore = server.app.services.callers.stats.slowHashes;
    const results = await Promise.all(Array.from({ length: 40 }, () => from(app.backend, addr(40)).request(SETTINGS)));
    expect(results.map((r) => r.errors?.[0]?.extensions?.code ?? 'ok')).toEqual(Array(40).fill('ok'));
    expect(server.app.services.callers.stats.slowHashes - slowBefore).toBe(1);
  });

  it('an IP that spent its failure budget has new credentials refused unchecked (guessing stays slow)', async () => {
    const app = await server.newApp();
    await from(app.backend, addr(30)).ok(SETTINGS);
    const guesser = addr(77);
    for (let i = 0; i < 50; i++) await from(new GraphQLClient(server.url, basic(app.appKey, `guess-${i}`)), guesser).request(SETTINGS);
    // even the right secret, new to this instance from that IP's point of view, is not checked now
    const other = await server.newApp();
    const refused = await from(other.backend, guesser).request(SETTINGS);
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });
});

describe('WebSocket upgrades and connects', () => {
  it('upgrades per IP: past the budget the upgrade is answered 429 with Retry-After, before any socket exists', async () => {
    const server = await startTestServer({ config: { rateLimitIpConnectsPerSecond: 0.001, rateLimitIpConnectsBurst: 3, trustProxy: ['127.0.0.1'] } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push(await upgradeStatus(server.url, { 'x-forwarded-for': addr(5) }));
      expect(statuses).toEqual([101, 101, 101, 429, 429]);
      expect(await upgradeStatus(server.url, { 'x-forwarded-for': addr(6) })).toBe(101);
    } finally {
      await server.stop();
    }
  });

  it('refused tokens at connection_init count against the IP: then its upgrades are refused', async () => {
    const server = await startTestServer({ config: { rateLimitIpPerSecond: 0.001, rateLimitIpBurst: 3 } });
    try {
      const source = loopback();
      // a graphql-ws client whose sockets come from that source address
      const FromSource = class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { localAddress: source });
        }
      };
      for (let i = 0; i < 3; i++) {
        const closed = await new Promise<number>((resolve) => {
          const client = createClient({ url: server.url.replace(/^http/, 'ws'), webSocketImpl: FromSource, connectionParams: { authToken: `forged-${i}` }, lazy: false, retryAttempts: 0, onNonLazyError: () => {}, on: { closed: (e) => resolve((e as { code: number }).code) } });
          void client;
        });
        expect(closed).toBe(4403);
      }
      expect(await upgradeStatus(server.url, {}, source)).toBe(429);
      // another address is not affected
      expect(await upgradeStatus(server.url, {}, loopback())).toBe(101);
    } finally {
      await server.stop();
    }
  });

  it('a user in a connect/close loop: past its budget connects close with 1013 and a retry hint, so its watchers get a bounded number of changes', async () => {
    const server = await startTestServer({ config: { rateLimitUserConnectsPerSecond: 1, rateLimitUserConnectsBurst: 20 } });
    try {
      const app = await server.newApp();
      const watcher = await app.user('watcher');
      await watcher.ok('mutation { subscribeUserStatus(type: ONLINE_STATUS, userIds: ["churner"], expiry: 3600) { failedUserIds } }');
      const watching = connectLive(server.url, { authToken: watcher.token, platform: 'WEB' });
      await watching.connected;
      const changes = watching.subscribe('subscription { subscribedUserStatusChange(types: [ONLINE_STATUS]) { __typename } }');
      const { token } = await app.user('churner');
      const closes: number[] = [];
      const started = performance.now();
      while (performance.now() - started < 3000) {
        const live = connectLive(server.url, { authToken: token, platform: 'WEB' });
        const outcome = await Promise.race([live.connected.then(() => 'ack'), live.closed.then((c) => c.code)]);
        if (outcome !== 'ack') {
          closes.push(outcome as number);
          const { reason } = await live.closed;
          expect(reason).toMatch(/^too many connection attempts: retry after \d+ ms$/);
        }
        await live.dispose();
      }
      // about 20 + 3 accepted; every other attempt was closed with 1013
      expect(closes.length).toBeGreaterThan(0);
      expect(closes.every((c) => c === 1013)).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      // at most an online and an offline per accepted connect (plus the first sync)
      expect(changes.events.length).toBeLessThanOrEqual(2 * 24 + 1);
      await watching.dispose();
    } finally {
      await server.stop();
    }
  });
});
