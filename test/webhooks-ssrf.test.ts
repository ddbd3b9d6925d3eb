/**
 * Webhook URLs cannot reach private networks (SPEC §12) unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is
 * true: loopback, private, link-local (cloud metadata), unique-local, unspecified and the IPv4 forms
 * hidden in IPv6 or in odd IPv4 spellings are refused when a webhook is created or changed, and
 * again at each delivery, against the address the request then connects to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, setProfile } from './helpers/profiles.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.ts';
import { CREATE_WEBHOOK, DELETE_WEBHOOK, PING_WEBHOOK, UPDATE_WEBHOOK, WEBHOOKS, createWebhook, deliveries, type DeliveryJson } from './helpers/webhooks.ts';
import { post } from '../src/webhooks/sender.ts';

const { DATABASE_URL } = process.env;
let server: TestServer;
let hook: Receiver;

beforeAll(async () => {
  server = await startTestServer({ config: { webhookAllowPrivateNetworks: false, webhookRetryBaseMs: 100 } });
  // On a shared PostgreSQL every test server's worker sends any file's deliveries: this one, which
  // refuses 127.0.0.1, would refuse theirs. Its own deliveries are then sent by pingWebhook only.
  if (DATABASE_URL) await server.app.webhooks.worker.stop();
  hook = await startReceiver();
});
afterAll(async () => {
  await server?.stop();
  await hook?.close();
});

/** Runs `work` as if the server had been started with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true. */
async function withPrivateNetworks<T>(work: () => Promise<T>): Promise<T> {
  server.app.services.config.webhookAllowPrivateNetworks = true;
  try {
    return await work();
  } finally {
    server.app.services.config.webhookAllowPrivateNetworks = false;
  }
}

describe('with WEBHOOK_ALLOW_PRIVATE_NETWORKS off', () => {
  it('refuses URLs whose host is or resolves to a loopback, private, link-local or unique-local address', async () => {
    const app = await server.newApp();
    const port = hook.port;
    const refused: [string, RegExp][] = [
      [`http://127.0.0.1:${port}/hook`, /127\.0\.0\.1 is loopback/],
      ['http://127.1.2.3/', /loopback/],
      [`http://localhost:${port}/hook`, /loopback/],
      ['http://10.0.0.1/', /10\.0\.0\.1 is private/],
      ['http://172.16.5.4/', /private/],
      ['https://192.168.1.1/', /private/],
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is link-local/],
      [`http://[::1]:${port}/hook`, /::1 is loopback/],
      ['http://[::ffff:127.0.0.1]/', /loopback/],
      ['http://[::ffff:10.1.2.3]/', /private/],
      ['http://[fe80::1]/', /link-local/],
      ['http://[fc00::1]/', /unique-local/],
      ['http://[fd12:3456::1]/', /unique-local/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://[::]/', /unspecified/],
      // spellings the URL parser turns into 127.0.0.1
      ['http://2130706433/', /127\.0\.0\.1 is loopback/],
      ['http://0x7f.0.0.1/', /127\.0\.0\.1 is loopback/],
      ['http://100.64.0.1/', /carrier-grade NAT/],
    ];
    for (const [url, why] of refused) {
      const error = await app.backend.fails(CREATE_WEBHOOK, { url, kinds: ['PROFILE_CHANGED'] });
      expectError(error, 'BAD_USER_INPUT', { fields: ['url'] });
      expect(error.message, url).toMatch(/address not allowed/);
      expect(error.message, url).toMatch(why);
    }
    expect((await app.backend.ok(WEBHOOKS)).webhooks).toEqual([]);
    expect(hook.requests).toEqual([]);
  });

  it('accepts a public address, and refuses to change it to a private one', async () => {
    const app = await server.newApp();
    // an address literal: checked without any DNS; nothing is sent (no change happens in this app)
    const { id } = await createWebhook(app, 'https://8.8.8.8/hook', ['USERS_CLEANED']);
    for (const url of [`http://127.0.0.1:${hook.port}/hook`, 'http://169.254.169.254/', 'http://[::1]/']) {
      expectError(await app.backend.fails(UPDATE_WEBHOOK, { id, url }), 'BAD_USER_INPUT', { fields: ['url'] });
    }
    expect((await app.backend.ok(WEBHOOKS)).webhooks).toEqual([expect.objectContaining({ id, url: 'https://8.8.8.8/hook' })]);
    await app.backend.ok(DELETE_WEBHOOK, { id });
  });

  it('checks again at delivery: a webhook to 127.0.0.1 made while allowed is refused, and nothing is sent', async () => {
    const app = await server.newApp();
    const { id } = await withPrivateNetworks(() => createWebhook(app, hook.url, ['PROFILE_CHANGED']));
    const ping = (await app.backend.ok(PING_WEBHOOK, { id })).pingWebhook as DeliveryJson;
    expect(ping).toMatchObject({ kind: 'PING', status: 'PENDING', attempts: 1, lastStatusCode: null, lastError: 'address not allowed: 127.0.0.1 is loopback', deliveredAt: null });
    expect(ping.nextAttemptAt).not.toBeNull();
    expect(hook.requests).toEqual([]);
    await app.backend.ok(DELETE_WEBHOOK, { id });
  });

  it.skipIf(DATABASE_URL)('checks again at each delivery from the log; allowed again, the retry goes out with the same id', async () => {
    const app = await server.newApp();
    const { id } = await withPrivateNetworks(() => createWebhook(app, hook.url, ['PROFILE_CHANGED']));
    await setProfile(app, 'kim', { name: 'Kim' });
    let refused: DeliveryJson | undefined;
    for (const deadline = Date.now() + 15_000; !refused; ) {
      refused = (await deliveries(app, id)).find((d) => d.attempts >= 1);
      if (Date.now() > deadline) throw new Error('no refused attempt');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(refused).toMatchObject({ kind: 'PROFILE_CHANGED', status: 'PENDING', lastStatusCode: null, lastError: 'address not allowed: 127.0.0.1 is loopback' });
    expect(hook.requests).toEqual([]);
    await withPrivateNetworks(() => hook.waitFor((rs) => rs.length === 1));
    expect(hook.requests[0]!.id).toBe(refused.id);
    await app.backend.ok(DELETE_WEBHOOK, { id });
  });
});

describe('the request', () => {
  it('connects to exactly the address that was checked: the host name is not resolved again (no DNS rebinding)', async () => {
    const receiver = await startReceiver();
    try {
      const result = await post({ protocol: 'http:', hostname: 'rebinding.invalid', port: receiver.port, path: '/hook?x=1' }, { address: '127.0.0.1', family: 4 }, { 'webhook-id': 'msg_x' }, '{"type":"ping"}', 2000);
      expect(result).toEqual({ ok: true, statusCode: 204 });
      expect(receiver.requests).toHaveLength(1);
      expect(receiver.requests[0]!.headers.host).toBe(`rebinding.invalid:${receiver.port}`);
    } finally {
      await receiver.close();
    }
  });
});
