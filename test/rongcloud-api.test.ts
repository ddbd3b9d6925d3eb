import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.ts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureOf } from '../src/rongcloud-api/signature.ts';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

/**
 * RongCloud's server API (SPEC §13) as an official server SDK calls it: form bodies, signed
 * headers, `{ code: 200, … }` answers, over real HTTP against a real server.
 */

interface Answer {
  status: number;
  requestId: string | null;
  body: { code: number; errorMessage?: string; [k: string]: any };
}

type Form = Record<string, string | number | (string | number)[]>;

/** An official-style client: signs every request as RongCloud's SDKs do, sends a form body. */
class RongCloudClient {
  constructor(
    private readonly base: string,
    private readonly appKey: string,
    private readonly appSecret: string,
    private readonly now: () => number,
    private readonly options: { timestampUnit?: 's' | 'ms'; aliases?: boolean; lists?: 'repeated' | 'joined' } = {},
  ) {}

  with(options: RongCloudClient['options']): RongCloudClient {
    return new RongCloudClient(this.base, this.appKey, this.appSecret, this.now, { ...this.options, ...options });
  }

  headers(overrides: { secret?: string; timestamp?: string; appKey?: string } = {}): Record<string, string> {
    // as the Java SDK: String.valueOf(Math.random() * 1000000), a dot and ~17 characters
    const nonce = String(Math.random() * 1_000_000);
    const ms = this.now();
    const timestamp = overrides.timestamp ?? (this.options.timestampUnit === 'ms' ? String(ms) : String(Math.floor(ms / 1000)));
    const signature = signatureOf(overrides.secret ?? this.appSecret, nonce, timestamp);
    const prefix = this.options.aliases ? 'RC-' : '';
    return {
      [`${prefix}App-Key`]: overrides.appKey ?? this.appKey,
      [`${prefix}Nonce`]: nonce,
      [`${prefix}Timestamp`]: timestamp,
      [`${prefix}Signature`]: signature,
    };
  }

  encode(form: Form): string {
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(form)) {
      if (!Array.isArray(value)) body.append(key, String(value));
      else if (this.options.lists === 'joined') body.append(key, value.join(','));
      else for (const item of value) body.append(key, String(item));
    }
    return body.toString();
  }

  async post(path: string, form: Form = {}, overrides: Parameters<RongCloudClient['headers']>[0] & { requestId?: string } = {}): Promise<Answer> {
    const response = await fetch(this.base + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-request-id': overrides.requestId ?? randomUUID(),
        ...this.headers(overrides),
      },
      body: this.encode(form),
    });
    return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as Answer['body'] };
  }

  /** A call that must succeed. */
  async ok(path: string, form: Form = {}): Promise<Answer['body']> {
    const answer = await this.post(path, form);
    if (answer.status !== 200 || answer.body.code !== 200) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }
}

let server: TestServer;
let base: string;
let app: TestApp;
let rc: RongCloudClient;

const clientFor = (a: { appKey: string; appSecret: string }) => new RongCloudClient(base, a.appKey, a.appSecret, () => server.clock.now().getTime());

beforeAll(async () => {
  server = await startTestServer();
  base = server.url.replace(/\/graphql$/, '');
  app = await server.newApp();
  await app.backend.ok('mutation { defineExtProfileKey(key: "hobby") { key } }');
  rc = clientFor(app);
}, 60_000);
afterAll(() => server?.stop());

