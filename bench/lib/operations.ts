/** The GraphQL operations the load sends; the floors answer exactly these selections. */

const PROFILE_FIELDS = 'userId name portraitUri uniqueId email birthday gender location role level userExtProfile { key value } version updatedAt restricted';

export const READ_QUERY = `query Read($ids: [ID!]!) { userProfiles(userIds: $ids) { ${PROFILE_FIELDS} } }`;

export const WRITE_MUTATION = 'mutation Write($p: UserProfileInput!) { updateMyUserProfile(profile: $p) { userId name version updatedAt } }';

/** What a subscriber of USER_PROFILE changes runs (write, fan-out and cluster scenarios). */
export const PROFILE_STATUS_SUBSCRIPTION = `subscription Status { subscribedUserStatusChange(types: [USER_PROFILE]) { __typename ... on UserStatusChange { userId subscribeType subscribeTime expiry changeTime userProfile { ${PROFILE_FIELDS} } } ... on SubscribedUserStatusSyncFinished { subscribeType } } }`;

/** What a client runs on connect (connect + sync scenario): every type, online details included. */
export const SYNC_SUBSCRIPTION = `subscription Sync { subscribedUserStatusChange { __typename ... on UserStatusChange { userId subscribeType subscribeTime expiry changeTime details { platform online changeTime } userProfile { ${PROFILE_FIELDS} } } ... on SubscribedUserStatusSyncFinished { subscribeType } } }`;

export const readBody = (ids: string[]) => JSON.stringify({ query: READ_QUERY, operationName: 'Read', variables: { ids } });

/** The fan-out variant's per-field overrides of its target (SPEC §10). */
export const SET_FIELD_VISIBILITY = 'mutation Fields($s: [FieldVisibilityInput!]!) { updateMyFieldVisibility(settings: $s) { field extKey visibility } }';

export const writeBody = (name: string, hobby: string) =>
  JSON.stringify({ query: WRITE_MUTATION, operationName: 'Write', variables: { p: { name, userExtProfile: [{ key: 'hobby', value: hobby }] } } });

/** What a device runs on the resumable stream (reconnect scenario): `after` = its last cursor, or omitted. */
export const USER_EVENTS_SUBSCRIPTION = `subscription Events($after: String) { userEvents(after: $after) { cursor event { __typename ... on UserEventsCaughtUp { resumed } ... on UserStatusChange { userId subscribeType details { platform online changeTime } userProfile { userId name version } } } } }`;
