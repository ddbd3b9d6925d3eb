/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type AddFriendOutcome =
  | 'ADDED'
  | 'APPLICATION_SENT';

export type FieldVisibilityInput = {
  extKey?: string | null | undefined;
  field?: ProfileField | null | undefined;
  /** NOT_SET removes the override: the field follows the profile's visibility again */
  visibility: UserProfileVisibility;
};

export type FriendAddPermission =
  | 'FREE'
  | 'NEED_VERIFY'
  /** user level only: follow the app's default */
  | 'NOT_SET'
  | 'NO_ONE_ALLOWED';

export type FriendApplicationDirection =
  | 'RECEIVED'
  | 'SENT';

export type FriendApplicationStatus =
  | 'ACCEPTED'
  | 'EXPIRED'
  | 'REFUSED'
  | 'UNHANDLED';

export type Gender =
  /** RC 2 */
  | 'FEMALE'
  /** RC 1 */
  | 'MALE'
  /** RC 0 */
  | 'UNKNOWN';

export type Platform =
  /** RC 2 */
  | 'ANDROID'
  /** RC 6 */
  | 'HARMONY_OS'
  /** RC 1 */
  | 'IOS'
  /** RC 5 */
  | 'MINI_PROGRAM'
  /** RC 0 */
  | 'OTHER'
  /** RC 4 */
  | 'PC'
  /** RC 3 */
  | 'WEB';

/** Who may see that I am online (and my custom status). */
export type PresenceVisibility =
  | 'EVERYONE'
  | 'FRIENDS_ONLY'
  /** nobody but my own devices: I appear offline */
  | 'INVISIBLE'
  /** user level only: follow the app's default */
  | 'NOT_SET';

export type ProfileEntryInput = {
  key: string;
  /** null removes the key */
  value?: string | null | undefined;
};

/** Profile fields whose visibility a user can set one by one (userId, name and portraitUri are always visible). */
export type ProfileField =
  | 'BIRTHDAY'
  | 'EMAIL'
  | 'GENDER'
  | 'LEVEL'
  | 'LOCATION'
  | 'ROLE'
  | 'UNIQUE_ID';

export type SubscribeOperation =
  | 'SUBSCRIBE'
  | 'UNSUBSCRIBE';

export type SubscribeType =
  /** RC 3, automatic for friends */
  | 'FRIEND_ONLINE_STATUS'
  /** RC 4, automatic for friends */
  | 'FRIEND_USER_PROFILE'
  /** RC 1, needs subscribeUserStatus */
  | 'ONLINE_STATUS'
  /** RC 2, needs subscribeUserStatus */
  | 'USER_PROFILE';

/**
 * Fields left out are unchanged; a field given as null is cleared.
 * userExtProfile entries are merged by key; an entry whose value is null removes that key.
 */
export type UserProfileInput = {
  birthday?: string | null | undefined;
  email?: string | null | undefined;
  gender?: Gender | null | undefined;
  level?: number | null | undefined;
  location?: string | null | undefined;
  name?: string | null | undefined;
  portraitUri?: string | null | undefined;
  role?: number | null | undefined;
  userExtProfile?: Array<ProfileEntryInput> | null | undefined;
};

export type UserProfileVisibility =
  | 'EVERYONE'
  | 'FRIENDS_ONLY'
  | 'INVISIBLE'
  /** user level only: follow the app's default */
  | 'NOT_SET';

export type RelationChangeFieldsFragment = { operationType: SubscribeOperation, subscribeType: SubscribeType, userIds: Array<string>, expiry: number | null, operationTime: string };

export type FriendAddedFieldsFragment = { userId: string, addedAt: string, name: string | null, portraitUri: string | null };

export type FriendDeletedFieldsFragment = { userIds: Array<string>, deletedAt: string };

export type FriendApplicationChangeFieldsFragment = { application: { userId: string, direction: FriendApplicationDirection, status: FriendApplicationStatus, extra: string | null, reason: string | null, createdAt: string, expiresAt: string } };

export type OnUserEventsSubscriptionVariables = Exact<{
  after?: string | null | undefined;
}>;


