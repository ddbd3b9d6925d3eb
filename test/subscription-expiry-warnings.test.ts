import { Migrator } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Events, SubscribeType } from '../src/client/index.ts';
import { readEnvironment } from '../src/config.ts';
import { connectDatabase, migrateToLatest } from '../src/db/connect.ts';
import { migrationProvider } from '../src/db/migrations/index.ts';
import { RELATION_SUBSCRIPTION, SUBSCRIBE, UNSUBSCRIBE, closeLive, goLive, newUserRow, openStream, subscribe, subscribedUsers, waitUntil } from './helpers/realtime-fixtures.ts';
import { sdkClient } from './helpers/sdk.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import type { LiveClient, LiveSubscription } from './helpers/ws.ts';

/**
 * Subscription expiry warnings (SPEC §11, contract-next/11-privacy.graphql): one
 * SubscriptionsExpiring per subscriber, type and minute of expiry, on the subscriber's userEvents,
 * at expiresAt − min(SUBSCRIPTION_EXPIRY_WARNING_SECONDS, expiry / 2). Real servers, real
 * graphql-ws clients; the servers' clocks are moved and the sweep is run at once (sweepNow) or
 * awaited (its own timer).
 */

/**
 * The sweeps of this file's servers run when a test asks (sweepNow), except where a test checks
 * the timer. Their clocks run in a year of their own: on a PostgreSQL shared with other test files,
 * whose servers' clocks are in 2026, no other server finds these warnings due before their time,
 * and these servers find none of theirs (those subscriptions expired long ago, by this clock).
 */
const ERA = Date.parse('2031-01-01T00:00:00.000Z');
const MANUAL_SWEEPS = { subscriptionExpirySweepMs: 3_600_000 };

async function startServer(config: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer({ config: { ...MANUAL_SWEEPS, ...config?.config } });
  s.clock.set(ERA);
  return s;
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.stop());

/** each test's apps: their subscriptions are removed after it, so that no test's pending warnings fall due in the next one's sweeps */
const apps: string[] = [];
async function newApp(s: TestServer = server): Promise<TestApp> {
  const app = await s.newApp();
  apps.push(app.appKey);
  return app;
}
afterEach(async () => {
  if (apps.length) await server.app.services.db.deleteFrom('statusSubscriptions').where('appKey', 'in', apps.splice(0)).execute();
});

const USER_EVENTS = `subscription($after: String) { userEvents(after: $after) { cursor occurredAt event {
  __typename
  ... on SubscriptionsExpiring { subscribeType userIds expiresAt }
  ... on SubscriptionRelationChange { operationType subscribeType userIds expiry }
  ... on UserStatusChange { userId subscribeType }
  ... on UserEventsCaughtUp { resumed }
} } }`;

interface Envelope {
  cursor: string;
  occurredAt: string;
  event: any;
}
interface Warning {
  __typename: 'SubscriptionsExpiring';
  subscribeType: 'ONLINE_STATUS' | 'USER_PROFILE';
  userIds: string[];
  expiresAt: string;
}

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const iso = (ms: number) => new Date(ms).toISOString();
const envs = (sub: LiveSubscription<any>): Envelope[] => sub.events.map((e) => e.userEvents as Envelope);
const warnings = (sub: LiveSubscription<any>): Warning[] => envs(sub).map((e) => e.event).filter((e) => e.__typename === 'SubscriptionsExpiring');
const caughtUp = (sub: LiveSubscription<any>) => envs(sub).some((e) => e.event.__typename === 'UserEventsCaughtUp');
const warning = (subscribeType: Warning['subscribeType'], userIds: string[], expiresAtMs: number): Warning => ({ __typename: 'SubscriptionsExpiring', subscribeType, userIds, expiresAt: iso(expiresAtMs) });

/** Opens userEvents on a connection and waits for its UserEventsCaughtUp. */
async function openEvents(live: LiveClient, after?: string): Promise<LiveSubscription<any>> {
  const sub = live.subscribe(USER_EVENTS, after === undefined ? {} : { after });
  await waitUntil(sub, () => caughtUp(sub), 8000, 'UserEventsCaughtUp');
  return sub;
}

