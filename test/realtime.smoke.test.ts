import { afterAll, beforeAll, expect, it } from 'vitest';
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
  const alice = await app.user('alice');
  const bob = await app.user('bob');
  await alice.ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["bob"], expiry: 3600) { failedUserIds } }');
  await alice.ok('mutation { subscribeUserStatus(type: ONLINE_STATUS, userIds: ["bob"], expiry: 3600) { failedUserIds } }');
  const live = connectLive(server.url, { authToken: alice.token, platform: 'WEB' });
  await live.connected;
  const sub = live.subscribe(`subscription { subscribedUserStatusChange(types: [USER_PROFILE, ONLINE_STATUS]) {
    __typename
    ... on UserStatusChange { userId subscribeType details { platform online } userProfile { name email } }
    ... on SubscribedUserStatusSyncFinished { subscribeType } } }`);
  await sub.waitFor(4);
  await bob.ok('mutation { updateMyUserProfile(profile: { name: "Bobby", email: "b@x.io" }) { version } }');
  const bobLive = connectLive(server.url, { authToken: bob.token, platform: 'IOS' });
  await bobLive.connected;
  const events = await sub.waitFor(6);
  expect(events.map((e: any) => e.subscribedUserStatusChange.__typename)).toEqual([
    'UserStatusChange',
    'SubscribedUserStatusSyncFinished',
    'UserStatusChange',
    'SubscribedUserStatusSyncFinished',
    'UserStatusChange',
    'UserStatusChange',
  ]);
  expect((events[4] as any).subscribedUserStatusChange.userProfile).toEqual({ name: 'Bobby', email: 'b@x.io' });
  expect((events[5] as any).subscribedUserStatusChange.details).toEqual([{ platform: 'IOS', online: true }]);
  await bobLive.dispose();
  await sub.waitFor(7);
  expect((events[6] as any).subscribedUserStatusChange.details).toEqual([{ platform: 'IOS', online: false }]);
  await live.dispose();
});

it('refuses a bad token with 4403', async () => {
  const live = connectLive(server.url, { authToken: 'nope' });
  await expect(live.connected).rejects.toThrow();
  expect((await live.closed).code).toBe(4403);
});

it('friendEvents reach both users, each from their own side, and nobody else', async () => {
  const app = await server.newApp();
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')]);
  const query = `subscription { friendEvents { __typename
    ... on FriendAdded { userId }
    ... on FriendDeleted { userIds }
    ... on FriendApplicationStatusChanged { application { userId direction status } } } }`;
  const streams = await Promise.all(
    [alice, bob, carol].map(async (user) => {
      const live = connectLive(server.url, { authToken: user.token });
      await live.connected;
      return { live, events: live.subscribe(query) };
    }),
  );
  await new Promise((r) => setTimeout(r, 100));
  await alice.ok('mutation { addFriend(userId: "bob", extra: "hi") { outcome } }'); // NEED_VERIFY by default
  await bob.ok('mutation { acceptFriendApplication(userId: "alice") }');
  await bob.ok('mutation { deleteFriends(userIds: ["alice"]) }');
  const [a, b, c] = streams;
  await a!.events.waitFor(4);
  await b!.events.waitFor(4);
  expect(a!.events.events.map((e: any) => e.friendEvents)).toEqual([
    { __typename: 'FriendApplicationStatusChanged', application: { userId: 'bob', direction: 'SENT', status: 'UNHANDLED' } },
    { __typename: 'FriendApplicationStatusChanged', application: { userId: 'bob', direction: 'SENT', status: 'ACCEPTED' } },
    { __typename: 'FriendAdded', userId: 'bob' },
    { __typename: 'FriendDeleted', userIds: ['bob'] },
  ]);
  expect(b!.events.events.map((e: any) => e.friendEvents)).toEqual([
    { __typename: 'FriendApplicationStatusChanged', application: { userId: 'alice', direction: 'RECEIVED', status: 'UNHANDLED' } },
    { __typename: 'FriendApplicationStatusChanged', application: { userId: 'alice', direction: 'RECEIVED', status: 'ACCEPTED' } },
    { __typename: 'FriendAdded', userId: 'alice' },
    { __typename: 'FriendDeleted', userIds: ['alice'] },
  ]);
  await server.app.realtime.drain();
  await c!.events.quiet(200);
  expect(c!.events.events).toEqual([]);
  await Promise.all(streams.map((s) => s.live.dispose()));
});

it('keeps streaming a user that was removed and created again (its versions restart)', async () => {
  const app = await server.newApp();
  await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
  const alice = await app.user('alice');
  await app.backend.ok('mutation { setUserProfile(userId: "bob", profile: { name: "old bob" }) { version } }');
  const subscribe = 'mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["bob"], expiry: 3600) { failedUserIds } }';
  await alice.ok(subscribe);
  const live = connectLive(server.url, { authToken: alice.token });
  await live.connected;
  const sub = live.subscribe(
    'subscription { subscribedUserStatusChange(types: [USER_PROFILE]) { ... on UserStatusChange { userProfile { name version } } } }',
  );
  await sub.waitFor(2); // bob, SyncFinished
  for (const name of ['b3', 'b4', 'b5']) await app.backend.ok(`mutation { setUserProfile(userId: "bob", profile: { name: "${name}" }) { version } }`);
  await sub.waitFor(5);
  expect((sub.events[4] as any).subscribedUserStatusChange.userProfile).toEqual({ name: 'b5', version: 5 });

  await app.backend.ok('mutation { cleanUserProfiles(userIds: ["bob"]) }'); // also ends alice's subscription to bob
  server.clock.advance(1000);
  await app.backend.ok('mutation { setUserProfile(userId: "bob", profile: { name: "new bob" }) { version } }');
  await alice.ok(subscribe); // pushes bob's current status (SPEC §5)
  await sub.waitFor(6);
  expect((sub.events[5] as any).subscribedUserStatusChange.userProfile).toEqual({ name: 'new bob', version: 2 });
  await app.backend.ok('mutation { setUserProfile(userId: "bob", profile: { name: "new bob 2" }) { version } }');
  await sub.waitFor(7);
  expect((sub.events[6] as any).subscribedUserStatusChange.userProfile).toEqual({ name: 'new bob 2', version: 3 });
  await live.dispose();
});