describe('the signature', () => {
  it("matches RongCloud's documented test vector", () => {
    expect(signatureOf('Y1W2MeFwwwRxa0', '14314', '1408710653000')).toBe('30be0bbca9c9b2e27578701e9fda2358a814c88f');
    expect(createHash('sha1').update('Y1W2MeFwwwRxa0' + '14314' + '1408710653000').digest('hex')).toBe('30be0bbca9c9b2e27578701e9fda2358a814c88f');
  });

  it('is accepted with seconds and with milliseconds, with the default headers and the RC- aliases, and echoes X-Request-ID', async () => {
    for (const options of [{ timestampUnit: 's' as const }, { timestampUnit: 'ms' as const }, { timestampUnit: 's' as const, aliases: true }, { timestampUnit: 'ms' as const, aliases: true }]) {
      const answer = await rc.with(options).post('/user/checkOnline.json', { userId: 'sig-user' }, { requestId: 'req-12345' });
      expect(answer, JSON.stringify(options)).toMatchObject({ status: 200, requestId: 'req-12345', body: { code: 200, status: '0' } });
    }
  });

  it('compares case-insensitively', async () => {
    const headers = rc.headers();
    headers.Signature = headers.Signature!.toUpperCase();
    const response = await fetch(`${base}/user/checkOnline.json`, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: 'userId=u1' });
    expect(response.status).toBe(200);
  });

  it('a wrong secret is HTTP 401, code 1004, and nothing is written', async () => {
    const answer = await rc.post('/user/profile/set.json', { userId: 'wrong-sig', userProfile: JSON.stringify({ name: 'x' }) }, { secret: 'not-the-secret' });
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ code: 1004 });
    expect(answer.body.errorMessage).toMatch(/signature/i);
    expect(answer.requestId).toBeTruthy();
    const read = await rc.ok('/user/profile/batch/query.json', { userId: ['wrong-sig'] });
    expect(read.userList).toEqual([]);
  });

  it('a timestamp outside ±10 minutes, or neither seconds nor milliseconds, is 401/1004', async () => {
    const stale = String(Math.floor(server.clock.now().getTime() / 1000) - 11 * 60);
    expect((await rc.post('/user/checkOnline.json', { userId: 'u1' }, { timestamp: stale })).body.code).toBe(1004);
    const near = String(Math.floor(server.clock.now().getTime() / 1000) - 9 * 60);
    expect((await rc.post('/user/checkOnline.json', { userId: 'u1' }, { timestamp: near })).body.code).toBe(200);
    const odd = await rc.post('/user/checkOnline.json', { userId: 'u1' }, { timestamp: '12345' });
    expect(odd).toMatchObject({ status: 401, body: { code: 1004 } });
  });

  it('missing signature headers are 401/1004; an unknown App-Key is code 1002 "invalid App-Key."', async () => {
    const bare = await fetch(`${base}/user/checkOnline.json`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'App-Key': app.appKey }, body: 'userId=u1' });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/); // made when the client sent none
    expect(await bare.json()).toMatchObject({ code: 1004 });
    const unknown = await rc.post('/user/checkOnline.json', { userId: 'u1' }, { appKey: 'no-such-app-key' });
    expect(unknown).toMatchObject({ status: 401, body: { code: 1002, errorMessage: 'invalid App-Key.' } });
  });

  it('a body over MAX_BODY_BYTES is refused with code 1005, nothing written', async () => {
    const answer = await rc.post('/user/profile/set.json', { userId: 'big', userProfile: JSON.stringify({ name: 'x' }), pad: 'p'.repeat(1_100_000) });
    expect(answer).toMatchObject({ status: 413, body: { code: 1005 } });
    expect((await rc.ok('/user/profile/batch/query.json', { userId: 'big' })).userList).toEqual([]);
  });

  it('requests are counted by endpoint and answered code', async () => {
    await rc.post('/user/checkOnline.json', { userId: 'm1' }, { secret: 'wrong' });
    const text = await (await fetch(server.metricsUrl)).text();
    expect(text).toMatch(/phs_server_api_requests_total\{endpoint="\/user\/checkOnline.json",code="200"\} [1-9]/);
    expect(text).toMatch(/phs_server_api_requests_total\{endpoint="\/user\/checkOnline.json",code="1004"\} [1-9]/);
  });

  it('an unknown path is HTTP 404, code 404; a GET is refused', async () => {
    const missing = await rc.post('/user/nothing.json');
    expect(missing).toMatchObject({ status: 404, body: { code: 404 } });
    const get = await fetch(`${base}/user/checkOnline.json`, { headers: rc.headers() });
    expect(get.status).toBe(405);
    expect(await get.json()).toMatchObject({ code: 1002 });
  });
});