/** A device of a user with its userEvents stream open; everything committed so far was delivered first. */
async function device(s: TestServer, app: TestApp, userId: string, deviceId = 'A') {
  await s.app.realtime.drain();
  const live = await goLive(s, app, userId, { deviceId });
  return { live, sub: await openEvents(live) };
}

/** Runs a sweep now and waits until what it logged was handed to this server's connections. */
async function sweep(s: TestServer = server): Promise<number> {
  const logged = await s.app.realtime.expiryWarnings.sweepNow();
  await s.app.realtime.drain();
  return logged;
}

async function waitForWarnings(sub: LiveSubscription<any>, count: number): Promise<Warning[]> {
  await waitUntil(sub, () => warnings(sub).length >= count, 8000, `${count} SubscriptionsExpiring`);
  return warnings(sub);
}

/** No (further) warning arrives within the quiet period. */
async function noMoreWarnings(s: TestServer, subs: LiveSubscription<any>[], ms = 300): Promise<void> {
  await s.app.realtime.drain();
  const before = subs.map((sub) => warnings(sub).length);
  await new Promise((r) => setTimeout(r, ms));
  subs.forEach((sub, i) => expect(warnings(sub).slice(before[i]!), 'no further SubscriptionsExpiring expected').toEqual([]));
  for (const sub of subs) expect(sub.errors).toEqual([]);
}

/** Moves the clock to the next minute boundary plus `secondsIn` (grouping is by minute of expiry). */
function toMinute(s: TestServer, secondsIn: number): number {
  const now = s.clock.now().getTime();
  const at = (Math.floor(now / 60_000) + 1) * 60_000 + secondsIn * SECOND;
  s.clock.set(at);
  return at;
}