export type OnUserEventsSubscription = { userEvents: { cursor: string, occurredAt: string, event:
      | { __typename: 'FriendAdded', userId: string, addedAt: string, name: string | null, portraitUri: string | null }
      | { __typename: 'FriendApplicationStatusChanged', application: { userId: string, direction: FriendApplicationDirection, status: FriendApplicationStatus, extra: string | null, reason: string | null, createdAt: string, expiresAt: string } }
      | { __typename: 'FriendDeleted', userIds: Array<string>, deletedAt: string }
      | { __typename: 'OwnUserProfileChange', profile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } }
      | { __typename: 'SubscriptionRelationChange', operationType: SubscribeOperation, subscribeType: SubscribeType, userIds: Array<string>, expiry: number | null, operationTime: string }
      | { __typename: 'SubscriptionsExpiring', subscribeType: SubscribeType, userIds: Array<string>, expiresAt: string }
      | { __typename: 'UserEventsCaughtUp', resumed: boolean }
      | { __typename: 'UserStatusChange', userId: string, subscribeType: SubscribeType, subscribeTime: string | null, expiry: number | null, changeTime: string, details: Array<{ platform: Platform, online: boolean, changeTime: string }>, userProfile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } | null, customStatus: { text: string, emoji: string | null, expiresAt: string | null } | null }
     } };

export type OnSubscribedUserStatusChangeSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type OnSubscribedUserStatusChangeSubscription = { subscribedUserStatusChange:
    | { __typename: 'SubscribedUserStatusSyncFinished', subscribeType: SubscribeType }
    | { __typename: 'UserStatusChange', userId: string, subscribeType: SubscribeType, subscribeTime: string | null, expiry: number | null, changeTime: string, details: Array<{ platform: Platform, online: boolean, changeTime: string }>, userProfile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } | null, customStatus: { text: string, emoji: string | null, expiresAt: string | null } | null }
   };

export type OnSubscribedRelationChangeSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type OnSubscribedRelationChangeSubscription = { subscribedRelationChange: { operationType: SubscribeOperation, subscribeType: SubscribeType, userIds: Array<string>, expiry: number | null, operationTime: string } };

export type OnOwnUserProfileChangedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type OnOwnUserProfileChangedSubscription = { ownUserProfileChanged: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } };

export type OnFriendEventsSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type OnFriendEventsSubscription = { friendEvents:
    | { __typename: 'FriendAdded', userId: string, addedAt: string, name: string | null, portraitUri: string | null }
    | { __typename: 'FriendApplicationStatusChanged', application: { userId: string, direction: FriendApplicationDirection, status: FriendApplicationStatus, extra: string | null, reason: string | null, createdAt: string, expiresAt: string } }
    | { __typename: 'FriendDeleted', userIds: Array<string>, deletedAt: string }
   };

export type ApplicationFieldsFragment = { userId: string, direction: FriendApplicationDirection, status: FriendApplicationStatus, extra: string | null, reason: string | null, createdAt: string, expiresAt: string };

export type AddFriendMutationVariables = Exact<{
  userId: string;
  extra?: string | null | undefined;
}>;


export type AddFriendMutation = { addFriend: { outcome: AddFriendOutcome } };

export type AcceptFriendApplicationMutationVariables = Exact<{
  userId: string;
}>;


export type AcceptFriendApplicationMutation = { acceptFriendApplication: boolean };

export type RefuseFriendApplicationMutationVariables = Exact<{
  userId: string;
  reason?: string | null | undefined;
}>;


export type RefuseFriendApplicationMutation = { refuseFriendApplication: boolean };

export type DeleteFriendsMutationVariables = Exact<{
  userIds: Array<string> | string;
}>;


export type DeleteFriendsMutation = { deleteFriends: boolean };

export type FriendsQueryVariables = Exact<{
  count?: number | null | undefined;
  pageToken?: string | null | undefined;
  newestFirst?: boolean | null | undefined;
}>;


export type FriendsQuery = { friends: { nextPageToken: string | null, items: Array<{ userId: string, remark: string | null, addedAt: string, profile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } }> } };

export type FriendApplicationsQueryVariables = Exact<{
  count?: number | null | undefined;
  pageToken?: string | null | undefined;
  direction?: FriendApplicationDirection | null | undefined;
  status?: FriendApplicationStatus | null | undefined;
}>;


export type FriendApplicationsQuery = { friendApplications: { nextPageToken: string | null, items: Array<{ userId: string, direction: FriendApplicationDirection, status: FriendApplicationStatus, extra: string | null, reason: string | null, createdAt: string, expiresAt: string }> } };

