/**
 * Issue 5, found by the soak: a client that goes away (or completes its operation) while its
 * `subscribedUserStatusChange` waits for the next live event must be let go at once. graphql-ws
 * calls `return()` on the operation's iterator first and only then the transport's onClose; an
 * async generator suspended in an `await` only sees that `return()` at its next `yield`, i.e. the
 * next event, which may never come: the connection stayed registered and its user online (ghost
 * presence) until the server stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userTopic } from '../src/realtime/messages.ts';
import type { StatusMessage } from '../src/realtime/messages.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { connectLive } from './helpers/ws.ts';

const MAX_BUFFERED = 20;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ config: { wsMaxBufferedEvents: MAX_BUFFERED } });
});
afterAll(() => server?.stop());

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const STATUS = `subscription { subscribedUserStatusChange(types: [ONLINE_STATUS, USER_PROFILE]) {
  __typename ... on UserStatusChange { userId } ... on SubscribedUserStatusSyncFinished { subscribeType } } }`;

describe('an idle status subscription does not hold its connection', () => {
  it('a client that leaves while its status subscription waits for events goes offline at once', async () => {
    const app = await server.newApp();
    const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')]);
    await bob.ok('mutation { subscribeUserStatus(type: ONLINE_STATUS, userIds: ["alice"], expiry: 3600) { failedUserIds } }');
    const watcher = connectLive(server.url, { authToken: bob.token, platform: 'WEB' });
    await watcher.connected;
    const status = watcher.subscribe<{ subscribedUserStatusChange: { __typename: string; userId?: string } }>(
      'subscription { subscribedUserStatusChange(types: [ONLINE_STATUS]) { __typename ... on UserStatusChange { userId details { online } } } }',
    );
    await status.waitFor(2);

    const before = server.app.realtime.transport.connections().length;
    const leaving = connectLive(server.url, { authToken: alice.token, platform: 'IOS' });
    await leaving.connected;
    const sub = leaving.subscribe(STATUS);
    await sub.waitFor(2); // both SyncFinished (alice subscribes to nobody): now idle, waiting for live events
    await status.waitFor(3); // bob saw alice come online
    expect(server.app.realtime.transport.connections()).toHaveLength(before + 1);

    await leaving.dispose();
    await until(() => server.app.realtime.transport.connections().length === before, 5_000, 'the connection is released');
    await status.waitFor(4, 5_000); // and alice is offline for bob
    expect(status.events[3]).toMatchObject({ subscribedUserStatusChange: { userId: 'alice', details: [{ online: false }] } });
    await watcher.dispose();
  });

  it('a completed status subscription ends: later events are neither delivered nor held, and the socket goes on', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const raw = await openRaw(server.url);
    await raw.init({ authToken: alice.token, platform: 'WEB' });
    raw.send({ id: 's', type: 'subscribe', payload: { query: STATUS } });
    await until(() => raw.messages.filter((m) => m.id === 's' && m.type === 'next').length === 2, 5_000, 'the sync');
    raw.send({ id: 's', type: 'complete' });
    await new Promise((r) => setTimeout(r, 200));

    // more status messages than the connection may hold: a forgotten stream would overflow (4008)
    const message: StatusMessage = {
      kind: 'status', subjectId: 'bob', subscribeType: 'ONLINE_STATUS', subscribeTime: null, expiry: null, expiresAt: null,
      details: [], profile: null, changeTime: new Date().toISOString(), incarnation: 1, order: 1,
    };
    const topic = userTopic(app.appKey, 'alice');
    for (let i = 0; i < MAX_BUFFERED * 3; i++) await server.app.realtime.topics.publish([{ topic, message: { ...message, order: i + 1 } }]);

    // the socket is alive and serves another operation
    raw.send({ id: 'q', type: 'subscribe', payload: { query: '{ myUserProfile { userId } }' } });
    await until(() => raw.messages.some((m) => m.id === 'q' && m.type === 'complete'), 5_000, 'the query on the same socket');
    expect(raw.messages.find((m) => m.id === 'q' && m.type === 'next')?.payload).toEqual({ data: { myUserProfile: { userId: 'alice' } } });
    expect(raw.messages.filter((m) => m.id === 's' && m.type === 'next')).toHaveLength(2);
    expect(raw.ws.readyState).toBe(raw.ws.OPEN);
    raw.ws.close();
  });
});