describe('tokens', () => {
  it('getToken returns a token that works on /graphql; a malformed userId is 400/1002', async () => {
    const body = await rc.ok('/user/getToken.json', { userId: 'tok-user', name: 'Push Name', portraitUri: 'http://x/y.png' });
    expect(body).toMatchObject({ code: 200, userId: 'tok-user' });
    const me = await new GraphQLClient(server.url, bearer(body.token)).ok<{ myUserProfile: { userId: string } }>('{ myUserProfile { userId } }');
    expect(me.myUserProfile.userId).toBe('tok-user');
    const bad = await rc.post('/user/getToken.json', { userId: 'has space' });
    expect(bad).toMatchObject({ status: 400, body: { code: 1002 } });
    expect(bad.body.errorMessage).toMatch(/userId/);
    expect((await rc.post('/user/getToken.json', {})).body).toMatchObject({ code: 1002, errorMessage: 'userId is required' });
  });

  it('token/expire: tokens issued before `time` are refused (and their sockets closed); those issued after it work', async () => {
    const before = (await rc.ok('/user/getToken.json', { userId: 'exp-user' })).token as string;
    const socket = await openRaw(server.url);
    await socket.init({ authToken: before });
    server.clock.advance(1000);
    const time = server.clock.now().getTime();
    server.clock.advance(1000);
    const after = (await rc.ok('/user/getToken.json', { userId: 'exp-user' })).token as string;
    await rc.ok('/user/token/expire.json', { userId: ['exp-user', 'never-seen'], time });
    const refused = await new GraphQLClient(server.url, bearer(before)).fails('{ myUserProfile { userId } }');
    expect(refused.extensions?.code).toBe('UNAUTHENTICATED');
    await new GraphQLClient(server.url, bearer(after)).ok('{ myUserProfile { userId } }');
    expect((await socket.closed).code).toBe(4403);
    // a time in the future counts as now: tokens issued before the call are refused, one issued after it works
    server.clock.advance(1);
    await rc.ok('/user/token/expire.json', { userId: 'exp-user', time: time + 3_600_000 });
    server.clock.advance(1);
    const later = (await rc.ok('/user/getToken.json', { userId: 'exp-user' })).token as string;
    await new GraphQLClient(server.url, bearer(later)).ok('{ myUserProfile { userId } }');
    await new GraphQLClient(server.url, bearer(after)).fails('{ myUserProfile { userId } }');
  });

  it('token/expire without time, or with more than 20 users, is 400/1002', async () => {
    expect(await rc.post('/user/token/expire.json', { userId: 'exp-user' })).toMatchObject({ status: 400, body: { code: 1002 } });
    const many = Array.from({ length: 21 }, (_, i) => `u${i}`);
    expect(await rc.post('/user/token/expire.json', { userId: many, time: 1 })).toMatchObject({ status: 400, body: { code: 1002 } });
  });
});

