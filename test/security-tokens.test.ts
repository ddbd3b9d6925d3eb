/**
 * Security suite, user tokens (SPEC §1): forged, tampered, expired and revoked tokens are refused
 * with UNAUTHENTICATED over HTTP and close the socket with 4403 over graphql-ws; a token of one app
 * never acts in another app. Forgeries are made here from a real token of the server (and, for
 * the claim checks, with the server's own key, as someone holding it could), never by the server.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { OPERATOR_TOKEN, TEST_TOKEN_SECRET, startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';

let server: TestServer;
let appA: TestApp;
let appB: TestApp;
/** a real token of alice in app A, and its parts */
let good: string;
let header: Record<string, unknown>;
let claims: Record<string, unknown>;
beforeAll(async () => {
  server = await startTestServer({ config: { rateLimitUserPerSecond: 0, rateLimitAppPerSecond: 0 } });
  [appA, appB] = await Promise.all([server.newApp('A'), server.newApp('B')]);
  good = (await appA.user('alice')).token;
  await appA.user('mallory');
  await appB.user('alice');
  header = JSON.parse(Buffer.from(good.split('.')[0]!, 'base64url').toString('utf8'));
  claims = JSON.parse(Buffer.from(good.split('.')[1]!, 'base64url').toString('utf8'));
});
afterAll(() => server?.stop());

