import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Database tables as Kysely sees them (camelCase; CamelCasePlugin maps to snake_case).
 * Timestamps are always written by the application's clock, never by now(), so that
 * tests can move time and every instance agrees on one source of time per write.
 */
export interface Database {
  apps: AppsTable;
  appSecretChecks: AppSecretChecksTable;
  appSealedSecrets: AppSealedSecretsTable;
  extProfileKeys: ExtProfileKeysTable;
  users: UsersTable;
  friendships: FriendshipsTable;
  friendApplications: FriendApplicationsTable;
  statusSubscriptions: StatusSubscriptionsTable;
  serverInstances: ServerInstancesTable;
  presenceConnections: PresenceConnectionsTable;
  presenceUsers: PresenceUsersTable;
  presencePlatforms: PresencePlatformsTable;
  events: EventsTable;
  webhooks: WebhooksTable;
  webhookDeliveries: WebhookDeliveriesTable;
  webhookDispatch: WebhookDispatchTable;
}

export type ProfileVisibility = 'NOT_SET' | 'INVISIBLE' | 'EVERYONE' | 'FRIENDS_ONLY';
export type FriendAddPermission = 'NOT_SET' | 'FREE' | 'NEED_VERIFY' | 'NO_ONE_ALLOWED';
export type GenderValue = 'UNKNOWN' | 'MALE' | 'FEMALE';
/** A visibility that decides (NOT_SET resolved). */
export type DecidedVisibility = Exclude<ProfileVisibility, 'NOT_SET'>;
export type FieldVisibilityOverrides = Readonly<Record<string, DecidedVisibility>>;
/** Who may see that a user is online, and its custom status (SPEC §10); NOT_SET: the app's default. */
export type PresenceVisibility = 'NOT_SET' | 'EVERYONE' | 'FRIENDS_ONLY' | 'INVISIBLE';

export interface AppsTable {
  appKey: string;
  name: string;
  /** scrypt hash of the app secret: `scrypt$N$r$p$salt$hash` */
  secretHash: string;
  defaultProfileVisibility: Exclude<ProfileVisibility, 'NOT_SET'>;
  defaultFriendAddPermission: Exclude<FriendAddPermission, 'NOT_SET'>;
  defaultPresenceVisibility: ColumnType<Exclude<PresenceVisibility, 'NOT_SET'>, Exclude<PresenceVisibility, 'NOT_SET'> | undefined, Exclude<PresenceVisibility, 'NOT_SET'>>;
  createdAt: Date;
}

/**
 * A fast keyed check of each app's secret (HMAC under a key derived from TOKEN_SECRET, which is
 * not in the database), so that Basic auth costs microseconds instead of a slow hash per new
 * credential. Written after the first successful slow-hash check; `keyId` names the key, and a
 * row under another key (TOKEN_SECRET changed) is ignored and rewritten.
 */
export interface AppSecretChecksTable {
  appKey: string;
  keyId: string;
  check: string;
}

/**
 * Each app's secret sealed with AES-256-GCM under SECRET_ENCRYPTION_KEY (src/apps/secret-box.ts),
 * never in plain text: RongCloud's request signature hashes the secret itself, so the server API
 * needs it readable. Absent for apps created before it (rotateAppSecret writes one).
 */
export interface AppSealedSecretsTable {
  appKey: string;
  /** `v1.<keyId>.<iv>.<ciphertext+tag>` */
  sealed: string;
}

export interface ExtProfileKeysTable {
  appKey: string;
  key: string;
  allowClientRead: boolean;
  allowClientWrite: boolean;
  createdAt: Date;
}

