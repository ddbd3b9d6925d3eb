/**
 * SPEC §7 abuse limits, each at and past its boundary on a real server configured with low values:
 * request body size (declared and streamed), GraphQL document depth / aliases / tokens /
 * directives / cost, graphql-ws connections per user and operations per connection, and requests
 * per second per user and per app (RATE_LIMITED). The defaults let every legitimate operation
 * through (the client SDK's, the README's, GraphiQL's introspection).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { getIntrospectionQuery, parse, print, validate, Kind, type GraphQLError } from 'graphql';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createGraphQLHandler } from '../src/http/yoga.ts';
import { LocalRateLimiter } from '../src/ratelimit/limiter.ts';
import { RedisRateLimiter } from '../src/ratelimit/redis.ts';
import { schema } from '../src/schema/index.ts';
import type { GraphQLClient, GraphQLErrorJson } from './helpers/client.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';

const MAX_BODY = 2048;
const LIMITS = {
  maxBodyBytes: MAX_BODY,
  maxQueryDepth: 3,
  maxQueryAliases: 2,
  maxQueryDirectives: 2,
  maxQueryCost: 20,
  maxQueryTokens: 30,
  wsMaxConnectionsPerUser: 2,
  wsMaxSubscriptionsPerConnection: 3,
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ config: LIMITS });
});
afterAll(() => server?.stop());

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function expectLimit(errors: GraphQLErrorJson[] | undefined, limit: string) {
  expect(errors?.length, JSON.stringify(errors)).toBeGreaterThan(0);
  for (const e of errors!) expect(e.extensions?.code).toBe('BAD_USER_INPUT');
  expect(errors!.map((e) => e.extensions?.limit)).toContain(limit);
}

// ---------------------------------------------------------------------------------------------
// Request body size

/** A JSON request body of exactly `size` bytes (the query padded with trailing blanks). */
function bodyOf(size: number): Buffer {
  const json = JSON.stringify({ query: '{ __typename }' });
  return Buffer.from(json + ' '.repeat(size - json.length));
}

/** POSTs a body with Content-Length, or chunked (no length known up front), in pieces. */
function post(url: string, body: Buffer, chunked: boolean, pieceSize = 500): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }) },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    void (async () => {
      for (let i = 0; i < body.length && !req.destroyed; i += pieceSize) {
        if (!req.write(body.subarray(i, i + pieceSize))) await new Promise((r) => req.once('drain', r));
      }
      if (!req.destroyed) req.end();
    })().catch(() => {});
  });
}

