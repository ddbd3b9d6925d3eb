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
