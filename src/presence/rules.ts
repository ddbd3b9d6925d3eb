import type { PresenceVisibility } from '../db/database.ts';
import { badInput } from '../errors.ts';
import { codePointLength } from '../profiles/rules.ts';

export type { PresenceVisibility };
export type EffectivePresenceVisibility = Exclude<PresenceVisibility, 'NOT_SET'>;

/** A custom status as it travels in events and messages (JSON-safe: `expiresAt` is ISO or null). */
export interface CustomStatusJson {
  text: string;
  emoji: string | null;
  expiresAt: string | null;
}

export const CUSTOM_STATUS_TEXT_MAX = 64;
export const CUSTOM_STATUS_EMOJI_MAX = 16;
export const CUSTOM_STATUS_EXPIRY_MIN = 60;
export const CUSTOM_STATUS_EXPIRY_MAX = 2_592_000;

/** SPEC §10: the user's own setting, unless NOT_SET (or absent, as in events logged before it existed): the app's default. */
export function effectivePresenceVisibility(own: PresenceVisibility | undefined, appDefault: EffectivePresenceVisibility | undefined): EffectivePresenceVisibility {
  return own && own !== 'NOT_SET' ? own : (appDefault ?? 'EVERYONE');
}

/** Whether a watcher (not the user itself) may see the user's presence and custom status. */
export function maySeePresence(effective: EffectivePresenceVisibility, watcherIsFriend: boolean): boolean {
  return effective === 'EVERYONE' || (effective === 'FRIENDS_ONLY' && watcherIsFriend);
}

/** A status set with an expiry that has passed is no status, even before the sweep cleared it. */
export function liveCustomStatus(status: CustomStatusJson | null | undefined, now: Date): CustomStatusJson | null {
  if (!status) return null;
  if (status.expiresAt !== null && Date.parse(status.expiresAt) <= now.getTime()) return null;
  return status;
}

// C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional embeddings,
// overrides and isolates (they let a status reorder the text shown around it)
const TEXT_FORBIDDEN = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;
const ONLY_SPACE = /^[\p{White_Space}\u200B-\u200D\u2060\uFEFF\u3164\u115F\u1160\u2800]*$/u;

/**
 * What counts as emoji: code points that are pictographs (Extended_Pictographic, which includes ©
 * ® ™ and the like), or the parts emoji sequences are built of (Emoji_Component: regional
 * indicators for flags, skin tones, ZWJ, VS16, the keycap mark, tag characters, and the digits, #
 * and * that keycaps start with), plus VS15. Something pictographic must be there: a regional
 * indicator, a pictograph or a keycap, so "12" or a lone ZWJ is refused.
 */
const EMOJI_PART = /^[\p{Extended_Pictographic}\p{Emoji_Component}\uFE0E]$/u;
const EMOJI_ANCHOR = /[\p{Extended_Pictographic}\p{Regional_Indicator}\u20E3]/u;

export interface CustomStatusInput {
  text: string;
  emoji: string | null;
  /** seconds; null: until cleared */
  expiresInSeconds: number | null;
}

/** Checks a custom status (SPEC §10); throws BAD_USER_INPUT naming the argument. Lengths are code points. */
export function checkCustomStatus(input: { text: string; emoji?: string | null; expiresInSeconds?: number | null }): CustomStatusInput {
  const { text } = input;
  const emoji = input.emoji ?? null;
  const expiresInSeconds = input.expiresInSeconds ?? null;
  if (!text.isWellFormed()) throw badInput('text contains an unpaired surrogate', { fields: ['text'] });
  const length = codePointLength(text);
  if (length < 1 || length > CUSTOM_STATUS_TEXT_MAX) throw badInput(`text must be 1 to ${CUSTOM_STATUS_TEXT_MAX} characters; got ${length}`, { fields: ['text'] });
  if (TEXT_FORBIDDEN.test(text)) throw badInput('text contains a control character (line breaks, tabs and direction overrides are not allowed)', { fields: ['text'] });
  if (ONLY_SPACE.test(text)) throw badInput('text must not be blank', { fields: ['text'] });
  if (emoji !== null) {
    if (!emoji.isWellFormed()) throw badInput('emoji contains an unpaired surrogate', { fields: ['emoji'] });
    const n = codePointLength(emoji);
    if (n < 1 || n > CUSTOM_STATUS_EMOJI_MAX) throw badInput(`emoji must be 1 to ${CUSTOM_STATUS_EMOJI_MAX} characters (omit it for none); got ${n}`, { fields: ['emoji'] });
    if (![...emoji].every((c) => EMOJI_PART.test(c)) || !EMOJI_ANCHOR.test(emoji)) throw badInput('emoji must be emoji only (pictographs, flags, keycaps and their modifiers)', { fields: ['emoji'] });
  }
  if (expiresInSeconds !== null && (expiresInSeconds < CUSTOM_STATUS_EXPIRY_MIN || expiresInSeconds > CUSTOM_STATUS_EXPIRY_MAX)) {
    throw badInput(`expiresInSeconds must be between ${CUSTOM_STATUS_EXPIRY_MIN} and ${CUSTOM_STATUS_EXPIRY_MAX}, or null for no expiry; got ${expiresInSeconds}`, { fields: ['expiresInSeconds'] });
  }
  return { text, emoji, expiresInSeconds };
}
