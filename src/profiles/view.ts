import type { DecidedVisibility, ExtProfileKeyRow, GenderValue, UserRow } from '../db/database.ts';
import { type Audience, type ProfileFieldName, effectiveVisibility, extKeySeen, fieldSeen, isRestricted, sees } from '../visibility/rule.ts';

/**
 * A profile already cut to what one class of receiver may see: restricted fields are absent
 * (null), ext entries are only the readable ones. Pushed events and the connect-time sync carry
 * views, so delivering them needs no database and no visibility work per receiver.
 */
export interface ProfileView {
  kind: 'view';
  userId: string;
  name: string | null;
  portraitUri: string | null;
  uniqueId: string | null;
  email: string | null;
  birthday: string | null;
  gender: GenderValue | null;
  location: string | null;
  role: number | null;
  level: number | null;
  userExtProfile: { key: string; value: string }[] | null;
  version: number;
  /** ISO */
  updatedAt: string;
  restricted: boolean;
}

/** Ext entries a user may read (allowClientRead), in key order; the backend reads all. */
export function readableExt(row: UserRow, extKeys: readonly ExtProfileKeyRow[], reader: 'user' | 'backend') {
  return extKeys
    .filter((k) => (reader === 'backend' || k.allowClientRead) && row.ext[k.key] !== undefined)
    .map((k) => ({ key: k.key, value: row.ext[k.key]! }));
}

/**
 * The ext entries this audience sees (SPEC §3, §10): the backend all of them; a user only keys with
 * allowClientRead, each by its own override or else the profile's visibility. Null when the
 * profile's visibility hides the ext entries and no override shows one of the app's readable keys
 * (as for any hidden field); otherwise the visible entries that hold a value.
 */
export function visibleExt(row: UserRow, extKeys: readonly ExtProfileKeyRow[], audience: Audience, appDefault: DecidedVisibility) {
  if (audience === 'backend') return readableExt(row, extKeys, 'backend');
  if (audience === 'self') return readableExt(row, extKeys, 'user');
  const listed = sees(effectiveVisibility(row.visibility, appDefault), audience) || extKeys.some((k) => k.allowClientRead && extKeySeen(row, k.key, audience, appDefault));
  if (!listed) return null;
  return extKeys
    .filter((k) => k.allowClientRead && row.ext[k.key] !== undefined && extKeySeen(row, k.key, audience, appDefault))
    .map((k) => ({ key: k.key, value: row.ext[k.key]! }));
}

/** The profile as one audience may see it (SPEC §10: field by field). */
export function profileView(row: UserRow, audience: Audience, appDefault: DecidedVisibility, extKeys: readonly ExtProfileKeyRow[]): ProfileView {
  const shown = <F extends ProfileFieldName>(field: F): UserRow[F] | null => (fieldSeen(row, field, audience, appDefault) ? row[field] : null);
  return {
    kind: 'view',
    userId: row.userId,
    name: row.name,
    portraitUri: row.portraitUri,
    uniqueId: shown('uniqueId'),
    email: shown('email'),
    birthday: shown('birthday'),
    gender: shown('gender'),
    location: shown('location'),
    role: shown('role'),
    level: shown('level'),
    userExtProfile: visibleExt(row, extKeys, audience, appDefault),
    version: row.version,
    updatedAt: new Date(row.updatedAt).toISOString(),
    restricted: isRestricted(row, audience, appDefault, extKeys),
  };
}

export function isProfileView(value: UserRow | ProfileView): value is ProfileView {
  return (value as ProfileView).kind === 'view';
}
