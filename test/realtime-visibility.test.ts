import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MY_PROFILE,
  SET_PROFILE,
  defineKey,
  expectBasic,
  makeFriends,
  setAppDefaultVisibility,
  setMyVisibility,
  updateMy,
  type ProfileJson,
} from './helpers/profiles.ts';
import {
  OWN_PROFILE_SUBSCRIPTION,
  SUBSCRIBED_STATUS,
  expectNothingMore,
  goLive,
  openStream,
  statusEvents,
  statusStream,
  subscribe,
  waitUntil,
  type StatusChangeJson,
} from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

type Visibility = 'EVERYONE' | 'FRIENDS_ONLY' | 'INVISIBLE';
const changes = (sub: Parameters<typeof statusEvents>[0]) => statusEvents(sub).filter((e): e is StatusChangeJson => e.__typename === 'UserStatusChange');

const FULL_PROFILE = {
  name: 'Bob',
  portraitUri: 'https://x.io/bob.png',
  uniqueId: 'bob42',
  email: 'bob@x.io',
  birthday: '1990-01-01',
  gender: 'MALE',
  location: 'Paris',
  role: 3,
  level: 9,
  userExtProfile: [
    { key: 'hobby', value: 'chess' },
    { key: 'secret', value: 'hidden from every user' },
  ],
};

/**
 * bob (the owner) with a full profile and a readable and an unreadable ext key; alice is bob's friend
 * and subscribes to him, eve is a stranger who subscribes to him; both are live after their sync.
 */
async function scene(visibility: Visibility, via: 'app default' | 'own setting') {
  const app = await server.newApp();
  await defineKey(app, 'hobby', true, true);
  await defineKey(app, 'secret', false, false);
  const bob = await app.user('bob');
  await app.backend.ok(SET_PROFILE, { u: 'bob', p: FULL_PROFILE });
  if (via === 'app default') await setAppDefaultVisibility(app, visibility);
  else await setMyVisibility(bob, visibility);
  const alice = await app.user('alice');
  const eve = await app.user('eve');
  await makeFriends(app, 'alice', 'bob');
  await subscribe(alice, 'USER_PROFILE', ['bob']);
  await subscribe(eve, 'USER_PROFILE', ['bob']);
  const aliceLive = await goLive(server, app, 'alice');
  const eveLive = await goLive(server, app, 'eve');
  const onAlice = await statusStream(aliceLive, ['USER_PROFILE', 'FRIEND_USER_PROFILE']);
  const onEve = await statusStream(eveLive, ['USER_PROFILE']);
  return { app, bob, alice, eve, onAlice, onEve, close: () => Promise.all([aliceLive.dispose(), eveLive.dispose()]) };
}

/** What bob himself sees: every field, ext keys without allowClientRead left out. */
async function ownView(bob: Awaited<ReturnType<TestApp['user']>>, hobby = 'chess'): Promise<ProfileJson> {
  const own = (await bob.ok<{ myUserProfile: ProfileJson }>(MY_PROFILE)).myUserProfile;
  expect(own.userExtProfile).toEqual([{ key: 'hobby', value: hobby }]);
  expect(own.restricted).toBe(false);
  return own;
}

function expectCut(profile: ProfileJson | null, full: ProfileJson, sees: boolean): void {
  expect(profile).not.toBeNull();
  if (sees) expect(profile).toEqual(full);
  else {
    expectBasic(profile!, { userId: 'bob', name: full.name, portraitUri: full.portraitUri });
    expect(profile!.version).toBe(full.version);
    expect(profile!.updatedAt).toBe(full.updatedAt);
  }
  expect(JSON.stringify(profile)).not.toContain('secret');
}

