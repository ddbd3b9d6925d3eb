import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../src/events/bus.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

// The 3000-friend limit, for whoever would pass it. Friends are seeded straight into the
// database (thousands of mutations would be slow); everything else goes through the API.

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const LIMIT = 3000;
const ADD = 'mutation($u: ID!) { addFriend(userId: $u) { outcome } }';
const ACCEPT = 'mutation($u: ID!) { acceptFriendApplication(userId: $u) }';
const ADMIN_ADD = 'mutation($u: ID!, $f: ID!) { adminAddFriend(userId: $u, friendId: $f) }';
const SET_PERMISSION = 'mutation($p: FriendAddPermission!) { updateMyFriendAddPermission(permission: $p) }';
const CHECK = 'query($ids: [ID!]!) { checkFriends(userIds: $ids) { userId isFriend } }';
const APPLICATIONS = '{ friendApplications { items { userId direction status } } }';

/** Gives `userId` n friends named `<userId>-s0001`...; both rows of each friendship, as the server writes them. */
async function seedFriends(appKey: string, userId: string, n: number): Promise<void> {
  const { db } = server.app.services;
  const at = server.clock.now();
  const friendId = sql`${userId}::text || '-s' || lpad(g::text, 4, '0')`;
  await sql`insert into users (app_key, user_id, created_at, updated_at)
    select ${appKey}::text, ${friendId}, ${at}::timestamptz, ${at}::timestamptz from generate_series(1, ${n}::int) g`.execute(db);
  await sql`insert into friendships (app_key, user_id, friend_id, added_at)
    select ${appKey}::text, ${userId}::text, ${friendId}, ${at}::timestamptz from generate_series(1, ${n}::int) g
    union all
    select ${appKey}::text, ${friendId}, ${userId}::text, ${at}::timestamptz from generate_series(1, ${n}::int) g`.execute(db);
}

async function friendCount(appKey: string, userId: string): Promise<number> {
  const row = await server.app.services.db
    .selectFrom('friendships')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('appKey', '=', appKey)
    .where('userId', '=', userId)
    .executeTakeFirstOrThrow();
  return row.n;
}

let unsubscribe: (() => void) | undefined;
afterEach(() => {
  unsubscribe?.();
  unsubscribe = undefined;
});
function recordFriendEvents(appKey: string): DomainEvent[] {
  const events: DomainEvent[] = [];
  unsubscribe = server.app.services.bus.subscribe((event) => {
    if ((event.type === 'friendEvent' || event.type === 'friendshipChanged') && event.appKey === appKey) events.push(event);
  });
  return events;
}

async function setup(): Promise<TestApp> {
  return server.newApp();
}

