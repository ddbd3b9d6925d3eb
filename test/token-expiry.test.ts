import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ManualClock } from '../src/clock.ts';
import { createProfileClient, Events, SubscribeType, type SubscribeInfoEvent } from '../src/client/index.ts';
import { lifetimeOf, refreshLeadMs, TokenSource } from '../src/client/token-source.ts';
import { ExpiryWheel } from '../src/realtime/expiry-wheel.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';
import { record } from './helpers/sdk.ts';

/**
 * SPEC §1: a socket lives no longer than its token. The server closes it with 4403 `token
 * expired` within 2 s of the expiry (it accepts a token until 1 s past its expiry, like HTTP);
 * the SDK, given getToken(), reconnects with a fresh token before that and resumes its stream.
 */
let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  // an offline grace, as in production: a token refresh's reconnect is not an offline
  server = await startTestServer({ config: { presenceOfflineGraceMs: 3000 } });
  app = await server.newApp();
});
afterAll(() => server.stop());

const ME = 'query { myUserProfile { userId } }';

async function tokenFor(userId: string, expiresInSeconds: number): Promise<string> {
  const { issueUserToken } = await app.backend.ok<{ issueUserToken: { token: string } }>(
    'mutation($u: ID!, $e: Int) { issueUserToken(userId: $u, expiresInSeconds: $e) { token } }',
    { u: userId, e: expiresInSeconds },
  );
  return issueUserToken.token;
}

