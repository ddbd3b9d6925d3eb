import { connect } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GraphQLClient } from './helpers/client.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

// Inputs an adversarial review sent to a running server: each must be refused with a clear
// error (SPEC §7) and change nothing; none may end as INTERNAL.

let server: TestServer;
let app: TestApp;
beforeAll(async () => {
  server = await startTestServer();
  app = await server.newApp();
});
afterAll(() => server?.stop());

/** A POST written byte for byte (extra header lines and a body fetch would refuse or re-encode). */
async function rawPost(url: string, headerLines: Buffer, authorization: string, body: Buffer): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(
    Buffer.concat([
      Buffer.from(`POST /graphql HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\nauthorization: ${authorization}\r\nconnection: close\r\ncontent-length: ${body.length}\r\n`),
      headerLines,
      Buffer.from('\r\n'),
      body,
    ]),
  );
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'end');
  const text = Buffer.concat(chunks).toString('utf8');
  const [head, ...rest] = text.split('\r\n\r\n');
  const chunked = /transfer-encoding: chunked/i.test(head!);
  let payload = rest.join('\r\n\r\n');
  if (chunked) payload = payload.split('\r\n').filter((_, i) => i % 2 === 1).join('');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head!)![1]), body: payload };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const FRIENDS = 'query($t: String) { friends(pageToken: $t, count: 1) { items { userId } nextPageToken } }';
const APPLICATIONS = 'query($t: String) { friendApplications(pageToken: $t, count: 1) { items { userId } nextPageToken } }';
const ADMIN_ADD = 'mutation($u: ID!, $f: ID!) { adminAddFriend(userId: $u, friendId: $f) }';

describe('page tokens', () => {
  it('a forged token (out-of-range date, edited or borrowed) is BAD_USER_INPUT naming pageToken, never INTERNAL', async () => {
    const alice = await app.user('pt-alice');
    const bob = await app.user('pt-bob');
    for (const f of ['pt-f1', 'pt-f2', 'pt-f3']) {
      await app.user(f);
      await app.backend.ok(ADMIN_ADD, { u: 'pt-alice', f });
      await app.backend.ok(ADMIN_ADD, { u: 'pt-bob', f });
    }
    const aliceToken = (await alice.ok(FRIENDS)).friends.nextPageToken as string;
    expect(aliceToken).toEqual(expect.any(String));
    // the real token works
    expect((await alice.ok(FRIENDS, { t: aliceToken })).friends.items).toHaveLength(1);

    const forged = [
      b64({ l: 'friends', t: '-271821-04-20T00:00:00.000Z', u: 'bob' }),
      b64({ l: 'applications', t: '+275760-09-13T00:00:00.000Z', f: 'a', u: 'b' }),
      b64({ l: 'friends', t: '2026-01-01T00:00:00.000Z', u: 'pt-f1' }),
      // the real token with its position edited, its signature kept
      `${b64(['-271821-04-20T00:00:00.000Z', 'pt-f1'])}.${aliceToken.split('.')[1]}`,
      `${aliceToken}x`,
      '.',
    ];
    for (const t of forged) {
      for (const query of [FRIENDS, APPLICATIONS]) {
        const result = await alice.request(query, { t });
        expect(result.errors?.[0]?.extensions, t).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
      }
    }
    // alice's token is not bob's
    expect((await bob.fails(FRIENDS, { t: aliceToken })).extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['pageToken'] });
  });

  it('offset pages far past the end are empty or refused, never INTERNAL', async () => {
    const user = await app.user('pt-pager');
    const pages = await app.backend.request('{ allUserProfiles(page: 2147483647, size: 100) { items { userId } } }');
    expect(pages.errors?.[0]?.extensions?.code ?? 'ok').not.toBe('INTERNAL');
    const subscribed = await user.request('{ subscribedUsers(type: USER_PROFILE, startIndex: 2147483647, pageSize: 200) { total } }');
    expect(subscribed.errors?.[0]?.extensions?.code ?? 'ok').not.toBe('INTERNAL');
  });
});

