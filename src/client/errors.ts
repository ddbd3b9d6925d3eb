/**
 * Numeric error codes. Where the server sends RongCloud's code (`extensions.rcCode`) the SDK
 * uses it as is; otherwise each `extensions.code` has one stable number of its own (the 9xxxx
 * range, which RongCloud does not use), so a `switch (error.code)` keeps working for both.
 */
export const ErrorCode = {
  SUCCESS: 0,
  // --- RongCloud's codes, under RongCloud's names (RCErrorCode.h; the Web SDK's ErrorCode uses the
  // same names, e.g. RC_BESUBSCRIBED_USERIDS_COUNT_EXCEED_LIMIT in its subscription sample) ---
  /** no permission to set this key (ext key without allowClientWrite, or uniqueId) */
  RC_USER_PROFILE_KEY_NOT_ALLOW_SDK_SET: 24360,
  /** (not sent by this server: unknown base fields are refused by the schema) */
  RC_USER_PROFILE_KEY_NOT_EXIST: 24361,
  RC_USER_PROFILE_EXT_KEY_NOT_EXIST: 24362,
  RC_USER_PROFILE_EXT_KV_COUNT_EXCEED_LIMIT: 24363,
  RC_USER_PROFILE_VALUE_LENGTH_EXCEED_LIMIT: 24364,
  RC_USER_PROFILE_QUERY_COUNT_EXCEED_LIMIT: 24365,
  RC_USER_PROFILE_USER_NOT_EXIST: 24366,
  /** role or level that is not a whole number (the SDK refuses it before sending) */
  RC_USER_PROFILE_VALUE_CAN_ONLY_BE_NUMBERS: 24367,
  RC_USER_PROFILE_VALUE_EXCEED_RANGE: 24368,
  /** (not sent by this server: hosting is always on) */
  RC_USER_PROFILE_SERVICE_UNAVAILABLE: 24369,
  RC_FRIEND_ALREADY_FRIEND: 25460,
  /** not an error: addFriend sent an application the target has to accept (`data.processCode`) */
  RC_FRIEND_NEED_ACCEPT: 25461,
  RC_FRIEND_APPLICATION_NOT_EXIST: 25466,
  RC_FRIEND_MY_FRIEND_COUNT_EXCEED_LIMIT: 25467,
  RC_FRIEND_OTHER_FRIEND_COUNT_EXCEED_LIMIT: 25468,
  RC_FRIEND_NOT_FRIEND: 25469,
  RC_FRIEND_FIELDS_LENGTH_EXCEED_LIMIT: 25470,
  RC_FRIEND_OTHER_NOT_ALLOW_ADD_FRIEND: 25471,
  /** "friend not found" (not sent by this server) */
  RC_FRIEND_NOT_EXIST: 25472,
  RC_FRIEND_NOT_ALLOW_ADD_SELF: 25473,
  /** (not sent by this server: subscriptions are always on) */
  RC_SUBSCRIBE_ONLINE_SERVICE_UNAVAILABLE: 26020,
  /** some targets already have 5000 subscribers: `data` lists them, the rest succeeded */
  RC_BESUBSCRIBED_USERIDS_COUNT_EXCEED_LIMIT: 26021,
  RC_SUBSCRIBED_USERIDS_EXCEED_LIMIT: 26022,
  /** RongCloud's client-side "invalid parameter", for calls the SDK refuses before sending */
  INVALID_PARAMETER: 33003,
  // --- the same RongCloud codes under this SDK's earlier names (kept) ---
  USER_PROFILE_KEY_NOT_WRITABLE: 24360,
  USER_PROFILE_EXT_KEY_NOT_DEFINED: 24362,
  USER_PROFILE_EXT_TOO_MANY_ENTRIES: 24363,
  USER_PROFILE_VALUE_TOO_LONG: 24364,
  USER_PROFILE_QUERY_COUNT_EXCEED_LIMIT: 24365,
  USER_PROFILE_USER_NOT_EXIST: 24366,
  USER_PROFILE_VALUE_NOT_NUMERIC: 24367,
  USER_PROFILE_VALUE_OUT_OF_RANGE: 24368,
  FRIEND_ALREADY_FRIENDS: 25460,
  FRIEND_NEED_ACCEPT: 25461,
  FRIEND_APPLICATION_NOT_EXIST: 25466,
  FRIEND_MY_COUNT_EXCEED_LIMIT: 25467,
  FRIEND_OTHER_COUNT_EXCEED_LIMIT: 25468,
  FRIEND_NOT_FRIENDS: 25469,
  FRIEND_FIELD_TOO_LONG: 25470,
  FRIEND_ADD_NOT_ALLOWED: 25471,
  FRIEND_CANNOT_ADD_SELF: 25473,
  SUBSCRIBE_TARGET_OVER_LIMIT: 26021,
  SUBSCRIBE_SUBSCRIBER_OVER_LIMIT: 26022,
  // --- this server's codes without a RongCloud equivalent ---
  NETWORK_ERROR: 90000,
  BAD_USER_INPUT: 90400,
  UNAUTHENTICATED: 90401,
  FORBIDDEN: 90403,
  NOT_FOUND: 90404,
  VERSION_CONFLICT: 90409,
  LIMIT_EXCEEDED: 90413,
  RATE_LIMITED: 90429,
  INTERNAL: 90500,
  UNKNOWN: 90999,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The number for an `extensions.code` that came without an `rcCode`. */
export const CODE_BY_EXTENSION: Record<string, number> = {
  BAD_USER_INPUT: ErrorCode.BAD_USER_INPUT,
  UNAUTHENTICATED: ErrorCode.UNAUTHENTICATED,
  FORBIDDEN: ErrorCode.FORBIDDEN,
  NOT_FOUND: ErrorCode.NOT_FOUND,
  VERSION_CONFLICT: ErrorCode.VERSION_CONFLICT,
  LIMIT_EXCEEDED: ErrorCode.LIMIT_EXCEEDED,
  RATE_LIMITED: ErrorCode.RATE_LIMITED,
  INTERNAL: ErrorCode.INTERNAL,
};

/** A GraphQL error as it arrives in a response. */
export interface GraphQLErrorLike {
  message: string;
  path?: readonly (string | number)[];
  extensions?: { code?: string; rcCode?: number; fields?: string[]; keys?: string[]; [extension: string]: unknown };
}

/** What a failed call rejects with. */
export class ProfileClientError extends Error {
  override readonly name = 'ProfileClientError';
  /** RongCloud's numeric code where it has one, else one of ErrorCode's 9xxxx numbers */
  readonly code: number;
  /** the offending input fields and ext keys (RongCloud's errorKeys) */
  readonly errorKeys: string[];
  /** the server's `extensions.code` (UNAUTHENTICATED, BAD_USER_INPUT, …), when it answered */
  readonly extensionCode: string | undefined;
  /** the GraphQL error the server sent, when it sent one */
  readonly graphQLError: GraphQLErrorLike | undefined;

  constructor(message: string, details: { code: number; errorKeys?: string[]; extensionCode?: string; graphQLError?: GraphQLErrorLike; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.errorKeys = details.errorKeys ?? [];
    this.extensionCode = details.extensionCode;
    this.graphQLError = details.graphQLError;
  }

  static fromGraphQL(error: GraphQLErrorLike): ProfileClientError {
    const extensions = error.extensions ?? {};
    const code = typeof extensions.rcCode === 'number' ? extensions.rcCode : (CODE_BY_EXTENSION[extensions.code ?? ''] ?? ErrorCode.UNKNOWN);
    const errorKeys = [...(Array.isArray(extensions.fields) ? extensions.fields : []), ...(Array.isArray(extensions.keys) ? extensions.keys : [])];
    return new ProfileClientError(error.message, { code, errorKeys, extensionCode: extensions.code, graphQLError: error });
  }

  static invalidParameter(message: string, errorKeys: string[] = []): ProfileClientError {
    return new ProfileClientError(message, { code: ErrorCode.INVALID_PARAMETER, errorKeys });
  }
}
