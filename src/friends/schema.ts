import type { Context } from '../context.ts';
import type { AppRow, UserRow } from '../db/database.ts';
import { appError, badInput, notFound } from '../errors.ts';
import type { FriendEventPayload } from '../events/bus.ts';
import { UserProfile } from '../profiles/schema.ts';
import { isValidUserId, RC } from '../profiles/rules.ts';
import { builder } from '../schema/builder.ts';
import { intInRange, userIdArg } from '../schema/validate-args.ts';
import { FriendAddPermission } from './permission.ts';
import {
  type ApplicationCursor,
  type ApplicationDirection,
  type ApplicationStatus,
  type FriendItem,
  listApplications,
  setFriendAddPermission,
} from './repository.ts';
import {
  FRIEND_EXTRA_MAX,
  acceptFriendship,
  applicationView,
  checkFriends,
  endFriendshipsChecked,
  friendText,
  friendsPage,
  makeFriends,
  refuseFriendship,
  requestFriendship,
  setRemark,
  type ApplicationView,
} from './service.ts';

const REASON_MAX = 128;
const PAGE_MAX = 100;

// ---------------------------------------------------------------------------------------------
// Types

const FriendApplicationStatus = builder.enumType('FriendApplicationStatus', {
  values: ['UNHANDLED', 'ACCEPTED', 'REFUSED', 'EXPIRED'] as const,
});
const FriendApplicationDirection = builder.enumType('FriendApplicationDirection', { values: ['SENT', 'RECEIVED'] as const });
const AddFriendOutcome = builder.enumType('AddFriendOutcome', { values: ['ADDED', 'APPLICATION_SENT'] as const });

const Friend = builder.objectRef<FriendItem>('Friend').implement({
  fields: (t) => ({
    userId: t.exposeID('friendId'),
    remark: t.exposeString('remark', { nullable: true }),
    addedAt: t.expose('addedAt', { type: 'DateTime' }),
    profile: t.field({
      type: UserProfile,
      // The friend's profile as this viewer may see it: the UserProfile resolvers apply visibility.
      resolve: async (friend, _args, ctx) => {
        const row = await ctx.loaders.profile.load(friend.friendId);
        if (!row) throw notFound(`user "${friend.friendId}" no longer exists`, { rcCode: RC.USER_NOT_FOUND });
        return row;
      },
    }),
  }),
});

const FriendPage = builder.objectRef<{ items: FriendItem[]; nextPageToken: string | null }>('FriendPage').implement({
  fields: (t) => ({
    items: t.field({ type: [Friend], resolve: (p) => p.items }),
    nextPageToken: t.exposeString('nextPageToken', { nullable: true }),
  }),
});

const FriendApplication = builder.objectRef<ApplicationView>('FriendApplication').implement({
  fields: (t) => ({
    userId: t.exposeID('userId', { description: 'the other party' }),
    direction: t.field({ type: FriendApplicationDirection, description: "from the viewer's side", resolve: (a) => a.direction }),
    status: t.field({ type: FriendApplicationStatus, resolve: (a) => a.status }),
    extra: t.exposeString('extra', { nullable: true }),
    reason: t.exposeString('reason', { nullable: true }),
    createdAt: t.field({ type: 'DateTime', resolve: (a) => new Date(a.createdAt) }),
    expiresAt: t.field({ type: 'DateTime', resolve: (a) => new Date(a.expiresAt) }),
  }),
});

const FriendApplicationPage = builder
  .objectRef<{ items: ApplicationView[]; nextPageToken: string | null }>('FriendApplicationPage')
  .implement({
    fields: (t) => ({
      items: t.field({ type: [FriendApplication], resolve: (p) => p.items }),
      nextPageToken: t.exposeString('nextPageToken', { nullable: true }),
    }),
  });

const AddFriendResult = builder.objectRef<{ outcome: 'ADDED' | 'APPLICATION_SENT' }>('AddFriendResult').implement({
  fields: (t) => ({ outcome: t.field({ type: AddFriendOutcome, resolve: (r) => r.outcome }) }),
});

const FriendCheckResult = builder.objectRef<{ userId: string; isFriend: boolean }>('FriendCheckResult').implement({
  fields: (t) => ({ userId: t.exposeID('userId'), isFriend: t.exposeBoolean('isFriend') }),
});

// Event types take the bus payloads as they are, so that real-time delivery can yield them directly.
type FriendAddedPayload = Extract<FriendEventPayload, { kind: 'FriendAdded' }>;
type FriendDeletedPayload = Extract<FriendEventPayload, { kind: 'FriendDeleted' }>;
type ApplicationChangedPayload = Extract<FriendEventPayload, { kind: 'FriendApplicationStatusChanged' }>;

