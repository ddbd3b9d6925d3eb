/**
 * Security suite, hostile input: every argument of every root field is fuzzed with fast-check,
 * generated from the schema's own types (a new operation or argument is fuzzed without a change
 * here). Strings mix lone surrogates, U+0000 and other controls, 4-byte characters, and lengths
 * exactly at and just past each limit of SPEC §2/§4; numbers reach past Int32, -0, fractions
 * and strings like "NaN"; lists run from empty to thousands; input objects get stray fields and
 * JSON values of any shape where a scalar goes. Each value is sent as variables, or written into
 * the document as a literal. Every call is made by the caller its contract section names, so it
 * gets past authentication into the resolvers. Properties: no 5xx, no INTERNAL, every error has a
 * SPEC §7 code, and a refused call wrote nothing (every row of the caller's app, the event log
 * included, and the number of apps unchanged). Subscription fields are fuzzed over graphql-ws.
 * A deterministic part checks each length limit with 4-byte characters: at the limit accepted,
 * one past it refused naming the field, nothing written.
 *
 * Seeded: a failure prints its seed and path; FUZZ_SEED and FUZZ_RUNS reproduce or widen a run.
 */
import fc from 'fast-check';
import {
  type GraphQLField,
  type GraphQLInputType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';
import type { GraphQLClient, GraphQLErrorJson } from './helpers/client.ts';
import { contractSections, operationWith, rootFields } from './helpers/contract-walk.ts';
import { appSnapshot } from './helpers/db-snapshot.ts';
import { defineKey } from './helpers/profiles.ts';
import { openRaw, type RawSocket } from './helpers/raw-ws.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201);
/** runs per root field and transport; the whole file takes about 15 s of CPU on the embedded database */
const RUNS = Number(process.env.FUZZ_RUNS ?? 16);
const SPEC_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'LIMIT_EXCEEDED', 'VERSION_CONFLICT', 'RATE_LIMITED', 'CURSOR_EXPIRED']);

/** The length limits of SPEC §2 and §4 (code points), by argument or input field name. */
const LIMITS: Record<string, number> = {
  name: 32,
  portraitUri: 128,
  email: 128,
  birthday: 32,
  location: 32,
  uniqueId: 32,
  value: 256,
  key: 32,
  extra: 128,
  reason: 128,
  remark: 64,
  userId: 64,
  friendId: 64,
  'createApp.name': 64,
};
const limitOf = (path: string) => LIMITS[path] ?? LIMITS[path.split('.').at(-1)!];

let server: TestServer;
let users: TestApp;
let backend: TestApp;
let fuzzer: GraphQLClient & { token: string };
const KNOWN_IDS = ['fuzzer', 't1', 't2', 't3', 't4', 'ghost'];

beforeAll(async () => {
  server = await startTestServer({ config: { rateLimitUserPerSecond: 0, rateLimitAppPerSecond: 0 } });
  [users, backend] = await Promise.all([server.newApp('fuzzed users'), server.newApp('fuzzed backend')]);
  for (const app of [users, backend]) {
    await defineKey(app, 'k1');
    await defineKey(app, 'k2', true, false);
    for (const id of ['t1', 't2', 't3', 't4']) await app.user(id);
  }
  fuzzer = await users.user('fuzzer');
  // some state for the user's operations to meet: a friend, an application, a subscription
  await users.backend.ok('mutation { adminAddFriend(userId: "fuzzer", friendId: "t1") }');
  await (await users.user('t2')).ok('mutation { addFriend(userId: "fuzzer", extra: "hi") { outcome } }');
  await fuzzer.ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["t3"], expiry: 3600) { failedUserIds } }');
}, 60_000);
afterAll(() => server?.stop());

// ---------------------------------------------------------------------------------------------
// Arbitraries, from the schema's types

