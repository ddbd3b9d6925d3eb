import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { connectLive, type LiveClient } from './helpers/ws.ts';

const { DATABASE_URL, REDIS_URL } = process.env;
const OPERATOR = 'cluster-operator-token-0123456789';

/**
 * Two real server processes on one PostgreSQL and one Redis: what is changed on B reaches
 * subscribers connected to A, and a SIGKILLed instance's users go offline for A's subscribers.
 * Presence timing is shortened here (heartbeat 300 ms, dead after 1.5 s); the defaults give 40 s.
 */
describe.skipIf(!DATABASE_URL || !REDIS_URL)('two instances through Redis (needs DATABASE_URL and REDIS_URL)', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  const sockets: LiveClient[] = [];
  const env = {
    DATABASE_URL: DATABASE_URL!,
    REDIS_URL: REDIS_URL!,
    TOKEN_SECRET: 'cluster-token-secret-0123456789-0123456789',
    SECRET_ENCRYPTION_KEY: 'test-secret-encryption-key-0123456789-0123456789',
    OPERATOR_TOKEN: OPERATOR,
    PRESENCE_HEARTBEAT_MS: '300',
    PRESENCE_TIMEOUT_MS: '1500',
  };

  beforeAll(async () => {
    [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(sockets.map((s) => s.dispose()));
    await Promise.allSettled([a?.stop(), b?.stop()]);
  });

  const live = (url: string, params: Record<string, unknown>) => {
    const client = connectLive(url, params);
    sockets.push(client);
    return client;
  };

  async function newApp() {
    const creds = (await new GraphQLClient(a.url, bearer(OPERATOR)).ok('mutation { createApp(name: "cluster") { appKey appSecret } }')).createApp;
    const onA = new GraphQLClient(a.url, basic(creds.appKey, creds.appSecret));
    const onB = new GraphQLClient(b.url, basic(creds.appKey, creds.appSecret));
    const token = async (userId: string) =>
      (await onA.ok('mutation($u: ID!) { issueUserToken(userId: $u) { token } }', { u: userId })).issueUserToken.token as string;
    return { onA, onB, token };
  }

  it('delivers profile, presence, relation and own-profile changes made on B to a subscriber on A', async () => {
    const app = await newApp();
    await app.onA.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const [alice, bob] = await Promise.all([app.token('alice'), app.token('bob')]);
    const aliceOnA = new GraphQLClient(a.url, bearer(alice));
    const aliceOnB = new GraphQLClient(b.url, bearer(alice));
    const bobOnB = new GraphQLClient(b.url, bearer(bob));
    await aliceOnA.ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["bob"], expiry: 3600) { failedUserIds } }');
    await aliceOnA.ok('mutation { subscribeUserStatus(type: ONLINE_STATUS, userIds: ["bob"], expiry: 3600) { failedUserIds } }');

    const aliceLive = live(a.url, { authToken: alice, platform: 'WEB', deviceId: 'laptop' });
    await aliceLive.connected;
    const status = aliceLive.subscribe(`subscription { subscribedUserStatusChange(types: [ONLINE_STATUS, USER_PROFILE]) {
      ... on UserStatusChange { userId subscribeType details { platform online } userProfile { name } }
      ... on SubscribedUserStatusSyncFinished { subscribeType } } }`);
    const own = aliceLive.subscribe('subscription { ownUserProfileChanged { name version } }');
    const relations = aliceLive.subscribe('subscription { subscribedRelationChange { operationType subscribeType userIds } }');
    const friendEvents = aliceLive.subscribe('subscription { friendEvents { __typename ... on FriendAdded { userId } } }');
    await status.waitFor(4); // one item and one SyncFinished per type

    // presence on B
    const bobLive = live(b.url, { authToken: bob, platform: 'ANDROID' });
    await bobLive.connected;
    await status.waitFor(5, 10_000);
    expect(status.events[4]).toMatchObject({ subscribedUserStatusChange: { userId: 'bob', subscribeType: 'ONLINE_STATUS', details: [{ platform: 'ANDROID', online: true }] } });

    // profile written on B
    await bobOnB.ok('mutation { updateMyUserProfile(profile: { name: "Bob on B" }) { version } }');
    await status.waitFor(6, 10_000);
    expect(status.events[5]).toMatchObject({ subscribedUserStatusChange: { subscribeType: 'USER_PROFILE', userProfile: { name: 'Bob on B' } } });

    // alice's own profile and subscriptions changed from another device, through B
    await aliceOnB.ok('mutation { updateMyUserProfile(profile: { name: "Alice" }) { version } }');
    await aliceOnB.ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["carol"], expiry: 600) { failedUserIds } }');
    await own.waitFor(1, 10_000);
    await relations.waitFor(1, 10_000);
    expect(own.events[0]).toMatchObject({ ownUserProfileChanged: { name: 'Alice' } });
    expect(relations.events[0]).toEqual({ subscribedRelationChange: { operationType: 'SUBSCRIBE', subscribeType: 'USER_PROFILE', userIds: ['carol'] } });

    // friendship made through B
    await app.onB.ok('mutation { adminAddFriend(userId: "alice", friendId: "bob") }');
    await friendEvents.waitFor(1, 10_000);
    expect(friendEvents.events[0]).toEqual({ friendEvents: { __typename: 'FriendAdded', userId: 'bob' } });

    // revoking on B closes alice's socket on A
    await app.onB.ok('mutation { revokeUserTokens(userId: "alice") }');
    expect((await aliceLive.closed).code).toBe(4403);
  });

  it('takes the users of a SIGKILLed instance offline for subscribers on the survivor', async () => {
    const app = await newApp();
    const [watcher, ghost] = await Promise.all([app.token('watcher'), app.token('ghost')]);
    await new GraphQLClient(a.url, bearer(watcher)).ok('mutation { subscribeUserStatus(type: ONLINE_STATUS, userIds: ["ghost"], expiry: 3600) { failedUserIds } }');
    const watcherLive = live(a.url, { authToken: watcher, platform: 'PC' });
    await watcherLive.connected;
    const status = watcherLive.subscribe(
      'subscription { subscribedUserStatusChange(types: [ONLINE_STATUS]) { ... on UserStatusChange { userId details { platform online } } } }',
    );
    await status.waitFor(2); // sync: ghost (never seen online), then SyncFinished (empty selection)
    expect(status.events[0]).toEqual({ subscribedUserStatusChange: { userId: 'ghost', details: [] } });
    const ghostLive = live(b.url, { authToken: ghost, platform: 'IOS' });
    await ghostLive.connected;
    await status.waitFor(3, 10_000);
    expect(status.events[2]).toEqual({ subscribedUserStatusChange: { userId: 'ghost', details: [{ platform: 'IOS', online: true }] } });

    const killedAt = Date.now();
    await b.kill();
    await status.waitFor(4, 20_000);
    expect(status.events[3]).toEqual({ subscribedUserStatusChange: { userId: 'ghost', details: [{ platform: 'IOS', online: false }] } });
    expect(Date.now() - killedAt).toBeLessThan(15_000);
  });
});
