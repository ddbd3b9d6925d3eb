/**
 * SPEC §1: an app is a tenant; nothing of one app is ever visible to (or changed by) another.
 * Every test works with two apps A and B that use the same user ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic } from './helpers/client.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import {
  ADMIN_PROFILES,
  MY_PROFILE,
  SET_PROFILE,
  USER_PROFILES,
  adminProfile,
  defineKey,
  expectError,
  makeFriends,
  setAppDefaultVisibility,
  setProfile,
  updateMy,
  type ProfileJson,
} from './helpers/profiles.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

async function twoApps(): Promise<[TestApp, TestApp]> {
  return Promise.all([server.newApp('A'), server.newApp('B')]);
}

const SEARCH = 'query($q: String!) { searchUserProfileByUniqueId(uniqueId: $q) { userId name email } }';

describe('tenancy', () => {
  it('the same userId in two apps is two users with their own profiles and versions', async () => {
    const [a, b] = await twoApps();
    const aliceA = await a.user('alice');
    const aliceB = await b.user('alice');
    await updateMy(aliceA, { name: 'Alice of A', email: 'a@a.example' });
    await updateMy(aliceA, { location: 'A-town' });
    const mineB = (await aliceB.ok(MY_PROFILE)).myUserProfile as ProfileJson;
    expect(mineB).toMatchObject({ userId: 'alice', name: null, email: null, location: null, version: 1 });
    await setProfile(b, 'alice', { name: 'Alice of B' });
    expect((await aliceA.ok(MY_PROFILE)).myUserProfile).toMatchObject({ name: 'Alice of A', email: 'a@a.example', location: 'A-town', version: 3 });
    expect((await aliceB.ok(MY_PROFILE)).myUserProfile).toMatchObject({ name: 'Alice of B', version: 2 });
  });

  it("a token of app A reading ids that exist only in B sees nothing; shared ids resolve to A's user", async () => {
    const [a, b] = await twoApps();
    await setAppDefaultVisibility(a, 'EVERYONE');
    await setAppDefaultVisibility(b, 'EVERYONE');
    await setProfile(a, 'shared', { name: 'shared in A', email: 'sa@example.com' });
    await setProfile(b, 'shared', { name: 'shared in B', email: 'sb@example.com' });
    await setProfile(b, 'onlyB', { name: 'only in B' });
    const viewerA = await a.user('viewer');
    const { userProfiles } = await viewerA.ok(USER_PROFILES, { ids: ['onlyB', 'shared'] });
    expect(userProfiles).toHaveLength(1);
    expect(userProfiles[0]).toMatchObject({ userId: 'shared', name: 'shared in A', email: 'sa@example.com' });
    expect((await viewerA.ok(USER_PROFILES, { ids: ['onlyB'] })).userProfiles).toEqual([]);
  });

  it('search by uniqueId finds only users of the caller app', async () => {
    const [a, b] = await twoApps();
    await setAppDefaultVisibility(a, 'EVERYONE');
    await setProfile(b, 'bob', { name: 'Bob B', uniqueId: 'bobby' });
    const viewerA = await a.user('viewer');
    expect((await viewerA.ok(SEARCH, { q: 'bobby' })).searchUserProfileByUniqueId).toBeNull();
    await setProfile(a, 'robert', { name: 'Robert A', uniqueId: 'bobby' });
    expect((await viewerA.ok(SEARCH, { q: 'bobby' })).searchUserProfileByUniqueId).toEqual({ userId: 'robert', name: 'Robert A', email: null });
    const viewerB = await b.user('viewer');
    expect((await viewerB.ok(SEARCH, { q: 'bobby' })).searchUserProfileByUniqueId).toMatchObject({ userId: 'bob', name: 'Bob B' });
  });

  it("adminUserProfiles and allUserProfiles list the backend's own app only", async () => {
    const [a, b] = await twoApps();
    await setProfile(a, 'shared', { name: 'A shared', email: 'a@example.com' });
    await setProfile(a, 'onlyA', { name: 'A only' });
    await setProfile(b, 'shared', { name: 'B shared', email: 'b@example.com' });
    for (let i = 0; i < 3; i++) await setProfile(b, `b${i}`, { name: `B ${i}` });

    const { adminUserProfiles } = await a.backend.ok(ADMIN_PROFILES, { ids: ['b0', 'shared', 'b1'] });
    expect(adminUserProfiles).toHaveLength(1);
    expect(adminUserProfiles[0]).toMatchObject({ userId: 'shared', name: 'A shared', email: 'a@example.com' });

    const page = (await a.backend.ok('{ allUserProfiles(size: 100) { items { userId name } totalCount } }')).allUserProfiles;
    expect(page.totalCount).toBe(2);
    expect(page.items).toEqual([
      { userId: 'shared', name: 'A shared' },
      { userId: 'onlyA', name: 'A only' },
    ]);
    const pageB = (await b.backend.ok('{ allUserProfiles(size: 100, order: DESC) { items { userId } totalCount } }')).allUserProfiles;
    expect(pageB.totalCount).toBe(4);
    expect(pageB.items.map((p: { userId: string }) => p.userId)).toEqual(['b2', 'b1', 'b0', 'shared']);
  });

  it('issuing a token in A creates the user in A only', async () => {
    const [a, b] = await twoApps();
    await a.user('newbie');
    expect(await adminProfile(a, 'newbie')).toBeDefined();
    expect(await adminProfile(b, 'newbie')).toBeUndefined();
    expect((await b.backend.ok('{ allUserProfiles { totalCount } }')).allUserProfiles.totalCount).toBe(0);
  });
});

describe('ext keys', () => {
  it('are defined per app: a key of A is undefined in B, listed in A only, and counted in A only', async () => {
    const [a, b] = await twoApps();
    for (let i = 0; i < 20; i++) await defineKey(a, `k${i}`);
    await setProfile(a, 'alice', { userExtProfile: [{ key: 'k0', value: 'A' }] });
    const error = await b.backend.fails(SET_PROFILE, { u: 'alice', p: { userExtProfile: [{ key: 'k0', value: 'B' }] } });
    expectError(error, 'BAD_USER_INPUT', { rcCode: 24362, keys: ['k0'] });
    const aliceB = await b.user('alice');
    expectError(await aliceB.fails('mutation { updateMyUserProfile(profile: { userExtProfile: [{ key: "k1", value: "x" }] }) { version } }'), 'BAD_USER_INPUT', {
      rcCode: 24362,
      keys: ['k1'],
    });
    expect((await b.backend.ok('{ extProfileKeys { key } }')).extProfileKeys).toEqual([]);
    expect((await a.backend.ok('{ extProfileKeys { key } }')).extProfileKeys).toHaveLength(20);
    // A is full; B still has room for all 20
    for (let i = 0; i < 20; i++) await defineKey(b, `k${i}`, i % 2 === 0, true);
    expect((await b.backend.ok('{ extProfileKeys { key } }')).extProfileKeys).toHaveLength(20);
    // redefining in B does not change A's flags
    const flagsA = (await a.backend.ok('{ extProfileKeys { key allowClientRead } }')).extProfileKeys;
    expect(flagsA.every((k: { allowClientRead: boolean }) => k.allowClientRead)).toBe(true);
  });

  it('removing a key in A leaves the same key and its values in B', async () => {
    const [a, b] = await twoApps();
    await defineKey(a, 'color');
    await defineKey(b, 'color');
    await setProfile(a, 'alice', { userExtProfile: [{ key: 'color', value: 'red' }] });
    const bAlice = await setProfile(b, 'alice', { userExtProfile: [{ key: 'color', value: 'blue' }] });
    expect((await a.backend.ok('mutation { removeExtProfileKey(key: "color") }')).removeExtProfileKey).toBe(true);
    expect((await adminProfile(a, 'alice'))!.userExtProfile).toEqual([]);
    expect(await adminProfile(b, 'alice')).toEqual(bAlice);
    expect((await b.backend.ok('{ extProfileKeys { key } }')).extProfileKeys).toEqual([{ key: 'color' }]);
  });
});

describe('app settings', () => {
  it("updateAppSettings of A changes neither B's settings nor what B's users see", async () => {
    const [a, b] = await twoApps();
    await setProfile(a, 'owner', { name: 'O', email: 'oa@example.com' });
    await setProfile(b, 'owner', { name: 'O', email: 'ob@example.com' });
    const viewerA = await a.user('viewer');
    const viewerB = await b.user('viewer');
    const settingsB = (await b.backend.ok('{ appSettings { appKey name defaultProfileVisibility defaultFriendAddPermission } }')).appSettings;
    const updated = await a.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE, defaultFriendAddPermission: FREE) { appKey defaultProfileVisibility defaultFriendAddPermission } }');
    expect(updated.updateAppSettings).toEqual({ appKey: a.appKey, defaultProfileVisibility: 'EVERYONE', defaultFriendAddPermission: 'FREE' });
    expect((await b.backend.ok('{ appSettings { appKey name defaultProfileVisibility defaultFriendAddPermission } }')).appSettings).toEqual(settingsB);
    expect(settingsB).toMatchObject({ appKey: b.appKey, name: 'B', defaultProfileVisibility: 'INVISIBLE', defaultFriendAddPermission: 'NEED_VERIFY' });
    expect((await viewerA.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0].email).toBe('oa@example.com');
    expect((await viewerB.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0].email).toBeNull();
    expect((await a.backend.ok('{ appSettings { appKey name } }')).appSettings).toEqual({ appKey: a.appKey, name: 'A' });
  });

  it("A's appKey with B's secret (or the reverse) is no credential at all", async () => {
    const [a, b] = await twoApps();
    for (const header of [basic(a.appKey, b.appSecret), basic(b.appKey, a.appSecret)]) {
      expectError(await new GraphQLClient(server.url, header).fails('{ appSettings { appKey } }'), 'UNAUTHENTICATED');
    }
  });
});

describe('friendships', () => {
  it('a friendship in A does not exist in B', async () => {
    const [a, b] = await twoApps();
    await setAppDefaultVisibility(a, 'FRIENDS_ONLY');
    await setAppDefaultVisibility(b, 'FRIENDS_ONLY');
    await a.user('owner');
    await setProfile(a, 'owner', { email: 'a@example.com' });
    await setProfile(b, 'owner', { email: 'b@example.com' });
    const viewerA = await a.user('viewer');
    const viewerB = await b.user('viewer');
    await makeFriends(a, 'viewer', 'owner');
    expect((await viewerA.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ email: 'a@example.com', restricted: false });
    expect((await viewerB.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ email: null, restricted: true });
  });
});

describe('tokens and cleaning', () => {
  it('revokeUserTokens in A does not affect the same user id in B', async () => {
    const [a, b] = await twoApps();
    const aliceA = await a.user('alice');
    const aliceB = await b.user('alice');
    expect((await a.backend.ok('mutation { revokeUserTokens(userId: "alice") }')).revokeUserTokens).toBe(true);
    expectError(await aliceA.fails(MY_PROFILE), 'UNAUTHENTICATED');
    expect((await aliceB.ok(MY_PROFILE)).myUserProfile.userId).toBe('alice');
    // B cannot revoke A's users: for B it is its own alice
    expect((await b.backend.ok('mutation { revokeUserTokens(userId: "onlyInA") }')).revokeUserTokens).toBe(false);
  });

  it('cleanUserProfiles in A leaves B: profile, token and friendships', async () => {
    const [a, b] = await twoApps();
    const aliceA = await a.user('alice');
    const aliceB = await b.user('alice');
    await b.user('bob');
    await setProfile(a, 'alice', { name: 'A' });
    const before = await setProfile(b, 'alice', { name: 'B', email: 'b@example.com' });
    await makeFriends(b, 'alice', 'bob');
    expect((await a.backend.ok('mutation { cleanUserProfiles(userIds: ["alice", "bob"]) }')).cleanUserProfiles).toBe(1);
    expect(await adminProfile(a, 'alice')).toBeUndefined();
    expectError(await aliceA.fails(MY_PROFILE), 'UNAUTHENTICATED');
    expect(await adminProfile(b, 'alice')).toEqual(before);
    expect((await aliceB.ok(MY_PROFILE)).myUserProfile).toMatchObject({ name: 'B', email: 'b@example.com' });
    expect(await adminProfile(b, 'bob')).toBeDefined();
    const check = await aliceB.ok('{ checkFriends(userIds: ["bob"]) { userId isFriend } }');
    expect(check.checkFriends).toEqual([{ userId: 'bob', isFriend: true }]);
  });
});
