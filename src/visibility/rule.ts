import type { ProfileVisibility } from '../db/database.ts';

/** How the viewer relates to the profile's owner. `backend` is the app's own server (Basic auth). */
export type Audience = 'self' | 'friend' | 'stranger' | 'backend';

/** What the viewer may see: everything, or only userId, name and portraitUri. */
export type Access = 'full' | 'basic';

export function effectiveVisibility(own: ProfileVisibility, appDefault: Exclude<ProfileVisibility, 'NOT_SET'>) {
  return own === 'NOT_SET' ? appDefault : own;
}

/** SPEC §3, the whole table. */
export function accessFor(effective: Exclude<ProfileVisibility, 'NOT_SET'>, audience: Audience): Access {
  if (audience === 'self' || audience === 'backend') return 'full';
  switch (effective) {
    case 'EVERYONE':
      return 'full';
    case 'FRIENDS_ONLY':
      return audience === 'friend' ? 'full' : 'basic';
    case 'INVISIBLE':
      return 'basic';
  }
}

/** Whether deciding needs to know if the viewer is a friend (saves the friendship lookup otherwise). */
export function needsFriendship(effective: Exclude<ProfileVisibility, 'NOT_SET'>): boolean {
  return effective === 'FRIENDS_ONLY';
}
