/**
 * RongCloud-shaped values (RongIMLib's IUserProfileInfo, SubscribeInfoEvent, SubscribeEvent,
 * friend events) and their conversion from the GraphQL results. Times are Unix milliseconds,
 * enums RongCloud's numbers.
 */
import {
  applicationStatuses,
  applicationTypes,
  DirectionType,
  genders,
  platforms,
  SubscribeOperationType,
  subscribeTypes,
  type FriendApplicationStatus,
  type FriendApplicationType,
  type FriendRelationType,
  type Gender,
  type Platform,
  type SubscribeType,
  profileFields,
  visibilities,
  type ProfileField,
  type UserProfileVisibility,
} from './enums.ts';
import { ProfileClientError } from './errors.ts';
import type {
  ApplicationFieldsFragment,
  FriendAddedFieldsFragment,
  FriendApplicationChangeFieldsFragment,
  FriendDeletedFieldsFragment,
  FieldVisibilityFieldsFragment,
  FieldVisibilityInput,
  ProfileFieldsFragment,
  RelationChangeFieldsFragment,
  StatusFieldsFragment,
  CustomStatusFieldsFragment,
  UserProfileInput,
} from './generated/graphql.ts';

/** A profile as RongIMLib's IUserProfileInfo. Fields the viewer may not see (or that are unset) are left out. */
export interface IUserProfileInfo {
  userId: string;
  name?: string;
  portraitUri?: string;
  uniqueId?: string;
  email?: string;
  birthday?: string;
  gender?: Gender;
  location?: string;
  role?: number;
  level?: number;
  /** ext key → value */
  userExtProfile?: Record<string, string>;
  /** the same object as userExtProfile: RongCloud's Web samples call it extraProfile */
  extraProfile?: Record<string, string>;
  /** the server's profile version (bumped by every write); a cache validator */
  version: number;
  /** last write, Unix ms */
  updatedAt: number;
  /** true when some fields were hidden from this viewer (visibility) */
  restricted: boolean;
}

/**
 * One per-field visibility override (getMyFieldVisibility, updateMyFieldVisibility): exactly one of
 * `field` and `extKey`; `visibility` as UserProfileVisibility's numbers (NOT_SET removes the override).
 */
export interface IFieldVisibility {
  field?: ProfileField;
  extKey?: string;
  visibility: UserProfileVisibility;
}

export function toFieldVisibility(o: FieldVisibilityFieldsFragment): IFieldVisibility {
  const visibility = visibilities.toNumber(o.visibility);
  return o.field ? { field: profileFields.toNumber(o.field), visibility } : { extKey: o.extKey!, visibility };
}

/** Refuses what the server would refuse for its shape (the rest, e.g. unknown ext keys, is the server's to say). */
export function toFieldVisibilityInput(setting: IFieldVisibility): FieldVisibilityInput {
  if ((setting.field === undefined) === (setting.extKey === undefined)) throw new TypeError('each setting names exactly one of field and extKey');
  const visibility = visibilities.toName(setting.visibility);
  return setting.field !== undefined ? { field: profileFields.toName(setting.field), visibility } : { extKey: setting.extKey, visibility };
}

/** What updateMyUserProfile takes: omitted fields stay, null clears; ext entries merge, a null value removes the key. */
export interface IUserProfileInput {
  name?: string | null;
  portraitUri?: string | null;
  email?: string | null;
  birthday?: string | null;
  /** Gender's 0, 1 or 2 (a plain number is accepted, as in RongCloud's samples, and checked) */
  gender?: Gender | number | null;
  location?: string | null;
  role?: number | null;
  level?: number | null;
  userExtProfile?: Record<string, string | null>;
  /** alias of userExtProfile (RongCloud's Web samples use it); both may be given */
  extraProfile?: Record<string, string | null>;
  /** cannot be set by a user (only by the app's backend): refused with 24360, as RongCloud does */
  uniqueId?: never;
}

