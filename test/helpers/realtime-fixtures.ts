import { expect } from 'vitest';
import { sql } from 'kysely';
import type { GraphQLClient } from './client.ts';
import { ALL_FIELDS, type ProfileJson } from './profiles.ts';
import type { TestApp, TestServer } from './server.ts';
import { connectLive, type LiveClient, type LiveSubscription } from './ws.ts';

export type SubscribeTypeName = 'ONLINE_STATUS' | 'USER_PROFILE' | 'FRIEND_ONLINE_STATUS' | 'FRIEND_USER_PROFILE';

export interface StatusChangeJson {
  __typename: 'UserStatusChange';
  userId: string;
  subscribeType: SubscribeTypeName;
  subscribeTime: string | null;
  expiry: number | null;
  details: { platform: string; online: boolean; changeTime: string }[];
  userProfile: ProfileJson | null;
  changeTime: string;
}
export interface SyncFinishedJson {
  __typename: 'SubscribedUserStatusSyncFinished';
  subscribeType: SubscribeTypeName;
}
export type StatusEventJson = StatusChangeJson | SyncFinishedJson;

export const STATUS_SUBSCRIPTION = `subscription($types: [SubscribeType!]) { subscribedUserStatusChange(types: $types) {
  __typename
  ... on UserStatusChange { userId subscribeType subscribeTime expiry details { platform online changeTime } userProfile { ${ALL_FIELDS} } changeTime }
  ... on SubscribedUserStatusSyncFinished { subscribeType }
} }`;
export const RELATION_SUBSCRIPTION = 'subscription { subscribedRelationChange { operationType subscribeType userIds expiry operationTime } }';
export const OWN_PROFILE_SUBSCRIPTION = `subscription { ownUserProfileChanged { ${ALL_FIELDS} } }`;

export const SUBSCRIBE = 'mutation($t: SubscribeType!, $ids: [ID!]!, $e: Int!) { subscribeUserStatus(type: $t, userIds: $ids, expiry: $e) { failedUserIds } }';
export const UNSUBSCRIBE = 'mutation($t: SubscribeType!, $ids: [ID!]!) { unsubscribeUserStatus(type: $t, userIds: $ids) }';
export const SUBSCRIBED_USERS =
  'query($t: SubscribeType!, $n: Int, $s: Int) { subscribedUsers(type: $t, pageSize: $n, startIndex: $s) { items { userId subscribeType subscribeTime expiry expiresAt } totalCount } }';
export const SUBSCRIBED_STATUS = `query($t: SubscribeType!, $ids: [ID!]!) { subscribedUserStatus(type: $t, userIds: $ids) {
  userId subscribeType subscribeTime expiry details { platform online changeTime } userProfile { ${ALL_FIELDS} } changeTime } }`;

/** The events of a status subscription, unwrapped. */
export function statusEvents(sub: LiveSubscription<any>): StatusEventJson[] {
  return sub.events.map((e) => e.subscribedUserStatusChange as StatusEventJson);
}

export async function subscribe(client: GraphQLClient, type: SubscribeTypeName, ids: string[], expiry = 3600): Promise<string[]> {
  return (await client.ok<{ subscribeUserStatus: { failedUserIds: string[] } }>(SUBSCRIBE, { t: type, ids, e: expiry })).subscribeUserStatus.failedUserIds;
}

export async function subscribedUsers(client: GraphQLClient, type: SubscribeTypeName, pageSize = 200, startIndex = 0) {
  return (
    await client.ok<{
      subscribedUsers: { items: { userId: string; subscribeType: string; subscribeTime: string; expiry: number; expiresAt: string }[]; totalCount: number };
    }>(SUBSCRIBED_USERS, { t: type, n: pageSize, s: startIndex })
  ).subscribedUsers;
}

/** Issues a token for the user and opens a graphql-ws connection (waits for connection_ack). */
export async function goLive(
  server: TestServer,
  app: TestApp,
  userId: string,
  options: { platform?: string; deviceId?: string } = {},
): Promise<LiveClient & { token: string }> {
  const { token } = await app.user(userId);
  const live = connectLive(server.url, { authToken: token, platform: options.platform ?? 'WEB', ...(options.deviceId ? { deviceId: options.deviceId } : {}) });
  await live.connected;
  return Object.assign(live, { token });
}

/** Opens a status stream and waits until the sync of every requested type finished. */
export async function statusStream(live: LiveClient, types: SubscribeTypeName[] | null): Promise<LiveSubscription<any>> {
  const sub = live.subscribe(STATUS_SUBSCRIPTION, { types });
  const expected = types ?? ['ONLINE_STATUS', 'USER_PROFILE', 'FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE'];
  await waitUntil(sub, () => statusEvents(sub).filter((e) => e.__typename === 'SubscribedUserStatusSyncFinished').length >= expected.length);
  return sub;
}

