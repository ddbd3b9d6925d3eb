import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { AppRow, Database, ExtProfileKeyRow, UserRow } from '../db/database.ts';
import type { ChangeOrigin, DomainEvent } from '../events/bus.ts';
import type { LoggedEvent } from '../events/repository.ts';
import type { AppConfigCache } from '../apps/config-cache.ts';
import { friendIdsOf, friendsOfEach } from '../friends/repository.ts';
import type { ProfileView } from '../profiles/view.ts';
import type { RealtimeMessage, StatusMessage } from '../realtime/messages.ts';
import { viewsByAudience } from '../visibility/views.ts';
import { effectivePresenceVisibility, liveCustomStatus, maySeePresence } from '../presence/rules.ts';
import { subscribersOf, subscribersOfEach, type Subscriber } from './repository.ts';

/** WebSocket close code for connections whose credentials stopped being valid. */
export const CLOSE_FORBIDDEN = 4403;

/** One message for one user (all of that user's connections). */
export interface Addressed {
  appKey: string;
  userId: string;
  message: RealtimeMessage;
}

/** Which receivers a caller wants messages built for (e.g. those connected to this instance). */
export type ReceiverFilter = (appKey: string, userId: string) => boolean;
/** Whether any receiver in the app could be wanted: when not, a change costs no lookup at all. */
export type AppFilter = (appKey: string) => boolean;

/**
 * Who receives what (SPEC §6): one logged change becomes one message per receiver, cut to what
 * that receiver may see. Per change: one indexed lookup of subscribers, one of friends, and one
 * profile view per receiver class (self / friend / other), never a query or a visibility decision
 * per receiver. Only receivers that `wanted` accepts get a message built.
 */
