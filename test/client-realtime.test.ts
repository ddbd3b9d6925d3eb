// The real-time smoke scenarios (test/realtime.smoke.test.ts) through the client SDK: what an app
// migrating from RongIMLib sees, RongCloud-shaped, over the SDK's one graphql-ws connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectionType, ErrorCode, Events, FriendApplicationStatus, Gender, Platform, ProfileClientError, SubscribeType, type SubscribeInfoEvent } from '../src/client/index.ts';
import { setProfile, updateMy } from './helpers/profiles.ts';
import { dropConnections, memoryCursorStore, reconnectGate, sdkClient, type RecordedClient } from './helpers/sdk.ts';
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
  expect(await alice!.client.addFriend('bob', DirectionType.BOTH, 'hi')).toEqual({ code: 0, data: { processCode: ErrorCode.RC_FRIEND_NEED_ACCEPT } }); // NEED_VERIFY by default
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

/** The events of `client` from log index `since` on, without the connection events. */
function eventsSince(client: RecordedClient, since: number) {
  return client.log.slice(since).filter((e) => ![Events.CONNECTING, Events.CONNECTED, Events.DISCONNECT].includes(e.event as never));
}
/** The SubscribeInfoEvents of one type delivered from log index `since` on. */
function statusesSince(client: RecordedClient, since: number, type: SubscribeType) {
  return client.log
    .slice(since)
    .filter((e) => e.event === Events.SUBSCRIBED_USER_STATUS_CHANGE)
    .flatMap((e) => e.payload as SubscribeInfoEvent[])
    .filter((s) => s.subscribeType === type);
}

