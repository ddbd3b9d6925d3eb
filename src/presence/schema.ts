import type { Context } from '../context.ts';
import { appError } from '../errors.ts';
import { builder } from '../schema/builder.ts';
import { UserStatusChange } from '../subscriptions/types.ts';
import type { CustomStatusJson } from './rules.ts';
import { clearCustomStatus, myCustomStatus, myPresenceVisibility, setCustomStatus, updatePresenceVisibility } from './service.ts';

export const PresenceVisibility = builder.enumType('PresenceVisibility', {
  description: 'Who may see that I am online (and my custom status).',
  values: {
    NOT_SET: { description: "user level only: follow the app's default" },
    EVERYONE: {},
    FRIENDS_ONLY: {},
    INVISIBLE: { description: 'nobody but my own devices: I appear offline' },
  } as const,
});

export const CustomStatus = builder.objectRef<CustomStatusJson>('CustomStatus').implement({
  fields: (t) => ({
    text: t.exposeString('text'),
    emoji: t.exposeString('emoji', { nullable: true }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => (s.expiresAt === null ? null : new Date(s.expiresAt)) }),
  }),
});

// on the messages themselves: each receiver's message is already cut (null when it may not see it)
builder.objectField(UserStatusChange, 'customStatus', (t) =>
  t.field({
    type: CustomStatus,
    nullable: true,
    description: 'for ONLINE_STATUS and FRIEND_ONLINE_STATUS, when the receiver may see it; null otherwise',
    resolve: (s) => s.customStatus ?? null,
  }),
);

function userOf(ctx: Context) {
  if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
  return ctx.caller;
}

builder.queryFields((t) => ({
  myPresenceVisibility: t.field({
    type: PresenceVisibility,
    authScopes: { user: true },
    resolve: (_root, _args, ctx) => {
      const caller = userOf(ctx);
      return myPresenceVisibility(ctx, caller.app.appKey, caller.userId);
    },
  }),
  myCustomStatus: t.field({
    type: CustomStatus,
    nullable: true,
    authScopes: { user: true },
    resolve: (_root, _args, ctx) => {
      const caller = userOf(ctx);
      return myCustomStatus(ctx, caller.app.appKey, caller.userId);
    },
  }),
}));

builder.mutationFields((t) => ({
  updateMyPresenceVisibility: t.field({
    type: PresenceVisibility,
    authScopes: { user: true },
    args: { visibility: t.arg({ type: PresenceVisibility, required: true }) },
    resolve: (_root, args, ctx) => {
      const caller = userOf(ctx);
      return updatePresenceVisibility(ctx, caller.app.appKey, caller.userId, args.visibility);
    },
  }),
  updateMyCustomStatus: t.field({
    type: CustomStatus,
    description: 'text 1 to 64 characters, emoji up to 16 characters, expiresInSeconds 60 to 2592000 (null: until cleared)',
    authScopes: { user: true },
    args: { text: t.arg.string({ required: true }), emoji: t.arg.string(), expiresInSeconds: t.arg.int() },
    resolve: (_root, args, ctx) => {
      const caller = userOf(ctx);
      return setCustomStatus(ctx, caller.app.appKey, caller.userId, args);
    },
  }),
  clearMyCustomStatus: t.boolean({
    authScopes: { user: true },
    resolve: (_root, _args, ctx) => {
      const caller = userOf(ctx);
      return clearCustomStatus(ctx, caller.app.appKey, caller.userId);
    },
  }),
}));
