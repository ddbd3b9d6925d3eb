import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFriends } from './helpers/profiles.ts';
import { closeLive, expectNothingMore, goLive, statusEvents, subscribe, waitUntil } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import type { LiveClient, LiveSubscription } from './helpers/ws.ts';
import { sdkClient } from './helpers/sdk.ts';
import { Events, Platform, PresenceVisibility, SubscribeType } from '../src/client/index.ts';

/**
 * Custom status (SPEC §10, contract-next/11-privacy.graphql): limits in code points, shown on
 * presence statuses to those who may see the user's presence, pushed on set, clear and expiry.
 */

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const CS = 'customStatus { text emoji expiresAt }';
const STATUS_STREAM = `subscription($types: [SubscribeType!]) { subscribedUserStatusChange(types: $types) {
  __typename ... on UserStatusChange { userId subscribeType details { platform online } ${CS} } ... on SubscribedUserStatusSyncFinished { subscribeType } } }`;
const QUERY_STATUS = `query($t: SubscribeType!, $ids: [ID!]!) { subscribedUserStatus(type: $t, userIds: $ids) { userId details { online } ${CS} } }`;
const SET = 'mutation($t: String!, $e: String, $x: Int) { updateMyCustomStatus(text: $t, emoji: $e, expiresInSeconds: $x) { text emoji expiresAt } }';
const CLEAR = 'mutation { clearMyCustomStatus }';
const MINE = `{ myCustomStatus { text emoji expiresAt } }`;

type CustomStatus = { text: string; emoji: string | null; expiresAt: string | null } | null;
interface Status {
  userId: string;
  subscribeType: string;
  details: { platform: string; online: boolean }[];
  customStatus: CustomStatus;
}
const statuses = (sub: LiveSubscription<any>) => statusEvents(sub).filter((e) => e.__typename === 'UserStatusChange') as unknown as Status[];

async function openStatus(live: LiveClient, types: string[]): Promise<LiveSubscription<any>> {
  const sub = live.subscribe(STATUS_STREAM, { types });
  await waitUntil(sub, () => statusEvents(sub).filter((e) => e.__typename === 'SubscribedUserStatusSyncFinished').length >= types.length, 8000, 'sync');
  return sub;
}

/** bob the subject; alice his friend who subscribes, eve a stranger who subscribes. */
async function cast() {
  const app = await server.newApp();
  const bob = await app.user('bob');
  const alice = await app.user('alice');
  const eve = await app.user('eve');
  await makeFriends(app, 'alice', 'bob');
  await subscribe(alice, 'ONLINE_STATUS', ['bob']);
  await subscribe(eve, 'ONLINE_STATUS', ['bob']);
  return { app, bob, alice, eve };
}

const mine = async (client: TestApp['backend']): Promise<CustomStatus> => (await client.ok<{ myCustomStatus: CustomStatus }>(MINE)).myCustomStatus;

