import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { userTopic } from '../src/realtime/messages.ts';
import type { ProfileView } from '../src/profiles/view.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { connectLive } from './helpers/ws.ts';

const MAX_BUFFERED = 200;
let server: TestServer;
beforeAll(async () => {
  // the storm opens ~100 sockets per user at once: above the production per-user default of 20
  server = await startTestServer({ config: { wsMaxBufferedEvents: MAX_BUFFERED, wsMaxConnectionsPerUser: 1000 } });
});
afterAll(() => server?.stop());

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a stalled subscriber', () => {
  it('is dropped with 4008 once its buffer is full, while a healthy one gets every event', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const query = 'subscription { ownUserProfileChanged { name userExtProfile { key value } } }';

    const slow = await openRaw(server.url);
    await slow.init({ authToken: alice.token, platform: 'WEB', deviceId: 'slow' });
    slow.send({ id: '1', type: 'subscribe', payload: { query } });
    const healthy = connectLive(server.url, { authToken: alice.token, platform: 'IOS', deviceId: 'fast' });
    await healthy.connected;
    const events = healthy.subscribe(query);
    await until(() => server.app.realtime.transport.connections().length === 2, 5000, 'both connected');
    await new Promise((r) => setTimeout(r, 100)); // let both subscribe messages be processed
    slow.stall();

    // ~5 KiB events pushed on the user's topic: the stalled socket's kernel buffers fill, then ours
    const profile: ProfileView = {
      kind: 'view', userId: 'alice', name: 'big', portraitUri: null, uniqueId: null, email: null, birthday: null, gender: null,
      location: null, role: null, level: null, version: 2, updatedAt: new Date().toISOString(), restricted: false,
      userExtProfile: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(256) })),
    };
    const total = 3000;
    const topic = userTopic(app.appKey, 'alice');
    for (let i = 0; i < total; i += 100) {
      await server.app.realtime.topics.publish(
        Array.from({ length: 100 }, () => ({ topic, message: { kind: 'ownProfile' as const, origin: { by: 'backend' as const }, profile } })),
      );
      // paced by the healthy reader (in this same process, so on a busy machine it may read slower
      // than the loop publishes): only the stalled one falls behind
      await events.waitFor(i + 100, 30_000);
    }
    // the healthy connection received every single event, undelayed by the stalled one ...
    await events.waitFor(total, 30_000);
    expect(events.events).toHaveLength(total);
    // ... which was dropped: once it reads again it finds the close frame with the reason
    slow.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    expect(closed.reason).toMatch(/slow consumer/);
    expect(slow.messages.filter((m) => m.type === 'next').length).toBeLessThan(total);
    await until(() => server.app.realtime.transport.connections().length === 1, 10_000, 'slow connection forgotten');
    await healthy.dispose();
  }, 60_000);
});

