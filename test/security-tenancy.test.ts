/**
 * Security suite, tenant isolation (SPEC §1 "nothing of one app is ever visible to another"),
 * walked over every root field of the schema (so a new operation is walked without a change
 * here; the contract's fields are checked to be among them): every Query, Mutation and
 * Subscription field is called by app B's user (who has the same user id as app A's richest
 * user), by app B's backend, and with A's appKey and B's secret, with arguments that aim at app
 * A's data (A's user ids, uniqueId, ext key, page tokens and event cursor). Nothing of A comes
 * back — A's data carries a marker string and was written at a marker time (every timestamp of A
 * ends in .333Z, every one of B in .000Z) — nothing of A changes (every row of every app table,
 * the event log included, compared after each call), and every error has a SPEC §7 code, never
 * INTERNAL. Then B's user streams every Subscription field while A's users change profiles,
 * friends, subscriptions and presence: B receives nothing of it, while A's own user (the
 * control) receives all of it.
 */
import type { GraphQLField, GraphQLInputType } from 'graphql';
import { getNullableType, isInputObjectType, isListType, isNonNullType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';
import { GraphQLClient, basic, type GraphQLErrorJson } from './helpers/client.ts';
import { type CallerKind, type RootKind, contractSections, operationWith, placeholder, rootFields } from './helpers/contract-walk.ts';
import { appSnapshot } from './helpers/db-snapshot.ts';
import { defineKey, setProfile } from './helpers/profiles.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { connectLive, type LiveClient } from './helpers/ws.ts';

const MARK = 'AONLY7f3c';
/** A's uniqueId is handed to B as an argument (B may hold the same one): no marker in it */
const A_UNIQUE = 'AliceOfAppA';
const A_KEY = 'aSecretKey';
const A_TIME = Date.parse('2026-01-01T03:33:33.333Z');
const B_TIME = Date.parse('2026-01-01T05:00:00.000Z');
/** A's markers in an answer to B: A's own strings, its appKey, any timestamp A wrote */
const leaks = (text: string, a: TestApp) => [MARK, a.appKey, '.333Z'].filter((m) => text.includes(m));

const SPEC_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'LIMIT_EXCEEDED', 'VERSION_CONFLICT', 'RATE_LIMITED', 'CURSOR_EXPIRED']);

let server: TestServer;
let a: TestApp;
let b: TestApp;
let aliceA: Awaited<ReturnType<TestApp['user']>>;
let aliceB: Awaited<ReturnType<TestApp['user']>>;
const liveA: LiveClient[] = [];
/** A's page tokens and a cursor of A's alice: handed to B as arguments */
let friendsToken: string;
let applicationsToken: string;
let cursorA: string;

beforeAll(async () => {
  // the full selections of the walk cost more than a client's usual query
  server = await startTestServer({ config: { rateLimitUserPerSecond: 0, rateLimitAppPerSecond: 0, maxQueryCost: 100_000 } });
  server.clock.set(A_TIME);
  a = await server.newApp('A');
  await defineKey(a, A_KEY);
  await defineKey(a, 'aHidden', false, false);
  for (const user of ['alice', 'bob', 'carol', 'dave', 'erin']) await a.user(user);
  aliceA = await a.user('alice');
  await setProfile(a, 'alice', {
    name: `${MARK} alice`, uniqueId: A_UNIQUE, email: `${MARK}@a.example`, birthday: MARK, location: MARK, role: 7, level: 7,
    userExtProfile: [{ key: A_KEY, value: MARK }, { key: 'aHidden', value: MARK }],
  });
  for (const user of ['bob', 'carol', 'dave', 'erin']) await setProfile(a, user, { name: `${MARK} ${user}`, email: `${MARK}@${user}` });
  await a.backend.ok('mutation { adminAddFriend(userId: "alice", friendId: "bob") }');
  await a.backend.ok('mutation { adminAddFriend(userId: "alice", friendId: "carol") }');
  await aliceA.ok(`mutation { setFriendRemark(userId: "bob", remark: "${MARK} remark") }`);
  for (const from of ['dave', 'erin']) await (await a.user(from)).ok(`mutation { addFriend(userId: "alice", extra: "${MARK} extra") { outcome } }`);
  for (const type of ['ONLINE_STATUS', 'USER_PROFILE']) await aliceA.ok(`mutation { subscribeUserStatus(type: ${type}, userIds: ["bob", "carol", "dave"], expiry: 7777) { failedUserIds } }`);
  await a.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE, defaultFriendAddPermission: FREE) { appKey } }');
  friendsToken = (await aliceA.ok('{ friends(count: 1) { nextPageToken } }')).friends.nextPageToken;
  applicationsToken = (await aliceA.ok('{ friendApplications(count: 1) { nextPageToken } }')).friendApplications.nextPageToken;
  expect(friendsToken).toBeTypeOf('string');
  expect(applicationsToken).toBeTypeOf('string');
  // A's bob stays online through the walk (presence rows of A); A's alice takes a cursor
  const bobLive = connectLive(server.url, { authToken: (await a.user('bob')).token, platform: 'IOS' });
  await bobLive.connected;
  liveA.push(bobLive);
  const aliceLive = connectLive(server.url, { authToken: aliceA.token, platform: 'WEB' });
  await aliceLive.connected;
  const stream = aliceLive.subscribe<{ userEvents: { cursor: string; event: { __typename: string } } }>('subscription { userEvents { cursor event { __typename } } }');
  await stream.waitFor(1, 10_000);
  while (stream.events.at(-1)!.userEvents.event.__typename !== 'UserEventsCaughtUp') await stream.waitFor(stream.events.length + 1, 10_000);
  cursorA = stream.events.at(-1)!.userEvents.cursor;
  await aliceLive.dispose();

  server.clock.set(B_TIME);
  // A's subscriptions are due for their expiry warnings by now (SPEC §11): sent before the walk, so
  // that the background sweep does not change A's state between its snapshots
  await server.app.realtime.expiryWarnings.sweepNow();
  b = await server.newApp('B');
  aliceB = await b.user('alice');
}, 60_000);
afterAll(async () => {
  for (const live of liveA) await live.dispose();
  await server?.stop();
});