describe('resuming after a lost connection (userEvents cursors, SPEC §9)', () => {
  it('what happened while the socket was down arrives after the reconnect, each event once', async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const gate = reconnectGate();
    const alice = await sdkClient(server, app, 'alice', { deviceId: 'phone', retryWait: gate.retryWait });
    const aliceWeb = await app.user('alice', { deviceId: 'web' });
    const bob = await app.user('bob');
    const carol = await app.user('carol');
    await updateMy(bob, { name: 'Bob 1' });
    await alice.client.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 3600);
    await alice.client.connect();
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);
    expect(statusesSince(alice, 0, SubscribeType.USER_PROFILE)).toMatchObject([{ userId: 'bob', userProfile: { name: 'Bob 1' } }]);
    const before = alice.log.length;

    // the socket drops (1012, a restarting instance) and stays down while things happen
    gate.hold();
    expect(dropConnections(server, app, 'alice', 1012)).toBe(1);
    expect((await alice.waitFor(Events.DISCONNECT))[0]).toEqual({ code: 1012, reason: 'service restart', willReconnect: true });
    await updateMy(bob, { name: 'Bob 2' });
    await updateMy(bob, { name: 'Bob 3' });
    await carol.ok('mutation { addFriend(userId: "alice", extra: "hi") { outcome } }');
    await setProfile(app, 'alice', { name: 'Alice (backend)' });
    await aliceWeb.ok('mutation { subscribeUserStatus(userIds: ["carol"], type: ONLINE_STATUS, expiry: 600) { failedUserIds } }');
    gate.release();

    await alice.waitFor(Events.CONNECTED, 2);
    const finished = await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 8);
    expect(finished.slice(4)).toEqual([1, 2, 3, 4]);
    await server.app.realtime.drain();
    await alice.quiet(Events.OWN_USER_PROFILE_CHANGED, 300);

    const missed = eventsSince(alice, before);
    const names = missed.map((e) => e.event);
    // one of each, then (status batches and) the four FINISHED
    expect(names.filter((n) => n === Events.FRIEND_APPLICATION_STATUS_CHANGED)).toHaveLength(1);
    expect(names.filter((n) => n === Events.OWN_USER_PROFILE_CHANGED)).toHaveLength(1);
    expect(names.filter((n) => n === Events.SUBSCRIBED_RELATION_CHANGE)).toHaveLength(1);
    expect(alice.of(Events.FRIEND_APPLICATION_STATUS_CHANGED)).toEqual([
      expect.objectContaining({ userId: 'carol', applicationType: 2, applicationStatus: FriendApplicationStatus.UNHANDLED, extra: 'hi', directionType: DirectionType.BOTH }),
    ]);
    expect(alice.of(Events.OWN_USER_PROFILE_CHANGED)).toEqual([expect.objectContaining({ userId: 'alice', name: 'Alice (backend)', restricted: false })]);
    expect(alice.of(Events.SUBSCRIBED_RELATION_CHANGE)).toEqual([[{ userId: 'carol', subscribeType: 1, operationType: 0, subscribeTime: expect.any(Number), expiry: 600 }]]);
    // bob's two changes coalesced into his latest profile, once, in one USER_PROFILE batch before its FINISHED
    expect(statusesSince(alice, before, SubscribeType.USER_PROFILE)).toMatchObject([{ userId: 'bob', subscribeType: 2, userProfile: { name: 'Bob 3' } }]);
    const profileFinished = missed.findIndex((e) => e.event === Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED && e.payload === SubscribeType.USER_PROFILE);
    const profileBatch = missed.findIndex((e) => e.event === Events.SUBSCRIBED_USER_STATUS_CHANGE && (e.payload as SubscribeInfoEvent[])[0]!.subscribeType === 2);
    expect(profileBatch).toBeGreaterThanOrEqual(0);
    expect(profileBatch).toBeLessThan(profileFinished);
    // carol, newly subscribed on the other device, comes with her (never connected) status
    expect(statusesSince(alice, before, SubscribeType.ONLINE_STATUS)).toEqual([expect.objectContaining({ userId: 'carol', details: [] })]);

    // a second drop with nothing missed: nothing is delivered again
    const second = alice.log.length;
    gate.hold();
    dropConnections(server, app, 'alice', 1001, 'going away');
    await alice.waitFor(Events.DISCONNECT, 2);
    gate.release();
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 12);
    await server.app.realtime.drain();
    await alice.quiet(Events.SUBSCRIBED_USER_STATUS_CHANGE, 300);
    expect(eventsSince(alice, second).map((e) => e.event)).toEqual(Array(4).fill(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED));

    // and live events flow, once
    await updateMy(bob, { name: 'Bob 4' });
    await setProfile(app, 'alice', { name: 'Alice 2' });
    await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.userProfile?.name === 'Bob 4');
    await alice.waitFor(Events.OWN_USER_PROFILE_CHANGED, 2);
    await server.app.realtime.drain();
    await alice.quiet(Events.OWN_USER_PROFILE_CHANGED, 300);
    expect(statusesSince(alice, second, SubscribeType.USER_PROFILE)).toMatchObject([{ userId: 'bob', userProfile: { name: 'Bob 4' } }]);
    expect(alice.of(Events.OWN_USER_PROFILE_CHANGED).map((p) => p.name)).toEqual(['Alice (backend)', 'Alice 2']);
    expect(alice.of(Events.FRIEND_APPLICATION_STATUS_CHANGED)).toHaveLength(1);
    await alice.client.disconnect();
  });

  it('friend events and my own profile changes missed while offline arrive after connect() again, and with a cursorStore in a new client', async () => {
    const app = await server.newApp();
    const store = memoryCursorStore();
    const first = await sdkClient(server, app, 'alice', { deviceId: 'phone', cursorStore: store });
    const bob = await app.user('bob');
    await first.client.connect();
    await first.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);
    expect(store.calls).toEqual(['load', 'save']);
    await first.client.disconnect();
    await expect.poll(() => server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey).length).toBe(0);

    // offline: bob befriends alice (FREE), then the backend renames alice
    await bob.ok('mutation { addFriend(userId: "alice") { outcome } }');
    await app.backend.ok('mutation { adminAddFriend(userId: "bob", friendId: "alice") }');
    await setProfile(app, 'alice', { name: 'Renamed' });

    // a new client instance (an app restart) on the same store resumes
    const second = await sdkClient(server, app, 'alice', { deviceId: 'phone', cursorStore: store });
    expect(await second.client.connect()).toEqual({ code: 0, data: { userId: 'alice' } });
    expect(second.of(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED)).toEqual([1, 2, 3, 4]);
    expect(second.of(Events.OWN_USER_PROFILE_CHANGED)).toEqual([expect.objectContaining({ name: 'Renamed' })]);
    expect(second.of(Events.FRIEND_ADDED)).toEqual([{ userId: 'bob', directionType: DirectionType.BOTH, operationTime: expect.any(Number) }]);
    await server.app.realtime.drain();
    await second.quiet(Events.FRIEND_ADDED, 300);
    expect(second.of(Events.FRIEND_ADDED)).toHaveLength(1);
    expect(second.of(Events.OWN_USER_PROFILE_CHANGED)).toHaveLength(1);
    expect(store.calls.slice(2, 3)).toEqual(['load']);
    expect(store.calls).not.toContain('clear');
    await second.client.disconnect();
  });

  it("a cursor of someone else (or garbage) in the cursorStore: the client drops it and starts fresh", async () => {
    const app = await server.newApp();
    const bobStore = memoryCursorStore();
    const bob = await sdkClient(server, app, 'bob', { cursorStore: bobStore });
    await bob.client.connect();
    await bob.client.disconnect();
    for (const foreign of [bobStore.value!, 'not-a-cursor']) {
      const store = memoryCursorStore(foreign);
      const alice = await sdkClient(server, app, 'alice', { cursorStore: store });
      expect(await alice.client.connect()).toEqual({ code: 0, data: { userId: 'alice' } });
      expect(alice.of(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED)).toEqual([1, 2, 3, 4]);
      expect(store.calls).toEqual(['load', 'clear', 'save']);
      expect(store.value).not.toBe(foreign);
      await alice.client.disconnect();
    }
  });
});

