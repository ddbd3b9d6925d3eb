/**
 * SPEC §1 (tenancy and authentication) and §7 (error codes): who may call what, and when
 * credentials stop working.
 */
import type { GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { schema } from '../src/schema/index.ts';
import { type CallerKind, contractSections, operationFor } from './helpers/contract-walk.ts';
import { GraphQLClient, basic, bearer, type GraphQLErrorJson } from './helpers/client.ts';
import { OPERATOR_TOKEN, startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { expectError, setProfile } from './helpers/profiles.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const ME = '{ myUserProfile { userId } }';
const APP_SETTINGS = '{ appSettings { appKey } }';
const ISSUE = 'mutation($u: ID!, $e: Int) { issueUserToken(userId: $u, expiresInSeconds: $e) { token expiresAt } }';

const client = (authorization?: string) => new GraphQLClient(server.url, authorization);

async function issue(app: TestApp, userId: string, expiresInSeconds?: number): Promise<{ token: string; expiresAt: string }> {
  return (await app.backend.ok(ISSUE, { u: userId, e: expiresInSeconds })).issueUserToken;
}

async function expectUnauthenticated(c: GraphQLClient, query = ME) {
  const result = await c.request(query);
  expect(result.data ?? null).toBeNull();
  expectError(result.errors![0]!, 'UNAUTHENTICATED');
}

describe('callers', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await server.newApp();
  });

  it('no Authorization header is UNAUTHENTICATED for user, backend and operator fields', async () => {
    await expectUnauthenticated(server.anonymous, ME);
    await expectUnauthenticated(server.anonymous, APP_SETTINGS);
    await expectUnauthenticated(server.anonymous, 'mutation { createApp(name: "x") { appKey } }');
  });

  it.each([
    ['garbage bearer', () => bearer('not-a-token')],
    ['JWT-shaped garbage', () => bearer('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')],
    ['operator token with a typo', () => bearer(`${OPERATOR_TOKEN}x`)],
    ['wrong Basic secret', () => basic(app.appKey, `${app.appSecret.slice(0, -1)}${app.appSecret.endsWith('A') ? 'B' : 'A'}`)],
    ['empty Basic secret', () => basic(app.appKey, '')],
    ['unknown appKey', () => basic('noSuchAppKey', app.appSecret)],
    ['another app\'s secret', () => basic(app.appKey, 'x'.repeat(43))],
    ['Basic without a colon', () => `Basic ${Buffer.from(app.appKey).toString('base64')}`],
    ['Basic that is not base64', () => 'Basic %%%%'],
    ['scheme only', () => 'Bearer'],
    ['scheme with blanks only', () => 'Bearer    '],
    ['unknown scheme', () => `Token ${app.appSecret}`],
    ['no scheme', () => app.appSecret],
    ['the appSecret as a bearer token', () => bearer(app.appSecret)],
  ])('%s is UNAUTHENTICATED', async (_what, header) => {
    const c = client(header());
    await expectUnauthenticated(c, ME);
    await expectUnauthenticated(c, APP_SETTINGS);
  });

  it('valid credentials of the wrong kind are FORBIDDEN', async () => {
    const alice = await app.user('alice');
    expectError(await alice.fails(APP_SETTINGS), 'FORBIDDEN');
    expectError(await alice.fails('mutation { createApp(name: "x") { appKey } }'), 'FORBIDDEN');
    expectError(await app.backend.fails(ME), 'FORBIDDEN');
    expectError(await app.backend.fails('mutation { createApp(name: "x") { appKey } }'), 'FORBIDDEN');
    expectError(await server.operator.fails(ME), 'FORBIDDEN');
    expectError(await server.operator.fails(APP_SETTINGS), 'FORBIDDEN');
  });

  it('the scheme is case-insensitive and the right credentials work', async () => {
    const alice = await app.user('alice');
    expect((await client(`bearer ${alice.token}`).ok(ME)).myUserProfile.userId).toBe('alice');
    expect((await client(basic(app.appKey, app.appSecret).replace('Basic', 'BASIC')).ok(APP_SETTINGS)).appSettings.appKey).toBe(app.appKey);
  });
});

// ---------------------------------------------------------------------------------------------
// Every root field × every caller

const STATUS_SUBSCRIPTION_FIELDS = new Set(['subscribedUserStatus', 'subscribedUsers', 'subscribeUserStatus', 'unsubscribeUserStatus']);
const DENIED = new Set(['FORBIDDEN', 'UNAUTHENTICATED']);

