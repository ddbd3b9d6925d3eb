import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MY_PROFILE, SET_PROFILE, UPDATE_MY, expectError, makeFriends, setProfile, updateMy, type ProfileJson } from './helpers/profiles.ts';
import {
  OWN_PROFILE_SUBSCRIPTION,
  RELATION_SUBSCRIPTION,
  STATUS_SUBSCRIPTION,
  SUBSCRIBE,
  UNSUBSCRIBE,
  closeLive,
  expectNothingMore,
  goLive,
  openStream,
  sleep,
  statusEvents,
  statusStream,
  storedConnections,
  subscribe,
  subscribedUsers,
  waitUntil,
  type StatusChangeJson,
} from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';
import { GraphQLClient, bearer } from './helpers/client.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const iso = (ms: number) => new Date(ms).toISOString();
const changes = (sub: Parameters<typeof statusEvents>[0]) => statusEvents(sub).filter((e): e is StatusChangeJson => e.__typename === 'UserStatusChange');

async function everyoneApp(): Promise<TestApp> {
  const app = await server.newApp();
  await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
  return app;
}

describe('connect-time sync (SPEC §6)', () => {
  it('delivers one UserStatusChange per unexpired subscription of each type, then SyncFinished; all four types in order for types: null', async () => {
    const app = await everyoneApp();
    const alice = await app.user('alice');
    const t0 = server.clock.now().getTime();
    await subscribe(alice, 'ONLINE_STATUS', ['carol'], 60);
    await subscribe(alice, 'USER_PROFILE', ['carol'], 60);
    server.clock.advance(1000);
    await subscribe(alice, 'ONLINE_STATUS', ['bob', 'ghost'], 3600);
    await subscribe(alice, 'USER_PROFILE', ['bob', 'ghost'], 7200);
    await setProfile(app, 'bob', { name: 'Bob', email: 'bob@x.io' });
    await setProfile(app, 'carol', { name: 'Carol' });
    await setProfile(app, 'dave', { name: 'Dave', location: 'Paris' });
    await makeFriends(app, 'alice', 'dave');

    // bob: IOS online at t0+1 s, offline at t0+2 s; WEB online at t0+3 s and stays
    const bobIos = await goLive(server, app, 'bob', { platform: 'IOS' });
    server.clock.advance(1000);
    await closeLive(server, app.appKey, 'bob', bobIos);
    server.clock.advance(1000);
    const bobWeb = await goLive(server, app, 'bob', { platform: 'WEB' });
    server.clock.advance(60_000); // carol's subscriptions expire

    const live = await goLive(server, app, 'alice');
    const sub = await statusStream(live, null);
    const events = statusEvents(sub);
    expect(events.map((e) => (e.__typename === 'UserStatusChange' ? `${e.subscribeType}:${e.userId}` : `finished:${e.subscribeType}`))).toEqual([
      'ONLINE_STATUS:bob',
      'ONLINE_STATUS:ghost',
      'finished:ONLINE_STATUS',
      'USER_PROFILE:bob',
      'USER_PROFILE:ghost',
      'finished:USER_PROFILE',
      'FRIEND_ONLINE_STATUS:dave',
      'finished:FRIEND_ONLINE_STATUS',
      'FRIEND_USER_PROFILE:dave',
      'finished:FRIEND_USER_PROFILE',
    ]);
    const [bobOnline, ghostOnline, , bobProfile, ghostProfile, , daveOnline, , daveProfile] = events as StatusChangeJson[];
    // per-platform details, with the last change time of the platform that went offline
    expect(bobOnline!.details).toEqual([
      { platform: 'IOS', online: false, changeTime: iso(t0 + 2000) },
      { platform: 'WEB', online: true, changeTime: iso(t0 + 3000) },
    ]);
    expect(bobOnline!.changeTime).toBe(iso(t0 + 3000));
    expect(bobOnline!).toMatchObject({ subscribeTime: iso(t0 + 1000), expiry: 3600, userProfile: null });
    // never seen online, never existed: still reported, with empty details
    expect(ghostOnline!).toMatchObject({ details: [], userProfile: null, subscribeTime: iso(t0 + 1000), expiry: 3600 });
    expect(daveOnline!).toMatchObject({ details: [], userProfile: null, subscribeTime: null, expiry: null });

    expect(bobProfile!).toMatchObject({ details: [], subscribeTime: iso(t0 + 1000), expiry: 7200 });
    expect(bobProfile!.userProfile).toMatchObject({ userId: 'bob', name: 'Bob', email: 'bob@x.io', restricted: false });
    expect(ghostProfile!.userProfile).toBeNull();
    expect(daveProfile!).toMatchObject({ subscribeTime: null, expiry: null, details: [] });
    expect(daveProfile!.userProfile).toMatchObject({ userId: 'dave', name: 'Dave', location: 'Paris' });

    // a subset of types: only those, in the requested order
    const sub2 = await statusStream(live, ['FRIEND_USER_PROFILE', 'ONLINE_STATUS']);
    expect(statusEvents(sub2).map((e) => (e.__typename === 'UserStatusChange' ? `${e.subscribeType}:${e.userId}` : `finished:${e.subscribeType}`))).toEqual([
      'FRIEND_USER_PROFILE:dave',
      'finished:FRIEND_USER_PROFILE',
      'ONLINE_STATUS:bob',
      'ONLINE_STATUS:ghost',
      'finished:ONLINE_STATUS',
    ]);
    // with nothing to sync, SyncFinished still comes
    const bob = await goLive(server, app, 'bob', { platform: 'PC' });
    const sub3 = await statusStream(bob, ['USER_PROFILE']);
    expect(statusEvents(sub3)).toEqual([{ __typename: 'SubscribedUserStatusSyncFinished', subscribeType: 'USER_PROFILE' }]);
    await Promise.all([live.dispose(), bobWeb.dispose(), bob.dispose()]);
  });

  it('changes made while the sync runs are neither lost nor delivered before the older synced state', async () => {
    const app = await everyoneApp();
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    await subscribe(alice, 'USER_PROFILE', ['bob']);
    const live = await goLive(server, app, 'alice');
    for (let round = 0; round < 3; round++) {
      // 20 updates of the subject from 4 concurrent writers; the stream starts while they run (after
      // a different number of them per round), so the snapshot falls amid commits whose fan-out is
      // still pending
      let done = 0;
      let startStream!: () => void;
      const streamMayStart = new Promise<void>((resolve) => (startStream = resolve));
      const writing = Promise.all(
        [0, 1, 2, 3].map(async (w) => {
          const out: ProfileJson[] = [];
          for (let i = 0; i < 5; i++) {
            out.push(await updateMy(bob, { name: `r${round}-w${w}-${i}`, level: i }));
            if (++done === 2 + round * 5) startStream();
          }
          return out;
        }),
      ).then((lists) => lists.flat());
      await streamMayStart;
      const sub = live.subscribe(STATUS_SUBSCRIPTION, { types: ['USER_PROFILE'] });
      const written = await writing;
      const finalVersion = Math.max(...written.map((p) => p.version));
      const stored = (await bob.ok<{ myUserProfile: ProfileJson }>(MY_PROFILE)).myUserProfile;
      expect(stored.version).toBe(finalVersion);
      await server.app.realtime.drain();
      await waitUntil(sub, () => {
        const last = changes(sub).at(-1);
        return last !== undefined && last.userProfile!.version === finalVersion && statusEvents(sub).length >= 2;
      });
      await expectNothingMore(server, [sub], 100);

      const events = statusEvents(sub);
      expect(events[0]!.__typename).toBe('UserStatusChange');
      expect(events[1]).toEqual({ __typename: 'SubscribedUserStatusSyncFinished', subscribeType: 'USER_PROFILE' });
      const synced = (events[0] as StatusChangeJson).userProfile!.version;
      const liveVersions = (events.slice(2) as StatusChangeJson[]).map((e) => {
        expect(e.__typename).toBe('UserStatusChange');
        return e.userProfile!.version;
      });
      for (let i = 0; i < liveVersions.length; i++) expect(liveVersions[i]).toBeGreaterThan(i === 0 ? synced : liveVersions[i - 1]!);
      // the last delivered state is the stored one, field for field
      expect(changes(sub).at(-1)!.userProfile).toEqual(stored);
      sub.stop();
    }

    // the last change racing the stream's start must not fall between the snapshot and the live stream
    for (let round = 0; round < 12; round++) {
      const sub = live.subscribe(STATUS_SUBSCRIPTION, { types: ['USER_PROFILE'] });
      await sleep(round);
      const last = await updateMy(bob, { name: `last-${round}` });
      await server.app.realtime.drain();
      await waitUntil(sub, () => changes(sub).at(-1)?.userProfile?.version === last.version && statusEvents(sub).length >= 2);
      const versions = changes(sub).map((e) => e.userProfile!.version);
      expect(versions.every((v, i) => i === 0 || v > versions[i - 1]!)).toBe(true);
      sub.stop();
    }
    await live.dispose();
  });
});

