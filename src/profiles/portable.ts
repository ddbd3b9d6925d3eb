import { z } from 'zod';
import type { ExtProfileKeyRow, ProfileVisibility, UserRow } from '../db/database.ts';
import { PROFILE_FIELD_ENUM, PROFILE_FIELD_NAMES, type ProfileFieldEnum, overridesList } from '../visibility/service.ts';
import type { ProfileUpsert } from './service.ts';
import { PROFILE_TEXT_LIMITS, type ProfileTextField } from './rules.ts';
import type { ProfileInput } from './validation.ts';
import { readableExt } from './view.ts';

/**
 * One line of `npm run export` and `npm run import` (JSON Lines, SPEC §13): a user id and its
 * profile as AdminUserProfileInput has it, so a line is also one item of setUserProfiles.
 *
 *   {"userId":"u1","profile":{"name":"Ada","portraitUri":null,"uniqueId":"ada","email":null,
 *    "birthday":null,"gender":"FEMALE","location":null,"role":1,"level":null,
 *    "userExtProfile":[{"key":"color","value":"red"}]}}
 *
 * Beside the profile, a line carries the user's privacy choices (SPEC §3, §10), so that a moved app
 * keeps them: `visibility` (its own setting) and `fieldVisibility` (its per-field overrides, as
 * updateMyFieldVisibility takes them: `{"field":"EMAIL","visibility":"FRIENDS_ONLY"}`,
 * `{"extKey":"color","visibility":"EVERYONE"}`; the ext keys must be the app's, readable by clients).
 *
 * Export writes every field (null where the profile has none), so importing a line makes the
 * profile equal to it: fields omitted from a hand-written line are left as they are, null clears,
 * ext entries merge by key (a null value removes the key), exactly as setUserProfile does.
 * What the profile rules say about the values (lengths, ranges, ext keys) is left to them; this
 * only checks the shape, as GraphQL checks the types of an input.
 */
export interface ProfileLine {
  userId: string;
  profile: ProfileInput;
  /** the user's own profile visibility (NOT_SET: the app's default); absent: left as it is */
  visibility?: ProfileVisibility;
  /** the user's per-field overrides as FieldVisibilityInput has them; given, they replace the stored ones */
  fieldVisibility?: { field?: ProfileFieldEnum; extKey?: string; visibility: ProfileVisibility }[];
}

const text = z.string().nullable().optional();
const visibility = z.enum(['NOT_SET', 'INVISIBLE', 'EVERYONE', 'FRIENDS_ONLY']);
const lineSchema = z.strictObject({
  userId: z.string(),
  profile: z.strictObject({
    ...(Object.fromEntries((Object.keys(PROFILE_TEXT_LIMITS) as ProfileTextField[]).map((field) => [field, text])) as Record<ProfileTextField, typeof text>),
    uniqueId: text,
    gender: z.enum(['UNKNOWN', 'MALE', 'FEMALE']).nullable().optional(),
    role: z.number().nullable().optional(),
    level: z.number().nullable().optional(),
    userExtProfile: z.array(z.strictObject({ key: z.string(), value: z.string().nullable().optional() })).nullable().optional(),
  }),
  visibility: visibility.optional(),
  fieldVisibility: z
    .array(z.strictObject({ field: z.enum(Object.keys(PROFILE_FIELD_NAMES) as [ProfileFieldEnum, ...ProfileFieldEnum[]]).nullable().optional(), extKey: z.string().nullable().optional(), visibility }))
    .optional(),
});

/** A line read back: the item to write, or why the line is not one (malformed JSON, wrong shape). */
export function parseProfileLine(line: string): { ok: true; item: ProfileUpsert } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { ok: false, message: `malformed JSON: ${(error as Error).message}` };
  }
  const parsed = lineSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'line'}: ${i.message}`);
    return { ok: false, message: `not a profile line (${issues.join('; ')})` };
  }
  const { userId, profile, visibility: own, fieldVisibility } = parsed.data;
  const item: ProfileUpsert = { userId, input: profile as ProfileInput };
  if (own !== undefined || fieldVisibility !== undefined) {
    item.privacy = {
      visibility: own,
      fieldVisibility: fieldVisibility?.map((e) => ({ field: e.field ? PROFILE_FIELD_NAMES[e.field] : null, extKey: e.extKey ?? null, visibility: e.visibility })),
    };
  }
  return { ok: true, item };
}

/** The line of one stored profile: every field, ext entries in key order (of the app's keys), its visibility and overrides. */
export function profileLine(row: UserRow, extKeys: readonly ExtProfileKeyRow[]): ProfileLine {
  const sorted = [...extKeys].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    userId: row.userId,
    profile: {
      name: row.name,
      portraitUri: row.portraitUri,
      uniqueId: row.uniqueId,
      email: row.email,
      birthday: row.birthday,
      gender: row.gender,
      location: row.location,
      role: row.role,
      level: row.level,
      userExtProfile: readableExt(row, sorted, 'backend'),
    },
    visibility: row.visibility,
    fieldVisibility: overridesList(row, sorted).map((o) => (o.field ? { field: PROFILE_FIELD_ENUM[o.field], visibility: o.visibility } : { extKey: o.extKey!, visibility: o.visibility })),
  };
}