/** Arguments aimed at app A: its user ids, uniqueId, ext key, page tokens and cursor. */
const AIMED: Record<string, () => unknown> = {
  userId: () => 'bob',
  friendId: () => 'carol',
  userIds: () => ['bob', 'carol', 'dave'],
  uniqueId: () => A_UNIQUE,
  key: () => A_KEY,
  after: () => cursorA,
  types: () => null,
  type: () => 'USER_PROFILE',
  direction: () => null,
  status: () => null,
  expectedVersion: () => null,
  expiresInSeconds: () => 3600,
  expiry: () => 3600,
  count: () => 1,
  pageSize: () => 20,
  startIndex: () => 0,
  page: () => 1,
  size: () => 100,
  name: () => 'written by B',
  extra: () => 'walk',
  reason: () => 'walk',
  remark: () => 'walk',
  // the page tokens below are of the default (oldest first) order
  newestFirst: () => false,
};
const PAGE_TOKENS: Record<string, () => string> = { friends: () => friendsToken, friendApplications: () => applicationsToken };

function aimedValue(fieldName: string, name: string, type: GraphQLInputType): unknown {
  if (name === 'pageToken') return (PAGE_TOKENS[fieldName] ?? (() => friendsToken))();
  if (name in AIMED) return AIMED[name]!();
  const inner = getNullableType(type);
  if (isInputObjectType(inner)) {
    const value: Record<string, unknown> = {};
    for (const f of Object.values(inner.getFields())) {
      if (f.name in AIMED) value[f.name] = AIMED[f.name]!();
      else if (isNonNullType(f.type)) value[f.name] = aimedValue(fieldName, f.name, f.type);
    }
    return value;
  }
  if (isListType(inner)) return [aimedValue(fieldName, name, inner.ofType)];
  return placeholder(type);
}

const aimedArgs = (field: GraphQLField<unknown, unknown>) => Object.fromEntries(field.args.map((arg) => [arg.name, aimedValue(field.name, arg.name, arg.type)]));

type Outcome = { caller: string; field: string; codes: string[]; ok: boolean };
const outcomes: Outcome[] = [];
const fields = rootFields(schema);
const sections = contractSections(['Query', 'Mutation', 'Subscription']);

function checkAnswer(what: string, result: { errors?: GraphQLErrorJson[]; status?: number }, text: string): string[] {
  if (result.status !== undefined) expect(result.status, what).toBeLessThan(500);
  expect(leaks(text, a), `${what} returned app A's data: ${text.slice(0, 400)}`).toEqual([]);
  const codes = (result.errors ?? []).map((e) => String(e.extensions?.code));
  for (const code of codes) expect(SPEC_CODES.has(code), `${what}: code ${code} (${JSON.stringify(result.errors)})`).toBe(true);
  return codes;
}

