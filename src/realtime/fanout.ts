import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { AppRow, Database, UserRow } from '../db/database.ts';
import { compiledStatement } from '../db/compiled.ts';
import type { DomainEvent, EventBus } from '../events/bus.ts';
import { listExtProfileKeys, findApp } from '../apps/repository.ts';
import { profileView, type ProfileView } from '../profiles/view.ts';
import { subscribersOf, type Subscriber } from '../subscriptions/repository.ts';
import { accessFor, effectiveVisibility } from '../visibility/rule.ts';
import { type RealtimeMessage, type StatusMessage, userTopic } from './messages.ts';
import type { UserTopics } from './topics.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

type Outgoing = { topic: string; message: RealtimeMessage };

const friendsOf = compiledStatement((db, appKey: string, userId: string) => db.selectFrom('friendships').select('friendId').where('appKey', '=', appKey).where('userId', '=', userId));

/** WebSocket close code for connections whose credentials stopped being valid. */
export const CLOSE_FORBIDDEN = 4403;

/**
 * Turns committed domain events into per-receiver messages on per-user topics (fan-out on write).
 * Per change: one indexed lookup of subscribers, one of friends, and one visibility decision per
 * receiver class (friend / other) — never a query or an execution per receiver. Changes of one
 * subject are fanned out one after another so receivers see them in commit order.
 */
export class FanOut {
  private readonly chains = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  /** names each published change uniquely, across instances (see StatusMessage.shared) */
  private readonly instance = randomUUID();
  private published = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly bus: EventBus,
    private readonly topics: UserTopics,
    private readonly observe: { log: Logger; metrics: Metrics },
  ) {}

  start(): void {
    this.unsubscribe = this.bus.subscribe((event) => this.enqueue(event));
  }

  /** Waits until every change handed over so far is published. */
  async drain(): Promise<void> {
    while (this.chains.size) await Promise.all([...this.chains.values()]);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.drain();
  }

  private enqueue(event: DomainEvent): void {
    const subject = 'userId' in event ? event.userId : event.type === 'friendEvent' ? event.receiverId : '';
    const key = `${event.appKey}:${subject}`;
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.fanOut(event))
      .catch((error) => this.observe.log.error({ err: error, change: event.type }, 'fan-out failed'))
      .finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
    this.chains.set(key, next);
  }

  private async fanOut(event: DomainEvent): Promise<void> {
    const start = performance.now();
    const batch = await this.handle(event);
    await this.topics.publish(batch);
    this.observe.metrics.fanOutDuration.observe({ change: event.type }, (performance.now() - start) / 1000);
    const kinds = new Map<string, number>();
    for (const { message } of batch) kinds.set(message.kind, (kinds.get(message.kind) ?? 0) + 1);
    for (const [kind, n] of kinds) this.observe.metrics.eventsPublished.inc({ kind }, n);
  }

  private async handle(event: DomainEvent): Promise<Outgoing[]> {
    switch (event.type) {
      case 'profileChanged':
        return this.profileChanged(event.appKey, event.profile, event.origin);
      case 'presenceChanged':
        return this.presenceChanged(event);
      case 'subscriptionChanged':
        return [
          {
            topic: userTopic(event.appKey, event.userId),
            message: {
              kind: 'relation',
              origin: event.origin,
              operationType: event.operationType,
              subscribeType: event.subscribeType,
              userIds: event.userIds,
              expiry: event.expiry,
              operationTime: event.at,
            },
          },
        ];
      case 'friendEvent':
        return [{ topic: userTopic(event.appKey, event.receiverId), message: { kind: 'friend', event: event.event } }];
      case 'tokensRevoked':
        return [
          {
            topic: userTopic(event.appKey, event.userId),
            message: { kind: 'close', code: CLOSE_FORBIDDEN, reason: 'token revoked', belowGeneration: event.generation },
          },
        ];
      case 'usersCleaned':
        return event.userIds.map((userId) => ({
          topic: userTopic(event.appKey, userId),
          message: { kind: 'close', code: CLOSE_FORBIDDEN, reason: 'user removed' } as const,
        }));
      case 'friendshipChanged':
        return [];
    }
  }

  private nextChange(): string {
    return `${this.instance}:${++this.published}`;
  }

  private async friendIds(appKey: string, userId: string): Promise<string[]> {
    const rows = await friendsOf(this.db, appKey, userId);
    return rows.map((r) => r.friendId);
  }

  private async profileChanged(appKey: string, profile: UserRow, origin: Extract<DomainEvent, { type: 'profileChanged' }>['origin']) {
    const now = this.clock.now();
    const [app, extKeys, subscribers, friends] = await Promise.all([
      findApp(this.db, appKey),
      listExtProfileKeys(this.db, appKey),
      subscribersOf(this.db, appKey, profile.userId, 'USER_PROFILE', now),
      this.friendIds(appKey, profile.userId),
    ]);
    if (!app) return [];
    const views = viewsByAudience(profile, app, extKeys);
    const friendSet = new Set(friends);
    const change: Change = {
      id: this.nextChange(),
      subjectId: profile.userId,
      details: [],
      changeTime: new Date(profile.updatedAt).toISOString(),
      incarnation: new Date(profile.createdAt).getTime(),
      order: profile.version,
    };
    const toFriend = `${change.id}:USER_PROFILE:friend`;
    const toOther = `${change.id}:USER_PROFILE:other`;
    const out: Outgoing[] = [{ topic: userTopic(appKey, profile.userId), message: { kind: 'ownProfile', origin, profile: views.self } }];
    for (const s of subscribers) {
      const friend = friendSet.has(s.subscriberId);
      out.push({ topic: userTopic(appKey, s.subscriberId), message: statusMessage(change, 'USER_PROFILE', s, friend ? views.friend : views.other, friend ? toFriend : toOther) });
    }
    const friendMessage = statusMessage(change, 'FRIEND_USER_PROFILE', null, views.friend, `${change.id}:FRIEND_USER_PROFILE`);
    for (const friendId of friends) out.push({ topic: userTopic(appKey, friendId), message: friendMessage });
    return out;
  }

  private async presenceChanged(event: Extract<DomainEvent, { type: 'presenceChanged' }>) {
    const now = this.clock.now();
    const [subscribers, friends] = await Promise.all([
      subscribersOf(this.db, event.appKey, event.userId, 'ONLINE_STATUS', now),
      this.friendIds(event.appKey, event.userId),
    ]);
    const change: Change = { id: this.nextChange(), subjectId: event.userId, details: event.details, changeTime: event.at, incarnation: event.incarnation, order: event.version };
    const shared = `${change.id}:ONLINE_STATUS`;
    const out: Outgoing[] = subscribers.map((s) => ({ topic: userTopic(event.appKey, s.subscriberId), message: statusMessage(change, 'ONLINE_STATUS', s, null, shared) }));
    const friendMessage = statusMessage(change, 'FRIEND_ONLINE_STATUS', null, null, `${change.id}:FRIEND_ONLINE_STATUS`);
    for (const friendId of friends) out.push({ topic: userTopic(event.appKey, friendId), message: friendMessage });
    return out;
  }
}

