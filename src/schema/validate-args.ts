import { badInput } from '../errors.ts';
import { isValidUserId, RC } from '../profiles/rules.ts';

/**
 * Checks a list of user ids: count within [min, max] and every id well-formed.
 * Returns the ids with duplicates collapsed, first occurrence order kept.
 */
export function userIdList(
  ids: readonly string[],
  { min = 1, max, arg = 'userIds', rcCode }: { min?: number; max: number; arg?: string; rcCode?: number },
): string[] {
  if (ids.length < min || ids.length > max) {
    throw badInput(`${arg} must hold ${min} to ${max} ids; got ${ids.length}`, { fields: [arg], rcCode });
  }
  const malformed = ids.filter((id) => !isValidUserId(id));
  if (malformed.length) {
    throw badInput(`${arg} has malformed ids (1-64 of A-Z a-z 0-9 _ - = @ . +): ${malformed.slice(0, 5).map((i) => JSON.stringify(i)).join(', ')}`, {
      fields: [arg],
      invalidIds: malformed.slice(0, 20),
    });
  }
  return [...new Set(ids)];
}

export function userIdArg(id: string, arg = 'userId'): string {
  if (!isValidUserId(id)) throw badInput(`${arg} must be 1-64 characters of A-Z a-z 0-9 _ - = @ . +`, { fields: [arg] });
  return id;
}

export function intInRange(value: number, min: number, max: number, arg: string, rcCode?: number): number {
  if (value < min || value > max) throw badInput(`${arg} must be between ${min} and ${max}; got ${value}`, { fields: [arg], rcCode });
  return value;
}

export { RC };