export class Audiences {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly appConfig: AppConfigCache,
    /** names each change uniquely across instances (see StatusMessage.shared) */
    private readonly changeIdPrefix: string,
  ) {}

  async messagesFor(logged: LoggedEvent, wanted: ReceiverFilter, wantedApp: AppFilter = () => true): Promise<Addressed[]> {
    const { event } = logged;
    if (!wantedApp(logged.appKey)) return [];
    const mark = { position: logged.position, occurredAt: logged.occurredAt.toISOString() };
    if (logged.direct) {
      if (!wanted(logged.appKey, logged.userId)) return [];
      const message = directMessage(event, mark);
      return message ? [{ appKey: logged.appKey, userId: logged.userId, message }] : [];
    }
    const changeId = `${this.changeIdPrefix}:${logged.position.x}:${logged.position.p}`;
    switch (event.type) {
      case 'profileChanged':
        return this.profileChanged(event, changeId, mark, wanted);
      case 'profilesChanged':
        return this.profilesChanged(event, changeId, mark, wanted);
      case 'presenceChanged':
        return this.presenceChanged(event, changeId, mark, wanted);
      default:
        return [];
    }
  }

  private async profileChanged(event: Extract<DomainEvent, { type: 'profileChanged' }>, changeId: string, mark: Mark, wanted: ReceiverFilter): Promise<Addressed[]> {
    const { appKey } = event;
    const profile = event.profile;
    const [app, extKeys, subscribers, friends] = await Promise.all([
      this.appConfig.app(appKey),
      this.appConfig.extKeys(appKey),
      subscribersOf(this.db, appKey, profile.userId, 'USER_PROFILE', this.clock.now()),
      friendIdsOf(this.db, appKey, profile.userId),
    ]);
    if (!app) return [];
    return profileMessages({ app, extKeys, profile, origin: event.origin, subscribers, friends, changeId, mark, wanted });
  }

  /**
   * Several profiles changed at once: the messages of one `profileChanged` for each, with two
   * lookups for all of them (their subscribers, their friends) instead of two per profile. A
   * receiver that gets several messages from this one log row gets all but its last marked
   * `continued`, so that a cursor from them resumes at this row, not past it.
   */
  private async profilesChanged(event: Extract<DomainEvent, { type: 'profilesChanged' }>, changeId: string, mark: Mark, wanted: ReceiverFilter): Promise<Addressed[]> {
    const { appKey } = event;
    const [app, extKeys, subscribers, friends] = await Promise.all([
      this.appConfig.app(appKey),
      this.appConfig.extKeys(appKey),
      subscribersOfEach(this.db, appKey, event.userIds, 'USER_PROFILE', this.clock.now()),
      friendsOfEach(this.db, appKey, event.userIds),
    ]);
    if (!app) return [];
    const statuses: Addressed[] = [];
    const own: Addressed[] = [];
    for (const profile of event.profiles) {
      const id = `${changeId}:${profile.userId}`;
      for (const a of profileMessages({ app, extKeys, profile, origin: event.origin, subscribers: subscribers.get(profile.userId) ?? [], friends: friends.get(profile.userId) ?? [], changeId: id, mark, wanted })) {
        (a.message.kind === 'ownProfile' ? own : statuses).push(a);
      }
    }
    // statuses first and each receiver's own profile last: only a status can be `continued`
    const out = [...statuses, ...own];
    const last = new Map<string, number>();
    out.forEach((a, i) => last.set(a.userId, i));
    return out.map((a, i) => (a.message.kind === 'status' && last.get(a.userId) !== i && !a.message.continued ? { ...a, message: { ...a.message, continued: true } } : a));
  }

  /**
   * A presence change reaches the subject's ONLINE_STATUS subscribers and friends that may see the
   * subject's presence (SPEC §10: its visibility setting, carried in the event, else the app's
   * default); a watcher that may not sees no activity at all, not even "still offline". A change
   * of the visibility setting reaches only the watchers whose view flips: those who lose sight get
   * the never-connected view, those who gain it the real one.
   */
  private async presenceChanged(event: Extract<DomainEvent, { type: 'presenceChanged' }>, changeId: string, mark: Mark, wanted: ReceiverFilter): Promise<Addressed[]> {
    const { appKey } = event;
    const app = await this.appConfig.app(appKey);
    const visibility = effectivePresenceVisibility(event.visibility, app?.defaultPresenceVisibility);
    const flip = event.cause === 'visibility';
    const before = flip ? effectivePresenceVisibility(event.previousVisibility, app?.defaultPresenceVisibility) : visibility;
    if (!flip && visibility === 'INVISIBLE') return [];
    const customStatus = liveCustomStatus(event.customStatus, this.clock.now());
    // a user never seen online and without a status looks the same hidden or not: a flip changes nothing
    const nothingToHide = event.details.length === 0 && customStatus === null;
    // a friendship made or ended: only its watchers' view of a FRIENDS_ONLY user changed (as of now)
    const friendship = event.cause === 'friendship';
    if (friendship && (visibility !== 'FRIENDS_ONLY' || nothingToHide)) return [];
    const watchers = friendship ? new Set(event.watchers ?? []) : null;
    const viewOf = (isFriend: boolean): 'shown' | 'hidden' | null => {
      const sees = maySeePresence(visibility, isFriend);
      if (friendship) return sees ? 'shown' : 'hidden';
      if (!flip) return sees ? 'shown' : null;
      if (sees === maySeePresence(before, isFriend) || nothingToHide) return null;
      return sees ? 'shown' : 'hidden';
    };
    const [subscribers, friends] = await Promise.all([
      subscribersOf(this.db, appKey, event.userId, 'ONLINE_STATUS', this.clock.now()),
      friendIdsOf(this.db, appKey, event.userId),
    ]);
    const base = { subjectId: event.userId, changeTime: event.at, incarnation: event.incarnation, order: event.version, ...mark };
    const shown: Change = { ...base, details: event.details, customStatus };
    const hidden: Change = { ...base, details: [], customStatus: null, hidden: true };
    const friendSet = new Set(friends);
    const out: Addressed[] = [];
    for (const s of subscribers) {
      if (!wanted(appKey, s.subscriberId) || (watchers && !watchers.has(s.subscriberId))) continue;
      const isFriend = friendSet.has(s.subscriberId);
      const view = viewOf(isFriend);
      if (view === null) continue;
      const message = statusMessage(view === 'shown' ? shown : hidden, 'ONLINE_STATUS', s, null, `${changeId}:ONLINE_STATUS${view === 'hidden' ? ':hidden' : ''}`);
      if (isFriend && !friendship) message.continued = true; // its FRIEND_ONLINE_STATUS message follows
      out.push({ appKey, userId: s.subscriberId, message });
    }
    const friendView = friendship ? null : viewOf(true);
    if (friendView !== null) {
      const friendMessage = statusMessage(friendView === 'shown' ? shown : hidden, 'FRIEND_ONLINE_STATUS', null, null, `${changeId}:FRIEND_ONLINE_STATUS${friendView === 'hidden' ? ':hidden' : ''}`);
      for (const friendId of friends) if (wanted(appKey, friendId)) out.push({ appKey, userId: friendId, message: friendMessage });
    }
    return out;
  }
}

