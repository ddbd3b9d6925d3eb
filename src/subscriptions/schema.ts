import type { Context } from '../context.ts';
import type { ChangeOrigin } from '../events/bus.ts';
import { appError, badInput } from '../errors.ts';
import { UserProfile } from '../profiles/schema.ts';
import type { ProfileView } from '../profiles/view.ts';
import type { EventStream, RealtimeConnection } from '../realtime/connection.ts';
import { isLater, type RelationMessage, type StatusMessage, type StatusSubscribeType } from '../realtime/messages.ts';
import { builder } from '../schema/builder.ts';
import { intInRange, userIdList } from '../schema/validate-args.ts';
import { countSubscriptions, subscriptionsOf } from './repository.ts';
import { EXPIRY_MAX, EXPIRY_MIN, IDS_PER_CALL, subscribableType, subscribeToStatus, unsubscribeFromStatus } from './service.ts';
import { statusSnapshot } from './snapshot.ts';
import type { DirectlyDelivered } from '../realtime/shared-execution.ts';
import {
  SubscribeType,
  SubscribeUserStatusResult,
  SubscribedUserPage,
  SubscribedUserStatusEvent,
  SubscriptionRelationChange,
  UserStatusChange,
  type SyncFinished,
} from './types.ts';

export { EXPIRY_MAX, EXPIRY_MIN };
const ALL_TYPES: StatusSubscribeType[] = ['ONLINE_STATUS', 'USER_PROFILE', 'FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE'];

/** Where a user's change comes from: its socket, or its device over HTTP (SPEC §6 "other connections"). */
export function originOf(ctx: Context): ChangeOrigin {
  if (ctx.caller.kind !== 'user') return { by: 'backend' };
  return { by: 'user', userId: ctx.caller.userId, deviceId: ctx.deviceId, connectionId: ctx.connectionId };
}

function userCaller(ctx: Context) {
  if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
  return ctx.caller;
}

/** Event streams live on graphql-ws connections; that is where presence and delivery are. */
function liveConnection(ctx: Context) {
  userCaller(ctx);
  if (!ctx.connection) throw badInput('subscriptions are served over graphql-ws at /graphql (connection_init payload { authToken, platform, deviceId })');
  return ctx.connection;
}