describe('every root field × every caller', () => {
  it('the callers allowed for each Query and Mutation field are exactly the contract sections', async () => {
    const sections = contractSections();
    expect(sections.get('myUserProfile')).toBe('user');
    expect(sections.get('allUserProfiles')).toBe('backend');
    expect(sections.get('createApp')).toBe('operator');

    const app = await server.newApp();
    const callers: Record<CallerKind, GraphQLClient> = { user: await app.user('walker'), backend: app.backend, operator: server.operator };
    const roots: ['query' | 'mutation', GraphQLObjectType][] = [
      ['query', schema.getQueryType()!],
      ['mutation', schema.getMutationType()!],
    ];
    const actual: Record<string, CallerKind[]> = {};
    const expected: Record<string, CallerKind[]> = {};
    const extras: string[] = [];
    const skipped: string[] = [];
    let walked = 0;

    for (const [kind, root] of roots) {
      for (const field of Object.values(root.getFields())) {
        const { query, variables } = operationFor(kind, field);
        const allowed: CallerKind[] = [];
        let unimplemented = false;
        // anonymous first: never allowed
        const anonymous = await server.anonymous.request(query, variables);
        expect(anonymous.errors?.[0]?.extensions?.code, `${field.name} without credentials`).toBe('UNAUTHENTICATED');
        for (const caller of ['user', 'backend', 'operator'] as CallerKind[]) {
          const result = await callers[caller].request(query, variables);
          const error: GraphQLErrorJson | undefined = result.errors?.[0];
          if (error) expect(error.extensions?.code, `${field.name} as ${caller}: ${error.message}`).toBeTypeOf('string');
          if (error && /not available yet/.test(error.message)) unimplemented = true;
          if (!error || !DENIED.has(error.extensions!.code!)) allowed.push(caller);
          else expect(error.extensions!.code, `${field.name} as ${caller}: valid credentials of the wrong kind`).toBe('FORBIDDEN');
        }
        if (STATUS_SUBSCRIPTION_FIELDS.has(field.name) && unimplemented) {
          skipped.push(field.name);
          continue;
        }
        walked++;
        const section = sections.get(field.name);
        if (!section) {
          // a field beyond the contract: it must still belong to exactly one kind of caller
          extras.push(field.name);
          expect(allowed, `${field.name} (not in the contract) is open to ${allowed.join(', ')}`).toHaveLength(1);
          continue;
        }
        actual[field.name] = allowed;
        expected[field.name] = [section];
      }
    }
    expect(actual).toEqual(expected);
    // the walk covered every contract root field that is implemented
    for (const field of sections.keys()) if (!skipped.includes(field)) expect(Object.keys(actual), `contract field ${field} missing from the schema`).toContain(field);
    expect(walked).toBeGreaterThan(25);
  });
});

// ---------------------------------------------------------------------------------------------
// Tokens

/** Moves the clock to the next whole second, so that token expiry (whole seconds) is exact. */
function alignClock() {
  const now = server.clock.now().getTime();
  server.clock.set(Math.ceil(now / 1000) * 1000);
}

describe('user tokens', () => {
  it('expiry follows the clock with at most 1 s tolerance: valid at exp and exp+1s, refused at exp+2s', async () => {
    const app = await server.newApp();
    alignClock();
    const issuedAt = server.clock.now().getTime();
    const { token, expiresAt } = await issue(app, 'alice', 60);
    const exp = Date.parse(expiresAt);
    expect(exp).toBe(issuedAt + 60_000);
    const alice = client(bearer(token));

    server.clock.set(exp - 1);
    expect((await alice.ok(ME)).myUserProfile.userId).toBe('alice');
    server.clock.set(exp);
    expect((await alice.ok(ME)).myUserProfile.userId).toBe('alice');
    server.clock.set(exp + 1000);
    expect((await alice.ok(ME)).myUserProfile.userId).toBe('alice');
    server.clock.set(exp + 2000);
    await expectUnauthenticated(alice);
    server.clock.set(exp + 86_400_000);
    await expectUnauthenticated(alice);
  });

  it('a token of 1 second lives for that second', async () => {
    const app = await server.newApp();
    alignClock();
    const { token } = await issue(app, 'bob', 1);
    const bob = client(bearer(token));
    expect((await bob.ok(ME)).myUserProfile.userId).toBe('bob');
    server.clock.advance(1000);
    expect((await bob.ok(ME)).myUserProfile.userId).toBe('bob');
    server.clock.advance(2000);
    await expectUnauthenticated(bob);
  });

  it('revokeUserTokens: older tokens fail, a token issued right after (same millisecond) works', async () => {
    const app = await server.newApp();
    const first = client(bearer((await issue(app, 'alice')).token));
    const second = client(bearer((await issue(app, 'alice')).token));
    const bob = await app.user('bob');
    server.clock.advance(5000);
    const { revokeUserTokens } = await app.backend.ok('mutation { revokeUserTokens(userId: "alice") }');
    expect(revokeUserTokens).toBe(true);
    // the clock has not moved: same millisecond as the revocation
    const fresh = client(bearer((await issue(app, 'alice')).token));
    await expectUnauthenticated(first);
    await expectUnauthenticated(second);
    expect((await fresh.ok(ME)).myUserProfile.userId).toBe('alice');
    // other users are not affected
    expect((await bob.ok(ME)).myUserProfile.userId).toBe('bob');
    // revoking again kills the fresh one as well
    await app.backend.ok('mutation { revokeUserTokens(userId: "alice") }');
    await expectUnauthenticated(fresh);
    // unknown users: nothing to revoke
    expect((await app.backend.ok('mutation { revokeUserTokens(userId: "nobody") }')).revokeUserTokens).toBe(false);
  });

  it('revocation makes no profile change', async () => {
    const app = await server.newApp();
    const before = await setProfile(app, 'alice', { name: 'A' });
    await app.backend.ok('mutation { revokeUserTokens(userId: "alice") }');
    const { adminUserProfiles } = await app.backend.ok('{ adminUserProfiles(userIds: ["alice"]) { name version updatedAt } }');
    expect(adminUserProfiles[0]).toEqual({ name: 'A', version: before.version, updatedAt: before.updatedAt });
  });

  it('a tampered token fails', async () => {
    const app = await server.newApp();
    const { token } = await issue(app, 'alice');
    await issue(app, 'mallory');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const forge = (changes: Record<string, unknown>) =>
      [header, Buffer.from(JSON.stringify({ ...claims, ...changes })).toString('base64url'), signature].join('.');
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    const unsigned = [Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'), payload, ''].join('.');

    for (const bad of [
      forge({ sub: 'mallory' }),
      forge({ exp: claims.exp + 3600 }),
      forge({ gen: claims.gen + 1 }),
      [header, payload, flipped].join('.'),
      unsigned,
      `${token}x`,
      token.slice(0, -2),
    ]) {
      await expectUnauthenticated(client(bearer(bad)));
    }
    expect((await client(bearer(token)).ok(ME)).myUserProfile.userId).toBe('alice');
  });

  it('a token signed by another server (other signing secret) fails', async () => {
    const other = await startTestServer({ config: { tokenSecret: 'another-token-secret-that-is-long-enough-987654' } });
    try {
      const otherApp = await other.newApp();
      const { token } = await otherApp.backend.ok(ISSUE, { u: 'alice' }).then((d) => d.issueUserToken);
      await expectUnauthenticated(client(bearer(token)));
    } finally {
      await other.stop();
    }
  });

  it('cleanUserProfiles of a user makes its token fail, even after the user id is used again', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const bob = await app.user('bob');
    expect((await app.backend.ok('mutation { cleanUserProfiles(userIds: ["alice"]) }')).cleanUserProfiles).toBe(1);
    await expectUnauthenticated(alice);
    expect((await bob.ok(ME)).myUserProfile.userId).toBe('bob');
    // the app re-creates "alice" (backend write, then a new token): the old token stays dead
    await setProfile(app, 'alice', { name: 'new alice' });
    await expectUnauthenticated(alice);
    const newAlice = await app.user('alice');
    await expectUnauthenticated(alice);
    expect((await newAlice.ok(ME)).myUserProfile).toEqual({ userId: 'alice' });
  });
});