export const FriendAdded = builder.objectRef<FriendAddedPayload>('FriendAdded').implement({
  fields: (t) => ({
    userId: t.exposeID('userId', { description: 'the new friend' }),
    addedAt: t.field({ type: 'DateTime', resolve: (e) => new Date(e.addedAt) }),
    name: t.string({ nullable: true, description: "the new friend's name when the friendship formed", resolve: (e) => e.name ?? null }),
    portraitUri: t.string({ nullable: true, description: "the new friend's portraitUri when the friendship formed", resolve: (e) => e.portraitUri ?? null }),
  }),
});

export const FriendDeleted = builder.objectRef<FriendDeletedPayload>('FriendDeleted').implement({
  fields: (t) => ({
    userIds: t.exposeIDList('userIds', { description: 'the former friends, as seen by the receiver' }),
    deletedAt: t.field({ type: 'DateTime', resolve: (e) => new Date(e.deletedAt) }),
  }),
});

export const FriendApplicationStatusChanged = builder.objectRef<ApplicationChangedPayload>('FriendApplicationStatusChanged').implement({
  fields: (t) => ({ application: t.field({ type: FriendApplication, resolve: (e) => e.application }) }),
});

/** The GraphQL type of a friend event (friendEvents and userEvents carry the same payloads). */
export function friendEventType(event: FriendEventPayload) {
  switch (event.kind) {
    case 'FriendAdded':
      return FriendAdded;
    case 'FriendDeleted':
      return FriendDeleted;
    case 'FriendApplicationStatusChanged':
      return FriendApplicationStatusChanged;
  }
}

const FriendEvent = builder.unionType('FriendEvent', {
  types: [FriendAdded, FriendDeleted, FriendApplicationStatusChanged],
  resolveType: friendEventType,
});

// ---------------------------------------------------------------------------------------------
// Page tokens: a keyset position, signed for its list and user (CursorCodec), so that a forged or
// edited one is refused before it reaches a query.

function tokenDate(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) || date.toISOString() !== value ? null : date;
}

function tokenUserId(value: string | undefined): string | null {
  return value !== undefined && isValidUserId(value) ? value : null;
}

const notAPageToken = () => badInput('pageToken is not a token returned by this list', { fields: ['pageToken'] });

const applicationsToken = (ctx: Context, caller: { app: AppRow; userId: string }, c: ApplicationCursor) =>
  ctx.cursors.encodePage(caller.app.appKey, caller.userId, 'applications', [c.createdAt.toISOString(), c.fromUserId, c.toUserId]);