const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const trickyUnit = fc.constantFrom('a', 'Z', '0', 'é', '😀', '𝔘', '\u0000', '\ud800', '\udfff', '\t', '\n', '\r', '\u007f', '\u0085', '\ufeff', '\u202e', '\u2028', '"', '\\', ' ', '-', '@', '.', '=', '+', '_');
/** exactly at, one under and one past a limit, in 1- to 4-byte characters, sometimes with a poisoned last character */
const aroundLimit = (limit: number) =>
  fc
    .tuple(fc.constantFrom('x', 'é', '€', '😀', '𝔘'), fc.constantFrom(limit - 1, limit, limit + 1), fc.constantFrom('', '', '\u0000', '\ud800', '😀'))
    .map(([c, n, tail]) => c.repeat(Math.max(0, n - (tail ? 1 : 0))) + tail);
const idLike = fc.oneof(fc.constantFrom(...KNOWN_IDS), fc.stringMatching(/^[A-Za-z0-9_\-=@.+]{1,66}$/));
/** a JSON value of any shape, where the schema wants something else */
const wild = fc.oneof(
  fc.constantFrom<unknown>(null, 0, -0, 1.5, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 2, 1e308, -1e308, 'NaN', 'Infinity', '-0', '1e3', '0x10', true, false, '', [], {}, [[]], { __proto__: 'x' }, { constructor: { prototype: 1 } }),
  fc.jsonValue({ maxDepth: 4 }),
  fc.integer({ min: 1, max: 40 }).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown),
);

function stringArb(path: string): fc.Arbitrary<string> {
  const limit = limitOf(path) ?? 64;
  const parts: fc.Arbitrary<string>[] = [
    aroundLimit(limit),
    fc.string({ unit: trickyUnit, maxLength: limit + 2 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: utf16Unit, maxLength: 40 }),
    fc.constantFrom('', ' ', 'null', 'undefined', '__proto__', "'; drop table users; --", '${jndi:x}', '%00', '\u0000', 'x'.repeat(70_000)),
  ];
  if (/(^|\.)(userId|friendId|userIds)$/.test(path)) parts.unshift(idLike, idLike);
  if (/(^|\.)(uniqueId|key)$/.test(path)) parts.unshift(fc.stringMatching(/^[A-Za-z0-9]{0,34}$/), fc.constantFrom('k1', 'k2', 'k3'));
  return fc.oneof(...parts);
}

const intArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 300 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -0, 1, 20, 21, 59, 60, 100, 101, 200, 201, 3600, 86_400, 2_592_000, 2_592_001, 2 ** 31 - 1, -(2 ** 31)) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.oneof(fc.double(), fc.constantFrom(2 ** 31, 2 ** 53, 1e300, 0.5, 'NaN', '1', 'Infinity')) },
);
const LIST_LENGTHS = [0, 1, 2, 20, 21, 100, 101, 200, 201, 1000, 5000];

function arbFor(type: GraphQLInputType, path: string): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return fc.oneof({ weight: 30, arbitrary: arbFor(type.ofType, path) }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: wild });
  const inner = getNullableType(type);
  let arb: fc.Arbitrary<unknown>;
  if (isListType(inner)) {
    const item = arbFor(inner.ofType, path);
    arb = fc.oneof(
      { weight: 6, arbitrary: fc.array(item, { maxLength: 6 }) },
      // long lists: one generated item among repeated valid-looking ones, at and past each count limit
      { weight: 3, arbitrary: fc.tuple(item, fc.constantFrom(...LIST_LENGTHS)).map(([x, n]) => Array.from({ length: n }, (_, i) => (i === n - 1 ? x : `id${i}`))) },
      { weight: 1, arbitrary: item }, // a single value, which GraphQL coerces to a list
      { weight: 1, arbitrary: wild },
    );
  } else if (isInputObjectType(inner)) {
    const model = Object.fromEntries(Object.values(inner.getFields()).map((f) => [f.name, arbFor(f.type, `${inner.name}.${f.name}`)]));
    arb = fc.oneof(
      { weight: 12, arbitrary: fc.record(model, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.tuple(fc.record(model, { requiredKeys: [] }), fc.constantFrom('nickname', '__proto__', 'userId', 'version'), wild).map(([o, k, v]) => ({ ...o, [k]: v })) },
      { weight: 1, arbitrary: wild },
    );
  } else if (isEnumType(inner)) {
    const names = inner.getValues().map((v) => v.name);
    arb = fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.constantFrom('bogus', names[0]!.toLowerCase(), '', 'NOT_SET ', 0) }, { weight: 1, arbitrary: wild });
  } else if (isScalarType(inner) && (inner.name === 'String' || inner.name === 'ID')) {
    arb = fc.oneof({ weight: 12, arbitrary: stringArb(path) }, { weight: 1, arbitrary: wild });
  } else if (isScalarType(inner) && inner.name === 'Int') {
    arb = fc.oneof({ weight: 12, arbitrary: intArb }, { weight: 1, arbitrary: wild });
  } else if (isScalarType(inner) && inner.name === 'Boolean') {
    arb = fc.oneof({ weight: 12, arbitrary: fc.boolean() }, { weight: 1, arbitrary: wild });
  } else {
    // any other scalar (DateTime, a JSON scalar one day): strings of every kind and any JSON value
    arb = fc.oneof(fc.constantFrom('2026-01-01T00:00:00.000Z', '2026-13-01T00:00:00Z', '0000-00-00T00:00:00.000Z'), stringArb(path), wild);
  }
  return fc.option(arb, { nil: null, freq: 10 });
}

