import type { Context } from '../context.ts';
import type { AppRow, WebhookDeliveryStatus as DeliveryStatus, WebhookKind } from '../db/database.ts';
import { appError } from '../errors.ts';
import { builder } from '../schema/builder.ts';
import type { DeliveryRecord, StoredWebhook } from './repository.ts';
import { changeWebhook, createWebhook, deliveriesOf, pingWebhook, removeWebhook, webhooksOf } from './service.ts';

const KINDS = ['PROFILE_CHANGED', 'PRESENCE_CHANGED', 'FRIEND_EVENT', 'SUBSCRIPTION_CHANGED', 'USERS_CLEANED', 'PING'] as const satisfies readonly WebhookKind[];
const STATUSES = ['PENDING', 'DELIVERED', 'FAILED'] as const satisfies readonly DeliveryStatus[];

const WebhookEventKind = builder.enumType('WebhookEventKind', { values: KINDS });
const WebhookDeliveryStatus = builder.enumType('WebhookDeliveryStatus', { values: STATUSES });

const Webhook = builder.objectRef<StoredWebhook>('Webhook').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    kinds: t.field({ type: [WebhookEventKind], resolve: (w) => w.kinds }),
    enabled: t.exposeBoolean('enabled'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const WebhookCreated = builder.objectRef<{ webhook: StoredWebhook; signingSecret: string }>('WebhookCreated').implement({
  fields: (t) => ({
    webhook: t.field({ type: Webhook, resolve: (c) => c.webhook }),
    signingSecret: t.exposeString('signingSecret', { description: 'Standard Webhooks signing secret (whsec_...), shown once' }),
  }),
});

const WebhookDelivery = builder.objectRef<DeliveryRecord>('WebhookDelivery').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'the webhook-id header of every attempt of this delivery' }),
    webhookId: t.exposeID('webhookId'),
    kind: t.field({ type: WebhookEventKind, resolve: (d) => d.kind }),
    status: t.field({ type: WebhookDeliveryStatus, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts'),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
  }),
});

function appOfBackend(ctx: Context): AppRow {
  if (ctx.caller.kind !== 'app') throw appError('FORBIDDEN', 'app credentials required');
  return ctx.caller.app;
}

builder.queryFields((t) => ({
  webhooks: t.field({
    type: [Webhook],
    description: 'app backend',
    authScopes: { app: true },
    resolve: (_r, _a, ctx) => webhooksOf(ctx, appOfBackend(ctx).appKey),
  }),
  webhookDeliveries: t.field({
    type: [WebhookDelivery],
    description: 'app backend; newest first, count 1 to 100',
    authScopes: { app: true },
    args: {
      webhookId: t.arg.id({ required: true }),
      status: t.arg({ type: WebhookDeliveryStatus }),
      count: t.arg.int({ defaultValue: 50 }),
    },
    resolve: (_r, args, ctx) => deliveriesOf(ctx, appOfBackend(ctx).appKey, String(args.webhookId), args.status ?? null, args.count ?? 50),
  }),
}));

builder.mutationFields((t) => ({
  createWebhook: t.field({
    type: WebhookCreated,
    description: 'app backend: at most 10 webhooks per app',
    authScopes: { app: true },
    args: { url: t.arg.string({ required: true }), kinds: t.arg({ type: [WebhookEventKind], required: true }) },
    resolve: (_r, args, ctx) => createWebhook(ctx, appOfBackend(ctx).appKey, args.url, args.kinds),
  }),
  updateWebhook: t.field({
    type: Webhook,
    authScopes: { app: true },
    args: { id: t.arg.id({ required: true }), url: t.arg.string(), kinds: t.arg({ type: [WebhookEventKind] }), enabled: t.arg.boolean() },
    resolve: (_r, args, ctx) => changeWebhook(ctx, appOfBackend(ctx).appKey, String(args.id), { url: args.url, kinds: args.kinds, enabled: args.enabled }),
  }),
  deleteWebhook: t.boolean({
    authScopes: { app: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => removeWebhook(ctx, appOfBackend(ctx).appKey, String(args.id)),
  }),
  pingWebhook: t.field({
    type: WebhookDelivery,
    description: 'app backend: sends one PING delivery now',
    authScopes: { app: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => pingWebhook(ctx, appOfBackend(ctx).appKey, String(args.id)),
  }),
}));
