import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProfileClient,
  DirectionType,
  ErrorCode,
  Events,
  FriendAddPermission,
  FriendApplicationStatus,
  FriendApplicationType,
  FriendRelationType,
  Gender,
  Platform,
  ProfileClientError,
  ProfileField,
  QueryFriendsDirectionType,
  SubscribeType,
  UserProfileVisibility,
  type ProfileClient,
  type SubscribeInfoEvent,
} from '../src/client/index.ts';
import { defineKey, makeFriends, setProfile } from './helpers/profiles.ts';
import { sdkClient, type RecordedClient } from './helpers/sdk.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

let server: TestServer;
const open: ProfileClient[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.disconnect()));
  await server?.stop();
});

async function user(app: TestApp, userId: string, options: Parameters<typeof sdkClient>[3] = {}): Promise<RecordedClient> {
  const recorded = await sdkClient(server, app, userId, options);
  open.push(recorded.client);
  return recorded;
}

/** The rejection of a call that must fail. */
async function failure(promise: Promise<unknown>): Promise<ProfileClientError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProfileClientError);
  return error as ProfileClientError;
}

describe('profiles', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await server.newApp();
    await defineKey(app, 'hobby');
    await defineKey(app, 'city');
    await defineKey(app, 'secret', true, false);
  });

  it('updateMyUserProfile takes RongCloud’s shape: gender as a number, extraProfile as an alias of userExtProfile', async () => {
    const { client } = await user(app, 'alice');
    const res = await client.updateMyUserProfile({
      name: 'Alice',
      portraitUri: 'https://img.example/a.png',
      email: 'alice@example.com',
      birthday: '1990-01-01',
      gender: Gender.FEMALE,
      location: 'Berlin',
      role: 1,
      level: 7,
      extraProfile: { hobby: 'chess' },
      userExtProfile: { city: 'Berlin' },
    });
    expect(res.code).toBe(ErrorCode.SUCCESS);
    expect(res.data).toMatchObject({
      userId: 'alice',
      name: 'Alice',
      gender: 2,
      role: 1,
      level: 7,
      userExtProfile: { hobby: 'chess', city: 'Berlin' },
      extraProfile: { hobby: 'chess', city: 'Berlin' },
      restricted: false,
    });
    expect(res.data!.version).toBeGreaterThan(1);
    expect(typeof res.data!.updatedAt).toBe('number');

    const mine = await client.getMyUserProfile();
    expect(mine).toEqual({ code: 0, data: res.data });

    // null clears, omitted stays, a null ext value removes the key
    const cleared = await client.updateMyUserProfile({ email: null, extraProfile: { hobby: null } });
    expect(cleared.data).toMatchObject({ name: 'Alice', userExtProfile: { city: 'Berlin' } });
    expect(cleared.data).not.toHaveProperty('email');
  });

  it('getUserProfiles applies visibility (basic view for others by default) and leaves unknown ids out', async () => {
    const { client: bob } = await user(app, 'bob');
    await setProfile(app, 'carol', { name: 'Carol', email: 'carol@example.com', gender: 'MALE', uniqueId: 'carol7' });
    const res = await bob.getUserProfiles(['carol', 'nobody']);
    expect(res.code).toBe(0);
    expect(res.data).toEqual([{ userId: 'carol', name: 'Carol', version: expect.any(Number), updatedAt: expect.any(Number), restricted: true }]);
  });

  it('updateMyUserProfileVisibility / getMyUserProfileVisibility speak RongCloud’s numbers', async () => {
    const { client: dave } = await user(app, 'dave');
    const { client: erin } = await user(app, 'erin');
    await dave.updateMyUserProfile({ email: 'dave@example.com' });
    expect(await dave.getMyUserProfileVisibility()).toEqual({ code: 0, data: UserProfileVisibility.NOT_SET });
    expect(await dave.updateMyUserProfileVisibility(UserProfileVisibility.EVERYONE)).toEqual({ code: 0, data: 2 });
    expect(await dave.getMyUserProfileVisibility()).toEqual({ code: 0, data: 2 });
    expect((await erin.getUserProfiles(['dave'])).data![0]).toMatchObject({ email: 'dave@example.com', restricted: false });
    expect(await dave.updateMyUserProfileVisibility(UserProfileVisibility.FRIEND_VISIBLE)).toEqual({ code: 0, data: 3 });
    expect((await erin.getUserProfiles(['dave'])).data![0]).not.toHaveProperty('email');
    const bad = await failure(dave.updateMyUserProfileVisibility(9 as never));
    expect(bad.code).toBe(ErrorCode.INVALID_PARAMETER);
  });

  it('getMyFieldVisibility / updateMyFieldVisibility: ProfileField names, RongCloud’s visibility numbers, all or nothing', async () => {
    const { client: gina } = await user(app, 'gina');
    const { client: hank } = await user(app, 'hank');
    await gina.updateMyUserProfile({ email: 'gina@example.com', location: 'Rome', extraProfile: { hobby: 'chess', city: 'Rome' } });
    expect(await gina.getMyFieldVisibility()).toEqual({ code: 0, data: [] });
    // the app's default hides everything from others; two fields and one ext key shown to everyone
    const set = await gina.updateMyFieldVisibility([
      { field: ProfileField.EMAIL, visibility: UserProfileVisibility.EVERYONE },
      { field: ProfileField.LOCATION, visibility: UserProfileVisibility.FRIEND_VISIBLE },
      { extKey: 'hobby', visibility: UserProfileVisibility.EVERYONE },
    ]);
    expect(set).toEqual({
      code: 0,
      data: [
        { field: 'email', visibility: 2 },
        { field: 'location', visibility: 3 },
        { extKey: 'hobby', visibility: 2 },
      ],
    });
    expect(await gina.getMyFieldVisibility()).toEqual(set);
    const seen = (await hank.getUserProfiles(['gina'])).data![0]!;
    expect(seen).toMatchObject({ email: 'gina@example.com', userExtProfile: { hobby: 'chess' }, restricted: true });
    expect(seen).not.toHaveProperty('location');
    // NOT_SET removes one
    expect((await gina.updateMyFieldVisibility([{ field: ProfileField.EMAIL, visibility: UserProfileVisibility.NOT_SET }])).data).toEqual([
      { field: 'location', visibility: 3 },
      { extKey: 'hobby', visibility: 2 },
    ]);
    expect((await hank.getUserProfiles(['gina'])).data![0]).not.toHaveProperty('email');
    // refused before sending (33003), or by the server (its BAD_USER_INPUT); nothing changes
    const both = await failure(gina.updateMyFieldVisibility([{ field: ProfileField.EMAIL, extKey: 'hobby', visibility: 2 }]));
    expect(both.code).toBe(ErrorCode.INVALID_PARAMETER);
    expect(both.errorKeys).toEqual(['settings']);
    expect((await failure(gina.updateMyFieldVisibility([{ field: 'nickname' as never, visibility: 2 }]))).code).toBe(ErrorCode.INVALID_PARAMETER);
    expect((await failure(gina.updateMyFieldVisibility([{ field: ProfileField.ROLE, visibility: 9 as never }]))).code).toBe(ErrorCode.INVALID_PARAMETER);
    const unknown = await failure(gina.updateMyFieldVisibility([{ extKey: 'nope', visibility: UserProfileVisibility.INVISIBLE }]));
    expect(unknown.code).toBe(24362);
    expect((await gina.getMyFieldVisibility()).data).toHaveLength(2);
  });

  it('searchUserProfileByUniqueId finds exact matches; a miss is 24366 as in RongCloud', async () => {
    const { client } = await user(app, 'frank');
    const hit = await client.searchUserProfileByUniqueId('carol7');
    expect(hit.data).toMatchObject({ userId: 'carol', name: 'Carol' });
    const miss = await failure(client.searchUserProfileByUniqueId('CAROL7'));
    expect(miss.code).toBe(ErrorCode.USER_PROFILE_USER_NOT_EXIST);
    expect(miss.code).toBe(24366);
  });

  it('failures carry RongCloud’s numeric codes and the offending keys', async () => {
    const { client } = await user(app, 'gina');
    const tooLong = await failure(client.updateMyUserProfile({ extraProfile: { hobby: 'x'.repeat(257) } }));
    expect(tooLong.code).toBe(24364);
    expect(tooLong.errorKeys).toEqual(['hobby']);
    expect(tooLong.extensionCode).toBe('BAD_USER_INPUT');
    expect(tooLong.graphQLError?.extensions?.rcCode).toBe(24364);

    const undefinedKey = await failure(client.updateMyUserProfile({ userExtProfile: { nope: 'x' } }));
    expect(undefinedKey.code).toBe(24362);
    expect(undefinedKey.errorKeys).toEqual(['nope']);

    const notWritable = await failure(client.updateMyUserProfile({ userExtProfile: { secret: 'x' } }));
    expect(notWritable.code).toBe(24360);

    const tooMany = await failure(client.getUserProfiles(Array.from({ length: 21 }, (_, i) => `u${i}`)));
    expect(tooMany.code).toBe(24365);

    // several bad fields: every one is named
    const several = await failure(client.updateMyUserProfile({ name: 'n'.repeat(33), role: 101 }));
    expect(several.errorKeys).toEqual(expect.arrayContaining(['name', 'role']));

    // the SDK cannot set uniqueId (RongCloud: "cannot be set via SDK"): refused before sending
    const unique = await failure(client.updateMyUserProfile({ uniqueId: 'x' } as never));
    expect(unique.code).toBe(24360);
    expect(unique.errorKeys).toEqual(['uniqueId']);
    expect(unique.graphQLError).toBeUndefined();

    // codes without a RongCloud equivalent: stable numbers per extensions.code
    const current = (await client.getMyUserProfile()).data!.version;
    const conflict = await failure(client.updateMyUserProfile({ name: 'G' }, { expectedVersion: current + 5 }));
    expect(conflict.code).toBe(ErrorCode.VERSION_CONFLICT);
    expect(conflict.extensionCode).toBe('VERSION_CONFLICT');
    expect(await client.updateMyUserProfile({ name: 'G' }, { expectedVersion: current })).toMatchObject({ code: 0, data: { version: current + 1 } });

    const badToken = createProfileClient({ url: server.url, token: 'not-a-token' });
    const unauthenticated = await failure(badToken.getMyUserProfile());
    expect(unauthenticated.code).toBe(ErrorCode.UNAUTHENTICATED);

    const unreachable = createProfileClient({ url: 'http://127.0.0.1:1/graphql', token: 't' });
    expect((await failure(unreachable.getMyUserProfile())).code).toBe(ErrorCode.NETWORK_ERROR);
  });

  it('a role or level that is not a whole number is 24367 for either field, refused before sending; out of range is the server’s 24368', async () => {
    const { token } = await app.user('ivy');
    let posts = 0;
    const counting: typeof fetch = (input, init) => {
      posts++;
      return fetch(input, init);
    };
    const client = createProfileClient({ url: server.url, token, fetch: counting });
    open.push(client);
    const before = (await client.getMyUserProfile()).data!.version;
    posts = 0;
    for (const bad of [{ role: 'admin' }, { level: '5' }, { role: 1.5 }, { level: Number.NaN }, { role: {} }] as const) {
      const refused = await failure(client.updateMyUserProfile(bad as never));
      expect(refused.code).toBe(ErrorCode.RC_USER_PROFILE_VALUE_CAN_ONLY_BE_NUMBERS);
      expect(refused.errorKeys).toEqual(Object.keys(bad));
      expect(refused.graphQLError).toBeUndefined();
    }
    const both = await failure(client.updateMyUserProfile({ role: 'x', level: 'y' } as never));
    expect(both.code).toBe(24367);
    expect(both.errorKeys).toEqual(['role', 'level']);
    expect(posts).toBe(0);
    // whole numbers go to the server, which checks the range
    const outOfRange = await failure(client.updateMyUserProfile({ level: 101 }));
    expect(outOfRange.code).toBe(ErrorCode.RC_USER_PROFILE_VALUE_EXCEED_RANGE);
    expect(outOfRange.errorKeys).toEqual(['level']);
    expect(posts).toBe(1);
    expect(await client.updateMyUserProfile({ role: 7, level: null })).toMatchObject({ code: 0, data: { role: 7, version: before + 1 } });
  });

  it("with errors: 'resolve', failures resolve to { code, msg, errorKeys } like RongIMLib", async () => {
    const { client } = await user(app, 'hank', { errors: 'resolve' });
    const res = await client.updateMyUserProfile({ extraProfile: { hobby: 'x'.repeat(300) } });
    expect(res).toEqual({ code: 24364, msg: expect.stringContaining('hobby'), errorKeys: ['hobby'] });
    expect(await client.searchUserProfileByUniqueId('none')).toMatchObject({ code: 24366 });
    expect((await client.getMyUserProfile()).code).toBe(0);
  });
});

