/**
 * Load shedding at connect: past WS_MAX_PENDING_CONNECTS connection_inits being set up at once,
 * a new one is closed at once with 1013 (Try Again Later) and `retry after <ms> ms`, before any
 * database work, rather than everyone waiting into their init timeout. The sockets that were
 * let in are acknowledged and online; a shed device that comes back later gets in.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import { seedUsers, seededToken, sleep, storedConnections } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connectLive, type LiveClient } from './helpers/ws.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ config: { wsMaxPendingConnects: 3 } });
});
afterAll(() => server?.stop());

it('sheds connects past the pending limit with 1013 and a retry hint; the admitted ones are acked and online; a shed one gets in later', async () => {
  const app = await server.newApp();
  const users = Array.from({ length: 40 }, (_, i) => `storm${i}`);
  await seedUsers(server, app.appKey, users);
  const tokens = await Promise.all(users.map((u) => seededToken(server, app.appKey, u)));
  // the apps table locked: the first connects stay in their token check while the others arrive
  const lock = await server.app.services.db.startTransaction().execute();
  await sql`lock table apps in access exclusive mode`.execute(lock);
  const sockets: LiveClient[] = tokens.map((token) => connectLive(server.url, { authToken: token, platform: 'WEB' }));
  const outcomes = Promise.all(
    sockets.map((s) => Promise.race([s.connected.then(() => ({ acked: true as const })), s.closed.then((c) => ({ acked: false as const, ...c }))])),
  );
  await sleep(1_000);
  await lock.commit().execute();
  const settled = await outcomes;
  const shed = settled.flatMap((o, i) => (o.acked ? [] : [{ i, ...o }]));
  const acked = settled.flatMap((o, i) => (o.acked ? [i] : []));
  expect(acked).toHaveLength(3);
  expect(shed).toHaveLength(37);
  for (const s of shed) {
    expect(s.code).toBe(1013);
    const hint = /^server busy: retry after (\d+) ms$/.exec(s.reason);
    expect(hint, s.reason).not.toBeNull();
    expect(Number(hint![1])).toBeGreaterThanOrEqual(500);
    expect(Number(hint![1])).toBeLessThanOrEqual(30_000);
  }
  for (const i of acked) expect(await storedConnections(server, app.appKey, users[i]!)).toBe(1);
  for (const s of shed) expect(await storedConnections(server, app.appKey, users[s.i]!)).toBe(0);
  const metrics = await (await fetch(server.metricsUrl)).text();
  expect(metrics).toMatch(new RegExp(`phs_ws_connects_shed_total ${shed.length}\\b`));

  // one at a time nothing is shed
  const again = connectLive(server.url, { authToken: tokens[shed[0]!.i]!, platform: 'WEB' });
  await again.connected;
  expect(await storedConnections(server, app.appKey, users[shed[0]!.i]!)).toBe(1);
  await Promise.all([...sockets, again].map((s) => s.dispose()));
});
