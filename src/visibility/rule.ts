import type { DecidedVisibility, ExtProfileKeyRow, FieldVisibilityOverrides, ProfileVisibility, UserRow } from '../db/database.ts';

/** How the viewer relates to the profile's owner. `backend` is the app's own server (Basic auth). */
export type Audience = 'self' | 'friend' | 'stranger' | 'backend';

/** The fields whose visibility a user may set one by one (userId, name and portraitUri are always visible). */
export const PROFILE_FIELDS = ['uniqueId', 'email', 'birthday', 'gender', 'location', 'role', 'level'] as const;
export type ProfileFieldName = (typeof PROFILE_FIELDS)[number];

/** The part of a row the rule reads. */
export type VisibilityOwner = Pick<UserRow, 'visibility'> & { fieldVisibility?: FieldVisibilityOverrides };

/**
 * Where an ext key's override is kept in `fieldVisibility`: `ext:` cannot start a standard
 * field's name, and `:` is no ext key's character, so the two never meet.
 */
const EXT_PREFIX = 'ext:';
export const extOverrideKey = (key: string) => `${EXT_PREFIX}${key}`;
export const isExtOverrideKey = (stored: string) => stored.startsWith(EXT_PREFIX);
/** the ext key an override of `fieldVisibility` is for */
export const extKeyOf = (stored: string) => stored.slice(EXT_PREFIX.length);

const NO_OVERRIDES: FieldVisibilityOverrides = Object.freeze({});

/** The owner's overrides; rows logged before per-field visibility existed carry none. */
export function overridesOf(owner: VisibilityOwner): FieldVisibilityOverrides {
  return owner.fieldVisibility ?? NO_OVERRIDES;
}

/** SPEC §3: the owner's own setting, else the app's default. */
export function effectiveVisibility(own: ProfileVisibility, appDefault: DecidedVisibility): DecidedVisibility {
  return own === 'NOT_SET' ? appDefault : own;
}

/** SPEC §3's viewer table, for one field whose visibility is `visibility`. */
export function sees(visibility: DecidedVisibility, audience: Audience): boolean {
  if (audience === 'self' || audience === 'backend') return true;
  return visibility === 'EVERYONE' || (visibility === 'FRIENDS_ONLY' && audience === 'friend');
}

/** SPEC §10: field F of owner O follows O's override for F if set, else the profile's effective visibility. */
export function fieldSeen(owner: VisibilityOwner, field: ProfileFieldName, audience: Audience, appDefault: DecidedVisibility): boolean {
  if (audience === 'self' || audience === 'backend') return true;
  return sees(overridesOf(owner)[field] ?? effectiveVisibility(owner.visibility, appDefault), audience);
}

export function extKeySeen(owner: VisibilityOwner, key: string, audience: Audience, appDefault: DecidedVisibility): boolean {
  if (audience === 'self' || audience === 'backend') return true;
  return sees(overridesOf(owner)[extOverrideKey(key)] ?? effectiveVisibility(owner.visibility, appDefault), audience);
}

/**
 * Whether a standard field is hidden from this audience: then the profile is `restricted`
 * whatever the ext keys (which need the app's registry to judge).
 */
export function someFieldHidden(owner: VisibilityOwner, audience: Audience, appDefault: DecidedVisibility): boolean {
  if (audience === 'self' || audience === 'backend') return false;
  for (const field of PROFILE_FIELDS) if (!fieldSeen(owner, field, audience, appDefault)) return true;
  return false;
}

/**
 * Whether an ext key could be hidden from this audience: only when the profile's visibility hides
 * it or an ext key's override does. When not, `restricted` needs no look at the app's registry.
 */
export function extKeysMayBeHidden(owner: VisibilityOwner, audience: Audience, appDefault: DecidedVisibility): boolean {
  if (audience === 'self' || audience === 'backend') return false;
  if (!sees(effectiveVisibility(owner.visibility, appDefault), audience)) return true;
  const overrides = overridesOf(owner);
  for (const key in overrides) if (key.startsWith(EXT_PREFIX) && !sees(overrides[key]!, audience)) return true;
  return false;
}

/**
 * `restricted` (SPEC §10): some field is hidden from this viewer — a standard field, or an ext key
 * clients may read (keys without allowClientRead are hidden from every user anyway and never count).
 * Judged on the settings alone, never on which fields hold a value: `restricted` must not tell a
 * viewer whether a hidden field is filled in.
 */
export function isRestricted(owner: VisibilityOwner, audience: Audience, appDefault: DecidedVisibility, extKeys: readonly ExtProfileKeyRow[]): boolean {
  if (someFieldHidden(owner, audience, appDefault)) return true;
  if (!extKeysMayBeHidden(owner, audience, appDefault)) return false;
  return extKeys.some((k) => k.allowClientRead && !extKeySeen(owner, k.key, audience, appDefault));
}

/**
 * Whether the viewer must be known as friend or stranger to decide: only when the profile or one
 * of its fields is FRIENDS_ONLY (otherwise a friend sees what a stranger sees, and no friendship
 * lookup is made).
 */
export function needsFriendship(owner: VisibilityOwner, appDefault: DecidedVisibility): boolean {
  if (effectiveVisibility(owner.visibility, appDefault) === 'FRIENDS_ONLY') return true;
  const overrides = overridesOf(owner);
  for (const key in overrides) if (overrides[key] === 'FRIENDS_ONLY') return true;
  return false;
}