describe('status subscriptions', () => {
  it('subscribeUserStatus(userIds, type, expiry), the queries, and unSubscribeUserStatus', async () => {
    const app = await server.newApp();
    const { client: alice } = await user(app, 'alice');
    await user(app, 'bob');
    expect(await alice.subscribeUserStatus(['bob', 'carol'], SubscribeType.ONLINE_STATUS, 3600)).toEqual({ code: 0, data: [] });
    expect(await alice.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 600)).toEqual({ code: 0, data: [] });

    const list = await alice.getSubscribeUserList(SubscribeType.ONLINE_STATUS, 10, 0);
    expect(list.data!.totalCount).toBe(2);
    expect(list.data!.data.map((s) => s.userId).sort()).toEqual(['bob', 'carol']);
    expect(list.data!.data[0]).toMatchObject({ subscribeType: 1, operationType: 0, expiry: 3600, subscribeTime: server.clock.now().getTime() });

    const status = await alice.getSubscribeUserStatus(['bob'], SubscribeType.ONLINE_STATUS);
    expect(status.data).toEqual([{ userId: 'bob', subscribeType: 1, subscribeTime: expect.any(Number), expiry: 3600, updateTime: expect.any(Number), details: [] }]);

    // the same queries under the names of RongCloud's wrappers (querySubscribeEvent / ByPage)
    expect(await alice.querySubscribeEvent({ subscribeType: SubscribeType.ONLINE_STATUS, userIds: ['bob'] })).toEqual(status);
    const page = await alice.querySubscribeEventByPage({ subscribeType: SubscribeType.ONLINE_STATUS }, 1, 1);
    expect(page.code).toBe(0);
    expect(page.data).toEqual([expect.objectContaining({ subscribeType: 1, expiry: 3600, details: [] })]);
    const firstPage = await alice.querySubscribeEventByPage({ subscribeType: SubscribeType.ONLINE_STATUS }, 1, 0);
    expect([firstPage.data![0]!.userId, page.data![0]!.userId].sort()).toEqual(['bob', 'carol']);
    expect(await alice.querySubscribeEventByPage({ subscribeType: SubscribeType.ONLINE_STATUS }, 10, 5)).toEqual({ code: 0, data: [] });
    expect((await failure(alice.querySubscribeEvent({ subscribeType: 9 as never, userIds: ['bob'] }))).code).toBe(ErrorCode.INVALID_PARAMETER);

    expect(await alice.unSubscribeUserStatus(['carol'], SubscribeType.ONLINE_STATUS)).toEqual({ code: 0 });
    expect((await alice.getSubscribeUserList(SubscribeType.ONLINE_STATUS)).data!.totalCount).toBe(1);

    const self = await failure(alice.subscribeUserStatus(['alice'], SubscribeType.ONLINE_STATUS, 3600));
    expect(self.code).toBe(ErrorCode.BAD_USER_INPUT);
    const friendType = await failure(alice.subscribeUserStatus(['bob'], SubscribeType.FRIEND_ONLINE_STATUS, 3600));
    expect(friendType.code).toBe(ErrorCode.BAD_USER_INPUT);
    const badType = await failure(alice.unSubscribeUserStatus(['bob'], 7 as never));
    expect(badType.code).toBe(ErrorCode.INVALID_PARAMETER);
  });
});

