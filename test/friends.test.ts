import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../src/events/bus.ts';
import type { GraphQLClient } from './helpers/client.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const DAY = 24 * 60 * 60 * 1000;
const WEEK = 7 * DAY;

const ADD = 'mutation($u: ID!, $e: String) { addFriend(userId: $u, extra: $e) { outcome } }';
const ACCEPT = 'mutation($u: ID!) { acceptFriendApplication(userId: $u) }';
const REFUSE = 'mutation($u: ID!, $r: String) { refuseFriendApplication(userId: $u, reason: $r) }';
const DELETE = 'mutation($ids: [ID!]!) { deleteFriends(userIds: $ids) }';
const REMARK = 'mutation($u: ID!, $r: String) { setFriendRemark(userId: $u, remark: $r) }';
const ADMIN_ADD = 'mutation($u: ID!, $f: ID!) { adminAddFriend(userId: $u, friendId: $f) }';
const SET_PERMISSION = 'mutation($p: FriendAddPermission!) { updateMyFriendAddPermission(permission: $p) }';
const MY_PERMISSION = '{ myFriendAddPermission }';
const FRIENDS = 'query($t: String, $c: Int) { friends(pageToken: $t, count: $c) { items { userId remark addedAt } nextPageToken } }';
const CHECK = 'query($ids: [ID!]!) { checkFriends(userIds: $ids) { userId isFriend } }';
const APPLICATIONS = `query($d: FriendApplicationDirection, $s: FriendApplicationStatus, $t: String, $c: Int) {
  friendApplications(direction: $d, status: $s, pageToken: $t, count: $c) {
    items { userId direction status extra reason createdAt expiresAt } nextPageToken
  }
}`;
const APP_DEFAULT = 'mutation($p: FriendAddPermission) { updateAppSettings(defaultFriendAddPermission: $p) { defaultFriendAddPermission } }';

type User = GraphQLClient & { token: string };

/** Users whose tokens outlive the week-long jumps of the expiry tests. */
async function usersOf(app: TestApp, ...ids: string[]): Promise<User[]> {
  return Promise.all(ids.map((id) => app.user(id, { expiresInSeconds: 30 * 24 * 3600 })));
}

async function friendIds(user: GraphQLClient): Promise<string[]> {
  return (await user.ok(FRIENDS, { c: 100 })).friends.items.map((f: { userId: string }) => f.userId);
}

async function applications(user: GraphQLClient, vars: Record<string, unknown> = {}) {
  return (await user.ok(APPLICATIONS, { c: 100, ...vars })).friendApplications.items as {
    userId: string;
    direction: string;
    status: string;
    extra: string | null;
    reason: string | null;
    createdAt: string;
    expiresAt: string;
  }[];
}

const now = () => server.clock.now().toISOString();

// The real in-process bus: what real-time delivery will see.
let unsubscribe: (() => void) | undefined;
afterEach(() => {
  unsubscribe?.();
  unsubscribe = undefined;
});

/** Records the friend events and friendship changes of one app from now on. */
function recordFriendEvents(appKey: string): DomainEvent[] {
  const events: DomainEvent[] = [];
  unsubscribe = server.app.services.bus.subscribe((event) => {
    if ((event.type === 'friendEvent' || event.type === 'friendshipChanged') && event.appKey === appKey) events.push(event);
  });
  return events;
}

