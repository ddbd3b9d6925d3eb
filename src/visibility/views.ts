import type { AppRow, UserRow } from '../db/database.ts';
import { profileView, type ProfileView } from '../profiles/view.ts';
import { needsFriendship } from './rule.ts';

/**
 * The three cuts of one profile: for its owner, for a friend, for anyone else in the app (SPEC §3,
 * field by field as §10 says). With nothing FRIENDS_ONLY a friend sees what anyone sees: one cut
 * serves both.
 */
export function viewsByAudience(profile: UserRow, app: AppRow, extKeys: Parameters<typeof profileView>[3]): { self: ProfileView; friend: ProfileView; other: ProfileView } {
  const appDefault = app.defaultProfileVisibility;
  const friend = profileView(profile, 'friend', appDefault, extKeys);
  const other = needsFriendship(profile, appDefault) ? profileView(profile, 'stranger', appDefault, extKeys) : friend;
  return { self: profileView(profile, 'self', appDefault, extKeys), friend, other };
}