describe('SubscriptionsExpiring (SPEC §11)', () => {
  it('comes at expiresAt − SUBSCRIPTION_EXPIRY_WARNING_SECONDS, not a millisecond before, to the subscriber only, once', async () => {
    const app = await newApp();
    const alice = await app.user('alice');
    for (const id of ['bob', 'carol', 'dave']) await app.user(id);
    const t0 = toMinute(server, 10);
    await subscribe(alice, 'ONLINE_STATUS', ['bob', 'carol'], 7200);
    const a = await device(server, app, 'alice', 'A');
    const a2 = await device(server, app, 'alice', 'B');
    const bob = await device(server, app, 'bob'); // a target
    const dave = await device(server, app, 'dave'); // someone else
    const relations = openStream(a.live, RELATION_SUBSCRIPTION); // RongCloud has no such event: not on its streams

    server.clock.set(t0 + 7200 * SECOND - HOUR - 1);
    expect(await sweep()).toBe(0);
    await noMoreWarnings(server, [a.sub, a2.sub, bob.sub, dave.sub]);

    server.clock.set(t0 + 7200 * SECOND - HOUR);
    expect(await sweep()).toBe(1);
    expect(await waitForWarnings(a.sub, 1)).toEqual([warning('ONLINE_STATUS', ['bob', 'carol'], t0 + 7200 * SECOND)]);
    expect(await waitForWarnings(a2.sub, 1)).toEqual([warning('ONLINE_STATUS', ['bob', 'carol'], t0 + 7200 * SECOND)]);
    const envelope = envs(a.sub).find((e) => e.event.__typename === 'SubscriptionsExpiring')!;
    expect(envelope.occurredAt).toBe(iso(t0 + 7200 * SECOND - HOUR));
    expect(envelope.cursor).toMatch(/\S/);

    // sent once: later sweeps find nothing
    server.clock.advance(30 * SECOND);
    expect(await sweep()).toBe(0);
    await noMoreWarnings(server, [a.sub, a2.sub, bob.sub, dave.sub]);
    expect(warnings(bob.sub)).toEqual([]);
    expect(warnings(dave.sub)).toEqual([]);
    expect(relations.events).toEqual([]);
    // in the log as a direct row of the subscriber's
    const rows = await server.app.services.db.selectFrom('events').select(['userId', 'direct']).where('appKey', '=', app.appKey).where('kind', '=', 'subscriptionsExpiring').execute();
    expect(rows).toEqual([{ userId: 'alice', direct: true }]);
    await Promise.all([a, a2, bob, dave].map((d) => d.live.dispose()));
  });

  it('is logged like every event: a device offline at that moment gets it on resume, in log order', async () => {
    const app = await newApp();
    const alice = await app.user('alice');
    await app.user('bob');
    const t0 = toMinute(server, 0);
    await subscribe(alice, 'USER_PROFILE', ['bob'], 3 * 3600);
    const first = await device(server, app, 'alice', 'A');
    const cursor = envs(first.sub).at(-1)!.cursor;
    await closeLive(server, app.appKey, 'alice', first.live);

    server.clock.set(t0 + 2 * HOUR);
    expect(await sweep()).toBe(1);
    // and a renewal after it, from another device over HTTP
    server.clock.advance(SECOND);
    await alice.ok(SUBSCRIBE, { t: 'USER_PROFILE', ids: ['bob'], e: 3 * 3600 });

    const again = await goLive(server, app, 'alice', { deviceId: 'A' });
    const resumed = await openEvents(again, cursor);
    const kinds = envs(resumed).map((e) => e.event.__typename);
    expect(kinds.filter((k) => k !== 'UserStatusChange')).toEqual(['SubscriptionsExpiring', 'SubscriptionRelationChange', 'UserEventsCaughtUp']);
    expect(warnings(resumed)).toEqual([warning('USER_PROFILE', ['bob'], t0 + 3 * HOUR)]);
    expect(envs(resumed).at(-1)!.event).toEqual({ __typename: 'UserEventsCaughtUp', resumed: true });
    // resuming from the warning's own cursor does not send it again
    const fromWarning = envs(resumed).find((e) => e.event.__typename === 'SubscriptionsExpiring')!.cursor;
    const third = await openEvents(again, fromWarning);
    expect(warnings(third)).toEqual([]);
    await again.dispose();
  });

  it('renewing before then cancels it and schedules the new expiry’s; renewing after it was sent schedules one again', async () => {
    const app = await newApp();
    const alice = await app.user('alice');
    await app.user('bob');
    const t0 = toMinute(server, 0);
    await subscribe(alice, 'ONLINE_STATUS', ['bob'], 7200);
    const a = await device(server, app, 'alice');

    server.clock.set(t0 + 1800 * SECOND);
    await subscribe(alice, 'ONLINE_STATUS', ['bob'], 7200); // now expires at t0 + 9000 s, warned at t0 + 5400 s
    server.clock.set(t0 + HOUR); // the old warning's time
    expect(await sweep()).toBe(0);
    server.clock.set(t0 + 5400 * SECOND - 1);
    expect(await sweep()).toBe(0);
    await noMoreWarnings(server, [a.sub]);
    server.clock.set(t0 + 5400 * SECOND);
    expect(await sweep()).toBe(1);
    expect(await waitForWarnings(a.sub, 1)).toEqual([warning('ONLINE_STATUS', ['bob'], t0 + 9000 * SECOND)]);

    // renewed after the warning (what the SDK's autoRenewSubscriptions does): a new one for the new expiry
    server.clock.advance(60 * SECOND);
    await subscribe(alice, 'ONLINE_STATUS', ['bob'], 600); // expires t0 + 6060 s, warned at min(3600, 300) s before
    server.clock.set(t0 + 5760 * SECOND - 1);
    expect(await sweep()).toBe(0);
    server.clock.set(t0 + 5760 * SECOND);
    expect(await sweep()).toBe(1);
    expect(await waitForWarnings(a.sub, 2)).toEqual([warning('ONLINE_STATUS', ['bob'], t0 + 9000 * SECOND), warning('ONLINE_STATUS', ['bob'], t0 + 6060 * SECOND)]);
    await a.live.dispose();
  });

  it('unsubscribing cancels it: of a group only the ids still subscribed are named, and none at all when every one is gone', async () => {
    const app = await newApp();
    const alice = await app.user('alice');
    for (const id of ['bob', 'carol']) await app.user(id);
    const t0 = toMinute(server, 0);
    await subscribe(alice, 'ONLINE_STATUS', ['bob', 'carol'], 7200);
    await subscribe(alice, 'USER_PROFILE', ['bob'], 7200);
    await alice.ok(UNSUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['bob'] });
    await alice.ok(UNSUBSCRIBE, { t: 'USER_PROFILE', ids: ['bob'] });
    const a = await device(server, app, 'alice');
    server.clock.set(t0 + HOUR);
    expect(await sweep()).toBe(1);
    expect(await waitForWarnings(a.sub, 1)).toEqual([warning('ONLINE_STATUS', ['carol'], t0 + 2 * HOUR)]);
    await noMoreWarnings(server, [a.sub]);
    await a.live.dispose();
  });

  it('groups the ids of one type expiring within the same minute; another minute or another type is another event', async () => {
    const app = await newApp();
    const alice = await app.user('alice');
    for (const id of ['bob', 'carol', 'dave', 'erin']) await app.user(id);
    const m = toMinute(server, 5);
    // m is 5 s into a minute
    await subscribe(alice, 'ONLINE_STATUS', ['bob'], 7200); // expires m + 2 h
    await subscribe(alice, 'USER_PROFILE', ['bob'], 7200); // same minute, other type
    server.clock.set(m + 50 * SECOND);
    await subscribe(alice, 'ONLINE_STATUS', ['carol', 'erin'], 7200); // same minute of expiry, 50 s later
    server.clock.set(m + 60 * SECOND);
    await subscribe(alice, 'ONLINE_STATUS', ['dave'], 7200); // the next minute
    const a = await device(server, app, 'alice');

    // bob's warning is due: the whole minute's group comes with it, at its time
    server.clock.set(m + HOUR);
    expect(await sweep()).toBe(2);
    const first = await waitForWarnings(a.sub, 2);
    expect(first.sort((x, y) => x.subscribeType.localeCompare(y.subscribeType))).toEqual([
      warning('ONLINE_STATUS', ['bob', 'carol', 'erin'], m + 2 * HOUR), // expiresAt: the earliest of the group
      warning('USER_PROFILE', ['bob'], m + 2 * HOUR),
    ]);
    // dave's comes at its own time
    server.clock.set(m + 60 * SECOND + HOUR - 1);
    expect(await sweep()).toBe(0);
    server.clock.set(m + 60 * SECOND + HOUR);
    expect(await sweep()).toBe(1);
    expect((await waitForWarnings(a.sub, 3))[2]).toEqual(warning('ONLINE_STATUS', ['dave'], m + 60 * SECOND + 2 * HOUR));
    await noMoreWarnings(server, [a.sub]);
    await a.live.dispose();
  });

  it('a short subscription is warned expiry / 2 before it expires (expiry 60: 30 s before; 7000: 3500 s)', async () => {
    const app = await newApp();
    const alice = await app.user('alice');
    for (const id of ['bob', 'carol']) await app.user(id);
    const t0 = toMinute(server, 0);
    await subscribe(alice, 'ONLINE_STATUS', ['bob'], 60);
    await subscribe(alice, 'USER_PROFILE', ['carol'], 7000);
    const a = await device(server, app, 'alice');
    server.clock.set(t0 + 30 * SECOND - 1);
    expect(await sweep()).toBe(0);
    server.clock.set(t0 + 30 * SECOND);
    expect(await sweep()).toBe(1);
    expect(await waitForWarnings(a.sub, 1)).toEqual([warning('ONLINE_STATUS', ['bob'], t0 + 60 * SECOND)]);
    server.clock.set(t0 + 3500 * SECOND - 1);
    expect(await sweep()).toBe(0);
    server.clock.set(t0 + 3500 * SECOND);
    expect(await sweep()).toBe(1);
    expect((await waitForWarnings(a.sub, 2))[1]).toEqual(warning('USER_PROFILE', ['carol'], t0 + 7000 * SECOND));
    await a.live.dispose();
  });

  it('a subscription that expired before any sweep saw its warning (every instance down) is not warned about', async () => {
    const app = await newApp();
    const alice = await app.user('alice');
    await app.user('bob');
    const t0 = toMinute(server, 0);
    await subscribe(alice, 'ONLINE_STATUS', ['bob'], 60);
    const a = await device(server, app, 'alice');
    server.clock.set(t0 + 60 * SECOND);
    expect(await sweep()).toBe(0);
    await noMoreWarnings(server, [a.sub]);
    // and it leaves the pending ones
    const [row] = await server.app.services.db.selectFrom('statusSubscriptions').select('warnAt').where('appKey', '=', app.appKey).execute();
    expect(row).toEqual({ warnAt: null });
    await a.live.dispose();
  });
});

