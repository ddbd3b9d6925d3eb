/**
 * Security: CSRF prevention for browser requests, CORS from CORS_ORIGINS (none by default),
 * introspection (and field suggestions) off when INTROSPECTION=false, the caller walk over the
 * transports auth.test.ts does not cover (every Query/Mutation field over graphql-ws, every
 * Subscription field over HTTP and graphql-ws), secrets never logged, constant-time comparisons.
 */
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomToken, safeEqual } from '../src/auth/secrets.ts';
import { schema } from '../src/schema/index.ts';
import { type CallerKind, contractSections, operationFor } from './helpers/contract-walk.ts';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { OPERATOR_TOKEN, startTestServer, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

async function until(check: () => boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const QUERY = JSON.stringify({ query: '{ __typename }' });
const MUTATION = 'mutation { updateMyUserProfile(profile: { name: "csrf" }) { name } }';

// ---------------------------------------------------------------------------------------------
// CSRF

describe('CSRF prevention', () => {
  let token: string;
  beforeAll(async () => {
    token = (await (await server.newApp()).user('victim')).token;
  });
  const postAs = (headers: Record<string, string>, body: BodyInit) =>
    fetch(server.url, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...headers }, body });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }, JSON.stringify({ query: MUTATION })],
    ['text/plain;charset=UTF-8', { 'content-type': 'text/plain;charset=UTF-8' }, JSON.stringify({ query: MUTATION })],
    ['application/x-www-form-urlencoded', { 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ query: MUTATION }).toString()],
    ['multipart/form-data', { 'content-type': 'multipart/form-data; boundary=x' }, `--x\r\ncontent-disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: MUTATION })}\r\n--x--\r\n`],
  ])('a POST with the form content type %s is refused with 403 FORBIDDEN before it runs', async (_what, headers, body) => {
    const response = await postAs(headers, body);
    expect(response.status).toBe(403);
    const json = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(json.errors[0]!.extensions.code).toBe('FORBIDDEN');
    expect(json.errors[0]!.message).toMatch(/CSRF/);
  });

  it('a POST without a content type is refused too', async () => {
    const response = await postAs({}, new Uint8Array(Buffer.from(JSON.stringify({ query: MUTATION }))));
    expect(response.status).toBe(403);
  });

  it('nothing of those refused requests was written', async () => {
    const me = await new GraphQLClient(server.url, bearer(token)).ok('{ myUserProfile { name } }');
    expect(me.myUserProfile.name).toBeNull();
  });

  it('a JSON POST, or a form POST with a CSRF header (graphql-require-preflight, x-graphql-yoga-csrf, apollo-require-preflight), is served', async () => {
    expect((await postAs({ 'content-type': 'application/json' }, QUERY)).status).toBe(200);
    for (const header of ['graphql-require-preflight', 'x-graphql-yoga-csrf', 'apollo-require-preflight', 'x-apollo-operation-name']) {
      const response = await postAs({ 'content-type': 'application/x-www-form-urlencoded', [header]: '1' }, new URLSearchParams({ query: '{ __typename }' }).toString());
      expect(response.status, header).toBe(200);
    }
  });

  it('GET runs queries for non-browser clients and same-site pages; a cross-site no-cors GET (an <img>, a <script>) is refused', async () => {
    const url = `${server.url}?query=${encodeURIComponent('{ __typename }')}`;
    // node's fetch sets Sec-Fetch-Mode itself: these go out as a browser would send them
    const get = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => httpRequest(url, { headers }, (res) => (res.resume(), resolve(res.statusCode!))).on('error', reject).end());
    expect(await get({})).toBe(200);
    expect(await get({ 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' })).toBe(200);
    expect(await get({ 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors' })).toBe(200);
    expect(await get({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' })).toBe(200);
    expect(await get({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' })).toBe(403);
    expect(await get({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' })).toBe(403);
    expect(await get({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'graphql-require-preflight': '1' })).toBe(200);
    // a mutation is never run over GET
    expect((await fetch(`${server.url}?query=${encodeURIComponent(MUTATION)}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(405);
  });

  it('the GraphiQL page still opens, from a link on another site too', async () => {
    const page = await fetch(server.url, { headers: { accept: 'text/html', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('renderYogaGraphiQL(');
  });
});

// ---------------------------------------------------------------------------------------------
// CORS

function preflight(url: string, origin: string) {
  return fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
}

describe('CORS', () => {
  it('by default there are no CORS headers for any origin: browsers keep other origins out', async () => {
    for (const origin of ['https://evil.example', 'null', new URL(server.url).origin]) {
      const pre = await preflight(server.url, origin);
      expect(pre.headers.get('access-control-allow-origin'), origin).toBeNull();
      const post = await fetch(server.url, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: QUERY });
      expect(post.status).toBe(200);
      expect(post.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(post.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  describe('CORS_ORIGINS=https://app.example.com,https://admin.example.com', () => {
    let cors: TestServer;
    beforeAll(async () => {
      cors = await startTestServer({ config: { corsOrigins: ['https://app.example.com', 'https://admin.example.com'] } });
    });
    afterAll(() => cors?.stop());

    it('a listed origin passes the preflight: its own origin, POST, the Authorization and Content-Type headers, no credentials', async () => {
      for (const origin of ['https://app.example.com', 'https://admin.example.com']) {
        const pre = await preflight(cors.url, origin);
        expect(pre.status).toBe(204);
        expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
        expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
        const allowed = pre.headers.get('access-control-allow-headers')!.split(/,\s*/);
        expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-device-id']));
        expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
        expect(pre.headers.get('vary')).toContain('Origin');
      }
      const post = await fetch(cors.url, { method: 'POST', headers: { origin: 'https://app.example.com', 'content-type': 'application/json' }, body: QUERY });
      expect(post.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(post.headers.get('access-control-expose-headers')).toContain('x-request-id');
    });

    it('any other origin, the opaque "null" one and look-alikes get no CORS headers', async () => {
      for (const origin of ['https://evil.example', 'null', 'http://app.example.com', 'https://app.example.com.evil.example', 'https://app.example.com:8443']) {
        const pre = await preflight(cors.url, origin);
        expect(pre.headers.get('access-control-allow-origin'), origin).toBeNull();
        const post = await fetch(cors.url, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: QUERY });
        expect(post.headers.get('access-control-allow-origin'), origin).toBeNull();
      }
    });
  });

  it('CORS_ORIGINS is parsed and checked at start', async () => {
    const { loadConfig } = await import('../src/config.ts');
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: ' https://a.example , https://b.example:8080/ ' }).corsOrigins).toEqual(['https://a.example', 'https://b.example:8080']);
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://a.example/path' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: 'a.example' })).toThrow(/CORS_ORIGINS/);
  });
});

// ---------------------------------------------------------------------------------------------
// Introspection

describe('introspection', () => {
  it('is on by default, with field suggestions', async () => {
    expect((await server.anonymous.request('{ __schema { queryType { name } } }')).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    expect((await server.anonymous.request('{ myUserProfil { userId } }')).errors![0]!.message).toMatch(/Did you mean/);
  });

  describe('INTROSPECTION=false (and GRAPHIQL=false), as for production', () => {
    let production: TestServer;
    beforeAll(async () => {
      production = await startTestServer({ config: { introspection: false, graphiql: false } });
    });
    afterAll(() => production?.stop());

    it('__schema and __type are refused with BAD_USER_INPUT over HTTP; __typename still works', async () => {
      for (const query of ['{ __schema { types { name } } }', '{ __type(name: "UserProfile") { fields { name } } }', 'query { ... on Query { __schema { queryType { name } } } }']) {
        const result = await production.anonymous.request(query);
        expect(result.data ?? null, query).toBeNull();
        expect(result.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
        expect(result.errors![0]!.message).toMatch(/introspection/i);
      }
      expect((await production.anonymous.request('{ __typename }')).data).toEqual({ __typename: 'Query' });
    });

    it('... and over graphql-ws', async () => {
      const user = await (await production.newApp()).user('alice');
      const raw = await openRaw(production.url);
      await raw.init({ authToken: user.token, platform: 'WEB' });
      raw.send({ id: 'i', type: 'subscribe', payload: { query: '{ __schema { types { name } } }' } });
      await until(() => raw.messages.some((m) => m.id === 'i'), 'an answer');
      const answer = raw.messages.find((m) => m.id === 'i');
      expect(answer.type).toBe('error');
      expect(answer.payload[0].extensions.code).toBe('BAD_USER_INPUT');
      raw.ws.close();
    });

    it('errors do not suggest field names ("Did you mean …") that would spell out the schema', async () => {
      const result = await production.anonymous.request('{ myUserProfil { userId } }');
      expect(result.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
      expect(result.errors![0]!.message).not.toMatch(/Did you mean|myUserProfile/);
    });

    it('no GraphiQL page', async () => {
      const page = await fetch(production.url, { headers: { accept: 'text/html' } });
      expect(await page.text()).not.toContain('renderYogaGraphiQL');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Every root field × every caller, over the transports auth.test.ts does not walk

const DENIED = new Set(['FORBIDDEN', 'UNAUTHENTICATED']);

describe('every root field × every caller, beyond HTTP queries and mutations', () => {
  it('over graphql-ws (where only users connect), every Query and Mutation field is allowed exactly when the contract gives it to users', async () => {
    const sections = contractSections();
    const app = await server.newApp();
    const walker = await app.user('wswalker');
    const live = connectLive(server.url, { authToken: walker.token, platform: 'WEB' });
    await live.connected;
    const actual: Record<string, boolean> = {};
    const expected: Record<string, boolean> = {};
    for (const [kind, root] of [['query', schema.getQueryType()!], ['mutation', schema.getMutationType()!]] as ['query' | 'mutation', GraphQLObjectType][]) {
      for (const field of Object.values(root.getFields())) {
        const section = sections.get(field.name);
        if (!section) continue; // beyond the contract: auth.test.ts checks it has exactly one kind of caller
        const { query, variables } = operationFor(kind, field);
        const result = await live.execute(query, variables);
        const code = result.errors?.[0]?.extensions?.code as string | undefined;
        if (result.errors?.length) expect(code, `${field.name}: ${result.errors[0].message}`).toBeTypeOf('string');
        actual[field.name] = !code || !DENIED.has(code);
        if (code && DENIED.has(code)) expect(code, field.name).toBe('FORBIDDEN');
        expected[field.name] = section === 'user';
      }
    }
    expect(actual).toEqual(expected);
    expect(Object.keys(actual).length).toBeGreaterThan(25);
    await live.dispose();
  });

  it('every Subscription field: users only, over graphql-ws (delivering events) and over HTTP; backend and operator are refused on both', async () => {
    const sections = contractSections(['Subscription']);
    const app = await server.newApp();
    const user = await app.user('subwalker');
    await app.user('friendOfWalker');
    const fields = Object.values(schema.getSubscriptionType()!.getFields());
    // what makes each subscription deliver one event to `user` (a proof that it runs for users)
    const triggers: Record<string, () => Promise<unknown>> = {
      subscribedUserStatusChange: async () => {}, // the sync ends with SubscribedUserStatusSyncFinished
      subscribedRelationChange: () => user.ok('mutation { subscribeUserStatus(type: ONLINE_STATUS, userIds: ["friendOfWalker"], expiry: 3600) { failedUserIds } }'),
      ownUserProfileChanged: () => app.backend.ok('mutation { setUserProfile(userId: "subwalker", profile: { name: "W" }) { version } }'),
      friendEvents: () => app.backend.ok('mutation { adminAddFriend(userId: "subwalker", friendId: "friendOfWalker") }'),
      userEvents: async () => {}, // a fresh start ends its snapshot with UserEventsCaughtUp
    };
    expect(fields.map((f) => f.name).sort()).toEqual(Object.keys(triggers).sort());
    for (const field of fields) expect(sections.get(field.name), field.name).toBe('user');

    // graphql-ws: the user's subscriptions deliver ...
    const live = connectLive(server.url, { authToken: user.token, platform: 'WEB' });
    await live.connected;
    const subs = fields.map((field) => {
      const { query, variables } = operationFor('subscription', field);
      if (field.name === 'userEvents') variables.after = null; // a placeholder is no cursor of ours
      return { field: field.name, sub: live.subscribe(query, variables) };
    });
    await new Promise((r) => setTimeout(r, 300)); // let them start listening
    for (const { field, sub } of subs) {
      await triggers[field]!();
      await sub.waitFor(1, 15_000);
      expect(sub.errors, field).toEqual([]);
    }
    await live.dispose();
    // ... while the backend, the operator and no credentials cannot even connect
    for (const payload of [
      { headers: { Authorization: basic(app.appKey, app.appSecret) } },
      { authToken: OPERATOR_TOKEN },
      { headers: { Authorization: bearer(OPERATOR_TOKEN) } },
      { platform: 'WEB' },
    ]) {
      const raw = await openRaw(server.url);
      raw.send({ type: 'connection_init', payload });
      expect((await raw.closed).code, JSON.stringify(payload)).toBe(4403);
    }

    // HTTP: every caller but the user is refused as such
    const callers: Record<CallerKind | 'anonymous', GraphQLClient> = { user, backend: app.backend, operator: server.operator, anonymous: server.anonymous };
    for (const field of fields) {
      const { query, variables } = operationFor('subscription', field);
      for (const [caller, client] of Object.entries(callers)) {
        const result = await client.request(query, variables);
        const code = result.errors?.[0]?.extensions?.code;
        expect(code, `${field.name} over HTTP as ${caller}`).toBeTypeOf('string');
        const expectedCode = caller === 'anonymous' ? 'UNAUTHENTICATED' : caller === 'user' ? 'BAD_USER_INPUT' : 'FORBIDDEN';
        // anonymous: refused, though as FORBIDDEN for now (see the known issue below)
        if (caller === 'anonymous') expect(DENIED.has(code!), `${field.name} over HTTP as ${caller}`).toBe(true);
        else expect(code, `${field.name} over HTTP as ${caller}: ${result.errors?.[0]?.message}`).toBe(expectedCode);
      }
    }
  });

  // the scopes are checked before a Subscription field's subscribe function (authorizeOnSubscribe)
  it('a Subscription field over HTTP without credentials is UNAUTHENTICATED', async () => {
    for (const field of Object.values(schema.getSubscriptionType()!.getFields())) {
      const { query, variables } = operationFor('subscription', field);
      const result = await server.anonymous.request(query, variables);
      expect(result.errors?.[0]?.extensions?.code, field.name).toBe('UNAUTHENTICATED');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets never logged

describe('secrets never reach the logs', () => {
  const TOKEN_SECRET = `token-secret-${randomToken(24)}`;
  const OPERATOR = `operator-${randomToken(16)}`;
  const SECRET_ENCRYPTION_KEY = `encryption-key-${randomToken(24)}`;
  let proc: ServerProcess;
  beforeAll(async () => {
    const env: Record<string, string> = { LOG_FORMAT: 'json', LOG_LEVEL: 'trace', TOKEN_SECRET, OPERATOR_TOKEN: OPERATOR, SECRET_ENCRYPTION_KEY };
    if (!process.env.DATABASE_URL) Object.assign(env, { DATA_DIR: mkdtempSync(join(tmpdir(), 'phs-secrets-')), DATABASE_URL: '', REDIS_URL: '' });
    proc = await startServerProcess(env);
  }, 90_000);
  afterAll(() => proc?.stop());

  it('a session of requests, failed authentication included, logs no app secret, user token, TOKEN_SECRET, OPERATOR_TOKEN or SECRET_ENCRYPTION_KEY', async () => {
    const operator = new GraphQLClient(proc.url, bearer(OPERATOR));
    const { appKey, appSecret } = (await operator.ok('mutation { createApp(name: "logged") { appKey appSecret } }')).createApp;
    const backend = new GraphQLClient(proc.url, basic(appKey, appSecret));
    const issue = async (u: string) => (await backend.ok('mutation($u: ID!) { issueUserToken(userId: $u) { token } }', { u })).issueUserToken.token as string;
    const alice = await issue('alice');
    const bob = await issue('bob');
    const aliceClient = new GraphQLClient(proc.url, bearer(alice), { 'x-device-id': 'phone' });
    await aliceClient.ok('query Me { myUserProfile { userId } }');
    await aliceClient.ok('mutation { updateMyUserProfile(profile: { name: "Alice" }) { version } }');
    // failures: bad input carrying a secret, wrong credentials of every kind, a revoked token
    await aliceClient.request('mutation($n: String) { updateMyUserProfile(profile: { name: $n }) { version } }', { n: alice });
    await aliceClient.request(`{ searchUserProfileByUniqueId(uniqueId: "${appSecret}") { userId } }`);
    await aliceClient.request(`{ noSuchField(secret: "${TOKEN_SECRET}") }`);
    await backend.ok('mutation { revokeUserTokens(userId: "bob") }');
    for (const authorization of [
      bearer(bob),
      bearer(`${alice}x`),
      bearer(`${OPERATOR}x`),
      bearer(appSecret),
      basic(appKey, `${appSecret}x`),
      basic('noSuchApp', appSecret),
      `Token ${appSecret}`,
      appSecret,
    ]) {
      const result = await new GraphQLClient(proc.url, authorization).request('{ myUserProfile { userId } }');
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    // malformed bodies that contain secrets
    for (const body of [`{"query": "${alice}`, `not json ${appSecret}`, JSON.stringify({ query: `{ ${TOKEN_SECRET} }` })]) {
      await fetch(proc.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer(alice) }, body });
    }
    // graphql-ws: a good token, a revoked one, a tampered one, the app secret
    const live = connectLive(proc.url, { authToken: alice, platform: 'WEB', deviceId: 'ws' });
    await live.connected;
    expect((await live.execute('{ myUserProfile { userId } }')).data).toEqual({ myUserProfile: { userId: 'alice' } });
    await live.dispose();
    for (const authToken of [bob, `${alice}x`, appSecret, OPERATOR]) {
      const refused = connectLive(proc.url, { authToken, platform: 'WEB' });
      expect((await refused.closed).code).toBe(4403);
    }
    await fetch(proc.url.replace('/graphql', '/metrics'));
    await new Promise((r) => setTimeout(r, 300));
    await proc.stop();

    const output = proc.output();
    const lines = output.split('\n');
    const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
    expect(json.filter((l) => l.msg === 'request').length, 'the requests were logged').toBeGreaterThan(10);
    // the start-up banner of the embedded setup prints the development credentials on purpose
    const banner = /^(Development app|Basic auth header|Operator token:)/;
    const logged = lines.filter((l) => !banner.test(l)).join('\n');
    const secrets: Record<string, string> = {
      appSecret,
      'alice token': alice,
      'bob token': bob,
      TOKEN_SECRET,
      OPERATOR_TOKEN: OPERATOR,
      SECRET_ENCRYPTION_KEY,
      'Basic header': basic(appKey, appSecret).slice('Basic '.length),
    };
    const devSecret = /appSecret=(\S+)/.exec(output)?.[1];
    if (devSecret) secrets['dev app secret'] = devSecret;
    for (const [name, secret] of Object.entries(secrets)) expect(logged.includes(secret), `${name} in the logs`).toBe(false);
    // a token's signature part alone is not there either
    expect(logged.includes(alice.split('.')[2]!)).toBe(false);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Constant-time comparisons

describe('secrets are compared in constant time', () => {
  it('safeEqual compares digests: any lengths, exact match only', () => {
    expect(safeEqual('a'.repeat(40), 'a'.repeat(40))).toBe(true);
    expect(safeEqual('a'.repeat(40), 'a'.repeat(39))).toBe(false);
    expect(safeEqual('', 'a')).toBe(false);
    expect(safeEqual('secret', 'Secret')).toBe(false);
  });

  it('no secret, token, hash or digest is compared with === or !== anywhere in the server', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
          if (name !== 'client') walk(path); // the client SDK holds no server secret
        } else if (path.endsWith('.ts')) files.push(path);
      }
    };
    walk(new URL('../src', import.meta.url).pathname);
    const comparison = /(?<![\w.])(?:\w+\.)*\w*(?:token|secret|hash|digest)\w*\s*(?:===|!==|==|!=)|(?:===|!==|==|!=)\s*(?:\w+\.)*\w*(?:token|secret|hash|digest)\w*/gi;
    const found: string[] = [];
    for (const file of files) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const m of line.matchAll(comparison)) {
            // numbers, types and absence are not secrets: token generations, typeof checks, === undefined
            const around = line.slice(Math.max(0, m.index! - 30), m.index! + m[0].length + 30);
            if (/tokenGeneration|generation|typeof|(?:===|!==|==|!=)\s*(?:undefined|null)\b|\b(?:undefined|null)\s*(?:===|!==|==|!=)/i.test(around)) continue;
            found.push(`${file}:${i + 1}: ${line.trim()}`);
          }
        });
    }
    expect(found).toEqual([]);
    // the places that do compare secrets use timingSafeEqual (directly or through safeEqual)
    const caller = readFileSync(new URL('../src/auth/caller.ts', import.meta.url), 'utf8');
    expect(caller).toMatch(/safeEqual\(token, this\.deps\.operatorToken\)/);
    expect(caller).toMatch(/timingSafeEqual\(cached\.digest, digest\)/);
    expect(readFileSync(new URL('../src/auth/secrets.ts', import.meta.url), 'utf8')).toMatch(/timingSafeEqual\(actual, expected\)/);
  });
});