describe('profiles', () => {
  it('per-field visibility hides nothing from the server API: it is the backend', async () => {
    await rc.ok('/user/profile/set.json', { userId: 'pv1', userProfile: JSON.stringify({ name: 'Pv', email: 'pv@x.io', level: 5 }), userExtProfile: JSON.stringify({ ext_hobby: 'go' }) });
    const owner = await app.user('pv1');
    await owner.ok('mutation { updateMyUserProfileVisibility(visibility: EVERYONE) }');
    await owner.ok('mutation { updateMyFieldVisibility(settings: [{ field: EMAIL, visibility: INVISIBLE }, { field: LEVEL, visibility: FRIENDS_ONLY }, { extKey: "hobby", visibility: INVISIBLE }]) { field } }');
    const other = await app.user('pv-other');
    expect((await other.ok('{ userProfiles(userIds: ["pv1"]) { name email level userExtProfile { key value } restricted } }')).userProfiles[0]).toEqual({
      name: 'Pv',
      email: null,
      level: null,
      userExtProfile: [],
      restricted: true,
    });
    const body = await rc.ok('/user/profile/batch/query.json', { userId: 'pv1' });
    expect(JSON.parse(body.userList[0].userProfile)).toMatchObject({ name: 'Pv', email: 'pv@x.io', level: 5 });
    expect(JSON.parse(body.userList[0].userExtProfile)).toEqual({ ext_hobby: 'go' });
  });

  it('set, then batch query with repeated keys and with comma-joined ids; query pages; clean removes', async () => {
    await rc.ok('/user/profile/set.json', {
      userId: 'p1',
      userProfile: JSON.stringify({ name: 'Nick', gender: 1, level: 2, uniqueId: 'nick1' }),
      userExtProfile: JSON.stringify({ ext_hobby: 'chess' }),
    });
    await rc.ok('/user/profile/set.json', { userId: 'p2', userProfile: JSON.stringify({ name: '小明' }) });
    for (const lists of ['repeated', 'joined'] as const) {
      const body = await rc.with({ lists }).ok('/user/profile/batch/query.json', { userId: ['p1', 'p2', 'unknown'] });
      expect(body.userList.map((u: { userId: string }) => u.userId)).toEqual(['p1', 'p2']);
      const p1 = body.userList[0];
      expect(JSON.parse(p1.userProfile)).toEqual({ name: 'Nick', gender: 1, level: 2, uniqueId: 'nick1' });
      expect(JSON.parse(p1.userExtProfile)).toEqual({ ext_hobby: 'chess' });
      expect(typeof p1.version).toBe('number');
      expect(JSON.parse(body.userList[1].userProfile)).toEqual({ name: '小明' });
    }
    // the same profile over GraphQL
    const seen = await app.backend.ok<{ adminUserProfiles: { name: string; gender: string; userExtProfile: { key: string; value: string }[] }[] }>(
      '{ adminUserProfiles(userIds: ["p1"]) { name gender userExtProfile { key value } } }',
    );
    expect(seen.adminUserProfiles[0]).toEqual({ name: 'Nick', gender: 'MALE', userExtProfile: [{ key: 'hobby', value: 'chess' }] });

    // a per-key merge: omitted keys stay
    await rc.ok('/user/profile/set.json', { userId: 'p1', userProfile: JSON.stringify({ level: 3 }) });
    const merged = await rc.ok('/user/profile/batch/query.json', { userId: 'p1' });
    expect(JSON.parse(merged.userList[0].userProfile)).toMatchObject({ name: 'Nick', level: 3 });

    const page = await rc.ok('/user/profile/query.json', { page: 1, count: 100, order: 1 });
    const ids = page.userList.map((u: { userId: string }) => u.userId);
    expect(ids.indexOf('p2')).toBeLessThan(ids.indexOf('p1'));

    await rc.with({ lists: 'joined' }).ok('/user/profile/clean.json', { userId: ['p2'] });
    expect((await rc.ok('/user/profile/batch/query.json', { userId: 'p2' })).userList).toEqual([]);
  });

  it('bad input: an unknown key, an undefined ext key, a bad gender, invalid JSON, over 100 ids, a bad page size, cleaning 21: each refused, nothing written', async () => {
    const before = await rc.ok('/user/profile/batch/query.json', { userId: 'p1' });
    const unknownKey = await rc.post('/user/profile/set.json', { userId: 'p1', userProfile: JSON.stringify({ name: 'Changed', AppName: 'x' }) });
    expect(unknownKey).toMatchObject({ status: 400, body: { code: 1002 } });
    expect(unknownKey.body.errorMessage).toMatch(/AppName/);
    const undefinedExt = await rc.post('/user/profile/set.json', { userId: 'p1', userProfile: JSON.stringify({ name: 'Changed' }), userExtProfile: JSON.stringify({ ext_nothing: 'x' }) });
    expect(undefinedExt.body.code).toBe(24362);
    expect((await rc.post('/user/profile/set.json', { userId: 'p1', userProfile: JSON.stringify({ gender: 7 }) })).body.code).toBe(1002);
    expect((await rc.post('/user/profile/set.json', { userId: 'p1', userProfile: '{name:' })).body.code).toBe(1002);
    const tooMany = await rc.post('/user/profile/batch/query.json', { userId: Array.from({ length: 101 }, (_, i) => `q${i}`) });
    expect(tooMany.body.code).toBe(24365);
    expect((await rc.post('/user/profile/query.json', { size: 101 })).body.code).toBe(1002);
    expect((await rc.post('/user/profile/clean.json', { userId: Array.from({ length: 21 }, (_, i) => `c${i}`) })).body.code).toBe(1002);
    const after = await rc.ok('/user/profile/batch/query.json', { userId: 'p1' });
    expect(after.userList).toEqual(before.userList);
  });

  it('one rule, one domain service: a too-long name is refused with the same RongCloud code over REST and GraphQL', async () => {
    const name = 'n'.repeat(33);
    const rest = await rc.post('/user/profile/set.json', { userId: 'rule-user', userProfile: JSON.stringify({ name }) });
    const graphql = await app.backend.fails('mutation($n: String) { setUserProfile(userId: "rule-user", profile: { name: $n }) { userId } }', { n: name });
    expect(graphql.extensions?.rcCode).toBe(24364);
    expect(rest).toMatchObject({ status: 400, body: { code: 24364 } });
    expect(rest.body.errorMessage).toBe(graphql.message);
    // 32 characters (code points) pass on both
    await rc.ok('/user/profile/set.json', { userId: 'rule-user', userProfile: JSON.stringify({ name: '字'.repeat(32) }) });
  });
});