/** The messages of one profile's change: its owner's own profile, its subscribers' and friends' statuses. */
function profileMessages(c: {
  app: AppRow;
  extKeys: ExtProfileKeyRow[];
  profile: UserRow;
  origin: ChangeOrigin;
  subscribers: Subscriber[];
  friends: string[];
  changeId: string;
  mark: Mark;
  wanted: ReceiverFilter;
}): Addressed[] {
  const { app, extKeys, profile, subscribers, friends, changeId, mark, wanted } = c;
  const appKey = app.appKey;
  // the profile as it was committed (the log holds it as JSON), cut once per audience
  const views = viewsByAudience(profile, app, extKeys);
  const friendSet = new Set(friends);
  const change: Change = {
    subjectId: profile.userId,
    details: [],
    changeTime: new Date(profile.updatedAt).toISOString(),
    incarnation: new Date(profile.createdAt).getTime(),
    order: profile.version,
    ...mark,
  };
  const out: Addressed[] = [];
  if (wanted(appKey, profile.userId)) out.push({ appKey, userId: profile.userId, message: { kind: 'ownProfile', origin: c.origin, profile: views.self, ...mark } });
  const toFriend = `${changeId}:USER_PROFILE:friend`;
  const toOther = `${changeId}:USER_PROFILE:other`;
  for (const s of subscribers) {
    if (!wanted(appKey, s.subscriberId)) continue;
    const friend = friendSet.has(s.subscriberId);
    const message = statusMessage(change, 'USER_PROFILE', s, friend ? views.friend : views.other, friend ? toFriend : toOther);
    if (friend) message.continued = true; // its FRIEND_USER_PROFILE message follows
    out.push({ appKey, userId: s.subscriberId, message });
  }
  const friendMessage = statusMessage(change, 'FRIEND_USER_PROFILE', null, views.friend, `${changeId}:FRIEND_USER_PROFILE`);
  for (const friendId of friends) if (wanted(appKey, friendId)) out.push({ appKey, userId: friendId, message: friendMessage });
  return out;
}

type Mark = { position: LoggedEvent['position']; occurredAt: string };

/**
 * The message of an event addressed to one user (relation changes, expiry warnings, friend
 * events, closes, the offline status of a removed user): the same live and on replay.
 */
export function directMessage(event: DomainEvent, mark: Mark): RealtimeMessage | null {
  switch (event.type) {
    case 'subscriptionChanged':
      return {
        kind: 'relation',
        origin: event.origin,
        operationType: event.operationType,
        subscribeType: event.subscribeType,
        userIds: event.userIds,
        expiry: event.expiry,
        operationTime: event.at,
        ...mark,
      };
    case 'subscriptionsExpiring':
      return { kind: 'expiring', subscribeType: event.subscribeType, userIds: event.userIds, expiresAt: event.expiresAt, ...mark };
    case 'friendEvent':
      return { kind: 'friend', event: event.event, ...mark };
    case 'tokensRevoked':
      if (event.issuedBeforeMs !== undefined) return { kind: 'close', code: CLOSE_FORBIDDEN, reason: 'token revoked', issuedBeforeMs: event.issuedBeforeMs };
      return { kind: 'close', code: CLOSE_FORBIDDEN, reason: 'token revoked', belowGeneration: event.generation };
    case 'userRemoved':
      return { kind: 'close', code: CLOSE_FORBIDDEN, reason: 'user removed' };
    case 'watchedUserGone':
      return {
        kind: 'status',
        subjectId: event.subjectId,
        subscribeType: event.subscribeType,
        subscribeTime: event.subscribeTime,
        expiry: event.expiry,
        expiresAt: event.expiresAt,
        details: event.details,
        profile: null,
        changeTime: event.at,
        incarnation: event.incarnation,
        order: event.version,
        position: mark.position,
        occurredAt: mark.occurredAt,
      };
    default:
      return null;
  }
}

/** What every receiver of one change shares. */
interface Change extends Mark {
  subjectId: string;
  details: StatusMessage['details'];
  customStatus?: StatusMessage['customStatus'];
  hidden?: boolean;
  changeTime: string;
  incarnation: number;
  order: number;
}

/** One receiver's message (built thousands of times per change: one literal, one shape). */
function statusMessage(change: Change, subscribeType: StatusMessage['subscribeType'], subscription: Subscriber | null, profile: ProfileView | null, shared: string): StatusMessage {
  return {
    kind: 'status',
    subjectId: change.subjectId,
    subscribeType,
    subscribeTime: subscription ? subscription.subscribedAtMs : null,
    expiry: subscription ? subscription.expiry : null,
    expiresAt: subscription ? subscription.expiresAtMs : null,
    details: change.details,
    profile,
    customStatus: change.customStatus ?? null,
    hidden: change.hidden === true,
    changeTime: change.changeTime,
    incarnation: change.incarnation,
    order: change.order,
    shared,
    continued: false,
    position: change.position,
    occurredAt: change.occurredAt,
  };
}