builder.queryFields((t) => ({
  subscribedUserStatus: t.field({
    type: [UserStatusChange],
    description: 'current status of up to 200 users that I subscribe to with this type',
    authScopes: { user: true },
    args: { type: t.arg({ type: SubscribeType, required: true }), userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: async (_root, args, ctx) => {
      const caller = userCaller(ctx);
      const ids = userIdList(args.userIds, { max: IDS_PER_CALL });
      const snapshot = await statusSnapshot(ctx, caller.app, caller.userId, args.type, ctx.clock.now(), ids);
      const order = new Map(ids.map((id, i) => [id, i]));
      return snapshot.sort((a, b) => order.get(a.subjectId)! - order.get(b.subjectId)!);
    },
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
    resolve: async (_root, args, ctx) => {
      const caller = userCaller(ctx);
      const type = subscribableType(args.type);
      const pageSize = intInRange(args.pageSize ?? 20, 1, IDS_PER_CALL, 'pageSize');
      const startIndex = intInRange(args.startIndex ?? 0, 0, Number.MAX_SAFE_INTEGER, 'startIndex');
      const now = ctx.clock.now();
      const [rows, totalCount] = await Promise.all([
        subscriptionsOf(ctx.db, caller.app.appKey, caller.userId, type, now, { offset: startIndex, limit: pageSize }),
        countSubscriptions(ctx.db, caller.app.appKey, caller.userId, type, now),
      ]);
      return {
        items: rows.map((r) => ({ userId: r.targetId, subscribeType: r.type, subscribeTime: r.subscribedAt, expiry: r.expiry, expiresAt: r.expiresAt })),
        totalCount,
      };
    },
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
    resolve: async (_root, args, ctx) => {
      const caller = userCaller(ctx);
      const type = subscribableType(args.type);
      const ids = userIdList(args.userIds, { max: IDS_PER_CALL });
      const expiry = intInRange(args.expiry, EXPIRY_MIN, EXPIRY_MAX, 'expiry');
      const failedUserIds = await subscribeToStatus(ctx, { appKey: caller.app.appKey, userId: caller.userId, origin: originOf(ctx) }, type, ids, expiry);
      return { failedUserIds };
    },
  }),
  unsubscribeUserStatus: t.boolean({
    authScopes: { user: true },
    args: { type: t.arg({ type: SubscribeType, required: true }), userIds: t.arg({ type: ['ID'], required: true }) },
    resolve: async (_root, args, ctx) => {
      const caller = userCaller(ctx);
      const type = subscribableType(args.type);
      const ids = userIdList(args.userIds, { max: IDS_PER_CALL });
      await unsubscribeFromStatus(ctx, { appKey: caller.app.appKey, userId: caller.userId, origin: originOf(ctx) }, type, ids);
      return true;
    },
  }),
}));

builder.subscriptionFields((t) => ({
  subscribedUserStatusChange: t.field({
    type: SubscribedUserStatusEvent,
    description:
      'Status of users I subscribe to (and, for the FRIEND_* types, of my friends).\nOn start: for each requested type (all four when types is null) the current\nstatus of every unexpired subscription, then one\nSubscribedUserStatusSyncFinished for that type, then live changes. No change\nis lost between the sync and the live stream.',
    authScopes: { user: true },
    args: { types: t.arg({ type: [SubscribeType] }) },
    subscribe: (_root, args, ctx) => statusChanges(ctx, args.types?.length ? [...new Set(args.types)] : ALL_TYPES),
    resolve: (event: StatusMessage | SyncFinished) => event,
  }),
  subscribedRelationChange: t.field({
    type: SubscriptionRelationChange,
    description: 'subscribe/unsubscribe operations that I made on my other devices',
    authScopes: { user: true },
    subscribe: (_root, _args, ctx) => {
      const connection = liveConnection(ctx);
      return connection.stream((m) => (m.kind === 'relation' && !connection.madeBy(m.origin) ? m : undefined), { fromNow: true });
    },
    resolve: (event) => event,
  }),
  ownUserProfileChanged: t.field({
    type: UserProfile,
    description: 'my own profile, after it changed on another device or through the app backend',
    authScopes: { user: true },
    subscribe: (_root, _args, ctx) => {
      const connection = liveConnection(ctx);
      // Concurrent writes may be published out of commit order: a profile older than one already
      // seen (own changes included) is stale and skipped, so delivery follows the version order.
      let newest = 0;
      return connection.stream<ProfileView>((m) => {
        if (m.kind !== 'ownProfile' || m.profile.version < newest) return undefined;
        newest = m.profile.version;
        return connection.madeBy(m.origin) ? undefined : m.profile;
      }, { fromNow: true });
    },
    resolve: (profile: ProfileView) => profile,
  }),
}));

/**
 * Sync, then live. The stream listens before the snapshot is read, so a change committed during
 * the sync is held back and then delivered after SyncFinished only if the snapshot did not already
 * contain it (its order is newer than the snapshot's): nothing lost, nothing older after newer.
 */
function statusChanges(ctx: Context, types: StatusSubscribeType[]): AsyncIterableIterator<StatusMessage | SyncFinished> {
  return new StatusChangeStream(ctx, types, liveConnection(ctx));
}

type StatusEvent = StatusMessage | SyncFinished;
const DONE: IteratorResult<StatusEvent> = { value: undefined, done: true };

/**
 * A plain iterator rather than an async generator, and stale messages are dropped as they arrive
 * (once the sync is over) rather than as they are read: every pushed event passes through here,
 * and each promise hop per event counts. graphql-ws calls return() when the client completes the
 * operation or goes away; ending the live stream then lets a pending next() finish at once
 * (otherwise the connection stayed registered and its user online).
 */
class StatusChangeStream implements AsyncIterableIterator<StatusEvent>, DirectlyDelivered {
  /** newest state per type and subject delivered so far: the snapshot's, then live ones */
  private readonly latest = new Map<StatusSubscribeType, Map<string, StatusMessage>>();
  private readonly live: EventStream<StatusMessage | RelationMessage>;
  private synced: StatusEvent[] = [];
  private syncedAt = 0;
  private nextType = 0;
  /** all snapshots sent: live messages are checked for staleness as they arrive */
  private streaming = false;
  private finished = false;

  constructor(
    private readonly ctx: Context,
    private readonly types: StatusSubscribeType[],
    connection: RealtimeConnection,
  ) {
    const wanted = new Set(types);
    // held unchecked during the sync (the snapshot they are compared with is not read yet); a
    // SUBSCRIBE of a streamed type (from any of the user's devices) brings the new targets' status.
    // A SUBSCRIBE committed before this stream started is in its snapshot already: when the relay
    // hands it over late (the log's boundary held back by another transaction), it must not push
    // a status again, out of order with the changes that came after it.
    this.live = connection.stream(
      (m) =>
        m.kind === 'status'
          ? wanted.has(m.subscribeType) && (!this.streaming || this.fresh(m))
            ? m
            : undefined
          : m.kind === 'relation' && m.operationType === 'SUBSCRIBE' && wanted.has(m.subscribeType)
            ? m
            : undefined,
      { fromNow: (m) => m.kind === 'relation' },
    );
  }

  next(): Promise<IteratorResult<StatusEvent>> {
    if (this.finished) return Promise.resolve(DONE);
    if (this.syncedAt < this.synced.length) return Promise.resolve({ value: this.synced[this.syncedAt++]!, done: false });
    if (this.nextType < this.types.length) {
      const type = this.types[this.nextType++]!;
      return this.ctx.catchUps.run(() => this.sync(type)).then(() => this.next());
    }
    if (!this.streaming) {
      this.streaming = true;
      this.live.retain((m) => m.kind === 'relation' || this.fresh(m));
    }
    return this.live.next().then((result) => (result.done || result.value.kind === 'status' ? (result as IteratorResult<StatusEvent>) : this.push(result.value)));
  }

  /**
   * SPEC §5: a successful subscribe pushes the current status of each newly subscribed (or
   * refreshed) user to every connection of the subscriber streaming that type, this one included.
   */
  private async push(relation: RelationMessage): Promise<IteratorResult<StatusEvent>> {
    try {
      const caller = userCaller(this.ctx);
      const statuses = await statusSnapshot(this.ctx, caller.app, caller.userId, relation.subscribeType, this.ctx.clock.now(), relation.userIds);
      // a state already shown is not pushed again, unless the subscription was refreshed
      const pushed = statuses.filter((status) => {
        const latest = this.latestOf(status.subscribeType);
        const seen = latest.get(status.subjectId);
        if (seen !== undefined && !isLater(status, seen) && seen.subscribeTime === status.subscribeTime && seen.expiry === status.expiry) return false;
        if (seen === undefined || isLater(status, seen)) latest.set(status.subjectId, status);
        else latest.set(status.subjectId, { ...seen, subscribeTime: status.subscribeTime, expiry: status.expiry });
        return true;
      });
      this.synced = pushed;
      this.syncedAt = 0;
    } catch (error) {
      this.finish();
      throw error;
    }
    return this.next();
  }

  /** Live status changes may be sent by `send` while this stream's reader is idle (src/realtime/shared-execution.ts). */
  deliverDirectly(send: (message: StatusMessage) => boolean): void {
    this.live.direct = (m) => m.kind === 'status' && send(m);
  }

  return(): Promise<IteratorResult<StatusEvent>> {
    this.finish();
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<StatusEvent>> {
    this.finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<StatusEvent> {
    return this;
  }

  private async sync(type: StatusSubscribeType): Promise<void> {
    try {
      const caller = userCaller(this.ctx);
      const items: StatusEvent[] = await statusSnapshot(this.ctx, caller.app, caller.userId, type, this.ctx.clock.now());
      const latest = this.latestOf(type);
      for (const item of items) latest.set((item as StatusMessage).subjectId, item as StatusMessage);
      items.push({ kind: 'syncFinished', subscribeType: type });
      this.synced = items;
      this.syncedAt = 0;
    } catch (error) {
      this.finish();
      throw error;
    }
  }

  /** Whether a live message is news: the snapshot or an earlier message may have had this state or a newer one. */
  private fresh(message: StatusMessage): boolean {
    const latest = this.latestOf(message.subscribeType);
    const seen = latest.get(message.subjectId);
    if (seen !== undefined && !isLater(message, seen)) return false;
    latest.set(message.subjectId, message);
    return true;
  }

  private latestOf(type: StatusSubscribeType): Map<string, StatusMessage> {
    let latest = this.latest.get(type);
    if (!latest) this.latest.set(type, (latest = new Map()));
    return latest;
  }

  private finish(): void {
    this.finished = true;
    this.live.end();
  }
}