describe('friends', () => {
  it('the friend calls, with RongCloud’s codes (processCode 25461 = application sent) and numbers', async () => {
    const app = await server.newApp();
    const { client: alice } = await user(app, 'alice');
    const { client: bob } = await user(app, 'bob');
    const { client: carol } = await user(app, 'carol');
    await setProfile(app, 'bob', { name: 'Bob' });

    expect(await alice.getFriendAddPermission()).toEqual({ code: 0, data: FriendAddPermission.NOT_SET });
    // the app default is NEED_VERIFY: an application is sent
    expect(await alice.addFriend('bob', DirectionType.BOTH, 'hi')).toEqual({ code: 0, data: { processCode: ErrorCode.RC_FRIEND_NEED_ACCEPT } });
    expect(ErrorCode.RC_FRIEND_NEED_ACCEPT).toBe(25461);

    const received = await bob.getFriendApplications({ count: 10 }, [FriendApplicationType.RECEIVED], [FriendApplicationStatus.UNHANDLED]);
    expect(received).toEqual({
      code: 0,
      data: {
        data: [{ userId: 'alice', applicationType: 2, applicationStatus: 0, extra: 'hi', operationTime: expect.any(Number), expiresAt: expect.any(Number) }],
        pageToken: '',
      },
    });
    const sent = await alice.getFriendApplications({}, [FriendApplicationType.SENT]);
    expect(sent.data!.data).toMatchObject([{ userId: 'bob', applicationType: 1, applicationStatus: 0 }]);

    expect(await bob.acceptFriendApplication('alice')).toEqual({ code: 0 });
    // more than one status: filtered on the page
    const handled = await alice.getFriendApplications({}, undefined, [FriendApplicationStatus.ACCEPTED, FriendApplicationStatus.REFUSED]);
    expect(handled.data!.data).toMatchObject([{ userId: 'bob', applicationStatus: FriendApplicationStatus.ACCEPTED }]);

    expect(await alice.setFriendInfo('bob', 'Bobby')).toEqual({ code: 0 });
    const friends = await alice.getFriends(DirectionType.BOTH, { count: 10 });
    expect(friends.data).toEqual({
      data: [
        {
          userId: 'bob',
          name: 'Bob',
          remark: 'Bobby',
          extProfile: {},
          addTime: expect.any(Number),
          directionType: DirectionType.BOTH,
          inBlackList: false,
          userProfile: expect.objectContaining({ userId: 'bob', name: 'Bob' }),
        },
      ],
      pageToken: '',
    });
    expect(await alice.checkFriends(['bob', 'carol'])).toEqual({
      code: 0,
      data: [
        { userId: 'bob', relationType: FriendRelationType.BOTH_WAY },
        { userId: 'carol', relationType: FriendRelationType.NONE },
      ],
    });

    // already friends, adding yourself: RongCloud's codes
    expect((await failure(alice.addFriend('bob'))).code).toBe(25460);
    expect((await failure(alice.addFriend('alice'))).code).toBe(ErrorCode.RC_FRIEND_NOT_ALLOW_ADD_SELF);
    expect(ErrorCode.RC_FRIEND_NOT_ALLOW_ADD_SELF).toBe(25473);
    // friendships are mutual here
    expect((await failure(alice.addFriend('carol', DirectionType.ONE_WAY))).code).toBe(ErrorCode.INVALID_PARAMETER);

    // FREE adds at once; NO_ONE_ALLOWED refuses
    expect(await carol.setFriendAddPermission(FriendAddPermission.FREE)).toEqual({ code: 0, data: 1 });
    server.clock.advance(1000);
    expect(await alice.addFriend('carol')).toEqual({ code: 0, data: { processCode: 0 } });
    // RongIMLib's order: false lists the newest friendship first (carol, then bob)
    expect((await alice.getFriends(QueryFriendsDirectionType.BOTH, { order: false })).data!.data.map((f) => f.userId)).toEqual(['carol', 'bob']);
    expect((await alice.getFriends(QueryFriendsDirectionType.BOTH, { order: true })).data!.data.map((f) => f.userId)).toEqual(['bob', 'carol']);
    expect(await carol.setFriendAddPermission(FriendAddPermission.NO_ONE_ALLOWED)).toEqual({ code: 0, data: 3 });
    expect((await failure(bob.addFriend('carol'))).code).toBe(25471);

    // refuse, then delete
    const { client: dan } = await user(app, 'dan');
    expect((await dan.addFriend('alice', DirectionType.BOTH)).data).toEqual({ processCode: 25461 });
    expect(await alice.refuseFriendApplication('dan', 'no thanks')).toEqual({ code: 0 });
    expect((await dan.getFriendApplications()).data!.data).toMatchObject([{ userId: 'alice', applicationStatus: 2, reason: 'no thanks' }]);
    expect((await failure(alice.acceptFriendApplication('dan'))).code).toBe(25466);

    expect(await alice.deleteFriends(['bob', 'carol'])).toEqual({ code: 0 });
    expect((await alice.getFriends()).data!.data).toEqual([]);
  });
});