export type CheckFriendsQueryVariables = Exact<{
  userIds: Array<string> | string;
}>;


export type CheckFriendsQuery = { checkFriends: Array<{ userId: string, isFriend: boolean }> };

export type MyFriendAddPermissionQueryVariables = Exact<{ [key: string]: never; }>;


export type MyFriendAddPermissionQuery = { myFriendAddPermission: FriendAddPermission };

export type UpdateMyFriendAddPermissionMutationVariables = Exact<{
  permission: FriendAddPermission;
}>;


export type UpdateMyFriendAddPermissionMutation = { updateMyFriendAddPermission: FriendAddPermission };

export type SetFriendRemarkMutationVariables = Exact<{
  userId: string;
  remark?: string | null | undefined;
}>;


export type SetFriendRemarkMutation = { setFriendRemark: boolean };

export type CustomStatusFieldsFragment = { text: string, emoji: string | null, expiresAt: string | null };

export type MyPresenceVisibilityQueryVariables = Exact<{ [key: string]: never; }>;


export type MyPresenceVisibilityQuery = { myPresenceVisibility: PresenceVisibility };

export type UpdateMyPresenceVisibilityMutationVariables = Exact<{
  visibility: PresenceVisibility;
}>;


export type UpdateMyPresenceVisibilityMutation = { updateMyPresenceVisibility: PresenceVisibility };

export type MyCustomStatusQueryVariables = Exact<{ [key: string]: never; }>;


export type MyCustomStatusQuery = { myCustomStatus: { text: string, emoji: string | null, expiresAt: string | null } | null };

export type UpdateMyCustomStatusMutationVariables = Exact<{
  text: string;
  emoji?: string | null | undefined;
  expiresInSeconds?: number | null | undefined;
}>;


export type UpdateMyCustomStatusMutation = { updateMyCustomStatus: { text: string, emoji: string | null, expiresAt: string | null } };

export type ClearMyCustomStatusMutationVariables = Exact<{ [key: string]: never; }>;


export type ClearMyCustomStatusMutation = { clearMyCustomStatus: boolean };

export type ProfileFieldsFragment = { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null };

export type MyUserProfileQueryVariables = Exact<{ [key: string]: never; }>;


export type MyUserProfileQuery = { myUserProfile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } };

export type UserProfilesQueryVariables = Exact<{
  userIds: Array<string> | string;
}>;


export type UserProfilesQuery = { userProfiles: Array<{ userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null }> };

export type UpdateMyUserProfileMutationVariables = Exact<{
  profile: UserProfileInput;
  expectedVersion?: number | null | undefined;
}>;


export type UpdateMyUserProfileMutation = { updateMyUserProfile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } };

export type MyUserProfileVisibilityQueryVariables = Exact<{ [key: string]: never; }>;


export type MyUserProfileVisibilityQuery = { myUserProfileVisibility: UserProfileVisibility };

export type UpdateMyUserProfileVisibilityMutationVariables = Exact<{
  visibility: UserProfileVisibility;
}>;


export type UpdateMyUserProfileVisibilityMutation = { updateMyUserProfileVisibility: UserProfileVisibility };

export type SearchUserProfileByUniqueIdQueryVariables = Exact<{
  uniqueId: string;
}>;


export type SearchUserProfileByUniqueIdQuery = { searchUserProfileByUniqueId: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } | null };

export type FieldVisibilityFieldsFragment = { field: ProfileField | null, extKey: string | null, visibility: UserProfileVisibility };

export type MyFieldVisibilityQueryVariables = Exact<{ [key: string]: never; }>;


export type MyFieldVisibilityQuery = { myFieldVisibility: Array<{ field: ProfileField | null, extKey: string | null, visibility: UserProfileVisibility }> };

export type UpdateMyFieldVisibilityMutationVariables = Exact<{
  settings: Array<FieldVisibilityInput> | FieldVisibilityInput;
}>;


export type UpdateMyFieldVisibilityMutation = { updateMyFieldVisibility: Array<{ field: ProfileField | null, extKey: string | null, visibility: UserProfileVisibility }> };

