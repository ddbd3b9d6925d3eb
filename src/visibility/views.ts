import type { AppRow, UserRow } from '../db/database.ts';
import { profileView, type ProfileView } from '../profiles/view.ts';
import { accessFor, effectiveVisibility } from './rule.ts';

/** The three cuts of one profile: for its owner, for a friend, for anyone else in the app (SPEC §3). */
export function viewsByAudience(profile: UserRow, app: AppRow, extKeys: Parameters<typeof profileView>[2]): { self: ProfileView; friend: ProfileView; other: ProfileView } {
  const effective = effectiveVisibility(profile.visibility, app.defaultProfileVisibility);
  const cut = (audience: 'self' | 'friend' | 'stranger') => profileView(profile, accessFor(effective, audience), extKeys);
  const friend = cut('friend');
  const other = cut('stranger');
  return { self: cut('self'), friend, other: other.restricted === friend.restricted ? friend : other };
}
