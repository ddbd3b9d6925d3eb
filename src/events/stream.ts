import type { Context } from '../context.ts';
import type { AppRow } from '../db/database.ts';
import { appError } from '../errors.ts';
import type { FriendEventPayload } from './bus.ts';
import { type Cursor, cursorExpired } from './cursor.ts';
import { compare, type CommittedSet, type LogPosition, lastChangesSince, ownEventsSince, presenceHistorySince, wasCommitted } from './repository.ts';
import { effectivePresenceVisibility, maySeePresence, type PresenceVisibility } from '../presence/rules.ts';
import { friendIdsOf } from '../friends/repository.ts';
import { findUsers } from '../profiles/repository.ts';
import type { ProfileView } from '../profiles/view.ts';
import type { EventStream, RealtimeConnection } from '../realtime/connection.ts';
import { isLater, type ExpiringMessage, type RealtimeMessage, type RelationMessage, type StatusMessage, type StatusSubscribeType } from '../realtime/messages.ts';
import { directMessage } from '../subscriptions/audience.ts';
import { subscriptionsOf } from '../subscriptions/repository.ts';
import { statusSnapshot } from '../subscriptions/snapshot.ts';
import { viewsByAudience } from '../visibility/views.ts';

export interface OwnProfileEvent {
  kind: 'ownProfile';
  profile: ProfileView;
}

export interface CaughtUpEvent {
  kind: 'caughtUp';
  resumed: boolean;
}

/** An envelope waiting to be sent; its cursor is made when it is sent (see `sealed`). */
interface Pending {
  event: UserEventValue;
  position: LogPosition;
  occurredAt: string;
  snapshot: boolean;
  /** another envelope of the same log row follows for this receiver */
  continued: boolean;
}

export type UserEventValue = StatusMessage | RelationMessage | ExpiringMessage | OwnProfileEvent | FriendEventPayload | CaughtUpEvent;

export interface UserEventEnvelope {
  cursor: string;
  /** ISO */
  occurredAt: string;
  event: UserEventValue;
}

const ALL_TYPES: StatusSubscribeType[] = ['ONLINE_STATUS', 'USER_PROFILE', 'FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE'];
const DONE: IteratorResult<UserEventEnvelope> = { value: undefined, done: true };

/**
 * Opens `userEvents(after:)` for the connection's user (SPEC §9). A bad cursor fails here, before
 * anything is sent: BAD_USER_INPUT when malformed or another user's, CURSOR_EXPIRED when older
 * than the retention.
 */
export function openUserEvents(ctx: Context, connection: RealtimeConnection, after: string | null | undefined): UserEventStream {
  if (ctx.caller.kind !== 'user') throw appError('FORBIDDEN', 'user token required');
  const { app, userId } = ctx.caller;
  let start: Cursor | null = null;
  if (after !== null && after !== undefined) {
    start = ctx.cursors.decode(app.appKey, userId, after);
    const retentionMs = ctx.config.eventRetentionSeconds * 1000;
    if (ctx.clock.now().getTime() - start.at > retentionMs) throw cursorExpired(ctx.config.eventRetentionSeconds);
  }
  return new UserEventStream(ctx, connection, start);
}

/**
 * One device's resumable stream. It listens first, then reads what has committed
 * (`committedNow`), then sends either the status snapshot (fresh start) or everything committed for
 * this user since the cursor (resume), then CaughtUp, then live events: live messages of
 * transactions that had committed were part of the replay and are dropped, so each event comes
 * once, and none committed before the stream waits behind an older transaction still open. Status items are kept newest-only per (type, user) across all three
 * parts, so a state the replay already showed is not sent again live.
 */
export class UserEventStream implements AsyncIterableIterator<UserEventEnvelope> {
  private readonly live: EventStream<RealtimeMessage>;
  private readonly ready: Pending[] = [];
  private readonly latest = new Map<string, { incarnation: number; order: number; subscribeTime: number | null; expiry: number | null }>();
  /** what had committed when the stream started: replayed (or in the snapshot), never live */
  private committed: CommittedSet | undefined;
  /** the place every cursor handed out during the catch-up stays at or below */
  private boundary: LogPosition | undefined;
  private newestOwnProfile = 0;
  private started = false;
  /** the app as read at the catch-up */
  private app: AppRow | undefined;
  /** CaughtUp has been handed out: later envelopes are live, read below the relay's boundary */
  private caughtUp = false;
  private finished = false;
  private readonly appKey: string;
  private readonly userId: string;

  constructor(
    private readonly ctx: Context,
    private readonly connection: RealtimeConnection,
    private readonly start: Cursor | null,
  ) {
    const caller = ctx.caller as Extract<Context['caller'], { kind: 'user' }>;
    this.appKey = caller.app.appKey;
    this.userId = caller.userId;
    this.live = connection.stream<RealtimeMessage>((m) => (m.kind === 'close' ? undefined : m));
  }

