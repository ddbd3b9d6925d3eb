/**
 * SPEC §10 per-field visibility in what is pushed, per receiver: a USER_PROFILE subscriber who is a
 * stranger, one who is a friend (and its FRIEND_USER_PROFILE), the owner's other device
 * (ownUserProfileChanged); the connect-time sync; userEvents, fresh and resumed. Every field × every
 * override is pushed for each profile setting (four changes rotate the overrides over the fields),
 * each cut asserted against helpers/field-visibility.ts's table and against the same viewer's query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Audiences } from '../src/subscriptions/audience.ts';
import {
  EXT,
  OVERRIDES,
  TARGETS,
  entry,
  expectedCut,
  expectCutOf,
  fullProfile,
  setOverrides,
  type Decided,
  type Setting,
  type Target,
  type ViewerKind,
} from './helpers/field-visibility.ts';
import { ALL_FIELDS, USER_PROFILES, defineKey, makeFriends, setAppDefaultVisibility, setMyVisibility, setProfile, type ProfileJson } from './helpers/profiles.ts';
import { OWN_PROFILE_SUBSCRIPTION, expectNothingMore, goLive, openStream, statusEvents, statusStream, subscribe, waitUntil, type StatusChangeJson } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import type { LiveClient, LiveSubscription } from './helpers/ws.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const APP_DEFAULT: Decided = 'FRIENDS_ONLY';
const PROFILE_SETTINGS: Setting[] = ['NOT_SET', 'INVISIBLE', 'FRIENDS_ONLY', 'EVERYONE'];

const USER_EVENTS = `subscription($after: String) { userEvents(after: $after) { cursor event {
  __typename
  ... on UserStatusChange { userId subscribeType userProfile { ${ALL_FIELDS} } }
  ... on OwnUserProfileChange { profile { ${ALL_FIELDS} } }
  ... on UserEventsCaughtUp { resumed }
} } }`;

interface Envelope {
  cursor: string;
  event: any;
}
const envs = (sub: LiveSubscription<any>): Envelope[] => sub.events.map((e) => e.userEvents as Envelope);
const changes = (sub: LiveSubscription<any>) => statusEvents(sub).filter((e): e is StatusChangeJson => e.__typename === 'UserStatusChange');

async function openEvents(live: LiveClient, after?: string): Promise<LiveSubscription<any>> {
  const sub = live.subscribe(USER_EVENTS, after === undefined ? {} : { after });
  await waitUntil(sub, () => envs(sub).some((e) => e.event.__typename === 'UserEventsCaughtUp'), 8000, 'UserEventsCaughtUp');
  return sub;
}

/** The overrides of change k: field i gets OVERRIDES[(i + k) % 4], so four changes put every override on every field. */
const rotation = (k: number): Partial<Record<Target, Setting>> => Object.fromEntries(TARGETS.map((t, i) => [t, OVERRIDES[(i + k) % OVERRIDES.length]!]));