describe('CURSOR_EXPIRED (EVENT_RETENTION_SECONDS=1)', () => {
  let short: TestServer;
  beforeAll(async () => {
    short = await startTestServer({ config: { eventRetentionSeconds: 1 } });
  });
  afterAll(() => short?.stop());

  it('a cursor older than the retention: the client starts fresh by itself (full snapshot), then resumes again', async () => {
    const app = await short.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const gate = reconnectGate();
    const store = memoryCursorStore();
    const alice = await sdkClient(short, app, 'alice', { retryWait: gate.retryWait, cursorStore: store });
    const bob = await app.user('bob');
    const carol = await app.user('carol');
    await updateMy(bob, { name: 'Bob 1' });
    await updateMy(carol, { name: 'Carol 1' });
    await alice.client.subscribeUserStatus(['bob', 'carol'], SubscribeType.USER_PROFILE, 86400);
    await alice.client.connect();
    const names = (since: number) => statusesSince(alice, since, SubscribeType.USER_PROFILE).map((s) => `${s.userId}:${s.userProfile?.name}`).sort();
    expect(names(0)).toEqual(['bob:Bob 1', 'carol:Carol 1']);

    // offline for longer than the retention: bob changes; the cursor expires
    let since = alice.log.length;
    gate.hold();
    dropConnections(short, app, 'alice');
    await alice.waitFor(Events.DISCONNECT);
    await updateMy(bob, { name: 'Bob 2' });
    const expired = store.value;
    short.clock.advance(5_000);
    gate.release();
    // a fresh start: both profiles (not only the changed one), then the four FINISHED once
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 8);
    expect(names(since)).toEqual(['bob:Bob 2', 'carol:Carol 1']);
    expect(store.calls).toContain('clear');
    expect(store.value).not.toBe(expired);
    await short.app.realtime.drain();
    await alice.quiet(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 300);
    expect(alice.of(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED)).toHaveLength(8);
    expect(alice.of(Events.CONNECTED)).toHaveLength(2);

    // the new cursor resumes: a short outage delivers only what changed
    since = alice.log.length;
    gate.hold();
    dropConnections(short, app, 'alice');
    await alice.waitFor(Events.DISCONNECT, 2);
    await updateMy(carol, { name: 'Carol 2' });
    gate.release();
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 12);
    expect(names(since)).toEqual(['carol:Carol 2']);
    await alice.client.disconnect();
  });
});
