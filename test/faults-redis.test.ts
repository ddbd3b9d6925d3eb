/**
 * SPEC §9, faults: Redis (which only carries "something committed" notices between instances)
 * dies under write load and comes back. Nothing may notice but latency: writes keep working, no
 * graphql-ws socket is closed, and every change committed meanwhile reaches its subscribers (on
 * the writing instance and on the other one), each once and in order: already during the outage
 * (the relays poll the event log every EVENT_POLL_MS) and certainly once Redis is back. The old
 * "close every socket with 1012 so that clients resync" is gone: a 1012 here fails the test.
 *
 * Runs on a private redis-server (own port, killed and restarted here) and the shared PostgreSQL
 * (DATABASE_URL), with two server processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { hasRedisServer, startPrivateRedis, type PrivateRedis } from './helpers/private-services.ts';
import { connectLive, type LiveClient, type LiveSubscription } from './helpers/ws.ts';

const { DATABASE_URL } = process.env;
const OPERATOR = 'faults-redis-operator-token-0123456789';
const POLL_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const STATUS = `subscription { subscribedUserStatusChange(types: [USER_PROFILE]) {
  __typename
  ... on UserStatusChange { userId userProfile { name } }
  ... on SubscribedUserStatusSyncFinished { subscribeType } } }`;
const USER_EVENTS = `subscription { userEvents { cursor event {
  __typename
  ... on UserEventsCaughtUp { resumed }
  ... on UserStatusChange { userId subscribeType userProfile { name } } } } }`;

type StatusEvent = {
  subscribedUserStatusChange: { __typename: 'UserStatusChange'; userId: string; userProfile: { name: string | null } | null } | { __typename: 'SubscribedUserStatusSyncFinished' };
};
type UserEvent = {
  userEvents: { cursor: string; event: { __typename: string; userId?: string; subscribeType?: string; userProfile?: { name: string | null } | null } };
};

/** Profile names of one subject as a status stream delivered them (after its sync). */
const statusNames = (sub: LiveSubscription<StatusEvent>, subject: string) =>
  sub.events.flatMap((e) => {
    const s = e.subscribedUserStatusChange;
    return s.__typename === 'UserStatusChange' && s.userId === subject && s.userProfile?.name ? [s.userProfile.name] : [];
  });
const userEventNames = (sub: LiveSubscription<UserEvent>, subject: string) =>
  sub.events.flatMap((e) => {
    const ev = e.userEvents.event;
    return ev.__typename === 'UserStatusChange' && ev.subscribeType === 'USER_PROFILE' && ev.userId === subject && ev.userProfile?.name ? [ev.userProfile.name] : [];
  });