describe('friend add permission', () => {
  it('is NOT_SET until the user sets it, and can be set back to NOT_SET', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice');
    expect((await alice.ok(MY_PERMISSION)).myFriendAddPermission).toBe('NOT_SET');
    for (const permission of ['FREE', 'NO_ONE_ALLOWED', 'NEED_VERIFY', 'NOT_SET']) {
      expect((await alice.ok(SET_PERMISSION, { p: permission })).updateMyFriendAddPermission).toBe(permission);
      expect((await alice.ok(MY_PERMISSION)).myFriendAddPermission).toBe(permission);
    }
  });

  it('FREE: addFriend makes both users friends at once', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await alice.ok(SET_PERMISSION, { p: 'FREE' });
    expect((await bob.ok(ADD, { u: 'alice' })).addFriend).toEqual({ outcome: 'ADDED' });
    expect(await friendIds(alice)).toEqual(['bob']);
    expect(await friendIds(bob)).toEqual(['alice']);
    const [friend] = (await alice.ok(FRIENDS)).friends.items;
    expect(friend).toEqual({ userId: 'bob', remark: null, addedAt: now() });
    expect(await applications(alice)).toEqual([]);
  });

  it('NEED_VERIFY (the app default): addFriend sends an application that expires after 7 days', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    expect((await bob.ok(ADD, { u: 'alice', e: 'hi, it is Bob' })).addFriend).toEqual({ outcome: 'APPLICATION_SENT' });
    expect(await friendIds(alice)).toEqual([]);
    expect(await friendIds(bob)).toEqual([]);
    const sentAt = server.clock.now();
    const expiresAt = new Date(sentAt.getTime() + WEEK).toISOString();
    expect(await applications(alice)).toEqual([
      { userId: 'bob', direction: 'RECEIVED', status: 'UNHANDLED', extra: 'hi, it is Bob', reason: null, createdAt: sentAt.toISOString(), expiresAt },
    ]);
    expect(await applications(bob)).toEqual([
      { userId: 'alice', direction: 'SENT', status: 'UNHANDLED', extra: 'hi, it is Bob', reason: null, createdAt: sentAt.toISOString(), expiresAt },
    ]);

    expect((await alice.ok(ACCEPT, { u: 'bob' })).acceptFriendApplication).toBe(true);
    expect(await friendIds(alice)).toEqual(['bob']);
    expect(await friendIds(bob)).toEqual(['alice']);
    expect((await alice.ok(APPLICATIONS)).friendApplications.items[0].status).toBe('ACCEPTED');
    expect((await bob.ok(APPLICATIONS)).friendApplications.items[0]).toMatchObject({ userId: 'alice', direction: 'SENT', status: 'ACCEPTED' });
  });

  it('NO_ONE_ALLOWED: addFriend is FORBIDDEN (RC 25471) and writes nothing', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await alice.ok(SET_PERMISSION, { p: 'NO_ONE_ALLOWED' });
    const error = await bob.fails(ADD, { u: 'alice' });
    expect(error.extensions).toMatchObject({ code: 'FORBIDDEN', rcCode: 25471 });
    expect(await applications(alice)).toEqual([]);
    expect(await friendIds(alice)).toEqual([]);
  });

  it("a user's own setting overrides the app default, and NOT_SET follows it", async () => {
    const app = await server.newApp();
    const [alice, bob, carol, dave] = await usersOf(app, 'alice', 'bob', 'carol', 'dave');
    await app.backend.ok(APP_DEFAULT, { p: 'FREE' });
    await carol.ok(SET_PERMISSION, { p: 'NEED_VERIFY' });
    await dave.ok(SET_PERMISSION, { p: 'NO_ONE_ALLOWED' });
    expect((await bob.ok(ADD, { u: 'alice' })).addFriend.outcome).toBe('ADDED'); // NOT_SET -> app FREE
    expect((await bob.ok(ADD, { u: 'carol' })).addFriend.outcome).toBe('APPLICATION_SENT');
    expect((await bob.fails(ADD, { u: 'dave' })).extensions).toMatchObject({ code: 'FORBIDDEN', rcCode: 25471 });

    await app.backend.ok(APP_DEFAULT, { p: 'NO_ONE_ALLOWED' });
    await dave.ok(SET_PERMISSION, { p: 'FREE' });
    await carol.ok(SET_PERMISSION, { p: 'NOT_SET' });
    expect((await alice.ok(ADD, { u: 'dave' })).addFriend.outcome).toBe('ADDED');
    expect((await alice.fails(ADD, { u: 'carol' })).extensions).toMatchObject({ code: 'FORBIDDEN', rcCode: 25471 });
  });

  it('adding someone who already applied to me accepts their application, whatever their permission', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await bob.ok(ADD, { u: 'alice', e: 'please' });
    await bob.ok(SET_PERMISSION, { p: 'NO_ONE_ALLOWED' });
    expect((await alice.ok(ADD, { u: 'bob' })).addFriend.outcome).toBe('ADDED');
    expect(await friendIds(bob)).toEqual(['alice']);
    // the one application between them, now accepted; no second one was created
    expect(await applications(alice)).toEqual([expect.objectContaining({ userId: 'bob', direction: 'RECEIVED', status: 'ACCEPTED', extra: 'please' })]);
  });

  it('becoming friends by any path clears the pending applications between the two', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await bob.ok(ADD, { u: 'alice' });
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect(await applications(bob)).toEqual([expect.objectContaining({ userId: 'alice', status: 'ACCEPTED' })]);
    expect((await alice.fails(ACCEPT, { u: 'bob' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });
  });
});