describe('a stalled subscriber of shared status changes (sent straight to the socket while its reader is idle)', () => {
  it('is dropped with 4008 once its socket and then its buffer are full; a healthy one gets every change once, in order, each counted as delivered', async () => {
    const app = await server.newApp();
    const bob = await app.user('bob');
    const query = 'subscription { subscribedUserStatusChange(types: [USER_PROFILE]) { __typename ... on UserStatusChange { userId subscribeTime userProfile { name version userExtProfile { key value } } } } }';
    const slow = await openRaw(server.url);
    await slow.init({ authToken: bob.token, platform: 'WEB', deviceId: 'slow' });
    slow.send({ id: 's', type: 'subscribe', payload: { query } });
    const healthy = connectLive(server.url, { authToken: bob.token, platform: 'IOS', deviceId: 'fast' });
    await healthy.connected;
    const events = healthy.subscribe<any>(query);
    await events.waitFor(1, 5000); // SyncFinished
    const carol = connectLive(server.url, { authToken: (await app.user('carol')).token, platform: 'WEB' });
    await carol.connected;
    const warm = carol.subscribe<any>(query);
    await warm.waitFor(1, 5000);
    const warmTopic = userTopic(app.appKey, 'carol');
    await until(() => slow.messages.some((m) => m.type === 'next'), 5000, 'the slow one synced');
    slow.stall();
    const before = metric(await (await fetch(server.metricsUrl)).text());

    const total = 3000;
    const topic = userTopic(app.appKey, 'bob');
    const status = (i: number) => ({
      kind: 'status' as const,
      subjectId: 'star',
      subscribeType: 'USER_PROFILE' as const,
      subscribeTime: 1_700_000_000_000,
      expiry: 3600,
      expiresAt: null,
      details: [],
      profile: {
        kind: 'view', userId: 'star', name: `v${i}`, portraitUri: null, uniqueId: null, email: null, birthday: null, gender: null,
        location: null, role: null, level: null, version: i + 1, updatedAt: new Date().toISOString(), restricted: false,
        userExtProfile: Array.from({ length: 20 }, (_, k) => ({ key: `k${k}`, value: 'x'.repeat(256) })),
      } as ProfileView,
      changeTime: new Date().toISOString(),
      incarnation: 1,
      order: i + 1,
      shared: `robustness:${i}`,
    });
    // in bursts of 20 changes (fewer than the results kept per operation shape)
    for (let i = 0; i < total; i += 20) {
      // each change first reaches carol (its shared result is executed then), then bob's two
      // sockets, which render it from that result: straight to the socket while their reader is idle
      await server.app.realtime.topics.publish(Array.from({ length: 20 }, (_, k) => ({ topic: warmTopic, message: status(i + k) })));
      await warm.waitFor(1 + i + 20, 30_000);
      await server.app.realtime.topics.publish(Array.from({ length: 20 }, (_, k) => ({ topic, message: status(i + k) })));
      // paced by the healthy reader (in this same process): only the stalled one falls behind
      await events.waitFor(1 + i + 20, 30_000);
    }
    await Promise.all([events.waitFor(total + 1, 30_000), warm.waitFor(total + 1, 30_000)]);
    const names = events.events.slice(1).map((e) => e.subscribedUserStatusChange.userProfile.name);
    expect(names).toEqual(Array.from({ length: total }, (_, i) => `v${i}`));
    expect(events.events[1].subscribedUserStatusChange.subscribeTime).toBe(new Date(1_700_000_000_000).toISOString());
    slow.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    expect(slow.messages.filter((m) => m.type === 'next').length).toBeLessThan(total);
    const after = metric(await (await fetch(server.metricsUrl)).text());
    // carol's and the healthy socket's 3000 each, plus what reached the slow one before it was dropped
    expect(after - before).toBeGreaterThanOrEqual(2 * total);
    await Promise.all([healthy.dispose(), carol.dispose()]);
  }, 60_000);
});

/** phs_events_delivered_total for subscribedUserStatusChange */
function metric(text: string): number {
  const line = text.split('\n').find((l) => l.startsWith('phs_events_delivered_total{field="subscribedUserStatusChange"}'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('a storm of connects and disconnects', () => {
  it('survives 2000 simultaneous connects/disconnects without leaving ghost presence', async () => {
    const app = await server.newApp();
    const users = await Promise.all(Array.from({ length: 20 }, (_, i) => app.user(`storm${i}`)));
    const platforms = ['WEB', 'IOS', 'ANDROID', 'PC'];
    const sockets = await Promise.all(
      Array.from({ length: 2000 }, async (_, i) => {
        const raw = await openRaw(server.url);
        const payload = { authToken: users[i % users.length]!.token, platform: platforms[i % platforms.length] };
        if (i % 2 === 0) {
          // half leave before the server acknowledged them (mid-registration)
          raw.send({ type: 'connection_init', payload });
          raw.ws.close();
        } else {
          await raw.init(payload);
        }
        return raw;
      }),
    );
    await Promise.all(sockets.map((s) => (s.ws.readyState === s.ws.OPEN ? s.ws.close() : undefined)));
    await Promise.all(sockets.map((s) => s.closed));
    const db = server.app.services.db;
    await until(
      async () => {
        const { n } = await db
          .selectFrom('presenceConnections')
          .select(sql<number>`count(*)::int`.as('n'))
          .where('appKey', '=', app.appKey)
          .executeTakeFirstOrThrow();
        return n === 0 && server.app.realtime.transport.connections().every((c) => c.info.appKey !== app.appKey);
      },
      60_000,
      'every connection forgotten',
    );
    const online = await db.selectFrom('presencePlatforms').select('userId').where('appKey', '=', app.appKey).where('online', '=', true).execute();
    expect(online).toEqual([]);
    const everOnline = await db.selectFrom('presencePlatforms').select('userId').where('appKey', '=', app.appKey).execute();
    expect(everOnline.length).toBeGreaterThan(0);
  }, 120_000);
});
