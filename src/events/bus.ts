import { EventEmitter } from 'node:events';
import type { UserRow } from '../db/database.ts';

/**
 * Where a change came from, so that real-time delivery can skip the connection that made it
 * (SPEC §6: "other connections" exclude the same socket, or HTTP with the same X-Device-Id).
 */
export type ChangeOrigin = { by: 'user'; userId: string; deviceId?: string; connectionId?: string } | { by: 'backend' };

export type FriendEventPayload =
  | { kind: 'FriendAdded'; userId: string; addedAt: string }
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

/** Facts the domains publish after a committed write; real-time delivery subscribes to them. */
export type DomainEvent =
  /** `profile` is the row as committed by this change */
  | { type: 'profileChanged'; appKey: string; userId: string; profile: UserRow; origin: ChangeOrigin; at: string }
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
  | { type: 'friendEvent'; appKey: string; receiverId: string; event: FriendEventPayload; at: string }
  | { type: 'friendshipChanged'; appKey: string; userIds: [string, string]; at: string }
  /** tokens of a generation below `generation` no longer work */
  | { type: 'tokensRevoked'; appKey: string; userId: string; generation: number; at: string }
  | { type: 'usersCleaned'; appKey: string; userIds: string[]; at: string };

export interface EventBus {
  publish(event: DomainEvent): Promise<void>;
  subscribe(listener: (event: DomainEvent) => void): () => void;
  close(): Promise<void>;
}

/** Single-instance bus (no REDIS_URL). Listeners run after the publishing write committed. */
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