describe('per-field visibility of pushed profiles, per receiver', () => {
  for (const setting of PROFILE_SETTINGS) {
    const effective: Decided = setting === 'NOT_SET' ? APP_DEFAULT : setting;
    it(`profile ${setting}: every field × override, in pushes, the sync and userEvents (fresh and resumed)`, async () => {
      const app: TestApp = await server.newApp(`realtime field visibility ${setting}`);
      await setAppDefaultVisibility(app, APP_DEFAULT);
      await defineKey(app, EXT, true, true);
      await defineKey(app, 'secret', false, false);
      await setProfile(app, 'bob', fullProfile(1));
      const bob = await app.user('bob');
      if (setting !== 'NOT_SET') await setMyVisibility(bob, setting);
      const alice = await app.user('alice');
      const eve = await app.user('eve');
      await app.user('mallory');
      await makeFriends(app, 'alice', 'bob');
      expect(await subscribe(alice, 'USER_PROFILE', ['bob'])).toEqual([]);
      expect(await subscribe(eve, 'USER_PROFILE', ['bob'])).toEqual([]);

      // devices away during the changes: each takes a cursor now and resumes afterwards
      const cursors: Record<'alice' | 'eve' | 'bob', string> = {} as never;
      for (const who of ['alice', 'eve', 'bob'] as const) {
        const away = await goLive(server, app, who, { deviceId: `${who}-away` });
        const stream = await openEvents(away);
        cursors[who] = envs(stream).at(-1)!.cursor;
        await away.dispose();
      }

      const bobPhone = await goLive(server, app, 'bob', { deviceId: 'phone' });
      const onPhone = openStream(bobPhone, OWN_PROFILE_SUBSCRIPTION);
      const aliceLive = await goLive(server, app, 'alice');
      const eveLive = await goLive(server, app, 'eve');
      const malloryLive = await goLive(server, app, 'mallory');
      const onAlice = await statusStream(aliceLive, ['USER_PROFILE', 'FRIEND_USER_PROFILE']);
      const onEve = await statusStream(eveLive, ['USER_PROFILE']);
      const onMallory = await statusStream(malloryLive, null);
      const onMalloryEvents = await openEvents(malloryLive);
      const malloryFrom = envs(onMalloryEvents).length;

      let overrides: Partial<Record<Target, Setting>> = {};
      // the sync before any override: the profile's visibility alone
      for (const e of changes(onAlice)) expectCutOf(e.userProfile, expectedCut(1, effective, overrides, 'friend'), `sync before, alice ${e.subscribeType}`);
      expectCutOf(changes(onEve)[0]!.userProfile, expectedCut(1, effective, overrides, 'stranger'), 'sync before, eve');

      for (let k = 0; k < 4; k++) {
        overrides = rotation(k);
        const aliceFrom = changes(onAlice).length;
        const eveFrom = changes(onEve).length;
        const phoneFrom = onPhone.events.length;
        await setOverrides(bob, TARGETS.map((t) => entry(t, overrides[t]!)));
        await waitUntil(onAlice, () => changes(onAlice).length >= aliceFrom + 2, 8000, `alice's change ${k}`);
        await waitUntil(onEve, () => changes(onEve).length >= eveFrom + 1, 8000, `eve's change ${k}`);
        await waitUntil(onPhone, () => onPhone.events.length >= phoneFrom + 1, 8000, `bob's phone change ${k}`);
        const cell = (viewer: ViewerKind, via: string) => `profile ${setting}, change ${k} (${TARGETS.map((t) => `${t} ${overrides[t]}`).join(', ')}), ${viewer} via ${via}`;
        const [toAlice, toAliceAsFriend] = changes(onAlice).slice(aliceFrom);
        expect(toAlice!.subscribeType).toBe('USER_PROFILE');
        expect(toAliceAsFriend!.subscribeType).toBe('FRIEND_USER_PROFILE');
        expectCutOf(toAlice!.userProfile, expectedCut(1, effective, overrides, 'friend'), cell('friend', 'USER_PROFILE'));
        expectCutOf(toAliceAsFriend!.userProfile, expectedCut(1, effective, overrides, 'friend'), cell('friend', 'FRIEND_USER_PROFILE'));
        const toEve = changes(onEve)[eveFrom]!;
        expect(toEve.subscribeType).toBe('USER_PROFILE');
        expectCutOf(toEve.userProfile, expectedCut(1, effective, overrides, 'stranger'), cell('stranger', 'USER_PROFILE'));
        const own = onPhone.events[phoneFrom].ownUserProfileChanged as ProfileJson;
        expectCutOf(own, expectedCut(1, effective, overrides, 'self'), cell('self', 'ownUserProfileChanged'));
        // the very cut the same viewer's query gives
        expect(toAlice!.userProfile).toEqual((await alice.ok(USER_PROFILES, { ids: ['bob'] })).userProfiles[0]);
        expect(toEve.userProfile).toEqual((await eve.ok(USER_PROFILES, { ids: ['bob'] })).userProfiles[0]);
        expect(own).toEqual((await bob.ok(USER_PROFILES, { ids: ['bob'] })).userProfiles[0]);
      }
      // one message per receiver and change, none to anyone else
      await expectNothingMore(server, [onAlice, onEve, onPhone, onMallory]);
      expect(changes(onMallory)).toEqual([]);
      expect(envs(onMalloryEvents).slice(malloryFrom)).toEqual([]);

      const final = (viewer: ViewerKind) => expectedCut(1, effective, overrides, viewer);
      // the connect-time sync of a new connection
      const aliceAgain = await goLive(server, app, 'alice', { deviceId: 'alice-2' });
      const eveAgain = await goLive(server, app, 'eve', { deviceId: 'eve-2' });
      const syncAlice = changes(await statusStream(aliceAgain, ['USER_PROFILE', 'FRIEND_USER_PROFILE']));
      expect(syncAlice.map((e) => e.subscribeType)).toEqual(['USER_PROFILE', 'FRIEND_USER_PROFILE']);
      for (const e of syncAlice) expectCutOf(e.userProfile, final('friend'), `profile ${setting}, sync, alice ${e.subscribeType}`);
      const syncEve = changes(await statusStream(eveAgain, ['USER_PROFILE']));
      expect(syncEve).toHaveLength(1);
      expectCutOf(syncEve[0]!.userProfile, final('stranger'), `profile ${setting}, sync, eve`);

      // userEvents: the fresh snapshot and the resume of the devices that were away
      const statusOf = (stream: LiveSubscription<any>, type: string) => envs(stream).filter((e) => e.event.__typename === 'UserStatusChange' && e.event.subscribeType === type);
      const freshAlice = await openEvents(aliceAgain);
      for (const type of ['USER_PROFILE', 'FRIEND_USER_PROFILE']) {
        const items = statusOf(freshAlice, type);
        expect(items, `fresh alice ${type}`).toHaveLength(1);
        expectCutOf(items[0]!.event.userProfile, final('friend'), `profile ${setting}, userEvents snapshot, alice ${type}`);
      }
      const back = {
        alice: await goLive(server, app, 'alice', { deviceId: 'alice-away' }),
        eve: await goLive(server, app, 'eve', { deviceId: 'eve-away' }),
        bob: await goLive(server, app, 'bob', { deviceId: 'bob-away' }),
      };
      const resumedAlice = await openEvents(back.alice, cursors.alice);
      for (const type of ['USER_PROFILE', 'FRIEND_USER_PROFILE']) {
        const items = statusOf(resumedAlice, type);
        expect(items.length, `resumed alice ${type}`).toBeGreaterThanOrEqual(1);
        // newest only per (type, user): the state after the last change
        expectCutOf(items.at(-1)!.event.userProfile, final('friend'), `profile ${setting}, resume, alice ${type}`);
      }
      const resumedEve = await openEvents(back.eve, cursors.eve);
      expect(statusOf(resumedEve, 'FRIEND_USER_PROFILE')).toEqual([]);
      expectCutOf(statusOf(resumedEve, 'USER_PROFILE').at(-1)!.event.userProfile, final('stranger'), `profile ${setting}, resume, eve`);
      const resumedBob = await openEvents(back.bob, cursors.bob);
      const ownItems = envs(resumedBob).filter((e) => e.event.__typename === 'OwnUserProfileChange');
      expect(ownItems.length).toBeGreaterThanOrEqual(1);
      expectCutOf(ownItems.at(-1)!.event.profile, final('self'), `profile ${setting}, resume, bob's own profile`);

      await Promise.all([bobPhone, aliceLive, eveLive, malloryLive, aliceAgain, eveAgain, ...Object.values(back)].map((c) => c.dispose()));
    }, 60_000);
  }
});