describe('every root field, called from app B at app A', () => {
  it('walks every Query, Mutation and Subscription field of the contract (and any beyond it)', () => {
    const names = fields.map((f) => f.field.name);
    for (const field of sections.keys()) expect(names, `contract field ${field}`).toContain(field);
    expect(fields.filter((f) => f.kind === 'subscription').length).toBeGreaterThanOrEqual(5);
    expect(fields.length).toBeGreaterThanOrEqual(37);
  });

  const httpCallers: { name: string; kind: CallerKind | 'bad'; client: () => GraphQLClient }[] = [
    { name: "B's user alice (same id as A's)", kind: 'user', client: () => aliceB },
    { name: "B's backend", kind: 'backend', client: () => b.backend },
    { name: "A's appKey with B's secret", kind: 'bad', client: () => new GraphQLClient(server.url, basic(a.appKey, b.appSecret)) },
    { name: "B's appKey with A's secret", kind: 'bad', client: () => new GraphQLClient(server.url, basic(b.appKey, a.appSecret)) },
  ];

  for (const caller of httpCallers) {
    it(`over HTTP as ${caller.name}: nothing of A returned or changed, only SPEC codes`, async () => {
      const before = await appSnapshot(server.app.services.db, a.appKey);
      for (const { kind, field } of fields) {
        const { query, variables } = operationWith(kind, field, aimedArgs(field), 5);
        const result = await caller.client().request(query, variables);
        const what = `${field.name} as ${caller.name}`;
        const codes = checkAnswer(what, result, JSON.stringify(result));
        outcomes.push({ caller: caller.name, field: field.name, codes, ok: codes.length === 0 });
        if (caller.kind === 'bad') expect(codes, what).toEqual(['UNAUTHENTICATED']);
        else if (kind === 'subscription') expect(codes.length, `${what}: a subscription over HTTP`).toBeGreaterThan(0);
        else if (sections.get(field.name) && sections.get(field.name) !== caller.kind) expect(codes, what).toEqual(['FORBIDDEN']);
        else for (const code of codes) expect(['NOT_FOUND', 'FORBIDDEN', 'BAD_USER_INPUT'], `${what}: ${JSON.stringify(result.errors)}`).toContain(code);
        expect(await appSnapshot(server.app.services.db, a.appKey), `${what} changed app A`).toEqual(before);
      }
      // B's own user is still the caller it was (revocations and cleans of B hit B's other ids)
      aliceB = await b.user('alice');
    });
  }

  it("over graphql-ws as B's user alice: every Query and Mutation field", async () => {
    const before = await appSnapshot(server.app.services.db, a.appKey);
    const live = connectLive(server.url, { authToken: aliceB.token, platform: 'WEB', deviceId: 'b-walk' });
    await live.connected;
    for (const { kind, field } of fields) {
      if (kind === 'subscription') continue;
      const { query, variables } = operationWith(kind, field, aimedArgs(field), 5);
      const result = await live.execute(query, variables);
      const what = `${field.name} over graphql-ws as B's alice`;
      const codes = checkAnswer(what, result, JSON.stringify(result));
      outcomes.push({ caller: "B's user alice over graphql-ws", field: field.name, codes, ok: codes.length === 0 });
      if (sections.get(field.name) && sections.get(field.name) !== 'user') expect(codes, what).toEqual(['FORBIDDEN']);
      else for (const code of codes) expect(['NOT_FOUND', 'FORBIDDEN', 'BAD_USER_INPUT'], `${what}: ${JSON.stringify(result.errors)}`).toContain(code);
      expect(await appSnapshot(server.app.services.db, a.appKey), `${what} changed app A`).toEqual(before);
    }
    await live.dispose();
    aliceB = await b.user('alice');
  });

  it('the walk reached the resolvers: most calls of the right caller succeeded (in B), the rest were refused by B-side rules', () => {
    const own = outcomes.filter((o) => (o.caller.startsWith("B's user") && sections.get(o.field) === 'user') || (o.caller === "B's backend" && sections.get(o.field) === 'backend'));
    const succeeded = own.filter((o) => o.ok);
    expect(own.length).toBeGreaterThan(40);
    expect(succeeded.length / own.length).toBeGreaterThan(0.6);
    // a page token or cursor of app A is no token of B's alice
    for (const field of ['friends', 'friendApplications']) {
      const o = outcomes.find((x) => x.field === field && x.caller.startsWith("B's user alice ("))!;
      expect(o.ok || o.codes.includes('BAD_USER_INPUT'), `${field}: ${o.codes}`).toBe(true);
    }
  });
});