describe('online status', () => {
  it('checkOnline is "1" while a socket is open, "0" after; a missing userId is 1002', async () => {
    const user = await app.user('online-user');
    expect((await rc.ok('/user/checkOnline.json', { userId: 'online-user' })).status).toBe('0');
    const socket = await openRaw(server.url);
    await socket.init({ authToken: user.token, platform: 'WEB' });
    expect((await rc.ok('/user/checkOnline.json', { userId: 'online-user' })).status).toBe('1');
    socket.ws.close();
    await socket.closed;
    await expect.poll(async () => (await rc.ok('/user/checkOnline.json', { userId: 'online-user' })).status, { timeout: 5000 }).toBe('0');
    expect(await rc.post('/user/checkOnline.json', {})).toMatchObject({ status: 400, body: { code: 1002 } });
  });
});

describe('friends', () => {
  it('add (directly and by permission), check, permission set/get, delete, clean', async () => {
    for (const id of ['f1', 'f2', 'f3', 'f4']) await rc.ok('/user/getToken.json', { userId: id });
    await rc.ok('/friend/add.json', { userId: 'f1', targetId: 'f2', optType: 2 });
    await rc.ok('/friend/permission/set.json', { userIds: ['f3', 'f4'], permissionType: 1 });
    const perms = await rc.with({ lists: 'joined' }).ok('/friend/permission/get.json', { userIds: ['f3', 'f4', 'f2'] });
    expect(perms.permissionSettings).toEqual([
      { userId: 'f3', type: 1 },
      { userId: 'f4', type: 1 },
      { userId: 'f2', type: 2 },
    ]);
    await rc.ok('/friend/add.json', { userId: 'f1', targetId: 'f3', extra: 'hi' }); // f3 allows anyone: added
    await rc.ok('/friend/add.json', { userId: 'f1', targetId: 'f4', optType: 2 });
    const check = await rc.with({ lists: 'joined' }).ok('/friend/check.json', { userId: 'f1', targetIds: ['f2', 'f3', 'f4', 'nobody'] });
    expect(check.results).toEqual([
      { userId: 'f2', result: 4 },
      { userId: 'f3', result: 4 },
      { userId: 'f4', result: 4 },
      { userId: 'nobody', result: 1 },
    ]);
    await rc.ok('/friend/delete.json', { userId: 'f1', targetIds: 'f2' });
    expect((await rc.ok('/friend/check.json', { userId: 'f1', targetIds: 'f2' })).results).toEqual([{ userId: 'f2', result: 1 }]);
    await rc.ok('/friend/clean.json', { userId: 'f1' });
    expect((await rc.ok('/friend/check.json', { userId: 'f1', targetIds: 'f3,f4' })).results.map((r: { result: number }) => r.result)).toEqual([1, 1]);
  });

  it('get pages the friend list (names, remarks, times); profile/set sets and clears the remark', async () => {
    for (const id of ['g0', 'g1', 'g2', 'g3']) await rc.ok('/user/profile/set.json', { userId: id, userProfile: JSON.stringify({ name: `Name ${id}` }) });
    for (const id of ['g1', 'g2', 'g3']) {
      server.clock.advance(10);
      await rc.ok('/friend/add.json', { userId: 'g0', targetId: id, optType: 2 });
    }
    await rc.ok('/friend/profile/set.json', { userId: 'g0', targetId: 'g2', remarkName: 'Two' });
    const first = await rc.ok('/friend/get.json', { userId: 'g0', size: 2 });
    expect(first).toMatchObject({ totalCount: 3 });
    expect(first.friendList.map((f: { userId: string; name: string; remarkName: string }) => [f.userId, f.name, f.remarkName])).toEqual([
      ['g1', 'Name g1', ''],
      ['g2', 'Name g2', 'Two'],
    ]);
    expect(first.friendList[0].time).toBeLessThan(first.friendList[1].time);
    expect(first.pageToken).not.toBe('');
    const second = await rc.ok('/friend/get.json', { userId: 'g0', size: 2, pageToken: first.pageToken });
    expect(second.friendList.map((f: { userId: string }) => f.userId)).toEqual(['g3']);
    expect(second.pageToken).toBe('');
    // the same remark over GraphQL (the user's own view)
    const g0 = await app.user('g0');
    const seen = await g0.ok<{ friends: { items: { userId: string; remark: string | null }[] } }>('{ friends(count: 10) { items { userId remark } } }');
    expect(seen.friends.items.find((f) => f.userId === 'g2')?.remark).toBe('Two');
    await rc.ok('/friend/profile/set.json', { userId: 'g0', targetId: 'g2', remarkName: '' });
    expect((await rc.ok('/friend/get.json', { userId: 'g0' })).friendList.find((f: { userId: string }) => f.userId === 'g2').remarkName).toBe('');
    // bad input: a forged page token, a size over 100, a remark on a non-friend, a friend ext profile
    expect((await rc.post('/friend/get.json', { userId: 'g0', pageToken: 'forged.AAAAAAAAAAAAAAAAAAAAAA' })).body.code).toBe(1002);
    expect((await rc.post('/friend/get.json', { userId: 'g0', size: 101 })).body.code).toBe(1002);
    expect((await rc.post('/friend/profile/set.json', { userId: 'g1', targetId: 'g2', remarkName: 'x' })).body.code).toBe(25469);
    expect((await rc.post('/friend/profile/set.json', { userId: 'g0', targetId: 'g1', friendExtProfile: JSON.stringify({ ext_a: 'b' }) })).body.code).toBe(1002);
  });

  it('bad input: adding yourself, a bad optType, a bad permissionType, deleting 101, an over-long extra', async () => {
    // the same rule and RongCloud code as the GraphQL operation beside it
    const self = await rc.post('/friend/add.json', { userId: 'f1', targetId: 'f1', optType: 2 });
    const viaGraphql = await app.backend.fails('mutation { adminAddFriend(userId: "f1", friendId: "f1") }');
    expect(viaGraphql.extensions?.rcCode).toEqual(expect.any(Number));
    expect(self).toMatchObject({ status: 400, body: { code: viaGraphql.extensions!.rcCode } });
    expect((await rc.post('/friend/add.json', { userId: 'f1', targetId: 'f2', optType: 9 })).body.code).toBe(1002);
    expect((await rc.post('/friend/permission/set.json', { userIds: 'f1', permissionType: 4 })).body.code).toBe(1002);
    expect((await rc.post('/friend/delete.json', { userId: 'f1', targetIds: Array.from({ length: 101 }, (_, i) => `d${i}`) })).body.code).toBe(1002);
    expect((await rc.post('/friend/add.json', { userId: 'f1', targetId: 'f2', extra: 'x'.repeat(129) })).body.code).toBe(25470);
    expect((await rc.ok('/friend/check.json', { userId: 'f1', targetIds: 'f2' })).results).toEqual([{ userId: 'f2', result: 1 }]);
  });
});

