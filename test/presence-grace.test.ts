/**
 * SPEC §5: a platform's offline is announced PRESENCE_OFFLINE_GRACE_MS after its last connection
 * closed; a device that reconnects within the grace produces no offline/online pair for its
 * watchers, on this instance or another; one that really left is announced offline after the
 * grace, by the instance it left or, if that one died meanwhile, by any other (its heartbeat tick).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { goLive, statusEvents, statusStream, subscribe, waitUntil, type StatusChangeJson } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';

const GRACE_MS = 1500;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ config: { presenceOfflineGraceMs: GRACE_MS } });
});
afterAll(() => server?.stop());

const changesOf = (sub: Parameters<typeof statusEvents>[0], userId: string) =>
  statusEvents(sub).filter((e): e is StatusChangeJson => e.__typename === 'UserStatusChange' && e.userId === userId);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function watched(userId: string) {
  const app = await server.newApp();
  const watcher = await app.user('watcher');
  await subscribe(watcher, 'ONLINE_STATUS', [userId]);
  await app.user(userId);
  const live = await goLive(server, app, 'watcher');
  const sub = await statusStream(live, ['ONLINE_STATUS']);
  return { app, live, sub };
}

describe('offline grace (SPEC §5)', () => {
  it('a reconnect within the grace produces no offline/online pair; the status stays online throughout', async () => {
    const { app, live, sub } = await watched('phone');
    const first = await goLive(server, app, 'phone', { platform: 'IOS' });
    await waitUntil(sub, () => changesOf(sub, 'phone').length === 2, 8000, 'online'); // the sync item, then online
    await first.dispose();
    await sleep(GRACE_MS / 3); // well inside the grace
    const second = await goLive(server, app, 'phone', { platform: 'IOS' });
    await sleep(GRACE_MS + 500); // past the first connection's grace
    await server.app.realtime.drain();
    expect(changesOf(sub, 'phone').map((e) => e.details.map((d) => d.online))).toEqual([[], [true]]);
    const status = await (await app.user('watcher')).ok('query { subscribedUserStatus(type: ONLINE_STATUS, userIds: ["phone"]) { details { online } } }');
    expect(status.subscribedUserStatus[0].details).toEqual([{ online: true }]);
    await Promise.all([second.dispose(), live.dispose()]);
  });

  it('a device that left is announced offline after the grace, not before, with the time it left', async () => {
    const { app, live, sub } = await watched('gone');
    const device = await goLive(server, app, 'gone', { platform: 'ANDROID' });
    await waitUntil(sub, () => changesOf(sub, 'gone').length === 2, 8000, 'online');
    const leftAt = server.clock.now().toISOString();
    await device.dispose();
    await sleep(GRACE_MS / 2);
    await server.app.realtime.drain();
    expect(changesOf(sub, 'gone')).toHaveLength(2); // still within the grace: nothing yet
    await waitUntil(sub, () => changesOf(sub, 'gone').length === 3, GRACE_MS + 8000, 'offline after the grace');
    expect(changesOf(sub, 'gone')[2]!.details).toEqual([{ platform: 'ANDROID', online: false, changeTime: leftAt }]);
    await live.dispose();
  });

  it.skipIf(!process.env.DATABASE_URL)('a reconnect on another instance within the grace cancels the offline too (needs DATABASE_URL)', async () => {
    const other = await startTestServer({ config: { presenceOfflineGraceMs: GRACE_MS } });
    try {
      const { app, live, sub } = await watched('roamer');
      const first = await goLive(server, app, 'roamer', { platform: 'WEB' });
      await waitUntil(sub, () => changesOf(sub, 'roamer').length === 2, 8000, 'online');
      await first.dispose();
      const second = connectLive(other.url, { authToken: (await app.user('roamer')).token, platform: 'WEB' });
      await second.connected;
      await sleep(GRACE_MS + 500);
      await Promise.all([server.app.realtime.drain(), other.app.realtime.drain()]);
      expect(changesOf(sub, 'roamer').map((e) => e.details.map((d) => d.online))).toEqual([[], [true]]);
      await Promise.all([second.dispose(), live.dispose()]);
    } finally {
      await other.stop();
    }
  });

  it.skipIf(!process.env.DATABASE_URL)('a device on an instance that stops is announced offline by another instance after the grace (needs DATABASE_URL)', async () => {
    const leaving = await startTestServer({ config: { presenceOfflineGraceMs: GRACE_MS } });
    const { app, live, sub } = await watched('stranded');
    const device = connectLive(leaving.url, { authToken: (await app.user('stranded')).token, platform: 'IOS' });
    await device.connected;
    await waitUntil(sub, () => changesOf(sub, 'stranded').length === 2, 8000, 'online');
    await leaving.stop(); // its sockets close; the offline stays pending, its timers die with it
    await sleep(GRACE_MS + 200);
    await server.app.realtime.presence.tick(); // any instance's heartbeat tick
    await waitUntil(sub, () => changesOf(sub, 'stranded').length === 3, 8000, 'offline from the other instance');
    expect(changesOf(sub, 'stranded')[2]!.details).toMatchObject([{ platform: 'IOS', online: false }]);
    await Promise.all([device.dispose(), live.dispose()]);
  });

  it('a due offline with no connection left is announced by the heartbeat tick, not only by the timer of the instance that set it', async () => {
    const { app, live, sub } = await watched('orphan');
    const device = await goLive(server, app, 'orphan', { platform: 'PC' });
    await waitUntil(sub, () => changesOf(sub, 'orphan').length === 2, 8000, 'online');
    // the state a dead instance leaves behind: no connection row, an offline pending and due, no timer
    const db = server.app.services.db;
    await sql`delete from presence_connections where app_key = ${app.appKey} and user_id = 'orphan'`.execute(db);
    await sql`update presence_platforms set offline_due_at = now() - interval '1 second', left_at = now() where app_key = ${app.appKey} and user_id = 'orphan'`.execute(db);
    await server.app.realtime.presence.tick();
    await waitUntil(sub, () => changesOf(sub, 'orphan').length === 3, 8000, 'offline from the tick');
    expect(changesOf(sub, 'orphan')[2]!.details).toMatchObject([{ platform: 'PC', online: false }]);
    await Promise.all([device.dispose(), live.dispose()]);
  });
});