describe('a socket whose token expires', () => {
  it('is closed with 4403 "token expired" within 2 s after the 1 s tolerance, not before; it ran queries and mutations until then', async () => {
    const token = await tokenFor('exp-alice', 3);
    const live = connectLive(server.url, { authToken: token, platform: 'WEB' });
    await live.connected;
    const events = live.subscribe('subscription { ownUserProfileChanged { userId name } }');

    // 3.9 s later (within exp + 1 s): still open, and both kinds of operation run
    server.clock.advance(3900);
    await new Promise((r) => setTimeout(r, 600));
    expect((await live.execute(ME)).data).toEqual({ myUserProfile: { userId: 'exp-alice' } });
    expect((await live.execute('mutation { updateMyUserProfile(profile: { name: "A" }) { name } }')).data).toEqual({ updateMyUserProfile: { name: 'A' } });

    // past exp + 1 s: closed within 2 s of real time
    server.clock.advance(200);
    const started = performance.now();
    const closed = await Promise.race([live.closed, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
    expect(closed).toEqual({ code: 4403, reason: 'token expired' });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(events.errors).toEqual([]);
    await live.dispose();
  });

  it('a socket opened with a token that expires later stays open; each socket goes at its own token\'s expiry', async () => {
    const short = connectLive(server.url, { authToken: await tokenFor('exp-bob', 5), platform: 'WEB' });
    const long = connectLive(server.url, { authToken: await tokenFor('exp-bob', 3600), platform: 'IOS' });
    await Promise.all([short.connected, long.connected]);
    server.clock.advance(6100);
    expect(await short.closed).toEqual({ code: 4403, reason: 'token expired' });
    expect((await long.execute(ME)).data).toEqual({ myUserProfile: { userId: 'exp-bob' } });
    await Promise.all([short.dispose(), long.dispose()]);
  });

  it('an expired socket is let go like any closed one (no longer among the connections, so presence takes it offline)', async () => {
    const carol = connectLive(server.url, { authToken: await tokenFor('exp-carol', 2), platform: 'WEB' });
    await carol.connected;
    const carols = () => server.app.realtime.transport.connections().filter((c) => c.info.userId === 'exp-carol').length;
    expect(carols()).toBe(1);
    server.clock.advance(3100);
    expect(await carol.closed).toEqual({ code: 4403, reason: 'token expired' });
    await expect.poll(carols).toBe(0);
    await carol.dispose();
  });
});

describe('ExpiryWheel (one timer for every socket)', () => {
  it('ends each item on the first sweep after its moment, never at or before it; removed items never', () => {
    const clock = new ManualClock(10_000);
    const ended: string[] = [];
    const wheel = new ExpiryWheel<string>(clock, (item) => ended.push(item));
    wheel.add('a', 10_300);
    wheel.add('b', 10_999);
    wheel.add('c', 12_000);
    wheel.add('gone', 10_100);
    wheel.remove('gone');
    expect(wheel.size).toBe(3);
    clock.set(10_299);
    wheel.sweep();
    expect(ended).toEqual([]);
    clock.set(10_501);
    wheel.sweep();
    expect(ended).toEqual(['a']);
    clock.set(11_001);
    wheel.sweep();
    expect(ended).toEqual(['a', 'b']);
    // a jump far ahead (a suspended machine) ends the rest at once
    clock.set(10_000_000_000);
    wheel.sweep();
    expect(ended).toEqual(['a', 'b', 'c']);
    expect(wheel.size).toBe(0);
    // already past: ended as it is added
    wheel.add('late', 5);
    expect(ended.at(-1)).toBe('late');
    wheel.stop();
  });

  it('re-adding an item moves it (a token refreshed in place would)', () => {
    const clock = new ManualClock(0);
    const ended: string[] = [];
    const wheel = new ExpiryWheel<string>(clock, (item) => ended.push(item));
    wheel.add('x', 1000);
    wheel.add('x', 5000);
    clock.set(2000);
    wheel.sweep();
    expect(ended).toEqual([]);
    clock.set(5000); // at its moment it still lives (as a token is accepted up to that moment)
    wheel.sweep();
    expect(ended).toEqual([]);
    clock.set(5001);
    wheel.sweep();
    expect(ended).toEqual(['x']);
    wheel.stop();
  });
});

describe('the SDK with getToken()', () => {
  it('reads a JWT\'s lifetime from iat/exp and replaces it a tenth of its life (1–60 s) before it ends', async () => {
    const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
    expect(lifetimeOf(jwt({ iat: 100, exp: 103 }))).toBe(3000);
    expect(lifetimeOf(jwt({ exp: 103 }))).toBeUndefined();
    expect(lifetimeOf('not-a-jwt')).toBeUndefined();
    expect(refreshLeadMs(3000)).toBe(1000);
    expect(refreshLeadMs(100_000)).toBe(10_000);
    expect(refreshLeadMs(86_400_000)).toBe(60_000);
    let calls = 0;
    const source = new TokenSource(() => (calls++, jwt({ iat: 0, exp: 3 })));
    await source.get();
    await source.get();
    expect(calls).toBe(1); // kept while fresh
    expect(source.refreshInMs()).toBeGreaterThan(1500);
    expect(source.refreshInMs()).toBeLessThanOrEqual(2000);
    source.invalidate();
    await source.get();
    expect(calls).toBe(2);
    // a token of unknown life is asked for at every use
    const opaque = new TokenSource(() => (calls++, 'opaque'));
    await opaque.get();
    await opaque.get();
    expect(calls).toBe(4);
  });

  it('keeps a device connected across several 3 s tokens: no 4403, the stream resumes, no event is lost, no offline seen', async () => {
    // the server's clock follows real time here, so that its tokens really expire
    server.clock.set(Date.now());
    const follow = setInterval(() => server.clock.set(Date.now()), 20);
    try {
      let issued = 0;
      const dave = record(
        createProfileClient({
          url: server.url,
          getToken: () => (issued++, tokenFor('exp-dave', 3)),
          platform: 'WEB',
          webSocketImpl: WebSocket,
          retryWait: async () => {},
        }),
      );
      const { token: erinToken } = await app.user('exp-erin');
      const erin = record(
        createProfileClient({ url: server.url, token: erinToken, platform: 'WEB', webSocketImpl: WebSocket, retryWait: async () => {} }),
      );
      await dave.client.connect();
      await erin.client.connect();
      // erin watches dave's online status
      await erin.client.subscribeUserStatus(['exp-dave'], SubscribeType.ONLINE_STATUS, 3600);
      const seenBefore = erin.log.length;

      // dave's profile is changed by the app's backend every 250 ms for 7.5 s: over two token refreshes
      const names: string[] = [];
      for (let i = 0; i < 30; i++) {
        const name = `dave ${i}`;
        names.push(name);
        await app.backend.ok('mutation($n: String) { setUserProfile(userId: "exp-dave", profile: { name: $n }) { version } }', { n: name });
        await new Promise((r) => setTimeout(r, 250));
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(issued).toBeGreaterThanOrEqual(3);
      const disconnects = dave.of(Events.DISCONNECT);
      expect(disconnects.length).toBeGreaterThanOrEqual(2);
      expect(disconnects.every((d) => d.reason === 'token refresh' && d.willReconnect)).toBe(true);
      expect(disconnects.some((d) => d.code === 4403)).toBe(false);
      // every change reached dave's own stream, in order, none twice
      const own = dave.of(Events.OWN_USER_PROFILE_CHANGED).map((p) => p.name);
      expect(own).toEqual(names);
      // and erin never saw dave offline: each reconnect came within the offline grace
      const daveStatuses = erin.log.slice(seenBefore).filter((e) => e.event === Events.SUBSCRIBED_USER_STATUS_CHANGE).flatMap((e) => e.payload as SubscribeInfoEvent[]);
      expect(daveStatuses.flatMap((s) => s.details).some((d) => d.eventValue === 0)).toBe(false);
      await dave.client.disconnect();
      await erin.client.disconnect();
    } finally {
      clearInterval(follow);
    }
  }, 30_000);

  it('a fixed token that expires gives up with 4403 (nothing to refresh with)', async () => {
    server.clock.set(Date.now());
    const follow = setInterval(() => server.clock.set(Date.now()), 20);
    try {
      const frank = record(createProfileClient({ url: server.url, token: await tokenFor('exp-frank', 2), platform: 'WEB', webSocketImpl: WebSocket, retryWait: async () => {} }));
      await frank.client.connect();
      const [disconnect] = await frank.waitFor(Events.DISCONNECT, 1, 6000);
      expect(disconnect).toEqual({ code: 4403, reason: 'token expired', willReconnect: false });
    } finally {
      clearInterval(follow);
    }
  });
});
