import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { signatureOf } from '../src/rongcloud-api/signature.ts';
import { makeFriends } from './helpers/profiles.ts';
import { closeLive, expectNothingMore, goLive, statusEvents, statusStream, subscribe, waitUntil } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import type { LiveClient, LiveSubscription } from './helpers/ws.ts';

/**
 * Presence visibility and invisible mode (SPEC §10, contract-next/11-privacy.graphql): bob is the
 * subject; alice is his friend and subscribes to his ONLINE_STATUS, eve is a stranger who
 * subscribes, carol a friend who does not subscribe. Real servers, real graphql-ws clients.
 */

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

type Visibility = 'NOT_SET' | 'EVERYONE' | 'FRIENDS_ONLY' | 'INVISIBLE';

const STATUS_FIELDS = 'userId subscribeType details { platform online } customStatus { text emoji expiresAt } changeTime';
const STATUS_STREAM = `subscription($types: [SubscribeType!]) { subscribedUserStatusChange(types: $types) {
  __typename ... on UserStatusChange { ${STATUS_FIELDS} } ... on SubscribedUserStatusSyncFinished { subscribeType } } }`;
const USER_EVENTS = `subscription($after: String) { userEvents(after: $after) { cursor event {
  __typename ... on UserStatusChange { ${STATUS_FIELDS} } ... on UserEventsCaughtUp { resumed } } } }`;
const QUERY_STATUS = `query($t: SubscribeType!, $ids: [ID!]!) { subscribedUserStatus(type: $t, userIds: $ids) { ${STATUS_FIELDS} } }`;
const SET_VISIBILITY = 'mutation($v: PresenceVisibility!) { updateMyPresenceVisibility(visibility: $v) }';

interface Status {
  __typename: 'UserStatusChange';
  userId: string;
  subscribeType: string;
  details: { platform: string; online: boolean }[];
  customStatus: { text: string; emoji: string | null; expiresAt: string | null } | null;
}

const online = (s: Status) => s.details.some((d) => d.online);
/** the statuses a status stream received, by type, after the sync (or all of them) */
function statuses(sub: LiveSubscription<any>): Status[] {
  return statusEvents(sub).filter((e) => e.__typename === 'UserStatusChange') as unknown as Status[];
}
const envelopes = (sub: LiveSubscription<any>) => sub.events.map((e) => e.userEvents as { cursor: string; event: any });
const caughtUp = (sub: LiveSubscription<any>) => envelopes(sub).some((e) => e.event.__typename === 'UserEventsCaughtUp');
/** the presence statuses (ONLINE_STATUS, FRIEND_ONLINE_STATUS) of a userEvents stream */
const streamStatuses = (sub: LiveSubscription<any>) =>
  envelopes(sub)
    .map((e) => e.event)
    .filter((e) => e.__typename === 'UserStatusChange' && e.subscribeType.endsWith('ONLINE_STATUS')) as Status[];

async function openEvents(live: LiveClient, after?: string): Promise<LiveSubscription<any>> {
  const sub = live.subscribe(USER_EVENTS, after === undefined ? {} : { after });
  await waitUntil(sub, () => caughtUp(sub), 8000, 'UserEventsCaughtUp');
  return sub;
}
const lastCursor = (sub: LiveSubscription<any>) => envelopes(sub).at(-1)!.cursor;

async function openStatus(live: LiveClient, types: string[]): Promise<LiveSubscription<any>> {
  const sub = live.subscribe(STATUS_STREAM, { types });
  await waitUntil(sub, () => statusEvents(sub).filter((e) => e.__typename === 'SubscribedUserStatusSyncFinished').length >= types.length, 8000, 'sync');
  return sub;
}

async function setAppDefault(app: TestApp, v: Exclude<Visibility, 'NOT_SET'>) {
  const data = await app.backend.ok<{ updateAppSettings: { defaultPresenceVisibility: string } }>(
    'mutation($v: PresenceVisibility) { updateAppSettings(defaultPresenceVisibility: $v) { defaultPresenceVisibility } }',
    { v },
  );
  expect(data.updateAppSettings.defaultPresenceVisibility).toBe(v);
}

