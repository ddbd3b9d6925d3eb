import type { TestApp } from './server.ts';

export const WEBHOOK_FIELDS = 'id url kinds enabled createdAt';
export const DELIVERY_FIELDS = 'id webhookId kind status attempts lastStatusCode lastError createdAt deliveredAt nextAttemptAt';
export const CREATE_WEBHOOK = `mutation($url: String!, $kinds: [WebhookEventKind!]!) { createWebhook(url: $url, kinds: $kinds) { signingSecret webhook { ${WEBHOOK_FIELDS} } } }`;
export const UPDATE_WEBHOOK = `mutation($id: ID!, $url: String, $kinds: [WebhookEventKind!], $enabled: Boolean) { updateWebhook(id: $id, url: $url, kinds: $kinds, enabled: $enabled) { ${WEBHOOK_FIELDS} } }`;
export const DELETE_WEBHOOK = 'mutation($id: ID!) { deleteWebhook(id: $id) }';
export const PING_WEBHOOK = `mutation($id: ID!) { pingWebhook(id: $id) { ${DELIVERY_FIELDS} } }`;
export const WEBHOOKS = `{ webhooks { ${WEBHOOK_FIELDS} } }`;
export const WEBHOOK_DELIVERIES = `query($id: ID!, $status: WebhookDeliveryStatus, $count: Int) { webhookDeliveries(webhookId: $id, status: $status, count: $count) { ${DELIVERY_FIELDS} } }`;

export const ALL_KINDS = ['PROFILE_CHANGED', 'PRESENCE_CHANGED', 'FRIEND_EVENT', 'SUBSCRIPTION_CHANGED', 'USERS_CLEANED'];

export interface DeliveryJson {
  id: string;
  webhookId: string;
  kind: string;
  status: 'PENDING' | 'DELIVERED' | 'FAILED';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
}

export async function createWebhook(app: TestApp, url: string, kinds: string[] = ALL_KINDS): Promise<{ id: string; secret: string }> {
  const { createWebhook: created } = await app.backend.ok(CREATE_WEBHOOK, { url, kinds });
  return { id: created.webhook.id, secret: created.signingSecret };
}

export async function deliveries(app: TestApp, id: string, status?: string, count = 100): Promise<DeliveryJson[]> {
  return (await app.backend.ok(WEBHOOK_DELIVERIES, { id, status, count })).webhookDeliveries;
}

export const SET_PROFILE_MUTATION = 'mutation($u: ID!, $p: AdminUserProfileInput!) { setUserProfile(userId: $u, profile: $p) { version } }';
