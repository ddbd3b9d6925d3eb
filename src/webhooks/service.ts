import { randomBytes } from 'node:crypto';
import type { Services } from '../context.ts';
import type { WebhookDeliveryStatus, WebhookKind } from '../db/database.ts';
import { badInput, limitExceeded, notFound } from '../errors.ts';
import { systemClock } from '../clock.ts';
import { randomToken } from '../auth/secrets.ts';
import { parseWebhookUrl, resolveTarget } from './address.ts';
import { attemptDelivery, leaseMs, secretSeal } from './attempt.ts';
import { deliveryId } from './dispatcher.ts';
import { webhookBody } from './messages.ts';
import {
  type DeliveryRecord,
  deleteWebhook,
  findDelivery,
  findWebhook,
  insertLeasedDelivery,
  insertWebhook,
  listDeliveries,
  listWebhooks,
  type StoredWebhook,
  updateWebhook,
} from './repository.ts';

/** Webhooks one app may have (SPEC §12). */
export const WEBHOOKS_PER_APP = 10;
export const DELIVERIES_PAGE_MAX = 100;

type Deps = Pick<Services, 'db' | 'clock' | 'config' | 'secretBox' | 'log' | 'metrics'>;

/** The kinds a webhook subscribes to: at least one, PING not among them (pingWebhook sends it to any webhook), each once. */
function checkKinds(kinds: readonly WebhookKind[]): WebhookKind[] {
  if (kinds.length === 0) throw badInput('kinds must name at least one kind of event', { fields: ['kinds'] });
  if (kinds.includes('PING')) throw badInput('PING is not subscribed to: pingWebhook sends it to any webhook', { fields: ['kinds'] });
  return [...new Set(kinds)];
}

/**
 * A URL a webhook may have: http(s), no credentials in it, and (unless
 * WEBHOOK_ALLOW_PRIVATE_NETWORKS) a host whose every address is public. A name that does not
 * resolve is refused too. Each delivery checks again (the name may point elsewhere by then).
 */
async function checkUrl(s: Deps, url: string): Promise<string> {
  const parsed = parseWebhookUrl(url);
  if (!parsed.ok) throw badInput(parsed.problem, { fields: ['url'] });
  const resolved = await resolveTarget(parsed.target.hostname, s.config.webhookAllowPrivateNetworks);
  if (!resolved.ok) throw badInput(`url: ${resolved.problem}`, { fields: ['url'] });
  return url;
}

/** Creates a webhook; its Standard Webhooks signing secret is returned this once and stored only sealed. */
export async function createWebhook(s: Deps, appKey: string, url: string, kinds: readonly WebhookKind[]): Promise<{ webhook: StoredWebhook; signingSecret: string }> {
  const checkedKinds = checkKinds(kinds);
  const checkedUrl = await checkUrl(s, url);
  const id = `wh_${randomToken(12)}`;
  const signingSecret = `whsec_${randomBytes(32).toString('base64')}`;
  const created = await insertWebhook(
    s.db,
    { id, appKey, url: checkedUrl, kinds: checkedKinds, sealedSecret: s.secretBox.seal(secretSeal(id), signingSecret), createdAt: s.clock.now() },
    WEBHOOKS_PER_APP,
  );
  if (created === 'limit') throw limitExceeded(`an app has at most ${WEBHOOKS_PER_APP} webhooks`);
  return { webhook: created, signingSecret };
}

export function webhooksOf(s: Deps, appKey: string): Promise<StoredWebhook[]> {
  return listWebhooks(s.db, appKey);
}

export async function changeWebhook(s: Deps, appKey: string, id: string, patch: { url?: string | null; kinds?: WebhookKind[] | null; enabled?: boolean | null }): Promise<StoredWebhook> {
  const change: { url?: string; kinds?: WebhookKind[]; enabled?: boolean } = {};
  if (patch.kinds != null) change.kinds = checkKinds(patch.kinds);
  if (patch.url != null) change.url = await checkUrl(s, patch.url);
  if (patch.enabled != null) change.enabled = patch.enabled;
  const updated = await updateWebhook(s.db, appKey, id, change, systemClock.now());
  if (!updated) throw notFound(`no webhook "${id}"`, { fields: ['id'] });
  return updated;
}

export async function removeWebhook(s: Deps, appKey: string, id: string): Promise<boolean> {
  if (!(await deleteWebhook(s.db, appKey, id))) throw notFound(`no webhook "${id}"`, { fields: ['id'] });
  return true;
}

export async function deliveriesOf(s: Deps, appKey: string, webhookId: string, status: WebhookDeliveryStatus | null, count: number): Promise<DeliveryRecord[]> {
  if (!Number.isInteger(count) || count < 1 || count > DELIVERIES_PAGE_MAX) throw badInput(`count must be 1 to ${DELIVERIES_PAGE_MAX}`, { fields: ['count'] });
  if (!(await findWebhook(s.db, appKey, webhookId))) throw notFound(`no webhook "${webhookId}"`, { fields: ['webhookId'] });
  return listDeliveries(s.db, webhookId, status, count);
}

/**
 * Sends one PING to the webhook now and returns the delivery as that attempt left it: DELIVERED,
 * or PENDING with its error and next attempt. A disabled webhook is pinged too (a receiver can be
 * tried before the webhook is enabled), once: a failed attempt is FAILED at once.
 */
export async function pingWebhook(s: Deps, appKey: string, id: string): Promise<DeliveryRecord> {
  const webhook = await findWebhook(s.db, appKey, id);
  if (!webhook) throw notFound(`no webhook "${id}"`, { fields: ['id'] });
  const clock = systemClock;
  const createdAt = clock.now();
  const pingId = deliveryId();
  // its own lane (its id): it waits for nothing and holds nothing back
  // a disabled webhook gets this one attempt (to try a receiver before enabling it), no retries
  const giveUpAt = new Date(createdAt.getTime() + (webhook.enabled ? s.config.webhookRetryWindowMs : 0));
  const delivery = { id: pingId, webhookId: id, subject: pingId, kind: 'PING' as const, createdAt, giveUpAt };
  const body = webhookBody({ kind: 'PING', subject: delivery.subject, at: createdAt.toISOString(), data: { appKey, webhookId: id } });
  const claim = `ping:${delivery.id}`;
  await insertLeasedDelivery(s.db, { ...delivery, body }, claim, new Date(createdAt.getTime() + leaseMs(s.config.webhookTimeoutMs)));
  await attemptDelivery({ ...s, clock }, { ...delivery, appKey, url: webhook.url, sealedSecret: webhook.sealedSecret, body, attempts: 0 }, claim);
  const sent = await findDelivery(s.db, delivery.id);
  if (!sent) throw notFound(`no webhook "${id}"`, { fields: ['id'] }); // deleted meanwhile
  return sent;
}