const ME = '{ myUserProfile { userId } }';
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** A JWT with any header, signed with HMAC-SHA256 under `key` whatever the header says. */
const hs256 = (head: Record<string, unknown>, payload: Record<string, unknown>, key: string | Buffer) => {
  const input = `${b64(head)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};
/** The real token's header and signature around another payload. */
const tampered = (changes: Record<string, unknown>) => {
  const [h, , s] = good.split('.');
  return `${h}.${b64({ ...claims, ...changes })}.${s}`;
};
const now = () => Math.floor(server.clock.now().getTime() / 1000);

async function expectRefusedOverHttp(token: string, what: string) {
  const result = await new GraphQLClient(server.url, bearer(token)).request(ME);
  expect(result.data ?? null, what).toBeNull();
  expect(result.errors?.[0]?.extensions?.code, what).toBe('UNAUTHENTICATED');
  expect(result.status, what).toBeLessThan(500);
}

async function expectRefusedOverWs(token: string, what: string) {
  const live = connectLive(server.url, { authToken: token, platform: 'WEB' });
  expect((await live.closed).code, what).toBe(4403);
}

async function expectAccepted(token: string, userId = 'alice') {
  expect((await new GraphQLClient(server.url, bearer(token)).ok(ME)).myUserProfile.userId).toBe(userId);
  const live = connectLive(server.url, { authToken: token, platform: 'WEB' });
  await live.connected;
  expect((await live.execute(ME)).data).toEqual({ myUserProfile: { userId } });
  await live.dispose();
}

describe('forged tokens are refused: UNAUTHENTICATED over HTTP, 4403 over graphql-ws', () => {
  it('the genuine token works over both (the control)', async () => {
    await expectAccepted(good);
  });

  const forgeries: [string, () => string][] = [
    ['alg none, no signature', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
    ['alg none, the genuine signature kept', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.${good.split('.')[2]}`],
    ['alg "None" / "NONE"', () => `${b64({ alg: 'NONE' })}.${b64(claims)}.`],
    ['no alg at all', () => `${b64({ typ: 'JWT' })}.${b64(claims)}.${good.split('.')[2]}`],
    ['HS256 with an empty key', () => hs256(header, claims, '')],
    ['HS256 with the guessed key "secret"', () => hs256(header, claims, 'secret')],
    ['HS256 with the compose file placeholder key', () => hs256(header, claims, 'change-me-to-a-random-secret-of-at-least-32-bytes')],
    ['HS256 with the operator token as key', () => hs256(header, claims, OPERATOR_TOKEN)],
    ["HS256 with the app's own secret as key", () => hs256(header, claims, appA.appSecret)],
    ['the right key, tampered payload: other sub', () => tampered({ sub: 'mallory' })],
    ['the right key, tampered payload: other app', () => tampered({ app: appB.appKey })],
    ['the right key, tampered payload: other generation', () => tampered({ gen: (claims.gen as number) + 1 })],
    ['the right key, tampered payload: later exp', () => tampered({ exp: (claims.exp as number) + 86_400 })],
    ['RS256 header, HMAC signature under the server key (algorithm confusion)', () => hs256({ ...header, alg: 'RS256' }, claims, TEST_TOKEN_SECRET)],
    ['ES256 header, HMAC signature under the server key', () => hs256({ ...header, alg: 'ES256' }, claims, TEST_TOKEN_SECRET)],
    ['PS256 header, HMAC signature under the server key', () => hs256({ ...header, alg: 'PS256' }, claims, TEST_TOKEN_SECRET)],
    ['"hs256" (lower case) header under the server key', () => hs256({ ...header, alg: 'hs256' }, claims, TEST_TOKEN_SECRET)],
    ['HS512 header over an HS256 signature under the server key', () => hs256({ ...header, alg: 'HS512' }, claims, TEST_TOKEN_SECRET)],
    ['an embedded jwk header', () => hs256({ ...header, jwk: { kty: 'oct', k: b64('attacker-key') } }, claims, 'attacker-key')],
    ['a critical header the server does not know', () => hs256({ ...header, crit: ['exp-ext'], 'exp-ext': 1 }, claims, TEST_TOKEN_SECRET)],
    ['four segments', () => `${good}.${good.split('.')[2]}`],
    ['the signature of another token', () => `${good.split('.').slice(0, 2).join('.')}.${hs256(header, { ...claims, sub: 'mallory' }, TEST_TOKEN_SECRET).split('.')[2]}`],
    ['JSON that is not an object as payload', () => { const input = `${b64(header)}.${b64('"alice"')}`; return `${input}.${createHmac('sha256', TEST_TOKEN_SECRET).update(input).digest('base64url')}`; }],
    ['a space inside the token', () => ` ${good}\t`.replace(good, `${good.slice(0, 20)} ${good.slice(20)}`)],
  ];

  // claims the server checks even on a token signed with its own key
  const badClaims: [string, () => Record<string, unknown>][] = [
    ['wrong issuer', () => ({ ...claims, iss: 'someone-else' })],
    ['no issuer', () => { const { iss: _i, ...rest } = claims; return rest; }],
    ['missing exp', () => { const { exp: _e, ...rest } = claims; return rest; }],
    ['exp as a string', () => ({ ...claims, exp: String(now() + 3600) })],
    ['exp already past (beyond the tolerance)', () => ({ ...claims, exp: now() - 5 })],
    ['nbf in the future', () => ({ ...claims, nbf: now() + 3600 })],
    ['no sub', () => { const { sub: _s, ...rest } = claims; return rest; }],
    ['sub not a string', () => ({ ...claims, sub: 42 })],
    ['no app', () => { const { app: _a, ...rest } = claims; return rest; }],
    ['app not a string', () => ({ ...claims, app: [appA.appKey] })],
    ['gen as a string', () => ({ ...claims, gen: String(claims.gen) })],
    ['gen missing', () => { const { gen: _g, ...rest } = claims; return rest; }],
    ['an app that does not exist', () => ({ ...claims, app: 'noSuchApp' })],
    ['a user that does not exist', () => ({ ...claims, sub: 'nobody' })],
  ];

  it.each(forgeries)('%s', async (what, make) => {
    const token = make();
    await expectRefusedOverHttp(token, what);
    await expectRefusedOverWs(token, what);
  });

  it.each(badClaims)('signed with the server key, but %s', async (what, make) => {
    const token = hs256(header, make(), TEST_TOKEN_SECRET);
    await expectRefusedOverHttp(token, what);
    await expectRefusedOverWs(token, what);
  });

  it('signed with the server key and well-formed, the same claims are accepted (the claim checks above are what refused them)', async () => {
    await expectAccepted(hs256(header, { ...claims, iat: now(), exp: now() + 3600 }, TEST_TOKEN_SECRET));
  });

  // jose checks iat only with maxTokenAge: the server refuses an iat past now + the tolerance itself
  it('signed with the server key, but issued far in the future (iat = now + 10 years)', async () => {
    const token = hs256(header, { ...claims, iat: now() + 10 * 365 * 86_400 }, TEST_TOKEN_SECRET);
    await expectRefusedOverHttp(token, 'far-future iat');
    await expectRefusedOverWs(token, 'far-future iat');
  });

  it('the forged tokens changed nothing: the genuine one still works', async () => {
    await expectAccepted(good);
  });
});