describe('per-receiver visibility of pushed profiles (SPEC §3, §6)', () => {
  const cases: { visibility: Visibility; friendSees: boolean; strangerSees: boolean }[] = [
    { visibility: 'FRIENDS_ONLY', friendSees: true, strangerSees: false },
    { visibility: 'EVERYONE', friendSees: true, strangerSees: true },
    { visibility: 'INVISIBLE', friendSees: false, strangerSees: false },
  ];
  for (const { visibility, friendSees, strangerSees } of cases) {
    for (const via of ['own setting', 'app default'] as const) {
      it(`${visibility} (${via}): friend ${friendSees ? 'sees all' : 'sees basic'}, stranger ${strangerSees ? 'sees all' : 'sees basic'}`, async () => {
        const s = await scene(visibility, via);
        // the sync is cut the same way
        const synced = await ownView(s.bob);
        const aliceSync = changes(s.onAlice);
        expect(aliceSync.map((e) => e.subscribeType)).toEqual(['USER_PROFILE', 'FRIEND_USER_PROFILE']);
        for (const e of aliceSync) expectCut(e.userProfile, synced, friendSees);
        expectCut(changes(s.onEve)[0]!.userProfile, synced, strangerSees);
        // and the query of current status
        const eveNow = (await s.eve.ok(SUBSCRIBED_STATUS, { t: 'USER_PROFILE', ids: ['bob'] })).subscribedUserStatus[0];
        expectCut(eveNow.userProfile, synced, strangerSees);

        // one change, fanned out to both receivers, each with its own cut
        await updateMy(s.bob, { email: 'new@x.io', userExtProfile: [{ key: 'hobby', value: 'go' }] });
        const own = await ownView(s.bob, 'go');
        expect(own).toMatchObject({ email: 'new@x.io', version: synced.version + 1 });
        await waitUntil(s.onAlice, () => changes(s.onAlice).length === 4);
        await waitUntil(s.onEve, () => changes(s.onEve).length === 2);
        const [toAlice, toAliceAsFriend] = changes(s.onAlice).slice(2);
        expect(toAlice!.subscribeType).toBe('USER_PROFILE');
        expect(toAliceAsFriend!.subscribeType).toBe('FRIEND_USER_PROFILE');
        expectCut(toAlice!.userProfile, own, friendSees);
        expectCut(toAliceAsFriend!.userProfile, own, friendSees);
        expectCut(changes(s.onEve)[1]!.userProfile, own, strangerSees);
        if (friendSees) expect(toAlice!.userProfile!.email).toBe('new@x.io');
        if (!strangerSees) expect(changes(s.onEve)[1]!.userProfile).toMatchObject({ email: null, restricted: true });
        await expectNothingMore(server, [s.onAlice, s.onEve]);
        await s.close();
      });
    }
  }

  it('a visibility change re-cuts what each receiver gets', async () => {
    const s = await scene('INVISIBLE', 'own setting');
    await setMyVisibility(s.bob, 'FRIENDS_ONLY');
    await waitUntil(s.onAlice, () => changes(s.onAlice).length === 4);
    await waitUntil(s.onEve, () => changes(s.onEve).length === 2);
    const own = (await s.bob.ok<{ myUserProfile: ProfileJson }>(MY_PROFILE)).myUserProfile;
    expectCut(changes(s.onAlice)[2]!.userProfile, own, true);
    expectCut(changes(s.onEve)[1]!.userProfile, own, false);

    await setMyVisibility(s.bob, 'EVERYONE');
    await waitUntil(s.onEve, () => changes(s.onEve).length === 3);
    const own2 = (await s.bob.ok<{ myUserProfile: ProfileJson }>(MY_PROFILE)).myUserProfile;
    expectCut(changes(s.onEve)[2]!.userProfile, own2, true);
    await s.close();
  });

  it('ownUserProfileChanged carries the full own profile, whatever the visibility, without unreadable ext keys', async () => {
    const s = await scene('INVISIBLE', 'own setting');
    const phone = await goLive(server, s.app, 'bob', { deviceId: 'phone' });
    const web = await goLive(server, s.app, 'bob', { deviceId: 'web' });
    const onPhone = openStream(phone, OWN_PROFILE_SUBSCRIPTION);
    const onWeb = openStream(web, OWN_PROFILE_SUBSCRIPTION);

    // the backend writes (it may write the unreadable key): both connections, full own view
    const written = (await s.app.backend.ok(SET_PROFILE, { u: 'bob', p: { level: 10, userExtProfile: [{ key: 'secret', value: 'still hidden' }] } }))
      .setUserProfile as ProfileJson;
    expect(written.userExtProfile).toEqual([
      { key: 'hobby', value: 'chess' },
      { key: 'secret', value: 'still hidden' },
    ]); // the backend sees every key
    await waitUntil(onPhone, () => onPhone.events.length === 1);
    await waitUntil(onWeb, () => onWeb.events.length === 1);
    const own = await ownView(s.bob);
    expect(onPhone.events[0].ownUserProfileChanged).toEqual(own);
    expect(onWeb.events[0].ownUserProfileChanged).toEqual(own);
    expect(own).toMatchObject({ uniqueId: 'bob42', email: 'bob@x.io', birthday: '1990-01-01', gender: 'MALE', location: 'Paris', role: 3, level: 10 });

    // a user change from the phone's device: the web gets the full profile too
    const fromPhone = await s.app.user('bob', { deviceId: 'phone' });
    const mine = await updateMy(fromPhone, { location: 'Nice' });
    await waitUntil(onWeb, () => onWeb.events.length === 2);
    expect(onWeb.events[1].ownUserProfileChanged).toEqual(mine);
    expect(mine.userExtProfile).toEqual([{ key: 'hobby', value: 'chess' }]);
    expect(mine.restricted).toBe(false);
    await expectNothingMore(server, [onPhone, onWeb]);

    // the subscribers got the same two changes, cut for them (basic: INVISIBLE)
    await waitUntil(s.onEve, () => changes(s.onEve).length === 3);
    for (const e of changes(s.onEve).slice(1)) {
      expectBasic(e.userProfile!, { userId: 'bob', name: 'Bob', portraitUri: FULL_PROFILE.portraitUri });
      expect(JSON.stringify(e)).not.toContain('secret');
    }
    await Promise.all([phone.dispose(), web.dispose(), s.close()]);
  });
});