describe('events', () => {
  it('connect() opens one graphql-ws connection: the user goes online and the four syncs finish', async () => {
    const app = await server.newApp();
    const alice = await user(app, 'alice');
    expect(await alice.client.connect()).toEqual({ code: 0, data: { userId: 'alice' } });
    const finished = await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);
    expect([...finished].sort()).toEqual([1, 2, 3, 4]);
    expect(alice.of(Events.CONNECTED)).toHaveLength(1);
    const mine = server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey);
    expect(mine.map((c) => [c.info.userId, c.info.platform, c.info.deviceId])).toEqual([['alice', 'WEB', alice.client.deviceId]]);
    // connect() twice is one connection
    await alice.client.connect();
    expect(server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey)).toHaveLength(1);
    await alice.client.disconnect();
  });

  it('SUBSCRIBED_USER_STATUS_CHANGE: a sync batch, then live RongCloud SubscribeInfoEvents (online per platform, profiles)', async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const alice = await user(app, 'alice');
    const bob = await user(app, 'bob', { platform: Platform.IOS });
    await bob.client.updateMyUserProfile({ name: 'Bob' });
    await alice.client.subscribeUserStatus(['bob'], SubscribeType.ONLINE_STATUS, 3600);
    await alice.client.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 3600);
    await alice.client.connect();
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);

    // the sync: one array per type, delivered before that type's SYNC_SUBSCRIBED_USER_STATUS_FINISHED
    const order = alice.log.filter((e) => e.event === Events.SUBSCRIBED_USER_STATUS_CHANGE || e.event === Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED);
    expect(order.map((e) => (e.event === Events.SUBSCRIBED_USER_STATUS_CHANGE ? (e.payload as { subscribeType: number }[]).map((s) => s.subscribeType) : e.payload))).toEqual([
      [1],
      1,
      [2],
      2,
      3,
      4,
    ]);
    const [online] = alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE)[0]!;
    expect(online).toEqual({ userId: 'bob', subscribeType: 1, subscribeTime: server.clock.now().getTime(), expiry: 3600, updateTime: expect.any(Number), details: [] });
    const [profile] = alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE)[1]!;
    expect(profile).toMatchObject({ userId: 'bob', subscribeType: 2, expiry: 3600, details: [], userProfile: { userId: 'bob', name: 'Bob' } });

    // live, one event per array: bob comes online on iOS (platform 1), changes his profile, goes offline
    const isOnline = (value: 0 | 1) => (batch: SubscribeInfoEvent[]) => batch[0]!.subscribeType === 1 && batch[0]!.details[0]?.eventValue === value;
    await bob.client.connect();
    const live = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, isOnline(1), 2);
    expect(live).toEqual([
      { userId: 'bob', subscribeType: 1, subscribeTime: expect.any(Number), expiry: 3600, updateTime: expect.any(Number), details: [{ eventValue: 1, changeTime: expect.any(Number), platform: 1 }] },
    ]);
    await bob.client.updateMyUserProfile({ gender: Gender.MALE });
    const changed = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.userProfile?.gender === 1, 2);
    expect(changed).toMatchObject([{ userId: 'bob', subscribeType: 2, details: [], userProfile: { name: 'Bob', gender: 1 } }]);
    const before = alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE).length;
    await bob.client.disconnect();
    const offline = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, isOnline(0), before);
    expect(offline).toMatchObject([{ userId: 'bob', subscribeType: 1, details: [{ eventValue: 0, platform: 1 }] }]);
    await alice.client.disconnect();
  });

  it('FRIEND_* types arrive without subscribing (subscribeTime and expiry 0)', async () => {
    const app = await server.newApp();
    const alice = await user(app, 'alice');
    const bob = await user(app, 'bob', { platform: 'ANDROID' });
    await makeFriends(app, 'alice', 'bob');
    await alice.client.connect();
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);
    const before = alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE).length;
    await bob.client.connect();
    const online = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.subscribeType === 3 && b[0]!.details[0]?.eventValue === 1, before);
    expect(online).toEqual([
      { userId: 'bob', subscribeType: 3, subscribeTime: 0, expiry: 0, updateTime: expect.any(Number), details: [{ eventValue: 1, changeTime: expect.any(Number), platform: 2 }] },
    ]);
    await Promise.all([alice.client.disconnect(), bob.client.disconnect()]);
  });

  it('SUBSCRIBED_RELATION_CHANGE and OWN_USER_PROFILE_CHANGED reach my other devices only', async () => {
    const app = await server.newApp();
    const phone = await user(app, 'alice', { platform: Platform.IOS, deviceId: 'phone' });
    const web = await user(app, 'alice', { platform: Platform.WEB, deviceId: 'web' });
    await Promise.all([phone.client.connect(), web.client.connect()]);
    await Promise.all([phone.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4), web.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4)]);

    await web.client.subscribeUserStatus(['bob', 'carol'], SubscribeType.USER_PROFILE, 600);
    const [relation] = await phone.waitFor(Events.SUBSCRIBED_RELATION_CHANGE);
    expect(relation).toEqual([
      { userId: 'bob', subscribeType: 2, operationType: 0, subscribeTime: server.clock.now().getTime(), expiry: 600 },
      { userId: 'carol', subscribeType: 2, operationType: 0, subscribeTime: server.clock.now().getTime(), expiry: 600 },
    ]);
    await phone.client.unSubscribeUserStatus(['bob'], SubscribeType.USER_PROFILE);
    const [unsubscribed] = await web.waitFor(Events.SUBSCRIBED_RELATION_CHANGE);
    expect(unsubscribed).toEqual([{ userId: 'bob', subscribeType: 2, operationType: 1, subscribeTime: expect.any(Number), expiry: 0 }]);

    await web.client.updateMyUserProfile({ name: 'Alice W', extraProfile: {} });
    const [own] = await phone.waitFor(Events.OWN_USER_PROFILE_CHANGED);
    expect(own).toMatchObject({ userId: 'alice', name: 'Alice W', restricted: false });
    // the backend's change reaches every device
    await setProfile(app, 'alice', { name: 'From backend', gender: 'FEMALE' });
    await phone.waitFor(Events.OWN_USER_PROFILE_CHANGED, 2);
    const [fromBackend] = await web.waitFor(Events.OWN_USER_PROFILE_CHANGED, 1);
    expect(fromBackend).toMatchObject({ name: 'From backend', gender: 2 });
    await server.app.realtime.drain();
    await web.quiet(Events.OWN_USER_PROFILE_CHANGED, 200);
    await web.quiet(Events.SUBSCRIBED_RELATION_CHANGE, 0);
    expect(web.of(Events.OWN_USER_PROFILE_CHANGED)).toHaveLength(1);
    expect(phone.of(Events.SUBSCRIBED_RELATION_CHANGE)).toHaveLength(1);
    await Promise.all([phone.client.disconnect(), web.client.disconnect()]);
  });

  it('FRIEND_APPLICATION_STATUS_CHANGED, FRIEND_ADDED and FRIEND_DELETE reach both users', async () => {
    const app = await server.newApp();
    const alice = await user(app, 'alice');
    const bob = await user(app, 'bob');
    await setProfile(app, 'bob', { name: 'Bob', portraitUri: 'https://b.example/bob.png' });
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    const appliedAt = server.clock.now().getTime();
    await alice.client.addFriend('bob', DirectionType.BOTH, 'hello');
    const [applied] = await bob.waitFor(Events.FRIEND_APPLICATION_STATUS_CHANGED);
    expect(applied).toEqual({
      userId: 'alice',
      applicationType: FriendApplicationType.RECEIVED,
      applicationStatus: FriendApplicationStatus.UNHANDLED,
      extra: 'hello',
      operationTime: expect.any(Number),
      expiresAt: expect.any(Number),
      directionType: DirectionType.BOTH,
    });
    expect((await alice.waitFor(Events.FRIEND_APPLICATION_STATUS_CHANGED))[0]).toMatchObject({ userId: 'bob', applicationType: 1, applicationStatus: 0 });
    server.clock.advance(5000);
    await bob.client.acceptFriendApplication('alice');
    expect((await alice.waitFor(Events.FRIEND_ADDED))[0]).toEqual({ userId: 'bob', name: 'Bob', portraitUri: 'https://b.example/bob.png', directionType: 2, operationTime: server.clock.now().getTime() });
    expect((await bob.waitFor(Events.FRIEND_ADDED))[0]).toEqual({ userId: 'alice', directionType: 2, operationTime: server.clock.now().getTime() });
    const accepted = (await alice.waitFor(Events.FRIEND_APPLICATION_STATUS_CHANGED, 2))[1]!;
    expect(accepted).toMatchObject({ userId: 'bob', applicationStatus: FriendApplicationStatus.ACCEPTED });
    // operationTime: when it was accepted (RongCloud's), not when the application was made
    expect(accepted.operationTime).toBe(server.clock.now().getTime());
    expect(applied.operationTime).toBe(appliedAt);
    await alice.client.deleteFriends(['bob']);
    expect((await bob.waitFor(Events.FRIEND_DELETE))[0]).toEqual({ userIds: ['alice'], directionType: 2, operationTime: expect.any(Number) });
    expect((await alice.waitFor(Events.FRIEND_DELETE))[0]).toEqual({ userIds: ['bob'], directionType: 2, operationTime: expect.any(Number) });
    await Promise.all([alice.client.disconnect(), bob.client.disconnect()]);
  });

  it('removeEventListener stops delivery to that listener', async () => {
    const app = await server.newApp();
    const phone = await user(app, 'alice', { deviceId: 'phone' });
    const { client: web } = await user(app, 'alice', { deviceId: 'web' });
    const seen: string[] = [];
    const listener = (p: { name?: string }) => seen.push(p.name ?? '');
    phone.client.addEventListener(Events.OWN_USER_PROFILE_CHANGED, listener);
    await phone.client.connect();
    await phone.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);
    await web.updateMyUserProfile({ name: 'one' });
    await phone.waitFor(Events.OWN_USER_PROFILE_CHANGED, 1);
    phone.client.removeEventListener(Events.OWN_USER_PROFILE_CHANGED, listener);
    await web.updateMyUserProfile({ name: 'two' });
    await phone.waitFor(Events.OWN_USER_PROFILE_CHANGED, 2);
    expect(seen).toEqual(['one']);
    await phone.client.disconnect();
  });
});

