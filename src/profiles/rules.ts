/** The input rules of SPEC §2, shared by validation, friends and the apps domain. */

export const USER_ID_PATTERN = /^[A-Za-z0-9_\-=@.+]{1,64}$/;
/** uniqueId and ext keys: ASCII letters and digits */
export const UNIQUE_ID_PATTERN = /^[A-Za-z0-9]{1,32}$/;
/**
 * 1–32 letters, digits or `_` (RongCloud's attribute names may hold `_`). Over RongCloud's server
 * API they also carry an `ext_` prefix, which src/rongcloud-api adds and strips.
 */
export const EXT_KEY_PATTERN = /^[A-Za-z0-9_]{1,32}$/;

export const PROFILE_TEXT_LIMITS = {
  name: 32,
  portraitUri: 128,
  email: 128,
  birthday: 32,
  location: 32,
} as const;
export type ProfileTextField = keyof typeof PROFILE_TEXT_LIMITS;

export const PROFILE_INT_RANGE = { min: 0, max: 100 } as const;
export const EXT_VALUE_MAX = 256;
export const EXT_KEYS_PER_APP = 20;
export const EXT_ENTRIES_PER_PROFILE = 20;

export const RC = {
  EXT_KEY_NOT_WRITABLE: 24360,
  EXT_KEY_NOT_DEFINED: 24362,
  EXT_TOO_MANY_ENTRIES: 24363,
  VALUE_TOO_LONG: 24364,
  QUERY_COUNT_EXCEEDED: 24365,
  USER_NOT_FOUND: 24366,
  VALUE_NOT_NUMERIC: 24367,
  VALUE_OUT_OF_RANGE: 24368,
  // Friend codes follow RongCloud's RCErrorCode.h (RC_FRIEND_NOT_ALLOW_ADD_SELF is 25473; 25472 is
  // RC_FRIEND_NOT_EXIST, "friend not found", which this server has no use for).
  FRIEND_ALREADY: 25460,
  FRIEND_APPLICATION_MISSING: 25466,
  FRIEND_MY_LIMIT: 25467,
  FRIEND_THEIR_LIMIT: 25468,
  FRIEND_NOT_FRIENDS: 25469,
  FRIEND_FIELD_TOO_LONG: 25470,
  FRIEND_ADD_DISALLOWED: 25471,
  FRIEND_SELF: 25473,
  SUBSCRIBE_TARGET_FULL: 26021,
  SUBSCRIBE_SUBSCRIBER_FULL: 26022,
} as const;

/** Length in code points (what users call characters), not UTF-16 units or bytes. */
export function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

// C0 and C1 controls and DEL, except tab and newline (SPEC §2)
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;

/**
 * Why a free-text value is unacceptable, or null when it is fine. Lone surrogates are
 * refused too: they cannot be stored as UTF-8 and would not round-trip. So is a value that
 * starts with U+FEFF (a byte order mark): the embedded database's driver (PGlite, which decodes
 * each value with a BOM-stripping TextDecoder) would hand it back without it, so it could not
 * round-trip there; it is refused on every database alike.
 */
export function textProblem(value: string, max: number): string | null {
  if (!value.isWellFormed()) return 'contains an unpaired surrogate';
  if (value.startsWith('\ufeff')) return 'starts with U+FEFF (a byte order mark)';
  if (FORBIDDEN_CONTROL.test(value)) return 'contains a control character (only tab and newline are allowed)';
  const length = codePointLength(value);
  if (length > max) return `is ${length} characters long; at most ${max} allowed`;
  return null;
}

export const DEVICE_ID_MAX = 128;

/**
 * Why a device id (connection_init `deviceId`, HTTP `X-Device-Id`) is unacceptable, or null. It is
 * stored with the connection and compared, never shown: no control characters at all (U+0000 is
 * one PostgreSQL cannot store), no lone surrogates.
 */
export function deviceIdProblem(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > DEVICE_ID_MAX) return `must be a string of 1 to ${DEVICE_ID_MAX} characters`;
  if (/[\u0000-\u001F\u007F-\u009F]/.test(value)) return 'contains a control character';
  if (!value.isWellFormed()) return 'contains an unpaired surrogate';
  return null;
}

export function isValidUserId(value: string): boolean {
  return USER_ID_PATTERN.test(value);
}