describe('presence (SPEC §5)', () => {
  it('first connection of a platform is online, a second one nothing, closing one of two nothing, the last close offline; platforms separately', async () => {
    const app = await everyoneApp();
    const alice = await app.user('alice');
    await app.user('bob');
    await subscribe(alice, 'ONLINE_STATUS', ['bob']);
    const live = await goLive(server, app, 'alice');
    const sub = await statusStream(live, ['ONLINE_STATUS']);
    expect(changes(sub)[0]!.details).toEqual([]);
    const t0 = server.clock.now().getTime();

    const phone1 = await goLive(server, app, 'bob', { platform: 'IOS', deviceId: 'phone1' });
    await waitUntil(sub, () => changes(sub).length === 2);
    expect(changes(sub)[1]!.details).toEqual([{ platform: 'IOS', online: true, changeTime: iso(t0) }]);
    expect(changes(sub)[1]!.changeTime).toBe(iso(t0));

    server.clock.advance(1000);
    const phone2 = await goLive(server, app, 'bob', { platform: 'IOS', deviceId: 'phone2' });
    await expectNothingMore(server, [sub]);

    server.clock.advance(1000);
    const pc = await goLive(server, app, 'bob', { platform: 'PC' });
    await waitUntil(sub, () => changes(sub).length === 3);
    expect(changes(sub)[2]!.details).toEqual([
      { platform: 'IOS', online: true, changeTime: iso(t0) },
      { platform: 'PC', online: true, changeTime: iso(t0 + 2000) },
    ]);

    server.clock.advance(1000);
    await closeLive(server, app.appKey, 'bob', phone1);
    await expectNothingMore(server, [sub]);

    server.clock.advance(1000);
    await closeLive(server, app.appKey, 'bob', phone2);
    await waitUntil(sub, () => changes(sub).length === 4);
    expect(changes(sub)[3]!.details).toEqual([
      { platform: 'IOS', online: false, changeTime: iso(t0 + 4000) },
      { platform: 'PC', online: true, changeTime: iso(t0 + 2000) },
    ]);

    server.clock.advance(1000);
    await closeLive(server, app.appKey, 'bob', pc);
    await waitUntil(sub, () => changes(sub).length === 5);
    expect(changes(sub)[4]!.details).toEqual([
      { platform: 'IOS', online: false, changeTime: iso(t0 + 4000) },
      { platform: 'PC', online: false, changeTime: iso(t0 + 5000) },
    ]);
    await expectNothingMore(server, [sub]);
    // four transitions, no more, as stored
    const { version } = await server.app.services.db
      .selectFrom('presenceUsers')
      .select('version')
      .where('appKey', '=', app.appKey)
      .where('userId', '=', 'bob')
      .executeTakeFirstOrThrow();
    expect(version).toBe(4);
    expect(changes(sub).every((e) => e.userId === 'bob' && e.subscribeType === 'ONLINE_STATUS' && e.userProfile === null)).toBe(true);
    await live.dispose();
  });
});

