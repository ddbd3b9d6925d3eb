/**
 * Webhooks (SPEC §12): deliveries driven from the event log, signed as Standard Webhooks and
 * verified here with the `standardwebhooks` library exactly as a receiver would; retries with the
 * same webhook-id; per-subject order under retries; slow and hostile receivers holding only their
 * own slots; the delivery log; the limit of 10 per app; input refusals; tenant isolation.
 * Receivers are real HTTP servers on 127.0.0.1 (private networks allowed on these servers).
 */
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineKey, expectError, makeFriends, setProfile } from './helpers/profiles.ts';
import { goLive, subscribe } from './helpers/realtime-fixtures.ts';
import { GraphQLClient, basic } from './helpers/client.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { startReceiver, type ReceivedRequest, type Receiver } from './helpers/webhook-receiver.ts';
import { pruneFinished } from '../src/webhooks/repository.ts';
import { DELIVERY_RETENTION_MS } from '../src/webhooks/worker.ts';
import {
  ALL_KINDS,
  CREATE_WEBHOOK,
  DELETE_WEBHOOK,
  PING_WEBHOOK,
  UPDATE_WEBHOOK,
  WEBHOOK_DELIVERIES,
  WEBHOOKS,
  createWebhook,
  deliveries,
  SET_PROFILE_MUTATION,
  type DeliveryJson,
} from './helpers/webhooks.ts';

let server: TestServer;
const receivers: Receiver[] = [];
const receiver = async (...args: Parameters<typeof startReceiver>) => {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
};

beforeAll(async () => {
  // a long timeout: the receiver that never answers must still be hanging when the others are done
  server = await startTestServer({ config: { webhookTimeoutMs: 8000, webhookRetryBaseMs: 100 } });
});
afterAll(async () => {
  await server?.stop();
  await Promise.all(receivers.map((r) => r.close()));
});