describe('text that PostgreSQL cannot store (U+0000, lone surrogates)', () => {
  it('a deviceId with U+0000 or a lone surrogate in connection_init closes with 4400, like any bad deviceId', async () => {
    const user = await app.user('nul-ws');
    for (const deviceId of ['phone\u0000', 'phone\ud800', 'tab\tbed']) {
      const raw = await openRaw(server.url);
      raw.send({ type: 'connection_init', payload: { authToken: user.token, deviceId } });
      expect((await raw.closed).code, JSON.stringify(deviceId)).toBe(4400);
    }
  });

  it('an X-Device-Id header with control characters is BAD_USER_INPUT naming it, and the write does not happen', async () => {
    const user = await app.user('nul-http');
    const before = (await user.ok('{ myUserProfile { version } }')).myUserProfile.version;
    // fetch refuses to send such a header; a raw request does (byte 0x85 is U+0085, a C1 control)
    const body = JSON.stringify({ query: 'mutation { updateMyUserProfile(profile: { name: "n" }) { version } }' });
    const answer = await rawPost(server.url, Buffer.concat([Buffer.from('x-device-id: phone'), Buffer.from([0x85]), Buffer.from('\r\n')]), user.authorization!, Buffer.from(body));
    expect(JSON.parse(answer.body).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['x-device-id'] });
    expect((await user.ok('{ myUserProfile { version } }')).myUserProfile.version).toBe(before);
  });

  it('Basic credentials whose appKey holds U+0000 (or cannot be an appKey) are UNAUTHENTICATED, never INTERNAL', async () => {
    for (const appKey of ['a\u0000b', `${app.appKey}\u0000`, 'x'.repeat(10_000)]) {
      const client = new GraphQLClient(server.url, `Basic ${Buffer.from(`${appKey}:${app.appSecret}`).toString('base64')}`);
      const result = await client.request('{ appSettings { defaultProfileVisibility } }');
      expect(result.errors?.[0]?.extensions?.code, JSON.stringify(appKey.slice(0, 40))).toBe('UNAUTHENTICATED');
    }
  });

  it('every string argument refuses U+0000 and lone surrogates with BAD_USER_INPUT from its resolver, never INTERNAL', async () => {
    const user = await app.user('nul-args');
    await app.user('nul-other');
    await app.backend.ok('mutation { defineExtProfileKey(key: "nulkey") { key } }');
    const cases: [GraphQLClient, string, (bad: string) => Record<string, unknown>][] = [
      [user, 'mutation($v: String) { updateMyUserProfile(profile: { name: $v }) { version } }', (v) => ({ v })],
      [user, 'mutation($v: String) { updateMyUserProfile(profile: { email: $v, location: $v, birthday: $v, portraitUri: $v }) { version } }', (v) => ({ v })],
      [user, 'mutation($v: String) { updateMyUserProfile(profile: { userExtProfile: [{ key: "nulkey", value: $v }] }) { version } }', (v) => ({ v })],
      [user, 'mutation($v: String!) { updateMyUserProfile(profile: { userExtProfile: [{ key: $v, value: "x" }] }) { version } }', (v) => ({ v })],
      [user, 'mutation($v: ID!) { addFriend(userId: $v) { outcome } }', (v) => ({ v })],
      [user, 'mutation($v: String) { addFriend(userId: "nul-other", extra: $v) { outcome } }', (v) => ({ v })],
      [user, 'mutation($v: String) { refuseFriendApplication(userId: "nul-other", reason: $v) }', (v) => ({ v })],
      [user, 'mutation($v: String) { setFriendRemark(userId: "nul-other", remark: $v) }', (v) => ({ v })],
      [user, 'mutation($v: [ID!]!) { deleteFriends(userIds: $v) }', (v) => ({ v: [v] })],
      [user, 'query($v: [ID!]!) { userProfiles(userIds: $v) { userId } }', (v) => ({ v: [v] })],
      [user, 'query($v: [ID!]!) { checkFriends(userIds: $v) { userId } }', (v) => ({ v: [v] })],
      [user, 'query($v: [ID!]!) { subscribedUserStatus(type: USER_PROFILE, userIds: $v) { userId } }', (v) => ({ v: [v] })],
      [user, 'mutation($v: [ID!]!) { subscribeUserStatus(type: USER_PROFILE, userIds: $v, expiry: 3600) { failedUserIds } }', (v) => ({ v: [v] })],
      [user, 'mutation($v: [ID!]!) { unsubscribeUserStatus(type: USER_PROFILE, userIds: $v) }', (v) => ({ v: [v] })],
      [user, 'query($v: String) { friends(pageToken: $v) { nextPageToken } }', (v) => ({ v })],
      [user, 'query($v: String) { friendApplications(pageToken: $v) { nextPageToken } }', (v) => ({ v })],
      [user, 'query($v: String!) { searchUserProfileByUniqueId(uniqueId: $v) { userId } }', (v) => ({ v })],
      [app.backend, 'mutation($v: ID!) { issueUserToken(userId: $v) { token } }', (v) => ({ v })],
      [app.backend, 'mutation($v: ID!) { revokeUserTokens(userId: $v) }', (v) => ({ v })],
      [app.backend, 'mutation($v: ID!) { setUserProfile(userId: $v, profile: { name: "n" }) { version } }', (v) => ({ v })],
      [app.backend, 'mutation($v: String) { setUserProfile(userId: "nul-other", profile: { uniqueId: $v }) { version } }', (v) => ({ v })],
      [app.backend, 'mutation($v: ID!) { adminAddFriend(userId: "nul-other", friendId: $v) }', (v) => ({ v })],
      [app.backend, 'mutation($v: [ID!]!) { cleanUserProfiles(userIds: $v) }', (v) => ({ v: [v] })],
      [app.backend, 'query($v: [ID!]!) { adminUserProfiles(userIds: $v) { userId } }', (v) => ({ v: [v] })],
      [app.backend, 'mutation($v: String!) { defineExtProfileKey(key: $v) { key } }', (v) => ({ v })],
      [app.backend, 'mutation($v: String!) { removeExtProfileKey(key: $v) }', (v) => ({ v })],
      [server.operator, 'mutation($v: String!) { createApp(name: $v) { appKey } }', (v) => ({ v })],
    ];
    for (const bad of ['a\u0000b', 'a\udc00b']) {
      for (const [client, query, variables] of cases) {
        const result = await client.request(query, variables(bad));
        const error = result.errors?.[0];
        // refused by the field's own rules (it has a path), not by validation of a mistyped document
        expect({ code: error?.extensions?.code, path: error?.path !== undefined }, `${query} ${JSON.stringify(bad)}`).toEqual({ code: 'BAD_USER_INPUT', path: true });
      }
    }
  });
});

