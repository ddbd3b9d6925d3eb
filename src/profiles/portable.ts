import { z } from 'zod';
import type { ExtProfileKeyRow, UserRow } from '../db/database.ts';
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
 * Export writes every field (null where the profile has none), so importing a line makes the
 * profile equal to it: fields omitted from a hand-written line are left as they are, null clears,
 * ext entries merge by key (a null value removes the key), exactly as setUserProfile does.
 * What the profile rules say about the values (lengths, ranges, ext keys) is left to them; this
 * only checks the shape, as GraphQL checks the types of an input.
 */
export interface ProfileLine {
  userId: string;
  profile: ProfileInput;
}

const text = z.string().nullable().optional();
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
  return { ok: true, item: { userId: parsed.data.userId, input: parsed.data.profile as ProfileInput } };
}

/** The line of one stored profile: every field, ext entries in key order (of the app's keys). */
export function profileLine(row: UserRow, extKeys: readonly ExtProfileKeyRow[]): ProfileLine {
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
      userExtProfile: readableExt(row, [...extKeys].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), 'backend'),
    },
  };
}