export type StatusFieldsFragment = { userId: string, subscribeType: SubscribeType, subscribeTime: string | null, expiry: number | null, changeTime: string, details: Array<{ platform: Platform, online: boolean, changeTime: string }>, userProfile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } | null, customStatus: { text: string, emoji: string | null, expiresAt: string | null } | null };

export type SubscribeUserStatusMutationVariables = Exact<{
  userIds: Array<string> | string;
  type: SubscribeType;
  expiry: number;
}>;


export type SubscribeUserStatusMutation = { subscribeUserStatus: { failedUserIds: Array<string> } };

export type UnsubscribeUserStatusMutationVariables = Exact<{
  userIds: Array<string> | string;
  type: SubscribeType;
}>;


export type UnsubscribeUserStatusMutation = { unsubscribeUserStatus: boolean };

export type SubscribedUserStatusQueryVariables = Exact<{
  type: SubscribeType;
  userIds: Array<string> | string;
}>;


export type SubscribedUserStatusQuery = { subscribedUserStatus: Array<{ userId: string, subscribeType: SubscribeType, subscribeTime: string | null, expiry: number | null, changeTime: string, details: Array<{ platform: Platform, online: boolean, changeTime: string }>, userProfile: { userId: string, name: string | null, portraitUri: string | null, uniqueId: string | null, email: string | null, birthday: string | null, gender: Gender | null, location: string | null, role: number | null, level: number | null, version: number, updatedAt: string, restricted: boolean, userExtProfile: Array<{ key: string, value: string }> | null } | null, customStatus: { text: string, emoji: string | null, expiresAt: string | null } | null }> };

export type SubscribedUsersQueryVariables = Exact<{
  type: SubscribeType;
  pageSize?: number | null | undefined;
  startIndex?: number | null | undefined;
}>;


export type SubscribedUsersQuery = { subscribedUsers: { totalCount: number, items: Array<{ userId: string, subscribeType: SubscribeType, subscribeTime: string, expiry: number, expiresAt: string }> } };

export type SubscriptionExpiriesQueryVariables = Exact<{
  type: SubscribeType;
  userIds: Array<string> | string;
}>;


export type SubscriptionExpiriesQuery = { subscribedUserStatus: Array<{ userId: string, subscribeTime: string | null, expiry: number | null }> };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const RelationChangeFieldsFragmentDoc = new TypedDocumentString(`
    fragment RelationChangeFields on SubscriptionRelationChange {
  operationType
  subscribeType
  userIds
  expiry
  operationTime
}
    `, {"fragmentName":"RelationChangeFields"}) as unknown as TypedDocumentString<RelationChangeFieldsFragment, unknown>;
export const FriendAddedFieldsFragmentDoc = new TypedDocumentString(`
    fragment FriendAddedFields on FriendAdded {
  userId
  addedAt
  name
  portraitUri
}
    `, {"fragmentName":"FriendAddedFields"}) as unknown as TypedDocumentString<FriendAddedFieldsFragment, unknown>;
export const FriendDeletedFieldsFragmentDoc = new TypedDocumentString(`
    fragment FriendDeletedFields on FriendDeleted {
  userIds
  deletedAt
}
    `, {"fragmentName":"FriendDeletedFields"}) as unknown as TypedDocumentString<FriendDeletedFieldsFragment, unknown>;
export const ApplicationFieldsFragmentDoc = new TypedDocumentString(`
    fragment ApplicationFields on FriendApplication {
  userId
  direction
  status
  extra
  reason
  createdAt
  expiresAt
}
    `, {"fragmentName":"ApplicationFields"}) as unknown as TypedDocumentString<ApplicationFieldsFragment, unknown>;
export const FriendApplicationChangeFieldsFragmentDoc = new TypedDocumentString(`
    fragment FriendApplicationChangeFields on FriendApplicationStatusChanged {
  application {
    ...ApplicationFields
  }
}
    fragment ApplicationFields on FriendApplication {
  userId
  direction
  status
  extra
  reason
  createdAt
  expiresAt
}`, {"fragmentName":"FriendApplicationChangeFields"}) as unknown as TypedDocumentString<FriendApplicationChangeFieldsFragment, unknown>;
export const FieldVisibilityFieldsFragmentDoc = new TypedDocumentString(`
    fragment FieldVisibilityFields on FieldVisibility {
  field
  extKey
  visibility
}
    `, {"fragmentName":"FieldVisibilityFields"}) as unknown as TypedDocumentString<FieldVisibilityFieldsFragment, unknown>;
