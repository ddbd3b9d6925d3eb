import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { Kysely } from 'kysely';
import type { SecretBox } from '../apps/secret-box.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { parseWebhookUrl, resolveTarget } from './address.ts';
import { type AttemptOutcome, type ClaimedDelivery, recordAttempt } from './repository.ts';
import { post, type AttemptResult } from './sender.ts';

/** The longest wait between two attempts of one delivery. */
const RETRY_CAP_MS = 3_600_000;

export interface AttemptDeps {
  db: Kysely<Database>;
  log: Logger;
  metrics: Metrics;
  secretBox: SecretBox;
  config: Pick<Config, 'webhookAllowPrivateNetworks' | 'webhookTimeoutMs' | 'webhookRetryBaseMs'>;
  /** wall-clock time: retries, leases and the Standard Webhooks timestamp (receivers check it against theirs) */
  clock: Clock;
}

/** The additional data a webhook's secret is sealed with: it opens as this webhook's only. */
export const secretSeal = (webhookId: string) => `webhook\u0000${webhookId}`;

/** How long a worker holds a delivery it is sending: longer than an attempt can take, so it is never sent twice at once. */
export const leaseMs = (timeoutMs: number) => 2 * timeoutMs + 5000;

/**
 * The wait before the next attempt, after `attempts` attempts: exponential with full jitter
 * (uniform up to base × 2^attempts, capped; the first retry about `baseMs` on average), never
 * less than a tenth of the base, so that many receivers failing at once spread their retries.
 */
export function retryDelayMs(attempts: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_CAP_MS, baseMs * 2 ** Math.min(attempts, 30));
  return Math.max(baseMs / 10, random() * ceiling);
}

/**
 * One attempt of a leased delivery: the host resolved and checked again (unless private networks
 * are allowed, a name now pointing at a private address is refused and nothing is sent), signed
 * with the webhook's secret and the current time (Standard Webhooks), posted to exactly the address
 * checked, and its outcome recorded: DELIVERED, a retry at its time, or FAILED once the retry
 * window fixed at the delivery's creation is over. Returns null when `signal` stopped it (a graceful
 * stop): nothing is recorded, and the caller gives the lease back.
 */
export async function attemptDelivery(deps: AttemptDeps, delivery: ClaimedDelivery, claim: string, signal?: AbortSignal): Promise<AttemptOutcome | null> {
  const result = await send(deps, delivery, signal);
  // cut off by a stop: not an attempt (an answer that did arrive is recorded)
  if (signal?.aborted && !result.ok) return null;
  const now = deps.clock.now();
  const { config } = deps;
  let outcome: AttemptOutcome;
  if (result.ok) outcome = { status: 'DELIVERED', statusCode: result.statusCode, at: now };
  else {
    const deadline = delivery.giveUpAt.getTime();
    if (now.getTime() >= deadline) outcome = { status: 'FAILED', statusCode: result.statusCode, error: result.error, at: now };
    else {
      const next = Math.min(deadline, now.getTime() + retryDelayMs(delivery.attempts + 1, config.webhookRetryBaseMs));
      outcome = { status: 'PENDING', statusCode: result.statusCode, error: result.error, at: now, nextAttemptAt: new Date(next) };
    }
  }
  deps.metrics.webhookAttempts.inc({ result: result.ok ? 'success' : result.reason });
  const recorded = await recordAttempt(deps.db, delivery.id, claim, outcome);
  if (recorded && outcome.status !== 'PENDING') deps.metrics.webhookDeliveries.inc({ outcome: outcome.status === 'DELIVERED' ? 'delivered' : 'failed' });
  if (!result.ok) {
    // never the URL (its query may hold the receiver's own token) nor the secret
    const fields = { webhookId: delivery.webhookId, deliveryId: delivery.id, kind: delivery.kind, attempt: delivery.attempts + 1, error: result.error, next: outcome.status };
    if (outcome.status === 'FAILED') deps.log.warn(fields, 'webhook delivery failed for good');
    else deps.log.info(fields, 'webhook attempt failed (retrying)');
  }
  return outcome;
}

async function send(deps: AttemptDeps, delivery: ClaimedDelivery, signal?: AbortSignal): Promise<AttemptResult> {
  const parsed = parseWebhookUrl(delivery.url);
  if (!parsed.ok) return { ok: false, statusCode: null, error: parsed.problem, reason: 'refused' };
  const secret = deps.secretBox.open(secretSeal(delivery.webhookId), delivery.sealedSecret);
  if (typeof secret !== 'string') {
    deps.log.error({ webhookId: delivery.webhookId }, 'webhook signing secret does not open (SECRET_ENCRYPTION_KEY changed?)');
    return { ok: false, statusCode: null, error: 'signing secret unreadable on the server', reason: 'connection' };
  }
  const resolved = await resolveTarget(parsed.target.hostname, deps.config.webhookAllowPrivateNetworks);
  if (!resolved.ok) return { ok: false, statusCode: null, error: resolved.problem, reason: resolved.refused ? 'refused' : 'connection' };
  const at = deps.clock.now();
  const signature = new StandardWebhook(secret).sign(delivery.id, at, delivery.body);
  const headers = {
    'webhook-id': delivery.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
    'user-agent': 'profile-hosting-webhooks/1',
  };
  return post(parsed.target, resolved.address, headers, delivery.body, deps.config.webhookTimeoutMs, signal);
}
