import type { DecidedVisibility, ExtProfileKeyRow, ProfileVisibility, UserRow } from '../db/database.ts';
import { badInput } from '../errors.ts';
import type { FieldVisibilityChange } from '../profiles/repository.ts';
import { EXT_KEYS_PER_APP, RC } from '../profiles/rules.ts';
import { PROFILE_FIELDS, type ProfileFieldName, extOverrideKey, overridesOf } from './rule.ts';

/**
 * Per-field visibility overrides (SPEC §10): what a user may set, and how the stored ones read.
 * They are written by the profiles service (a change of them is a profile change: version bump,
 * one profileChanged event), see `updateMyFieldVisibility` in ./schema.ts.
 */

/** The API's ProfileField values and the row's field names. */
export const PROFILE_FIELD_NAMES = {
  UNIQUE_ID: 'uniqueId',
  EMAIL: 'email',
  BIRTHDAY: 'birthday',
  GENDER: 'gender',
  LOCATION: 'location',
  ROLE: 'role',
  LEVEL: 'level',
} as const satisfies Record<string, ProfileFieldName>;
export type ProfileFieldEnum = keyof typeof PROFILE_FIELD_NAMES;
export const PROFILE_FIELD_ENUM = Object.fromEntries(Object.entries(PROFILE_FIELD_NAMES).map(([e, f]) => [f, e])) as Record<ProfileFieldName, ProfileFieldEnum>;

/** One override as the API has it: exactly one of field and extKey. */
export interface FieldVisibilityEntry {
  field: ProfileFieldName | null;
  extKey: string | null;
  visibility: ProfileVisibility;
}

/** The most entries one call takes: every standard field and every ext key an app may define, once each. */
export const FIELD_VISIBILITY_ENTRIES_MAX = PROFILE_FIELDS.length + EXT_KEYS_PER_APP;

/**
 * The change that `settings` asks for, all or nothing: every entry names exactly one standard
 * field or one of the app's ext keys that clients may read (an override of a key no client can
 * read would decide nothing), no field or key twice; NOT_SET removes the override. Every problem
 * is named in one BAD_USER_INPUT (`extensions.issues`, `extensions.keys` for ext keys).
 */
export function fieldVisibilityChange(settings: readonly FieldVisibilityEntry[], extKeys: readonly ExtProfileKeyRow[]): FieldVisibilityChange {
  if (settings.length > FIELD_VISIBILITY_ENTRIES_MAX) {
    throw badInput(`settings holds at most ${FIELD_VISIBILITY_ENTRIES_MAX} entries (each field and ext key once); got ${settings.length}`, {
      fields: ['settings'],
      max: FIELD_VISIBILITY_ENTRIES_MAX,
    });
  }
  const registry = new Map(extKeys.map((k) => [k.key, k]));
  const issues: { index: number; key?: string; message: string; rcCode?: number }[] = [];
  const seen = new Set<string>();
  const change: FieldVisibilityChange = { set: {}, remove: [] };
  settings.forEach((entry, index) => {
    const hasField = entry.field !== null && entry.field !== undefined;
    const hasKey = entry.extKey !== null && entry.extKey !== undefined;
    if (hasField === hasKey) {
      issues.push({ index, message: `settings[${index}] must name exactly one of field and extKey.` });
      return;
    }
    let stored: string;
    let label: string;
    if (hasKey) {
      const key = entry.extKey!;
      const defined = registry.get(key);
      if (!defined) {
        issues.push({ index, key, message: `settings[${index}]: ext key "${key}" is not defined for this app.`, rcCode: RC.EXT_KEY_NOT_DEFINED });
        return;
      }
      if (!defined.allowClientRead) {
        issues.push({ index, key, message: `settings[${index}]: ext key "${key}" is never shown to users (no allowClientRead), so its visibility cannot be set.` });
        return;
      }
      stored = extOverrideKey(key);
      label = `ext key "${key}"`;
    } else {
      stored = entry.field!;
      label = `field ${PROFILE_FIELD_ENUM[entry.field!]}`;
    }
    if (seen.has(stored)) {
      issues.push({ index, key: hasKey ? entry.extKey! : undefined, message: `settings[${index}]: ${label} is given more than once.` });
      return;
    }
    seen.add(stored);
    if (entry.visibility === 'NOT_SET') change.remove.push(stored);
    else change.set[stored] = entry.visibility;
  });
  if (issues.length) {
    const keys = [...new Set(issues.flatMap((i) => (i.key ? [i.key] : [])))];
    throw badInput(`Invalid settings: ${issues.map((i) => i.message).join(' ')}`, {
      rcCode: issues.find((i) => i.rcCode !== undefined)?.rcCode,
      fields: ['settings'],
      keys: keys.length ? keys : undefined,
      issues: issues.map(({ index, key, message }) => ({ index, ...(key ? { key } : {}), message })),
    });
  }
  return change;
}

/**
 * The user's overrides that decide something: standard fields in their order, then ext keys in the
 * registry's order. Overrides left for keys the app no longer defines, or that clients may no
 * longer read, are left out (they are ignored by every cut too).
 */
export function overridesList(row: UserRow, extKeys: readonly ExtProfileKeyRow[]): { field: ProfileFieldName | null; extKey: string | null; visibility: DecidedVisibility }[] {
  const overrides = overridesOf(row);
  const out: { field: ProfileFieldName | null; extKey: string | null; visibility: DecidedVisibility }[] = [];
  for (const field of PROFILE_FIELDS) {
    const visibility = overrides[field];
    if (visibility) out.push({ field, extKey: null, visibility });
  }
  for (const k of extKeys) {
    const visibility = overrides[extOverrideKey(k.key)];
    if (visibility && k.allowClientRead) out.push({ field: null, extKey: k.key, visibility });
  }
  return out;
}
