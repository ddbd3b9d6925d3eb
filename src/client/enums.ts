/**
 * RongCloud's numbers for the values the GraphQL API names (RongIMLib / RCUserProfile.h,
 * RCSubscribe*.h, friend hosting), and their conversions. The GraphQL enum names are the
 * server's; the SDK speaks RongCloud's numbers only.
 */
import type {
  FriendAddPermission as GqlFriendAddPermission,
  FriendApplicationDirection as GqlFriendApplicationDirection,
  FriendApplicationStatus as GqlFriendApplicationStatus,
  Gender as GqlGender,
  Platform as GqlPlatform,
  ProfileField as GqlProfileField,
  PresenceVisibility as GqlPresenceVisibility,
  SubscribeType as GqlSubscribeType,
  UserProfileVisibility as GqlUserProfileVisibility,
} from './generated/graphql.ts';

/** RCUserGender */
export const Gender = { UNKNOWN: 0, MALE: 1, FEMALE: 2 } as const;
export type Gender = (typeof Gender)[keyof typeof Gender];

/** RongCloud's platform numbers, one `details[]` item each in status events */
export const Platform = { OTHER: 0, IOS: 1, ANDROID: 2, WEB: 3, PC: 4, MINI_PROGRAM: 5, HARMONY_OS: 6 } as const;
export type Platform = (typeof Platform)[keyof typeof Platform];

export const SubscribeType = { ONLINE_STATUS: 1, USER_PROFILE: 2, FRIEND_ONLINE_STATUS: 3, FRIEND_USER_PROFILE: 4 } as const;
export type SubscribeType = (typeof SubscribeType)[keyof typeof SubscribeType];

/** SubscribeEvent.operationType */
export const SubscribeOperationType = { SUBSCRIBE: 0, UNSUBSCRIBE: 1 } as const;
export type SubscribeOperationType = (typeof SubscribeOperationType)[keyof typeof SubscribeOperationType];

/** `FRIEND_VISIBLE` is RongCloud's name for the server's FRIENDS_ONLY */
export const UserProfileVisibility = { NOT_SET: 0, INVISIBLE: 1, EVERYONE: 2, FRIEND_VISIBLE: 3 } as const;
export type UserProfileVisibility = (typeof UserProfileVisibility)[keyof typeof UserProfileVisibility];

/**
 * The profile fields whose visibility can be set one by one (updateMyFieldVisibility): each is the
 * name of its IUserProfileInfo property. userId, name and portraitUri are always visible.
 */
export const ProfileField = { UNIQUE_ID: 'uniqueId', EMAIL: 'email', BIRTHDAY: 'birthday', GENDER: 'gender', LOCATION: 'location', ROLE: 'role', LEVEL: 'level' } as const;
export type ProfileField = (typeof ProfileField)[keyof typeof ProfileField];
/** who may see that I am online and my custom status (no RongCloud counterpart; numbered as UserProfileVisibility) */
export const PresenceVisibility = { NOT_SET: 0, INVISIBLE: 1, EVERYONE: 2, FRIENDS_ONLY: 3 } as const;
export type PresenceVisibility = (typeof PresenceVisibility)[keyof typeof PresenceVisibility];

export const FriendAddPermission = { NOT_SET: 0, FREE: 1, NEED_VERIFY: 2, NO_ONE_ALLOWED: 3 } as const;
export type FriendAddPermission = (typeof FriendAddPermission)[keyof typeof FriendAddPermission];

/** Friendships here are always mutual: only BOTH is accepted. */
export const DirectionType = { ONE_WAY: 1, BOTH: 2 } as const;
export type DirectionType = (typeof DirectionType)[keyof typeof DirectionType];

/**
 * getFriends' direction (RongIMLib's QueryFriendsDirectionType): only BOTH, as friendships are
 * mutual here. Its number is this SDK's (DirectionType.BOTH's); RongCloud's is not documented.
 */
export const QueryFriendsDirectionType = { BOTH: 2 } as const;
export type QueryFriendsDirectionType = (typeof QueryFriendsDirectionType)[keyof typeof QueryFriendsDirectionType];

export const FriendApplicationType = { SENT: 1, RECEIVED: 2 } as const;
export type FriendApplicationType = (typeof FriendApplicationType)[keyof typeof FriendApplicationType];

export const FriendApplicationStatus = { UNHANDLED: 0, ACCEPTED: 1, REFUSED: 2, EXPIRED: 3 } as const;
export type FriendApplicationStatus = (typeof FriendApplicationStatus)[keyof typeof FriendApplicationStatus];

/** checkFriends results */
export const FriendRelationType = { NONE: 0, IN_MY_FRIEND_LIST: 1, IN_OTHER_FRIEND_LIST: 2, BOTH_WAY: 3 } as const;
export type FriendRelationType = (typeof FriendRelationType)[keyof typeof FriendRelationType];

// --- conversions ------------------------------------------------------------------------------

function converter<G extends string, N extends number | string>(table: Record<G, N>, what: string) {
  const byNumber = new Map<N, G>(Object.entries(table).map(([name, n]) => [n as N, name as G]));
  return {
    toNumber(name: G): N {
      const n = table[name];
      if (n === undefined) throw new TypeError(`unknown ${what} "${name}"`);
      return n;
    },
    /** a RongCloud number, or (for convenience) the GraphQL name itself */
    toName(value: N | G): G {
      if (typeof value === 'string' && Object.hasOwn(table, value)) return value as G;
      const name = byNumber.get(value as N);
      if (name === undefined) throw new TypeError(`unknown ${what} ${JSON.stringify(value)}`);
      return name;
    },
  };
}

export const genders = converter<GqlGender, Gender>({ UNKNOWN: 0, MALE: 1, FEMALE: 2 }, 'gender');
export const platforms = converter<GqlPlatform, Platform>(Platform, 'platform');
export const subscribeTypes = converter<GqlSubscribeType, SubscribeType>(SubscribeType, 'subscribe type');
export const visibilities = converter<GqlUserProfileVisibility, UserProfileVisibility>(
  { NOT_SET: 0, INVISIBLE: 1, EVERYONE: 2, FRIENDS_ONLY: 3 },
  'profile visibility',
);
/** ProfileField's property names and the GraphQL enum names */
export const profileFields = converter<GqlProfileField, ProfileField>(ProfileField, 'profile field');
export const presenceVisibilities = converter<GqlPresenceVisibility, PresenceVisibility>(PresenceVisibility, 'presence visibility');
export const friendAddPermissions = converter<GqlFriendAddPermission, FriendAddPermission>(FriendAddPermission, 'friend add permission');
export const applicationTypes = converter<GqlFriendApplicationDirection, FriendApplicationType>(FriendApplicationType, 'friend application type');
export const applicationStatuses = converter<GqlFriendApplicationStatus, FriendApplicationStatus>(FriendApplicationStatus, 'friend application status');