describe('fan-out with overrides: still one cut and one shared key per audience', () => {
  it('many receivers of one change share three cuts (owner, friend, other) and three shared keys, whatever the overrides', async () => {
    const app = await server.newApp('realtime field visibility fan-out');
    await setAppDefaultVisibility(app, 'EVERYONE');
    await defineKey(app, EXT, true, true);
    await defineKey(app, 'secret', false, false);
    await setProfile(app, 'star', fullProfile(2));
    const star = await app.user('star');
    const subscribers = Array.from({ length: 30 }, (_, i) => `fan${i}`);
    for (const id of subscribers) {
      expect(await subscribe(await app.user(id), 'USER_PROFILE', ['star'])).toEqual([]);
      if (Number(id.slice(3)) % 3 === 0) await makeFriends(app, 'star', id);
    }
    const services = server.app.services;
    const audiences = new Audiences(services.db, services.clock, services.appConfig, 'test');
    const messagesOf = async () => {
      const row = await services.db.selectFrom('users').selectAll().where('appKey', '=', app.appKey).where('userId', '=', 'star').executeTakeFirstOrThrow();
      const logged = { position: { x: 1n, p: 1n }, appKey: app.appKey, userId: 'star', direct: false, occurredAt: new Date(), event: { type: 'profileChanged' as const, appKey: app.appKey, userId: 'star', profile: row, origin: { by: 'backend' as const }, at: new Date().toISOString() } };
      const out = await audiences.messagesFor(logged, () => true);
      const statuses = out.flatMap((a) => (a.message.kind === 'status' ? [{ userId: a.userId, message: a.message }] : []));
      return { statuses, own: out.filter((a) => a.message.kind === 'ownProfile') };
    };

    for (const [name, settings, friendsDiffer] of [
      ['no overrides', [], false],
      ['overrides without FRIENDS_ONLY', [{ field: 'EMAIL', visibility: 'INVISIBLE' as const }, { extKey: EXT, visibility: 'EVERYONE' as const }], false],
      ['overrides with FRIENDS_ONLY', [{ field: 'EMAIL', visibility: 'FRIENDS_ONLY' as const }, { field: 'BIRTHDAY', visibility: 'INVISIBLE' as const }, { extKey: EXT, visibility: 'EVERYONE' as const }], true],
    ] as const) {
      await setOverrides(star, [...settings, ...(['EMAIL', 'BIRTHDAY'] as const).filter((f) => !settings.some((s) => 'field' in s && s.field === f)).map((field) => ({ field, visibility: 'NOT_SET' as const }))]);
      const { statuses, own } = await messagesOf();
      expect(own, name).toHaveLength(1);
      // 30 USER_PROFILE messages and 10 FRIEND_USER_PROFILE ones
      expect(statuses, name).toHaveLength(40);
      expect(new Set(statuses.map((s) => s.message.shared)).size, name).toBe(3);
      const views = new Set(statuses.map((s) => s.message.profile));
      expect(views.size, name).toBe(friendsDiffer ? 2 : 1);
      for (const s of statuses) {
        const friend = Number(s.userId.slice(3)) % 3 === 0;
        expect(s.message.profile!.email, `${name}: ${s.userId}`).toBe(settings.some((x) => 'field' in x && x.field === 'EMAIL' && x.visibility === 'INVISIBLE') || (friendsDiffer && !friend) ? null : fullProfile(2).email);
      }
    }
  });
});