export const ProfileFieldsFragmentDoc = new TypedDocumentString(`
    fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}
    `, {"fragmentName":"ProfileFields"}) as unknown as TypedDocumentString<ProfileFieldsFragment, unknown>;
export const CustomStatusFieldsFragmentDoc = new TypedDocumentString(`
    fragment CustomStatusFields on CustomStatus {
  text
  emoji
  expiresAt
}
    `, {"fragmentName":"CustomStatusFields"}) as unknown as TypedDocumentString<CustomStatusFieldsFragment, unknown>;
export const StatusFieldsFragmentDoc = new TypedDocumentString(`
    fragment StatusFields on UserStatusChange {
  userId
  subscribeType
  subscribeTime
  expiry
  changeTime
  details {
    platform
    online
    changeTime
  }
  userProfile {
    ...ProfileFields
  }
  customStatus {
    ...CustomStatusFields
  }
}
    fragment CustomStatusFields on CustomStatus {
  text
  emoji
  expiresAt
}
fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}`, {"fragmentName":"StatusFields"}) as unknown as TypedDocumentString<StatusFieldsFragment, unknown>;
export const OnUserEventsDocument = new TypedDocumentString(`
    subscription OnUserEvents($after: String) {
  userEvents(after: $after) {
    cursor
    occurredAt
    event {
      __typename
      ... on UserStatusChange {
        ...StatusFields
      }
      ... on SubscriptionRelationChange {
        ...RelationChangeFields
      }
      ... on SubscriptionsExpiring {
        subscribeType
        userIds
        expiresAt
      }
      ... on OwnUserProfileChange {
        profile {
          ...ProfileFields
        }
      }
      ... on FriendAdded {
        ...FriendAddedFields
      }
      ... on FriendDeleted {
        ...FriendDeletedFields
      }
      ... on FriendApplicationStatusChanged {
        ...FriendApplicationChangeFields
      }
      ... on UserEventsCaughtUp {
        resumed
      }
    }
  }
}
    fragment RelationChangeFields on SubscriptionRelationChange {
  operationType
  subscribeType
  userIds
  expiry
  operationTime
}
fragment FriendAddedFields on FriendAdded {
  userId
  addedAt
  name
  portraitUri
}
fragment FriendDeletedFields on FriendDeleted {
  userIds
  deletedAt
}
fragment FriendApplicationChangeFields on FriendApplicationStatusChanged {
  application {
    ...ApplicationFields
  }
}
fragment ApplicationFields on FriendApplication {
  userId
  direction
  status
  extra
  reason
  createdAt
  expiresAt
}
fragment CustomStatusFields on CustomStatus {
  text
  emoji
  expiresAt
}
fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}
fragment StatusFields on UserStatusChange {
  userId
  subscribeType
  subscribeTime
  expiry
  changeTime
  details {
    platform
    online
    changeTime
  }
  userProfile {
    ...ProfileFields
  }
  customStatus {
    ...CustomStatusFields
  }
}`) as unknown as TypedDocumentString<OnUserEventsSubscription, OnUserEventsSubscriptionVariables>;
export const OnSubscribedUserStatusChangeDocument = new TypedDocumentString(`
    subscription OnSubscribedUserStatusChange {
  subscribedUserStatusChange {
    __typename
    ... on UserStatusChange {
      ...StatusFields
    }
    ... on SubscribedUserStatusSyncFinished {
      subscribeType
    }
  }
}
    fragment CustomStatusFields on CustomStatus {
  text
  emoji
  expiresAt
}
fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}
fragment StatusFields on UserStatusChange {
  userId
  subscribeType
  subscribeTime
  expiry
  changeTime
  details {
    platform
    online
    changeTime
  }
  userProfile {
    ...ProfileFields
  }
  customStatus {
    ...CustomStatusFields
  }
}`) as unknown as TypedDocumentString<OnSubscribedUserStatusChangeSubscription, OnSubscribedUserStatusChangeSubscriptionVariables>;
export const OnSubscribedRelationChangeDocument = new TypedDocumentString(`
    subscription OnSubscribedRelationChange {
  subscribedRelationChange {
    ...RelationChangeFields
  }
}
    fragment RelationChangeFields on SubscriptionRelationChange {
  operationType
  subscribeType
  userIds
  expiry
  operationTime
}`) as unknown as TypedDocumentString<OnSubscribedRelationChangeSubscription, OnSubscribedRelationChangeSubscriptionVariables>;
export const OnOwnUserProfileChangedDocument = new TypedDocumentString(`
    subscription OnOwnUserProfileChanged {
  ownUserProfileChanged {
    ...ProfileFields
  }
}
    fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}`) as unknown as TypedDocumentString<OnOwnUserProfileChangedSubscription, OnOwnUserProfileChangedSubscriptionVariables>;