async function cast(options: { appDefault?: Exclude<Visibility, 'NOT_SET'>; bob?: Visibility } = {}) {
  const app = await server.newApp();
  if (options.appDefault) await setAppDefault(app, options.appDefault);
  const bob = await app.user('bob');
  const alice = await app.user('alice');
  const eve = await app.user('eve');
  const carol = await app.user('carol');
  if (options.bob) expect((await bob.ok(SET_VISIBILITY, { v: options.bob })).updateMyPresenceVisibility).toBe(options.bob);
  await makeFriends(app, 'alice', 'bob');
  await makeFriends(app, 'carol', 'bob');
  await subscribe(alice, 'ONLINE_STATUS', ['bob']);
  await subscribe(eve, 'ONLINE_STATUS', ['bob']);
  return { app, bob, alice, eve, carol };
}

async function queried(client: { ok: TestApp['backend']['ok'] }, type = 'ONLINE_STATUS'): Promise<Status> {
  return (await client.ok<{ subscribedUserStatus: Status[] }>(QUERY_STATUS, { t: type, ids: ['bob'] })).subscribedUserStatus[0]!;
}

// who may see bob, for each way his effective visibility comes about
const CASES: { name: string; appDefault?: Exclude<Visibility, 'NOT_SET'>; bob?: Visibility; friendSees: boolean; strangerSees: boolean }[] = [
  { name: 'his own FRIENDS_ONLY', bob: 'FRIENDS_ONLY', friendSees: true, strangerSees: false },
  { name: 'his own INVISIBLE', bob: 'INVISIBLE', friendSees: false, strangerSees: false },
  { name: 'the app default FRIENDS_ONLY (his NOT_SET follows it)', appDefault: 'FRIENDS_ONLY', bob: 'NOT_SET', friendSees: true, strangerSees: false },
  { name: 'the app default INVISIBLE (NOT_SET follows it)', appDefault: 'INVISIBLE', friendSees: false, strangerSees: false },
  { name: 'his own EVERYONE over an app default INVISIBLE', appDefault: 'INVISIBLE', bob: 'EVERYONE', friendSees: true, strangerSees: true },
  { name: 'the default EVERYONE (RongCloud)', friendSees: true, strangerSees: true },
];