export interface UsersTable {
  appKey: string;
  userId: string;
  /** creation order for allUserProfiles; never exposed */
  seq: Generated<string>;
  name: string | null;
  portraitUri: string | null;
  uniqueId: string | null;
  email: string | null;
  birthday: string | null;
  gender: GenderValue | null;
  location: string | null;
  role: number | null;
  level: number | null;
  /** ext key -> value */
  ext: ColumnType<Record<string, string>, string, string>;
  visibility: ProfileVisibility;
  /**
   * per-field overrides of `visibility` (SPEC §10): a standard field's name or `ext:<key>` ->
   * its visibility; a field without an entry follows `visibility`
   */
  fieldVisibility: ColumnType<FieldVisibilityOverrides, string | undefined, string>;
  friendAddPermission: FriendAddPermission;
  version: number;
  /** bumped by revokeUserTokens; a token carrying an older generation is refused */
  tokenGeneration: number;
  /** set by the server API's token expiry (`time`): a token issued before it is refused */
  tokensIssuedBefore: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface FriendshipsTable {
  appKey: string;
  /** one row per direction: (a,b) and (b,a) */
  userId: string;
  friendId: string;
  remark: string | null;
  addedAt: Date;
}

export type StoredApplicationStatus = 'UNHANDLED' | 'ACCEPTED' | 'REFUSED';

export interface FriendApplicationsTable {
  appKey: string;
  fromUserId: string;
  toUserId: string;
  status: StoredApplicationStatus;
  extra: string | null;
  reason: string | null;
  createdAt: Date;
  expiresAt: Date;
  handledAt: Date | null;
}

export type StatusSubscribeType = 'ONLINE_STATUS' | 'USER_PROFILE';

export interface StatusSubscriptionsTable {
  appKey: string;
  subscriberId: string;
  targetId: string;
  type: StatusSubscribeType;
  subscribedAt: Date;
  expiry: number;
  expiresAt: Date;
  /** when its expiry warning is due (SPEC §11); null once sent, or when there is none to send */
  warnAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export type AppRow = Selectable<AppsTable>;
export type ExtProfileKeyRow = Selectable<ExtProfileKeysTable>;
export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type FriendshipRow = Selectable<FriendshipsTable>;
export type FriendApplicationRow = Selectable<FriendApplicationsTable>;

export interface ServerInstancesTable {
  instanceId: string;
  startedAt: Date;
  heartbeatAt: Date;
  /** last heartbeat + the instance's own timeout; null for instances that predate the column */
  aliveUntil: Date | null;
}

export interface PresenceConnectionsTable {
  connectionId: string;
  instanceId: string;
  appKey: string;
  userId: string;
  platform: string;
  deviceId: string | null;
  connectedAt: Date;
}

export interface PresenceUsersTable {
  appKey: string;
  userId: string;
  version: number;
  visibility: ColumnType<PresenceVisibility, PresenceVisibility | undefined, PresenceVisibility>;
  /** the custom status (SPEC §10); all three null when none is set */
  customStatusText: ColumnType<string | null, string | null | undefined, string | null>;
  customStatusEmoji: ColumnType<string | null, string | null | undefined, string | null>;
  /** null: until cleared */
  customStatusExpiresAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface PresencePlatformsTable {
  appKey: string;
  userId: string;
  platform: string;
  online: boolean;
  changeTime: Date;
  /** wall-clock time at which a pending offline is announced (the grace); null when none is pending */
  offlineDueAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** when the device left, for a pending offline (its change time) */
  leftAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface EventsTable {
  position: Generated<string>;
  /** the writing transaction's id (pg_current_xact_id), as a bigint */
  xid: Generated<string>;
  appKey: string;
  /** direct: the receiver; otherwise the subject whose audience receives it */
  userId: string;
  direct: boolean;
  kind: string;
  payload: ColumnType<unknown, string, string>;
  occurredAt: Date;
}

export type WebhookKind = 'PROFILE_CHANGED' | 'PRESENCE_CHANGED' | 'FRIEND_EVENT' | 'SUBSCRIPTION_CHANGED' | 'USERS_CLEANED' | 'PING';
export type WebhookDeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

/** An app's webhook endpoint (src/db/migrations/2026-12-02T0400_webhooks.ts explains the columns). */
export interface WebhooksTable {
  id: string;
  appKey: string;
  url: string;
  kinds: ColumnType<WebhookKind[], string, string>;
  enabled: boolean;
  /** the whsec_ signing secret, sealed with SECRET_ENCRYPTION_KEY (src/apps/secret-box.ts) */
  sealedSecret: string;
  /** owed the events of transactions from this log boundary on */
  sinceXid: ColumnType<string, string, string>;
  createdAt: Date;
}

export interface WebhookDeliveriesTable {
  /** the webhook-id header of every attempt */
  id: string;
  seq: Generated<string>;
  webhookId: string;
  /** the lane whose order is kept: a user id, or '' for a change of several users */
  subject: string;
  kind: WebhookKind;
  /** the JSON body, signed anew (with a new timestamp) at each attempt */
  body: string;
  status: WebhookDeliveryStatus;
  attempts: Generated<number>;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  /** retried until then, then FAILED */
  giveUpAt: Date;
  nextAttemptAt: Date | null;
  claimedUntil: Date | null;
  claim: string | null;
  deliveredAt: Date | null;
  finishedAt: Date | null;
}

export interface WebhookDispatchTable {
  id: number;
  x: ColumnType<string, string, string>;
  p: ColumnType<string, string, string>;
}

export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