describe('client SDK: SUBSCRIPTIONS_EXPIRING and autoRenewSubscriptions', () => {
  it('renews what is still held with the expiry it had (also after a resume), not what was unsubscribed since; a renewal warns again', async () => {
    const app = await newApp();
    const otherDevice = await app.user('alice');
    for (const id of ['bob', 'carol', 'dave']) await app.user(id);
    const t0 = toMinute(server, 0);
    const alice = await sdkClient(server, app, 'alice', { autoRenewSubscriptions: true });
    expect(await alice.client.subscribeUserStatus(['bob', 'dave'], SubscribeType.ONLINE_STATUS, 7200)).toEqual({ code: 0, data: [] });
    expect(await alice.client.subscribeUserStatus(['carol'], SubscribeType.USER_PROFILE, 600)).toEqual({ code: 0, data: [] });
    await alice.client.connect();

    // live: carol's (expiry 600) is warned 300 s before and renewed for 600 s
    server.clock.set(t0 + 300 * SECOND);
    expect(await sweep()).toBe(1);
    expect(await alice.waitFor(Events.SUBSCRIPTIONS_EXPIRING)).toEqual([{ subscribeType: SubscribeType.USER_PROFILE, userIds: ['carol'], expiresAt: t0 + 600 * SECOND }]);
    const renewedAt = iso(t0 + 300 * SECOND);
    await expectEventually(async () => (await subscribedUsers(otherDevice, 'USER_PROFILE')).items, [{ userId: 'carol', subscribeType: 'USER_PROFILE', subscribeTime: renewedAt, expiry: 600, expiresAt: iso(t0 + 900 * SECOND) }]);
    // which schedules the next warning, for the new expiry
    server.clock.set(t0 + 600 * SECOND);
    expect(await sweep()).toBe(1);
    await alice.waitFor(Events.SUBSCRIPTIONS_EXPIRING, 2);

    // offline when bob's and dave's warning is logged; dave is unsubscribed meanwhile on another device
    await alice.client.disconnect();
    server.clock.set(t0 + HOUR);
    expect(await sweep()).toBe(1);
    server.clock.advance(SECOND);
    await otherDevice.ok(UNSUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['dave'] });
    await alice.client.connect();
    expect((await alice.waitFor(Events.SUBSCRIPTIONS_EXPIRING, 3))[2]).toEqual({ subscribeType: SubscribeType.ONLINE_STATUS, userIds: ['bob', 'dave'], expiresAt: t0 + 2 * HOUR });
    const resumedAt = iso(server.clock.now().getTime());
    await expectEventually(async () => (await subscribedUsers(otherDevice, 'ONLINE_STATUS')).items, [{ userId: 'bob', subscribeType: 'ONLINE_STATUS', subscribeTime: resumedAt, expiry: 7200, expiresAt: iso(Date.parse(resumedAt) + 7200 * SECOND) }]);
    expect(alice.of(Events.SUBSCRIPTION_RENEW_FAILED)).toEqual([]);
    await alice.client.disconnect();
  });

  it('without autoRenewSubscriptions only the event fires; a renewal that fails fires SUBSCRIPTION_RENEW_FAILED with the ids and the code', async () => {
    const app = await newApp();
    const otherDevice = await app.user('alice');
    await app.user('bob');
    const t0 = toMinute(server, 0);
    const plain = await sdkClient(server, app, 'alice', { deviceId: 'plain' });
    let httpDown = false;
    const failing = await sdkClient(server, app, 'alice', {
      deviceId: 'failing',
      autoRenewSubscriptions: true,
      fetch: (input, init) => (httpDown ? Promise.reject(new TypeError('network is down')) : fetch(input, init)),
    });
    await subscribe(otherDevice, 'ONLINE_STATUS', ['bob'], 600);
    await Promise.all([plain.client.connect(), failing.client.connect()]);
    httpDown = true;
    server.clock.set(t0 + 300 * SECOND);
    expect(await sweep()).toBe(1);
    const expiring = { subscribeType: SubscribeType.ONLINE_STATUS, userIds: ['bob'], expiresAt: t0 + 600 * SECOND };
    expect(await plain.waitFor(Events.SUBSCRIPTIONS_EXPIRING)).toEqual([expiring]);
    expect(await failing.waitFor(Events.SUBSCRIPTIONS_EXPIRING)).toEqual([expiring]);
    expect(await failing.waitFor(Events.SUBSCRIPTION_RENEW_FAILED)).toEqual([{ subscribeType: SubscribeType.ONLINE_STATUS, userIds: ['bob'], code: ErrorCode.NETWORK_ERROR }]);
    await plain.quiet(Events.SUBSCRIPTION_RENEW_FAILED);
    // nothing was renewed
    expect((await subscribedUsers(otherDevice, 'ONLINE_STATUS')).items).toEqual([expect.objectContaining({ userId: 'bob', subscribeTime: iso(t0), expiry: 600 })]);
    await Promise.all([plain.client.disconnect(), failing.client.disconnect()]);
  });
});

