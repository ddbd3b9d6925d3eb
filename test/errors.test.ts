/**
 * SPEC §7: every error has `extensions.code` from a closed set (plus `rcCode` where RongCloud
 * defines one), validation errors name the field or key, and nothing internal leaks.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { ManualClock } from '../src/clock.ts';
import { GraphQLClient, basic, type GraphQLErrorJson } from './helpers/client.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

const CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'LIMIT_EXCEEDED', 'VERSION_CONFLICT', 'RATE_LIMITED', 'INTERNAL']);

let server: TestServer;
let app: TestApp;
let alice: GraphQLClient;
beforeAll(async () => {
  server = await startTestServer();
  app = await server.newApp();
  alice = await app.user('alice');
});
afterAll(() => server?.stop());

/** No stack traces, SQL or driver details anywhere in an error. */
function expectClean(error: GraphQLErrorJson) {
  const text = JSON.stringify(error);
  expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/); // stack frames
  expect(text).not.toMatch(/\b(select|insert|update|delete)\b.+\b(from|into|set)\b/i);
  expect(text).not.toMatch(/stacktrace|postgres|pglite|kysely|sqlstate/i);
}

describe('every error carries a code from the closed set', () => {
  const cases: [string, () => GraphQLClient, string, Record<string, unknown> | undefined, string, Record<string, unknown>?][] = [
    ['syntax error', () => alice, '{ myUserProfile { ', undefined, 'BAD_USER_INPUT'],
    ['unknown field', () => alice, '{ myUserProfile { nope } }', undefined, 'BAD_USER_INPUT'],
    ['unknown root field', () => alice, '{ nope }', undefined, 'BAD_USER_INPUT'],
    ['missing required variable', () => alice, 'query($ids: [ID!]!) { userProfiles(userIds: $ids) { userId } }', {}, 'BAD_USER_INPUT'],
    ['wrong variable type', () => alice, 'query($ids: [ID!]!) { userProfiles(userIds: $ids) { userId } }', { ids: [{ a: 1 }] }, 'BAD_USER_INPUT'],
    ['Int out of 32-bit range', () => app.backend, 'mutation { issueUserToken(userId: "a", expiresInSeconds: 99999999999) { token } }', undefined, 'BAD_USER_INPUT'],
    ['bad enum value', () => alice, 'mutation { updateMyUserProfileVisibility(visibility: HIDDEN) }', undefined, 'BAD_USER_INPUT'],
    ['malformed user id', () => alice, '{ userProfiles(userIds: ["has space"]) { userId } }', undefined, 'BAD_USER_INPUT', { fields: ['userIds'] }],
    ['too many ids', () => alice, `{ userProfiles(userIds: [${Array.from({ length: 21 }, (_, i) => `"u${i}"`).join(',')}]) { userId } }`, undefined, 'BAD_USER_INPUT', { rcCode: 24365 }],
    ['page 0', () => app.backend, '{ allUserProfiles(page: 0) { totalCount } }', undefined, 'BAD_USER_INPUT', { fields: ['page'] }],
    ['size 101', () => app.backend, '{ allUserProfiles(size: 101) { totalCount } }', undefined, 'BAD_USER_INPUT', { fields: ['size'] }],
    ['malformed ext key (define)', () => app.backend, 'mutation { defineExtProfileKey(key: "a-b") { key } }', undefined, 'BAD_USER_INPUT', { fields: ['key'] }],
    ['malformed ext key with NUL (remove)', () => app.backend, 'mutation($k: String!) { removeExtProfileKey(key: $k) }', { k: 'a\u0000b' }, 'BAD_USER_INPUT', { fields: ['key'] }],
    ['search with NUL', () => alice, 'query($q: String!) { searchUserProfileByUniqueId(uniqueId: $q) { userId } }', { q: 'a\u0000' }, 'BAD_USER_INPUT'],
    ['createApp name with NUL', () => server.operator, 'mutation($n: String!) { createApp(name: $n) { appKey } }', { n: 'x\u0000' }, 'BAD_USER_INPUT', { fields: ['name'] }],
    ['createApp empty name', () => server.operator, 'mutation { createApp(name: "") { appKey } }', undefined, 'BAD_USER_INPUT', { fields: ['name'] }],
    ['stale expectedVersion', () => alice, 'mutation { updateMyUserProfile(profile: {}, expectedVersion: 999) { version } }', undefined, 'VERSION_CONFLICT'],
    ['21st ext key', () => app.backend, 'mutation { defineExtProfileKey(key: "over") { key } }', undefined, 'LIMIT_EXCEEDED'],
    ['wrong caller', () => alice, '{ appSettings { appKey } }', undefined, 'FORBIDDEN'],
    ['no caller', () => server.anonymous, '{ myUserProfile { userId } }', undefined, 'UNAUTHENTICATED'],
    ['bad caller', () => new GraphQLClient(server.url, basic('x', 'y')), '{ appSettings { appKey } }', undefined, 'UNAUTHENTICATED'],
  ];

  beforeAll(async () => {
    for (let i = 0; i < 20; i++) {
      await app.backend.ok(`mutation { defineExtProfileKey(key: "k${i}") { key } }`);
    }
  });

  it.each(cases)('%s → %s', async (_name, who, query, variables, code, extra) => {
    const result = await who().request(query, variables);
    expect(result.errors?.length, JSON.stringify(result)).toBeGreaterThan(0);
    for (const error of result.errors!) {
      expect(error.extensions?.code, error.message).toBeTypeOf('string');
      expect(CODES.has(error.extensions!.code!), `${error.extensions!.code} is not one of SPEC §7's codes`).toBe(true);
      expectClean(error);
    }
    const first = result.errors![0]!;
    expect(first.extensions!.code, first.message).toBe(code);
    if (extra?.rcCode !== undefined) expect(first.extensions!.rcCode).toBe(extra.rcCode);
    if (extra?.fields) expect(first.extensions!.fields).toEqual(expect.arrayContaining(extra.fields as string[]));
  });

  it('a validation error names its offenders in the message as well', async () => {
    const error = await alice.fails('mutation { updateMyUserProfile(profile: { name: "0123456789012345678901234567890123", level: 500 }) { version } }');
    expect(error.extensions!.code).toBe('BAD_USER_INPUT');
    expect(error.message).toContain('name');
    expect(error.message).toContain('level');
    expect(error.extensions!.rcCode).toBeTypeOf('number');
  });

  it('several failing root fields in one request: every reported error has its code and path', async () => {
    const result = await alice.request('{ me: myUserProfile { userId } settings: appSettings { appKey } ids: userProfiles(userIds: []) { userId } }');
    expect(result.data).toBeNull(); // non-null root fields: one failure nulls the whole data
    expect(result.errors!.length).toBeGreaterThan(0);
    for (const error of result.errors!) {
      expect(['settings', 'ids']).toContain(error.path?.[0]);
      expect(error.extensions!.code).toBe(error.path?.[0] === 'settings' ? 'FORBIDDEN' : 'BAD_USER_INPUT');
    }
  });
});

