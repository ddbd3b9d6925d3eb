import { appError, badInput } from '../errors.ts';
import { FriendAdded, FriendApplicationStatusChanged, FriendDeleted, friendEventType } from '../friends/schema.ts';
import { UserProfile } from '../profiles/schema.ts';
import { builder } from '../schema/builder.ts';
import { SubscriptionRelationChange, SubscriptionsExpiring, UserStatusChange } from '../subscriptions/types.ts';
import { openUserEvents, type CaughtUpEvent, type OwnProfileEvent, type UserEventEnvelope, type UserEventValue } from './stream.ts';

const OwnUserProfileChange = builder.objectRef<OwnProfileEvent>('OwnUserProfileChange').implement({
  description: 'My own profile changed on another device or through the app backend.',
  fields: (t) => ({ profile: t.field({ type: UserProfile, resolve: (e) => e.profile }) }),
});

const UserEventsCaughtUp = builder.objectRef<CaughtUpEvent>('UserEventsCaughtUp').implement({
  description: 'Sent once per stream start, after the initial status snapshot (fresh start) or\nafter everything missed since `after` (resume); live events follow it.',
  fields: (t) => ({ resumed: t.exposeBoolean('resumed', { description: 'true when `after` was given and everything since it has been replayed' }) }),
});

const UserEvent = builder.unionType('UserEvent', {
  types: [UserStatusChange, SubscriptionRelationChange, OwnUserProfileChange, FriendAdded, FriendDeleted, FriendApplicationStatusChanged, UserEventsCaughtUp, SubscriptionsExpiring],
  resolveType: (event: UserEventValue) => {
    switch (event.kind) {
      case 'status':
        return UserStatusChange;
      case 'relation':
        return SubscriptionRelationChange;
      case 'expiring':
        return SubscriptionsExpiring;
      case 'ownProfile':
        return OwnUserProfileChange;
      case 'caughtUp':
        return UserEventsCaughtUp;
      default:
        return friendEventType(event);
    }
  },
});

const UserEventEnvelopeType = builder.objectRef<UserEventEnvelope>('UserEventEnvelope').implement({
  description: 'An event on my resumable stream, with the cursor that resumes right after it.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'opaque; pass it back as `after` to resume right after this event' }),
    occurredAt: t.field({ type: 'DateTime', resolve: (e) => new Date(e.occurredAt) }),
    event: t.field({ type: UserEvent, resolve: (e) => e.event }),
  }),
});

builder.subscriptionField('userEvents', (t) =>
  t.field({
    type: UserEventEnvelopeType,
    description:
      'Everything the four RongCloud-style subscriptions deliver to me, on one\nresumable stream. Without `after`: the current status of every unexpired\nsubscription and of every friend (all four types), then UserEventsCaughtUp\n{ resumed: false }, then live events. With `after`: every event I would have\nreceived since that cursor, in order (status changes coalesced to the latest\nstatus of each user and type), then UserEventsCaughtUp { resumed: true },\nthen live events; none lost, none twice. A cursor older than the retention\nwindow fails with CURSOR_EXPIRED; a malformed one, or one issued to another\nuser, with BAD_USER_INPUT.',
    authScopes: { user: true },
    args: { after: t.arg.string() },
    subscribe: (_root, args, ctx) => {
      if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
      if (!ctx.connection) throw badInput('subscriptions are served over graphql-ws at /graphql (connection_init payload { authToken, platform, deviceId })');
      return openUserEvents(ctx, ctx.connection, args.after);
    },
    resolve: (envelope: UserEventEnvelope) => envelope,
  }),
);