/** Polls `read` until it gives `expected` (the SDK renews in the background). */
async function expectEventually<T>(read: () => Promise<T>, expected: T, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    try {
      expect(value).toEqual(expected);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SUBSCRIPTION_EXPIRY_WARNING_SECONDS', () => {
  it('is validated like the other settings (a whole number from 0 to 2592000; default 3600)', () => {
    expect(readEnvironment({}).subscriptionExpiryWarningSeconds).toBe(3600);
    expect(readEnvironment({ SUBSCRIPTION_EXPIRY_WARNING_SECONDS: '0' }).subscriptionExpiryWarningSeconds).toBe(0);
    expect(readEnvironment({ SUBSCRIPTION_EXPIRY_WARNING_SECONDS: '2592000' }).subscriptionExpiryWarningSeconds).toBe(2_592_000);
    for (const bad of ['-1', '2592001', '1.5', 'soon']) {
      expect(() => readEnvironment({ SUBSCRIPTION_EXPIRY_WARNING_SECONDS: bad }), bad).toThrow(/SUBSCRIPTION_EXPIRY_WARNING_SECONDS/);
    }
    for (const bad of ['99', '3600001', 'often']) expect(() => readEnvironment({ SUBSCRIPTION_EXPIRY_SWEEP_MS: bad }), bad).toThrow(/SUBSCRIPTION_EXPIRY_SWEEP_MS/);
  });

  it('sets the lead (600: ten minutes before), the sweep runs by itself every SUBSCRIPTION_EXPIRY_SWEEP_MS, and 0 turns warnings off', async () => {
    const short = await startServer({ config: { subscriptionExpiryWarningSeconds: 600, subscriptionExpirySweepMs: 100 } });
    try {
      const app = await newApp(short);
      const alice = await app.user('alice');
      await app.user('bob');
      const t0 = toMinute(short, 0);
      await subscribe(alice, 'ONLINE_STATUS', ['bob'], 3600);
      const a = await device(short, app, 'alice');
      short.clock.set(t0 + 3000 * SECOND - 1);
      await noMoreWarnings(short, [a.sub], 400);
      short.clock.set(t0 + 3000 * SECOND);
      expect(await waitForWarnings(a.sub, 1)).toEqual([warning('ONLINE_STATUS', ['bob'], t0 + HOUR)]);
      await a.live.dispose();
    } finally {
      await short.stop();
    }
    const off = await startServer({ config: { subscriptionExpiryWarningSeconds: 0 } });
    try {
      const app = await newApp(off);
      const alice = await app.user('alice');
      await app.user('bob');
      await subscribe(alice, 'ONLINE_STATUS', ['bob'], 3600);
      const a = await device(off, app, 'alice');
      off.clock.advance(3599 * SECOND);
      expect(await sweep(off)).toBe(0);
      await noMoreWarnings(off, [a.sub]);
      await a.live.dispose();
    } finally {
      await off.stop();
    }
  });
});