describe('applications', () => {
  it('refusing keeps the application listed as REFUSED with its reason; a new application replaces it', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await bob.ok(ADD, { u: 'alice', e: 'first try' });
    expect((await alice.ok(REFUSE, { u: 'bob', r: 'who are you?' })).refuseFriendApplication).toBe(true);
    expect(await applications(bob)).toEqual([
      expect.objectContaining({ userId: 'alice', direction: 'SENT', status: 'REFUSED', extra: 'first try', reason: 'who are you?' }),
    ]);
    expect(await friendIds(alice)).toEqual([]);
    // a handled application can be neither accepted nor refused again
    expect((await alice.fails(ACCEPT, { u: 'bob' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });
    expect((await alice.fails(REFUSE, { u: 'bob' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });

    server.clock.advance(1000);
    expect((await bob.ok(ADD, { u: 'alice', e: 'second try' })).addFriend.outcome).toBe('APPLICATION_SENT');
    const [again] = await applications(alice);
    expect(again).toEqual({
      userId: 'bob',
      direction: 'RECEIVED',
      status: 'UNHANDLED',
      extra: 'second try',
      reason: null,
      createdAt: now(),
      expiresAt: new Date(server.clock.now().getTime() + WEEK).toISOString(),
    });
    expect(await applications(alice)).toHaveLength(1);
    await alice.ok(ACCEPT, { u: 'bob' });
    expect(await friendIds(alice)).toEqual(['bob']);
  });

  it('refuse without a reason stores none', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await bob.ok(ADD, { u: 'alice' });
    await alice.ok(REFUSE, { u: 'bob' });
    expect(await applications(alice)).toEqual([expect.objectContaining({ status: 'REFUSED', reason: null, extra: null })]);
  });

  it('an application can be accepted until just before 7 days and not at 7 days', async () => {
    const app = await server.newApp();
    const [alice, bob, carol, dave] = await usersOf(app, 'alice', 'bob', 'carol', 'dave');
    await bob.ok(ADD, { u: 'alice' });
    await carol.ok(ADD, { u: 'alice' });
    await dave.ok(ADD, { u: 'alice' });
    const sentAt = server.clock.now().getTime();

    server.clock.advance(WEEK - 1);
    expect(await applications(alice, { s: 'UNHANDLED' })).toHaveLength(3);
    expect((await alice.ok(ACCEPT, { u: 'bob' })).acceptFriendApplication).toBe(true);

    server.clock.advance(1); // exactly 7 days: expired
    const error = await alice.fails(ACCEPT, { u: 'carol' });
    expect(error.extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });
    expect((await alice.fails(REFUSE, { u: 'dave' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });
    expect(await friendIds(alice)).toEqual(['bob']);
    const expired = await applications(alice, { s: 'EXPIRED' });
    expect(expired.map((a) => a.userId).sort()).toEqual(['carol', 'dave']);
    expect(expired[0]!.expiresAt).toBe(new Date(sentAt + WEEK).toISOString());
    expect(await applications(carol)).toEqual([expect.objectContaining({ userId: 'alice', direction: 'SENT', status: 'EXPIRED' })]);
    expect(await applications(alice, { s: 'UNHANDLED' })).toEqual([]);

    // an expired application is not accepted by adding back: that sends a new application
    expect((await alice.ok(ADD, { u: 'carol' })).addFriend.outcome).toBe('APPLICATION_SENT');
    expect(await friendIds(alice)).toEqual(['bob']);
    // re-applying after expiry replaces the old application with a fresh one
    expect((await dave.ok(ADD, { u: 'alice', e: 'again' })).addFriend.outcome).toBe('APPLICATION_SENT');
    const [fromDave] = (await applications(alice, { d: 'RECEIVED', s: 'UNHANDLED' })).filter((a) => a.userId === 'dave');
    expect(fromDave).toMatchObject({ status: 'UNHANDLED', extra: 'again', createdAt: now(), expiresAt: new Date(server.clock.now().getTime() + WEEK).toISOString() });
    await alice.ok(ACCEPT, { u: 'dave' });
    expect((await friendIds(alice)).sort()).toEqual(['bob', 'dave']);
  });

  it('lists by direction and status (EXPIRED included), newest first, over several pages', async () => {
    const app = await server.newApp();
    const [alice, b1, b2, c1, c2, c3, c4] = await usersOf(app, 'alice', 'b1', 'b2', 'c1', 'c2', 'c3', 'c4');
    await c4.ok(ADD, { u: 'alice' }); // will expire
    server.clock.advance(WEEK);
    await alice.ok(ADD, { u: 'b1', e: 'to b1' });
    server.clock.advance(1000);
    await c1.ok(ADD, { u: 'alice' });
    server.clock.advance(1000);
    await c2.ok(ADD, { u: 'alice' });
    server.clock.advance(1000);
    await alice.ok(ADD, { u: 'b2' });
    await c3.ok(ADD, { u: 'alice' }); // same time as the application to b2
    server.clock.advance(1000);
    await alice.ok(ACCEPT, { u: 'c1' });
    await alice.ok(REFUSE, { u: 'c2', r: 'no' });

    const all = await applications(alice);
    // newest first; equal times ordered by (from, to) descending, so c3->alice before alice->b2
    expect(all.map((a) => `${a.direction}:${a.userId}:${a.status}`)).toEqual([
      'RECEIVED:c3:UNHANDLED',
      'SENT:b2:UNHANDLED',
      'RECEIVED:c2:REFUSED',
      'RECEIVED:c1:ACCEPTED',
      'SENT:b1:UNHANDLED',
      'RECEIVED:c4:EXPIRED',
    ]);
    const ids = async (vars: Record<string, unknown>) => (await applications(alice, vars)).map((a) => a.userId);
    expect(await ids({ d: 'SENT' })).toEqual(['b2', 'b1']);
    expect(await ids({ d: 'RECEIVED' })).toEqual(['c3', 'c2', 'c1', 'c4']);
    expect(await ids({ s: 'UNHANDLED' })).toEqual(['c3', 'b2', 'b1']);
    expect(await ids({ s: 'ACCEPTED' })).toEqual(['c1']);
    expect(await ids({ s: 'REFUSED' })).toEqual(['c2']);
    expect(await ids({ s: 'EXPIRED' })).toEqual(['c4']);
    expect(await ids({ d: 'SENT', s: 'UNHANDLED' })).toEqual(['b2', 'b1']);
    expect(await ids({ d: 'RECEIVED', s: 'UNHANDLED' })).toEqual(['c3']);
    expect(await ids({ d: 'SENT', s: 'EXPIRED' })).toEqual([]);
    // the other side sees the same applications from its own side
    expect(await applications(b1)).toEqual([expect.objectContaining({ userId: 'alice', direction: 'RECEIVED', status: 'UNHANDLED', extra: 'to b1' })]);
    expect(await applications(c2)).toEqual([expect.objectContaining({ userId: 'alice', direction: 'SENT', status: 'REFUSED', reason: 'no' })]);
    expect(await applications(b2, { d: 'SENT' })).toEqual([]);

    // pages of 4, then 2: nothing lost, nothing repeated
    const first = (await alice.ok(APPLICATIONS, { c: 4 })).friendApplications;
    expect(first.items).toHaveLength(4);
    expect(first.nextPageToken).toEqual(expect.any(String));
    const second = (await alice.ok(APPLICATIONS, { c: 4, t: first.nextPageToken })).friendApplications;
    expect(second.nextPageToken).toBeNull();
    expect([...first.items, ...second.items]).toEqual(all);
    // pages of 2 with a filter
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const page: { items: { userId: string }[]; nextPageToken: string | null } = (await alice.ok(APPLICATIONS, { d: 'RECEIVED', c: 1, t: token }))
        .friendApplications;
      seen.push(...page.items.map((a) => a.userId));
      token = page.nextPageToken;
    } while (token);
    expect(seen).toEqual(['c3', 'c2', 'c1', 'c4']);
  });
});

describe('friend list', () => {
  it('pages by addedAt then userId, with no duplicates or gaps', async () => {
    const app = await server.newApp();
    const ids = ['f3', 'f1', 'f2', 'f0', 'f6', 'f5', 'f4', 'f7'];
    const [alice] = await usersOf(app, 'alice', ...ids);
    // f1..f3 at one instant (ties broken by userId), then the others a second apart
    const added: Record<string, string> = {};
    for (const id of ids) {
      if (!['f1', 'f2'].includes(id)) server.clock.advance(1000);
      await app.backend.ok(ADMIN_ADD, { u: 'alice', f: id });
      added[id] = now();
    }
    const expected = ['f1', 'f2', 'f3', 'f0', 'f6', 'f5', 'f4', 'f7'];

    for (const count of [1, 3, 7, 8, 100]) {
      const seen: { userId: string; addedAt: string }[] = [];
      let token: string | null = null;
      let pages = 0;
      do {
        const page: { items: { userId: string; addedAt: string }[]; nextPageToken: string | null } = (await alice.ok(FRIENDS, { c: count, t: token })).friends;
        expect(page.items.length).toBeLessThanOrEqual(count);
        seen.push(...page.items);
        token = page.nextPageToken;
        pages++;
      } while (token);
      expect(seen.map((f) => f.userId)).toEqual(expected);
      expect(pages).toBe(Math.max(1, Math.ceil(expected.length / count)));
      for (const f of seen) expect(f.addedAt).toBe(added[f.userId]);
    }
    // default page size is 50
    expect((await alice.ok('{ friends { items { userId } nextPageToken } }')).friends).toEqual({
      items: expected.map((userId) => ({ userId })),
      nextPageToken: null,
    });
  });

  it('pages newest first with newestFirst (RongCloud order false); a token of one order is refused by the other', async () => {
    const app = await server.newApp();
    const ids = ['g1', 'g0', 'g3', 'g2'];
    const [alice] = await usersOf(app, 'alice', ...ids);
    for (const id of ids) {
      server.clock.advance(1000);
      await app.backend.ok(ADMIN_ADD, { u: 'alice', f: id });
    }
    const NEWEST = 'query($t: String, $c: Int) { friends(pageToken: $t, count: $c, newestFirst: true) { items { userId } nextPageToken } }';
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const page: { items: { userId: string }[]; nextPageToken: string | null } = (await alice.ok(NEWEST, { c: 3, t: token })).friends;
      seen.push(...page.items.map((f) => f.userId));
      token = page.nextPageToken;
      if (token) expect((await alice.fails(FRIENDS, { c: 3, t: token })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
    } while (token);
    expect(seen).toEqual(['g2', 'g3', 'g0', 'g1']);
    const oldest: { nextPageToken: string } = (await alice.ok(FRIENDS, { c: 1 })).friends;
    expect((await alice.fails(NEWEST, { c: 1, t: oldest.nextPageToken })).extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('keeps its place when friends are removed between pages', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice', 'a', 'b', 'c', 'd');
    for (const id of ['a', 'b', 'c', 'd']) await app.backend.ok(ADMIN_ADD, { u: 'alice', f: id });
    const first = (await alice.ok(FRIENDS, { c: 2 })).friends;
    expect(first.items.map((f: { userId: string }) => f.userId)).toEqual(['a', 'b']);
    await alice.ok(DELETE, { ids: ['b', 'c'] });
    const second = (await alice.ok(FRIENDS, { c: 2, t: first.nextPageToken })).friends;
    expect(second).toEqual({ items: [expect.objectContaining({ userId: 'd' })], nextPageToken: null });
  });

  it('shows each friend with the profile the viewer may see', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice', 'bob', 'carol');
    await app.backend.ok('mutation { a: setUserProfile(userId: "bob", profile: { name: "Bob", email: "bob@example.com" }) { version } b: setUserProfile(userId: "carol", profile: { name: "Carol", email: "carol@example.com" }) { version } }');
    // bob shows everything to everyone; carol keeps the app default (INVISIBLE): basic fields only
    const bob = await app.user('bob');
    await bob.ok('mutation { updateMyUserProfileVisibility(visibility: EVERYONE) }');
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'carol' });
    const { friends } = await alice.ok('{ friends { items { userId profile { userId name email restricted } } } }');
    expect(friends.items).toEqual([
      { userId: 'bob', profile: { userId: 'bob', name: 'Bob', email: 'bob@example.com', restricted: false } },
      { userId: 'carol', profile: { userId: 'carol', name: 'Carol', email: null, restricted: true } },
    ]);
  });

  it('checkFriends answers per id, in input order, duplicates collapsed', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob', 'carol');
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect((await alice.ok(CHECK, { ids: ['carol', 'bob', 'nobody', 'alice', 'bob'] })).checkFriends).toEqual([
      { userId: 'carol', isFriend: false },
      { userId: 'bob', isFriend: true },
      { userId: 'nobody', isFriend: false },
      { userId: 'alice', isFriend: false },
    ]);
    expect((await bob.ok(CHECK, { ids: ['alice'] })).checkFriends).toEqual([{ userId: 'alice', isFriend: true }]);
    const twenty = Array.from({ length: 20 }, (_, i) => `u${i}`);
    expect((await alice.ok(CHECK, { ids: twenty })).checkFriends).toHaveLength(20);
  });
});

describe('delete and remark', () => {
  it('deleteFriends removes the friendship on both sides and ignores ids that are not friends', async () => {
    const app = await server.newApp();
    const [alice, bob, carol] = await usersOf(app, 'alice', 'bob', 'carol', 'dave');
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'carol' });
    await app.backend.ok(ADMIN_ADD, { u: 'bob', f: 'carol' });
    expect((await alice.ok(DELETE, { ids: ['bob', 'dave', 'nobody', 'alice'] })).deleteFriends).toBe(true);
    expect(await friendIds(alice)).toEqual(['carol']);
    expect(await friendIds(bob)).toEqual(['carol']);
    expect((await carol.ok(CHECK, { ids: ['alice', 'bob'] })).checkFriends.every((c: { isFriend: boolean }) => c.isFriend)).toBe(true);
    // deleting again, or deleting only strangers, is fine
    expect((await alice.ok(DELETE, { ids: ['bob'] })).deleteFriends).toBe(true);
    // the other side can delete too
    await carol.ok(DELETE, { ids: ['alice'] });
    expect(await friendIds(alice)).toEqual([]);
    // after deletion they are strangers again: a new request follows the permission
    expect((await bob.ok(ADD, { u: 'alice' })).addFriend.outcome).toBe('APPLICATION_SENT');
  });

  it('deleteFriends takes 1 to 100 ids', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice');
    expect((await alice.fails(DELETE, { ids: [] })).extensions?.code).toBe('BAD_USER_INPUT');
    expect((await alice.fails(DELETE, { ids: Array.from({ length: 101 }, (_, i) => `u${i}`) })).extensions?.code).toBe('BAD_USER_INPUT');
    expect((await alice.ok(DELETE, { ids: Array.from({ length: 100 }, (_, i) => `u${i}`) })).deleteFriends).toBe(true);
    expect((await alice.fails(DELETE, { ids: ['bad id'] })).extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('a remark is mine alone, up to 64 characters, and null clears it', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob', 'carol');
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect((await alice.ok(REMARK, { u: 'bob', r: 'Bobby from work' })).setFriendRemark).toBe(true);
    expect((await alice.ok(FRIENDS)).friends.items[0].remark).toBe('Bobby from work');
    expect((await bob.ok(FRIENDS)).friends.items[0].remark).toBeNull();

    const sixtyFourEmoji = '😀'.repeat(64); // 128 UTF-16 units, 64 characters
    await alice.ok(REMARK, { u: 'bob', r: sixtyFourEmoji });
    expect((await alice.ok(FRIENDS)).friends.items[0].remark).toBe(sixtyFourEmoji);
    const tooLong = await alice.fails(REMARK, { u: 'bob', r: 'x'.repeat(65) });
    expect(tooLong.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['remark'] });
    expect((await alice.fails(REMARK, { u: 'bob', r: 'bad\u0001char' })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['remark'] });
    expect((await alice.ok(FRIENDS)).friends.items[0].remark).toBe(sixtyFourEmoji);

    await alice.ok(REMARK, { u: 'bob', r: null });
    expect((await alice.ok(FRIENDS)).friends.items[0].remark).toBeNull();
    // not a friend
    expect((await alice.fails(REMARK, { u: 'carol', r: 'x' })).extensions?.code).toBe('NOT_FOUND');
    // the remark goes with the friendship
    await alice.ok(REMARK, { u: 'bob', r: 'old' });
    await bob.ok(DELETE, { ids: ['alice'] });
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect((await alice.ok(FRIENDS)).friends.items[0].remark).toBeNull();
  });
});