const argsArb = (field: GraphQLField<unknown, unknown>) =>
  fc.record(Object.fromEntries(field.args.map((a) => [a.name, arbFor(a.type, `${field.name}.${a.name}`)])), {
    // required arguments are left out now and then too
    requiredKeys: [],
  });

/** A value written into the document as a GraphQL literal (an invalid one is a syntax error: fine). */
function literal(value: unknown, type: GraphQLInputType): string {
  const inner = getNullableType(type);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((v) => literal(v, isListType(inner) ? inner.ofType : inner)).join(', ')}]`;
  if (typeof value === 'object') {
    const fieldsOf = isInputObjectType(inner) ? inner.getFields() : {};
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${/^[_A-Za-z][_0-9A-Za-z]*$/.test(k) ? k : JSON.stringify(k)}: ${literal(v, fieldsOf[k]?.type ?? inner)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string') return isEnumType(inner) && /^[_A-Za-z][_0-9A-Za-z]*$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : Number.isFinite(value) ? String(value) : String(value);
  return String(value);
}

function inlineOperation(kind: string, field: GraphQLField<unknown, unknown>, values: Record<string, unknown>): string {
  const args = field.args.filter((a) => values[a.name] !== undefined).map((a) => `${a.name}: ${literal(values[a.name], a.type)}`);
  const { query } = operationWith(kind as 'query', { ...field, args: [] }, {}, 1);
  return args.length ? query.replace(`{ ${field.name} `, `{ ${field.name}(${args.join(', ')}) `) : query;
}

// ---------------------------------------------------------------------------------------------
// The properties

const sections = contractSections(['Query', 'Mutation', 'Subscription']);
/**
 * Fields this server adds beyond the contract, with the caller they are fuzzed as.
 * rotateAppSecret as the operator (whose appKey argument is fuzzed): as the backend it would
 * replace the secret the other fields are fuzzed with.
 */
const ADDITIONS: Record<string, 'user' | 'backend' | 'operator'> = { rotateAppSecret: 'operator' };
for (const [name, caller] of Object.entries(ADDITIONS)) if (!sections.has(name)) sections.set(name, caller);
const fields = rootFields(schema);
const stats = { calls: 0, refused: 0, accepted: 0, literal: 0 };

function expectCodes(errors: GraphQLErrorJson[] | undefined, what: string) {
  for (const error of errors ?? []) {
    const code = error.extensions?.code;
    expect(code, `${what}: ${JSON.stringify(error).slice(0, 300)}`).toBeTypeOf('string');
    expect(SPEC_CODES.has(code!), `${what}: ${code} ${error.message.slice(0, 200)}`).toBe(true);
  }
}

async function post(client: GraphQLClient, query: string, variables?: Record<string, unknown>) {
  const response = await fetch(client.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...(client.authorization ? { authorization: client.authorization } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body: { data?: unknown; errors?: GraphQLErrorJson[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`status ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, ...body };
}