/**
 * Opens a subscription whose first event cannot be awaited (relation / own profile changes).
 * graphql-ws acknowledges no single operation, so tests prime such streams with an event that
 * reaches every connection and wait for it (`waitUntil`) before relying on them.
 */
export function openStream(live: LiveClient, query: string): LiveSubscription<any> {
  return live.subscribe(query);
}

/** Polls until `done()` holds (≥5 s by default; the machine is shared). */
export async function waitUntil(sub: LiveSubscription<any> | null, done: () => boolean, timeoutMs = 8000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (sub?.errors.length) throw new Error(`subscription error: ${JSON.stringify(sub.errors)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${sub ? `; events: ${JSON.stringify(sub.events)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every fan-out handed over so far was published; then nothing more may arrive within the quiet period. */
export async function expectNothingMore(server: TestServer, subs: LiveSubscription<any>[], ms = 300): Promise<void> {
  await server.app.realtime.drain();
  const before = subs.map((s) => s.events.length);
  await new Promise((r) => setTimeout(r, ms));
  subs.forEach((s, i) => expect(s.events.slice(before[i]!), 'no further events expected').toEqual([]));
  for (const s of subs) expect(s.errors).toEqual([]);
}

/** Open presence connections of a user, as stored (the server's view). */
export async function storedConnections(server: TestServer, appKey: string, userId: string): Promise<number> {
  const { n } = await server.app.services.db
    .selectFrom('presenceConnections')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('appKey', '=', appKey)
    .where('userId', '=', userId)
    .executeTakeFirstOrThrow();
  return n;
}

/** Closes a live client and waits until the server took the connection out of presence. */
export async function closeLive(server: TestServer, appKey: string, userId: string, live: LiveClient): Promise<void> {
  const before = await storedConnections(server, appKey, userId);
  await live.dispose();
  const deadline = Date.now() + 8000;
  while ((await storedConnections(server, appKey, userId)) >= before) {
    if (Date.now() > deadline) throw new Error(`connection of ${userId} not removed`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A users row as the backend would have created it (no profile fields set); token generation 0. */
export function newUserRow(appKey: string, userId: string, now: Date) {
  return {
    appKey,
    userId,
    ext: '{}',
    visibility: 'NOT_SET' as const,
    friendAddPermission: 'NOT_SET' as const,
    version: 1,
    tokenGeneration: 0,
    createdAt: now,
    updatedAt: now,
  };
}

/** Inserts users directly (bulk), as the backend would have created them. */
export async function seedUsers(server: TestServer, appKey: string, userIds: string[]): Promise<void> {
  const now = server.clock.now();
  const db = server.app.services.db;
  for (let i = 0; i < userIds.length; i += 1000) {
    await db
      .insertInto('users')
      .values(userIds.slice(i, i + 1000).map((userId) => newUserRow(appKey, userId, now)))
      .execute();
  }
  await afterLongDatabaseWork();
}

/** Inserts subscription rows directly: every subscriber subscribes to `targetId` with `type`. */
export async function seedSubscriptions(
  server: TestServer,
  appKey: string,
  subscriberIds: string[],
  targetId: string,
  type: 'ONLINE_STATUS' | 'USER_PROFILE',
  expiry = 3600,
): Promise<void> {
  const now = server.clock.now();
  const expiresAt = new Date(now.getTime() + expiry * 1000);
  for (let i = 0; i < subscriberIds.length; i += 1000) {
    await server.app.services.db
      .insertInto('statusSubscriptions')
      .values(subscriberIds.slice(i, i + 1000).map((subscriberId) => ({ appKey, subscriberId, targetId, type, subscribedAt: now, expiry, expiresAt })))
      .execute();
  }
  await afterLongDatabaseWork();
}

/**
 * The embedded database runs in this process and blocks its event loop during bulk writes; an HTTP
 * keep-alive socket that idled past the server's timeout meanwhile is closed by the server as soon
 * as the loop turns. Letting the loop turn before the next request keeps fetch from picking that
 * socket (which fails with ECONNRESET).
 */
async function afterLongDatabaseWork(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
}

/** A token for a seeded user (generation 0), signed by the server's own token service. */
export async function seededToken(server: TestServer, appKey: string, userId: string): Promise<string> {
  return (await server.app.services.tokens.issue({ appKey, userId, generation: 0 }, 86_400)).token;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
