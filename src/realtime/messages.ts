import type { ChangeOrigin, FriendEventPayload } from '../events/bus.ts';
import type { ProfileView } from '../profiles/view.ts';
import type { LogPosition } from '../events/repository.ts';
import type { CustomStatusJson } from '../presence/rules.ts';

/**
 * Where a message stands in the event log, for messages delivered from it (absent on the
 * snapshot's items): resumable streams hand it out as their cursor and skip what they replayed.
 */
export interface FromLog {
  position?: LogPosition;
  /** ISO time of the change */
  occurredAt?: string;
}

/** JSON-safe (ISO date strings) so that the same message travels in process or through Redis. */
export interface PlatformStatusJson {
  platform: string;
  online: boolean;
  changeTime: string;
}

export type StatusSubscribeType = 'ONLINE_STATUS' | 'USER_PROFILE' | 'FRIEND_ONLINE_STATUS' | 'FRIEND_USER_PROFILE';

/**
 * One user's status for one receiver. `order` is the subject's profile or presence version and
 * `incarnation` the subject's creation time (ms): a user removed and created again restarts its
 * versions, so streams compare (incarnation, order).
 */
export interface StatusMessage extends FromLog {
  kind: 'status';
  subjectId: string;
  subscribeType: StatusSubscribeType;
  /** epoch ms (numbers, not ISO strings: a change is built and checked once per receiver) */
  subscribeTime: number | null;
  expiry: number | null;
  /** epoch ms; the receiver drops the message once its subscription expired (clock of the receiver's instance) */
  expiresAt: number | null;
  details: PlatformStatusJson[];
  profile: ProfileView | null;
  /** ONLINE_STATUS and FRIEND_ONLINE_STATUS, when the receiver may see the subject's presence (SPEC §10) */
  customStatus?: CustomStatusJson | null;
  /** the subject's presence is hidden from this receiver: it sees the subject as never connected */
  hidden?: boolean;
  changeTime: string;
  incarnation: number;
  order: number;
  /**
   * Equal for two messages of one published change that differ in nothing but subscribeTime,
   * expiry and expiresAt (same subject, type and audience), so their rendering can be shared.
   */
  shared?: string;
  /** this receiver gets another message of the same change right after (friend and subscriber at once) */
  continued?: boolean;
}

/** Whether `a` is a later state of its subject than `b`. */
export function isLater(a: { incarnation: number; order: number }, b: { incarnation: number; order: number }): boolean {
  return a.incarnation !== b.incarnation ? a.incarnation > b.incarnation : a.order > b.order;
}

export interface RelationMessage extends FromLog {
  kind: 'relation';
  origin: ChangeOrigin;
  operationType: 'SUBSCRIBE' | 'UNSUBSCRIBE';
  subscribeType: StatusSubscribeType;
  userIds: string[];
  expiry: number | null;
  operationTime: string;
}

/** SPEC §11: the receiver's subscriptions of one type that expire soon. */
export interface ExpiringMessage extends FromLog {
  kind: 'expiring';
  subscribeType: 'ONLINE_STATUS' | 'USER_PROFILE';
  userIds: string[];
  /** ISO: the earliest expiry among them */
  expiresAt: string;
}

export interface OwnProfileMessage extends FromLog {
  kind: 'ownProfile';
  origin: ChangeOrigin;
  profile: ProfileView;
}

export interface FriendMessage extends FromLog {
  kind: 'friend';
  event: FriendEventPayload;
}

/** Tells every connection of the user holding a token older than `generation` to close. */
export interface CloseMessage {
  kind: 'close';
  code: number;
  reason: string;
  /** close only connections whose token generation is below this (undefined = all) */
  belowGeneration?: number;
  /** instead: close only connections whose token was issued before this time (ms since the epoch) */
  issuedBeforeMs?: number;
}

export type RealtimeMessage = StatusMessage | RelationMessage | ExpiringMessage | OwnProfileMessage | FriendMessage | CloseMessage;

export const userTopic = (appKey: string, userId: string) => `phs:user:${appKey}:${userId}`;
/** The group of an app's user topics (user ids and app keys hold no ':'). */
export const userTopicGroup = (appKey: string) => `phs:user:${appKey}`;
