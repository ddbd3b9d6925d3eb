import { afterAll, beforeAll, expect, it } from 'vitest';
import { updateMy } from './helpers/profiles.ts';
import { seedSubscriptions, seedUsers, seededToken, statusEvents, statusStream, waitUntil, type StatusChangeJson } from './helpers/realtime-fixtures.ts';
import { startQuietTestServer, type TestServer } from './helpers/server.ts';
import { connectLive, type LiveClient, type LiveSubscription } from './helpers/ws.ts';

let server: TestServer;
beforeAll(async () => {
  // nothing in the background: the statements counted are the request's or the change's own
  server = await startQuietTestServer();
});
afterAll(() => server?.stop());

/**
 * The relay's reads of the event log are per batch of changes, not per receiver, and how many it
 * takes depends on timing (a read can find the boundary held back by a transaction elsewhere and
 * look again): they are left out of the count; the change's own writes and lookups stay in.
 */
const countable = (statements: string[]) => statements.filter((s) => !/pg_snapshot_xmin|from "events"/.test(s));

interface Cost {
  profile: string[];
  presence: string[];
  close: () => Promise<unknown>;
}

const changes = (sub: LiveSubscription<any>) => statusEvents(sub).filter((e): e is StatusChangeJson => e.__typename === 'UserStatusChange');

async function openConnections(app: { appKey: string }, userIds: string[]): Promise<{ live: LiveClient; sub: LiveSubscription<any> }[]> {
  const out: { live: LiveClient; sub: LiveSubscription<any> }[] = [];
  // a few at a time: the machine is shared
  for (let i = 0; i < userIds.length; i += 10) {
    out.push(
      ...(await Promise.all(
        userIds.slice(i, i + 10).map(async (userId) => {
          const live = connectLive(server.url, { authToken: await seededToken(server, app.appKey, userId), platform: 'WEB' });
          await live.connected;
          return { live, sub: await statusStream(live, ['USER_PROFILE', 'ONLINE_STATUS']) };
        }),
      )),
    );
  }
  return out;
}

/** Statements sent for one profile change and one presence change of a user with `subscribers` subscribers. */
async function measure(subscribers: number, liveCount: number): Promise<Cost> {
  const app = await server.newApp();
  await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
  const star = await app.user('star');
  const ids = Array.from({ length: subscribers }, (_, i) => `fan${String(i).padStart(4, '0')}`);
  await seedUsers(server, app.appKey, ids);
  await seedSubscriptions(server, app.appKey, ids, 'star', 'USER_PROFILE');
  await seedSubscriptions(server, app.appKey, ids, 'star', 'ONLINE_STATUS');
  const connections = await openConnections(app, ids.slice(0, liveCount));
  for (const { sub } of connections) expect(changes(sub).map((e) => `${e.subscribeType}:${e.userId}`)).toEqual(['USER_PROFILE:star', 'ONLINE_STATUS:star']);
  await server.app.realtime.drain();

  // one profile change
  server.statements.length = 0;
  const written = await updateMy(star, { name: `star of ${subscribers}` });
  await server.app.realtime.drain();
  for (const { sub } of connections) {
    await waitUntil(sub, () => changes(sub).length === 3);
    expect(changes(sub)[2]!.userProfile).toMatchObject({ userId: 'star', name: `star of ${subscribers}`, version: written.version });
  }
  const profile = countable(server.statements);

  // one presence change: star's first connection
  server.statements.length = 0;
  const starLive = connectLive(server.url, { authToken: star.token, platform: 'IOS' });
  await starLive.connected;
  await server.app.realtime.drain();
  for (const { sub } of connections) {
    await waitUntil(sub, () => changes(sub).length === 4);
    expect(changes(sub)[3]!.details).toEqual([expect.objectContaining({ platform: 'IOS', online: true })]);
  }
  const presence = countable(server.statements);

  // the sockets stay open until both measurements are done: closing them now would put
  // disconnections in flight during the next measurement
  return { profile, presence, close: () => Promise.all([starLive, ...connections.map((c) => c.live)].map((l) => l.dispose())) };
}

it('one profile change and one presence change cost the same number of SQL statements with 10 and with 500 subscribers', async () => {
  const small = await measure(10, 10);
  const large = await measure(500, 50);
  expect(large.profile.length, `10 subscribers:\n${small.profile.join('\n')}\n\n500 subscribers:\n${large.profile.join('\n')}`).toBe(small.profile.length);
  expect(large.presence.length, `10 subscribers:\n${small.presence.join('\n')}\n\n500 subscribers:\n${large.presence.join('\n')}`).toBe(small.presence.length);
  // the very same statements (their order may vary: independent reads run concurrently)
  expect([...large.profile].sort()).toEqual([...small.profile].sort());
  expect([...large.presence].sort()).toEqual([...small.presence].sort());
  // and a handful, not one per receiver
  expect(small.profile.length).toBeLessThan(20);
  expect(small.presence.length).toBeLessThan(20);
  await Promise.all([small.close(), large.close()]);
});

it('a change in an app with nobody connected to this instance costs its relay no lookup (every instance reads every event)', async () => {
  const app = await server.newApp();
  const star = await app.user('lonely');
  const fan = await app.user('fan');
  await fan.ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["lonely"], expiry: 3600) { failedUserIds } }');
  await server.app.realtime.drain();
  server.statements.length = 0;
  await updateMy(star, { name: 'nobody listens' });
  await server.app.realtime.drain();
  const lookups = server.statements.filter((s) => /from "(status_subscriptions|friendships|apps|ext_profile_keys)"/.test(s) && !/"users" inner join "apps"/.test(s));
  // the request itself reads the ext keys once (validation); the relay reads nothing for it
  expect(lookups.filter((s) => /status_subscriptions|friendships/.test(s)), lookups.join('\n')).toEqual([]);
  // while with the fan connected, the same change is looked up once
  const live = connectLive(server.url, { authToken: fan.token, platform: 'WEB' });
  await live.connected;
  await server.app.realtime.drain();
  server.statements.length = 0;
  await updateMy(star, { name: 'now someone does' });
  await server.app.realtime.drain();
  expect(server.statements.filter((s) => /from "status_subscriptions"/.test(s))).toHaveLength(1);
  await live.dispose();
});