describe('adminAddFriend', () => {
  it('befriends two existing users, idempotently', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await alice.ok(SET_PERMISSION, { p: 'NO_ONE_ALLOWED' }); // the backend is not bound by it
    expect((await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' })).adminAddFriend).toBe(true);
    expect((await app.backend.ok(ADMIN_ADD, { u: 'bob', f: 'alice' })).adminAddFriend).toBe(true);
    expect(await friendIds(alice)).toEqual(['bob']);
    expect(await friendIds(bob)).toEqual(['alice']);
  });

  it('refuses unknown users (NOT_FOUND, RC 24366) and self (BAD_USER_INPUT, RC 25473)', async () => {
    const app = await server.newApp();
    await usersOf(app, 'alice');
    expect((await app.backend.fails(ADMIN_ADD, { u: 'alice', f: 'ghost' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 24366 });
    expect((await app.backend.fails(ADMIN_ADD, { u: 'ghost', f: 'alice' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 24366 });
    expect((await app.backend.fails(ADMIN_ADD, { u: 'alice', f: 'alice' })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', rcCode: 25473 });
    expect((await app.backend.fails(ADMIN_ADD, { u: 'alice', f: 'bad id' })).extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('errors', () => {
  it('addFriend: self, existing friend, unknown user, malformed id', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice', 'bob');
    expect((await alice.fails(ADD, { u: 'alice' })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', rcCode: 25473 });
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect((await alice.fails(ADD, { u: 'bob' })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', rcCode: 25460 });
    expect((await alice.fails(ADD, { u: 'ghost' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 24366 });
    expect((await alice.fails(ADD, { u: 'no spaces' })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['userId'] });
  });

  it('extra and reason: at most 128 characters, no control characters', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    const tooLong = await bob.fails(ADD, { u: 'alice', e: 'x'.repeat(129) });
    expect(tooLong.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['extra'] });
    expect((await bob.fails(ADD, { u: 'alice', e: 'bell\u0007' })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['extra'] });
    expect(await applications(alice)).toEqual([]);
    const emoji = '👋'.repeat(128);
    await bob.ok(ADD, { u: 'alice', e: emoji });
    expect((await applications(alice))[0]!.extra).toBe(emoji);

    expect((await alice.fails(REFUSE, { u: 'bob', r: 'y'.repeat(129) })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['reason'] });
    expect((await applications(alice))[0]!.status).toBe('UNHANDLED');
    await alice.ok(REFUSE, { u: 'bob', r: 'y'.repeat(128) });
    expect((await applications(alice))[0]!.reason).toBe('y'.repeat(128));
  });

  it('accept or refuse without an application is NOT_FOUND (RC 25466)', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    for (const [query, vars] of [
      [ACCEPT, { u: 'bob' }],
      [REFUSE, { u: 'bob' }],
      [ACCEPT, { u: 'ghost' }],
    ] as const) {
      expect((await alice.fails(query, vars)).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });
    }
    // my own application cannot be accepted by me
    await alice.ok(ADD, { u: 'bob' });
    expect((await alice.fails(ACCEPT, { u: 'bob' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });
    expect(await friendIds(bob)).toEqual([]);
  });

  it('page sizes and id counts are bounded; page tokens must be ours', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice', 'a', 'b', 'c');
    for (const id of ['a', 'b', 'c']) await app.backend.ok(ADMIN_ADD, { u: 'alice', f: id });
    await (await app.user('a')).ok(ADD, { u: 'b' });
    for (const c of [0, 101, -1]) {
      expect((await alice.fails(FRIENDS, { c })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['count'] });
      expect((await alice.fails(APPLICATIONS, { c })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['count'] });
    }
    expect((await alice.ok(FRIENDS, { c: 100 })).friends.items).toHaveLength(3);
    expect((await alice.fails(CHECK, { ids: [] })).extensions?.code).toBe('BAD_USER_INPUT');
    expect((await alice.fails(CHECK, { ids: Array.from({ length: 21 }, (_, i) => `u${i}`) })).extensions?.code).toBe('BAD_USER_INPUT');

    const friendsToken = (await alice.ok(FRIENDS, { c: 1 })).friends.nextPageToken as string;
    const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
    const malformed = [
      'not a token!',
      '%%%',
      b64('not json'),
      b64([1, 2]),
      b64({ l: 'friends', t: 'yesterday', u: 'a' }),
      b64({ l: 'friends', t: '2026-01-01T00:00:00.000Z', u: 'bad id' }),
      b64({ l: 'friends', t: '2026-01-01T00:00:00.000Z' }),
      'x'.repeat(5000),
    ];
    for (const t of malformed) {
      expect((await alice.fails(FRIENDS, { t })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
      expect((await alice.fails(APPLICATIONS, { t })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
    }
    // a token of one list is not a token of the other
    expect((await alice.fails(APPLICATIONS, { t: friendsToken })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
    const a = await app.user('a');
    await (await app.user('c')).ok(ADD, { u: 'a' });
    const applicationsToken = (await a.ok(APPLICATIONS, { c: 1 })).friendApplications.nextPageToken as string;
    expect(applicationsToken).toEqual(expect.any(String));
    expect((await alice.fails(FRIENDS, { t: applicationsToken })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
  });

  it('user fields need a user token; adminAddFriend needs the app backend', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice', 'bob');
    const userOnly = [
      [MY_PERMISSION, {}],
      [FRIENDS, {}],
      [CHECK, { ids: ['bob'] }],
      [APPLICATIONS, {}],
      [SET_PERMISSION, { p: 'FREE' }],
      [ADD, { u: 'bob' }],
      [ACCEPT, { u: 'bob' }],
      [REFUSE, { u: 'bob' }],
      [DELETE, { ids: ['bob'] }],
      [REMARK, { u: 'bob', r: 'x' }],
    ] as const;
    for (const [query, vars] of userOnly) {
      expect((await app.backend.fails(query, vars)).extensions?.code).toBe('FORBIDDEN');
      expect((await server.anonymous.fails(query, vars)).extensions?.code).toBe('UNAUTHENTICATED');
      expect((await server.operator.fails(query, vars)).extensions?.code).toBe('FORBIDDEN');
    }
    expect((await alice.fails(ADMIN_ADD, { u: 'alice', f: 'bob' })).extensions?.code).toBe('FORBIDDEN');
    expect((await server.anonymous.fails(ADMIN_ADD, { u: 'alice', f: 'bob' })).extensions?.code).toBe('UNAUTHENTICATED');
    expect(await friendIds(alice)).toEqual([]);
  });
});

describe('visibility follows friendship', () => {
  const EMAIL = 'query($ids: [ID!]!) { userProfiles(userIds: $ids) { userId email restricted } }';

  it('FRIENDS_ONLY fields appear and disappear with the friendship, at once', async () => {
    const app = await server.newApp();
    const [alice, bob, carol] = await usersOf(app, 'alice', 'bob', 'carol');
    await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { email: "alice@example.com" }) { version } }');
    await alice.ok('mutation { updateMyUserProfileVisibility(visibility: FRIENDS_ONLY) }');
    const hidden = { userProfiles: [{ userId: 'alice', email: null, restricted: true }] };
    const shown = { userProfiles: [{ userId: 'alice', email: 'alice@example.com', restricted: false }] };

    expect(await bob.ok(EMAIL, { ids: ['alice'] })).toEqual(hidden);
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect(await bob.ok(EMAIL, { ids: ['alice'] })).toEqual(shown);
    expect((await bob.ok('{ friends { items { profile { email restricted } } } }')).friends.items[0].profile).toEqual({
      email: 'alice@example.com',
      restricted: false,
    });

    // an application alone shows nothing; accepting it does
    await carol.ok(ADD, { u: 'alice' });
    expect(await carol.ok(EMAIL, { ids: ['alice'] })).toEqual(hidden);
    await alice.ok(ACCEPT, { u: 'carol' });
    expect(await carol.ok(EMAIL, { ids: ['alice'] })).toEqual(shown);

    await alice.ok(DELETE, { ids: ['bob', 'carol'] });
    expect(await bob.ok(EMAIL, { ids: ['alice'] })).toEqual(hidden);
    expect(await carol.ok(EMAIL, { ids: ['alice'] })).toEqual(hidden);
  });
});

describe('tenancy', () => {
  it('the same user ids in two apps never befriend each other', async () => {
    const one = await server.newApp();
    const two = await server.newApp();
    const [alice1, bob1] = await usersOf(one, 'alice', 'bob');
    const [alice2, bob2] = await usersOf(two, 'alice', 'bob');
    await one.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect(await friendIds(alice1)).toEqual(['bob']);
    expect(await friendIds(alice2)).toEqual([]);
    expect(await friendIds(bob2)).toEqual([]);
    expect((await alice2.ok(CHECK, { ids: ['bob'] })).checkFriends).toEqual([{ userId: 'bob', isFriend: false }]);
    // applications stay in their app too
    await alice1.ok(DELETE, { ids: ['bob'] });
    await bob1.ok(ADD, { u: 'alice' });
    expect(await applications(alice2)).toEqual([]);
    expect((await alice2.fails(ACCEPT, { u: 'bob' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 25466 });
    // a user of app one does not exist in app three
    const three = await server.newApp();
    const [carol3] = await usersOf(three, 'carol');
    expect((await carol3.fails(ADD, { u: 'alice' })).extensions).toMatchObject({ code: 'NOT_FOUND', rcCode: 24366 });
    // the app backend of app two cannot reach app one's users
    expect((await two.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' })).adminAddFriend).toBe(true);
    expect(await friendIds(alice2)).toEqual(['bob']);
    expect(await friendIds(alice1)).toEqual([]);
    expect((await alice1.ok(APPLICATIONS)).friendApplications.items).toEqual([expect.objectContaining({ userId: 'bob', status: 'UNHANDLED' })]);
  });
});

describe('events on the bus', () => {
  const friendEvent = (appKey: string, receiverId: string, event: unknown) => ({ type: 'friendEvent', appKey, receiverId, event, at: now() });
  const friendshipChanged = (appKey: string, userIds: [string, string]) => ({ type: 'friendshipChanged', appKey, userIds, at: now() });

  it('FREE add: FriendAdded to both, each naming the other, then friendshipChanged', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob', 'carol');
    await alice.ok(SET_PERMISSION, { p: 'FREE' });
    // RongCloud's onFriendAdd carries the new friend's name and portraitUri (visible to anyone)
    await alice.ok('mutation { updateMyUserProfile(profile: { name: "Alice", portraitUri: "https://a.example/alice.png", email: "a@example.com" }) { version } }');
    const events = recordFriendEvents(app.appKey);
    await bob.ok(ADD, { u: 'alice' });
    expect(events).toEqual([
      friendEvent(app.appKey, 'bob', { kind: 'FriendAdded', userId: 'alice', addedAt: now(), name: 'Alice', portraitUri: 'https://a.example/alice.png' }),
      friendEvent(app.appKey, 'alice', { kind: 'FriendAdded', userId: 'bob', addedAt: now(), name: null, portraitUri: null }),
      friendshipChanged(app.appKey, ['bob', 'alice']),
    ]);
  });

  it('application sent, accepted and refused: both sides hear it from their own side', async () => {
    const app = await server.newApp();
    const [alice, bob, carol] = await usersOf(app, 'alice', 'bob', 'carol', 'dave');
    const events = recordFriendEvents(app.appKey);
    await bob.ok(ADD, { u: 'alice', e: 'hello' });
    const application = { extra: 'hello', reason: null, createdAt: now(), expiresAt: new Date(server.clock.now().getTime() + WEEK).toISOString() };
    expect(events).toEqual([
      friendEvent(app.appKey, 'bob', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'alice', direction: 'SENT', status: 'UNHANDLED', ...application },
      }),
      friendEvent(app.appKey, 'alice', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'bob', direction: 'RECEIVED', status: 'UNHANDLED', ...application },
      }),
    ]);

    events.length = 0;
    server.clock.advance(5000);
    await alice.ok(ACCEPT, { u: 'bob' });
    expect(events).toEqual([
      friendEvent(app.appKey, 'bob', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'alice', direction: 'SENT', status: 'ACCEPTED', ...application },
      }),
      friendEvent(app.appKey, 'alice', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'bob', direction: 'RECEIVED', status: 'ACCEPTED', ...application },
      }),
      friendEvent(app.appKey, 'alice', { kind: 'FriendAdded', userId: 'bob', addedAt: now(), name: null, portraitUri: null }),
      friendEvent(app.appKey, 'bob', { kind: 'FriendAdded', userId: 'alice', addedAt: now(), name: null, portraitUri: null }),
      friendshipChanged(app.appKey, ['alice', 'bob']),
    ]);

    await carol.ok(ADD, { u: 'alice' });
    events.length = 0;
    await alice.ok(REFUSE, { u: 'carol', r: 'sorry' });
    expect(events).toEqual([
      friendEvent(app.appKey, 'carol', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'alice', direction: 'SENT', status: 'REFUSED', extra: null, reason: 'sorry', createdAt: now(), expiresAt: expect.any(String) },
      }),
      friendEvent(app.appKey, 'alice', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'carol', direction: 'RECEIVED', status: 'REFUSED', extra: null, reason: 'sorry', createdAt: now(), expiresAt: expect.any(String) },
      }),
    ]);
    // dave was never involved
    expect(events.some((e) => e.type === 'friendEvent' && e.receiverId === 'dave')).toBe(false);
  });

  it('deleteFriends: the deleter gets every removed id, each former friend gets the deleter, nobody else anything', async () => {
    const app = await server.newApp();
    const [alice] = await usersOf(app, 'alice', 'bob', 'carol', 'dave');
    for (const id of ['bob', 'carol', 'dave']) await app.backend.ok(ADMIN_ADD, { u: 'alice', f: id });
    await app.backend.ok(ADMIN_ADD, { u: 'bob', f: 'dave' });
    server.clock.advance(1000);
    const events = recordFriendEvents(app.appKey);
    await alice.ok(DELETE, { ids: ['carol', 'stranger', 'bob'] });
    expect(events).toEqual([
      friendEvent(app.appKey, 'alice', { kind: 'FriendDeleted', userIds: ['carol', 'bob'], deletedAt: now() }),
      friendEvent(app.appKey, 'carol', { kind: 'FriendDeleted', userIds: ['alice'], deletedAt: now() }),
      friendEvent(app.appKey, 'bob', { kind: 'FriendDeleted', userIds: ['alice'], deletedAt: now() }),
      friendshipChanged(app.appKey, ['alice', 'carol']),
      friendshipChanged(app.appKey, ['alice', 'bob']),
    ]);
    events.length = 0;
    await alice.ok(DELETE, { ids: ['bob', 'stranger'] });
    expect(events).toEqual([]);
  });

  it('adminAddFriend announces a new friendship once; failures and no-ops announce nothing', async () => {
    const app = await server.newApp();
    const [alice, bob] = await usersOf(app, 'alice', 'bob');
    await bob.ok(ADD, { u: 'alice' });
    const createdAt = now();
    server.clock.advance(1000);
    const events = recordFriendEvents(app.appKey);
    await app.backend.ok(ADMIN_ADD, { u: 'alice', f: 'bob' });
    expect(events).toEqual([
      friendEvent(app.appKey, 'bob', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'alice', direction: 'SENT', status: 'ACCEPTED', extra: null, reason: null, createdAt, expiresAt: expect.any(String) },
      }),
      friendEvent(app.appKey, 'alice', {
        kind: 'FriendApplicationStatusChanged',
        application: { userId: 'bob', direction: 'RECEIVED', status: 'ACCEPTED', extra: null, reason: null, createdAt, expiresAt: expect.any(String) },
      }),
      friendEvent(app.appKey, 'alice', { kind: 'FriendAdded', userId: 'bob', addedAt: now(), name: null, portraitUri: null }),
      friendEvent(app.appKey, 'bob', { kind: 'FriendAdded', userId: 'alice', addedAt: now(), name: null, portraitUri: null }),
      friendshipChanged(app.appKey, ['alice', 'bob']),
    ]);
    events.length = 0;
    await app.backend.ok(ADMIN_ADD, { u: 'bob', f: 'alice' });
    await alice.fails(ADD, { u: 'bob' });
    await alice.fails(ADD, { u: 'alice' });
    await alice.fails(ACCEPT, { u: 'bob' });
    await alice.ok(REMARK, { u: 'bob', r: 'remark' });
    await alice.ok(SET_PERMISSION, { p: 'FREE' });
    await app.backend.fails(ADMIN_ADD, { u: 'alice', f: 'ghost' });
    expect(events).toEqual([]);
  });
});