describe('subscribedRelationChange and ownUserProfileChanged: other connections only (SPEC §6)', () => {
  it('subscribedRelationChange reaches the other connections, not the one that made the change (same socket or same X-Device-Id)', async () => {
    const app = await everyoneApp();
    const phone = await goLive(server, app, 'alice', { platform: 'IOS', deviceId: 'phone' });
    const web = await goLive(server, app, 'alice', { platform: 'WEB', deviceId: 'web' });
    const onPhone = openStream(phone, RELATION_SUBSCRIPTION);
    const onWeb = openStream(web, RELATION_SUBSCRIPTION);
    const bob = await goLive(server, app, 'bob', { deviceId: 'phone' });
    const onBob = openStream(bob, RELATION_SUBSCRIPTION);

    // over HTTP without a device id: every connection of the user learns it (also primes the streams)
    const anywhere = await app.user('alice');
    await subscribe(anywhere, 'USER_PROFILE', ['warm'], 120);
    await waitUntil(onPhone, () => onPhone.events.length === 1);
    await waitUntil(onWeb, () => onWeb.events.length === 1);
    expect(onWeb.events[0].subscribedRelationChange).toEqual({
      operationType: 'SUBSCRIBE',
      subscribeType: 'USER_PROFILE',
      userIds: ['warm'],
      expiry: 120,
      operationTime: server.clock.now().toISOString(),
    });

    // over the phone's own socket: only the web connection
    server.clock.advance(1000);
    const result = await phone.execute(SUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['bob', 'carol'], e: 600 });
    expect(result.errors).toBeUndefined();
    await waitUntil(onWeb, () => onWeb.events.length === 2);
    expect(onWeb.events[1].subscribedRelationChange).toEqual({
      operationType: 'SUBSCRIBE',
      subscribeType: 'ONLINE_STATUS',
      userIds: ['bob', 'carol'],
      expiry: 600,
      operationTime: server.clock.now().toISOString(),
    });
    await expectNothingMore(server, [onPhone, onWeb]);

    // over HTTP with the phone's X-Device-Id: only the web connection
    const fromPhone = await app.user('alice', { deviceId: 'phone' });
    expect((await fromPhone.ok(UNSUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['bob'] })).unsubscribeUserStatus).toBe(true);
    await waitUntil(onWeb, () => onWeb.events.length === 3);
    expect(onWeb.events[2].subscribedRelationChange).toMatchObject({ operationType: 'UNSUBSCRIBE', subscribeType: 'ONLINE_STATUS', userIds: ['bob'], expiry: null });
    await expectNothingMore(server, [onPhone, onWeb]);

    // over HTTP with the web's X-Device-Id: only the phone
    const fromWeb = await app.user('alice', { deviceId: 'web' });
    await subscribe(fromWeb, 'USER_PROFILE', ['dave'], 3600);
    await waitUntil(onPhone, () => onPhone.events.length === 2);
    expect(onPhone.events[1].subscribedRelationChange).toMatchObject({ operationType: 'SUBSCRIBE', subscribeType: 'USER_PROFILE', userIds: ['dave'], expiry: 3600 });
    // over the web socket, an unsubscribe: only the phone
    expect((await web.execute(UNSUBSCRIBE, { t: 'USER_PROFILE', ids: ['dave', 'warm'] })).data).toEqual({ unsubscribeUserStatus: true });
    await waitUntil(onPhone, () => onPhone.events.length === 3);
    expect(onPhone.events[2].subscribedRelationChange).toMatchObject({ operationType: 'UNSUBSCRIBE', subscribeType: 'USER_PROFILE', expiry: null });
    expect([...onPhone.events[2].subscribedRelationChange.userIds].sort()).toEqual(['dave', 'warm']);
    await expectNothingMore(server, [onPhone, onWeb]);
    expect(onWeb.events).toHaveLength(3);

    // another user's operations are not mine, even with the same device id
    expect(onBob.events).toEqual([]);
    const bobHttp = await app.user('bob', { deviceId: 'web' });
    await subscribe(bobHttp, 'USER_PROFILE', ['alice']);
    await expectNothingMore(server, [onPhone, onWeb]);
    await Promise.all([phone.dispose(), web.dispose(), bob.dispose()]);
  });

  it('ownUserProfileChanged reaches the other connections after a user change, all of them after a backend change', async () => {
    const app = await everyoneApp();
    const phone = await goLive(server, app, 'alice', { platform: 'IOS', deviceId: 'phone' });
    const web = await goLive(server, app, 'alice', { platform: 'WEB', deviceId: 'web' });
    const onPhone = openStream(phone, OWN_PROFILE_SUBSCRIPTION);
    const onWeb = openStream(web, OWN_PROFILE_SUBSCRIPTION);
    const bob = await goLive(server, app, 'bob');
    const onBob = openStream(bob, OWN_PROFILE_SUBSCRIPTION);
    const own = (sub: typeof onPhone, i: number) => sub.events[i].ownUserProfileChanged as ProfileJson;

    // the backend changed it: every connection (also primes the streams)
    const bySetProfile = await setProfile(app, 'alice', { name: 'Alice', uniqueId: 'alice1', email: 'a@x.io' });
    await waitUntil(onPhone, () => onPhone.events.length === 1);
    await waitUntil(onWeb, () => onWeb.events.length === 1);
    expect(own(onPhone, 0)).toEqual(bySetProfile);
    expect(own(onWeb, 0)).toEqual(bySetProfile);

    // over the phone's socket: the web only
    const viaSocket = await phone.execute(UPDATE_MY, { p: { location: 'Lyon' } });
    expect(viaSocket.errors).toBeUndefined();
    await waitUntil(onWeb, () => onWeb.events.length === 2);
    expect(own(onWeb, 1)).toEqual(viaSocket.data!.updateMyUserProfile);
    await expectNothingMore(server, [onPhone, onWeb]);

    // over HTTP with the web's device id: the phone only
    const fromWeb = await app.user('alice', { deviceId: 'web' });
    const viaHttp = await updateMy(fromWeb, { level: 7 });
    await waitUntil(onPhone, () => onPhone.events.length === 2);
    expect(own(onPhone, 1)).toEqual(viaHttp);
    await expectNothingMore(server, [onPhone, onWeb]);

    // a visibility change is a profile change too; from the phone's device id: the web only
    const fromPhone = await app.user('alice', { deviceId: 'phone' });
    await fromPhone.ok('mutation { updateMyUserProfileVisibility(visibility: FRIENDS_ONLY) }');
    await waitUntil(onWeb, () => onWeb.events.length === 3);
    expect(own(onWeb, 2)).toMatchObject({ version: viaHttp.version + 1, level: 7, location: 'Lyon', uniqueId: 'alice1', restricted: false });
    await expectNothingMore(server, [onPhone, onWeb]);

    // the backend again: both, whatever device made the earlier changes
    const again = (await app.backend.ok(SET_PROFILE, { u: 'alice', p: { name: 'Alice B' } })).setUserProfile;
    await waitUntil(onPhone, () => onPhone.events.length === 3);
    await waitUntil(onWeb, () => onWeb.events.length === 4);
    expect(own(onPhone, 2)).toEqual(again);
    expect(own(onWeb, 3)).toEqual(again);

    // nobody else's profile
    expect(onBob.events).toEqual([]);
    await Promise.all([phone.dispose(), web.dispose(), bob.dispose()]);
  });

  it('ownUserProfileChanged keeps the order of the changes under concurrent writes (no older profile after a newer one)', async () => {
    const app = await everyoneApp();
    const alice = await app.user('alice');
    const web = await goLive(server, app, 'alice', { deviceId: 'web' });
    const onWeb = openStream(web, OWN_PROFILE_SUBSCRIPTION);
    await setProfile(app, 'alice', { name: 'primed' });
    await waitUntil(onWeb, () => onWeb.events.length === 1);
    const written = await Promise.all(Array.from({ length: 20 }, (_, i) => updateMy(alice, { name: `n${i}`, level: i })));
    const finalVersion = Math.max(...written.map((p) => p.version));
    await server.app.realtime.drain();
    await waitUntil(onWeb, () => (onWeb.events.at(-1).ownUserProfileChanged as ProfileJson).version === finalVersion);
    await expectNothingMore(server, [onWeb], 100);
    const versions = onWeb.events.map((e) => (e.ownUserProfileChanged as ProfileJson).version);
    for (let i = 1; i < versions.length; i++) expect(versions[i], `delivered versions ${versions.join(',')}`).toBeGreaterThan(versions[i - 1]!);
    expect(onWeb.events.at(-1).ownUserProfileChanged).toEqual((await alice.ok(MY_PROFILE)).myUserProfile);
    await web.dispose();
  });

  it('a visibility change reaches subscribers as a profile change', async () => {
    const app = await server.newApp(); // default INVISIBLE
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    await updateMy(bob, { email: 'bob@x.io' });
    await subscribe(alice, 'USER_PROFILE', ['bob']);
    const live = await goLive(server, app, 'alice');
    const sub = await statusStream(live, ['USER_PROFILE']);
    expect(changes(sub)[0]!.userProfile).toMatchObject({ email: null, restricted: true });

    const result = await bob.ok('mutation { updateMyUserProfileVisibility(visibility: EVERYONE) }');
    expect(result.updateMyUserProfileVisibility).toBe('EVERYONE');
    await waitUntil(sub, () => changes(sub).length === 2);
    expect(changes(sub)[1]!.userProfile).toMatchObject({ email: 'bob@x.io', restricted: false, version: changes(sub)[0]!.userProfile!.version + 1 });
    await bob.ok('mutation { updateMyUserProfileVisibility(visibility: NOT_SET) }');
    await waitUntil(sub, () => changes(sub).length === 3);
    expect(changes(sub)[2]!.userProfile).toMatchObject({ email: null, restricted: true });
    await live.dispose();
  });
});