describe('the migration', () => {
  it('schedules the warnings of subscriptions made before it, with the default lead; expired ones get none', async () => {
    // a private embedded database, migrated to the version before, with subscriptions in it
    const db = await connectDatabase({ kind: 'embedded' });
    try {
      const { error } = await new Migrator({ db, provider: migrationProvider }).migrateTo('2026-12-01T1700_app_sealed_secrets');
      expect(error).toBeUndefined();
      const now = Date.now(); // the migration compares with the database's now()
      await db.insertInto('apps').values({ appKey: 'old', name: 'old', secretHash: 'x', defaultProfileVisibility: 'EVERYONE', defaultFriendAddPermission: 'FREE', createdAt: new Date(now) }).execute();
      await db.insertInto('users').values(newUserRow('old', 'alice', new Date(now))).execute();
      const row = (targetId: string, expiry: number, expiresAtMs: number) => ({
        appKey: 'old',
        subscriberId: 'alice',
        targetId,
        type: 'ONLINE_STATUS' as const,
        subscribedAt: new Date(expiresAtMs - expiry * 1000),
        expiry,
        expiresAt: new Date(expiresAtMs),
      });
      // (the columns of that version: no warn_at yet)
      await db.insertInto('statusSubscriptions').values([row('long', 86_400, now + 86_400_000 - 1000), row('short', 60, now + 40_000), row('gone', 60, now - 10_000)]).execute();
      await migrateToLatest(db);
      const rows = await db.selectFrom('statusSubscriptions').select(['targetId', 'expiresAt', 'warnAt']).orderBy('targetId').execute();
      const lead = (r: (typeof rows)[number]) => (r.warnAt ? r.expiresAt.getTime() - r.warnAt.getTime() : null);
      expect(rows.map((r) => [r.targetId, lead(r)])).toEqual([
        ['gone', null],
        ['long', HOUR],
        ['short', 30 * SECOND],
      ]);
    } finally {
      await db.destroy();
    }
  });
});