describe('presence visibility: who sees bob online (query, connect-time sync, live)', () => {
  for (const c of CASES) {
    it(`${c.name}: friend ${c.friendSees ? 'sees' : 'does not see'}, stranger ${c.strangerSees ? 'sees' : 'does not see'}`, async () => {
      const { app, bob, alice, eve } = await cast(c);
      expect((await bob.ok('{ myPresenceVisibility }')).myPresenceVisibility).toBe(c.bob ?? 'NOT_SET');
      const aliceLive = await goLive(server, app, 'alice');
      const eveLive = await goLive(server, app, 'eve');
      const onAlice = await openStatus(aliceLive, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
      const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
      // bob goes online on one device, and his other device stays to check what he himself sees
      const bobLive = await goLive(server, app, 'bob', { deviceId: 'bob-phone' });
      const bobOnOther = await goLive(server, app, 'bob', { deviceId: 'bob-laptop', platform: 'PC' });
      // live: each platform's online change reaches exactly those who may see it
      const aliceLiveCount = 2 + (c.friendSees ? 4 : 0);
      const eveLiveCount = 1 + (c.strangerSees ? 2 : 0);
      await waitUntil(null, () => statuses(onAlice).length >= aliceLiveCount && statuses(onEve).length >= eveLiveCount, 8000, 'the online changes');
      await expectNothingMore(server, [onAlice, onEve]);
      expect(statuses(onAlice).slice(2).every(online)).toBe(true);
      expect(statuses(onEve).slice(1).every(online)).toBe(true);
      expect([statuses(onAlice).length, statuses(onEve).length]).toEqual([aliceLiveCount, eveLiveCount]);

      // query
      const friendView = await queried(alice);
      const friendType = await queried(alice, 'FRIEND_ONLINE_STATUS');
      const strangerView = await queried(eve);
      expect(online(friendView)).toBe(c.friendSees);
      expect(online(friendType)).toBe(c.friendSees);
      expect(online(strangerView)).toBe(c.strangerSees);
      if (!c.strangerSees) expect(strangerView.details, 'never connected').toEqual([]);
      if (!c.friendSees) expect(friendView.details).toEqual([]);
      // his own device knows the truth
      expect((await bob.ok('{ myPresenceVisibility }')).myPresenceVisibility).toBe(c.bob ?? 'NOT_SET');

      // connect-time sync of new watchers while bob is online
      const aliceAgain = await goLive(server, app, 'alice', { deviceId: 'alice-2' });
      const eveAgain = await goLive(server, app, 'eve', { deviceId: 'eve-2' });
      const syncAlice = await openStatus(aliceAgain, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
      const syncEve = await openStatus(eveAgain, ['ONLINE_STATUS']);
      expect(statuses(syncAlice).map(online)).toEqual([c.friendSees, c.friendSees]);
      expect(statuses(syncEve).map(online)).toEqual([c.strangerSees]);
      if (!c.strangerSees) expect(statuses(syncEve)[0]!.details).toEqual([]);
      // userEvents snapshot the same way; and bob's own other device gets no status of himself
      const freshAlice = await openEvents(aliceAgain);
      const freshEve = await openEvents(eveAgain);
      const ownStream = await openEvents(bobOnOther);
      expect(streamStatuses(freshAlice).map(online)).toEqual([c.friendSees, c.friendSees]);
      expect(streamStatuses(freshEve).map(online)).toEqual([c.strangerSees]);
      expect(streamStatuses(ownStream).filter((st) => st.userId === 'bob')).toEqual([]);

      // live offline: again only those who may see
      await closeLive(server, app.appKey, 'bob', bobLive);
      await closeLive(server, app.appKey, 'bob', bobOnOther);
      const aliceEnd = aliceLiveCount + (c.friendSees ? 4 : 0);
      const eveEnd = eveLiveCount + (c.strangerSees ? 2 : 0);
      await waitUntil(null, () => statuses(onAlice).length >= aliceEnd && statuses(onEve).length >= eveEnd, 8000, 'the offline changes');
      await expectNothingMore(server, [onAlice, onEve, syncAlice, syncEve]);
      expect([statuses(onAlice).length, statuses(onEve).length]).toEqual([aliceEnd, eveEnd]);
      expect(statuses(syncAlice).length).toBe(2 + (c.friendSees ? 4 : 0));
      expect(statuses(syncEve).length).toBe(1 + (c.strangerSees ? 2 : 0));
      await Promise.all([aliceLive.dispose(), eveLive.dispose(), aliceAgain.dispose(), eveAgain.dispose()]);
    });
  }
});

describe('presence visibility on resume (userEvents after a cursor)', () => {
  it("a watcher that may not see bob gets nothing of his connects and disconnects on resume; his friend gets the current state", async () => {
    const { app } = await cast({ bob: 'FRIENDS_ONLY' });
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const a1 = await openEvents(aliceLive);
    const e1 = await openEvents(eveLive);
    const aliceCursor = lastCursor(a1);
    const eveCursor = lastCursor(e1);
    a1.stop();
    e1.stop();
    // while they are away, bob comes and goes twice
    for (let i = 0; i < 2; i++) {
      const bobLive = await goLive(server, app, 'bob');
      await closeLive(server, app.appKey, 'bob', bobLive);
    }
    const bobLive = await goLive(server, app, 'bob');
    await server.app.realtime.drain();
    const a2 = await openEvents(aliceLive, aliceCursor);
    const e2 = await openEvents(eveLive, eveCursor);
    expect(streamStatuses(a2).map((s) => [s.subscribeType, online(s)])).toEqual([
      ['ONLINE_STATUS', true],
      ['FRIEND_ONLINE_STATUS', true],
    ]);
    expect(envelopes(e2).map((e) => e.event.__typename), 'nothing but CaughtUp').toEqual(['UserEventsCaughtUp']);
    // and live after the resume: eve still hears nothing
    await closeLive(server, app.appKey, 'bob', bobLive);
    await waitUntil(a2, () => streamStatuses(a2).length >= 4, 8000, 'alice sees the offline');
    await expectNothingMore(server, [e2]);
    await Promise.all([aliceLive.dispose(), eveLive.dispose()]);
  });

  it('a watcher that lost sight while away learns once that bob looks never connected; one that never saw him learns nothing', async () => {
    const { app, bob } = await cast();
    const bobLive = await goLive(server, app, 'bob');
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const a1 = await openEvents(aliceLive);
    const e1 = await openEvents(eveLive);
    expect(streamStatuses(e1).map(online)).toEqual([true]);
    const aliceCursor = lastCursor(a1);
    const eveCursor = lastCursor(e1);
    a1.stop();
    e1.stop();
    await bob.ok(SET_VISIBILITY, { v: 'FRIENDS_ONLY' });
    await server.app.realtime.drain();
    const e2 = await openEvents(eveLive, eveCursor);
    const a2 = await openEvents(aliceLive, aliceCursor);
    expect(streamStatuses(e2).map((s) => [s.subscribeType, s.details, s.customStatus])).toEqual([['ONLINE_STATUS', [], null]]);
    expect(streamStatuses(a2), 'alice still sees the same: nothing to tell').toEqual([]);
    // FRIENDS_ONLY -> INVISIBLE: eve saw nothing before and sees nothing now; alice loses sight
    const eveCursor2 = lastCursor(e2);
    const aliceCursor2 = lastCursor(a2);
    e2.stop();
    a2.stop();
    await bob.ok(SET_VISIBILITY, { v: 'INVISIBLE' });
    await server.app.realtime.drain();
    const e3 = await openEvents(eveLive, eveCursor2);
    const a3 = await openEvents(aliceLive, aliceCursor2);
    expect(envelopes(e3).map((e) => e.event.__typename)).toEqual(['UserEventsCaughtUp']);
    expect(streamStatuses(a3).map((s) => [s.subscribeType, s.details])).toEqual([
      ['ONLINE_STATUS', []],
      ['FRIEND_ONLINE_STATUS', []],
    ]);
    await Promise.all([bobLive.dispose(), aliceLive.dispose(), eveLive.dispose()]);
  });
});

describe('updateMyPresenceVisibility: pushed to exactly the watchers whose view flips', () => {
  it('EVERYONE -> FRIENDS_ONLY -> INVISIBLE -> EVERYONE -> NOT_SET, each a single status change to those affected', async () => {
    const { app, bob } = await cast();
    const bobLive = await goLive(server, app, 'bob');
    const bobOther = await goLive(server, app, 'bob', { deviceId: 'bob-2' });
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const carolLive = await goLive(server, app, 'carol');
    const onAlice = await openStatus(aliceLive, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
    const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
    const onCarol = await openStatus(carolLive, ['FRIEND_ONLINE_STATUS']);
    const onBob = await openEvents(bobOther);
    const all = [onAlice, onEve, onCarol];
    const counts = () => all.map((s) => statuses(s).length);
    expect(counts()).toEqual([2, 1, 1]);
    expect([...statuses(onAlice), ...statuses(onEve), ...statuses(onCarol)].every(online)).toBe(true);

    // FRIENDS_ONLY: only eve loses sight
    await bob.ok(SET_VISIBILITY, { v: 'FRIENDS_ONLY' });
    await waitUntil(onEve, () => statuses(onEve).length === 2, 8000, 'eve loses sight');
    await expectNothingMore(server, all);
    expect(counts()).toEqual([2, 2, 1]);
    expect(statuses(onEve)[1]).toMatchObject({ subscribeType: 'ONLINE_STATUS', details: [], customStatus: null });

    // INVISIBLE: the friends lose sight (alice by both types), eve hears nothing (she saw nothing)
    await bob.ok(SET_VISIBILITY, { v: 'INVISIBLE' });
    await waitUntil(onCarol, () => statuses(onCarol).length === 2, 8000, 'carol loses sight');
    await expectNothingMore(server, all);
    expect(counts()).toEqual([4, 2, 2]);
    expect(statuses(onAlice).slice(2).map((s) => [s.subscribeType, s.details])).toEqual([
      ['ONLINE_STATUS', []],
      ['FRIEND_ONLINE_STATUS', []],
    ]);
    expect(statuses(onCarol)[1]!.details).toEqual([]);

    // EVERYONE: all of them see him online again
    await bob.ok(SET_VISIBILITY, { v: 'EVERYONE' });
    await waitUntil(null, () => counts().join() === '6,3,3', 8000, 'everyone sees bob again');
    await expectNothingMore(server, all);
    expect([statuses(onAlice)[4], statuses(onAlice)[5], statuses(onEve)[2], statuses(onCarol)[2]].every((s) => online(s!))).toBe(true);

    // NOT_SET follows the app's default EVERYONE: nobody's view changes, nobody hears of it
    await bob.ok(SET_VISIBILITY, { v: 'NOT_SET' });
    // the same value again changes nothing either
    await bob.ok(SET_VISIBILITY, { v: 'NOT_SET' });
    await expectNothingMore(server, all);
    expect(counts()).toEqual([6, 3, 3]);
    // bob's own other device: no status of himself; he reads his setting
    expect(streamStatuses(onBob).filter((st) => st.userId === 'bob')).toEqual([]);
    expect((await bob.ok('{ myPresenceVisibility }')).myPresenceVisibility).toBe('NOT_SET');
    await Promise.all([bobLive.dispose(), bobOther.dispose(), aliceLive.dispose(), eveLive.dispose(), carolLive.dispose()]);
  });

  it('going invisible while offline: watchers who saw his last-seen times lose them; one who never saw him connected hears nothing', async () => {
    const { app, bob } = await cast();
    // dave subscribes to bob too but bob has never connected: nothing to hide from anyone yet
    const dave = await app.user('dave');
    await subscribe(dave, 'ONLINE_STATUS', ['bob']);
    const daveLive = await goLive(server, app, 'dave');
    const onDave = await openStatus(daveLive, ['ONLINE_STATUS']);
    await bob.ok(SET_VISIBILITY, { v: 'INVISIBLE' });
    await bob.ok(SET_VISIBILITY, { v: 'EVERYONE' });
    await expectNothingMore(server, [onDave]);
    expect(statuses(onDave)).toHaveLength(1);
    // bob connects once and leaves: his offline platform now carries a last-seen time
    const bobLive = await goLive(server, app, 'bob');
    await closeLive(server, app.appKey, 'bob', bobLive);
    await waitUntil(onDave, () => statuses(onDave).length === 3);
    expect(statuses(onDave)[2]!.details).toEqual([{ platform: 'WEB', online: false }]);
    await bob.ok(SET_VISIBILITY, { v: 'INVISIBLE' });
    await waitUntil(onDave, () => statuses(onDave).length === 4);
    expect(statuses(onDave)[3]!.details).toEqual([]);
    await daveLive.dispose();
  });

  it('rejects an unknown value with BAD_USER_INPUT and changes nothing; app backends cannot call it', async () => {
    const { bob, app } = await cast({ bob: 'FRIENDS_ONLY' });
    const error = await bob.fails(SET_VISIBILITY, { v: 'NOBODY' });
    expect(error.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await bob.ok('{ myPresenceVisibility }')).myPresenceVisibility).toBe('FRIENDS_ONLY');
    expect((await app.backend.fails(SET_VISIBILITY, { v: 'INVISIBLE' })).extensions?.code).toBe('FORBIDDEN');
    // the app default may not be NOT_SET
    const notSet = await app.backend.fails('mutation { updateAppSettings(defaultPresenceVisibility: NOT_SET) { appKey } }');
    expect(notSet.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await app.backend.ok('{ appSettings { defaultPresenceVisibility } }')).appSettings.defaultPresenceVisibility).toBe('EVERYONE');
  });
});

describe('a hidden user removed while online', () => {
  it('cleanUserProfiles tells only the watchers who saw him online that he went offline', async () => {
    const { app } = await cast({ bob: 'FRIENDS_ONLY' });
    const bobLive = await goLive(server, app, 'bob');
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const onAlice = await openStatus(aliceLive, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
    const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
    await app.backend.ok('mutation { cleanUserProfiles(userIds: ["bob"]) }');
    await waitUntil(onAlice, () => statuses(onAlice).length === 4, 8000, 'alice sees bob go');
    expect(statuses(onAlice).slice(2).map((s) => [s.subscribeType, online(s)])).toEqual([
      ['ONLINE_STATUS', false],
      ['FRIEND_ONLINE_STATUS', false],
    ]);
    await expectNothingMore(server, [onEve]);
    expect(statuses(onEve)).toHaveLength(1);
    await Promise.all([bobLive.dispose(), aliceLive.dispose(), eveLive.dispose()]);
  });
});

describe('friendships of a FRIENDS_ONLY user', () => {
  it("befriending shows him to the new friend's ONLINE_STATUS subscription, unfriending hides him again: one change each, to that watcher only", async () => {
    const { app, bob, eve } = await cast({ bob: 'FRIENDS_ONLY' });
    const bobLive = await goLive(server, app, 'bob');
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const onAlice = await openStatus(aliceLive, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
    const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
    expect(statuses(onEve).map((s) => s.details)).toEqual([[]]);
    await makeFriends(app, 'eve', 'bob');
    await waitUntil(onEve, () => statuses(onEve).length === 2, 8000, 'eve sees bob');
    expect(statuses(onEve)[1]).toMatchObject({ subscribeType: 'ONLINE_STATUS', details: [{ platform: 'WEB', online: true }] });
    await expectNothingMore(server, [onAlice, onEve]);
    expect(statuses(onAlice)).toHaveLength(2);
    expect(online(await queried(eve))).toBe(true);
    await bob.ok('mutation { deleteFriends(userIds: ["eve"]) }');
    await waitUntil(onEve, () => statuses(onEve).length === 3, 8000, 'eve loses sight');
    expect(statuses(onEve)[2]).toMatchObject({ subscribeType: 'ONLINE_STATUS', details: [], customStatus: null });
    await expectNothingMore(server, [onAlice, onEve]);
    expect(statuses(onAlice)).toHaveLength(2);
    expect(online(await queried(eve))).toBe(false);
    // an EVERYONE user's friendships change nobody's view of his presence: nothing is pushed
    await bob.ok(SET_VISIBILITY, { v: 'EVERYONE' });
    await waitUntil(onEve, () => statuses(onEve).length === 4);
    await makeFriends(app, 'eve', 'bob');
    await expectNothingMore(server, [onAlice, onEve]);
    expect(statuses(onEve)).toHaveLength(4);
    await Promise.all([bobLive.dispose(), aliceLive.dispose(), eveLive.dispose()]);
  });

  it('on resume: a watcher befriended while away gets his status; one unfriended gets the never-connected view; others nothing', async () => {
    const { app, bob } = await cast({ bob: 'FRIENDS_ONLY' });
    const bobLive = await goLive(server, app, 'bob');
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const a1 = await openEvents(aliceLive);
    const e1 = await openEvents(eveLive);
    const [aliceCursor, eveCursor] = [lastCursor(a1), lastCursor(e1)];
    a1.stop();
    e1.stop();
    await makeFriends(app, 'eve', 'bob');
    await server.app.realtime.drain();
    const e2 = await openEvents(eveLive, eveCursor);
    const a2 = await openEvents(aliceLive, aliceCursor);
    expect(streamStatuses(e2).map((s) => [s.subscribeType, online(s)])).toEqual([
      ['ONLINE_STATUS', true],
      ['FRIEND_ONLINE_STATUS', true],
    ]);
    expect(streamStatuses(a2)).toEqual([]);
    const eveCursor2 = lastCursor(e2);
    e2.stop();
    await bob.ok('mutation { deleteFriends(userIds: ["eve"]) }');
    await server.app.realtime.drain();
    const e3 = await openEvents(eveLive, eveCursor2);
    expect(streamStatuses(e3).map((s) => [s.subscribeType, s.details])).toEqual([['ONLINE_STATUS', []]]);
    await Promise.all([bobLive.dispose(), aliceLive.dispose(), eveLive.dispose()]);
  });
});

describe('RongCloud /user/checkOnline.json answers as anyone else in the app would see', () => {
  async function checkOnline(app: TestApp, userId: string): Promise<string> {
    const nonce = String(Math.random() * 1_000_000);
    const timestamp = String(Math.floor(server.clock.now().getTime() / 1000));
    const response = await fetch(`${server.url.replace(/\/graphql$/, '')}/user/checkOnline.json`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-request-id': randomUUID(),
        'App-Key': app.appKey,
        Nonce: nonce,
        Timestamp: timestamp,
        Signature: signatureOf(app.appSecret, nonce, timestamp),
      },
      body: new URLSearchParams({ userId }).toString(),
    });
    const body = (await response.json()) as { code: number; status: string };
    expect(body.code).toBe(200);
    return body.status;
  }

  it('EVERYONE online: 1; FRIENDS_ONLY and INVISIBLE (own or the app default): 0', async () => {
    const { app, bob } = await cast();
    const bobLive = await goLive(server, app, 'bob');
    expect(await checkOnline(app, 'bob')).toBe('1');
    await bob.ok(SET_VISIBILITY, { v: 'FRIENDS_ONLY' });
    expect(await checkOnline(app, 'bob')).toBe('0');
    await bob.ok(SET_VISIBILITY, { v: 'INVISIBLE' });
    expect(await checkOnline(app, 'bob')).toBe('0');
    await bob.ok(SET_VISIBILITY, { v: 'NOT_SET' });
    expect(await checkOnline(app, 'bob')).toBe('1');
    await setAppDefault(app, 'INVISIBLE');
    expect(await checkOnline(app, 'bob')).toBe('0');
    await bob.ok(SET_VISIBILITY, { v: 'EVERYONE' });
    expect(await checkOnline(app, 'bob')).toBe('1');
    await closeLive(server, app.appKey, 'bob', bobLive);
    expect(await checkOnline(app, 'bob')).toBe('0');
  });
});