describe('app secrets', () => {
  it('an app from before the server API (no encrypted secret) keeps Basic auth, gets a clear REST error, and works for both after rotateAppSecret', async () => {
    const old = await server.newApp();
    // what an app created before this change looks like: its secret stored only as a hash
    await server.app.services.db.deleteFrom('appSealedSecrets').where('appKey', '=', old.appKey).execute();
    const refused = await clientFor(old).post('/user/checkOnline.json', { userId: 'u1' });
    expect(refused).toMatchObject({ status: 401, body: { code: 1001 } });
    expect(refused.body.errorMessage).toMatch(/rotateAppSecret/);
    await old.backend.ok('{ appSettings { appKey } }');

    const rotated = await old.backend.ok<{ rotateAppSecret: { appKey: string; appSecret: string } }>('mutation { rotateAppSecret { appKey appSecret } }');
    expect(rotated.rotateAppSecret.appKey).toBe(old.appKey);
    const fresh = { appKey: old.appKey, appSecret: rotated.rotateAppSecret.appSecret };
    expect(fresh.appSecret).not.toBe(old.appSecret);
    expect((await clientFor(fresh).ok('/user/checkOnline.json', { userId: 'u1' })).status).toBe('0');
    await new GraphQLClient(server.url, basic(fresh.appKey, fresh.appSecret)).ok('{ appSettings { appKey } }');
    // the old secret stops working at once, on both
    expect((await old.backend.fails('{ appSettings { appKey } }')).extensions?.code).toBe('UNAUTHENTICATED');
    expect((await clientFor(old).post('/user/checkOnline.json', { userId: 'u1' })).body.code).toBe(1004);
    // the secret is stored encrypted, never as text
    const stored = await server.app.services.db.selectFrom('appSealedSecrets').selectAll().where('appKey', '=', old.appKey).executeTakeFirstOrThrow();
    expect(stored.sealed).not.toContain(fresh.appSecret);
  });

  it("a sealed secret opens only for its own app: copied onto another app's row it is refused, not used", async () => {
    const a = await server.newApp();
    const b = await server.newApp();
    const db = server.app.services.db;
    const sealedA = await db.selectFrom('appSealedSecrets').select('sealed').where('appKey', '=', a.appKey).executeTakeFirstOrThrow();
    await db.updateTable('appSealedSecrets').set({ sealed: sealedA.sealed }).where('appKey', '=', b.appKey).execute();
    // b signing with a's secret: the copied secret does not open under b's key
    const forged = await clientFor({ appKey: b.appKey, appSecret: a.appSecret }).post('/user/checkOnline.json', { userId: 'u1' });
    expect(forged).toMatchObject({ status: 401, body: { code: 1001 } });
    expect((await clientFor(a).post('/user/checkOnline.json', { userId: 'u1' })).body.code).toBe(200);
  });

  it('the embedded setup generates SECRET_ENCRYPTION_KEY once into DATA_DIR; a data directory from before gains one, and its development app works over REST', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'phs-rest-'));
    const start = async () => {
      const built = await buildApp({ config: { port: 0, host: '127.0.0.1', metricsPort: null, logLevel: 'warn', tokenSecret: undefined, secretEncryptionKey: undefined }, database: { kind: 'embedded', dataDir } });
      return { built, started: await built.start() };
    };
    try {
      let { built, started } = await start();
      const secretsPath = join(dataDir, 'dev-secrets.json');
      const first = JSON.parse(readFileSync(secretsPath, 'utf8'));
      expect(first.secretEncryptionKey.length).toBeGreaterThanOrEqual(32);
      const dev = started.devApp!;
      const devClient = () => new RongCloudClient(started.url.replace(/\/graphql$/, ''), dev.appKey, dev.appSecret, () => Date.now());
      expect((await devClient().post('/user/checkOnline.json', { userId: 'u1' })).body.code).toBe(200);
      // what a data directory from before looks like: no key in the file, no sealed secret
      await built.services.db.deleteFrom('appSealedSecrets').execute();
      await built.stop();
      const { secretEncryptionKey: _dropped, ...older } = first;
      writeFileSync(secretsPath, JSON.stringify(older));
      ({ built, started } = await start());
      expect(JSON.parse(readFileSync(secretsPath, 'utf8')).secretEncryptionKey).toEqual(expect.any(String));
      expect(started.devApp!.appKey).toBe(dev.appKey);
      expect((await devClient().post('/user/checkOnline.json', { userId: 'u1' })).body.code).toBe(200);
      await built.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('rotateAppSecret: the operator rotates any app (appKey required); a backend only its own; a user not at all', async () => {
    const other = await server.newApp();
    const byOperator = await server.operator.ok<{ rotateAppSecret: { appSecret: string } }>('mutation($k: ID) { rotateAppSecret(appKey: $k) { appSecret } }', { k: other.appKey });
    await new GraphQLClient(server.url, basic(other.appKey, byOperator.rotateAppSecret.appSecret)).ok('{ appSettings { appKey } }');
    expect((await server.operator.fails('mutation { rotateAppSecret { appSecret } }')).extensions?.code).toBe('BAD_USER_INPUT');
    expect((await app.backend.fails('mutation($k: ID) { rotateAppSecret(appKey: $k) { appSecret } }', { k: other.appKey })).extensions?.code).toBe('FORBIDDEN');
    const user = await app.user('rot-user');
    expect((await user.fails('mutation { rotateAppSecret { appSecret } }')).extensions?.code).toBe('FORBIDDEN');
  });
});

