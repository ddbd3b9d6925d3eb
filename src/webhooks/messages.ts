import type { WebhookKind } from '../db/database.ts';
import type { DomainEvent } from '../events/bus.ts';
import { extKeyOf, isExtOverrideKey, overridesOf, type ProfileFieldName } from '../visibility/rule.ts';
import { PROFILE_FIELD_ENUM } from '../visibility/service.ts';

/**
 * What a webhook receives for one event of the log: the body's `type` is the kind in lower-case
 * dotted form (Standard Webhooks' convention, `profile.changed`), `timestamp` when the change
 * happened, `data` what changed. `subject` is the user whose deliveries keep their order ('' for
 * a change of several users at once).
 */
export interface WebhookMessage {
  kind: WebhookKind;
  subject: string;
  data: Record<string, unknown>;
  at: string;
}

export const WEBHOOK_TYPES: Record<WebhookKind, string> = {
  PROFILE_CHANGED: 'profile.changed',
  PRESENCE_CHANGED: 'presence.changed',
  FRIEND_EVENT: 'friend.event',
  SUBSCRIPTION_CHANGED: 'subscription.changed',
  USERS_CLEANED: 'users.cleaned',
  PING: 'ping',
};

export function webhookBody(message: WebhookMessage): string {
  return JSON.stringify({ type: WEBHOOK_TYPES[message.kind], timestamp: message.at, data: message.data });
}

type StoredProfile = Extract<DomainEvent, { type: 'profileChanged' }>['profile'];

/** A profile as the app backend reads it: every field, every ext entry (in key order). */
function backendProfile(row: StoredProfile): Record<string, unknown> {
  const ext = (typeof row.ext === 'string' ? JSON.parse(row.ext) : (row.ext ?? {})) as Record<string, string>;
  return {
    userId: row.userId,
    name: row.name,
    portraitUri: row.portraitUri,
    uniqueId: row.uniqueId,
    email: row.email,
    birthday: row.birthday,
    gender: row.gender,
    location: row.location,
    role: row.role,
    level: row.level,
    userExtProfile: Object.keys(ext)
      .sort()
      .map((key) => ({ key, value: ext[key]! })),
    version: row.version,
    updatedAt: new Date(row.updatedAt).toISOString(),
    // the owner's privacy choices: the backend sees through them, and may want to honour them
    visibility: row.visibility,
    fieldVisibility: Object.entries(overridesOf(row))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, visibility]) => (isExtOverrideKey(key) ? { field: null, extKey: extKeyOf(key), visibility } : { field: PROFILE_FIELD_ENUM[key as ProfileFieldName] ?? key, extKey: null, visibility })),
  };
}

/** The webhook messages of one logged event (none for the kinds no webhook receives). */
export function messagesOf(event: DomainEvent): WebhookMessage[] {
  const { appKey } = event;
  switch (event.type) {
    case 'profileChanged':
      return [{ kind: 'PROFILE_CHANGED', subject: event.userId, at: event.at, data: { appKey, userId: event.userId, profile: backendProfile(event.profile) } }];
    case 'profilesChanged':
      return event.profiles.map((profile) => ({ kind: 'PROFILE_CHANGED', subject: profile.userId, at: event.at, data: { appKey, userId: profile.userId, profile: backendProfile(profile) } }));
    case 'presenceChanged':
      return [
        {
          kind: 'PRESENCE_CHANGED',
          subject: event.userId,
          at: event.at,
          data: {
            appKey,
            userId: event.userId,
            details: event.details,
            // what changed: a platform's connection, or the user's presence visibility, custom status or a friendship (SPEC §10)
            cause: event.cause ?? 'connection',
            presenceVisibility: event.visibility ?? 'NOT_SET',
            customStatus: event.customStatus ?? null,
          },
        },
      ];
    case 'friendEvent':
      return [{ kind: 'FRIEND_EVENT', subject: event.receiverId, at: event.at, data: { appKey, userId: event.receiverId, event: event.event } }];
    case 'subscriptionChanged':
      return [
        {
          kind: 'SUBSCRIPTION_CHANGED',
          subject: event.userId,
          at: event.at,
          data: {
            appKey,
            userId: event.userId,
            event: { operationType: event.operationType, subscribeType: event.subscribeType, userIds: event.userIds, expiry: event.expiry, operationTime: event.at },
          },
        },
      ];
    case 'usersCleaned':
      return [{ kind: 'USERS_CLEANED', subject: '', at: event.at, data: { appKey, userIds: event.userIds } }];
    default:
      return [];
  }
}