/** Renames a user as fast as the server answers (one at a time), recording what committed. */
class Writer {
  readonly committed: string[] = [];
  readonly failures: string[] = [];
  private stopped = false;
  private done: Promise<void> | undefined;
  constructor(
    private readonly client: GraphQLClient,
    private readonly prefix: string,
  ) {}
  start(): void {
    this.done = (async () => {
      for (let i = 0; !this.stopped; i++) {
        const name = `${this.prefix} ${i}`;
        const result = await this.client
          .request('mutation($n: String!) { updateMyUserProfile(profile: { name: $n }) { name } }', { n: name })
          .catch((e: unknown) => ({ errors: [{ message: String(e) }], data: null }));
        if (result.errors?.length || !result.data) this.failures.push(`${name}: ${JSON.stringify(result.errors)}`);
        else this.committed.push(name);
        await sleep(40);
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function ready(server: ServerProcess): Promise<{ status: number; body: unknown }> {
  const res = await fetch(server.url.replace(/\/graphql$/, '/ready'));
  return { status: res.status, body: await res.json() };
}

async function waitForReady(server: ServerProcess, status: 'ready' | 'degraded', timeoutMs = 15_000): Promise<void> {
  let last: unknown;
  await waitFor(`/ready ${status}`, () => (last as { body?: { status?: string } } | undefined)?.body?.status === status, timeoutMs, () => last, async () => {
    last = await ready(server);
  });
}

async function waitFor(what: string, done: () => boolean, timeoutMs: number, details: () => unknown, refresh?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await refresh?.(), !done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(details())}`);
    await sleep(50);
  }
}

describe.skipIf(!DATABASE_URL || !hasRedisServer())('Redis killed and restarted under write load, two instances (needs DATABASE_URL)', () => {
  let redis: PrivateRedis;
  let a: ServerProcess;
  let b: ServerProcess;
  const sockets: LiveClient[] = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    const env = {
      DATABASE_URL: DATABASE_URL!,
      REDIS_URL: redis.url,
      TOKEN_SECRET: 'faults-redis-token-secret-0123456789-0123456789',
      SECRET_ENCRYPTION_KEY: 'test-secret-encryption-key-0123456789-0123456789',
      OPERATOR_TOKEN: OPERATOR,
      DATABASE_POOL_SIZE: '4',
      EVENT_POLL_MS: String(POLL_MS),
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    };
    [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  }, 90_000);
  afterAll(async () => {
    await Promise.allSettled(sockets.map((s) => s.dispose()));
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await redis?.destroy();
  }, 60_000);

  it('closes no socket and delivers every change committed during the outage, on both instances, once and in order', async () => {
    const creds = (await new GraphQLClient(a.url, bearer(OPERATOR)).ok('mutation { createApp(name: "redis faults") { appKey appSecret } }')).createApp;
    const backendA = new GraphQLClient(a.url, basic(creds.appKey, creds.appSecret));
    await backendA.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const token = async (userId: string) => (await backendA.ok('mutation($u: ID!) { issueUserToken(userId: $u) { token } }', { u: userId })).issueUserToken.token as string;
    const [alice, bob, carol, dave] = await Promise.all([token('alice'), token('bob'), token('carol'), token('dave')]);

    // alice on A watches bob, carol on B watches dave; both are written through B, so that A
    // commits nothing itself and hears of B's commits only through Redis notices or its polling
    await new GraphQLClient(a.url, bearer(alice)).ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["bob"], expiry: 3600) { failedUserIds } }');
    await new GraphQLClient(b.url, bearer(carol)).ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["dave"], expiry: 3600) { failedUserIds } }');
    await sleep(3 * POLL_MS); // both relays have passed the subscribes (no late push of the new targets)

    const aliceLive = connectLive(a.url, { authToken: alice, platform: 'WEB', deviceId: 'alice-web' });
    const carolLive = connectLive(b.url, { authToken: carol, platform: 'IOS', deviceId: 'carol-ios' });
    sockets.push(aliceLive, carolLive);
    const closes: { who: string; code: number; reason: string }[] = [];
    for (const [who, live] of [['alice on A', aliceLive], ['carol on B', carolLive]] as const) {
      live.client.on('closed', (event) => {
        const e = event as { code: number; reason: string };
        closes.push({ who, code: e.code, reason: String(e.reason) });
      });
    }
    await Promise.all([aliceLive.connected, carolLive.connected]);
    const aliceStatus = aliceLive.subscribe<StatusEvent>(STATUS);
    const carolStatus = carolLive.subscribe<StatusEvent>(STATUS);
    const aliceStream = aliceLive.subscribe<UserEvent>(USER_EVENTS);
    const carolStream = carolLive.subscribe<UserEvent>(USER_EVENTS);
    const caughtUp = (s: LiveSubscription<UserEvent>) => s.events.some((e) => e.userEvents.event.__typename === 'UserEventsCaughtUp');
    await Promise.all([aliceStatus.waitFor(2, 10_000), carolStatus.waitFor(2, 10_000)]); // the watched user, then SyncFinished
    await waitFor('both userEvents streams caught up', () => caughtUp(aliceStream) && caughtUp(carolStream), 10_000, () => [aliceStream.events, carolStream.events]);

    const bobWriter = new Writer(new GraphQLClient(b.url, bearer(bob)), 'bob');
    const daveWriter = new Writer(new GraphQLClient(b.url, bearer(dave)), 'dave');
    const received = () => ({
      bobOnA: statusNames(aliceStatus, 'bob'),
      daveOnB: statusNames(carolStatus, 'dave'),
      bobOnAStream: userEventNames(aliceStream, 'bob'),
      daveOnBStream: userEventNames(carolStream, 'dave'),
    });
    const allArrived = (bobCount: number, daveCount: number) => () => {
      const r = received();
      return r.bobOnA.length >= bobCount && r.bobOnAStream.length >= bobCount && r.daveOnB.length >= daveCount && r.daveOnBStream.length >= daveCount;
    };
    bobWriter.start();
    daveWriter.start();

    // healthy, under load
    await sleep(1_000);
    await waitFor('delivery while healthy', allArrived(1, 1), 10_000, received);

    // --- Redis dies ----------------------------------------------------------------------------------
    await redis.kill();
    const outageStart = { bob: bobWriter.committed.length, dave: daveWriter.committed.length };
    await sleep(3_000);
    const duringOutage = { bob: bobWriter.committed.length, dave: daveWriter.committed.length };
    expect(duringOutage.bob - outageStart.bob, 'writes through B committed during the outage').toBeGreaterThan(5);
    expect(duringOutage.dave - outageStart.dave, 'writes through B committed during the outage').toBeGreaterThan(5);
    // still down: what B committed during the outage reaches A from the log (polling)
    await waitFor('delivery during the outage', allArrived(duringOutage.bob, duringOutage.dave), 10_000, () => ({ duringOutage, received: received() }));
    expect(closes).toEqual([]);
    for (const server of [a, b]) {
      expect(server.child.exitCode).toBeNull();
      // still in service (real time works from the log), and saying what does not work
      expect(await ready(server)).toEqual({ status: 200, body: { status: 'degraded', database: 'ok', redis: 'unreachable' } });
    }

    // --- Redis is back ------------------------------------------------------------------------------
    await redis.start();
    await sleep(2_500);
    await Promise.all([bobWriter.stop(), daveWriter.stop()]);
    expect(bobWriter.failures).toEqual([]);
    expect(daveWriter.failures).toEqual([]);
    const total = { bob: bobWriter.committed.length, dave: daveWriter.committed.length };
    await waitFor('every committed change delivered', allArrived(total.bob, total.dave), 15_000, () => ({ total, received: received() }));
    await sleep(4 * POLL_MS); // anything duplicated would have arrived by now

    // every change, on both streams of both receivers, exactly once and in commit order
    const r = received();
    expect(r.bobOnA).toEqual(bobWriter.committed);
    expect(r.bobOnAStream).toEqual(bobWriter.committed);
    expect(r.daveOnB).toEqual(daveWriter.committed);
    expect(r.daveOnBStream).toEqual(daveWriter.committed);
    for (const s of [aliceStatus, carolStatus, aliceStream, carolStream]) expect(s.errors).toEqual([]);

    // no socket was closed, and both still work
    expect(closes).toEqual([]);
    expect((await aliceLive.execute('{ __typename }')).data).toEqual({ __typename: 'Query' });
    expect((await carolLive.execute('{ __typename }')).data).toEqual({ __typename: 'Query' });

    // and changes still flow from B to A after the outage
    await new GraphQLClient(b.url, bearer(bob)).ok('mutation { updateMyUserProfile(profile: { name: "bob after" }) { version } }');
    await waitFor('a change after the outage', () => statusNames(aliceStatus, 'bob').at(-1) === 'bob after', 10_000, received);

    // the outage was noticed and logged, not crashed on
    for (const server of [a, b]) {
      expect(server.child.exitCode).toBeNull();
      expect(server.output()).toContain('redis connection problem');
      expect(server.output()).not.toContain('resync');
      await waitForReady(server, 'ready');
    }
    expect(closes).toEqual([]);
  }, 120_000);

  it('with Redis down, a new socket connects, subscribes and receives a change made on the other instance; /ready says degraded; no stack on stderr', async () => {
    const creds = (await new GraphQLClient(a.url, bearer(OPERATOR)).ok('mutation { createApp(name: "redis down") { appKey appSecret } }')).createApp;
    const backend = new GraphQLClient(a.url, basic(creds.appKey, creds.appSecret));
    await backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const token = async (userId: string) => (await backend.ok('mutation($u: ID!) { issueUserToken(userId: $u) { token } }', { u: userId })).issueUserToken.token as string;
    const [erin, frank] = await Promise.all([token('erin'), token('frank')]);
    await new GraphQLClient(a.url, bearer(erin)).ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["frank"], expiry: 3600) { failedUserIds } }');

    await redis.kill();
    for (const server of [a, b]) await waitForReady(server, 'degraded');

    const erinLive = connectLive(a.url, { authToken: erin, platform: 'WEB', deviceId: 'erin-web' });
    sockets.push(erinLive);
    const closes: number[] = [];
    erinLive.client.on('closed', (event) => closes.push((event as { code: number }).code));
    await erinLive.connected;
    const erinStatus = erinLive.subscribe<StatusEvent>(STATUS);
    await erinStatus.waitFor(2, 10_000); // frank, then SyncFinished
    // written through B: A learns of it from the log alone (no Redis notice can reach it)
    const writtenAt = Date.now();
    await new GraphQLClient(b.url, bearer(frank)).ok('mutation { updateMyUserProfile(profile: { name: "frank while redis is down" }) { version } }');
    await waitFor('the change on the other instance', () => statusNames(erinStatus, 'frank').includes('frank while redis is down'), 10_000, () => erinStatus.events);
    const latencyMs = Date.now() - writtenAt;
    console.log(`Redis down: B's write reached a new socket on A after ${latencyMs} ms (EVENT_POLL_MS=${POLL_MS})`);
    expect(latencyMs).toBeLessThan(POLL_MS * 2 + 2000);
    expect(erinStatus.errors).toEqual([]);
    expect((await erinLive.execute('{ myUserProfile { userId } }')).data).toEqual({ myUserProfile: { userId: 'erin' } });
    expect(closes).toEqual([]);

    for (const server of [a, b]) {
      expect(await ready(server)).toEqual({ status: 200, body: { status: 'degraded', database: 'ok', redis: 'unreachable' } });
      expect(server.child.exitCode).toBeNull();
      // warnings through the logger (stdout); stderr stays empty: no ioredis stack, no unhandled rejection
      expect(server.errors()).toBe('');
      expect(server.output()).not.toMatch(/^\s+at /m);
      expect(server.output()).not.toMatch(/MaxRetriesPerRequest|Unhandled error event/);
    }

    await redis.start();
    for (const server of [a, b]) await waitForReady(server, 'ready');
    expect(await ready(a)).toEqual({ status: 200, body: { status: 'ready', database: 'ok', redis: 'ok' } });
  }, 90_000);
});
