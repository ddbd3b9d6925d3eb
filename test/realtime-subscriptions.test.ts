import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userTopic, type StatusMessage } from '../src/realtime/messages.ts';
import { expectError, updateMy } from './helpers/profiles.ts';
import {
  RELATION_SUBSCRIPTION,
  SUBSCRIBE,
  SUBSCRIBED_STATUS,
  UNSUBSCRIBE,
  expectNothingMore,
  goLive,
  openStream,
  seedSubscriptions,
  seedUsers,
  statusEvents,
  statusStream,
  subscribe,
  subscribedUsers,
  waitUntil,
  type StatusChangeJson,
} from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const ids = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + from).padStart(4, '0')}`);

describe('subscribeUserStatus arguments (SPEC §5)', () => {
  it('takes 1 to 200 ids per call: 0 and 201 are BAD_USER_INPUT, for every call that takes ids', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    expect(await subscribe(alice, 'USER_PROFILE', ['u1'])).toEqual([]);
    expect(await subscribe(alice, 'USER_PROFILE', ids('a', 200))).toEqual([]);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(201);

    for (const bad of [[], ids('b', 201)]) {
      expectError(await alice.fails(SUBSCRIBE, { t: 'USER_PROFILE', ids: bad, e: 3600 }), 'BAD_USER_INPUT', { fields: ['userIds'] });
      expectError(await alice.fails(UNSUBSCRIBE, { t: 'USER_PROFILE', ids: bad }), 'BAD_USER_INPUT', { fields: ['userIds'] });
      expectError(await alice.fails(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: bad }), 'BAD_USER_INPUT', { fields: ['userIds'] });
    }
    // nothing written by the refused calls
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(201);

    expect((await alice.ok(UNSUBSCRIBE, { t: 'USER_PROFILE', ids: ids('a', 200) })).unsubscribeUserStatus).toBe(true);
    expect((await alice.ok(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: ['u1', ...ids('a', 199)] })).subscribedUserStatus.map((s: any) => s.userId)).toEqual(['u1']);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).items.map((i) => i.userId)).toEqual(['u1']);
  });

  it('takes expiry 60 to 2592000 seconds: 59 and 2592001 are BAD_USER_INPUT and write nothing', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    expect(await subscribe(alice, 'ONLINE_STATUS', ['min'], 60)).toEqual([]);
    expect(await subscribe(alice, 'ONLINE_STATUS', ['max'], 2_592_000)).toEqual([]);
    for (const expiry of [59, 2_592_001, 0, -1]) {
      expectError(await alice.fails(SUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['other'], e: expiry }), 'BAD_USER_INPUT', { fields: ['expiry'] });
    }
    const page = await subscribedUsers(alice, 'ONLINE_STATUS');
    const byId = Object.fromEntries(page.items.map((i) => [i.userId, i]));
    expect(Object.keys(byId).sort()).toEqual(['max', 'min']);
    const now = server.clock.now().getTime();
    expect(byId.min!.expiry).toBe(60);
    expect(Date.parse(byId.min!.expiresAt)).toBe(now + 60_000);
    expect(byId.max!.expiry).toBe(2_592_000);
    expect(Date.parse(byId.max!.expiresAt)).toBe(now + 2_592_000_000);
  });

  it('refuses subscribing to yourself and the FRIEND_* types; allows ids that do not exist yet', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    expectError(await alice.fails(SUBSCRIBE, { t: 'USER_PROFILE', ids: ['alice'], e: 3600 }), 'BAD_USER_INPUT', { fields: ['userIds'] });
    expectError(await alice.fails(SUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['bob', 'alice'], e: 3600 }), 'BAD_USER_INPUT', { fields: ['userIds'] });
    for (const t of ['FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE']) {
      expectError(await alice.fails(SUBSCRIBE, { t, ids: ['bob'], e: 3600 }), 'BAD_USER_INPUT');
      expectError(await alice.fails(UNSUBSCRIBE, { t, ids: ['bob'] }), 'BAD_USER_INPUT');
    }
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(0);
    expect((await subscribedUsers(alice, 'ONLINE_STATUS')).totalCount).toBe(0);

    // "nobody" has no token and no profile: the subscription is kept and works once it exists
    expect(await subscribe(alice, 'USER_PROFILE', ['nobody'])).toEqual([]);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).items.map((i) => i.userId)).toEqual(['nobody']);
    const live = await goLive(server, app, 'alice');
    const sub = await statusStream(live, ['USER_PROFILE']);
    const nobody = await app.user('nobody');
    const written = await updateMy(nobody, { name: 'Now here' });
    await waitUntil(sub, () => statusEvents(sub).length === 3);
    const last = statusEvents(sub)[2] as StatusChangeJson;
    expect(last.userId).toBe('nobody');
    expect(last.userProfile!.name).toBe('Now here');
    expect(last.userProfile!.version).toBe(written.version);
    await live.dispose();
  });
});

describe('subscription limits (SPEC §5)', () => {
  it('1000 subscriptions per subscriber and type: exactly 1000 works, passing it is LIMIT_EXCEEDED 26022 and writes nothing', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const targets = ids('t', 1002);
    // 200 short-lived ones first, then the rest
    expect(await subscribe(alice, 'USER_PROFILE', targets.slice(0, 200), 60)).toEqual([]);
    for (let i = 200; i < 800; i += 200) expect(await subscribe(alice, 'USER_PROFILE', targets.slice(i, i + 200), 86_400)).toEqual([]);
    expect(await subscribe(alice, 'USER_PROFILE', targets.slice(800, 999), 86_400)).toEqual([]);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(999);

    // re-subscribing held ids does not count as new: 1 held + 1 new reaches exactly 1000
    expect(await subscribe(alice, 'USER_PROFILE', [targets[0]!, targets[999]!], 86_400)).toEqual([]);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(1000);
    // 200 held ids again: still 1000, fine
    expect(await subscribe(alice, 'USER_PROFILE', targets.slice(400, 600), 86_400)).toEqual([]);

    const before = await subscribedUsers(alice, 'USER_PROFILE', 200, 0);
    server.clock.advance(1000);
    // one past it, alone or mixed with held ids (whose refresh must not happen either)
    for (const call of [[targets[1000]!], [...targets.slice(200, 399), targets[1000]!], [targets[1000]!, targets[1001]!]]) {
      const error = await alice.fails(SUBSCRIBE, { t: 'USER_PROFILE', ids: call, e: 7200 });
      expectError(error, 'LIMIT_EXCEEDED', { rcCode: 26022 });
    }
    const after = await subscribedUsers(alice, 'USER_PROFILE', 200, 0);
    expect(after.totalCount).toBe(1000);
    expect(after.items).toEqual(before.items); // no subscribeTime / expiry refreshed
    expect((await alice.ok(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: [targets[1000]!, targets[1001]!] })).subscribedUserStatus).toEqual([]);

    // the limit is per type: ONLINE_STATUS still has room
    expect(await subscribe(alice, 'ONLINE_STATUS', targets.slice(0, 200))).toEqual([]);
    expect((await subscribedUsers(alice, 'ONLINE_STATUS')).totalCount).toBe(200);

    // expired subscriptions do not count: the 200 short-lived ones (target 0 was refreshed) free 199 places
    server.clock.advance(60_000);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(801);
    expect(await subscribe(alice, 'USER_PROFILE', targets.slice(1, 200))).toEqual([]);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(1000);
    expectError(await alice.fails(SUBSCRIBE, { t: 'USER_PROFILE', ids: [targets[1000]!], e: 3600 }), 'LIMIT_EXCEEDED', { rcCode: 26022 });
  });

  it('5000 subscribers per target and type: the 5000th succeeds, then the full target comes back in failedUserIds while the rest succeed', async () => {
    const app = await server.newApp();
    const seeded = ids('s', 4999);
    await seedUsers(server, app.appKey, seeded);
    await seedSubscriptions(server, app.appKey, seeded, 'star', 'ONLINE_STATUS');
    // another type of the same target is counted separately
    await seedSubscriptions(server, app.appKey, seeded.slice(0, 10), 'star', 'USER_PROFILE');

    const fan5000 = await app.user('fan5000');
    expect(await subscribe(fan5000, 'ONLINE_STATUS', ['star'])).toEqual([]);

    const late = await app.user('late');
    // late's other connection learns of the subscribed ids only (primed by a first change)
    const web = await goLive(server, app, 'late', { deviceId: 'web' });
    const onWeb = openStream(web, RELATION_SUBSCRIPTION);
    await subscribe(late, 'ONLINE_STATUS', ['warm']);
    await waitUntil(onWeb, () => onWeb.events.length === 1);

    expect(await subscribe(late, 'ONLINE_STATUS', ['other1', 'star', 'other2'])).toEqual(['star']);
    expect((await subscribedUsers(late, 'ONLINE_STATUS')).items.map((i) => i.userId).sort()).toEqual(['other1', 'other2', 'warm']);
    await waitUntil(onWeb, () => onWeb.events.length === 2);
    expect(onWeb.events[1].subscribedRelationChange).toMatchObject({ operationType: 'SUBSCRIBE', subscribeType: 'ONLINE_STATUS', userIds: ['other1', 'other2'] });
    // nothing subscribed, nothing to tell
    expect(await subscribe(late, 'ONLINE_STATUS', ['star'])).toEqual(['star']);
    await expectNothingMore(server, [onWeb]);
    await web.dispose();
    // the type with room takes it
    expect(await subscribe(late, 'USER_PROFILE', ['star'])).toEqual([]);

    // a subscriber already counted refreshes without being refused
    expect(await subscribe(fan5000, 'ONLINE_STATUS', ['star'], 7200)).toEqual([]);

    // one place frees up: of two concurrent candidates exactly one gets it
    expect((await fan5000.ok(UNSUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['star'] })).unsubscribeUserStatus).toBe(true);
    const third = await app.user('third');
    const outcomes = await Promise.all([subscribe(late, 'ONLINE_STATUS', ['star', 'other3']), subscribe(third, 'ONLINE_STATUS', ['other3', 'star'])]);
    expect(outcomes.map((failed) => failed.join()).sort()).toEqual(['', 'star']);
    expect(await subscribe(fan5000, 'ONLINE_STATUS', ['star'])).toEqual(['star']);
    const { n } = await server.app.services.db
      .selectFrom('statusSubscriptions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('appKey', '=', app.appKey)
      .where('targetId', '=', 'star')
      .where('type', '=', 'ONLINE_STATUS')
      .executeTakeFirstOrThrow();
    expect(Number(n)).toBe(5000);
  });

  it('concurrent calls cannot pass the 1000 together', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const targets = ids('c', 1200);
    for (let i = 0; i < 800; i += 200) await subscribe(alice, 'ONLINE_STATUS', targets.slice(i, i + 200));
    const results = await Promise.all(
      [targets.slice(800, 1000), targets.slice(1000, 1200)].map((batch) => alice.request(SUBSCRIBE, { t: 'ONLINE_STATUS', ids: batch, e: 3600 })),
    );
    expect(results.filter((r) => !r.errors).length).toBe(1);
    const refused = results.find((r) => r.errors)!;
    expectError(refused.errors![0]!, 'LIMIT_EXCEEDED', { rcCode: 26022 });
    expect((await subscribedUsers(alice, 'ONLINE_STATUS')).totalCount).toBe(1000);
  });
});

describe('reading subscriptions', () => {
  it('re-subscribing refreshes subscribeTime and expiry', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const t0 = server.clock.now().getTime();
    await subscribe(alice, 'USER_PROFILE', ['bob', 'carol'], 100);
    server.clock.advance(30_000);
    await subscribe(alice, 'USER_PROFILE', ['bob'], 200);
    const items = Object.fromEntries((await subscribedUsers(alice, 'USER_PROFILE')).items.map((i) => [i.userId, i]));
    expect(Date.parse(items.carol!.subscribeTime)).toBe(t0);
    expect(items.carol!.expiry).toBe(100);
    expect(Date.parse(items.carol!.expiresAt)).toBe(t0 + 100_000);
    expect(Date.parse(items.bob!.subscribeTime)).toBe(t0 + 30_000);
    expect(items.bob!.expiry).toBe(200);
    expect(Date.parse(items.bob!.expiresAt)).toBe(t0 + 230_000);
    expect(items.bob!.subscribeType).toBe('USER_PROFILE');

    // carol runs out at t0+100 s, bob (refreshed) does not
    server.clock.advance(70_000);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).items.map((i) => i.userId)).toEqual(['bob']);
    const status = (await alice.ok(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: ['carol', 'bob'] })).subscribedUserStatus;
    expect(status.map((s: any) => s.userId)).toEqual(['bob']);
    expect(status[0].expiry).toBe(200);
    expect(Date.parse(status[0].subscribeTime)).toBe(t0 + 30_000);
  });

  it('subscribedUsers pages with pageSize 1 to 200 and startIndex, with totalCount', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const targets = ids('p', 205);
    await subscribe(alice, 'ONLINE_STATUS', targets.slice(0, 200));
    server.clock.advance(1);
    await subscribe(alice, 'ONLINE_STATUS', targets.slice(200));

    const full = await subscribedUsers(alice, 'ONLINE_STATUS', 200, 0);
    expect(full.totalCount).toBe(205);
    expect(full.items).toHaveLength(200);
    const rest = await subscribedUsers(alice, 'ONLINE_STATUS', 200, 200);
    expect(rest.items).toHaveLength(5);
    expect(rest.totalCount).toBe(205);
    const all = [...full.items, ...rest.items].map((i) => i.userId);
    expect(new Set(all).size).toBe(205);
    expect(all.slice(200).sort()).toEqual(targets.slice(200));

    const one = await subscribedUsers(alice, 'ONLINE_STATUS', 1, 3);
    expect(one.items.map((i) => i.userId)).toEqual([all[3]]);
    expect(one.totalCount).toBe(205);
    expect((await subscribedUsers(alice, 'ONLINE_STATUS', 10, 205)).items).toEqual([]);
    // defaults: 20 from 0
    const dflt = (await alice.ok('query { subscribedUsers(type: ONLINE_STATUS) { items { userId } totalCount } }')).subscribedUsers;
    expect(dflt.items.map((i: any) => i.userId)).toEqual(all.slice(0, 20));

    for (const [n, s] of [
      [0, 0],
      [201, 0],
      [-1, 0],
      [20, -1],
    ]) {
      expectError(await alice.fails('query($n: Int, $s: Int) { subscribedUsers(type: ONLINE_STATUS, pageSize: $n, startIndex: $s) { totalCount } }', { n, s }), 'BAD_USER_INPUT');
    }
    // per type: nothing under USER_PROFILE, FRIEND_* are not subscriptions
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(0);
    expectError(await alice.fails('query { subscribedUsers(type: FRIEND_USER_PROFILE) { totalCount } }'), 'BAD_USER_INPUT');
  });

  it('subscribedUserStatus returns only ids I subscribe to, in input order', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    await updateMy(bob, { name: 'Bob' });
    await app.user('carol');
    await subscribe(alice, 'USER_PROFILE', ['bob', 'carol', 'ghost']);
    server.clock.advance(5);
    await subscribe(alice, 'ONLINE_STATUS', ['dave']);

    const status = (await alice.ok(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: ['ghost', 'dave', 'carol', 'stranger', 'bob', 'ghost'] }))
      .subscribedUserStatus;
    expect(status.map((s: any) => s.userId)).toEqual(['ghost', 'carol', 'bob']);
    expect(status.every((s: any) => s.subscribeType === 'USER_PROFILE' && s.expiry === 3600 && s.details.length === 0)).toBe(true);
    expect(status[2].userProfile.name).toBe('Bob');
    expect(status[0].userProfile).toBeNull(); // never existed

    const online = (await alice.ok(SUBSCRIBED_STATUS, { t: 'ONLINE_STATUS', ids: ['bob', 'dave'] })).subscribedUserStatus;
    expect(online).toEqual([expect.objectContaining({ userId: 'dave', subscribeType: 'ONLINE_STATUS', details: [], userProfile: null })]);
    // another user's subscriptions are not mine
    expect((await bob.ok(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: ['carol'] })).subscribedUserStatus).toEqual([]);
  });
});

describe('expiry (SPEC §5)', () => {
  it('after expiry nothing more is delivered and the subscription leaves subscribedUsers', async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    await subscribe(alice, 'USER_PROFILE', ['bob'], 60);
    await subscribe(alice, 'ONLINE_STATUS', ['bob'], 60);

    const live = await goLive(server, app, 'alice');
    const sub = await statusStream(live, ['USER_PROFILE', 'ONLINE_STATUS']);
    expect(statusEvents(sub)).toHaveLength(4);

    // before expiry: a profile change and a presence change arrive
    server.clock.advance(59_000);
    await updateMy(bob, { name: 'before' });
    const bobPhone = await goLive(server, app, 'bob', { platform: 'IOS' });
    await waitUntil(sub, () => statusEvents(sub).length === 6);
    const [profile, presence] = statusEvents(sub).slice(4) as StatusChangeJson[];
    expect(profile!.userProfile!.name).toBe('before');
    expect(presence!.details).toEqual([expect.objectContaining({ platform: 'IOS', online: true })]);

    // at subscribeTime + expiry it is over: nothing is delivered, no notification either
    server.clock.advance(1000);
    await updateMy(bob, { name: 'after' });
    const bobWeb = await goLive(server, app, 'bob', { platform: 'PC' });
    await expectNothingMore(server, [sub]);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(0);
    expect((await subscribedUsers(alice, 'ONLINE_STATUS')).totalCount).toBe(0);
    expect((await alice.ok(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: ['bob'] })).subscribedUserStatus).toEqual([]);

    // a new stream syncs nothing for the expired subscriptions
    const sub2 = await statusStream(live, ['USER_PROFILE', 'ONLINE_STATUS']);
    expect(statusEvents(sub2).map((e) => e.__typename)).toEqual(['SubscribedUserStatusSyncFinished', 'SubscribedUserStatusSyncFinished']);

    // subscribing again brings delivery back: first the pushed current status (SPEC §5), then changes
    await subscribe(alice, 'USER_PROFILE', ['bob'], 60);
    await waitUntil(sub, () => statusEvents(sub).length === 7);
    expect((statusEvents(sub)[6] as StatusChangeJson).userProfile!.name).toBe('after');
    await updateMy(bob, { name: 'again' });
    await waitUntil(sub, () => statusEvents(sub).length === 8);
    expect((statusEvents(sub)[7] as StatusChangeJson).userProfile!.name).toBe('again');
    await Promise.all([live.dispose(), bobPhone.dispose(), bobWeb.dispose()]);
  });

  it('a change whose subscription expired while it was in flight is not delivered (the receiving instance checks)', async () => {
    const app = await server.newApp();
    const live = await goLive(server, app, 'alice');
    const sub = await statusStream(live, ['ONLINE_STATUS']);
    const now = server.clock.now().getTime();
    // as published by an instance that still saw the subscription: expiring exactly now, and 1 ms later
    const change = (subjectId: string, expiresAt: number): StatusMessage => ({
      kind: 'status',
      subjectId,
      subscribeType: 'ONLINE_STATUS',
      subscribeTime: expiresAt - 60_000,
      expiry: 60,
      expiresAt,
      details: [],
      profile: null,
      changeTime: new Date(now).toISOString(),
      incarnation: 1,
      order: 1,
    });
    const topic = userTopic(app.appKey, 'alice');
    await server.app.realtime.topics.publish([
      { topic, message: change('expired', now) },
      { topic, message: change('current', now + 1) },
    ]);
    await waitUntil(sub, () => statusEvents(sub).length === 2);
    await expectNothingMore(server, [sub]);
    expect((statusEvents(sub)[1] as StatusChangeJson).userId).toBe('current');
    await live.dispose();
  });
});