describe('updateMyCustomStatus limits (code points, at and just past each boundary)', () => {
  const astral = '𝒜'; // U+1D49C: one character, two UTF-16 units
  const ACCEPTED: [string, { t: string; e?: string | null; x?: number | null }][] = [
    ['text of 1 character', { t: 'a' }],
    ['text of 64 characters', { t: 'a'.repeat(64) }],
    ['text of 64 astral-plane characters (128 UTF-16 units)', { t: astral.repeat(64) }],
    ['text with emoji and inner spaces', { t: 'in a meeting 📅 back soon' }],
    ['emoji of 16 code points', { t: 'x', e: '👍'.repeat(16) }],
    ['a ZWJ family (7 code points)', { t: 'x', e: '👨‍👩‍👧‍👦' }],
    ['a flag (regional indicators)', { t: 'x', e: '🇫🇷' }],
    ['a keycap', { t: 'x', e: '1️⃣' }],
    ['a skin tone', { t: 'x', e: '👋🏽' }],
    ['a text-style pictograph with VS16', { t: 'x', e: '❤️' }],
    ['expiresInSeconds 60', { t: 'x', x: 60 }],
    ['expiresInSeconds 2592000', { t: 'x', x: 2_592_000 }],
    ['expiresInSeconds null (until cleared)', { t: 'x', x: null }],
  ];
  const REFUSED: [string, { t: string; e?: string | null; x?: number | null }, string][] = [
    ['empty text', { t: '' }, 'text'],
    ['text of 65 characters', { t: 'a'.repeat(65) }, 'text'],
    ['text of 65 astral-plane characters', { t: astral.repeat(65) }, 'text'],
    ['whitespace-only text', { t: '   ' }, 'text'],
    ['ideographic-space-only text', { t: '\u3000\u3000' }, 'text'],
    ['zero-width-only text', { t: '\u200B\u200B' }, 'text'],
    ['a line break', { t: 'a\nb' }, 'text'],
    ['a tab', { t: 'a\tb' }, 'text'],
    ['a C0 control', { t: 'a\u0007' }, 'text'],
    ['a C1 control', { t: 'a\u0085b' }, 'text'],
    ['a right-to-left override', { t: '\u202Eabc' }, 'text'],
    ['an unpaired surrogate', { t: 'a\uD83D' }, 'text'],
    ['emoji of 17 code points', { t: 'x', e: '👍'.repeat(17) }, 'emoji'],
    ['empty emoji', { t: 'x', e: '' }, 'emoji'],
    ['letters as emoji', { t: 'x', e: 'ab' }, 'emoji'],
    ['an emoji with a letter', { t: 'x', e: '👍a' }, 'emoji'],
    ['a bare digit', { t: 'x', e: '1' }, 'emoji'],
    ['a lone ZWJ', { t: 'x', e: '\u200D' }, 'emoji'],
    ['a space in the emoji', { t: 'x', e: '👍 👍' }, 'emoji'],
    ['expiresInSeconds 59', { t: 'x', x: 59 }, 'expiresInSeconds'],
    ['expiresInSeconds 2592001', { t: 'x', x: 2_592_001 }, 'expiresInSeconds'],
    ['expiresInSeconds 0', { t: 'x', x: 0 }, 'expiresInSeconds'],
    ['expiresInSeconds negative', { t: 'x', x: -60 }, 'expiresInSeconds'],
  ];

  it('accepts each value at its boundary, and returns what it stored', async () => {
    const app = await server.newApp();
    const bob = await app.user('bob');
    for (const [what, v] of ACCEPTED) {
      const set = (await bob.ok(SET, { t: v.t, e: v.e, x: v.x })).updateMyCustomStatus;
      const expiresAt = v.x ? new Date(server.clock.now().getTime() + v.x * 1000).toISOString() : null;
      expect(set, what).toEqual({ text: v.t, emoji: v.e ?? null, expiresAt });
      expect(await mine(bob), what).toEqual(set);
    }
  });

  it('refuses each value just past its boundary with BAD_USER_INPUT naming the argument, and writes nothing', async () => {
    const app = await server.newApp();
    const bob = await app.user('bob');
    const alice = await app.user('alice');
    await makeFriends(app, 'alice', 'bob');
    const before = (await bob.ok(SET, { t: 'baseline', e: '🙂' })).updateMyCustomStatus;
    const aliceLive = await goLive(server, app, 'alice');
    const onAlice = await openStatus(aliceLive, ['FRIEND_ONLINE_STATUS']);
    for (const [what, v, field] of REFUSED) {
      const error = await bob.fails(SET, { t: v.t, e: v.e, x: v.x });
      expect(error.extensions?.code, what).toBe('BAD_USER_INPUT');
      expect(error.extensions?.fields, what).toEqual([field]);
      expect(await mine(bob), what).toEqual(before);
    }
    // no change was written, so none was pushed
    await expectNothingMore(server, [onAlice]);
    expect(statuses(onAlice)).toHaveLength(1);
    // the backend has no status of its own
    expect((await app.backend.fails(SET, { t: 'x' })).extensions?.code).toBe('FORBIDDEN');
    await aliceLive.dispose();
  });
});

