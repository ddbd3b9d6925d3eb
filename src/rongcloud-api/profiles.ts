import type { GenderValue, UserRow } from '../db/database.ts';
import type { ProfileInput } from '../profiles/validation.ts';
import { RestError } from './responses.ts';

/**
 * Profiles as RongCloud's server API writes them (gender 0/1/2, ext keys with the `ext_` prefix),
 * to and from ours: used by the endpoints, and by `npm run rongcloud:export` reading them from
 * RongCloud itself.
 */

const GENDERS: GenderValue[] = ['UNKNOWN', 'MALE', 'FEMALE'];
const TEXT_KEYS = ['name', 'portraitUri', 'uniqueId', 'email', 'birthday', 'location'] as const;
const INT_KEYS = ['role', 'level'] as const;
/** RongCloud's server API writes ext keys with this prefix; ours are the rest of the key */
export const EXT_PREFIX = 'ext_';

export function profileInput(profile: Record<string, unknown> | undefined, ext: Record<string, unknown> | undefined): ProfileInput {
  const input: ProfileInput = {};
  const unknown = Object.keys(profile ?? {}).filter((k) => !(TEXT_KEYS as readonly string[]).includes(k) && !(INT_KEYS as readonly string[]).includes(k) && k !== 'gender');
  if (unknown.length) throw new RestError(1002, `userProfile has unknown keys: ${unknown.slice(0, 10).join(', ')} (known: ${[...TEXT_KEYS, 'gender', ...INT_KEYS].join(', ')})`);
  for (const key of TEXT_KEYS) {
    const value = profile?.[key];
    if (value === undefined) continue;
    if (value !== null && typeof value !== 'string') throw new RestError(1002, `userProfile.${key} must be text`);
    input[key] = value;
  }
  for (const key of INT_KEYS) {
    const value = profile?.[key];
    if (value === undefined) continue;
    const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (n !== null && typeof n !== 'number') throw new RestError(1002, `userProfile.${key} must be a number`);
    input[key] = n as number | null;
  }
  if (profile?.gender !== undefined) {
    const g = profile.gender === null ? null : Number(profile.gender);
    if (g !== null && GENDERS[g] === undefined) throw new RestError(1002, 'userProfile.gender must be 0 (unknown), 1 (male) or 2 (female)');
    input.gender = g === null ? null : GENDERS[g]!;
  }
  if (ext !== undefined) {
    input.userExtProfile = Object.entries(ext).map(([key, value]) => {
      if (value !== null && typeof value !== 'string') throw new RestError(1002, `userExtProfile.${key} must be text`);
      return { key: key.startsWith(EXT_PREFIX) ? key.slice(EXT_PREFIX.length) : key, value };
    });
  }
  return input;
}

/** The profile's fields as RongCloud returns them (JSON text, set fields only). */
export function profileFields(row: UserRow): string {
  const out: Record<string, unknown> = {};
  for (const key of TEXT_KEYS) if (row[key] !== null) out[key] = row[key];
  if (row.gender !== null) out.gender = GENDERS.indexOf(row.gender);
  for (const key of INT_KEYS) if (row[key] !== null) out[key] = row[key];
  return JSON.stringify(out);
}