describe('friends and non-receivers', () => {
  it('FRIEND_ONLINE_STATUS / FRIEND_USER_PROFILE reach every friend without subscribing and do not count toward the 1000', async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: FRIENDS_ONLY) { appKey } }');
    const bob = await app.user('bob');
    await updateMy(bob, { name: 'Bob', email: 'bob@x.io' });
    const alice = await app.user('alice');
    await app.user('carol');
    await makeFriends(app, 'bob', 'alice');
    await makeFriends(app, 'carol', 'bob');

    const aliceLive = await goLive(server, app, 'alice');
    const carolLive = await goLive(server, app, 'carol');
    const onAlice = await statusStream(aliceLive, ['FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE']);
    const onCarol = await statusStream(carolLive, null);
    expect(changes(onAlice).map((e) => `${e.subscribeType}:${e.userId}`)).toEqual(['FRIEND_ONLINE_STATUS:bob', 'FRIEND_USER_PROFILE:bob']);
    expect(changes(onCarol).map((e) => `${e.subscribeType}:${e.userId}`)).toEqual(['FRIEND_ONLINE_STATUS:bob', 'FRIEND_USER_PROFILE:bob']);
    expect(changes(onAlice)[1]!.userProfile).toMatchObject({ email: 'bob@x.io', restricted: false });

    const written = await updateMy(bob, { name: 'Bobby' });
    const bobLive = await goLive(server, app, 'bob', { platform: 'ANDROID' });
    for (const sub of [onAlice, onCarol]) {
      await waitUntil(sub, () => changes(sub).length === 4);
      const [profile, online] = changes(sub).slice(2);
      expect(profile).toMatchObject({ userId: 'bob', subscribeType: 'FRIEND_USER_PROFILE', subscribeTime: null, expiry: null, details: [] });
      expect(profile!.userProfile).toMatchObject({ name: 'Bobby', email: 'bob@x.io', version: written.version, restricted: false });
      expect(online).toMatchObject({ userId: 'bob', subscribeType: 'FRIEND_ONLINE_STATUS', subscribeTime: null, expiry: null, userProfile: null });
      expect(online!.details).toEqual([expect.objectContaining({ platform: 'ANDROID', online: true })]);
    }
    await expectNothingMore(server, [onAlice, onCarol]);

    // no subscription rows were made for friends: alice still has all 1000 places, bob included
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(0);
    const others = Array.from({ length: 999 }, (_, i) => `x${i}`);
    for (let i = 0; i < others.length; i += 200) expect(await subscribe(alice, 'USER_PROFILE', others.slice(i, i + 200))).toEqual([]);
    expect(await subscribe(alice, 'USER_PROFILE', ['bob'])).toEqual([]);
    expect((await subscribedUsers(alice, 'USER_PROFILE')).totalCount).toBe(1000);
    expectError(await alice.fails(SUBSCRIBE, { t: 'USER_PROFILE', ids: ['x999'], e: 3600 }), 'LIMIT_EXCEEDED', { rcCode: 26022 });
    await Promise.all([aliceLive.dispose(), carolLive.dispose(), bobLive.dispose()]);
  });

  it('a stranger without a subscription receives nothing; an unsubscribed user stops receiving', async () => {
    const app = await everyoneApp();
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    await subscribe(alice, 'USER_PROFILE', ['bob']);
    await subscribe(alice, 'ONLINE_STATUS', ['bob']);
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const onAlice = await statusStream(aliceLive, null);
    const onEve = await statusStream(eveLive, null);
    const eveRelations = openStream(eveLive, RELATION_SUBSCRIPTION);
    const eveOwn = openStream(eveLive, OWN_PROFILE_SUBSCRIPTION);
    const eveStart = onEve.events.length;

    await updateMy(bob, { name: 'one' });
    const bobLive = await goLive(server, app, 'bob', { platform: 'PC' });
    await waitUntil(onAlice, () => changes(onAlice).length === 4);
    await expectNothingMore(server, [onEve, eveRelations, eveOwn]);
    expect(onEve.events).toHaveLength(eveStart);

    expect((await alice.ok(UNSUBSCRIBE, { t: 'USER_PROFILE', ids: ['bob'] })).unsubscribeUserStatus).toBe(true);
    expect((await alice.ok(UNSUBSCRIBE, { t: 'ONLINE_STATUS', ids: ['bob'] })).unsubscribeUserStatus).toBe(true);
    await updateMy(bob, { name: 'two' });
    await closeLive(server, app.appKey, 'bob', bobLive);
    await expectNothingMore(server, [onAlice, onEve, eveRelations, eveOwn]);
    expect(changes(onAlice)).toHaveLength(4);
    await Promise.all([aliceLive.dispose(), eveLive.dispose()]);
  });
});