describe('hostile input', () => {
  const ENDPOINTS = [
    '/user/getToken.json',
    '/user/token/expire.json',
    '/user/profile/set.json',
    '/user/profile/batch/query.json',
    '/user/profile/query.json',
    '/user/profile/clean.json',
    '/user/checkOnline.json',
    '/friend/add.json',
    '/friend/delete.json',
    '/friend/clean.json',
    '/friend/profile/set.json',
    '/friend/get.json',
    '/friend/check.json',
    '/friend/permission/set.json',
    '/friend/permission/get.json',
  ];
  const NAMES = ['userId', 'targetId', 'targetIds', 'userIds', 'time', 'page', 'size', 'count', 'order', 'optType', 'permissionType', 'extra', 'remarkName', 'pageToken', 'userProfile', 'userExtProfile', 'friendExtProfile', 'name'];
  const value = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.integer().map(String),
    fc.json({ maxDepth: 2 }),
    fc.constantFrom('', ',', ',,,', 'u1,u2', '-1', '99999999999999999999', '\u0000', 'null', '{}', '[]', '{"name":null}', '{"ext_hobby":5}'),
  );
  it('every endpoint answers random forms with a JSON object whose code is 200 or a client error, never 1000 (internal)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.array(fc.tuple(fc.constantFrom(...NAMES), value), { maxLength: 6 }), async (path, pairs) => {
        const form: Record<string, string[]> = {};
        for (const [k, v] of pairs) (form[k] ??= []).push(v);
        const answer = await rc.post(path, form);
        expect(Number.isInteger(answer.body.code), JSON.stringify(answer.body)).toBe(true);
        expect(answer.body.code, `${path} ${JSON.stringify(form)}: ${JSON.stringify(answer.body)}`).not.toBe(1000);
        expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
        if (answer.body.code !== 200) expect(answer.body.errorMessage).toEqual(expect.any(String));
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});

