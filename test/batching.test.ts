/**
 * Connects, disconnects and due offlines are group-committed (src/db/batcher.ts): those that
 * arrive while a presence transaction is being written go together in the next one. What must
 * hold whatever the batching:
 * - an acknowledged socket's presence is durable: its connection row is committed before
 *   connection_ack, so any instance sees it online from then on;
 * - watchers get correct, ordered online/offline changes: one per platform switch (coalesced per
 *   user within a batch, versions always increasing), nothing for a second socket of a platform;
 * - one bad item in a batch fails alone; the others commit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { seedSubscriptions, seedUsers, seededToken, sleep, statusEvents, statusStream, storedConnections, waitUntil, type StatusChangeJson } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connectLive, type LiveClient } from './helpers/ws.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ config: { presenceHeartbeatMs: 3_600_000 } });
});
afterAll(() => server?.stop());

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
const inserts = (statements: string[]) => statements.filter((s) => /^insert into "presence_connections"/.test(s)).length;

describe('group-committed presence', () => {
  it('100 connects submitted at once take 2 transactions (the first alone, the rest together), and each resolves only once its row is committed', async () => {
    const app = await server.newApp();
    const users = ids('burst', 100);
    await seedUsers(server, app.appKey, users);
    const presence = server.app.realtime.presence;
    server.statements.length = 0;
    const resolvedWithRows: boolean[] = [];
    await Promise.all(
      users.map(async (userId, i) => {
        await presence.connect({ connectionId: `burst-${i}`, appKey: app.appKey, userId, platform: 'WEB', deviceId: null });
        // its row is visible to another connection of the pool as soon as connect resolved
        resolvedWithRows[i] = (await storedConnections(server, app.appKey, userId)) === 1;
      }),
    );
    expect(inserts(server.statements)).toBe(2);
    expect(resolvedWithRows.every(Boolean)).toBe(true);
    const online = await sql<{ n: number }>`select count(*)::int as n from presence_platforms where app_key = ${app.appKey} and online`.execute(server.app.services.db);
    expect(online.rows[0]!.n).toBe(100);

    server.statements.length = 0;
    await Promise.all(users.map((_, i) => presence.disconnect(`burst-${i}`)));
    expect(server.statements.filter((s) => /^delete from "presence_connections"/.test(s)).length).toBe(2);
    const after = await sql<{ n: number }>`select count(*)::int as n from presence_platforms where app_key = ${app.appKey} and online`.execute(server.app.services.db);
    expect(after.rows[0]!.n).toBe(0);
  });

  it('a connect that cannot be written (its user is gone) fails alone; the others of its batch commit', async () => {
    const app = await server.newApp();
    const users = ids('ok', 20);
    await seedUsers(server, app.appKey, users);
    const presence = server.app.realtime.presence;
    const outcomes = await Promise.allSettled([
      presence.connect({ connectionId: 'first-alone', appKey: app.appKey, userId: users[0]!, platform: 'IOS', deviceId: null }),
      ...users.slice(1).map((userId, i) => presence.connect({ connectionId: `ok-${i}`, appKey: app.appKey, userId, platform: 'IOS', deviceId: null })),
      presence.connect({ connectionId: 'ghost-1', appKey: app.appKey, userId: 'no-such-user', platform: 'IOS', deviceId: null }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([...users.map(() => 'fulfilled'), 'rejected']);
    for (const userId of users) expect(await storedConnections(server, app.appKey, userId)).toBe(1);
    expect(await storedConnections(server, app.appKey, 'no-such-user')).toBe(0);
    await Promise.all([presence.disconnect('first-alone'), ...users.slice(1).map((_, i) => presence.disconnect(`ok-${i}`))]);
  });

  it('a burst of real sockets: each acknowledged socket is already stored; watchers get exactly the right online and offline changes, in order', async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const single = ids('one', 30); // one socket each
    const doubled = ids('two', 10); // two sockets on the same platform
    const multi = ids('multi', 10); // one socket on each of two platforms
    const everyone = [...single, ...doubled, ...multi];
    await seedUsers(server, app.appKey, ['watcher', ...everyone]);
    for (const target of everyone) await seedSubscriptions(server, app.appKey, ['watcher'], target, 'ONLINE_STATUS');
    const watcherLive = connectLive(server.url, { authToken: await seededToken(server, app.appKey, 'watcher'), platform: 'PC' });
    await watcherLive.connected;
    const sub = await statusStream(watcherLive, ['ONLINE_STATUS']);

    const plan = [
      ...single.map((u) => ({ u, platform: 'WEB' })),
      ...doubled.flatMap((u) => [{ u, platform: 'ANDROID' }, { u, platform: 'ANDROID' }]),
      ...multi.flatMap((u) => [{ u, platform: 'IOS' }, { u, platform: 'WEB' }]),
    ];
    const tokens = new Map(await Promise.all(everyone.map(async (u) => [u, await seededToken(server, app.appKey, u)] as const)));
    const sockets: LiveClient[] = [];
    const storedAtAck = await Promise.all(
      plan.map(async ({ u, platform }) => {
        const live = connectLive(server.url, { authToken: tokens.get(u)!, platform });
        sockets.push(live);
        await live.connected;
        return storedConnections(server, app.appKey, u);
      }),
    );
    expect(storedAtAck.every((n) => n >= 1)).toBe(true);

    const changes = () => statusEvents(sub).filter((e): e is StatusChangeJson => e.__typename === 'UserStatusChange' && e.details.length > 0);
    const latest = () => {
      const byUser = new Map<string, StatusChangeJson>();
      for (const e of changes()) byUser.set(e.userId, e);
      return byUser;
    };
    const onlinePlatforms = (e: StatusChangeJson | undefined) => (e?.details ?? []).filter((d) => d.online).map((d) => d.platform).sort();
    await waitUntil(sub, () => [...latest().values()].filter((e) => onlinePlatforms(e).length === (multi.includes(e.userId) ? 2 : 1)).length === everyone.length, 15_000, 'everyone online');
    await server.app.realtime.drain();
    for (const u of [...single, ...doubled]) expect(changes().filter((e) => e.userId === u)).toHaveLength(1); // a second socket of a platform: nothing
    for (const u of multi) {
      const mine = changes().filter((e) => e.userId === u);
      expect(mine.length).toBeGreaterThanOrEqual(1);
      expect(mine.length).toBeLessThanOrEqual(2); // two platforms: two changes, or one when both were in one batch
      expect(onlinePlatforms(mine.at(-1))).toEqual(['IOS', 'WEB']);
    }
    expect(changes().every((e) => e.details.every((d) => d.online))).toBe(true); // no offline in between

    const before = changes().length;
    await Promise.all(sockets.map((s) => s.dispose()));
    await waitUntil(sub, () => [...latest().values()].filter((e) => onlinePlatforms(e).length === 0).length === everyone.length, 15_000, 'everyone offline');
    await server.app.realtime.drain();
    const offline = changes().slice(before);
    for (const u of [...single, ...doubled]) expect(offline.filter((e) => e.userId === u)).toHaveLength(1);
    // per user, in stream order: online states only, then offline ones only (no state goes back)
    for (const u of everyone) {
      const states = changes().filter((e) => e.userId === u).map((e) => onlinePlatforms(e).length);
      const wentDown = states.findIndex((n, i) => i > 0 && n < states[i - 1]!);
      if (wentDown >= 0) expect(states.slice(wentDown).every((n, i, all) => i === 0 || n <= all[i - 1]!)).toBe(true);
      expect(states.at(-1)).toBe(0);
    }
    await watcherLive.dispose();
  });
});

describe('group lookup of callers', () => {
  it('60 token checks at once take 2 lookups (the first alone, the rest together); a revoked token in the batch is refused, the others resolve to their own user', async () => {
    const app = await server.newApp();
    const users = ids('caller', 60);
    await seedUsers(server, app.appKey, users);
    const tokens = await Promise.all(users.map((u) => seededToken(server, app.appKey, u)));
    await app.backend.ok('mutation { revokeUserTokens(userId: "caller007") }');
    // the apps table locked for a moment: the first lookup waits in flight while all the others arrive
    const lock = await server.app.services.db.startTransaction().execute();
    await sql`lock table apps in access exclusive mode`.execute(lock);
    server.statements.length = 0;
    const checking = Promise.all(tokens.map((token) => server.app.services.callers.fromUserToken(token)));
    await sleep(300);
    await lock.commit().execute();
    const callers = await checking;
    expect(server.statements.filter((s) => /join users u on u.app_key = k.a/.test(s))).toHaveLength(2);
    callers.forEach((caller, i) => {
      if (users[i] === 'caller007') expect(caller).toEqual({ kind: 'anonymous', problem: 'token revoked' });
      else expect(caller).toMatchObject({ kind: 'user', userId: users[i], app: { appKey: app.appKey } });
    });
  });
});