describe('at most 3000 friends per user', () => {
  it('addFriend: the caller may reach 3000 but not pass it (RC 25467); nothing is written', async () => {
    const app = await setup();
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((id) => app.user(id)));
    await Promise.all([bob.ok(SET_PERMISSION, { p: 'FREE' }), carol.ok(SET_PERMISSION, { p: 'FREE' })]);
    await seedFriends(app.appKey, 'alice', LIMIT - 1);

    expect((await alice.ok(ADD, { u: 'bob' })).addFriend.outcome).toBe('ADDED');
    expect(await friendCount(app.appKey, 'alice')).toBe(LIMIT);

    const events = recordFriendEvents(app.appKey);
    const error = await alice.fails(ADD, { u: 'carol' });
    expect(error.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25467, userIds: ['alice'] });
    expect(await friendCount(app.appKey, 'alice')).toBe(LIMIT);
    expect(await friendCount(app.appKey, 'carol')).toBe(0);
    expect((await carol.ok(CHECK, { ids: ['alice'] })).checkFriends).toEqual([{ userId: 'alice', isFriend: false }]);
    expect(events).toEqual([]);
  });

  it('addFriend: the target may reach 3000 but not pass it (RC 25468)', async () => {
    const app = await setup();
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((id) => app.user(id)));
    await alice.ok(SET_PERMISSION, { p: 'FREE' });
    await seedFriends(app.appKey, 'alice', LIMIT - 1);

    expect((await bob.ok(ADD, { u: 'alice' })).addFriend.outcome).toBe('ADDED');
    expect(await friendCount(app.appKey, 'alice')).toBe(LIMIT);
    const error = await carol.fails(ADD, { u: 'alice' });
    expect(error.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25468, userIds: ['alice'] });
    expect(await friendCount(app.appKey, 'alice')).toBe(LIMIT);
    expect(await friendCount(app.appKey, 'carol')).toBe(0);
  });

  it('accepting: refused for whichever side is full, and the application stays pending', async () => {
    const app = await setup();
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((id) => app.user(id)));
    await seedFriends(app.appKey, 'alice', LIMIT - 1);
    await bob.ok(ADD, { u: 'alice' });
    await carol.ok(ADD, { u: 'alice' });
    // 2999 -> 3000 by accepting
    expect((await alice.ok(ACCEPT, { u: 'bob' })).acceptFriendApplication).toBe(true);
    // the acceptor is full
    expect((await alice.fails(ACCEPT, { u: 'carol' })).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25467, userIds: ['alice'] });
    expect((await alice.ok(APPLICATIONS)).friendApplications.items).toContainEqual({ userId: 'carol', direction: 'RECEIVED', status: 'UNHANDLED' });
    expect(await friendCount(app.appKey, 'alice')).toBe(LIMIT);

    // the applicant became full after applying
    await dave.ok(ADD, { u: 'carol' });
    await seedFriends(app.appKey, 'dave', LIMIT);
    expect((await carol.fails(ACCEPT, { u: 'dave' })).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25468, userIds: ['dave'] });
    expect(await friendCount(app.appKey, 'carol')).toBe(0);
    expect(await friendCount(app.appKey, 'dave')).toBe(LIMIT);
  });

  it('an application that could never be accepted is not sent', async () => {
    const app = await setup();
    const [alice, bob] = await Promise.all(['alice', 'bob'].map((id) => app.user(id)));
    await seedFriends(app.appKey, 'alice', LIMIT);
    expect((await alice.fails(ADD, { u: 'bob' })).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25467 });
    expect((await bob.fails(ADD, { u: 'alice' })).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25468 });
    expect((await bob.ok(APPLICATIONS)).friendApplications.items).toEqual([]);
  });

  it('adminAddFriend: 25467 when userId is full, 25468 when friendId is', async () => {
    const app = await setup();
    await Promise.all(['alice', 'bob', 'carol'].map((id) => app.user(id)));
    await seedFriends(app.appKey, 'alice', LIMIT - 1);
    expect((await app.backend.ok(ADMIN_ADD, { u: 'bob', f: 'alice' })).adminAddFriend).toBe(true);
    expect((await app.backend.fails(ADMIN_ADD, { u: 'alice', f: 'carol' })).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25467 });
    expect((await app.backend.fails(ADMIN_ADD, { u: 'carol', f: 'alice' })).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', rcCode: 25468 });
    // already friends stays fine at the limit
    expect((await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' })).adminAddFriend).toBe(true);
    expect(await friendCount(app.appKey, 'alice')).toBe(LIMIT);
    expect(await friendCount(app.appKey, 'carol')).toBe(0);
  });

  it('holds under concurrent requests: one slot left, many takers, exactly one wins', async () => {
    const app = await setup();
    const takers = Array.from({ length: 6 }, (_, i) => `t${i}`);
    const [alice, ...clients] = await Promise.all(['alice', ...takers].map((id) => app.user(id)));
    await alice.ok(SET_PERMISSION, { p: 'FREE' });
    await seedFriends(app.appKey, 'alice', LIMIT - 1);
    const results = await Promise.all(clients.map((c) => c.request<{ addFriend: { outcome: string } }>(ADD, { u: 'alice' })));
    const added = results.filter((r) => r.data?.addFriend?.outcome === 'ADDED');
    const refused = results.filter((r) => r.errors?.[0]?.extensions?.code === 'LIMIT_EXCEEDED');
    expect(added).toHaveLength(1);
    expect(refused).toHaveLength(takers.length - 1);
    expect(await friendCount(app.appKey, 'alice')).toBe(LIMIT);

    // and from the full user's side, racing admin adds in both argument orders
    await Promise.all(['zed', 'p1', 'p2', 'p3', 'p4'].map((id) => app.user(id)));
    await seedFriends(app.appKey, 'zed', LIMIT - 2);
    const adminResults = await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map((id, i) => app.backend.request(ADMIN_ADD, i % 2 ? { u: 'zed', f: id } : { u: id, f: 'zed' })),
    );
    expect(adminResults.filter((r) => r.data?.adminAddFriend === true)).toHaveLength(2);
    expect(await friendCount(app.appKey, 'zed')).toBe(LIMIT);
  });
});