  async next(): Promise<IteratorResult<UserEventEnvelope>> {
    try {
      for (;;) {
        if (this.finished) return DONE;
        const ready = this.ready.shift();
        if (ready) return { value: this.sealed(ready, this.ready[0]), done: false };
        if (!this.started) {
          this.started = true;
          await this.ctx.catchUps.run(() => this.catchUp());
          continue;
        }
        const result = await this.live.next();
        if (result.done) {
          this.finish();
          return DONE;
        }
        await this.fromLive(result.value);
      }
    } catch (error) {
      this.finish();
      throw error;
    }
  }

  return(): Promise<IteratorResult<UserEventEnvelope>> {
    this.finish();
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<UserEventEnvelope>> {
    this.finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<UserEventEnvelope> {
    return this;
  }

  private callerApp(): AppRow {
    return (this.ctx.caller as Extract<Context['caller'], { kind: 'user' }>).app;
  }

  private finish(): void {
    this.finished = true;
    this.live.end();
  }

  private envelope(event: UserEventValue, position: LogPosition, occurredAt: string, snapshot = false, continued = false): Pending {
    return { event, position, occurredAt, snapshot, continued };
  }

  /**
   * The envelope with its cursor. Several envelopes can come from one log row (a subscribe and the
   * statuses it pushes; a subject's USER_PROFILE and FRIEND_USER_PROFILE change): all but the last
   * carry the place just before that row, so a resume from them repeats the row's envelopes rather
   * than skipping those not yet processed.
   */
  private sealed(item: Pending, following: Pending | undefined): UserEventEnvelope {
    const more = item.continued || (following !== undefined && !following.snapshot && compare(following.position, item.position) === 0);
    let position = more && !item.snapshot && item.position.p > 0n ? { x: item.position.x, p: item.position.p - 1n } : item.position;
    // A replayed row above the boundary committed while an older transaction was still open: a
    // cursor past it would skip that transaction's rows, so it stays at the boundary (a resume
    // from it repeats such rows rather than lose the older one's).
    if (!this.caughtUp && this.boundary && compare(position, this.boundary) > 0) position = this.boundary;
    if (item.event.kind === 'caughtUp') this.caughtUp = true;
    const now = this.ctx.clock.now().getTime();
    const at = Date.parse(item.occurredAt);
    const cursor = this.ctx.cursors.encode(this.appKey, this.userId, { position, at: Number.isNaN(at) ? now : Math.min(at, now), snapshot: item.snapshot });
    return { cursor, occurredAt: item.occurredAt, event: item.event };
  }

  /** Whether a status is newer than what this stream already showed for its type and user. */
  private fresh(status: StatusMessage): boolean {
    const key = `${status.subscribeType}\u0000${status.subjectId}`;
    const seen = this.latest.get(key);
    if (seen !== undefined && !isLater(status, seen)) return false;
    this.latest.set(key, { incarnation: status.incarnation, order: status.order, subscribeTime: status.subscribeTime, expiry: status.expiry });
    return true;
  }

  /** A pushed status: news when its state is newer, or its subscription was refreshed (new subscribeTime or expiry). */
  private freshOrRefreshed(status: StatusMessage): boolean {
    const key = `${status.subscribeType}\u0000${status.subjectId}`;
    const seen = this.latest.get(key);
    if (seen !== undefined && !isLater(status, seen) && seen.subscribeTime === status.subscribeTime && seen.expiry === status.expiry) return false;
    if (seen === undefined || isLater(status, seen)) this.latest.set(key, { incarnation: status.incarnation, order: status.order, subscribeTime: status.subscribeTime, expiry: status.expiry });
    else this.latest.set(key, { ...seen, subscribeTime: status.subscribeTime, expiry: status.expiry });
    return true;
  }

  private async catchUp(): Promise<void> {
    const { db, clock } = this.ctx;
    const committed = await this.ctx.events.committedNow();
    const boundary: LogPosition = { x: committed.xmin, p: 0n };
    this.committed = committed;
    this.boundary = boundary;
    // the app row as one read per catch-up: its settings (default visibility) as of now
    const app = (await this.ctx.appConfig.app(this.appKey)) ?? this.callerApp();
    this.app = app;
    const now = clock.now();
    const nowIso = now.toISOString();
    if (!this.start || this.start.snapshot) {
      for (const type of ALL_TYPES) {
        for (const status of await statusSnapshot(this.ctx, app, this.userId, type, now)) {
          if (this.fresh(status)) this.ready.push(this.envelope(status, boundary, status.changeTime, true));
        }
      }
    }
    if (this.start) {
      for (const item of await this.replay(this.start.position, committed)) this.ready.push(item);
    }
    this.ready.push(this.envelope({ kind: 'caughtUp', resumed: this.start !== null }, boundary, nowIso));
  }

  /** Everything for this user since `after` that had committed when the stream started, in log order (SPEC §9). */
  private async replay(after: LogPosition, committed: CommittedSet): Promise<Pending[]> {
    const { db, clock } = this.ctx;
    const { appKey, userId } = this;
    const now = clock.now();
    const app = this.app ?? this.callerApp();
    const [online, profiles, friends] = await Promise.all([
      subscriptionsOf(db, appKey, userId, 'ONLINE_STATUS', now),
      subscriptionsOf(db, appKey, userId, 'USER_PROFILE', now),
      friendIdsOf(db, appKey, userId),
    ]);
    const watching: Record<StatusSubscribeType, Set<string>> = {
      ONLINE_STATUS: new Set(online.map((s) => s.targetId)),
      USER_PROFILE: new Set(profiles.map((s) => s.targetId)),
      FRIEND_ONLINE_STATUS: new Set(friends),
      FRIEND_USER_PROFILE: new Set(friends),
    };
    const watched = [...new Set([...watching.ONLINE_STATUS, ...watching.USER_PROFILE, ...friends])];
    const [own, changes] = await Promise.all([ownEventsSince(db, appKey, userId, after, committed), lastChangesSince(db, appKey, watched, after, committed)]);

    // Status is coalesced: one item per (type, user) that changed (or was newly subscribed), at
    // the place of its last change, carrying the state as of now.
    const placed = new Map<string, { type: StatusSubscribeType; subjectId: string; position: LogPosition; subscribed: boolean }>();
    const place = (type: StatusSubscribeType, subjectId: string, position: LogPosition, subscribed = false) => {
      if (!watching[type].has(subjectId)) return;
      const key = `${type}\u0000${subjectId}`;
      const current = placed.get(key);
      if (!current || compare(position, current.position) > 0) placed.set(key, { type, subjectId, position, subscribed: subscribed || (current?.subscribed ?? false) });
      else if (subscribed) current.subscribed = true;
    };
    for (const c of changes) {
      if (c.kind === 'profileChanged') {
        place('USER_PROFILE', c.userId, c.position);
        place('FRIEND_USER_PROFILE', c.userId, c.position);
      } else {
        place('ONLINE_STATUS', c.userId, c.position);
        place('FRIEND_ONLINE_STATUS', c.userId, c.position);
      }
    }
    // at one position, statuses (rank 0) go before the row's own event (rank 1), as live
    const items: { position: LogPosition; rank?: number; envelope: () => Pending | null }[] = [];
    let ownProfileAt: { position: LogPosition; occurredAt: string } | undefined;
    for (const logged of own) {
      const { event } = logged;
      const occurredAt = logged.occurredAt.toISOString();
      if (event.type === 'profilesChanged') {
        ownProfileAt = { position: logged.position, occurredAt };
        continue;
      }
      if (event.type === 'profileChanged') {
        if (event.origin.by === 'user' && event.origin.deviceId !== undefined && event.origin.deviceId === this.connection.info.deviceId) continue;
        ownProfileAt = { position: logged.position, occurredAt };
        continue;
      }
      if (event.type === 'subscriptionChanged' && event.operationType === 'SUBSCRIBE') {
        for (const id of event.userIds) place(event.subscribeType, id, logged.position, true);
      }
      const message = directMessage(event, { position: logged.position, occurredAt });
      if (!message || message.kind === 'close') continue;
      if (message.kind === 'relation' && this.connection.madeBy(message.origin)) continue;
      if (message.kind === 'status') {
        items.push({ position: logged.position, envelope: () => (this.fresh(message) ? this.envelope(message, logged.position, occurredAt) : null) });
      } else if (message.kind === 'relation' || message.kind === 'expiring') {
        items.push({ position: logged.position, rank: 1, envelope: () => this.envelope(message, logged.position, occurredAt) });
      } else if (message.kind === 'friend') {
        items.push({ position: logged.position, rank: 1, envelope: () => this.envelope(message.event, logged.position, occurredAt) });
      }
    }
    if (ownProfileAt) {
      const [row] = await findUsers(db, appKey, [userId]);
      if (row) {
        const view = viewsByAudience(row, app, await this.ctx.appConfig.extKeys(appKey)).self;
        const at = ownProfileAt;
        this.newestOwnProfile = view.version;
        items.push({ position: at.position, envelope: () => this.envelope({ kind: 'ownProfile', profile: view }, at.position, at.occurredAt) });
      }
    }
    const byType = new Map<StatusSubscribeType, Map<string, LogPosition>>();
    for (const p of placed.values()) {
      let ids = byType.get(p.type);
      if (!ids) byType.set(p.type, (ids = new Map()));
      ids.set(p.subjectId, p.position);
    }
    const snapshots = new Map<StatusSubscribeType, StatusMessage[]>();
    for (const [type, ids] of byType) snapshots.set(type, await statusSnapshot(this.ctx, app, userId, type, now, [...ids.keys()]));
    // SPEC §10: a presence status goes out only if this receiver's view of it changed since the
    // cursor: a subject hidden from it then and now showed it nothing (its activity is none of the
    // receiver's business), one whose only changes were visibility flips that left this receiver's
    // view as it was neither. A newly subscribed subject's status always goes (the subscribe's answer).
    const viaPresence = new Set([...placed.values()].filter((p) => !p.subscribed && (p.type === 'ONLINE_STATUS' || p.type === 'FRIEND_ONLINE_STATUS')).map((p) => p.subjectId));
    const history = await presenceHistorySince(db, appKey, userId, [...viaPresence], after, committed);
    const viewChanged = (status: StatusMessage) => {
      if (!viaPresence.has(status.subjectId) || placed.get(`${status.subscribeType}\u0000${status.subjectId}`)?.subscribed) return true;
      const past = history.get(status.subjectId);
      if (!past || past.friendshipChanged) return true;
      const isFriend = status.subscribeType === 'FRIEND_ONLINE_STATUS' || watching.FRIEND_ONLINE_STATUS.has(status.subjectId);
      const seesNow = status.hidden !== true;
      const sawThen = past.visibilityThen === undefined ? seesNow : maySeePresence(effectivePresenceVisibility(past.visibilityThen as PresenceVisibility, app.defaultPresenceVisibility), isFriend);
      if (!seesNow && !sawThen) return false;
      return seesNow !== sawThen || past.otherChange;
    };
    for (const [type, ids] of byType) {
      for (const status of snapshots.get(type)!) {
        if ((type === 'ONLINE_STATUS' || type === 'FRIEND_ONLINE_STATUS') && !viewChanged(status)) continue;
        const position = ids.get(status.subjectId)!;
        items.push({ position, envelope: () => (this.fresh(status) ? this.envelope(status, position, status.changeTime) : null) });
      }
    }
    items.sort((a, b) => compare(a.position, b.position) || (a.rank ?? 0) - (b.rank ?? 0));
    const out: Pending[] = [];
    for (const item of items) {
      const envelope = item.envelope();
      if (envelope) out.push(envelope);
    }
    return out;
  }

  /** A live message: dropped when the replay covered it or it is stale; a SUBSCRIBE also brings the new targets' status. */
  private async fromLive(message: RealtimeMessage): Promise<void> {
    const boundary = this.boundary!;
    if (message.kind === 'close') return;
    // committed before the stream started: its replay (or snapshot) had it
    if (message.position && wasCommitted(this.committed!, message.position.x)) return;
    const position = message.position ?? boundary;
    const occurredAt = message.occurredAt ?? this.ctx.clock.now().toISOString();
    switch (message.kind) {
      case 'status':
        if (this.fresh(message)) this.ready.push(this.envelope(message, position, occurredAt, false, message.continued === true));
        return;
      case 'ownProfile':
        if (message.profile.version < this.newestOwnProfile) return;
        this.newestOwnProfile = message.profile.version;
        if (!this.connection.madeBy(message.origin)) this.ready.push(this.envelope({ kind: 'ownProfile', profile: message.profile }, position, occurredAt));
        return;
      case 'friend':
        this.ready.push(this.envelope(message.event, position, occurredAt));
        return;
      case 'expiring':
        this.ready.push(this.envelope(message, position, occurredAt));
        return;
      case 'relation': {
        // the pushed statuses first, the relation change last: a resume from the relation's cursor
        // then repeats nothing, and one from a pushed status repeats only states (see `sealed`)
        if (message.operationType === 'SUBSCRIBE') for (const status of await this.pushed(message)) this.ready.push(this.envelope(status, position, occurredAt));
        if (!this.connection.madeBy(message.origin)) this.ready.push(this.envelope(message, position, occurredAt));
        return;
      }
    }
  }

  private async pushed(message: RelationMessage): Promise<StatusMessage[]> {
    const { db, clock } = this.ctx;
    const app = this.app ?? this.callerApp();
    const statuses = await statusSnapshot(this.ctx, app, this.userId, message.subscribeType, clock.now(), message.userIds);
    // a state this stream showed already is not pushed again, unless the subscription was refreshed
    return statuses.filter((status) => this.freshOrRefreshed(status));
  }
}