/** One item of SUBSCRIBED_USER_STATUS_CHANGE (RongCloud's SubscribeInfoEvent). */
export interface SubscribeInfoEvent {
  userId: string;
  subscribeType: SubscribeType;
  /** when the subscription was made, Unix ms; 0 for the FRIEND_* types (no subscription) */
  subscribeTime: number;
  /** subscription lifetime in seconds; 0 for the FRIEND_* types */
  expiry: number;
  /** when this status changed, Unix ms */
  updateTime: number;
  /** online status per platform (ONLINE_STATUS, FRIEND_ONLINE_STATUS); empty for the profile types */
  details: SubscribeUserDetail[];
  /** the profile as this user may see it (USER_PROFILE, FRIEND_USER_PROFILE) */
  userProfile?: IUserProfileInfo;
  /** the user's custom status (ONLINE_STATUS, FRIEND_ONLINE_STATUS), when set and I may see its presence */
  customStatus?: ICustomStatus;
}

/** A custom status: text 1–64 characters, emoji up to 16; `expiresAt` Unix ms, absent when it lasts until cleared. */
export interface ICustomStatus {
  text: string;
  emoji?: string;
  expiresAt?: number;
}

export function toCustomStatus(s: CustomStatusFieldsFragment): ICustomStatus {
  const status: ICustomStatus = { text: s.text };
  if (s.emoji != null) status.emoji = s.emoji;
  if (s.expiresAt != null) status.expiresAt = ms(s.expiresAt);
  return status;
}

export interface SubscribeUserDetail {
  /** 1 online, 0 offline */
  eventValue: 0 | 1;
  /** Unix ms */
  changeTime: number;
  platform: Platform;
}

/** One item of SUBSCRIBED_RELATION_CHANGE (RongCloud's SubscribeEvent): one per user id. */
export interface SubscribeEvent {
  userId: string;
  subscribeType: SubscribeType;
  /** 0 subscribe, 1 unsubscribe */
  operationType: SubscribeOperationType;
  /** when the (un)subscription was made, Unix ms */
  subscribeTime: number;
  /** seconds; 0 for an unsubscription */
  expiry: number;
}

/** FRIEND_ADDED (RongIMLib's IFriendAdd; RongCloud's onFriendAdd) */
export interface IFriendAdd {
  userId: string;
  /** the new friend's name and portrait when the friendship formed (left out when unset) */
  name?: string;
  portraitUri?: string;
  directionType: DirectionType;
  /** when the friendship formed, Unix ms */
  operationTime: number;
}
/** this SDK's earlier name of IFriendAdd */
export type IFriendAdded = IFriendAdd;

/** FRIEND_DELETE (RongIMLib's IFriendDelete) */
export interface IFriendDelete {
  userIds: string[];
  directionType: DirectionType;
  /** Unix ms */
  operationTime: number;
}
/** this SDK's earlier name of IFriendDelete */
export type IFriendDeleted = IFriendDelete;

/** RongIMLib's IFriendApplicationInfo, as getFriendApplications returns it */
export interface IFriendApplicationInfo {
  /** the other party */
  userId: string;
  /** 1 sent by me, 2 received */
  applicationType: FriendApplicationType;
  applicationStatus: FriendApplicationStatus;
  extra?: string;
  reason?: string;
  /** when the application was made, Unix ms */
  operationTime: number;
  /** Unix ms; applications expire after 7 days (this server's addition) */
  expiresAt: number;
}

/** FRIEND_APPLICATION_STATUS_CHANGED (RongIMLib's IFriendApplicationStatusChange) */
export interface IFriendApplicationStatusChange extends IFriendApplicationInfo {
  directionType: DirectionType;
  /** when the status changed (sent, accepted, refused), Unix ms */
  operationTime: number;
}

