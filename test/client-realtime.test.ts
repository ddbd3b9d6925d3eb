// The real-time smoke scenarios (test/realtime.smoke.test.ts) through the client SDK: what an app
// migrating from RongIMLib sees, RongCloud-shaped, over the SDK's one graphql-ws connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectionType, ErrorCode, Events, FriendApplicationStatus, Gender, Platform, ProfileClientError, SubscribeType } from '../src/client/index.ts';
import { sdkClient } from './helpers/sdk.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

it('syncs then streams profile and presence changes', async () => {
  const app = await server.newApp();
  await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
  const alice = await sdkClient(server, app, 'alice', { platform: Platform.WEB });
  const bob = await sdkClient(server, app, 'bob', { platform: Platform.IOS });
  expect(await alice.client.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 3600)).toEqual({ code: 0, data: [] });
  expect(await alice.client.subscribeUserStatus(['bob'], SubscribeType.ONLINE_STATUS, 3600)).toEqual({ code: 0, data: [] });
  await alice.client.connect();
  await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);
  // the sync: bob never connected (no details) and has an empty profile
  expect(alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE)).toEqual([
    [{ userId: 'bob', subscribeType: 1, subscribeTime: expect.any(Number), expiry: 3600, updateTime: expect.any(Number), details: [] }],
    [expect.objectContaining({ userId: 'bob', subscribeType: 2, details: [], userProfile: expect.objectContaining({ userId: 'bob', restricted: false }) })],
  ]);

  await bob.client.updateMyUserProfile({ name: 'Bobby', email: 'b@x.io', gender: Gender.MALE });
  await bob.client.connect();
  // (presence is matched, not counted: see waitForMatch)
  const profile = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.subscribeType === 2, 2);
  expect(profile).toEqual([expect.objectContaining({ userId: 'bob', subscribeType: 2, userProfile: expect.objectContaining({ name: 'Bobby', email: 'b@x.io', gender: 1 }) })]);
  const online = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.details[0]?.eventValue === 1, 2);
  expect(online).toEqual([expect.objectContaining({ userId: 'bob', subscribeType: 1, details: [{ eventValue: 1, changeTime: expect.any(Number), platform: Platform.IOS }] })]);
  const before = alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE).length;
  await bob.client.disconnect();
  const offline = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.details[0]?.eventValue === 0, before);
  expect(offline).toEqual([expect.objectContaining({ userId: 'bob', details: [{ eventValue: 0, changeTime: expect.any(Number), platform: Platform.IOS }] })]);
  await alice.client.disconnect();
});

it('refuses a bad token: connect() rejects (4403) and the client does not retry', async () => {
  const app = await server.newApp();
  const client = await sdkClient(server, app, 'alice', { token: 'nope' });
  const error = (await client.client.connect().catch((e: unknown) => e)) as ProfileClientError;
  expect(error).toBeInstanceOf(ProfileClientError);
  expect(error.code).toBe(ErrorCode.UNAUTHENTICATED);
  expect(client.of(Events.DISCONNECT)).toEqual([expect.objectContaining({ code: 4403, willReconnect: false })]);
});

it('friend events reach both users, each from their own side, and nobody else', async () => {
  const app = await server.newApp();
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((id) => sdkClient(server, app, id)));
  await Promise.all([alice!, bob!, carol!].map((u) => u.client.connect()));
  expect(await alice!.client.addFriend('bob', DirectionType.BOTH, 'hi')).toEqual({ code: ErrorCode.FRIEND_NEED_ACCEPT }); // NEED_VERIFY by default
  await bob!.client.acceptFriendApplication('alice');
  await bob!.client.deleteFriends(['alice']);
  const friendEvents = (u: typeof alice) =>
    u!.log
      .filter((e) => e.event.startsWith('FRIEND_'))
      .map((e) => {
        const p = e.payload as { userId?: string; userIds?: string[]; applicationType?: number; applicationStatus?: number };
        return e.event === Events.FRIEND_APPLICATION_STATUS_CHANGED ? [e.event, p.userId, p.applicationType, p.applicationStatus] : [e.event, p.userId ?? p.userIds];
      });
  for (const u of [alice, bob]) await u!.waitFor(Events.FRIEND_DELETE);
  expect(friendEvents(alice)).toEqual([
    [Events.FRIEND_APPLICATION_STATUS_CHANGED, 'bob', 1, FriendApplicationStatus.UNHANDLED],
    [Events.FRIEND_APPLICATION_STATUS_CHANGED, 'bob', 1, FriendApplicationStatus.ACCEPTED],
    [Events.FRIEND_ADDED, 'bob'],
    [Events.FRIEND_DELETE, ['bob']],
  ]);
  expect(friendEvents(bob)).toEqual([
    [Events.FRIEND_APPLICATION_STATUS_CHANGED, 'alice', 2, FriendApplicationStatus.UNHANDLED],
    [Events.FRIEND_APPLICATION_STATUS_CHANGED, 'alice', 2, FriendApplicationStatus.ACCEPTED],
    [Events.FRIEND_ADDED, 'alice'],
    [Events.FRIEND_DELETE, ['alice']],
  ]);
  await server.app.realtime.drain();
  await carol!.quiet(Events.FRIEND_ADDED, 200);
  expect(friendEvents(carol)).toEqual([]);
  await Promise.all([alice!, bob!, carol!].map((u) => u.client.disconnect()));
});

describe('connection_init credentials', () => {
  it('accepts the token as authToken, or as an Authorization "Bearer <token>" at the top level or under headers', async () => {
    const app = await server.newApp();
    const { token } = await app.user('alice');
    for (const params of [
      { authToken: token },
      { Authorization: `Bearer ${token}` },
      { authorization: `bearer ${token}` },
      { headers: { Authorization: `Bearer ${token}` } },
      { headers: { authorization: `Bearer ${token}` }, platform: 'WEB', deviceId: 'ide' },
    ]) {
      const live = connectLive(server.url, params);
      await live.connected;
      const result = await live.execute<{ myUserProfile: { userId: string } }>('{ myUserProfile { userId } }');
      expect(result.data?.myUserProfile.userId, JSON.stringify(params)).toBe('alice');
      await live.dispose();
    }
  });

  it('refuses with 4403 a missing, malformed or bad Authorization', async () => {
    const app = await server.newApp();
    const { token } = await app.user('alice');
    for (const params of [{ Authorization: token }, { Authorization: 'Bearer nope' }, { headers: { Authorization: `Basic ${token}` } }, { headers: 'x' }]) {
      const live = connectLive(server.url, params);
      await expect(live.connected).rejects.toThrow();
      expect((await live.closed).code, JSON.stringify(params)).toBe(4403);
    }
  });
});