describe('every Query and Mutation argument, fuzzed', () => {
  const httpFields = fields.filter((f) => f.kind !== 'subscription');

  it('covers every Query and Mutation field of the contract', () => {
    for (const name of contractSections(['Query', 'Mutation']).keys()) expect(httpFields.map((f) => f.field.name)).toContain(name);
    expect(httpFields.length).toBeGreaterThanOrEqual(33);
  });

  for (const [index, { kind, field }] of httpFields.entries()) {
    const section = sections.get(field.name);
    it(`${kind} ${field.name} (as its caller: ${section ?? 'none'})`, async () => {
      const caller = section === 'user' ? fuzzer : section === 'backend' ? backend.backend : section === 'operator' ? server.operator : null;
      if (!caller) throw new Error(`${field.name} is in no contract section: give it a caller here`);
      const appKey = section === 'user' ? users.appKey : backend.appKey;
      const runs = field.name === 'createApp' ? Math.ceil(RUNS / 3) : RUNS; // each created app pays a slow hash
      await fc.assert(
        fc.asyncProperty(argsArb(field), fc.boolean(), async (values, asLiteral) => {
          const before = await appSnapshot(server.app.services.db, appKey);
          const inline = asLiteral && JSON.stringify(values).length < 20_000;
          const result = inline
            ? await post(caller, inlineOperation(kind, field, values))
            : await post(caller, operationWith(kind, field, values, 1).query, values);
          stats.calls++;
          if (inline) stats.literal++;
          const what = `${field.name}(${JSON.stringify(values).slice(0, 200)})${inline ? ' as literals' : ''}`;
          expect(result.status, what).toBeLessThan(500);
          expectCodes(result.errors, what);
          if (result.errors?.length) {
            stats.refused++;
            expect(await appSnapshot(server.app.services.db, appKey), `${what} was refused (${result.errors[0]!.extensions?.code}) but wrote`).toEqual(before);
          } else stats.accepted++;
        }),
        { numRuns: runs, seed: SEED + index, endOnFailure: true },
      );
      // the caller still works: no input broke the session
      if (section === 'user') expect((await fuzzer.ok('{ myUserProfile { userId } }')).myUserProfile.userId).toBe('fuzzer');
    });
  }

  it('both sides of the rules were reached: many calls refused, many accepted, some as literals', () => {
    expect(stats.calls).toBeGreaterThan(httpFields.length * 5);
    expect(stats.refused).toBeGreaterThan(stats.calls / 5);
    expect(stats.accepted).toBeGreaterThan(stats.calls / 10);
    expect(stats.literal).toBeGreaterThan(stats.calls / 5);
  });
});

// ---------------------------------------------------------------------------------------------
// Subscription arguments over graphql-ws

