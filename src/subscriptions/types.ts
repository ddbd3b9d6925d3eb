import type { ExpiringMessage, PlatformStatusJson, RelationMessage, StatusMessage } from '../realtime/messages.ts';
import { builder } from '../schema/builder.ts';
import { UserProfile } from '../profiles/schema.ts';

export const SubscribeType = builder.enumType('SubscribeType', {
  values: {
    ONLINE_STATUS: { description: 'RC 1, needs subscribeUserStatus' },
    USER_PROFILE: { description: 'RC 2, needs subscribeUserStatus' },
    FRIEND_ONLINE_STATUS: { description: 'RC 3, automatic for friends' },
    FRIEND_USER_PROFILE: { description: 'RC 4, automatic for friends' },
  } as const,
});
export type SubscribeTypeValue = 'ONLINE_STATUS' | 'USER_PROFILE' | 'FRIEND_ONLINE_STATUS' | 'FRIEND_USER_PROFILE';

export const PLATFORMS = ['OTHER', 'IOS', 'ANDROID', 'WEB', 'PC', 'MINI_PROGRAM', 'HARMONY_OS'] as const;
export type PlatformValue = (typeof PLATFORMS)[number];

export const Platform = builder.enumType('Platform', {
  values: Object.fromEntries(PLATFORMS.map((p, i) => [p, { description: `RC ${i}` }])) as Record<PlatformValue, { description: string }>,
});

export const SubscribeOperation = builder.enumType('SubscribeOperation', { values: ['SUBSCRIBE', 'UNSUBSCRIBE'] as const });

export const PlatformOnlineStatus = builder.objectRef<PlatformStatusJson>('PlatformOnlineStatus').implement({
  fields: (t) => ({
    platform: t.field({ type: Platform, resolve: (s) => s.platform as PlatformValue }),
    online: t.exposeBoolean('online'),
    changeTime: t.field({ type: 'DateTime', resolve: (s) => new Date(s.changeTime) }),
  }),
});

const date = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs));

/** Backed by the message itself: events and the sync are already cut for their receiver. */
export const UserStatusChange = builder.objectRef<StatusMessage>('UserStatusChange').implement({
  description: "One subscribed (or befriended) user's status, pushed on change and during the connect sync.",
  isTypeOf: (v) => (v as { kind?: string }).kind === 'status',
  fields: (t) => ({
    userId: t.id({ resolve: (s) => s.subjectId }),
    subscribeType: t.field({ type: SubscribeType, resolve: (s) => s.subscribeType }),
    subscribeTime: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'when the subscription was made; null for the FRIEND_* types',
      resolve: (s) => date(s.subscribeTime),
    }),
    expiry: t.exposeInt('expiry', { nullable: true, description: 'subscription lifetime in seconds; null for the FRIEND_* types' }),
    details: t.field({
      type: [PlatformOnlineStatus],
      description: 'per-platform online status, for ONLINE_STATUS and FRIEND_ONLINE_STATUS; empty otherwise',
      resolve: (s) => s.details,
    }),
    userProfile: t.field({
      type: UserProfile,
      nullable: true,
      description: 'the profile as this receiver may see it, for USER_PROFILE and FRIEND_USER_PROFILE; null otherwise',
      resolve: (s) => s.profile,
    }),
    changeTime: t.field({ type: 'DateTime', resolve: (s) => new Date(s.changeTime) }),
  }),
});

export interface SyncFinished {
  kind: 'syncFinished';
  subscribeType: SubscribeTypeValue;
}

export const SubscribedUserStatusSyncFinished = builder.objectRef<SyncFinished>('SubscribedUserStatusSyncFinished').implement({
  description: 'Sent once per subscribe type after the connect-time sync of that type is complete.',
  isTypeOf: (v) => (v as { kind?: string }).kind === 'syncFinished',
  fields: (t) => ({ subscribeType: t.field({ type: SubscribeType, resolve: (s) => s.subscribeType }) }),
});

export const SubscribedUserStatusEvent = builder.unionType('SubscribedUserStatusEvent', {
  types: [UserStatusChange, SubscribedUserStatusSyncFinished],
  resolveType: (v) => (v.kind === 'status' ? UserStatusChange : SubscribedUserStatusSyncFinished),
});

export const SubscriptionRelationChange = builder.objectRef<RelationMessage>('SubscriptionRelationChange').implement({
  description: 'A subscription change made by the same user on another device.',
  fields: (t) => ({
    operationType: t.field({ type: SubscribeOperation, resolve: (r) => r.operationType }),
    subscribeType: t.field({ type: SubscribeType, resolve: (r) => r.subscribeType }),
    userIds: t.exposeIDList('userIds'),
    expiry: t.exposeInt('expiry', { nullable: true }),
    operationTime: t.field({ type: 'DateTime', resolve: (r) => new Date(r.operationTime) }),
  }),
});

/** SPEC §11; `expiresAt` is the earliest expiry of the group (they all expire within that minute). */
export const SubscriptionsExpiring = builder.objectRef<ExpiringMessage>('SubscriptionsExpiring').implement({
  description: 'My subscriptions of one type that expire soon (sent once per subscription and expiry).',
  fields: (t) => ({
    subscribeType: t.field({ type: SubscribeType, resolve: (e) => e.subscribeType }),
    userIds: t.exposeIDList('userIds'),
    expiresAt: t.field({ type: 'DateTime', resolve: (e) => new Date(e.expiresAt) }),
  }),
});

export const SubscribeUserStatusResult = builder.objectRef<{ failedUserIds: string[] }>('SubscribeUserStatusResult').implement({
  fields: (t) => ({
    failedUserIds: t.exposeIDList('failedUserIds', {
      description: 'ids that could not be subscribed because the target already has 5000 subscribers of this type',
    }),
  }),
});

export interface SubscribedUserItem {
  userId: string;
  subscribeType: SubscribeTypeValue;
  subscribeTime: Date;
  expiry: number;
  expiresAt: Date;
}

export const SubscribedUser = builder.objectRef<SubscribedUserItem>('SubscribedUser').implement({
  fields: (t) => ({
    userId: t.exposeID('userId'),
    subscribeType: t.field({ type: SubscribeType, resolve: (s) => s.subscribeType }),
    subscribeTime: t.expose('subscribeTime', { type: 'DateTime' }),
    expiry: t.exposeInt('expiry'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});

export const SubscribedUserPage = builder.objectRef<{ items: SubscribedUserItem[]; totalCount: number }>('SubscribedUserPage').implement({
  fields: (t) => ({
    items: t.field({ type: [SubscribedUser], resolve: (p) => p.items }),
    totalCount: t.exposeInt('totalCount'),
  }),
});