describe.skipIf(!process.env.DATABASE_URL)('several instances on one PostgreSQL', () => {
  it('sweeping at once on two servers sends the warning exactly once', async () => {
    const other = await startServer();
    try {
      const app = await newApp();
      const alice = await app.user('alice');
      for (const id of ['bob', 'carol']) await app.user(id);
      const t0 = toMinute(server, 0);
      other.clock.set(t0);
      await subscribe(alice, 'ONLINE_STATUS', ['bob'], 7200);
      await subscribe(alice, 'USER_PROFILE', ['carol'], 7200);
      const onA = await device(server, app, 'alice', 'A');
      const onB = await device(other, app, 'alice', 'B');
      for (const s of [server, other]) s.clock.set(t0 + HOUR);
      const counts = await Promise.all([server, other, server, other].map((s) => s.app.realtime.expiryWarnings.sweepNow()));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(2);
      for (const d of [onA, onB]) {
        const got = await waitForWarnings(d.sub, 2);
        expect(got.map((w) => w.subscribeType).sort()).toEqual(['ONLINE_STATUS', 'USER_PROFILE']);
      }
      await noMoreWarnings(server, [onA.sub]);
      await noMoreWarnings(other, [onB.sub]);
      const rows = await server.app.services.db.selectFrom('events').select('userId').where('appKey', '=', app.appKey).where('kind', '=', 'subscriptionsExpiring').execute();
      expect(rows).toHaveLength(2);
      await Promise.all([onA.live.dispose(), onB.live.dispose()]);
    } finally {
      await other.stop();
    }
  });
});