describe('INTERNAL errors', () => {
  it('an unexpected failure is INTERNAL with a generic message: no SQL, no stack, no driver text', async () => {
    // a private server on its own embedded database, which this test breaks on purpose
    const clock = new ManualClock(Date.parse('2026-01-01T00:00:00.000Z'));
    const broken = await buildApp({
      config: { port: 0, host: '127.0.0.1', metricsPort: null, operatorToken: 'errors-test-operator-token-0123456789', tokenSecret: 'errors-test-token-secret-long-enough-0123456789', secretEncryptionKey: 'test-secret-encryption-key-0123456789-0123456789', presenceHeartbeatMs: 3_600_000 },
      database: { kind: 'embedded' },
      clock,
    });
    const { url } = await broken.start();
    const originalError = console.error;
    console.error = () => {}; // the server logs the real error; keep the test output clean
    try {
      const operator = new GraphQLClient(url, 'Bearer errors-test-operator-token-0123456789');
      const { appKey, appSecret } = (await operator.ok('mutation { createApp(name: "broken") { appKey appSecret } }')).createApp;
      const backend = new GraphQLClient(url, basic(appKey, appSecret));
      await backend.ok('{ extProfileKeys { key } }');
      await sql`drop table ext_profile_keys`.execute(broken.services.db);
      const result = await backend.request('{ extProfileKeys { key } }');
      const error = result.errors![0]!;
      expect(error.extensions).toEqual({ code: 'INTERNAL' });
      expect(error.message).toBe('Internal server error');
      expectClean(error);
      expect(JSON.stringify(result)).not.toContain('ext_profile_keys');
    } finally {
      console.error = originalError;
      await broken.stop();
    }
  });
});