function applicationsCursor(ctx: Context, caller: { app: AppRow; userId: string }, token: string): ApplicationCursor {
  const [t, f, u] = ctx.cursors.decodePage(caller.app.appKey, caller.userId, 'applications', token);
  const createdAt = tokenDate(t);
  const fromUserId = tokenUserId(f);
  const toUserId = tokenUserId(u);
  if (!createdAt || !fromUserId || !toUserId) throw notAPageToken();
  return { createdAt, fromUserId, toUserId };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function userCaller(ctx: Context): { app: AppRow; userId: string } {
  if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
  return ctx.caller;
}

function backendApp(ctx: Context): AppRow {
  if (ctx.caller.kind !== 'app') throw appError('FORBIDDEN', 'app credentials required');
  return ctx.caller.app;
}

const optionalText = friendText;

// ---------------------------------------------------------------------------------------------
// Root fields

builder.queryFields((t) => ({
  myFriendAddPermission: t.field({
    type: FriendAddPermission,
    description: "my own setting; NOT_SET means the app's default applies",
    authScopes: { user: true },
    resolve: async (_root, _args, ctx) => {
      const { userId } = userCaller(ctx);
      const row: UserRow | null = await ctx.loaders.profile.load(userId);
      if (!row) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
      return row.friendAddPermission;
    },
  }),
  friends: t.field({
    type: FriendPage,
    description: 'count 1 to 100; oldest friendship first, or newest first with newestFirst (RongCloud\'s order false)',
    authScopes: { user: true },
    args: { pageToken: t.arg.string(), count: t.arg.int({ defaultValue: 50 }), newestFirst: t.arg.boolean({ defaultValue: false }) },
    resolve: async (_root, args, ctx) => {
      const { app, userId } = userCaller(ctx);
      return friendsPage(ctx, app.appKey, userId, { pageToken: args.pageToken, count: args.count ?? 50, newestFirst: args.newestFirst ?? false });
    },
  }),
  checkFriends: t.field({
    type: [FriendCheckResult],
    description: '1 to 20 ids',
    authScopes: { user: true },
    args: { userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: async (_root, args, ctx) => {
      const { app, userId } = userCaller(ctx);
      return checkFriends(ctx, app.appKey, userId, args.userIds);
    },
  }),
  friendApplications: t.field({
    type: FriendApplicationPage,
    description: 'applications I sent and received, newest first; count 1 to 100',
    authScopes: { user: true },
    args: {
      direction: t.arg({ type: FriendApplicationDirection }),
      status: t.arg({ type: FriendApplicationStatus }),
      pageToken: t.arg.string(),
      count: t.arg.int({ defaultValue: 50 }),
    },
    resolve: async (_root, args, ctx) => {
      const caller = userCaller(ctx);
      const { app, userId } = caller;
      const count = intInRange(args.count ?? 50, 1, PAGE_MAX, 'count');
      const after = args.pageToken ? applicationsCursor(ctx, caller, args.pageToken) : null;
      const now = ctx.clock.now();
      const filter = { direction: (args.direction ?? null) as ApplicationDirection | null, status: (args.status ?? null) as ApplicationStatus | null };
      const rows = await listApplications(ctx.db, app.appKey, userId, filter, after, count + 1, now);
      const page = rows.slice(0, count);
      const last = page[page.length - 1];
      return {
        items: page.map((row) => applicationView(row, userId, now)),
        nextPageToken: rows.length > count && last ? applicationsToken(ctx, caller, last) : null,
      };
    },
  }),
}));

builder.mutationFields((t) => ({
  updateMyFriendAddPermission: t.field({
    type: FriendAddPermission,
    description: "FREE, NEED_VERIFY, NO_ONE_ALLOWED, or NOT_SET to follow the app's default",
    authScopes: { user: true },
    args: { permission: t.arg({ type: FriendAddPermission, required: true }) },
    resolve: async (_root, { permission }, ctx) => {
      const { app, userId } = userCaller(ctx);
      const stored = await setFriendAddPermission(ctx.db, app.appKey, userId, permission);
      if (!stored) throw notFound('your profile no longer exists', { rcCode: RC.USER_NOT_FOUND });
      ctx.loaders.profile.clear(userId);
      return stored;
    },
  }),
  addFriend: t.field({
    type: AddFriendResult,
    description: 'extra up to 128 characters',
    authScopes: { user: true },
    args: { userId: t.arg.id({ required: true }), extra: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const { app, userId } = userCaller(ctx);
      const targetId = userIdArg(args.userId);
      const extra = friendText(args.extra, FRIEND_EXTRA_MAX, 'extra');
      const outcome = await requestFriendship(ctx, app, userId, targetId, extra);
      if (outcome === 'ADDED') ctx.visibility?.reset();
      return { outcome };
    },
  }),
  acceptFriendApplication: t.boolean({
    authScopes: { user: true },
    args: { userId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const { app, userId } = userCaller(ctx);
      const applicantId = userIdArg(args.userId);
      await acceptFriendship(ctx, app.appKey, userId, applicantId);
      ctx.visibility?.reset();
      return true;
    },
  }),
  refuseFriendApplication: t.boolean({
    description: 'reason up to 128 characters',
    authScopes: { user: true },
    args: { userId: t.arg.id({ required: true }), reason: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const { app, userId } = userCaller(ctx);
      const applicantId = userIdArg(args.userId);
      const reason = optionalText(args.reason, REASON_MAX, 'reason');
      await refuseFriendship(ctx, app.appKey, userId, applicantId, reason);
      return true;
    },
  }),
  deleteFriends: t.boolean({
    description: '1 to 100 ids',
    authScopes: { user: true },
    args: { userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: async (_root, args, ctx) => {
      const { app, userId } = userCaller(ctx);
      const removed = await endFriendshipsChecked(ctx, app.appKey, userId, args.userIds);
      if (removed.length) ctx.visibility?.reset();
      return true;
    },
  }),
  setFriendRemark: t.boolean({
    description: 'remark up to 64 characters; null clears it',
    authScopes: { user: true },
    args: { userId: t.arg.id({ required: true }), remark: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const { app, userId } = userCaller(ctx);
      const friendId = userIdArg(args.userId);
      await setRemark(ctx, app.appKey, userId, friendId, args.remark);
      return true;
    },
  }),
  adminAddFriend: t.boolean({
    description: 'makes two users friends without an application',
    authScopes: { app: true },
    args: { userId: t.arg.id({ required: true }), friendId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const app = backendApp(ctx);
      const userId = userIdArg(args.userId);
      const friendId = userIdArg(args.friendId, 'friendId');
      await makeFriends(ctx, app.appKey, userId, friendId);
      return true;
    },
  }),
}));

builder.subscriptionField('friendEvents', (t) =>
  t.field({
    type: FriendEvent,
    description: 'FriendAdded, FriendDeleted and FriendApplicationStatusChanged, for both users, each seen from their own side',
    authScopes: { user: true },
    subscribe: (_root, _args, ctx) => {
      userCaller(ctx);
      if (!ctx.connection) throw badInput('subscriptions are served over graphql-ws at /graphql');
      return ctx.connection.stream((m) => (m.kind === 'friend' ? m.event : undefined), { fromNow: true });
    },
    resolve: (event: FriendEventPayload) => event,
  }),
);