/** RongIMLib's IFriendInfo, as getFriends returns it */
export interface IFriendInfo {
  userId: string;
  name?: string;
  portraitUri?: string;
  remark?: string;
  /** friend ext fields are not hosted here: always {} */
  extProfile: Record<string, string>;
  /** Unix ms */
  addTime: number;
  /** friendships are mutual here: always DirectionType.BOTH */
  directionType: DirectionType;
  /** there are no blacklists here: always false */
  inBlackList: boolean;
  /** the friend's profile as I may see it (this server's addition) */
  userProfile: IUserProfileInfo;
}

/** One checkFriends result (RongIMLib's IFriendRelationInfo). */
export interface IFriendRelationInfo {
  userId: string;
  /** BOTH_WAY (3) for a friend, NONE (0) otherwise */
  relationType: FriendRelationType;
}

/** RongIMLib's name for a SUBSCRIBED_USER_STATUS_CHANGE item (SubscribeInfoEvent) */
export type ISubscribeUserStatusInfo = SubscribeInfoEvent;

/** What querySubscribeEvent and querySubscribeEventByPage take (RongCloud's SubscribeEventRequest). */
export interface ISubscribeEventRequest {
  subscribeType: SubscribeType;
  /** querySubscribeEvent: 1–200 ids I subscribe to; querySubscribeEventByPage ignores it */
  userIds?: string[];
  /** ignored by the queries (RongCloud's request carries it for subscribeEvent) */
  expiry?: number;
}

// --- conversions ------------------------------------------------------------------------------

export const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : 0);

export function toProfile(p: ProfileFieldsFragment): IUserProfileInfo {
  const out: IUserProfileInfo = { userId: p.userId, version: p.version, updatedAt: ms(p.updatedAt), restricted: p.restricted };
  for (const field of ['name', 'portraitUri', 'uniqueId', 'email', 'birthday', 'location', 'role', 'level'] as const) {
    const value = p[field];
    if (value !== null && value !== undefined) (out as unknown as Record<string, unknown>)[field] = value;
  }
  if (p.gender) out.gender = genders.toNumber(p.gender);
  if (p.userExtProfile) {
    const ext = Object.fromEntries(p.userExtProfile.map((e) => [e.key, e.value]));
    out.userExtProfile = ext;
    out.extraProfile = ext;
  }
  return out;
}

/** The GraphQL input of an IUserProfileInput; refuses what a user cannot set, before sending. */
export function toProfileInput(profile: IUserProfileInput): UserProfileInput {
  if (profile === null || typeof profile !== 'object') throw ProfileClientError.invalidParameter('profile must be an object');
  const source = profile as Record<string, unknown>;
  if ('uniqueId' in source && source.uniqueId !== undefined) {
    // RongCloud: "This field cannot be set via SDK"
    throw new ProfileClientError('uniqueId can only be set by the app backend', { code: 24360, errorKeys: ['uniqueId'] });
  }
  const input: UserProfileInput = {};
  for (const field of ['name', 'portraitUri', 'email', 'birthday', 'location', 'role', 'level'] as const) {
    if (source[field] !== undefined) (input as Record<string, unknown>)[field] = source[field];
  }
  // RongCloud: role and level are numbers (0–100); anything else is its 24367, whichever field it
  // is (the range, 24368, is the server's rule). The GraphQL schema's Int would refuse it too,
  // but only as a generic BAD_USER_INPUT.
  const notNumeric = (['role', 'level'] as const).filter((field) => {
    const value = source[field];
    return value !== undefined && value !== null && !(typeof value === 'number' && Number.isInteger(value));
  });
  if (notNumeric.length) {
    throw new ProfileClientError(`${notNumeric.join(' and ')} must be a whole number`, { code: 24367, errorKeys: notNumeric });
  }
  if (source.gender !== undefined) {
    try {
      input.gender = source.gender === null ? null : genders.toName(source.gender as Gender);
    } catch (error) {
      throw ProfileClientError.invalidParameter((error as Error).message, ['gender']);
    }
  }
  const ext = { ...(source.extraProfile as object | undefined), ...(source.userExtProfile as object | undefined) } as Record<string, unknown>;
  if (source.extraProfile !== undefined || source.userExtProfile !== undefined) {
    input.userExtProfile = Object.entries(ext).map(([key, value]) => ({ key, value: value as string | null }));
  }
  return input;
}