describe('custom status on presence statuses', () => {
  it('is shown to those who may see presence, online or not, in query and sync; pushed on set and clear', async () => {
    const { app, bob, alice, eve } = await cast();
    await bob.ok(SET, { t: 'on holiday', e: '🏖️' });
    const expected = { text: 'on holiday', emoji: '🏖️', expiresAt: null };
    // offline (never connected) and still shown
    const q = async (c: TestApp['backend'], t = 'ONLINE_STATUS') => (await c.ok<{ subscribedUserStatus: Status[] }>(QUERY_STATUS, { t, ids: ['bob'] })).subscribedUserStatus[0]!;
    expect((await q(alice)).customStatus).toEqual(expected);
    expect((await q(alice, 'FRIEND_ONLINE_STATUS')).customStatus).toEqual(expected);
    expect((await q(eve)).customStatus).toEqual(expected);
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const onAlice = await openStatus(aliceLive, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
    const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
    expect(statuses(onAlice).map((s) => s.customStatus)).toEqual([expected, expected]);
    expect(statuses(onEve).map((s) => s.customStatus)).toEqual([expected]);
    // online too: it rides on every presence change
    const bobLive = await goLive(server, app, 'bob');
    await waitUntil(null, () => statuses(onAlice).length === 4 && statuses(onEve).length === 2, 8000, 'online');
    expect(statuses(onEve)[1]).toMatchObject({ details: [{ platform: 'WEB', online: true }], customStatus: expected });
    // a new status: one status change each, the presence as it is
    await bob.ok(SET, { t: 'back', e: null });
    await waitUntil(null, () => statuses(onAlice).length === 6 && statuses(onEve).length === 3, 8000, 'the new status');
    expect(statuses(onEve)[2]).toMatchObject({ details: [{ platform: 'WEB', online: true }], customStatus: { text: 'back', emoji: null, expiresAt: null } });
    // clear: pushed; clearing again changes nothing and tells no one
    expect((await bob.ok(CLEAR)).clearMyCustomStatus).toBe(true);
    await waitUntil(null, () => statuses(onAlice).length === 8 && statuses(onEve).length === 4, 8000, 'the clear');
    expect(statuses(onAlice).slice(6).map((s) => s.customStatus)).toEqual([null, null]);
    expect((await bob.ok(CLEAR)).clearMyCustomStatus).toBe(false);
    await expectNothingMore(server, [onAlice, onEve]);
    expect(await mine(bob)).toBeNull();
    await closeLive(server, app.appKey, 'bob', bobLive);
    await Promise.all([aliceLive.dispose(), eveLive.dispose()]);
  });

  it('is hidden (null, and never pushed) from watchers who may not see presence', async () => {
    const { app, bob, alice, eve } = await cast();
    await bob.ok('mutation { updateMyPresenceVisibility(visibility: FRIENDS_ONLY) }');
    const aliceLive = await goLive(server, app, 'alice');
    const eveLive = await goLive(server, app, 'eve');
    const onAlice = await openStatus(aliceLive, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
    const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
    await bob.ok(SET, { t: 'secret', e: '🤫' });
    await waitUntil(onAlice, () => statuses(onAlice).length === 4, 8000, 'alice gets it');
    await expectNothingMore(server, [onEve]);
    expect(statuses(onEve)).toHaveLength(1);
    const q = async (c: TestApp['backend']) => (await c.ok<{ subscribedUserStatus: Status[] }>(QUERY_STATUS, { t: 'ONLINE_STATUS', ids: ['bob'] })).subscribedUserStatus[0]!;
    expect((await q(eve)).customStatus).toBeNull();
    expect((await q(alice)).customStatus).toMatchObject({ text: 'secret' });
    // INVISIBLE: the friend loses it too, by one change; then a clear reaches no one
    await bob.ok('mutation { updateMyPresenceVisibility(visibility: INVISIBLE) }');
    await waitUntil(onAlice, () => statuses(onAlice).length === 6, 8000, 'alice loses sight');
    expect(statuses(onAlice).slice(4).map((s) => s.customStatus)).toEqual([null, null]);
    await bob.ok(CLEAR);
    await bob.ok(SET, { t: 'still secret' });
    await expectNothingMore(server, [onAlice, onEve]);
    expect((await q(alice)).customStatus).toBeNull();
    // his own devices see it
    expect(await mine(bob)).toMatchObject({ text: 'still secret' });
    await Promise.all([aliceLive.dispose(), eveLive.dispose()]);
  });
});

describe('custom status expiry', () => {
  it('is cleared by the periodic sweep once expiresAt passed (by the clock), and the watchers get the change', async () => {
    const { app, bob } = await cast();
    const set = (await bob.ok(SET, { t: 'brb', e: '☕', x: 60 })).updateMyCustomStatus;
    expect(set.expiresAt).toBe(new Date(server.clock.now().getTime() + 60_000).toISOString());
    const aliceLive = await goLive(server, app, 'alice');
    const onAlice = await openStatus(aliceLive, ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS']);
    expect(statuses(onAlice).map((s) => s.customStatus?.text)).toEqual(['brb', 'brb']);
    // not yet due: a sweep clears nothing
    server.clock.advance(59_000);
    expect(await server.app.realtime.presence.expireCustomStatuses()).toBe(0);
    expect(await mine(bob)).toMatchObject({ text: 'brb' });
    // due: no call from the test, the sweep every few seconds finds it
    server.clock.advance(1_000);
    await waitUntil(onAlice, () => statuses(onAlice).length === 4, 12_000, 'the expiry pushed');
    expect(statuses(onAlice).slice(2).map((s) => [s.subscribeType, s.customStatus])).toEqual([
      ['ONLINE_STATUS', null],
      ['FRIEND_ONLINE_STATUS', null],
    ]);
    expect(await mine(bob)).toBeNull();
    await expectNothingMore(server, [onAlice]);
    await aliceLive.dispose();
  });

  it('is cleared once when several sweeps run at once (a conditional update wins), and reads as none once past its expiry even before a sweep', async () => {
    const { app, bob, eve } = await cast();
    await bob.ok(SET, { t: 'brb', x: 60 });
    const eveLive = await goLive(server, app, 'eve');
    const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
    server.clock.advance(60_000);
    // past its expiry: nobody sees it any more, even if no sweep ran yet
    expect(await mine(bob)).toBeNull();
    const q = (await eve.ok<{ subscribedUserStatus: Status[] }>(QUERY_STATUS, { t: 'ONLINE_STATUS', ids: ['bob'] })).subscribedUserStatus[0]!;
    expect(q.customStatus).toBeNull();
    const presence = server.app.realtime.presence;
    const cleared = await Promise.all([presence.expireCustomStatuses(), presence.expireCustomStatuses(), presence.expireCustomStatuses()]);
    // (the periodic sweep may have taken it first: then none of these did)
    expect(cleared.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
    await waitUntil(onEve, () => statuses(onEve).length === 2, 12_000, 'one expiry change');
    await expectNothingMore(server, [onEve]);
    expect(statuses(onEve)).toHaveLength(2);
    // a status set again after the sweep is not cleared by it
    await bob.ok(SET, { t: 'new', x: 3600 });
    expect(await presence.expireCustomStatuses()).toBe(0);
    expect(await mine(bob)).toMatchObject({ text: 'new' });
    await eveLive.dispose();
  });

  it.runIf(process.env.DATABASE_URL)('with several instances sweeping at once, one clears it and the watcher gets one change; an instance that did not set it finds it in the database', async () => {
    const { app, bob } = await cast();
    await bob.ok(SET, { t: 'brb', x: 60 });
    const eveLive = await goLive(server, app, 'eve');
    const onEve = await openStatus(eveLive, ['ONLINE_STATUS']);
    // another instance, started after the status was set (as after a restart): nothing in its memory
    const other = await startTestServer();
    try {
      server.clock.advance(61_000);
      other.clock.set(server.clock.now());
      await Promise.all([
        server.app.realtime.presence.expireCustomStatuses(),
        other.app.realtime.presence.expireCustomStatuses(),
        other.app.realtime.presence.expireCustomStatuses(),
      ]);
      expect(await mine(bob)).toBeNull();
      await waitUntil(onEve, () => statuses(onEve).length === 2, 12_000, 'the expiry pushed');
      await other.app.realtime.drain();
      await expectNothingMore(server, [onEve]);
      expect(statuses(onEve).map((s) => s.customStatus?.text ?? null)).toEqual(['brb', null]);
    } finally {
      await other.stop();
      await eveLive.dispose();
    }
  });
});

describe('client SDK (RongIMLib style)', () => {
  it('gets and updates presence visibility and custom status; status events carry customStatus', async () => {
    const app = await server.newApp();
    const alice = await sdkClient(server, app, 'alice');
    const bob = await sdkClient(server, app, 'bob', { platform: Platform.IOS });
    await makeFriends(app, 'alice', 'bob');
    expect(await bob.client.getMyPresenceVisibility()).toEqual({ code: 0, data: PresenceVisibility.NOT_SET });
    expect(await bob.client.getMyCustomStatus()).toEqual({ code: 0, data: null });
    await alice.client.connect();
    await alice.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4);
    const since = alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE).length;
    const set = await bob.client.updateMyCustomStatus({ text: 'focus', emoji: '🎧', expiresInSeconds: 3600 });
    const expiresAt = server.clock.now().getTime() + 3_600_000;
    expect(set).toEqual({ code: 0, data: { text: 'focus', emoji: '🎧', expiresAt } });
    expect(await bob.client.getMyCustomStatus()).toEqual({ code: 0, data: { text: 'focus', emoji: '🎧', expiresAt } });
    const pushed = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.subscribeType === SubscribeType.FRIEND_ONLINE_STATUS && b[0]!.customStatus?.text === 'focus', since);
    expect(pushed[0]).toMatchObject({ userId: 'bob', details: [], customStatus: { text: 'focus', emoji: '🎧', expiresAt } });
    // invisible: alice sees bob as never connected, without his status
    expect(await bob.client.updateMyPresenceVisibility(PresenceVisibility.INVISIBLE)).toEqual({ code: 0, data: PresenceVisibility.INVISIBLE });
    expect(await bob.client.getMyPresenceVisibility()).toEqual({ code: 0, data: PresenceVisibility.INVISIBLE });
    await bob.client.connect();
    const hidden = await alice.waitForMatch(Events.SUBSCRIBED_USER_STATUS_CHANGE, (b) => b[0]!.subscribeType === SubscribeType.FRIEND_ONLINE_STATUS && b[0]!.customStatus === undefined, since);
    expect(hidden[0]!.details).toEqual([]);
    // refusals are BAD_USER_INPUT and reject, as every SDK failure
    await expect(bob.client.updateMyCustomStatus({ text: ' ' })).rejects.toMatchObject({ name: 'ProfileClientError' });
    await expect(bob.client.updateMyPresenceVisibility(9 as never)).rejects.toBeInstanceOf(Error);
    expect(await bob.client.clearMyCustomStatus()).toEqual({ code: 0, data: true });
    expect(await bob.client.getMyCustomStatus()).toEqual({ code: 0, data: null });
    await Promise.all([alice.client.disconnect(), bob.client.disconnect()]);
  });
});