describe('app secret storage', () => {
  it('createApp shows the secret once; the database holds only an scrypt hash of it', async () => {
    const { createApp } = await server.operator.ok('mutation { createApp(name: "Stored secret") { appKey appSecret } }');
    expect(createApp.appSecret.length).toBeGreaterThanOrEqual(32);
    const rows = await sql<Record<string, unknown>>`select * from apps where app_key = ${createApp.appKey}`.execute(server.app.services.db);
    expect(rows.rows).toHaveLength(1);
    const row = rows.rows[0]!;
    const hash = String(row.secretHash ?? row.secret_hash);
    expect(hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(Number(hash.split('$')[1])).toBeGreaterThanOrEqual(2 ** 14);
    // the secret appears in no column, in any encoding
    const everything = JSON.stringify(row);
    for (const form of [createApp.appSecret, Buffer.from(createApp.appSecret).toString('base64'), Buffer.from(createApp.appSecret).toString('hex')]) {
      expect(everything).not.toContain(form);
    }
    // two apps never share a salt
    const second = await server.operator.ok('mutation { createApp(name: "Other") { appKey } }');
    const other = await sql<Record<string, string>>`select secret_hash from apps where app_key = ${second.createApp.appKey}`.execute(server.app.services.db);
    const otherHash = other.rows[0]!.secretHash ?? other.rows[0]!.secret_hash!;
    expect(otherHash.split('$')[4]).not.toBe(hash.split('$')[4]);
    // and the secret authenticates
    expect((await client(basic(createApp.appKey, createApp.appSecret)).ok(APP_SETTINGS)).appSettings.appKey).toBe(createApp.appKey);
  });

  it('createApp: the app starts with INVISIBLE profiles and NEED_VERIFY friend requests', async () => {
    const app = await server.newApp('Defaults');
    const { appSettings } = await app.backend.ok('{ appSettings { appKey name defaultProfileVisibility defaultFriendAddPermission } }');
    expect(appSettings).toEqual({ appKey: app.appKey, name: 'Defaults', defaultProfileVisibility: 'INVISIBLE', defaultFriendAddPermission: 'NEED_VERIFY' });
  });

  it('updateAppSettings refuses NOT_SET as an app default', async () => {
    const app = await server.newApp();
    expectError(await app.backend.fails('mutation { updateAppSettings(defaultProfileVisibility: NOT_SET) { appKey } }'), 'BAD_USER_INPUT', {
      fields: ['defaultProfileVisibility'],
    });
  });
});