describe('connection authentication', () => {
  it('revokeUserTokens closes the user’s sockets with 4403; a token issued right after connects and stays open', async () => {
    const app = await everyoneApp();
    const phone = await goLive(server, app, 'alice', { platform: 'IOS' });
    const web = await goLive(server, app, 'alice', { platform: 'WEB' });
    const bob = await goLive(server, app, 'bob');
    expect(await storedConnections(server, app.appKey, 'alice')).toBe(2);

    expect((await app.backend.ok('mutation { revokeUserTokens(userId: "alice") }')).revokeUserTokens).toBe(true);
    // same clock instant: the new token must work
    const fresh = await app.user('alice');
    const again = connectLive(server.url, { authToken: fresh.token, platform: 'IOS' });
    await again.connected;
    expect((await phone.closed).code).toBe(4403);
    expect((await web.closed).code).toBe(4403);
    await server.app.realtime.drain();
    const outcome = await Promise.race([again.closed.then((c) => `closed ${c.code}`), bob.closed.then((c) => `bob closed ${c.code}`), sleep(300).then(() => 'open')]);
    expect(outcome).toBe('open');
    // the fresh connection works and is online; the old token is refused over HTTP and WebSocket
    expect((await again.execute('{ myUserProfile { userId } }')).data).toEqual({ myUserProfile: { userId: 'alice' } });
    expect(await storedConnections(server, app.appKey, 'alice')).toBe(1);
    expectError(await new GraphQLClient(server.url, bearer(phone.token)).fails('{ myUserProfile { userId } }'), 'UNAUTHENTICATED');
    const stale = connectLive(server.url, { authToken: phone.token });
    expect((await stale.closed).code).toBe(4403);
    await Promise.all([again.dispose(), bob.dispose()]);
  });

  it('a bad or missing token closes with 4403, an invalid platform with 4400', async () => {
    const app = await server.newApp();
    const { token } = await app.user('alice');
    for (const params of [{ authToken: 'nope' }, { platform: 'WEB' }, { authToken: `${token}x` }]) {
      const live = connectLive(server.url, params);
      await expect(live.connected).rejects.toThrow();
      expect((await live.closed).code).toBe(4403);
    }
    for (const platform of ['SYMBIAN', 'web', 3]) {
      const live = connectLive(server.url, { authToken: token, platform });
      await expect(live.connected).rejects.toThrow();
      expect((await live.closed).code).toBe(4400);
    }
    expect(await storedConnections(server, app.appKey, 'alice')).toBe(0);
  });
});
