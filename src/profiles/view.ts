import type { ExtProfileKeyRow, GenderValue, UserRow } from '../db/database.ts';
import type { Access } from '../visibility/rule.ts';

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

export function profileView(row: UserRow, access: Access, extKeys: readonly ExtProfileKeyRow[]): ProfileView {
  const full = access === 'full';
  return {
    kind: 'view',
    userId: row.userId,
    name: row.name,
    portraitUri: row.portraitUri,
    uniqueId: full ? row.uniqueId : null,
    email: full ? row.email : null,
    birthday: full ? row.birthday : null,
    gender: full ? row.gender : null,
    location: full ? row.location : null,
    role: full ? row.role : null,
    level: full ? row.level : null,
    userExtProfile: full ? readableExt(row, extKeys, 'user') : null,
    version: row.version,
    updatedAt: new Date(row.updatedAt).toISOString(),
    restricted: !full,
  };
}

export function isProfileView(value: UserRow | ProfileView): value is ProfileView {
  return (value as ProfileView).kind === 'view';
}