export const OnFriendEventsDocument = new TypedDocumentString(`
    subscription OnFriendEvents {
  friendEvents {
    __typename
    ... on FriendAdded {
      ...FriendAddedFields
    }
    ... on FriendDeleted {
      ...FriendDeletedFields
    }
    ... on FriendApplicationStatusChanged {
      ...FriendApplicationChangeFields
    }
  }
}
    fragment FriendAddedFields on FriendAdded {
  userId
  addedAt
  name
  portraitUri
}
fragment FriendDeletedFields on FriendDeleted {
  userIds
  deletedAt
}
fragment FriendApplicationChangeFields on FriendApplicationStatusChanged {
  application {
    ...ApplicationFields
  }
}
fragment ApplicationFields on FriendApplication {
  userId
  direction
  status
  extra
  reason
  createdAt
  expiresAt
}`) as unknown as TypedDocumentString<OnFriendEventsSubscription, OnFriendEventsSubscriptionVariables>;
export const AddFriendDocument = new TypedDocumentString(`
    mutation AddFriend($userId: ID!, $extra: String) {
  addFriend(userId: $userId, extra: $extra) {
    outcome
  }
}
    `) as unknown as TypedDocumentString<AddFriendMutation, AddFriendMutationVariables>;
export const AcceptFriendApplicationDocument = new TypedDocumentString(`
    mutation AcceptFriendApplication($userId: ID!) {
  acceptFriendApplication(userId: $userId)
}
    `) as unknown as TypedDocumentString<AcceptFriendApplicationMutation, AcceptFriendApplicationMutationVariables>;
export const RefuseFriendApplicationDocument = new TypedDocumentString(`
    mutation RefuseFriendApplication($userId: ID!, $reason: String) {
  refuseFriendApplication(userId: $userId, reason: $reason)
}
    `) as unknown as TypedDocumentString<RefuseFriendApplicationMutation, RefuseFriendApplicationMutationVariables>;
export const DeleteFriendsDocument = new TypedDocumentString(`
    mutation DeleteFriends($userIds: [ID!]!) {
  deleteFriends(userIds: $userIds)
}
    `) as unknown as TypedDocumentString<DeleteFriendsMutation, DeleteFriendsMutationVariables>;
export const FriendsDocument = new TypedDocumentString(`
    query Friends($count: Int, $pageToken: String, $newestFirst: Boolean) {
  friends(count: $count, pageToken: $pageToken, newestFirst: $newestFirst) {
    items {
      userId
      remark
      addedAt
      profile {
        ...ProfileFields
      }
    }
    nextPageToken
  }
}
    fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}`) as unknown as TypedDocumentString<FriendsQuery, FriendsQueryVariables>;
export const FriendApplicationsDocument = new TypedDocumentString(`
    query FriendApplications($count: Int, $pageToken: String, $direction: FriendApplicationDirection, $status: FriendApplicationStatus) {
  friendApplications(
    count: $count
    pageToken: $pageToken
    direction: $direction
    status: $status
  ) {
    items {
      ...ApplicationFields
    }
    nextPageToken
  }
}
    fragment ApplicationFields on FriendApplication {
  userId
  direction
  status
  extra
  reason
  createdAt
  expiresAt
}`) as unknown as TypedDocumentString<FriendApplicationsQuery, FriendApplicationsQueryVariables>;
export const CheckFriendsDocument = new TypedDocumentString(`
    query CheckFriends($userIds: [ID!]!) {
  checkFriends(userIds: $userIds) {
    userId
    isFriend
  }
}
    `) as unknown as TypedDocumentString<CheckFriendsQuery, CheckFriendsQueryVariables>;