describe('reconnect and resync', () => {
  it('when the server closes the socket, the client reconnects by itself, resumes (nothing missed: nothing replayed) and keeps receiving', async () => {
    const app = await server.newApp();
    const alice = await user(app, 'alice');
    const bob = await user(app, 'bob');
    await bob.client.updateMyUserProfile({ name: 'Bob 1' });
    await alice.client.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 3600);
    await alice.client.connect();
    const profileBatches = () => alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE).filter((b) => b[0]!.subscribeType === SubscribeType.USER_PROFILE);
    expect(profileBatches()).toMatchObject([[{ userId: 'bob', userProfile: { name: 'Bob 1' } }]]);

    // the server drops alice's connection as a restarting instance does (1012 Service Restart)
    const connection = server.app.realtime.transport.connections().find((c) => c.info.appKey === app.appKey && c.info.userId === 'alice')!;
    connection.drop(1012, 'service restart');

    const [disconnect] = await alice.waitFor(Events.DISCONNECT);
    expect(disconnect).toEqual({ code: 1012, reason: 'service restart', willReconnect: true });
    await alice.waitFor(Events.CONNECTED, 2);
    const finished = await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 8);
    expect([...finished.slice(4)].sort()).toEqual([1, 2, 3, 4]);
    // the stream resumed after the last event alice processed: bob's profile did not change, so
    // it is not delivered again
    expect(profileBatches()).toMatchObject([[{ userId: 'bob', userProfile: { name: 'Bob 1' } }]]);
    // one new connection, on the server, for alice
    const again = server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey && c.info.userId === 'alice');
    expect(again).toHaveLength(1);
    expect(again[0]!.id).not.toBe(connection.id);

    // live events flow on the new connection
    await bob.client.updateMyUserProfile({ name: 'Bob 2' });
    const live = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.userProfile?.name === 'Bob 2');
    expect(live).toMatchObject([{ userId: 'bob', subscribeType: 2, userProfile: { name: 'Bob 2' } }]);
    expect(profileBatches()).toHaveLength(2);
    await alice.client.disconnect();
  });

  it('a revoked token (4403) ends the connection: DISCONNECT without reconnecting; connect() again takes a fresh token', async () => {
    const app = await server.newApp();
    let token = (await app.user('alice')).token;
    const alice = await user(app, 'alice', { token: () => token });
    await alice.client.connect();
    await app.backend.ok('mutation { revokeUserTokens(userId: "alice") }');
    const [disconnect] = await alice.waitFor(Events.DISCONNECT);
    expect(disconnect).toMatchObject({ code: 4403, willReconnect: false });
    await new Promise((r) => setTimeout(r, 500));
    expect(alice.of(Events.CONNECTED)).toHaveLength(1);
    expect(server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey)).toHaveLength(0);

    token = (await app.user('alice')).token;
    expect(await alice.client.connect()).toEqual({ code: 0, data: { userId: 'alice' } });
    expect(alice.of(Events.CONNECTED)).toHaveLength(2);
    expect(server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey)).toHaveLength(1);
    await alice.client.disconnect();
  });

  it('disconnect() during connect() fails that connect()', async () => {
    const app = await server.newApp();
    const alice = await user(app, 'alice');
    const connecting = alice.client.connect();
    await alice.client.disconnect();
    expect((await failure(connecting)).code).toBe(ErrorCode.NETWORK_ERROR);
  });

  it('connect() with a refused token rejects with UNAUTHENTICATED and does not retry', async () => {
    const app = await server.newApp();
    const alice = await user(app, 'alice', { token: 'not-a-token' });
    const error = await failure(alice.client.connect());
    expect(error.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(alice.of(Events.DISCONNECT)).toEqual([{ code: 4403, reason: 'Forbidden', willReconnect: false }]);
    expect(alice.of(Events.CONNECTING)).toHaveLength(1);
  });
});