describe('every Subscription argument, fuzzed over graphql-ws', () => {
  let raw: RawSocket;
  let next = 0;
  beforeAll(async () => {
    raw = await openRaw(server.url);
    await raw.init({ authToken: fuzzer.token, platform: 'WEB' });
  });
  afterAll(() => raw?.ws.close());

  /** the first answer to an operation, or null when it is still running quietly (nothing to deliver yet) */
  const first = async (id: string) => {
    const deadline = Date.now() + 250;
    for (;;) {
      const message = raw.messages.find((m) => m.id === id);
      if (message) return message;
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  for (const [index, { field }] of fields.filter((f) => f.kind === 'subscription').entries()) {
    it(`subscription ${field.name}`, async () => {
      await fc.assert(
        fc.asyncProperty(argsArb(field), async (values) => {
          const id = `f${next++}`;
          raw.send({ id, type: 'subscribe', payload: { query: operationWith('subscription', field, values, 1).query, variables: values } });
          const answer = await first(id);
          if (!answer || answer.type === 'next') raw.send({ id, type: 'complete' });
          const errors: GraphQLErrorJson[] = (answer?.type === 'error' ? answer.payload : answer?.payload?.errors) ?? [];
          expectCodes(errors, `${field.name}(${JSON.stringify(values).slice(0, 200)})`);
          expect(raw.ws.readyState, 'the socket stays open').toBe(raw.ws.OPEN);
        }),
        { numRuns: Math.ceil(RUNS / 2), seed: SEED + 1000 + index, endOnFailure: true },
      );
    });
  }

  /** waits for the operation's end: its complete or error message */
  const finished = async (id: string) => {
    const deadline = Date.now() + 5000;
    while (!raw.messages.some((m) => m.id === id && (m.type === 'complete' || m.type === 'error'))) {
      if (Date.now() > deadline) throw new Error(`no end of ${id}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return raw.messages.filter((m) => m.id === id);
  };

  // the user's queries and mutations, over the socket (another path to the same resolvers)
  for (const [index, { kind, field }] of fields.filter((f) => f.kind !== 'subscription' && sections.get(f.field.name) === 'user').entries()) {
    it(`${kind} ${field.name} over graphql-ws`, async () => {
      await fc.assert(
        fc.asyncProperty(argsArb(field), async (values) => {
          // over the socket's payload limit the socket is closed (1009): documents test that
          fc.pre(JSON.stringify(values).length < 50_000);
          const before = await appSnapshot(server.app.services.db, users.appKey);
          const id = `q${next++}`;
          raw.send({ id, type: 'subscribe', payload: { query: operationWith(kind, field, values, 1).query, variables: values } });
          const messages = await finished(id);
          const errors: GraphQLErrorJson[] = messages.flatMap((m) => (m.type === 'error' ? m.payload : (m.payload?.errors ?? [])));
          const what = `${field.name}(${JSON.stringify(values).slice(0, 200)}) over graphql-ws`;
          expectCodes(errors, what);
          if (errors.length) expect(await appSnapshot(server.app.services.db, users.appKey), `${what} was refused but wrote`).toEqual(before);
          expect(raw.ws.readyState, 'the socket stays open').toBe(raw.ws.OPEN);
        }),
        { numRuns: Math.ceil(RUNS / 2), seed: SEED + 2000 + index, endOnFailure: true },
      );
    });
  }

  // found by this suite: a variable that does not coerce ("Variable \"$t\" got invalid value …")
  // reached graphql-ws clients with no extensions.code (errors are now shaped once for both transports)
  it('a variable that does not coerce is BAD_USER_INPUT over graphql-ws too', async () => {
    for (const [query, variables] of [
      ['subscription($t: [SubscribeType!]) { subscribedUserStatusChange(types: $t) { __typename } }', { t: ['bogus'] }],
      ['query($ids: [ID!]!) { userProfiles(userIds: $ids) { userId } }', { ids: { not: 'a list' } }],
      ['mutation($e: Int!) { subscribeUserStatus(type: USER_PROFILE, userIds: ["t1"], expiry: $e) { failedUserIds } }', { e: 2 ** 31 }],
    ] as const) {
      const id = `v${next++}`;
      raw.send({ id, type: 'subscribe', payload: { query, variables } });
      const answer = await first(id);
      const errors = answer?.type === 'error' ? answer.payload : answer?.payload?.errors;
      expect(errors?.length, `${query}: ${JSON.stringify(answer)}`).toBeGreaterThan(0);
      expect(errors[0].extensions?.code, `${query}: ${JSON.stringify(errors)}`).toBe('BAD_USER_INPUT');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Each length limit, exactly, with 4-byte characters

describe('length limits with 4-byte characters: at the limit accepted, one past refused naming the field, nothing written', () => {
  const E = '😀'; // one code point, two UTF-16 units, four UTF-8 bytes
  type Slot = { op: string; caller: 'user' | 'backend' | 'operator'; limit: number; char: string; names: string[]; build: (v: string) => [string, Record<string, unknown>] };
  const PROFILE = 'mutation($p: UserProfileInput!) { updateMyUserProfile(profile: $p) { version } }';
  const ADMIN = 'mutation($p: AdminUserProfileInput!) { setUserProfile(userId: "t4", profile: $p) { version } }';
  const slots: Slot[] = [
    ...(['name', 'location', 'birthday'] as const).map((f) => ({ op: `updateMyUserProfile.${f}`, caller: 'user' as const, limit: 32, char: E, names: [f], build: (v: string) => [PROFILE, { p: { [f]: v } }] as [string, Record<string, unknown>] })),
    ...(['portraitUri', 'email'] as const).map((f) => ({ op: `updateMyUserProfile.${f}`, caller: 'user' as const, limit: 128, char: E, names: [f], build: (v: string) => [PROFILE, { p: { [f]: v } }] as [string, Record<string, unknown>] })),
    { op: 'updateMyUserProfile.userExtProfile.value', caller: 'user', limit: 256, char: E, names: ['k1'], build: (v) => [PROFILE, { p: { userExtProfile: [{ key: 'k1', value: v }] } }] },
    { op: 'setUserProfile.name', caller: 'backend', limit: 32, char: E, names: ['name'], build: (v) => [ADMIN, { p: { name: v } }] },
    { op: 'setUserProfile.uniqueId', caller: 'backend', limit: 32, char: 'U', names: ['uniqueId'], build: (v) => [ADMIN, { p: { uniqueId: v } }] },
    { op: 'setUserProfile.userExtProfile.value', caller: 'backend', limit: 256, char: E, names: ['k2'], build: (v) => [ADMIN, { p: { userExtProfile: [{ key: 'k2', value: v }] } }] },
    { op: 'addFriend.extra', caller: 'user', limit: 128, char: E, names: ['extra'], build: (v) => ['mutation($x: String) { addFriend(userId: "t4", extra: $x) { outcome } }', { x: v }] },
    { op: 'refuseFriendApplication.reason', caller: 'user', limit: 128, char: E, names: ['reason'], build: (v) => ['mutation($x: String) { refuseFriendApplication(userId: "t2", reason: $x) }', { x: v }] },
    { op: 'setFriendRemark.remark', caller: 'user', limit: 64, char: E, names: ['remark'], build: (v) => ['mutation($x: String) { setFriendRemark(userId: "t1", remark: $x) }', { x: v }] },
    { op: 'createApp.name', caller: 'operator', limit: 64, char: E, names: ['name'], build: (v) => ['mutation($x: String!) { createApp(name: $x) { appKey } }', { x: v }] },
    { op: 'defineExtProfileKey.key', caller: 'backend', limit: 32, char: 'K', names: ['key'], build: (v) => ['mutation($x: String!) { defineExtProfileKey(key: $x) { key } }', { x: v }] },
    { op: 'issueUserToken.userId', caller: 'backend', limit: 64, char: '=', names: ['userId'], build: (v) => ['mutation($x: ID!) { issueUserToken(userId: $x) { expiresAt } }', { x: v }] },
  ];

  // fresh apps: the fuzzing above removed keys, friends and applications of its own
  let app: TestApp;
  let user: GraphQLClient;
  beforeAll(async () => {
    app = await server.newApp('limits');
    await defineKey(app, 'k1');
    await defineKey(app, 'k2', true, false);
    for (const id of ['t1', 't2', 't4']) await app.user(id);
    user = await app.user('fuzzer');
    await app.backend.ok('mutation { adminAddFriend(userId: "fuzzer", friendId: "t1") }');
    await (await app.user('t2')).ok('mutation { addFriend(userId: "fuzzer") { outcome } }');
  });

  it.each(slots.map((s) => [s.op, s] as const))('%s', async (_op, slot) => {
    const client = slot.caller === 'user' ? user : slot.caller === 'backend' ? app.backend : server.operator;
    const appKey = app.appKey;
    const named = (e: GraphQLErrorJson) => [...(e.extensions?.fields ?? []), ...(e.extensions?.keys ?? [])].some((n) => slot.names.includes(n));

    const [atQuery, atVars] = slot.build(slot.char.repeat(slot.limit));
    const at = await post(client, atQuery, atVars);
    expectCodes(at.errors, `${slot.op} at the limit`);
    expect((at.errors ?? []).filter(named), `${slot.op}: ${slot.limit} × ${JSON.stringify(slot.char)} refused: ${JSON.stringify(at.errors)}`).toEqual([]);

    const before = await appSnapshot(server.app.services.db, appKey);
    const [pastQuery, pastVars] = slot.build(slot.char.repeat(slot.limit + 1));
    const past = await post(client, pastQuery, pastVars);
    expect(past.errors?.[0]?.extensions?.code, `${slot.op} one past the limit: ${JSON.stringify(past)}`).toBe('BAD_USER_INPUT');
    expect(past.errors!.some(named), `${slot.op}: the error names ${slot.names}: ${JSON.stringify(past.errors)}`).toBe(true);
    expect(await appSnapshot(server.app.services.db, appKey)).toEqual(before);
  });
});