export function toSubscribeInfoEvent(s: StatusFieldsFragment): SubscribeInfoEvent {
  const event: SubscribeInfoEvent = {
    userId: s.userId,
    subscribeType: subscribeTypes.toNumber(s.subscribeType),
    subscribeTime: ms(s.subscribeTime),
    expiry: s.expiry ?? 0,
    updateTime: ms(s.changeTime),
    details: s.details.map((d) => ({ eventValue: d.online ? 1 : 0, changeTime: ms(d.changeTime), platform: platforms.toNumber(d.platform) })),
  };
  if (s.userProfile) event.userProfile = toProfile(s.userProfile);
  if (s.customStatus) event.customStatus = toCustomStatus(s.customStatus);
  return event;
}

export function toSubscribeEvents(r: RelationChangeFieldsFragment): SubscribeEvent[] {
  const unsubscribe = r.operationType === 'UNSUBSCRIBE';
  return r.userIds.map((userId) => ({
    userId,
    subscribeType: subscribeTypes.toNumber(r.subscribeType),
    operationType: unsubscribe ? SubscribeOperationType.UNSUBSCRIBE : SubscribeOperationType.SUBSCRIBE,
    subscribeTime: ms(r.operationTime),
    expiry: unsubscribe ? 0 : (r.expiry ?? 0),
  }));
}

export function toApplicationInfo(a: ApplicationFieldsFragment): IFriendApplicationInfo {
  const info: IFriendApplicationInfo = {
    userId: a.userId,
    applicationType: applicationTypes.toNumber(a.direction),
    applicationStatus: applicationStatuses.toNumber(a.status),
    operationTime: ms(a.createdAt),
    expiresAt: ms(a.expiresAt),
  };
  if (a.extra !== null) info.extra = a.extra;
  if (a.reason !== null) info.reason = a.reason;
  return info;
}

export type FriendEvent =
  | { kind: 'added'; event: IFriendAdd }
  | { kind: 'deleted'; event: IFriendDelete }
  | { kind: 'application'; event: IFriendApplicationStatusChange };

/** a friend event as userEvents (and friendEvents) deliver it */
export type FriendEventFields =
  | ({ __typename: 'FriendAdded' } & FriendAddedFieldsFragment)
  | ({ __typename: 'FriendDeleted' } & FriendDeletedFieldsFragment)
  | ({ __typename: 'FriendApplicationStatusChanged' } & FriendApplicationChangeFieldsFragment);

/** `occurredAt`: when the event happened (the envelope's), the operationTime of a status change */
export function toFriendEvent(e: FriendEventFields, occurredAt?: string): FriendEvent | undefined {
  switch (e.__typename) {
    case 'FriendAdded': {
      const event: IFriendAdd = { userId: e.userId, directionType: DirectionType.BOTH, operationTime: ms(e.addedAt) };
      if (e.name != null) event.name = e.name;
      if (e.portraitUri != null) event.portraitUri = e.portraitUri;
      return { kind: 'added', event };
    }
    case 'FriendDeleted':
      return { kind: 'deleted', event: { userIds: e.userIds, directionType: DirectionType.BOTH, operationTime: ms(e.deletedAt) } };
    case 'FriendApplicationStatusChanged': {
      const info = toApplicationInfo(e.application);
      return { kind: 'application', event: { ...info, directionType: DirectionType.BOTH, operationTime: occurredAt ? ms(occurredAt) : info.operationTime } };
    }
  }
  return undefined;
}
