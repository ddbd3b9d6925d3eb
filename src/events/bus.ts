import { EventEmitter } from 'node:events';
import type { PresenceVisibility, UserRow } from '../db/database.ts';
import type { CustomStatusJson } from '../presence/rules.ts';

/**
 * Where a change came from, so that real-time delivery can skip the connection that made it
 * (SPEC §6: "other connections" exclude the same socket, or HTTP with the same X-Device-Id).
 */
export type ChangeOrigin = { by: 'user'; userId: string; deviceId?: string; connectionId?: string } | { by: 'backend' };

export type FriendEventPayload =
  /** name and portraitUri: the new friend's when the friendship formed (visible to anyone); absent in events logged before they were recorded */
  | { kind: 'FriendAdded'; userId: string; addedAt: string; name?: string | null; portraitUri?: string | null }
  | { kind: 'FriendDeleted'; userIds: string[]; deletedAt: string }
  | {
      kind: 'FriendApplicationStatusChanged';
      application: {
        userId: string;
        direction: 'SENT' | 'RECEIVED';
        status: 'UNHANDLED' | 'ACCEPTED' | 'REFUSED' | 'EXPIRED';
        extra: string | null;
        reason: string | null;
        createdAt: string;
        expiresAt: string;
      };
    };

/**
 * Facts the domains record with a committed write. Those that someone receives are written to the
 * event log in the write's transaction (src/events/repository.ts) and delivered from there; all of
 * them are also announced in process after the commit (`EventBus`), for local observers.
 */
export type DomainEvent =
  /** `profile` is the row as committed by this change */
  | { type: 'profileChanged'; appKey: string; userId: string; profile: UserRow; origin: ChangeOrigin; at: string }
  /**
   * Many profiles changed at once by one backend operation (an ext key removed from the app): one
   * event per chunk of them instead of one each. `profiles` are the rows as committed; `userIds`
   * name them (what the log is searched by).
   */
  | { type: 'profilesChanged'; appKey: string; userIds: string[]; profiles: UserRow[]; origin: ChangeOrigin; at: string }
  | {
      type: 'presenceChanged';
      appKey: string;
      userId: string;
      /** the user's presence version after this change */
      version: number;
      /** the user's creation time (ms); versions restart when a user is created again */
      incarnation: number;
      details: { platform: string; online: boolean; changeTime: string }[];
      at: string;
      /**
       * The user's own presence visibility setting and custom status as of this change, so that
       * the audience decides who may see it without a lookup (SPEC §10; absent in events logged
       * before they existed: NOT_SET and none).
       */
      visibility?: PresenceVisibility;
      customStatus?: CustomStatusJson | null;
      /**
       * set when this change is not a platform's: the visibility setting (with the one before it)
       * or the custom status changed, or a friendship with `watchers` (ONLINE_STATUS subscribers of
       * a FRIENDS_ONLY user) was made or ended, so that their view of the user changed
       */
      cause?: 'visibility' | 'customStatus' | 'friendship';
      previousVisibility?: PresenceVisibility;
      watchers?: string[];
    }
  | {
      type: 'subscriptionChanged';
      appKey: string;
      userId: string;
      origin: ChangeOrigin;
      operationType: 'SUBSCRIBE' | 'UNSUBSCRIBE';
      subscribeType: 'ONLINE_STATUS' | 'USER_PROFILE';
      userIds: string[];
      expiry: number | null;
      at: string;
    }
  /** SPEC §11: some of the subscriber's subscriptions of one type expire soon (`expiresAt`: the earliest of them, ISO) */
  | { type: 'subscriptionsExpiring'; appKey: string; userId: string; subscribeType: 'ONLINE_STATUS' | 'USER_PROFILE'; userIds: string[]; expiresAt: string; at: string }
  | { type: 'friendEvent'; appKey: string; receiverId: string; event: FriendEventPayload; at: string }
  | { type: 'friendshipChanged'; appKey: string; userIds: [string, string]; at: string }
  /**
   * tokens of a generation below `generation` no longer work; with `issuedBeforeMs` (the server
   * API's token expiry) those issued before that time instead, whatever their generation
   */
  | { type: 'tokensRevoked'; appKey: string; userId: string; generation: number; issuedBeforeMs?: number; at: string }
  | { type: 'usersCleaned'; appKey: string; userIds: string[]; at: string }
  /** the app's settings or ext key registry changed: every instance forgets what it cached of them */
  | { type: 'appChanged'; appKey: string; at: string }
  /** a cleaned user: its own sockets close (4403) */
  | { type: 'userRemoved'; appKey: string; userId: string; at: string }
  /**
   * A watcher of a user removed while online learns that it went offline. Addressed to the
   * watcher itself: the subscriptions and friendships that would name the audience are gone.
   */
  | {
      type: 'watchedUserGone';
      appKey: string;
      receiverId: string;
      subjectId: string;
      subscribeType: 'ONLINE_STATUS' | 'FRIEND_ONLINE_STATUS';
      /** epoch ms, for a subscription; null for a friend */
      subscribeTime: number | null;
      expiry: number | null;
      expiresAt: number | null;
      details: { platform: string; online: boolean; changeTime: string }[];
      incarnation: number;
      version: number;
      at: string;
    };

export interface EventBus {
  publish(event: DomainEvent): Promise<void>;
  subscribe(listener: (event: DomainEvent) => void): () => void;
  close(): Promise<void>;
}

/** In-process notices of committed events. Listeners run after the write committed. */
export function createInProcessBus(): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(event) {
      emitter.emit('event', event);
    },
    subscribe(listener) {
      emitter.on('event', listener);
      return () => emitter.off('event', listener);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}