export const MyFriendAddPermissionDocument = new TypedDocumentString(`
    query MyFriendAddPermission {
  myFriendAddPermission
}
    `) as unknown as TypedDocumentString<MyFriendAddPermissionQuery, MyFriendAddPermissionQueryVariables>;
export const UpdateMyFriendAddPermissionDocument = new TypedDocumentString(`
    mutation UpdateMyFriendAddPermission($permission: FriendAddPermission!) {
  updateMyFriendAddPermission(permission: $permission)
}
    `) as unknown as TypedDocumentString<UpdateMyFriendAddPermissionMutation, UpdateMyFriendAddPermissionMutationVariables>;
export const SetFriendRemarkDocument = new TypedDocumentString(`
    mutation SetFriendRemark($userId: ID!, $remark: String) {
  setFriendRemark(userId: $userId, remark: $remark)
}
    `) as unknown as TypedDocumentString<SetFriendRemarkMutation, SetFriendRemarkMutationVariables>;
export const MyPresenceVisibilityDocument = new TypedDocumentString(`
    query MyPresenceVisibility {
  myPresenceVisibility
}
    `) as unknown as TypedDocumentString<MyPresenceVisibilityQuery, MyPresenceVisibilityQueryVariables>;
export const UpdateMyPresenceVisibilityDocument = new TypedDocumentString(`
    mutation UpdateMyPresenceVisibility($visibility: PresenceVisibility!) {
  updateMyPresenceVisibility(visibility: $visibility)
}
    `) as unknown as TypedDocumentString<UpdateMyPresenceVisibilityMutation, UpdateMyPresenceVisibilityMutationVariables>;
export const MyCustomStatusDocument = new TypedDocumentString(`
    query MyCustomStatus {
  myCustomStatus {
    ...CustomStatusFields
  }
}
    fragment CustomStatusFields on CustomStatus {
  text
  emoji
  expiresAt
}`) as unknown as TypedDocumentString<MyCustomStatusQuery, MyCustomStatusQueryVariables>;
export const UpdateMyCustomStatusDocument = new TypedDocumentString(`
    mutation UpdateMyCustomStatus($text: String!, $emoji: String, $expiresInSeconds: Int) {
  updateMyCustomStatus(
    text: $text
    emoji: $emoji
    expiresInSeconds: $expiresInSeconds
  ) {
    ...CustomStatusFields
  }
}
    fragment CustomStatusFields on CustomStatus {
  text
  emoji
  expiresAt
}`) as unknown as TypedDocumentString<UpdateMyCustomStatusMutation, UpdateMyCustomStatusMutationVariables>;
export const ClearMyCustomStatusDocument = new TypedDocumentString(`
    mutation ClearMyCustomStatus {
  clearMyCustomStatus
}
    `) as unknown as TypedDocumentString<ClearMyCustomStatusMutation, ClearMyCustomStatusMutationVariables>;
export const MyUserProfileDocument = new TypedDocumentString(`
    query MyUserProfile {
  myUserProfile {
    ...ProfileFields
  }
}
    fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}`) as unknown as TypedDocumentString<MyUserProfileQuery, MyUserProfileQueryVariables>;
export const UserProfilesDocument = new TypedDocumentString(`
    query UserProfiles($userIds: [ID!]!) {
  userProfiles(userIds: $userIds) {
    ...ProfileFields
  }
}
    fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}`) as unknown as TypedDocumentString<UserProfilesQuery, UserProfilesQueryVariables>;
export const UpdateMyUserProfileDocument = new TypedDocumentString(`
    mutation UpdateMyUserProfile($profile: UserProfileInput!, $expectedVersion: Int) {
  updateMyUserProfile(profile: $profile, expectedVersion: $expectedVersion) {
    ...ProfileFields
  }
}
    fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}`) as unknown as TypedDocumentString<UpdateMyUserProfileMutation, UpdateMyUserProfileMutationVariables>;
export const MyUserProfileVisibilityDocument = new TypedDocumentString(`
    query MyUserProfileVisibility {
  myUserProfileVisibility
}
    `) as unknown as TypedDocumentString<MyUserProfileVisibilityQuery, MyUserProfileVisibilityQueryVariables>;
