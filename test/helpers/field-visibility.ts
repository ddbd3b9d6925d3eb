import { expect } from 'vitest';
import type { GraphQLClient } from './client.ts';
import type { ProfileJson } from './profiles.ts';

/**
 * SPEC §10 (per-field visibility) written out for the tests, independently of src/visibility:
 * a field follows its override if set, else the profile's effective visibility; then SPEC §3's
 * viewer table applies to that field.
 */
export type Decided = 'EVERYONE' | 'FRIENDS_ONLY' | 'INVISIBLE';
export type Setting = 'NOT_SET' | Decided;
export type ViewerKind = 'self' | 'friend' | 'stranger' | 'backend';
/** the API's ProfileField values, and the UserProfile field each names */
export const FIELDS = { UNIQUE_ID: 'uniqueId', EMAIL: 'email', BIRTHDAY: 'birthday', GENDER: 'gender', LOCATION: 'location', ROLE: 'role', LEVEL: 'level' } as const;
export type FieldEnum = keyof typeof FIELDS;
export type StandardField = (typeof FIELDS)[FieldEnum];
/** the readable ext key the tests override; `secret` (no allowClientRead) sits beside it */
export const EXT = 'hobby';
/** what a test overrides: one of the seven fields, or the ext key */
export type Target = FieldEnum | 'EXT';
export const TARGETS: Target[] = [...(Object.keys(FIELDS) as FieldEnum[]), 'EXT'];
export const OVERRIDES: Setting[] = ['EVERYONE', 'FRIENDS_ONLY', 'INVISIBLE', 'NOT_SET'];

/** SPEC §3's table for one field whose visibility is decided */
export function seen(visibility: Decided, viewer: ViewerKind): boolean {
  if (viewer === 'self' || viewer === 'backend') return true;
  if (visibility === 'EVERYONE') return true;
  if (visibility === 'FRIENDS_ONLY') return viewer === 'friend';
  return false;
}

export const decide = (override: Setting | undefined, profile: Decided): Decided => (override === undefined || override === 'NOT_SET' ? profile : override);

export const SET_FIELD_VISIBILITY = 'mutation($s: [FieldVisibilityInput!]!) { updateMyFieldVisibility(settings: $s) { field extKey visibility } }';
export const MY_FIELD_VISIBILITY = '{ myFieldVisibility { field extKey visibility } }';

export interface OverrideJson {
  field: FieldEnum | null;
  extKey: string | null;
  visibility: Decided;
}

export const entry = (target: Target, visibility: Setting) => (target === 'EXT' ? { extKey: EXT, visibility } : { field: target, visibility });

export async function setOverrides(client: GraphQLClient, settings: { field?: string; extKey?: string; visibility: Setting }[]): Promise<OverrideJson[]> {
  return (await client.ok<{ updateMyFieldVisibility: OverrideJson[] }>(SET_FIELD_VISIBILITY, { s: settings })).updateMyFieldVisibility;
}

export async function myOverrides(client: GraphQLClient): Promise<OverrideJson[]> {
  return (await client.ok<{ myFieldVisibility: OverrideJson[] }>(MY_FIELD_VISIBILITY)).myFieldVisibility;
}

/** A full profile for an owner (n makes its uniqueId and values its own). */
export function fullProfile(n: number) {
  return {
    name: `Owner ${n}`,
    portraitUri: `https://cdn.example.com/${n}.png`,
    uniqueId: `fv${n}`,
    email: `owner${n}@example.com`,
    birthday: '1990-01-01',
    gender: 'FEMALE',
    location: 'Berlin',
    role: 7,
    level: 42,
    userExtProfile: [
      { key: EXT, value: `h-${n}` },
      { key: 'secret', value: `s-${n}` },
    ],
  };
}

/**
 * What `viewer` must see of an owner holding fullProfile(n), whose profile's effective visibility
 * is `profile` and whose overrides are `overrides` (Target → setting; missing = none).
 */
export function expectedCut(n: number, profile: Decided, overrides: Partial<Record<Target, Setting>>, viewer: ViewerKind) {
  const full = fullProfile(n);
  const shows = (target: Target) => seen(decide(overrides[target], profile), viewer);
  const out: Record<string, unknown> = { name: full.name, portraitUri: full.portraitUri };
  for (const [e, f] of Object.entries(FIELDS) as [FieldEnum, StandardField][]) out[f] = shows(e) ? full[f] : null;
  if (viewer === 'backend') out.userExtProfile = full.userExtProfile;
  else if (shows('EXT')) out.userExtProfile = [{ key: EXT, value: `h-${n}` }];
  // the ext entries as a whole follow the profile: hidden (null) unless an override shows a readable key
  else out.userExtProfile = seen(profile, viewer) ? [] : null;
  out.restricted = viewer !== 'self' && viewer !== 'backend' && TARGETS.some((t) => !shows(t));
  return out;
}

/** Asserts one profile against its expected cut, naming the cell on failure. */
export function expectCutOf(profile: ProfileJson | null | undefined, expected: Record<string, unknown>, cell: string): void {
  expect(profile, `${cell}: a profile`).toBeTruthy();
  for (const [field, value] of Object.entries(expected)) {
    const got = field === 'userExtProfile' && Array.isArray(profile![field]) ? [...profile![field]!].sort((a, b) => a.key.localeCompare(b.key)) : profile![field as keyof ProfileJson];
    expect(got, `${cell}: ${field}`).toEqual(value);
  }
  const backendCut = (expected.userExtProfile as { key: string }[] | null)?.some((e) => e.key === 'secret');
  if (!backendCut) expect(JSON.stringify(profile), `${cell}: the unreadable key`).not.toContain('"secret"');
}