describe('rate limits', () => {
  it('per App-Key and endpoint: past the rate, HTTP 429 code 1008; another endpoint and another app are unaffected', async () => {
    const limited = await startTestServer({ config: { rateLimitServerApiScale: 0.05 } }); // checkOnline 5/s, getToken 10/s
    try {
      const a = await limited.newApp();
      const client = new RongCloudClient(limited.url.replace(/\/graphql$/, ''), a.appKey, a.appSecret, () => limited.clock.now().getTime());
      const answers = await Promise.all(Array.from({ length: 12 }, () => client.post('/user/checkOnline.json', { userId: 'u1' })));
      const codes = answers.map((x) => x.body.code);
      expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(5);
      const refused = answers.find((x) => x.body.code === 1008);
      expect(refused).toMatchObject({ status: 429, body: { code: 1008 } });
      expect((await client.post('/user/getToken.json', { userId: 'u1' })).body.code).toBe(200);
      const b = await limited.newApp();
      const other = new RongCloudClient(limited.url.replace(/\/graphql$/, ''), b.appKey, b.appSecret, () => limited.clock.now().getTime());
      expect((await other.post('/user/checkOnline.json', { userId: 'u1' })).body.code).toBe(200);
      // a friend batch call counts once per item (friend endpoints: 5/s here)
      expect((await other.post('/friend/check.json', { userId: 'u1', targetIds: 'a,b,c,d' })).body.code).toBe(200);
      expect(await other.post('/friend/check.json', { userId: 'u1', targetIds: 'a,b,c,d' })).toMatchObject({ status: 429, body: { code: 1008 } });
    } finally {
      await limited.stop();
    }
  }, 60_000);
});