/** What every receiver of one change shares. */
interface Change {
  id: string;
  subjectId: string;
  details: StatusMessage['details'];
  changeTime: string;
  incarnation: number;
  order: number;
}

/** One receiver's message (built thousands of times per change: one literal, one shape). */
function statusMessage(change: Change, subscribeType: StatusMessage['subscribeType'], subscription: Subscriber | null, profile: ProfileView | null, shared: string): StatusMessage {
  return {
    kind: 'status',
    subjectId: change.subjectId,
    subscribeType,
    subscribeTime: subscription ? subscription.subscribedAtMs : null,
    expiry: subscription ? subscription.expiry : null,
    expiresAt: subscription ? subscription.expiresAtMs : null,
    details: change.details,
    profile,
    changeTime: change.changeTime,
    incarnation: change.incarnation,
    order: change.order,
    shared,
  };
}

/** The three cuts of one profile: for its owner, for a friend, for anyone else in the app. */
export function viewsByAudience(profile: UserRow, app: AppRow, extKeys: Parameters<typeof profileView>[2]): { self: ProfileView; friend: ProfileView; other: ProfileView } {
  const effective = effectiveVisibility(profile.visibility, app.defaultProfileVisibility);
  const cut = (audience: 'self' | 'friend' | 'stranger') => profileView(profile, accessFor(effective, audience), extKeys);
  const friend = cut('friend');
  const other = cut('stranger');
  return { self: cut('self'), friend, other: other.restricted === friend.restricted ? friend : other };
}