const ofType = (type: string) => (r: ReceivedRequest) => r.json.type === type;
const until = async (check: () => Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('deliveries', () => {
  it('signs every delivery so that standardwebhooks verifies it, and each kind comes from a real change', async () => {
    const app = await server.newApp();
    const hook = await receiver();
    const { id, secret } = await createWebhook(app, hook.url);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    await defineKey(app, 'color');
    await setProfile(app, 'bob', { name: 'Bob' });
    await hook.waitFor((rs) => rs.some((r) => r.json.data?.userId === 'bob'));
    await setProfile(app, 'alice', { name: 'Alice', email: 'alice@example.com', userExtProfile: [{ key: 'color', value: 'red' }] });
    const alice = await goLive(server, app, 'alice', { platform: 'IOS' });
    const aliceClient = await app.user('alice');
    await subscribe(aliceClient, 'ONLINE_STATUS', ['bob'], 600);
    await makeFriends(app, 'alice', 'bob');
    const ping = (await app.backend.ok(PING_WEBHOOK, { id })).pingWebhook as DeliveryJson;
    await hook.waitFor((rs) => ['profile.changed', 'presence.changed', 'subscription.changed', 'friend.event', 'ping'].every((t) => rs.some(ofType(t))));
    await alice.dispose();
    await hook.waitFor((rs) => rs.some((r) => r.json.type === 'presence.changed' && !r.json.data.details[0].online));
    expect((await app.backend.ok('mutation($ids: [ID!]!) { cleanUserProfiles(userIds: $ids) }', { ids: ['bob'] })).cleanUserProfiles).toBe(1);
    await hook.waitFor((rs) => rs.some(ofType('users.cleaned')) && rs.some((r) => r.json.type === 'friend.event' && r.json.data.event.kind === 'FriendDeleted'));

    // every request verifies as a receiver would verify it, and only with this webhook's secret
    for (const request of hook.requests) {
      expect(new Webhook(secret).verify(request.body, request.headers)).toEqual(request.json);
      expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
      expect(Number(request.headers['webhook-timestamp'])).toBeGreaterThan(Date.now() / 1000 - 300);
      expect(Date.parse(request.json.timestamp)).not.toBeNaN();
      expect(request.json.data.appKey).toBe(app.appKey);
    }
    const first = hook.requests[0]!;
    expect(() => new Webhook(secret).verify(first.body.replace('Bob', 'Eve'), first.headers)).toThrow();
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(first.body, first.headers)).toThrow();

    const profile = hook.requests.find((r) => r.json.type === 'profile.changed' && r.json.data.userId === 'alice')!.json.data;
    expect(profile).toEqual({
      appKey: app.appKey,
      userId: 'alice',
      profile: expect.objectContaining({
        userId: 'alice',
        name: 'Alice',
        email: 'alice@example.com',
        userExtProfile: [{ key: 'color', value: 'red' }],
        version: expect.any(Number),
        visibility: 'NOT_SET',
        fieldVisibility: [],
      }),
    });
    const presence = hook.requests.find((r) => r.json.type === 'presence.changed')!.json.data;
    expect(presence).toMatchObject({
      appKey: app.appKey,
      userId: 'alice',
      details: [expect.objectContaining({ platform: 'IOS', online: true })],
      cause: 'connection',
      presenceVisibility: 'NOT_SET',
      customStatus: null,
    });
    const relation = hook.requests.find(ofType('subscription.changed'))!.json.data;
    expect(relation).toMatchObject({ userId: 'alice', event: { operationType: 'SUBSCRIBE', subscribeType: 'ONLINE_STATUS', userIds: ['bob'], expiry: 600 } });
    const friendAdded = hook.requests.filter((r) => r.json.type === 'friend.event' && r.json.data.event.kind === 'FriendAdded').map((r) => r.json.data);
    expect(friendAdded.map((d) => d.userId).sort()).toEqual(['alice', 'bob']);
    expect(friendAdded.find((d) => d.userId === 'alice').event).toMatchObject({ kind: 'FriendAdded', userId: 'bob' });
    expect(hook.requests.find(ofType('users.cleaned'))!.json.data).toEqual({ appKey: app.appKey, userIds: ['bob'] });
    expect(hook.requests.find(ofType('ping'))!.json.data).toEqual({ appKey: app.appKey, webhookId: id });

    // the ping was sent before pingWebhook answered
    expect(ping).toMatchObject({ webhookId: id, kind: 'PING', status: 'DELIVERED', attempts: 1, lastStatusCode: 204, lastError: null, nextAttemptAt: null });
    expect(hook.requests.find(ofType('ping'))!.id).toBe(ping.id);

    // the delivery log: one row per request, its id the webhook-id, newest first
    const log = await deliveries(app, id);
    expect(log.map((d) => d.id).sort()).toEqual(hook.requests.map((r) => r.id).sort());
    expect(new Set(log.map((d) => d.kind))).toEqual(new Set([...ALL_KINDS, 'PING']));
    for (const d of log) {
      expect(d).toMatchObject({ webhookId: id, status: 'DELIVERED', attempts: 1, lastStatusCode: 204, lastError: null, nextAttemptAt: null });
      expect(Date.parse(d.deliveredAt!)).toBeGreaterThanOrEqual(Date.parse(d.createdAt));
    }
    const created = log.map((d) => Date.parse(d.createdAt));
    expect([...created].sort((a, b) => b - a)).toEqual(created);
    expect((await deliveries(app, id, 'DELIVERED', 1)).map((d) => d.id)).toEqual([log[0]!.id]);
    expect(await deliveries(app, id, 'PENDING')).toEqual([]);
  });

  it('retries a 500 with the same webhook-id, and the log shows the attempts, the status code and the error', async () => {
    const app = await server.newApp();
    let releaseSecond!: () => void;
    const secondMayAnswer = new Promise<void>((r) => (releaseSecond = r));
    const hook = await receiver((_request, earlier) =>
      earlier.length === 0
        ? 500
        : (res) => {
            // the second attempt waits until the test has read the log as the first one left it
            void secondMayAnswer.then(() => res.writeHead(200).end('ok'));
          },
    );
    const { id, secret } = await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    await setProfile(app, 'carol', { name: 'Carol' });
    await hook.waitFor((rs) => rs.length === 2);
    const [pending] = await deliveries(app, id);
    expect(pending).toMatchObject({ status: 'PENDING', attempts: 1, lastStatusCode: 500, lastError: 'HTTP 500', deliveredAt: null });
    expect(pending!.nextAttemptAt).not.toBeNull();
    releaseSecond();
    await until(async () => (await deliveries(app, id))[0]!.status === 'DELIVERED', 'the retry to be recorded');
    const [delivered] = await deliveries(app, id);
    expect(delivered).toMatchObject({ id: pending!.id, status: 'DELIVERED', attempts: 2, lastStatusCode: 200, lastError: null, nextAttemptAt: null });
    expect(hook.requests.map((r) => r.id)).toEqual([pending!.id, pending!.id]);
    // the same body, signed anew for each attempt
    expect(hook.requests[1]!.body).toBe(hook.requests[0]!.body);
    for (const r of hook.requests) expect(new Webhook(secret).verify(r.body, r.headers)).toEqual(r.json);
  });

  it('does not follow redirects: a 3xx is a failed attempt and the other address is never called', async () => {
    const app = await server.newApp();
    const elsewhere = await receiver();
    const hook = await receiver(() => (res) => res.writeHead(302, { location: elsewhere.url }).end());
    const { id } = await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    await setProfile(app, 'dora', { name: 'Dora' });
    await hook.waitFor((rs) => rs.length >= 2);
    const [d] = await deliveries(app, id);
    expect(d).toMatchObject({ status: 'PENDING', lastStatusCode: 302, lastError: 'HTTP 302 (redirects are not followed)' });
    expect(elsewhere.requests).toEqual([]);
    await app.backend.ok(DELETE_WEBHOOK, { id });
  });

  it("keeps one subject's deliveries in order under retries, without holding back another subject's", async () => {
    const app = await server.newApp();
    await setProfile(app, 'erin', { name: 'e0' });
    await setProfile(app, 'finn', { name: 'f0' });
    // erin's first change is refused until finn's change has arrived: had finn waited behind erin, it never would
    const hook = await receiver((request, earlier) => {
      const name = request.json.data.profile.name;
      if (name === 'e1' && !earlier.some((r) => r.json.data.profile.name === 'f1')) return 500;
      return 200;
    });
    const { id } = await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    await setProfile(app, 'erin', { name: 'e1' });
    await setProfile(app, 'erin', { name: 'e2' });
    await setProfile(app, 'erin', { name: 'e3' });
    await setProfile(app, 'finn', { name: 'f1' });
    await hook.waitFor((rs) => rs.some((r) => r.json.data.profile.name === 'e3'));
    const erin = hook.requests.filter((r) => r.json.data.userId === 'erin').map((r) => `${r.json.data.profile.name}:${r.status}`);
    // e1 refused at least once, then accepted; e2 and e3 only after it, once each, in order
    expect(erin[0]).toBe('e1:500');
    expect(erin.filter((e) => e !== 'e1:500')).toEqual(['e1:200', 'e2:200', 'e3:200']);
    const firstAccepted = hook.requests.findIndex((r) => r.json.data.profile.name === 'e1' && r.status === 200);
    expect(hook.requests.findIndex((r) => r.json.data.profile.name === 'f1')).toBeLessThan(firstAccepted);
    const log = await deliveries(app, id);
    expect(log.every((d) => d.status === 'DELIVERED')).toBe(true);
  });

  it('a receiver that never answers holds only its own slots and does not delay another webhook', async () => {
    const app = await server.newApp();
    const hung = await receiver(() => 'hang');
    const fine = await receiver();
    const stuck = await createWebhook(app, hung.url, ['PROFILE_CHANGED']);
    const healthy = await createWebhook(app, fine.url, ['PROFILE_CHANGED']);
    const users = Array.from({ length: 10 }, (_, i) => `g${i}`);
    for (const u of users) await setProfile(app, u, { name: u });
    await fine.waitFor((rs) => rs.length === users.length, 15_000, 'every delivery of the healthy webhook');
    // while all of them arrived, the hung receiver's attempts were still waiting (8 s timeout):
    // none had ended, so nothing of the healthy webhook waited for them
    const stuckLog = await deliveries(app, stuck.id);
    expect(stuckLog).toHaveLength(users.length);
    expect(stuckLog.every((d) => d.status === 'PENDING' && d.attempts === 0)).toBe(true);
    expect(hung.open()).toBeGreaterThan(0);
    expect(hung.open()).toBeLessThanOrEqual(4);
    expect(hung.requests.length).toBeLessThanOrEqual(4);
    expect((await deliveries(app, healthy.id)).every((d) => d.status === 'DELIVERED')).toBe(true);
    await app.backend.ok(DELETE_WEBHOOK, { id: stuck.id });
  });

  it('an answer that trickles a huge body counts by its status and frees its slot', async () => {
    const app = await server.newApp();
    const streams: NodeJS.Timeout[] = [];
    const hook = await receiver(() => (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      streams.push(setInterval(() => res.write('x'.repeat(1024)), 20));
    });
    const { id } = await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    const users = Array.from({ length: 6 }, (_, i) => `t${i}`);
    for (const u of users) await setProfile(app, u, { name: u });
    // more deliveries than a webhook has slots: each slot was freed though no body ever ended
    await until(async () => (await deliveries(app, id)).filter((d) => d.status === 'DELIVERED').length === users.length, 'all delivered');
    await until(async () => hook.open() === 0, 'the trickling answers to be dropped');
    for (const s of streams) clearInterval(s);
  });

  it('leaves a malformed row of the log out and delivers the changes after it', async () => {
    const app = await server.newApp();
    const hook = await receiver();
    await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    // a profile change without its profile: it cannot be turned into a delivery, now or ever
    const bad = JSON.stringify({ type: 'profileChanged', appKey: app.appKey, userId: 'pat', origin: { by: 'backend' }, at: new Date().toISOString() });
    await sql`insert into events (app_key, user_id, direct, kind, payload, occurred_at) values (${app.appKey}, 'pat', false, 'profileChanged', ${bad}::jsonb, now())`.execute(server.app.services.db);
    await setProfile(app, 'pat', { name: 'after the bad row' });
    await hook.waitFor((rs) => rs.length === 1);
    expect(hook.requests[0]!.json.data.profile.name).toBe('after the bad row');
  });

  it('counts deliveries and attempts in the metrics, with the queue', async () => {
    const text = await (await fetch(server.metricsUrl)).text();
    expect(text).toMatch(/phs_webhook_deliveries_total\{outcome="delivered"\} [1-9]/);
    expect(text).toMatch(/phs_webhook_attempts_total\{result="success"\} [1-9]/);
    expect(text).toMatch(/phs_webhook_attempts_total\{result="status"\} [1-9]/);
    expect(text).toMatch(/phs_webhook_pending_deliveries \d/);
    expect(text).toMatch(/phs_webhook_oldest_pending_seconds \d/);
  });
});