export const UpdateMyUserProfileVisibilityDocument = new TypedDocumentString(`
    mutation UpdateMyUserProfileVisibility($visibility: UserProfileVisibility!) {
  updateMyUserProfileVisibility(visibility: $visibility)
}
    `) as unknown as TypedDocumentString<UpdateMyUserProfileVisibilityMutation, UpdateMyUserProfileVisibilityMutationVariables>;
export const SearchUserProfileByUniqueIdDocument = new TypedDocumentString(`
    query SearchUserProfileByUniqueId($uniqueId: String!) {
  searchUserProfileByUniqueId(uniqueId: $uniqueId) {
    ...ProfileFields
  }
}
    fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}`) as unknown as TypedDocumentString<SearchUserProfileByUniqueIdQuery, SearchUserProfileByUniqueIdQueryVariables>;
export const MyFieldVisibilityDocument = new TypedDocumentString(`
    query MyFieldVisibility {
  myFieldVisibility {
    ...FieldVisibilityFields
  }
}
    fragment FieldVisibilityFields on FieldVisibility {
  field
  extKey
  visibility
}`) as unknown as TypedDocumentString<MyFieldVisibilityQuery, MyFieldVisibilityQueryVariables>;
export const UpdateMyFieldVisibilityDocument = new TypedDocumentString(`
    mutation UpdateMyFieldVisibility($settings: [FieldVisibilityInput!]!) {
  updateMyFieldVisibility(settings: $settings) {
    ...FieldVisibilityFields
  }
}
    fragment FieldVisibilityFields on FieldVisibility {
  field
  extKey
  visibility
}`) as unknown as TypedDocumentString<UpdateMyFieldVisibilityMutation, UpdateMyFieldVisibilityMutationVariables>;
export const SubscribeUserStatusDocument = new TypedDocumentString(`
    mutation SubscribeUserStatus($userIds: [ID!]!, $type: SubscribeType!, $expiry: Int!) {
  subscribeUserStatus(userIds: $userIds, type: $type, expiry: $expiry) {
    failedUserIds
  }
}
    `) as unknown as TypedDocumentString<SubscribeUserStatusMutation, SubscribeUserStatusMutationVariables>;
export const UnsubscribeUserStatusDocument = new TypedDocumentString(`
    mutation UnsubscribeUserStatus($userIds: [ID!]!, $type: SubscribeType!) {
  unsubscribeUserStatus(userIds: $userIds, type: $type)
}
    `) as unknown as TypedDocumentString<UnsubscribeUserStatusMutation, UnsubscribeUserStatusMutationVariables>;
export const SubscribedUserStatusDocument = new TypedDocumentString(`
    query SubscribedUserStatus($type: SubscribeType!, $userIds: [ID!]!) {
  subscribedUserStatus(type: $type, userIds: $userIds) {
    ...StatusFields
  }
}
    fragment CustomStatusFields on CustomStatus {
  text
  emoji
  expiresAt
}
fragment ProfileFields on UserProfile {
  userId
  name
  portraitUri
  uniqueId
  email
  birthday
  gender
  location
  role
  level
  userExtProfile {
    key
    value
  }
  version
  updatedAt
  restricted
}
fragment StatusFields on UserStatusChange {
  userId
  subscribeType
  subscribeTime
  expiry
  changeTime
  details {
    platform
    online
    changeTime
  }
  userProfile {
    ...ProfileFields
  }
  customStatus {
    ...CustomStatusFields
  }
}`) as unknown as TypedDocumentString<SubscribedUserStatusQuery, SubscribedUserStatusQueryVariables>;
export const SubscribedUsersDocument = new TypedDocumentString(`
    query SubscribedUsers($type: SubscribeType!, $pageSize: Int, $startIndex: Int) {
  subscribedUsers(type: $type, pageSize: $pageSize, startIndex: $startIndex) {
    items {
      userId
      subscribeType
      subscribeTime
      expiry
      expiresAt
    }
    totalCount
  }
}
    `) as unknown as TypedDocumentString<SubscribedUsersQuery, SubscribedUsersQueryVariables>;
export const SubscriptionExpiriesDocument = new TypedDocumentString(`
    query SubscriptionExpiries($type: SubscribeType!, $userIds: [ID!]!) {
  subscribedUserStatus(type: $type, userIds: $userIds) {
    userId
    subscribeTime
    expiry
  }
}
    `) as unknown as TypedDocumentString<SubscriptionExpiriesQuery, SubscriptionExpiriesQueryVariables>;