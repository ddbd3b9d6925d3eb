/**
 * Webhook deliveries survive a restart (SPEC §12): the queue and its retries live in the
 * database, so a server process that stops in the middle of a delivery's retries — SIGKILLed on
 * PostgreSQL; stopped with SIGTERM on the embedded database, whose files a SIGKILL may leave
 * half-written — and starts again on the same data sends it again, with the same webhook-id,
 * until the receiver takes it. Its logs name the failed attempts, never the secret or the URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { TEST_SECRET_ENCRYPTION_KEY, TEST_TOKEN_SECRET } from './helpers/server.ts';
import { startReceiver, type Receiver } from './helpers/webhook-receiver.ts';
import { CREATE_WEBHOOK, SET_PROFILE_MUTATION, WEBHOOK_DELIVERIES, type DeliveryJson } from './helpers/webhooks.ts';

const { DATABASE_URL } = process.env;
const OPERATOR = 'webhooks-restart-operator-0123456789';
const RECEIVER_TOKEN = 'receivers-own-token-5f3a9c';
const dataDir = DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), 'phs-webhooks-restart-'));
const env = {
  ...(DATABASE_URL ? { DATABASE_URL, TOKEN_SECRET: TEST_TOKEN_SECRET, SECRET_ENCRYPTION_KEY: TEST_SECRET_ENCRYPTION_KEY } : { DATA_DIR: dataDir!, DATABASE_URL: '' }),
  REDIS_URL: '',
  OPERATOR_TOKEN: OPERATOR,
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_RETRY_BASE_MS: '1000',
  // info: failed attempts are logged, and the logs must hold neither the secret nor the URL's query
  LOG_LEVEL: 'info',
  LOG_FORMAT: 'json',
};

let receiver: Receiver;
let phase: 'before restart' | 'after restart' = 'before restart';
const seenIn: { id: string; phase: string }[] = [];
let processes: ServerProcess[] = [];

beforeAll(async () => {
  // refuses every attempt until the server has gone down, then takes the next
  receiver = await startReceiver((request) => {
    seenIn.push({ id: request.id, phase });
    return phase === 'before restart' ? 500 : 200;
  });
});
afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop()));
  await receiver?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('a restart in the middle of retries', () => {
  it('sends the delivery again after the restart, with the same webhook-id', async () => {
    const first = await startServerProcess(env);
    processes.push(first);
    const creds = (await new GraphQLClient(first.url, bearer(OPERATOR)).ok('mutation { createApp(name: "webhooks restart") { appKey appSecret } }')).createApp;
    const backend = (url: string) => new GraphQLClient(url, basic(creds.appKey, creds.appSecret));
    // the receiver's own credential in its URL: the server must not log it
    const { createWebhook } = await backend(first.url).ok(CREATE_WEBHOOK, { url: `${receiver.url}?token=${RECEIVER_TOKEN}`, kinds: ['PROFILE_CHANGED'] });
    const webhookId = createWebhook.webhook.id as string;
    const secret = createWebhook.signingSecret as string;
    await backend(first.url).ok(SET_PROFILE_MUTATION, { u: 'lena', p: { name: 'Lena' } });
    await receiver.waitFor((rs) => rs.length >= 1, 20_000, 'the first (refused) attempt');
    const deliveryId = receiver.requests[0]!.id;

    if (DATABASE_URL) await first.kill();
    else await first.stop();
    phase = 'after restart';

    const second = await startServerProcess(env);
    processes.push(second);
    await receiver.waitFor((rs) => rs.some((r) => r.status === 200), 30_000, 'the attempt after the restart');
    // every attempt, before and after, was the same delivery, signed with the same secret
    expect(new Set(receiver.requests.map((r) => r.id))).toEqual(new Set([deliveryId]));
    expect(seenIn.filter((s) => s.phase === 'before restart').length).toBeGreaterThanOrEqual(1);
    expect(seenIn.filter((s) => s.phase === 'after restart').length).toBeGreaterThanOrEqual(1);
    const bodies = receiver.requests.map((r) => r.json);
    expect(bodies.every((j) => j.type === 'profile.changed' && j.data.profile.name === 'Lena')).toBe(true);
    for (const r of receiver.requests) expect(new Webhook(secret).verify(r.body, r.headers)).toEqual(r.json);

    let delivered: DeliveryJson | undefined;
    for (const deadline = Date.now() + 10_000; !delivered; ) {
      const log = (await backend(second.url).ok(WEBHOOK_DELIVERIES, { id: webhookId })).webhookDeliveries as DeliveryJson[];
      delivered = log.find((d) => d.status === 'DELIVERED');
      if (Date.now() > deadline) throw new Error(`not recorded as delivered: ${JSON.stringify(log)}`);
      if (!delivered) await new Promise((r) => setTimeout(r, 100));
    }
    expect(delivered).toMatchObject({ id: deliveryId, kind: 'PROFILE_CHANGED', lastStatusCode: 200, lastError: null });
    expect(delivered.attempts).toBeGreaterThanOrEqual(1);
    await second.stop();

    const logs = first.output() + second.output();
    // (on a shared PostgreSQL another test server may have made the failed attempt, and logged it itself)
    if (!DATABASE_URL) {
      expect(logs).toContain('webhook attempt failed');
      expect(logs).toContain(deliveryId);
    }
    expect(logs).not.toContain(secret.slice('whsec_'.length));
    expect(logs).not.toContain(RECEIVER_TOKEN);
  }, 90_000);
});
