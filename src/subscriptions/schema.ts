import { GraphQLError } from 'graphql';
import { builder } from '../schema/builder.ts';
import {
  SubscribeType,
  SubscribeUserStatusResult,
  SubscribedUserPage,
  SubscribedUserStatusEvent,
  SubscriptionRelationChange,
  UserStatusChange,
} from './types.ts';
import { UserProfile } from '../profiles/schema.ts';

// TEMPORARY (issue 3 replaces this module): the status-subscription operations and the event
// streams need presence and graphql-ws; until then they answer with a clear error.
const notYet = () => {
  throw new GraphQLError('status subscriptions and event streams are not available yet', { extensions: { code: 'INTERNAL' } });
};

builder.queryFields((t) => ({
  subscribedUserStatus: t.field({
    type: [UserStatusChange],
    description: 'current status of up to 200 users that I subscribe to with this type',
    authScopes: { user: true },
    args: { type: t.arg({ type: SubscribeType, required: true }), userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: notYet,
  }),
  subscribedUsers: t.field({
    type: SubscribedUserPage,
    description: 'my unexpired subscriptions of this type, pageSize 1 to 200',
    authScopes: { user: true },
    args: {
      type: t.arg({ type: SubscribeType, required: true }),
      pageSize: t.arg.int({ defaultValue: 20 }),
      startIndex: t.arg.int({ defaultValue: 0 }),
    },
    resolve: notYet,
  }),
}));

builder.mutationFields((t) => ({
  subscribeUserStatus: t.field({
    type: SubscribeUserStatusResult,
    description: '1 to 200 ids; expiry 60 to 2592000 seconds; re-subscribing refreshes the expiry',
    authScopes: { user: true },
    args: {
      type: t.arg({ type: SubscribeType, required: true }),
      userIds: t.arg({ type: ['ID'], required: true }),
      expiry: t.arg.int({ required: true }),
    },
    resolve: notYet,
  }),
  unsubscribeUserStatus: t.boolean({
    authScopes: { user: true },
    args: { type: t.arg({ type: SubscribeType, required: true }), userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: notYet,
  }),
}));

builder.subscriptionFields((t) => ({
  subscribedUserStatusChange: t.field({
    type: SubscribedUserStatusEvent,
    description:
      'Status of users I subscribe to (and, for the FRIEND_* types, of my friends).\nOn start: for each requested type (all four when types is null) the current\nstatus of every unexpired subscription, then one\nSubscribedUserStatusSyncFinished for that type, then live changes. No change\nis lost between the sync and the live stream.',
    authScopes: { user: true },
    args: { types: t.arg({ type: [SubscribeType] }) },
    subscribe: notYet,
    resolve: (v: never) => v,
  }),
  subscribedRelationChange: t.field({
    type: SubscriptionRelationChange,
    description: 'subscribe/unsubscribe operations that I made on my other devices',
    authScopes: { user: true },
    subscribe: notYet,
    resolve: (v: never) => v,
  }),
  ownUserProfileChanged: t.field({
    type: UserProfile,
    description: 'my own profile, after it changed on another device or through the app backend',
    authScopes: { user: true },
    subscribe: notYet,
    resolve: (v: never) => v,
  }),
}));
