import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { PROFILES_PER_EVENT } from '../src/apps/service.ts';
import type { DomainEvent } from '../src/events/bus.ts';
import { ALL_FIELDS, makeFriends, setProfile } from './helpers/profiles.ts';
import { goLive, subscribe, waitUntil } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import type { LiveClient, LiveSubscription } from './helpers/ws.ts';

/**
 * removeExtProfileKey on an app with many profiles holding the key: their receivers learn of each
 * profile's change as for any backend write (SPEC §6), live and on resume, while the event log and
 * the bus carry one event per PROFILES_PER_EVENT profiles rather than one per profile.
 */

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

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
const label = (e: Envelope) =>
  e.event.__typename === 'UserStatusChange' ? `${e.event.subscribeType}:${e.event.userId}` : e.event.__typename === 'OwnUserProfileChange' ? `own:${e.event.profile.userId}` : `caughtUp:${e.event.resumed}`;

async function openEvents(live: LiveClient, after?: string): Promise<LiveSubscription<any>> {
  const sub = live.subscribe(USER_EVENTS, after === undefined ? {} : { after });
  await waitUntil(sub, () => envs(sub).some((e) => e.event.__typename === 'UserEventsCaughtUp'), 8000, 'UserEventsCaughtUp');
  return sub;
}

async function logged(appKey: string): Promise<number> {
  const { rows } = await sql<{ n: string }>`select count(*)::text as n from events where app_key = ${appKey}`.execute(server.app.services.db);
  return Number(rows[0]!.n);
}

describe('removeExtProfileKey on many profiles', () => {
  const COUNT = 2 * PROFILES_PER_EVENT + 50;
  let app: TestApp;
  let versions: Map<string, number>;
  beforeAll(async () => {
    app = await server.newApp();
    // profiles visible to everyone: each receiver's view shows the ext values
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { defaultProfileVisibility } }');
    await app.backend.ok('mutation { defineExtProfileKey(key: "color") { key } }');
    await app.backend.ok('mutation { defineExtProfileKey(key: "size") { key } }');
    const ids = Array.from({ length: COUNT }, (_, i) => `p${i}`);
    versions = new Map();
    for (let i = 0; i < ids.length; i += 50) {
      const written = await Promise.all(ids.slice(i, i + 50).map((u) => setProfile(app, u, { userExtProfile: [{ key: 'color', value: 'red' }, { key: 'size', value: 'L' }] })));
      for (const p of written) versions.set(p.userId, p.version);
    }
    await setProfile(app, 'watcher', { name: 'watcher' });
    await makeFriends(app, 'watcher', 'p10');
    await makeFriends(app, 'watcher', `p${COUNT - 1}`);
  }, 120_000);

  it('records one event per chunk of profiles, tells each receiver of each profile it watches, live and on resume', async () => {
    const watcher = await goLive(server, app, 'watcher', { deviceId: 'w1' });
    expect(await subscribe(await app.user('watcher'), 'USER_PROFILE', ['p20', `p${PROFILES_PER_EVENT + 50}`, 'p10'])).toEqual([]);
    const owner = await goLive(server, app, 'p20');
    const watcherLive = await openEvents(watcher);
    const ownerLive = await openEvents(owner);
    // a second device of the watcher, offline during the change: it resumes afterwards
    const away = await goLive(server, app, 'watcher', { deviceId: 'w2' });
    const awayStream = await openEvents(away);
    const resumeFrom = envs(awayStream).at(-1)!.cursor;
    await away.dispose();
    const liveFrom = envs(watcherLive).length;
    const ownFrom = envs(ownerLive).length;

    const rowsBefore = await logged(app.appKey);
    const published: DomainEvent[] = [];
    const off = server.app.services.bus.subscribe((e) => published.push(e));
    try {
      expect((await app.backend.ok('mutation { removeExtProfileKey(key: "color") }')).removeExtProfileKey).toBe(true);
    } finally {
      off();
    }
    // bounded: one event per PROFILES_PER_EVENT changed profiles, and the app's own change
    const chunks = Math.ceil(COUNT / PROFILES_PER_EVENT);
    expect(await logged(app.appKey)).toBe(rowsBefore + chunks + 1);
    expect(published.map((e) => e.type).sort()).toEqual([...Array(chunks).fill('profilesChanged'), 'appChanged'].sort());

    const expected = ['FRIEND_USER_PROFILE:p10', `FRIEND_USER_PROFILE:p${COUNT - 1}`, 'USER_PROFILE:p10', 'USER_PROFILE:p20', `USER_PROFILE:p${PROFILES_PER_EVENT + 50}`];
    await waitUntil(watcherLive, () => envs(watcherLive).length >= liveFrom + expected.length, 8000, 'the watcher told of every watched profile');
    await waitUntil(ownerLive, () => envs(ownerLive).length > ownFrom, 8000, 'the owner told of its own profile');
    await new Promise((r) => setTimeout(r, 200)); // nothing more arrives
    const live = envs(watcherLive).slice(liveFrom);
    expect(live.map(label).sort()).toEqual(expected.sort());
    // each carries the profile as committed: the key gone, the other kept, the version one up
    for (const e of live) {
      const profile = e.event.userProfile;
      expect(profile.userExtProfile).toEqual([{ key: 'size', value: 'L' }]);
      expect(profile.version).toBe(versions.get(profile.userId)! + 1);
    }
    const own = envs(ownerLive).slice(ownFrom);
    expect(own.map(label)).toEqual(['own:p20']);
    expect(own[0]!.event.profile).toMatchObject({ userExtProfile: [{ key: 'size', value: 'L' }], version: versions.get('p20')! + 1 });

    // the device that was away resumes and learns the same
    const back = await goLive(server, app, 'watcher', { deviceId: 'w3' });
    const resumed = await openEvents(back, resumeFrom);
    expect(envs(resumed).map(label).sort()).toEqual([...expected, 'caughtUp:true'].sort());
    for (const e of envs(resumed).filter((x) => x.event.__typename === 'UserStatusChange')) expect(e.event.userProfile.userExtProfile).toEqual([{ key: 'size', value: 'L' }]);
    // a resume from any live cursor misses none of what came after it (several come from one log row)
    for (let i = 0; i < live.length; i++) {
      const again = await openEvents(back, live[i]!.cursor);
      const got = new Set(envs(again).map(label));
      for (const later of live.slice(i + 1)) expect(got.has(label(later)), `resuming from #${i} (${label(live[i]!)}) brings ${label(later)}`).toBe(true);
      again.stop();
    }
    for (const client of [watcher, owner, back]) await client.dispose();
  }, 60_000);
});
