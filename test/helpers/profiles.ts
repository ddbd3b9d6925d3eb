import { expect } from 'vitest';
import type { GraphQLClient, GraphQLErrorJson } from './client.ts';
import type { TestApp } from './server.ts';

/** Every field of UserProfile, for reading a profile back in full. */
export const ALL_FIELDS =
  'userId name portraitUri uniqueId email birthday gender location role level userExtProfile { key value } version updatedAt restricted';

/** The fields that a "basic" view hides (SPEC §3). */
export const HIDDEN_FIELDS = ['uniqueId', 'email', 'birthday', 'gender', 'location', 'role', 'level', 'userExtProfile'] as const;

export interface ProfileJson {
  userId: string;
  name: string | null;
  portraitUri: string | null;
  uniqueId: string | null;
  email: string | null;
  birthday: string | null;
  gender: string | null;
  location: string | null;
  role: number | null;
  level: number | null;
  userExtProfile: { key: string; value: string }[] | null;
  version: number;
  updatedAt: string;
  restricted: boolean;
}

export const UPDATE_MY = `mutation($p: UserProfileInput!, $v: Int) { updateMyUserProfile(profile: $p, expectedVersion: $v) { ${ALL_FIELDS} } }`;
export const SET_PROFILE = `mutation($u: ID!, $p: AdminUserProfileInput!) { setUserProfile(userId: $u, profile: $p) { ${ALL_FIELDS} } }`;
export const MY_PROFILE = `{ myUserProfile { ${ALL_FIELDS} } }`;
export const ADMIN_PROFILES = `query($ids: [ID!]!) { adminUserProfiles(userIds: $ids) { ${ALL_FIELDS} } }`;
export const USER_PROFILES = `query($ids: [ID!]!) { userProfiles(userIds: $ids) { ${ALL_FIELDS} } }`;

/** The backend writes a profile (creating the user when missing). */
export async function setProfile(app: TestApp, userId: string, profile: Record<string, unknown>): Promise<ProfileJson> {
  return (await app.backend.ok<{ setUserProfile: ProfileJson }>(SET_PROFILE, { u: userId, p: profile })).setUserProfile;
}

/** A user writes its own profile. */
export async function updateMy(client: GraphQLClient, profile: Record<string, unknown>, expectedVersion?: number): Promise<ProfileJson> {
  return (await client.ok<{ updateMyUserProfile: ProfileJson }>(UPDATE_MY, { p: profile, v: expectedVersion })).updateMyUserProfile;
}

/** The stored profile as the backend sees it (every field), or undefined when the user does not exist. */
export async function adminProfile(app: TestApp, userId: string): Promise<ProfileJson | undefined> {
  return (await app.backend.ok<{ adminUserProfiles: ProfileJson[] }>(ADMIN_PROFILES, { ids: [userId] })).adminUserProfiles[0];
}

export async function defineKey(app: TestApp, key: string, allowClientRead = true, allowClientWrite = true): Promise<void> {
  await app.backend.ok('mutation($k: String!, $r: Boolean, $w: Boolean) { defineExtProfileKey(key: $k, allowClientRead: $r, allowClientWrite: $w) { key } }', {
    k: key,
    r: allowClientRead,
    w: allowClientWrite,
  });
}

export async function setAppDefaultVisibility(app: TestApp, visibility: 'INVISIBLE' | 'FRIENDS_ONLY' | 'EVERYONE'): Promise<void> {
  const data = await app.backend.ok('mutation($v: UserProfileVisibility) { updateAppSettings(defaultProfileVisibility: $v) { defaultProfileVisibility } }', {
    v: visibility,
  });
  expect(data.updateAppSettings.defaultProfileVisibility).toBe(visibility);
}

export async function setMyVisibility(client: GraphQLClient, visibility: 'NOT_SET' | 'INVISIBLE' | 'FRIENDS_ONLY' | 'EVERYONE'): Promise<void> {
  const data = await client.ok('mutation($v: UserProfileVisibility!) { updateMyUserProfileVisibility(visibility: $v) }', { v: visibility });
  expect(data.updateMyUserProfileVisibility).toBe(visibility);
}

/** Makes two users friends through the backend (SPEC §4: mutual). */
export async function makeFriends(app: TestApp, userId: string, friendId: string): Promise<void> {
  const data = await app.backend.ok('mutation($u: ID!, $f: ID!) { adminAddFriend(userId: $u, friendId: $f) }', { u: userId, f: friendId });
  expect(data.adminAddFriend).toBe(true);
}

/** Asserts an error's code (always present, SPEC §7) and optionally its other extensions. */
export function expectError(
  error: GraphQLErrorJson,
  code: string,
  extra: { rcCode?: number; fields?: string[]; keys?: string[] } = {},
): void {
  expect(error.extensions, `error without extensions: ${JSON.stringify(error)}`).toBeDefined();
  expect(error.extensions!.code, error.message).toBe(code);
  if (extra.rcCode !== undefined) expect(error.extensions!.rcCode, error.message).toBe(extra.rcCode);
  if (extra.fields) expect(error.extensions!.fields ?? [], error.message).toEqual(expect.arrayContaining(extra.fields));
  if (extra.keys) expect(error.extensions!.keys ?? [], error.message).toEqual(expect.arrayContaining(extra.keys));
}

/** A full profile seen in "basic" view: only userId, name and portraitUri, plus the cache validators. */
export function expectBasic(profile: ProfileJson, expected: { userId: string; name: string | null; portraitUri: string | null }): void {
  expect(profile.userId).toBe(expected.userId);
  expect(profile.name).toBe(expected.name);
  expect(profile.portraitUri).toBe(expected.portraitUri);
  for (const field of HIDDEN_FIELDS) expect(profile[field], `${field} must be hidden`).toBeNull();
  expect(profile.restricted).toBe(true);
  expect(typeof profile.version).toBe('number');
  expect(typeof profile.updatedAt).toBe('string');
}