describe('over the per-user connection limit (WS_MAX_CONNECTIONS_PER_USER=1)', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ config: { wsMaxConnectionsPerUser: 1 } });
  });
  afterAll(() => limited?.stop());

  it('connect() rejects with LIMIT_EXCEEDED (4429 is not retried) and can be tried again later', async () => {
    const app = await limited.newApp();
    const phone = await sdkClient(limited, app, 'alice', { deviceId: 'phone' });
    const web = await sdkClient(limited, app, 'alice', { deviceId: 'web' });
    await phone.client.connect();
    const error = await failure(web.client.connect());
    expect(error.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(web.of(Events.DISCONNECT)).toEqual([expect.objectContaining({ code: 4429, willReconnect: false })]);
    await phone.client.disconnect();
    // the slot is free again once the server has taken the phone offline
    await expect.poll(() => limited.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey).length).toBe(0);
    expect(await web.client.connect()).toEqual({ code: 0, data: { userId: 'alice' } });
    await web.client.disconnect();
  });
});

describe('the README', () => {
  it('RongCloud’s documented snippets run as the README shows them, call for call', async () => {
    const app = await server.newApp();
    await defineKey(app, 'key1');
    await defineKey(app, 'key2');
    await setProfile(app, 'user1', { name: 'User 1', uniqueId: 'uniqueId' });
    await setProfile(app, 'user2', { name: 'User 2' });
    const { token: USER_TOKEN } = await app.user('me');
    const logged: unknown[][] = [];
    const console = { log: (...args: unknown[]) => logged.push(args) };

    // --- from README.md, "Client SDK (RongIMLib-style)" ---
    const RongIMLib = createProfileClient({
      url: server.url,
      token: USER_TOKEN,
      platform: Platform.WEB,
      deviceId: 'web-1',
      webSocketImpl: (await import('ws')).default,
    });
    open.push(RongIMLib);
    RongIMLib.addEventListener(Events.SUBSCRIBED_USER_STATUS_CHANGE, (event) => {
      console.log('Subscribed user status changed', event);
    });
    RongIMLib.addEventListener(Events.SUBSCRIBED_RELATION_CHANGE, (event) => {
      console.log('Subscription relationship changed', event);
    });
    RongIMLib.addEventListener(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, (event) => {
      console.log('Subscription data synced', event);
    });
    RongIMLib.addEventListener(Events.OWN_USER_PROFILE_CHANGED, (event) => {
      console.log('User profile changed', event);
    });
    await RongIMLib.connect();
    const profile = {
      name: 'name',
      portraitUri: 'portraitUri',
      email: 'email',
      birthday: 'birthday',
      gender: 1,
      location: 'location',
      role: 1,
      level: 1,
      extraProfile: {
        key1: 'value1',
        key2: 'value2',
      },
    };
    const res = await RongIMLib.updateMyUserProfile(profile);
    console.log('Profile update result:', res);
    const mine = await RongIMLib.getMyUserProfile();
    console.log('Current user profile:', mine);
    const userIds = ['user1', 'user2'];
    const profiles = await RongIMLib.getUserProfiles(userIds);
    console.log('Batch profile retrieval result:', profiles);
    const visibility = RongIMLib.UserProfileVisibility.EVERYONE;
    const set = await RongIMLib.updateMyUserProfileVisibility(visibility);
    console.log('Permission setting result:', set);
    const got = await RongIMLib.getMyUserProfileVisibility();
    console.log('Permission retrieval result:', got);
    const uniqueId = 'uniqueId';
    const found = await RongIMLib.searchUserProfileByUniqueId(uniqueId);
    console.log('Exact user profile search result by Application ID:', found);
    const sub = await RongIMLib.subscribeUserStatus(userIds, RongIMLib.SubscribeType.USER_PROFILE, 86400);
    if (sub.code === 26021) console.log('these users already have 5000 subscribers:', sub.data);
    await RongIMLib.unSubscribeUserStatus(['user2'], RongIMLib.SubscribeType.USER_PROFILE);
    // --- end of the README's code ---

    const line = (label: string) => logged.find((args) => args[0] === label)?.[1];
    expect(line('Profile update result:')).toMatchObject({ code: 0, data: { name: 'name', gender: 1, extraProfile: { key1: 'value1', key2: 'value2' } } });
    expect(line('Current user profile:')).toMatchObject({ code: 0, data: { userId: 'me', userExtProfile: { key1: 'value1', key2: 'value2' } } });
    expect((line('Batch profile retrieval result:') as { data: { userId: string }[] }).data.map((p) => p.userId)).toEqual(['user1', 'user2']);
    expect(line('Permission setting result:')).toEqual({ code: 0, data: 2 });
    expect(line('Permission retrieval result:')).toEqual({ code: 0, data: 2 });
    expect(line('Exact user profile search result by Application ID:')).toMatchObject({ code: 0, data: { userId: 'user1', name: 'User 1' } });
    expect(sub).toEqual({ code: 0, data: [] });
    expect(logged.filter((args) => args[0] === 'Subscription data synced').map((args) => args[1])).toEqual([1, 2, 3, 4]);
    await RongIMLib.disconnect();
  });
});

describe('package', () => {
  it('"profile-hosting-server/client" resolves to the SDK (package.json exports)', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "const m = await import('profile-hosting-server/client'); console.log(typeof m.createProfileClient, m.Events.OWN_USER_PROFILE_CHANGED, m.Gender.FEMALE)"],
      { cwd: resolve(import.meta.dirname, '..'), encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('function OWN_USER_PROFILE_CHANGED 2');
  });
});