const SPEC_CODES = ['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'LIMIT_EXCEEDED', 'VERSION_CONFLICT', 'RATE_LIMITED', 'CURSOR_EXPIRED', 'INTERNAL'];

/** The error messages of one operation sent over a raw graphql-ws socket. */
async function overSocket(token: string, payload: Record<string, unknown>): Promise<any[]> {
  const raw = await openRaw(server.url);
  await raw.init({ authToken: token });
  raw.send({ id: '1', type: 'subscribe', payload });
  const deadline = Date.now() + 5000;
  while (!raw.messages.some((m) => m.id === '1' && (m.type === 'error' || m.type === 'complete'))) {
    if (Date.now() > deadline) throw new Error(`no answer: ${JSON.stringify(raw.messages)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  raw.ws.close();
  return raw.messages.filter((m) => m.id === '1').flatMap((m) => (m.type === 'error' ? m.payload : m.type === 'next' ? (m.payload.errors ?? []) : []));
}

describe('every error carries a SPEC §7 code, the same over HTTP and graphql-ws', () => {
  // [what, request, the status yoga answers over HTTP]
  const documents: [string, Record<string, unknown>, number][] = [
    ['two operations and no operationName', { query: 'query A { myUserProfile { userId } } query B { myUserProfile { name } }' }, 400],
    ['an operationName that is not in the document', { query: 'query A { myUserProfile { userId } }', operationName: 'C' }, 400],
    ['an unknown field', { query: '{ myUserProfile { nope } }' }, 400],
    ['a syntax error', { query: '{ myUserProfile { ' }, 400],
    ['a variable of the wrong type', { query: 'query($c: Int) { friends(count: $c) { nextPageToken } }', variables: { c: 'many' } }, 200],
    ['a missing required variable', { query: 'query($ids: [ID!]!) { userProfiles(userIds: $ids) { userId } }' }, 200],
  ];

  for (const [what, payload, status] of documents) {
    it(`${what}: BAD_USER_INPUT over both, no extensions.http over the socket`, async () => {
      const user = await app.user('codes');
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: user.authorization! },
        body: JSON.stringify(payload),
      });
      const http = (await response.json()) as { errors?: { extensions?: Record<string, unknown> }[] };
      expect(http.errors?.length, JSON.stringify(http)).toBeGreaterThan(0);
      for (const e of http.errors!) expect(e.extensions?.code, JSON.stringify(e)).toBe('BAD_USER_INPUT');
      expect(response.status).toBe(status);

      const socket = await overSocket(user.token, payload);
      expect(socket.length, JSON.stringify(socket)).toBeGreaterThan(0);
      for (const e of socket) {
        expect(e.extensions?.code, JSON.stringify(e)).toBe('BAD_USER_INPUT');
        expect(e.extensions).not.toHaveProperty('http');
      }
      expect(socket.map((e) => e.message).sort()).toEqual(http.errors!.map((e) => (e as { message: string }).message).sort());
    });
  }

  it('malformed HTTP requests answer a SPEC code, and invalid JSON does not echo the parser', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body });
    const answers = [
      await post('{"query": '),
      await post('{"query": '),
      await post('[]'),
      await post('"text"'),
      await post('{"query": 1}'),
      await post('{"query": "{ __typename }", "variables": "x"}'),
      await fetch(`${server.url}?query=${encodeURIComponent('mutation { createApp(name: "x") { appKey } }')}`, { headers: { accept: 'application/json' } }),
      await fetch(server.url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }),
    ];
    const statuses = [];
    for (const response of answers) {
      statuses.push(response.status);
      const text = await response.text();
      const body = JSON.parse(text) as { errors: { extensions?: Record<string, unknown> }[] };
      for (const e of body.errors) expect(SPEC_CODES, text).toContain(e.extensions?.code);
      expect(text).not.toMatch(/originalError|SyntaxError|position \d|Unexpected end/);
    }
    // the statuses the GraphQL-over-HTTP audits expect (test/compliance.test.ts runs them all)
    expect(statuses.slice(0, 2)).toEqual([400, 400]);
    expect(statuses[6]).toBe(405);
  });
});

describe('INTROSPECTION=false: no "Did you mean" names the hidden schema', () => {
  // (variables of queries and mutations are coerced by graphql-jit, which suggests nothing; those of
  // subscriptions by graphql-js, which does)
  const probes: Record<string, unknown>[] = [
    { query: '{ myUserProfil { userId } }' },
    { query: '{ myUserProfile { nam } }' },
    { query: 'mutation { updateMyUserProfileVisibility(visibility: EVERYON) }' },
    { query: 'mutation { updateMyUserProfile(profile: { nam: "x" }) { version } }' },
    { query: 'query($t: SubscribeTyp!) { subscribedUsers(type: $t) { total } }' },
    { query: 'subscription($t: SubscribeType!) { subscribedUserStatusChange(type: $t) { __typename } }', variables: { t: 'ONLINE_STATU' } },
  ];

  async function messages(target: TestServer, token: string, authorization: string, payload: Record<string, unknown>): Promise<string[]> {
    const response = await fetch(target.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(payload) });
    const http = ((await response.json()) as { errors?: { message: string }[] }).errors ?? [];
    const raw = await openRaw(target.url);
    await raw.init({ authToken: token });
    raw.send({ id: 'p', type: 'subscribe', payload });
    const deadline = Date.now() + 5000;
    while (!raw.messages.some((m) => m.id === 'p' && (m.type === 'error' || m.type === 'complete' || m.payload?.errors))) {
      if (Date.now() > deadline) throw new Error(`no answer: ${JSON.stringify(raw.messages)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    raw.ws.close();
    const socket = raw.messages.filter((m) => m.id === 'p').flatMap((m) => (m.type === 'error' ? m.payload : (m.payload?.errors ?? [])));
    expect(http.length, JSON.stringify(payload)).toBeGreaterThan(0);
    expect(socket.length, JSON.stringify(payload)).toBeGreaterThan(0);
    return [...http, ...socket].map((e: { message: string }) => e.message);
  }

  it('with introspection on, each probe is answered with a suggestion (what the probes look for)', async () => {
    const user = await app.user('suggest-on');
    const without = [];
    for (const payload of probes) if (!(await messages(server, user.token, user.authorization!, payload)).join('\n').includes('Did you mean')) without.push(payload);
    expect(without).toEqual([]);
  });

  it('with introspection off, the same probes get errors without any suggestion, over HTTP and the socket', async () => {
    const closed = await startTestServer({ config: { introspection: false } });
    try {
      const other = await closed.newApp();
      const user = await other.user('suggest-off');
      for (const payload of probes) {
        const all = await messages(closed, user.token, user.authorization!, payload);
        for (const message of all) expect(message, JSON.stringify(payload)).not.toMatch(/Did you mean|EVERYONE|ONLINE_STATUS"|"name"|"myUserProfile"|SubscribeType"/);
      }
    } finally {
      await closed.stop();
    }
  });
});

describe('malformed UTF-8', () => {
  it('a body with invalid UTF-8 bytes is refused with 400 before it is parsed, and nothing is written', async () => {
    const user = await app.user('utf8');
    const before = (await user.ok('{ myUserProfile { version name } }')).myUserProfile;
    const [head, tail] = JSON.stringify({ query: 'mutation($n: String) { updateMyUserProfile(profile: { name: $n }) { version } }', variables: { n: 'AB' } }).split('AB');
    for (const bad of [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80]]) {
      const body = Buffer.concat([Buffer.from(head!), Buffer.from(bad), Buffer.from(tail!)]);
      for (const contentType of ['application/json', 'application/graphql+json', 'application/x-www-form-urlencoded']) {
        const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': contentType, authorization: user.authorization! }, body });
        expect(response.status, `${contentType} ${bad}`).toBe(400);
        expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
      }
    }
    expect((await user.ok('{ myUserProfile { version name } }')).myUserProfile).toEqual(before);
  });

  it('a text frame with invalid UTF-8 closes the socket (1007) and changes nothing', async () => {
    const user = await app.user('utf8-ws');
    const before = (await user.ok('{ myUserProfile { version } }')).myUserProfile.version;
    const raw = await openRaw(server.url);
    await raw.init({ authToken: user.token });
    const frame = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'mutation { updateMyUserProfile(profile: { name: "AB" }) { version } }' } }).split('AB');
    raw.ws.send(Buffer.concat([Buffer.from(frame[0]!), Buffer.from([0xc3, 0x28]), Buffer.from(frame[1]!)]), { binary: false });
    expect((await raw.closed).code).toBe(1007);
    expect((await user.ok('{ myUserProfile { version } }')).myUserProfile.version).toBe(before);
  });
});

describe('frames the socket refuses', () => {
  it('an oversized frame closes with 1009 and is logged through the project logger, not console.error', async () => {
    const user = await app.user('big-frame');
    const consoleError = vi.spyOn(console, 'error');
    const logged = vi.spyOn(server.app.services.log, 'warn');
    try {
      const raw = await openRaw(server.url);
      await raw.init({ authToken: user.token });
      raw.ws.send('x'.repeat(server.app.services.config.wsMaxPayloadBytes + 1));
      expect((await raw.closed).code).toBe(1009);
      await new Promise((r) => setTimeout(r, 50)); // graphql-ws's listener ran in the same tick, had it stayed
      expect(consoleError).not.toHaveBeenCalled();
      expect(logged).toHaveBeenCalledWith(expect.objectContaining({ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' }), expect.stringContaining('websocket error'));
    } finally {
      consoleError.mockRestore();
      logged.mockRestore();
    }
  });
});