describe('random credentials (fast-check, seeded)', () => {
  const latin1 = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));
  const segment = () => fc.oneof(fc.base64String({ maxLength: 60 }).map((x) => x.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')), fc.constantFrom('', b64({ alg: 'none' }), b64(claims), good.split('.')[2]!));
  const jwtishArb = () => fc.tuple(segment(), segment(), segment()).map((parts) => parts.join('.'));
  const credential = () =>
    fc.oneof(
      fc.string({ unit: latin1, maxLength: 120 }),
      jwtishArb().map((t) => `Bearer ${t}`),
      fc.tuple(fc.string({ unit: latin1, maxLength: 40 }), fc.string({ unit: latin1, maxLength: 40 })).map(([k, v]) => `Basic ${Buffer.from(`${k}:${v}`, 'latin1').toString('base64')}`),
      fc.tuple(fc.constantFrom(appA.appKey, appB.appKey), fc.string({ maxLength: 50 })).map(([k, v]) => `Basic ${Buffer.from(`${k}:${v}`).toString('base64')}`),
      fc.constantFrom('Bearer', 'Basic', 'Basic Og==', 'Basic ' + 'A'.repeat(5000), `Bearer ${good}${good}`, `Bearer  ${good.toUpperCase()}`),
    );

  it('an Authorization header of any shape is UNAUTHENTICATED, never a 5xx, never a caller', async () => {
    await fc.assert(
      fc.asyncProperty(credential(), async (authorization) => {
        const result = await new GraphQLClient(server.url, authorization.trim() ? authorization : 'x').request('{ myUserProfile { userId } }');
        expect(result.status, authorization).toBeLessThan(500);
        expect(result.data ?? null, authorization).toBeNull();
        expect(result.errors?.[0]?.extensions?.code, authorization).toBe('UNAUTHENTICATED');
      }),
      { numRuns: 60, seed: 4403 },
    );
  });

  it('a connection_init payload of any shape is refused with 4403 or 4400 (or, without credentials, deferred), never a server error', async () => {
    const payload = fc.oneof(
      fc.record({ authToken: fc.oneof(jwtishArb(), fc.jsonValue({ maxDepth: 2 })), platform: fc.oneof(fc.constantFrom('WEB', 'IOS', 'web', '', 'OTHER '), fc.jsonValue({ maxDepth: 1 })), deviceId: fc.oneof(fc.string({ maxLength: 80 }), fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: [] }),
      fc.record({ headers: fc.record({ Authorization: credential() }) }),
      fc.record({ Authorization: credential() }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(payload, async (init) => {
        const raw = await openRaw(server.url);
        raw.send({ type: 'connection_init', payload: init });
        const outcome = await Promise.race([raw.closed, new Promise<'open'>((r) => setTimeout(() => r('open'), 200))]);
        if (outcome === 'open') {
          // only a payload without credentials is kept open (GraphiQL authenticates per operation)
          expect(raw.messages.map((m) => m.type), JSON.stringify(init)).toEqual(['connection_ack']);
          raw.send({ id: '1', type: 'subscribe', payload: { query: '{ myUserProfile { userId } }' } });
          expect((await raw.closed).code, JSON.stringify(init)).toBe(4403);
        } else {
          expect([4400, 4403], `${JSON.stringify(init)}: ${JSON.stringify(outcome)}`).toContain(outcome.code);
          expect(raw.messages.some((m) => m.type === 'connection_ack'), JSON.stringify(init)).toBe(false);
        }
      }),
      { numRuns: 40, seed: 4400 },
    );
  });
});

describe('a token of app A never acts in app B', () => {
  it("A's token with B's Basic credentials next to it (two Authorization values) is refused", async () => {
    const both = new GraphQLClient(server.url, `${bearer(good)}, ${basic(appB.appKey, appB.appSecret)}`);
    const result = await both.request('{ appSettings { appKey } myUserProfile { userId } }');
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it("A's token with an app B hint (header, connection_init field, operation headers) stays A's alice, and never reads B", async () => {
    const withHint = new GraphQLClient(server.url, bearer(good), { 'x-app-key': appB.appKey, 'app-key': appB.appKey });
    await appB.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "B alice" }) { version } }');
    expect((await withHint.ok('{ myUserProfile { userId name } }')).myUserProfile).toEqual({ userId: 'alice', name: null });
    expect((await withHint.request('{ appSettings { appKey } }')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const live = connectLive(server.url, { authToken: good, platform: 'WEB', appKey: appB.appKey, headers: { Authorization: basic(appB.appKey, appB.appSecret) } });
    await live.connected;
    expect((await live.execute('{ myUserProfile { userId name } }')).data).toEqual({ myUserProfile: { userId: 'alice', name: null } });
    await live.dispose();

    // an operation on A's socket carrying B's Basic credentials in its own headers is still A's user
    const raw = await openRaw(server.url);
    await raw.init({ authToken: good, platform: 'WEB' });
    raw.send({ id: '1', type: 'subscribe', payload: { query: '{ appSettings { appKey } }', extensions: { headers: { Authorization: basic(appB.appKey, appB.appSecret) } } } });
    raw.send({ id: '2', type: 'subscribe', payload: { query: '{ myUserProfile { name } }', extensions: { headers: { Authorization: bearer((await appB.user('alice')).token) } } } });
    const deadline = Date.now() + 5000;
    while (raw.messages.filter((m) => m.type === 'complete' || m.type === 'error').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const settings = raw.messages.find((m) => m.id === '1' && (m.type === 'next' || m.type === 'error'));
    expect(settings.payload.errors?.[0]?.extensions?.code ?? settings.payload[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(raw.messages)).not.toContain(appB.appKey);
    expect(raw.messages.find((m) => m.id === '2' && m.type === 'next').payload.data).toEqual({ myUserProfile: { name: null } });
    raw.ws.close();
  });

  it("a deferred socket (empty connection_init) whose first operation brings B's Basic credentials closes with 4403", async () => {
    const raw = await openRaw(server.url);
    await raw.init({});
    raw.send({ id: '1', type: 'subscribe', payload: { query: '{ appSettings { appKey } }', extensions: { headers: { Authorization: basic(appB.appKey, appB.appSecret) } } } });
    expect((await raw.closed).code).toBe(4403);
    expect(JSON.stringify(raw.messages)).not.toContain(appB.appKey);
  });
});

// ---------------------------------------------------------------------------------------------
// Expiry exactly at the tolerance

describe('expiry: valid up to exp + 1 s, refused right after', () => {
  it('over HTTP and at connect, for a token seen before (verified once, remembered) and one seen for the first time', async () => {
    server.clock.set(Math.ceil(server.clock.now().getTime() / 1000) * 1000 + 1000);
    const issue = async () =>
      (await appA.backend.ok('mutation { issueUserToken(userId: "alice", expiresInSeconds: 60) { token expiresAt } }')).issueUserToken as { token: string; expiresAt: string };
    const seen = await issue();
    const fresh = await issue();
    const fresh2 = await issue();
    const exp = Date.parse(seen.expiresAt);
    expect(Date.parse(fresh.expiresAt)).toBe(exp);
    await expectAccepted(seen.token);

    server.clock.set(exp + 1000);
    await expectAccepted(seen.token);
    await expectAccepted(fresh.token);

    server.clock.set(exp + 1001);
    for (const [what, token] of [['seen', seen.token], ['fresh', fresh.token], ['never used', fresh2.token]] as const) {
      await expectRefusedOverHttp(token, `${what} at exp + 1.001 s`);
      await expectRefusedOverWs(token, `${what} at exp + 1.001 s`);
    }
    // a token issued now works (the clock, not the server, refused the old ones)
    await expectAccepted((await issue()).token);
  });
});

describe('an open socket whose token expires', () => {
  it("an open socket is closed with 4403 'token expired' within 2 s once its token is past exp + 1 s", async () => {
    const { token, expiresAt } = (await appA.backend.ok('mutation { issueUserToken(userId: "alice", expiresInSeconds: 60) { token expiresAt } }')).issueUserToken;
    const live = connectLive(server.url, { authToken: token, platform: 'WEB' });
    await live.connected;
    server.clock.set(Date.parse(expiresAt) + 1001);
    const closed = await Promise.race([live.closed, new Promise((r) => setTimeout(() => r('still open'), 2500))]);
    expect(closed).toEqual({ code: 4403, reason: 'token expired' });
  });
});

// ---------------------------------------------------------------------------------------------
// Replay after revocation

describe('replay after revokeUserTokens', () => {
  it('the old token is refused over HTTP, over a new socket and a deferred one; its open socket is closed; a token issued right after works', async () => {
    const old = (await appA.user('replayed')).token;
    const other = (await appB.user('replayed')).token;
    await expectAccepted(old, 'replayed'); // verified and remembered by the server before the revocation
    const open = connectLive(server.url, { authToken: old, platform: 'WEB' });
    await open.connected;

    expect((await appA.backend.ok('mutation { revokeUserTokens(userId: "replayed") }')).revokeUserTokens).toBe(true);
    // the clock has not moved: the new token carries the same second as the revocation
    const renewed = (await appA.backend.ok('mutation { issueUserToken(userId: "replayed") { token } }')).issueUserToken.token as string;

    expect((await open.closed).code).toBe(4403);
    await expectRefusedOverHttp(old, 'replayed over HTTP');
    await expectRefusedOverWs(old, 'replayed over a new socket');
    const deferred = await openRaw(server.url);
    await deferred.init({});
    deferred.send({ id: '1', type: 'subscribe', payload: { query: ME, extensions: { headers: { Authorization: bearer(old) } } } });
    expect((await deferred.closed).code).toBe(4403);
    expect(deferred.messages.some((m) => m.type === 'next')).toBe(false);

    await expectAccepted(renewed, 'replayed');
    // the same user id of app B was not revoked
    await expectAccepted(other, 'replayed');
    // and replaying the old one after the new one was used still fails
    await expectRefusedOverHttp(old, 'replayed again');
  });
});