describe('request body size (MAX_BODY_BYTES)', () => {
  it.each([
    ['with Content-Length', false],
    ['chunked, without Content-Length', true],
  ])('%s: a body of exactly the limit is served; one byte more is 413 BAD_USER_INPUT', async (_how, chunked) => {
    const at = await post(server.url, bodyOf(MAX_BODY), chunked);
    expect(at.status).toBe(200);
    expect(JSON.parse(at.text)).toEqual({ data: { __typename: 'Query' } });
    const past = await post(server.url, bodyOf(MAX_BODY + 1), chunked);
    expect(past.status).toBe(413);
    expect(JSON.parse(past.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('a chunked body streaming far past the limit is cut off (413 or a closed connection); the server goes on', async () => {
    const huge = Buffer.alloc(8 * 1024 * 1024, 0x20);
    const outcome = await post(server.url, huge, true, 64 * 1024).then(
      (r) => r.status,
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect([413, 'ECONNRESET', 'EPIPE']).toContain(outcome);
    expect((await server.anonymous.request('{ __typename }')).data).toEqual({ __typename: 'Query' });
  });

  it('/health, /ready and /metrics (on its own listener) are still served', async () => {
    for (const path of ['/health', '/ready']) expect((await fetch(server.url.replace('/graphql', path))).status, path).toBe(200);
    expect((await fetch(server.metricsUrl)).status, 'metrics').toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// GraphQL document limits (graphql-armor)

describe('GraphQL document limits', () => {
  let user: GraphQLClient & { token: string };
  beforeAll(async () => {
    const app = await server.newApp();
    user = await app.user('limits');
  });

  it('depth: 3 levels of fields are served, 4 are refused (MAX_QUERY_DEPTH)', async () => {
    const at = await user.request('{ friends { items { userId } } }');
    expect(at.errors).toBeUndefined();
    expectLimit((await user.request('{ friends { items { profile { userId } } } }')).errors, 'maxDepth');
    // fragments do not count as levels, only fields do
    expect((await user.request('{ friends { items { ...F } } } fragment F on Friend { userId }')).errors).toBeUndefined();
  });

  it('aliases: 2 are served, 3 are refused (MAX_QUERY_ALIASES; __typename aliases are free)', async () => {
    expect((await user.request('{ a: myUserProfileVisibility b: myUserProfileVisibility c: __typename d: __typename }')).errors).toBeUndefined();
    expectLimit((await user.request('{ a: myUserProfileVisibility b: myUserProfileVisibility c: myUserProfileVisibility }')).errors, 'maxAliases');
  });

  it('directives: 2 are served, 3 are refused (MAX_QUERY_DIRECTIVES)', async () => {
    expect((await user.request('{ __typename @include(if: true) __typename @skip(if: false) }')).errors).toBeUndefined();
    expectLimit((await user.request('{ __typename @include(if: true) __typename @skip(if: false) __typename @include(if: true) }')).errors, 'maxDirectives');
  });

  it('tokens: a document of 30 tokens is served, 31 are refused before it is parsed whole (MAX_QUERY_TOKENS)', async () => {
    // `{ userProfiles ( userIds : [ … ] ) { userId } }` is 12 tokens plus one per id
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `"u${i}"`).join(' ');
    const at = await user.request(`{ userProfiles(userIds: [${ids(18)}]) { userId } }`);
    expect(at.errors).toBeUndefined();
    expect(at.data).toEqual({ userProfiles: [] });
    expectLimit((await user.request(`{ userProfiles(userIds: [${ids(19)}]) { userId } }`)).errors, 'maxTokens');
  });

  it('cost: a document costing 20 is served, 21.5 is refused (MAX_QUERY_COST)', async () => {
    const fields = 'userId name portraitUri uniqueId email birthday gender location role level version updatedAt restricted'.split(' ');
    const cheap = `{ myUserProfile { ${fields.slice(0, 12).join(' ')} } }`;
    const dear = `{ myUserProfile { ${fields.join(' ')} } }`;
    const cost = (query: string) => {
      let n = -1;
      validate(schema, parse(query), [costLimitRule({ maxCost: 1e9, propagateOnRejection: false, onAccept: [(_c, d: { n: number }) => (n = d.n)] })]);
      return n;
    };
    expect([cost(cheap), cost(dear)]).toEqual([20, 21.5]);
    expect((await user.request(cheap)).errors).toBeUndefined();
    expectLimit((await user.request(dear)).errors, 'maxCost');
  });

  it('over graphql-ws the same limits answer with an error message; the socket stays open', async () => {
    const raw = await openRaw(server.url);
    await raw.init({ authToken: user.token, platform: 'WEB' });
    raw.send({ id: 'deep', type: 'subscribe', payload: { query: '{ friends { items { profile { userId } } } }' } });
    raw.send({ id: 'long', type: 'subscribe', payload: { query: `{ ${'__typename '.repeat(40)}}` } });
    await until(() => raw.messages.filter((m) => m.type === 'error').length === 2, 'two error messages');
    const errors = Object.fromEntries(raw.messages.filter((m) => m.type === 'error').map((m) => [m.id, m.payload]));
    expectLimit(errors.deep, 'maxDepth');
    expectLimit(errors.long, 'maxTokens');
    raw.send({ type: 'ping' });
    await until(() => raw.messages.some((m) => m.type === 'pong'), 'pong');
    raw.ws.close();
  });

  it('the defaults let every client SDK operation, README example and GraphiQL introspection through', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ maxQueryDepth: 10, maxQueryAliases: 15, maxQueryTokens: 2000, maxQueryDirectives: 50, maxQueryCost: 5000 });
    const yoga = createGraphQLHandler({ ...server.app.services, config: { ...server.app.services.config, ...defaults } }, { rateLimiter: new LocalRateLimiter() });
    const enveloped = yoga.getEnveloped({});
    const check = (name: string, document: string) => {
      let errors: readonly GraphQLError[];
      try {
        errors = enveloped.validate(enveloped.schema, enveloped.parse(document));
      } catch (error) {
        errors = [error as GraphQLError];
      }
      expect(errors.map((e) => e.message), name).toEqual([]);
    };

    const dir = new URL('../src/client/operations/', import.meta.url);
    const sdk = parse(readdirSync(dir).filter((f) => f.endsWith('.graphql')).map((f) => readFileSync(new URL(f, dir), 'utf8')).join('\n'));
    const fragments = sdk.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
    const operations = sdk.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    expect(operations.length).toBeGreaterThan(15);
    for (const op of operations) {
      const used = new Set<string>();
      // only the fragments this operation spreads (unused ones fail validation on their own)
      for (const m of print(op).matchAll(/\.\.\.\s*([A-Za-z_]\w*)/g)) used.add(m[1]!);
      let grown = true;
      while (grown) {
        grown = false;
        for (const f of fragments) {
          if (f.kind !== Kind.FRAGMENT_DEFINITION || !used.has(f.name.value)) continue;
          for (const m of print(f).matchAll(/\.\.\.\s*([A-Za-z_]\w*)/g)) if (!used.has(m[1]!)) (used.add(m[1]!), (grown = true));
        }
      }
      const own = fragments.filter((f) => f.kind === Kind.FRAGMENT_DEFINITION && used.has(f.name.value));
      check(op.name?.value ?? 'anonymous', print({ kind: Kind.DOCUMENT, definitions: [op, ...own] }));
    }

    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const examples = [...readme.matchAll(/"query":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]!.replace(/\\"/g, '"').replace(/"/g, '\\"')}"`) as string);
    expect(examples.length).toBeGreaterThan(5);
    for (const example of examples) check(example, example);

    check('introspection', getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }));
  });
});

// ---------------------------------------------------------------------------------------------
// graphql-ws: connections per user, operations per connection

describe('graphql-ws connection limits', () => {
  it('a user may hold 2 connections (WS_MAX_CONNECTIONS_PER_USER); a 3rd is closed with 4429; closing one frees a place', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    const first = connectLive(server.url, { authToken: alice.token, platform: 'WEB' });
    const second = connectLive(server.url, { authToken: alice.token, platform: 'IOS' });
    await first.connected;
    await second.connected;
    const third = connectLive(server.url, { authToken: alice.token, platform: 'PC' });
    const refused = await third.closed;
    expect(refused.code).toBe(4429);
    expect(refused.reason).toMatch(/too many connections/);
    // another user is not affected
    const other = connectLive(server.url, { authToken: bob.token, platform: 'WEB' });
    await other.connected;
    await first.dispose();
    const alices = () => server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey && c.info.userId === 'alice').length;
    await until(() => alices() === 1, 'first connection gone');
    const again = connectLive(server.url, { authToken: alice.token, platform: 'PC' });
    await again.connected;
    expect(alices()).toBe(2);
    await Promise.all([second.dispose(), other.dispose(), again.dispose(), third.dispose()]);
  });

  it('3 operations may run at once on a connection (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION); a 4th is refused with LIMIT_EXCEEDED, the rest keep working', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const raw = await openRaw(server.url);
    await raw.init({ authToken: alice.token, platform: 'WEB' });
    const query = 'subscription { ownUserProfileChanged { name } }';
    for (const id of ['1', '2', '3', '4']) raw.send({ id, type: 'subscribe', payload: { query } });
    await until(() => raw.messages.some((m) => m.id === '4'), 'answer to the 4th');
    const refused = raw.messages.find((m) => m.id === '4');
    expect(refused.type).toBe('error');
    expect(refused.payload[0].extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'subscriptionsPerConnection' });
    // completing one frees its place (messages are handled in order)
    raw.send({ id: '1', type: 'complete' });
    raw.send({ id: '5', type: 'subscribe', payload: { query } });
    await new Promise((r) => setTimeout(r, 200)); // let the subscriptions start listening
    await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "A" }) { version } }');
    await until(() => raw.messages.filter((m) => m.type === 'next').length === 3, 'three events');
    expect(raw.messages.filter((m) => m.type === 'next').map((m) => m.id).sort()).toEqual(['2', '3', '5']);
    expect(raw.messages.filter((m) => m.type === 'error').map((m) => m.id)).toEqual(['4']);
    raw.ws.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Requests per second

describe('requests per second (token buckets)', () => {
  let limited: TestServer;
  beforeAll(async () => {
    // a rate this low refills nothing while the test runs: the burst is the whole allowance
    limited = await startTestServer({ config: { rateLimitUserPerSecond: 0.001, rateLimitUserBurst: 5, rateLimitAppPerSecond: 0.001, rateLimitAppBurst: 12 } });
  });
  afterAll(() => limited?.stop());

  const ME = '{ myUserProfile { userId } }';

  async function expectRateLimited(request: Promise<{ status: number; errors?: GraphQLErrorJson[]; data?: unknown }>, limit: 'user' | 'app') {
    const result = await request;
    expect(result.status).toBe(429);
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit });
    expect(result.errors![0]!.extensions!.retryAfterMs).toBeGreaterThan(0);
    expect(result.errors![0]!.extensions).not.toHaveProperty('http');
  }

  it('a user gets its burst (RATE_LIMIT_USER_BURST), then 429 RATE_LIMITED with Retry-After; other users go on', async () => {
    const app = await limited.newApp(); // app bucket: 12
    const alice = await app.user('alice'); // 1
    for (let i = 0; i < 5; i++) expect((await alice.request(ME)).errors, `request ${i + 1}`).toBeUndefined(); // 6
    await expectRateLimited(alice.request(ME), 'user');
    const response = await fetch(limited.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` },
      body: JSON.stringify({ query: ME }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const bob = await app.user('bob'); // 7: a refused request took nothing from the app's bucket
    expect((await bob.request(ME)).errors).toBeUndefined(); // 8
  });

  it('one bucket per app for its backend and all its users together (RATE_LIMIT_APP_BURST); other apps go on', async () => {
    const app = await limited.newApp();
    const alice = await app.user('alice'); // 1
    for (let i = 0; i < 4; i++) expect((await alice.request(ME)).errors).toBeUndefined(); // 5
    for (let i = 0; i < 7; i++) expect((await app.backend.request('{ appSettings { appKey } }')).errors).toBeUndefined(); // 12
    await expectRateLimited(app.backend.request('{ appSettings { appKey } }'), 'app');
    await expectRateLimited(alice.request(ME), 'app'); // alice has a token left, her app none
    const other = await limited.newApp();
    expect((await other.backend.request('{ appSettings { appKey } }')).errors).toBeUndefined();
    // the operator and unauthenticated requests draw from no bucket
    expect((await limited.anonymous.request(ME)).errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });

  it('graphql-ws operations draw from the same user bucket; a refused one gets RATE_LIMITED and the socket stays', async () => {
    const app = await limited.newApp();
    const alice = await app.user('alice');
    const live = connectLive(limited.url, { authToken: alice.token, platform: 'WEB' });
    await live.connected;
    for (let i = 0; i < 3; i++) expect((await live.execute(ME)).errors).toBeUndefined();
    expect((await alice.request(ME)).errors).toBeUndefined();
    expect((await live.execute(ME)).errors).toBeUndefined(); // 5
    const refused = await live.execute(ME);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'user' });
    expect(refused.errors?.[0]?.extensions).not.toHaveProperty('http');
    const sub = live.subscribe('subscription { ownUserProfileChanged { name } }');
    await until(() => sub.errors.length > 0, 'the subscription is refused');
    expect(JSON.stringify(sub.errors)).toContain('RATE_LIMITED');
    await expectRateLimited(alice.request(ME), 'user');
    await live.dispose();
  });
});

describe('the token bucket itself (LocalRateLimiter on a controlled clock)', () => {
  it('gives the burst, refills at the rate, never above the burst, and takes from all buckets or none', async () => {
    let now = 0;
    const limiter = new LocalRateLimiter(() => now);
    const user = { key: 'user:a:u', perSecond: 2, burst: 3 };
    const app = { key: 'app:a', perSecond: 100, burst: 4 };
    for (let i = 0; i < 3; i++) expect(limiter.takeNow([user, app])).toBeNull();
    expect(limiter.takeNow([user, app])).toEqual({ key: 'user:a:u', retryAfterMs: 500 });
    // the refusal took nothing from the app bucket: one token is left there
    expect(limiter.takeNow([app])).toBeNull();
    expect(limiter.takeNow([app])?.key).toBe('app:a');
    now = 250;
    expect(limiter.takeNow([user])?.retryAfterMs).toBe(250);
    now = 500;
    expect(limiter.takeNow([user])).toBeNull();
    now = 1_000_000; // idle for long: back to the burst, not more
    for (let i = 0; i < 3; i++) expect(limiter.takeNow([user])).toBeNull();
    expect(limiter.takeNow([user])).not.toBeNull();
    await limiter.close();
  });
});

describe.skipIf(!process.env.REDIS_URL)('the token bucket in Redis (needs REDIS_URL)', () => {
  it('two limiters (two instances) draw from one bucket', async () => {
    const log = server.app.services.log;
    const a = new RedisRateLimiter(process.env.REDIS_URL!, log);
    const b = new RedisRateLimiter(process.env.REDIS_URL!, log);
    const bucket = { key: `test:${Date.now()}:${Math.random()}`, perSecond: 0.001, burst: 5 };
    const app = { key: `${bucket.key}:app`, perSecond: 0.001, burst: 100 };
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await (i % 2 ? b : a).take([bucket, app]));
    expect(results.slice(0, 5)).toEqual([null, null, null, null, null]);
    expect(results[5]).toMatchObject({ key: bucket.key });
    expect(results[5]!.retryAfterMs).toBeGreaterThan(0);
    // all or none: the refusal took nothing from the other bucket (95 left of 100)
    let taken = 0;
    while ((await a.take([app])) === null) taken++;
    expect(taken).toBe(95);
    await a.close();
    await b.close();
  });
});
