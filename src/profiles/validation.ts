import type { ExtProfileKeyRow, GenderValue } from '../db/database.ts';
import { IssueList } from '../errors.ts';
import { emptyPatch, type ProfilePatch } from './repository.ts';
import {
  EXT_ENTRIES_PER_PROFILE,
  EXT_VALUE_MAX,
  PROFILE_INT_RANGE,
  PROFILE_TEXT_LIMITS,
  type ProfileTextField,
  RC,
  UNIQUE_ID_PATTERN,
  codePointLength,
  textProblem,
} from './rules.ts';

/** A profile input as GraphQL hands it over: undefined = omitted (keep), null = clear. */
export interface ProfileInput {
  name?: string | null;
  portraitUri?: string | null;
  uniqueId?: string | null;
  email?: string | null;
  birthday?: string | null;
  gender?: GenderValue | null;
  location?: string | null;
  role?: number | null;
  level?: number | null;
  userExtProfile?: readonly { key: string; value?: string | null }[] | null;
}

export type Writer = 'user' | 'backend';

/**
 * Validates a whole input and turns it into a patch. Every problem is collected and thrown
 * as one error naming each offending field and key (SPEC §2: all-or-nothing).
 */
export function profilePatchFrom(input: ProfileInput, writer: Writer, extKeys: readonly ExtProfileKeyRow[]): ProfilePatch {
  const issues = new IssueList();
  const patch = emptyPatch();

  for (const field of Object.keys(PROFILE_TEXT_LIMITS) as ProfileTextField[]) {
    const value = input[field];
    if (value === undefined) continue;
    if (value !== null) {
      const problem = textProblem(value, PROFILE_TEXT_LIMITS[field]);
      if (problem) {
        issues.add({ field, message: `${field} ${problem}.`, rcCode: problem.startsWith('is ') ? RC.VALUE_TOO_LONG : undefined });
        continue;
      }
    }
    patch.set[field] = value;
  }

  if (input.uniqueId !== undefined) {
    // only reachable through AdminUserProfileInput; the user input type has no uniqueId
    if (writer !== 'backend') issues.add({ field: 'uniqueId', message: 'uniqueId is set only by the app backend.', rcCode: RC.EXT_KEY_NOT_WRITABLE, forbidden: true });
    else if (input.uniqueId !== null && !UNIQUE_ID_PATTERN.test(input.uniqueId)) {
      issues.add({ field: 'uniqueId', message: 'uniqueId must be 1-32 letters or digits.' });
    } else patch.set.uniqueId = input.uniqueId;
  }

  if (input.gender !== undefined) patch.set.gender = input.gender;

  for (const field of ['role', 'level'] as const) {
    const value = input[field];
    if (value === undefined) continue;
    if (value !== null && (!Number.isInteger(value) || value < PROFILE_INT_RANGE.min || value > PROFILE_INT_RANGE.max)) {
      issues.add({ field, message: `${field} must be an integer from ${PROFILE_INT_RANGE.min} to ${PROFILE_INT_RANGE.max}; got ${value}.`, rcCode: RC.VALUE_OUT_OF_RANGE });
      continue;
    }
    patch.set[field] = value;
  }

  if (input.userExtProfile === null) {
    issues.add({ field: 'userExtProfile', message: 'userExtProfile cannot be null; remove single keys with a null value.' });
  } else if (input.userExtProfile !== undefined) {
    extEntries(input.userExtProfile, writer, extKeys, issues, patch);
  }

  issues.throwIfAny();
  return patch;
}

function extEntries(
  entries: readonly { key: string; value?: string | null }[],
  writer: Writer,
  extKeys: readonly ExtProfileKeyRow[],
  issues: IssueList,
  patch: ProfilePatch,
): void {
  if (entries.length > EXT_ENTRIES_PER_PROFILE) {
    issues.add({ field: 'userExtProfile', message: `userExtProfile holds at most ${EXT_ENTRIES_PER_PROFILE} entries; got ${entries.length}.`, rcCode: RC.EXT_TOO_MANY_ENTRIES });
    return;
  }
  const registry = new Map(extKeys.map((k) => [k.key, k]));
  const seen = new Set<string>();
  for (const { key, value } of entries) {
    if (seen.has(key)) {
      issues.add({ key, message: `ext key "${key}" is given more than once.` });
      continue;
    }
    seen.add(key);
    const definition = registry.get(key);
    if (!definition) {
      issues.add({ key, message: `ext key "${key}" is not defined for this app.`, rcCode: RC.EXT_KEY_NOT_DEFINED });
      continue;
    }
    if (writer === 'user' && !definition.allowClientWrite) {
      issues.add({ key, message: `ext key "${key}" is not writable by clients.`, rcCode: RC.EXT_KEY_NOT_WRITABLE, forbidden: true });
      continue;
    }
    if (value === null || value === undefined) {
      patch.extRemove.push(key);
      continue;
    }
    const problem = textProblem(value, EXT_VALUE_MAX);
    if (problem) {
      issues.add({ key, message: `value of ext key "${key}" ${problem}.`, rcCode: codePointLength(value) > EXT_VALUE_MAX ? RC.VALUE_TOO_LONG : undefined });
      continue;
    }
    patch.extSet[key] = value;
  }
}