describe('page tokens across users and apps', () => {
  it("a page token of A's alice is refused for B's alice (and for A's bob) with BAD_USER_INPUT naming pageToken", async () => {
    const bobA = await a.user('bob');
    for (const [client, query] of [
      [aliceB, `{ friends(pageToken: "${friendsToken}", count: 1) { nextPageToken } }`],
      [aliceB, `{ friendApplications(pageToken: "${applicationsToken}", count: 1) { nextPageToken } }`],
      [bobA, `{ friends(pageToken: "${friendsToken}", count: 1) { nextPageToken } }`],
    ] as const) {
      const error = await client.fails(query);
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
    }
  });
});

describe('the control: the same walk as A\'s own callers', () => {
  it("finds A's markers in what A's alice and A's backend read (so the scan above would see a leak)", async () => {
    const found = new Set<string>();
    for (const [kind, client] of [['user', aliceA], ['backend', a.backend]] as const) {
      for (const { kind: op, field } of fields) {
        if (op !== 'query' || sections.get(field.name) !== kind) continue;
        const { query, variables } = operationWith(op, field, aimedArgs(field), 5);
        if (leaks(JSON.stringify(await client.request(query, variables)), a).length) found.add(field.name);
      }
    }
    for (const field of ['myUserProfile', 'userProfiles', 'searchUserProfileByUniqueId', 'friends', 'friendApplications', 'adminUserProfiles', 'allUserProfiles', 'appSettings']) {
      expect([...found], field).toContain(field);
    }
  });
});

describe("B's user streams every Subscription field while app A changes", () => {
  it('receives nothing of A, while A\'s alice (the control) receives every change', async () => {
    const subscriptionFields = fields.filter((f) => f.kind === 'subscription');
    const open = (client: LiveClient, aimed: boolean) =>
      subscriptionFields.map(({ field }) => {
        const variables = aimed ? aimedArgs(field) : Object.fromEntries(field.args.map((arg) => [arg.name, null]));
        const { query } = operationWith('subscription', field, variables, 5);
        return { field: field.name, sub: client.subscribe(query, variables) };
      });
    const bLive = connectLive(server.url, { authToken: aliceB.token, platform: 'WEB', deviceId: 'b-stream' });
    const aLive = connectLive(server.url, { authToken: aliceA.token, platform: 'WEB', deviceId: 'a-control' });
    await Promise.all([bLive.connected, aLive.connected]);
    liveA.push(aLive);
    const bAimed = open(bLive, true);
    const bPlain = open(bLive, false);
    const aControl = open(aLive, false);
    await new Promise((r) => setTimeout(r, 500)); // syncs and snapshots delivered
    // a cursor of A's alice is not one of B's alice (SPEC §9)
    const aimedEvents = bAimed.find((s) => s.field === 'userEvents')!;
    expect(JSON.stringify(aimedEvents.sub.errors)).toContain('BAD_USER_INPUT');
    const bCounts = [...bAimed, ...bPlain].map((s) => s.sub.events.length);
    const aCounts = aControl.map((s) => s.sub.events.length);

    // changes in A that A's alice hears of: her profile (backend), a friend, a subscription made
    // on another device, a friend's profile, a subscribed user coming online
    await a.backend.ok(`mutation { setUserProfile(userId: "alice", profile: { location: "${MARK} moved" }) { version } }`);
    await a.backend.ok('mutation { adminAddFriend(userId: "alice", friendId: "dave") }');
    await aliceA.ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["erin"], expiry: 3600) { failedUserIds } }');
    await (await a.user('bob')).ok(`mutation { updateMyUserProfile(profile: { name: "${MARK} bob 2" }) { version } }`);
    const carolLive = connectLive(server.url, { authToken: (await a.user('carol')).token, platform: 'ANDROID' });
    await carolLive.connected;
    liveA.push(carolLive);

    for (const [i, s] of aControl.entries()) await s.sub.waitFor(aCounts[i]! + 1, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    const bSubs = [...bAimed, ...bPlain];
    bSubs.forEach((s, i) => expect(s.sub.events.length, `${s.field} on B's socket received A's change: ${JSON.stringify(s.sub.events.slice(bCounts[i]))}`).toBe(bCounts[i]));
    const everything = JSON.stringify(bSubs.map((s) => [s.sub.events, s.sub.errors]));
    expect(leaks(everything, a), everything.slice(0, 400)).toEqual([]);
    for (const s of bSubs.filter((x) => x.sub.errors.length)) {
      for (const code of JSON.stringify(s.sub.errors).match(/"code":"[A-Z_]+"/g) ?? []) expect(SPEC_CODES.has(code.slice(8, -1)), code).toBe(true);
    }
    await bLive.dispose();
  });
});