describe('managing webhooks', () => {
  it('allows 10 webhooks per app; the 11th is LIMIT_EXCEEDED and writes nothing', async () => {
    const app = await server.newApp();
    const hook = await receiver();
    for (let i = 0; i < 10; i++) await createWebhook(app, `${hook.url}?n=${i}`, ['PROFILE_CHANGED']);
    const error = await app.backend.fails(CREATE_WEBHOOK, { url: `${hook.url}?n=10`, kinds: ['PROFILE_CHANGED'] });
    expectError(error, 'LIMIT_EXCEEDED');
    expect((await app.backend.ok(WEBHOOKS)).webhooks).toHaveLength(10);
    // another app has its own ten
    const other = await server.newApp();
    await createWebhook(other, hook.url, ['PROFILE_CHANGED']);
    // after a delete there is room for one again
    const [first] = (await app.backend.ok(WEBHOOKS)).webhooks;
    await app.backend.ok(DELETE_WEBHOOK, { id: first.id });
    await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
  });
});

describe('managing webhooks: input, changes, isolation', () => {
  it('refuses bad URLs and kinds with BAD_USER_INPUT, writing nothing', async () => {
    const app = await server.newApp();
    const hook = await receiver();
    const bad: [string, string[], RegExp][] = [
      ['ftp://127.0.0.1/hook', ['PROFILE_CHANGED'], /http or https/],
      ['not a url', ['PROFILE_CHANGED'], /absolute URL/],
      ['/relative/path', ['PROFILE_CHANGED'], /absolute URL/],
      [hook.url.replace('http://', 'http://user:secret@'), ['PROFILE_CHANGED'], /user name or password/],
      ['http://no-such-host.invalid/hook', ['PROFILE_CHANGED'], /does not resolve/],
      [`http://127.0.0.1/${'x'.repeat(2048)}`, ['PROFILE_CHANGED'], /at most 2048/],
      [hook.url, [], /at least one/],
      [hook.url, ['PING'], /PING/],
    ];
    for (const [url, kinds, message] of bad) {
      const error = await app.backend.fails(CREATE_WEBHOOK, { url, kinds });
      expectError(error, 'BAD_USER_INPUT');
      expect(error.message).toMatch(message);
    }
    // an unknown kind is refused by GraphQL itself
    expectError(await app.backend.fails(CREATE_WEBHOOK, { url: hook.url, kinds: ['EVERYTHING'] }), 'BAD_USER_INPUT');
    expect((await app.backend.ok(WEBHOOKS)).webhooks).toEqual([]);

    // updates are checked the same way, and a refused one changes nothing
    const { id } = await createWebhook(app, hook.url, ['PROFILE_CHANGED', 'PROFILE_CHANGED', 'PRESENCE_CHANGED']);
    expectError(await app.backend.fails(UPDATE_WEBHOOK, { id, url: 'gopher://127.0.0.1/' }), 'BAD_USER_INPUT');
    expectError(await app.backend.fails(UPDATE_WEBHOOK, { id, kinds: [] }), 'BAD_USER_INPUT');
    expectError(await app.backend.fails(UPDATE_WEBHOOK, { id, url: `${hook.url}?new`, kinds: ['PING'] }), 'BAD_USER_INPUT');
    expect((await app.backend.ok(WEBHOOKS)).webhooks).toEqual([expect.objectContaining({ id, url: hook.url, kinds: ['PROFILE_CHANGED', 'PRESENCE_CHANGED'], enabled: true })]);

    // the delivery log's count is 1 to 100
    for (const count of [0, 101, -1]) expectError(await app.backend.fails(WEBHOOK_DELIVERIES, { id, count }), 'BAD_USER_INPUT');
    for (const count of [1, 100]) expect((await app.backend.ok(WEBHOOK_DELIVERIES, { id, count })).webhookDeliveries).toEqual([]);

    // unknown ids are NOT_FOUND
    for (const missing of ['wh_nope', 'x'.repeat(200), 'a\u0000b']) {
      expectError(await app.backend.fails(UPDATE_WEBHOOK, { id: missing, enabled: false }), 'NOT_FOUND');
      expectError(await app.backend.fails(DELETE_WEBHOOK, { id: missing }), 'NOT_FOUND');
      expectError(await app.backend.fails(PING_WEBHOOK, { id: missing }), 'NOT_FOUND');
      expectError(await app.backend.fails(WEBHOOK_DELIVERIES, { id: missing }), 'NOT_FOUND');
    }
    expect(hook.requests).toEqual([]);
  });

  it("keeps the signing secret sealed: not in the database's text, opened only to sign", async () => {
    const app = await server.newApp();
    const hook = await receiver();
    const { id, secret } = await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    const raw = secret.slice('whsec_'.length);
    const { rows } = await sql<{ row: string }>`select w::text as row from webhooks w where id = ${id}`.execute(server.app.services.db);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.row).not.toContain(raw);
    expect(rows[0]!.row).not.toContain(Buffer.from(raw, 'base64').toString('hex'));
    expect(rows[0]!.row).not.toContain(Buffer.from(raw, 'base64').toString('base64url'));
    // and it is never shown again
    expect(JSON.stringify(await app.backend.ok(WEBHOOKS))).not.toContain(raw);
    const ping = (await app.backend.ok(PING_WEBHOOK, { id })).pingWebhook;
    expect(ping.status).toBe('DELIVERED');
    expect(new Webhook(secret).verify(hook.requests[0]!.body, hook.requests[0]!.headers)).toMatchObject({ type: 'ping' });
  });

  it('changes url and kinds; a disabled webhook gets nothing new, its pending deliveries end; enabled again it gets later changes only', async () => {
    const app = await server.newApp();
    const first = await receiver();
    const second = await receiver();
    const witness = await receiver();
    // the witness has every change: once it has one, the dispatcher has handled that change for every webhook of the app
    await createWebhook(app, witness.url, ['PROFILE_CHANGED', 'PRESENCE_CHANGED']);
    const seen = (name: string) => witness.waitFor((rs) => rs.some((r) => r.json.data.profile?.name === name), 15_000, `the witness to see ${name}`);
    const { id } = await createWebhook(app, first.url, ['PROFILE_CHANGED']);

    await setProfile(app, 'hana', { name: 'h1' });
    await first.waitFor((rs) => rs.some((r) => r.json.data.profile.name === 'h1'));

    // a new URL receives from now on; PRESENCE_CHANGED only: a profile change is not for it
    const updated = (await app.backend.ok(UPDATE_WEBHOOK, { id, url: second.url, kinds: ['PRESENCE_CHANGED'] })).updateWebhook;
    expect(updated).toMatchObject({ id, url: second.url, kinds: ['PRESENCE_CHANGED'], enabled: true });
    await setProfile(app, 'hana', { name: 'h2' });
    await seen('h2');
    const live = await goLive(server, app, 'hana');
    await second.waitFor((rs) => rs.some((r) => r.json.type === 'presence.changed'));
    await live.dispose();
    await second.waitFor((rs) => rs.filter((r) => r.json.type === 'presence.changed').length === 2);
    expect(second.requests.every((r) => r.json.type === 'presence.changed')).toBe(true);
    expect(first.requests.map((r) => r.json.data.profile.name)).toEqual(['h1']);

    // disabled: nothing new
    await app.backend.ok(UPDATE_WEBHOOK, { id, kinds: ['PROFILE_CHANGED'], enabled: false });
    await setProfile(app, 'hana', { name: 'h3' });
    await seen('h3');
    expect((await deliveries(app, id)).map((d) => d.kind)).toEqual(['PRESENCE_CHANGED', 'PRESENCE_CHANGED', 'PROFILE_CHANGED']);

    // enabled again: what changed while it was off is not sent, what changes now is
    expect((await app.backend.ok(UPDATE_WEBHOOK, { id, enabled: true })).updateWebhook.enabled).toBe(true);
    await setProfile(app, 'hana', { name: 'h4' });
    await second.waitFor((rs) => rs.some((r) => r.json.data.profile?.name === 'h4'));
    expect(second.requests.filter((r) => r.json.type === 'profile.changed').map((r) => r.json.data.profile.name)).toEqual(['h4']);
  });

  it('ends pending deliveries as FAILED when the webhook is disabled, and drops them with the webhook', async () => {
    const app = await server.newApp();
    const failing = await receiver(() => 503);
    const { id } = await createWebhook(app, failing.url, ['PROFILE_CHANGED']);
    await setProfile(app, 'ines', { name: 'i1' });
    await failing.waitFor((rs) => rs.length >= 1);
    await app.backend.ok(UPDATE_WEBHOOK, { id, enabled: false });
    const [ended] = await deliveries(app, id);
    expect(ended).toMatchObject({ status: 'FAILED', lastError: 'webhook disabled', nextAttemptAt: null, deliveredAt: null });
    const requestsThen = failing.requests.length;
    // a disabled webhook can still be pinged, once: no retries
    const ping = (await app.backend.ok(PING_WEBHOOK, { id })).pingWebhook as DeliveryJson;
    expect(ping).toMatchObject({ status: 'FAILED', attempts: 1, lastStatusCode: 503, lastError: 'HTTP 503', nextAttemptAt: null });

    const other = await createWebhook(app, failing.url, ['PROFILE_CHANGED']);
    await setProfile(app, 'ines', { name: 'i2' });
    await failing.waitFor((rs) => rs.some((r) => r.json.data.profile?.name === 'i2'));
    expect((await deliveries(app, other.id))[0]!.status).toBe('PENDING');
    expect((await app.backend.ok(DELETE_WEBHOOK, { id: other.id })).deleteWebhook).toBe(true);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhook_deliveries where webhook_id = ${other.id}`.execute(server.app.services.db);
    expect(rows[0]!.n).toBe(0);
    expectError(await app.backend.fails(WEBHOOK_DELIVERIES, { id: other.id }), 'NOT_FOUND');
    // the disabled one was not tried again
    expect(failing.requests.filter((r) => r.json.data.profile?.name === 'i1')).toHaveLength(requestsThen);
  });

  it('prunes delivered and failed deliveries after the retention, never pending ones', async () => {
    const app = await server.newApp();
    const hook = await receiver(() => 500);
    const { id } = await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    const db = server.app.services.db;
    const now = Date.now();
    const old = new Date(now - DELIVERY_RETENTION_MS - 60_000);
    const recent = new Date(now - DELIVERY_RETENTION_MS + 60_000);
    const row = (n: string, status: string, finishedAt: Date | null) => ({
      id: `msg_prune_${n}_${id}`, webhookId: id, subject: 'u', kind: 'PROFILE_CHANGED' as const, body: '{}', status: status as 'PENDING',
      createdAt: old, giveUpAt: new Date(now + 3_600_000), nextAttemptAt: status === 'PENDING' ? new Date(now + 3_600_000) : null, finishedAt,
    });
    await db.insertInto('webhookDeliveries').values([row('a', 'DELIVERED', old), row('b', 'FAILED', old), row('c', 'DELIVERED', recent), row('d', 'PENDING', null)]).execute();
    await pruneFinished(db, new Date(now - DELIVERY_RETENTION_MS), 1000);
    expect((await deliveries(app, id)).map((d) => d.id).sort()).toEqual([`msg_prune_c_${id}`, `msg_prune_d_${id}`]);
    await app.backend.ok(DELETE_WEBHOOK, { id });
  });

  it("isolates tenants: another app's webhooks are invisible and untouchable, and get none of its events", async () => {
    const mine = await server.newApp();
    const theirs = await server.newApp();
    const myHook = await receiver();
    const theirHook = await receiver();
    const { id } = await createWebhook(mine, myHook.url, ['PROFILE_CHANGED']);
    await createWebhook(theirs, theirHook.url, ['PROFILE_CHANGED']);

    expect((await theirs.backend.ok(WEBHOOKS)).webhooks.map((w: { id: string }) => w.id)).not.toContain(id);
    expectError(await theirs.backend.fails(UPDATE_WEBHOOK, { id, url: theirHook.url }), 'NOT_FOUND');
    expectError(await theirs.backend.fails(DELETE_WEBHOOK, { id }), 'NOT_FOUND');
    expectError(await theirs.backend.fails(PING_WEBHOOK, { id }), 'NOT_FOUND');
    expectError(await theirs.backend.fails(WEBHOOK_DELIVERIES, { id }), 'NOT_FOUND');

    // the same user id in both apps: each app's webhook gets its own app's change only
    await setProfile(theirs, 'same', { name: 'theirs' });
    await setProfile(mine, 'same', { name: 'mine' });
    await myHook.waitFor((rs) => rs.length === 1);
    await theirHook.waitFor((rs) => rs.length === 1);
    expect(myHook.requests.map((r) => [r.json.data.appKey, r.json.data.profile.name])).toEqual([[mine.appKey, 'mine']]);
    expect(theirHook.requests.map((r) => [r.json.data.appKey, r.json.data.profile.name])).toEqual([[theirs.appKey, 'theirs']]);
    expect((await mine.backend.ok(WEBHOOKS)).webhooks.map((w: { id: string }) => w.id)).toEqual([id]);

    // users and the operator cannot manage webhooks; nobody without credentials can
    const user = await mine.user('someone');
    expectError(await user.fails(WEBHOOKS), 'FORBIDDEN');
    expectError(await user.fails(CREATE_WEBHOOK, { url: myHook.url, kinds: ['PROFILE_CHANGED'] }), 'FORBIDDEN');
    expectError(await server.operator.fails(WEBHOOKS), 'FORBIDDEN');
    expectError(await server.anonymous.fails(PING_WEBHOOK, { id }), 'UNAUTHENTICATED');
  });
});

// The retry window of a delivery is fixed by the dispatcher that made it, from its own
// WEBHOOK_RETRY_WINDOW_MS. On a shared PostgreSQL that may be any test file's server (24 h by
// default), so this short-window server is only sure to make its own on the embedded database.
describe.skipIf(!!process.env.DATABASE_URL)('giving up', () => {
  let short: TestServer;
  beforeAll(async () => {
    short = await startTestServer({ config: { webhookTimeoutMs: 300, webhookRetryBaseMs: 100, webhookRetryWindowMs: 1500 } });
  });
  afterAll(() => short?.stop());

  it('retries a failing or silent receiver until the window is over, then FAILED', async () => {
    const app: TestApp = await short.newApp();
    const failing = await receiver(() => 500);
    const silent = await receiver(() => 'hang');
    const a = await createWebhook(app, failing.url, ['PROFILE_CHANGED']);
    const b = await createWebhook(app, silent.url, ['PROFILE_CHANGED']);
    await setProfile(app, 'jo', { name: 'Jo' });
    const final = async (id: string) => ((await deliveries(app, id))[0]?.status ?? 'PENDING') !== 'PENDING';
    await until(async () => (await final(a.id)) && (await final(b.id)), 'both deliveries to end', 20_000);
    const [gaveUp] = await deliveries(app, a.id);
    expect(gaveUp).toMatchObject({ status: 'FAILED', lastStatusCode: 500, lastError: 'HTTP 500', deliveredAt: null, nextAttemptAt: null });
    expect(gaveUp!.attempts).toBeGreaterThanOrEqual(2);
    expect(new Set(failing.requests.map((r) => r.id))).toEqual(new Set([gaveUp!.id]));
    expect(failing.requests).toHaveLength(gaveUp!.attempts);
    const [timedOut] = await deliveries(app, b.id);
    expect(timedOut).toMatchObject({ status: 'FAILED', lastStatusCode: null });
    expect(timedOut!.lastError).toMatch(/^no answer within \d+ ms$/);
    const metrics = await (await fetch(short.metricsUrl)).text();
    const total = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? 0);
    expect(total(/phs_webhook_deliveries_total\{outcome="failed"\} (\d+)/)).toBeGreaterThanOrEqual(2);
    expect(total(/phs_webhook_attempts_total\{result="timeout"\} (\d+)/)).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe.skipIf(!process.env.DATABASE_URL)('several instances on one PostgreSQL', () => {
  let other: TestServer;
  beforeAll(async () => {
    other = await startTestServer({ config: { webhookRetryBaseMs: 100 } });
  });
  afterAll(() => other?.stop());

  it('turn each change into one delivery, send each once, and keep each subject in order', async () => {
    const app = await server.newApp();
    const hook = await receiver();
    const { id } = await createWebhook(app, hook.url, ['PROFILE_CHANGED']);
    const backends = [app.backend, new GraphQLClient(other.url, basic(app.appKey, app.appSecret))];
    const users = ['m0', 'm1', 'm2', 'm3', 'm4'];
    const perUser = 6;
    // each user's writes one after another, alternating between the instances; the users side by side
    await Promise.all(users.map(async (u) => {
      for (let i = 0; i < perUser; i++) await backends[i % 2]!.ok(SET_PROFILE_MUTATION, { u, p: { name: `${u}-${i}` } });
    }));
    const total = users.length * perUser;
    await until(async () => (await deliveries(app, id)).filter((d) => d.status === 'DELIVERED').length === total, 'every delivery');
    const log = await deliveries(app, id);
    expect(log).toHaveLength(total);
    expect(log.filter((d) => d.attempts !== 1), 'deliveries attempted more than once').toEqual([]);
    expect(hook.requests).toHaveLength(total);
    expect(new Set(hook.requests.map((r) => r.id)).size).toBe(total);
    for (const u of users) {
      const versions = hook.requests.filter((r) => r.json.data.userId === u).map((r) => r.json.data.profile.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(versions).toHaveLength(perUser);
    }
  });
});
