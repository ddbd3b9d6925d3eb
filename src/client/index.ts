/**
 * Client SDK of the profile hosting server, with RongIMLib's method and event names:
 *
 *   import { createProfileClient, Events, SubscribeType } from 'profile-hosting-server/client';
 *   const im = createProfileClient({ url: 'https://host/graphql', token, platform: Platform.WEB });
 *   im.addEventListener(Events.SUBSCRIBED_USER_STATUS_CHANGE, (events) => console.log(events));
 *   await im.connect();
 *   const res = await im.getMyUserProfile(); // { code: 0, data: { userId, name, … } }
 *
 * Queries and mutations go over HTTP (fetch) with `Authorization: Bearer <token>` and
 * `X-Device-Id`, so that the server leaves this device out of its own "other devices" events.
 * Events come over one graphql-ws connection (`connection_init` = `{ authToken, platform,
 * deviceId }`) as one resumable stream, `userEvents(after:)`. The connection reconnects by itself
 * (each wait random in [0, min(30 s, 0.5 s · 2^retries)], see reconnectDelay; after a 1013 close
 * with `retry after <N> ms`, N to 2N) and resumes the stream after the cursor of the last event
 * handed to the listeners, so the events missed while it was down arrive after the reconnect,
 * each once (status changes coalesced to the latest status per user and type), and then
 * SYNC_SUBSCRIBED_USER_STATUS_FINISHED fires again for every type. When the server no longer
 * keeps events that old (CURSOR_EXPIRED) the client starts fresh by itself: the app gets the
 * full status snapshot again, as after a first connect (see CursorStore).
 *
 * Every method resolves to `{ code: 0, data }`; a failure rejects with a ProfileClientError
 * whose `code` is RongCloud's number where there is one (see ErrorCode), or, with
 * `errors: 'resolve'`, resolves to `{ code, msg, errorKeys }` as RongIMLib does.
 */
import { createClient, type Client as WsClient } from 'graphql-ws';
import {
  applicationStatuses,
  applicationTypes,
  DirectionType,
  FriendAddPermission,
  FriendApplicationStatus,
  FriendApplicationType,
  FriendRelationType,
  friendAddPermissions,
  QueryFriendsDirectionType,
  Gender,
  Platform,
  platforms,
  ProfileField,
  PresenceVisibility,
  presenceVisibilities,
  SubscribeType,
  subscribeTypes,
  UserProfileVisibility,
  visibilities,
} from './enums.ts';
import { reconnectDelay, retryAfterMs, shedDelay } from './backoff.ts';
import { TokenSource } from './token-source.ts';
import { ErrorCode, ProfileClientError, type GraphQLErrorLike } from './errors.ts';
import * as ops from './generated/graphql.ts';
import type { TypedDocumentString } from './generated/graphql.ts';
import {
  ms,
  toApplicationInfo,
  toFieldVisibility,
  toFieldVisibilityInput,
  toFriendEvent,
  toProfile,
  toCustomStatus,
  toProfileInput,
  toSubscribeEvents,
  toSubscribeInfoEvent,
  type IFriendAdd,
  type IFriendApplicationInfo,
  type IFriendApplicationStatusChange,
  type IFriendDelete,
  type IFriendInfo,
  type IFriendRelationInfo,
  type ICustomStatus,
  type ISubscribeEventRequest,
  type IFieldVisibility,
  type IUserProfileInfo,
  type IUserProfileInput,
  type SubscribeEvent,
  type SubscribeInfoEvent,
} from './shapes.ts';

export * from './backoff.ts';
export * from './enums.ts';
export * from './errors.ts';
export type * from './shapes.ts';
/** the typed documents and GraphQL types generated from src/client/operations/*.graphql */
export * as operations from './generated/graphql.ts';

/** RongIMLib's event names (and the connection events this SDK adds). */
export const Events = {
  /** SubscribeInfoEvent[]: statuses or profiles of users I subscribe to (or befriended, for the FRIEND_* types) */
  SUBSCRIBED_USER_STATUS_CHANGE: 'SUBSCRIBED_USER_STATUS_CHANGE',
  /** SubscribeType: the sync of that type after (re)connecting is complete */
  SYNC_SUBSCRIBED_USER_STATUS_FINISHED: 'SYNC_SUBSCRIBED_USER_STATUS_FINISHED',
  /** SubscribeEvent[]: (un)subscriptions made on my other devices */
  SUBSCRIBED_RELATION_CHANGE: 'SUBSCRIBED_RELATION_CHANGE',
  /** IUserProfileInfo: my profile, changed on another device or by the app backend */
  OWN_USER_PROFILE_CHANGED: 'OWN_USER_PROFILE_CHANGED',
  /** IFriendAdd */
  FRIEND_ADDED: 'FRIEND_ADDED',
  /** IFriendDelete */
  FRIEND_DELETE: 'FRIEND_DELETE',
  /** IFriendApplicationStatusChange */
  FRIEND_APPLICATION_STATUS_CHANGED: 'FRIEND_APPLICATION_STATUS_CHANGED',
  /** RongCloud's "all friends cleared by the server" (a timestamp): never fired here, listening is harmless */
  FRIEND_CLEARED: 'FRIEND_CLEARED',
  /** RongCloud's friend remark/ext change on my other devices: never fired here, listening is harmless */
  FRIEND_INFO_CHANGED_SYNC: 'FRIEND_INFO_CHANGED_SYNC',
  /** SubscriptionsExpiring: some of my subscriptions of one type expire soon (this server's own event, SPEC §11) */
  SUBSCRIPTIONS_EXPIRING: 'SUBSCRIPTIONS_EXPIRING',
  /** SubscriptionsRenewFailed: autoRenewSubscriptions could not renew these subscriptions */
  SUBSCRIPTION_RENEW_FAILED: 'SUBSCRIPTION_RENEW_FAILED',
  /** the socket is being opened (first time or again) */
  CONNECTING: 'CONNECTING',
  /** the server acknowledged the connection (first time or after a reconnect) */
  CONNECTED: 'CONNECTED',
  /** { code, reason, willReconnect }: the socket closed */
  DISCONNECT: 'DISCONNECT',
} as const;
export type EventName = (typeof Events)[keyof typeof Events];

export interface DisconnectInfo {
  /** WebSocket close code (4403: token refused or revoked; 4400: bad connection parameters) */
  code: number;
  reason: string;
  /** false when the client gave up (refused credentials, or disconnect() was called) */
  willReconnect: boolean;
}

/** Sent once per subscription and expiry, SUBSCRIPTION_EXPIRY_WARNING_SECONDS (default 1 h; half the expiry for shorter ones) before it. */
export interface SubscriptionsExpiring {
  subscribeType: SubscribeType;
  /** those expiring within the same minute */
  userIds: string[];
  /** Unix ms: the earliest of their expiries */
  expiresAt: number;
}

export interface SubscriptionsRenewFailed {
  subscribeType: SubscribeType;
  userIds: string[];
  /** RongCloud's code: 26021 when the targets have 5000 subscribers, 26022 when I hold 1000, else the call's error */
  code: number;
}

export interface EventPayloads {
  SUBSCRIBED_USER_STATUS_CHANGE: SubscribeInfoEvent[];
  SYNC_SUBSCRIBED_USER_STATUS_FINISHED: SubscribeType;
  SUBSCRIBED_RELATION_CHANGE: SubscribeEvent[];
  OWN_USER_PROFILE_CHANGED: IUserProfileInfo;
  FRIEND_ADDED: IFriendAdd;
  FRIEND_DELETE: IFriendDelete;
  FRIEND_APPLICATION_STATUS_CHANGED: IFriendApplicationStatusChange;
  FRIEND_CLEARED: number;
  FRIEND_INFO_CHANGED_SYNC: { userId: string; remark?: string; extProfile?: Record<string, string>; operationTime: number };
  SUBSCRIPTIONS_EXPIRING: SubscriptionsExpiring;
  SUBSCRIPTION_RENEW_FAILED: SubscriptionsRenewFailed;
  CONNECTING: undefined;
  CONNECTED: undefined;
  DISCONNECT: DisconnectInfo;
}
export type Listener<E extends EventName> = (payload: EventPayloads[E]) => void;

/** RongIMLib's IAsyncRes */
export interface IAsyncRes<T = void> {
  code: number;
  data?: T;
  msg?: string;
  /** with `errors: 'resolve'`, the offending fields/keys of a failed call */
  errorKeys?: string[];
}

export interface IPagingQueryOption {
  /** 1–100, default 50 */
  count?: number;
  /** '' or omitted for the first page */
  pageToken?: string;
  /**
   * RongCloud's order: true oldest first, false newest first. getFriends: by when the friendship
   * formed, oldest first when omitted; getFriendApplications: newest first either way (ignored).
   */
  order?: boolean;
}

export interface IPagingQueryResult<T> {
  data: T[];
  /** '' when there is no further page */
  pageToken: string;
}

export interface ProfileClientOptions {
  /** the server's GraphQL endpoint, e.g. https://profiles.example.com/graphql */
  url: string;
  /**
   * The user token (from the app backend's issueUserToken), or a function giving a fresh one.
   * A function's token is kept until shortly before it expires (a tenth of its life, 1–60 s),
   * then asked for again; the event connection reconnects with the new one and resumes its
   * stream before the server would close it (4403 `token expired`). Either this or getToken.
   */
  token?: string | (() => string | Promise<string>);
  /** The app's way to get a fresh user token (usually from its backend): same as a function `token`. */
  getToken?: () => string | Promise<string>;
  /** RongCloud's platform number (or the GraphQL name); default Platform.OTHER */
  platform?: Platform | 'OTHER' | 'IOS' | 'ANDROID' | 'WEB' | 'PC' | 'MINI_PROGRAM' | 'HARMONY_OS';
  /** identifies this device; default a random id */
  deviceId?: string;
  /** WebSocket URL; default `url` with http → ws */
  wsUrl?: string;
  /** default globalThis.fetch */
  fetch?: typeof fetch;
  /** WebSocket class; default globalThis.WebSocket (Node.js before 22: pass `ws`'s) */
  webSocketImpl?: unknown;
  /** 'reject' (default): failures reject with ProfileClientError; 'resolve': they resolve to { code, msg } like RongIMLib */
  errors?: 'reject' | 'resolve';
  /**
   * waits before reconnect attempt `retries` (0-based); default a random wait in
   * [0, min(30 s, 0.5 s · 2^retries)] (reconnectDelay). After a close with 1013 and a reason
   * containing `retry after <N> ms` (a server shedding load), the attempt also waits at least N
   * plus a random jitter of up to N ms, whichever retryWait is in use.
   */
  retryWait?: (retries: number) => Promise<void>;
  /**
   * Where to keep the event stream's resume cursor beyond this client's memory (e.g. localStorage),
   * so that an app restarted within the server's retention (EVENT_RETENTION_SECONDS, default 7
   * days) gets what it missed instead of a fresh status snapshot. Without it the cursor lives in
   * memory only: reconnects of this client (and connect() after disconnect()) still resume.
   * See CursorStore.
   */
  cursorStore?: CursorStore;
  /**
   * On SUBSCRIPTIONS_EXPIRING, subscribe again to those still held and not renewed since (by any
   * device), each with the expiry it had; SUBSCRIPTION_RENEW_FAILED names those it could not renew.
   */
  autoRenewSubscriptions?: boolean;
}

/**
 * The app's storage of the resume cursor (opaque; at most a few hundred characters).
 *
 * - `load()` is called once, at the first connect(); null (or a failure) starts fresh.
 * - `save(cursor)` is called after each event has been handed to the listeners (for the
 *   catch-up after a (re)connect, once, after its last event): keep it cheap and synchronous.
 * - `clear()`, optional, is called when the server refused the stored cursor.
 *
 * A cursor older than the server's retention fails with CURSOR_EXPIRED, and one of another user
 * (say, a cursor stored for another account) with BAD_USER_INPUT: the client then drops it and
 * starts fresh by itself. The app sees what it sees after a first connect: the status of every
 * subscribed user and friend, then SYNC_SUBSCRIBED_USER_STATUS_FINISHED for each type; friend
 * and own-profile events from before are not replayed, so an app that caches those should read
 * them again with queries (getFriends, getFriendApplications, getMyUserProfile) when it sees
 * SYNC_SUBSCRIBED_USER_STATUS_FINISHED without having seen the events it expected.
 */
export interface CursorStore {
  load(): string | null | undefined | Promise<string | null | undefined>;
  save(cursor: string): void;
  clear?(): void;
}

export type ProfileClient = ReturnType<typeof createProfileClient>;

/**
 * Close codes after which the client does not reconnect: the server refused the credentials
 * (4403, e.g. a revoked token) or the parameters (4400), plus those graphql-ws itself never
 * retries (among them 4429: this user has too many connections open). 1013 (Try Again Later, a
 * server shedding load) is retried, after the wait its reason asks for.
 */
const NO_RETRY_CLOSE_CODES = new Set([4400, 4403, 4401, 4004, 4005, 4406, 4409, 4429, 4500]);
/** 1000–1999 codes that graphql-ws retries (the rest of that range it does not) */
const RETRIED_STANDARD_CODES = new Set([1000, 1001, 1005, 1006, 1012, 1013, 1014]);
const isFinalClose = (code: number) => NO_RETRY_CLOSE_CODES.has(code) || (code >= 1000 && code <= 1999 && !RETRIED_STANDARD_CODES.has(code));
/** what connect() rejects with when the server refuses the connection with this close code */
const codeForRefusal = (code: number) =>
  code === 4403 ? ErrorCode.UNAUTHENTICATED : code === 4429 ? ErrorCode.LIMIT_EXCEEDED : code === 4400 ? ErrorCode.INVALID_PARAMETER : ErrorCode.NETWORK_ERROR;

const STATUS_TYPES = ['ONLINE_STATUS', 'USER_PROFILE', 'FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE'] as const;

/** an event of the userEvents stream other than UserEventsCaughtUp */
type StreamEvent = Exclude<ops.OnUserEventsSubscription['userEvents']['event'], { __typename: 'UserEventsCaughtUp' }>;

/** what a (re)started stream delivered before its UserEventsCaughtUp, held until then */
interface CatchUp {
  /** per GraphQL subscribe type, in arrival order */
  statuses: Map<string, SubscribeInfoEvent[]>;
  /** the other events, in arrival order, with when each happened */
  others: { event: StreamEvent; occurredAt: string }[];
}
const newCatchUp = (): CatchUp => ({ statuses: new Map(), others: [] });

function randomId(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const defaultRetryWait = (retries: number): Promise<void> => sleep(reconnectDelay(retries));

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return typeof value === 'object' && value !== null && 'code' in value && typeof (value as { code: unknown }).code === 'number';
}

/** The server closed the socket because its token expired (SPEC §1). */
const isTokenExpiry = (event: unknown) => isCloseEvent(event) && event.code === 4403 && event.reason === 'token expired';

/** `createProfileClient` is RongIMLib's `init`; `connect()` its `connect(token)`. */
export function createProfileClient(options: ProfileClientOptions) {
  if (!options?.url) throw new TypeError('createProfileClient: url is required');
  const given = options.getToken ?? options.token;
  if (!given) throw new TypeError('createProfileClient: token or getToken is required');
  const deviceId = options.deviceId ?? randomId();
  const platform = platforms.toName(options.platform ?? 0);
  const wsUrl = options.wsUrl ?? options.url.replace(/^http/i, 'ws');
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const resolveErrors = options.errors === 'resolve';
  const tokens = new TokenSource(given);

  // --- events --------------------------------------------------------------------------------
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  function emit<E extends EventName>(event: E, payload: EventPayloads[E]): void {
    for (const listener of [...(listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<E>)(payload);
      } catch (error) {
        console.error(`profile client: a ${event} listener threw`, error);
      }
    }
  }

  // --- HTTP ----------------------------------------------------------------------------------
  async function request<R, V>(document: TypedDocumentString<R, V>, variables?: V): Promise<R> {
    const first = await post(document, variables);
    if (first.body.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED' && tokens.refreshable) {
      // the token held was refused (expired, revoked): once more with a fresh one from getToken()
      tokens.invalidate();
      return answer(await post(document, variables));
    }
    return answer(first);
  }

  function answer<R>({ body, status }: { body: { data?: R | null; errors?: GraphQLErrorLike[] }; status: number }): R {
    if (body.errors?.length) throw ProfileClientError.fromGraphQL(body.errors[0]!);
    if (!body.data) throw new ProfileClientError(`HTTP ${status} without data`, { code: ErrorCode.UNKNOWN });
    return body.data;
  }

  async function post<R, V>(document: TypedDocumentString<R, V>, variables?: V): Promise<{ body: { data?: R | null; errors?: GraphQLErrorLike[] }; status: number }> {
    let response: Response;
    try {
      response = await doFetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${await tokens.get()}`,
          'x-device-id': deviceId,
        },
        body: JSON.stringify({ query: document.toString(), variables }),
      });
    } catch (cause) {
      throw new ProfileClientError(`cannot reach ${options.url}: ${(cause as Error)?.message ?? cause}`, { code: ErrorCode.NETWORK_ERROR, cause });
    }
    let body: { data?: R | null; errors?: GraphQLErrorLike[] };
    try {
      body = (await response.json()) as typeof body;
    } catch (cause) {
      throw new ProfileClientError(`HTTP ${response.status} without a GraphQL response`, { code: ErrorCode.NETWORK_ERROR, cause });
    }
    return { body, status: response.status };
  }

  /** Runs one SDK call: { code: 0, data } on success; a failure rejects, or resolves in RongIMLib's style. */
  async function call<T>(work: () => Promise<IAsyncRes<T>>): Promise<IAsyncRes<T>> {
    try {
      return await work();
    } catch (error) {
      const failure =
        error instanceof ProfileClientError
          ? error
          : new ProfileClientError((error as Error)?.message ?? String(error), { code: ErrorCode.UNKNOWN, cause: error });
      if (!resolveErrors) throw failure;
      return { code: failure.code, msg: failure.message, errorKeys: failure.errorKeys };
    }
  }
  const ok = <T>(data: T): IAsyncRes<T> => ({ code: ErrorCode.SUCCESS, data });
  /** converts a value given by the caller, refusing a bad one with 33003 before anything is sent */
  function param<T>(convert: () => T, key: string): T {
    try {
      return convert();
    } catch (error) {
      throw ProfileClientError.invalidParameter((error as Error).message, [key]);
    }
  }
  function onlyBoth(directionType: DirectionType | undefined): void {
    if (directionType !== undefined && directionType !== DirectionType.BOTH) {
      throw ProfileClientError.invalidParameter('friendships are mutual here: only DirectionType.BOTH is supported', ['directionType']);
    }
  }

  // --- real time -----------------------------------------------------------------------------
  // One stream, userEvents(after:), carries every event (SPEC §9). The client keeps the cursor of
  // the last envelope it processed and resumes from it after every reconnect, so what happened
  // while the socket was down arrives once, after the reconnect. Everything the server sends
  // before UserEventsCaughtUp (the status snapshot on a fresh start, the replay on a resume) is
  // held and handed to the listeners only when CaughtUp arrives, and only then does the cursor
  // move: a socket lost half-way through the catch-up drops what was held, and the next resume
  // sends it again, so nothing is lost and nothing comes twice.
  let ws: WsClient | undefined;
  let stop: (() => void) | undefined;
  let connecting: Promise<IAsyncRes<{ userId: string }>> | undefined;
  /** fails the connect() in progress */
  let abortConnect: ((error: unknown) => void) | undefined;
  /** the cursor of the last envelope processed; undefined until loaded from options.cursorStore */
  let lastCursor: string | null | undefined;
  /** what the stream delivered since it (re)started and before its UserEventsCaughtUp */
  let catchUp: CatchUp | undefined;
  /** how many times disconnect() was called (a connect() waiting for cursorStore.load() gives up) */
  let disconnects = 0;

  async function loadCursor(): Promise<string | null> {
    if (!options.cursorStore) return null;
    try {
      const loaded = await options.cursorStore.load();
      return typeof loaded === 'string' && loaded.length > 0 ? loaded : null;
    } catch (error) {
      console.error('profile client: cursorStore.load() failed; starting fresh', error);
      return null;
    }
  }

  function saveCursor(cursor: string | null): void {
    lastCursor = cursor;
    try {
      if (cursor === null) options.cursorStore?.clear?.();
      else options.cursorStore?.save(cursor);
    } catch (error) {
      console.error('profile client: cursorStore failed to store the cursor', error);
    }
  }

  /** Hands one event to the listeners, as RongIMLib's events. */
  function emitEvent(event: StreamEvent, occurredAt: string): void {
    switch (event.__typename) {
      case 'SubscriptionRelationChange':
        emit(Events.SUBSCRIBED_RELATION_CHANGE, toSubscribeEvents(event));
        return;
      case 'OwnUserProfileChange':
        emit(Events.OWN_USER_PROFILE_CHANGED, toProfile(event.profile));
        return;
      case 'FriendAdded':
      case 'FriendDeleted':
      case 'FriendApplicationStatusChanged': {
        const mapped = toFriendEvent(event, occurredAt);
        if (mapped?.kind === 'added') emit(Events.FRIEND_ADDED, mapped.event);
        else if (mapped?.kind === 'deleted') emit(Events.FRIEND_DELETE, mapped.event);
        else if (mapped?.kind === 'application') emit(Events.FRIEND_APPLICATION_STATUS_CHANGED, mapped.event);
        return;
      }
      case 'UserStatusChange':
        emit(Events.SUBSCRIBED_USER_STATUS_CHANGE, [toSubscribeInfoEvent(event)]);
        return;
      case 'SubscriptionsExpiring':
        emit(Events.SUBSCRIPTIONS_EXPIRING, { subscribeType: subscribeTypes.toNumber(event.subscribeType), userIds: event.userIds, expiresAt: ms(event.expiresAt) });
        if (options.autoRenewSubscriptions) void renew(event.subscribeType, event.userIds, ms(occurredAt));
        return;
    }
  }

  /**
   * autoRenewSubscriptions: reads which of the warned subscriptions are still held (an unsubscribe
   * since is respected) and not refreshed since the warning (another device may have renewed),
   * then subscribes to those again, one call per expiry they had.
   */
  async function renew(type: ops.SubscribeType, userIds: string[], warnedAt: number): Promise<void> {
    const failed = (ids: string[], error: unknown) =>
      ids.length &&
      emit(Events.SUBSCRIPTION_RENEW_FAILED, { subscribeType: subscribeTypes.toNumber(type), userIds: ids, code: (error as ProfileClientError)?.code ?? ErrorCode.UNKNOWN });
    for (let i = 0; i < userIds.length; i += 200) {
      const chunk = userIds.slice(i, i + 200);
      const byExpiry = new Map<number, string[]>();
      try {
        for (const s of (await request(ops.SubscriptionExpiriesDocument, { type, userIds: chunk })).subscribedUserStatus) {
          if (s.expiry !== null && ms(s.subscribeTime) < warnedAt) byExpiry.set(s.expiry, [...(byExpiry.get(s.expiry) ?? []), s.userId]);
        }
        for (const [expiry, ids] of byExpiry) {
          const over = await request(ops.SubscribeUserStatusDocument, { userIds: ids, type, expiry }).then(
            (r) => r.subscribeUserStatus.failedUserIds,
            (error: unknown) => (failed(ids, error), []),
          );
          failed(over, { code: ErrorCode.SUBSCRIBE_TARGET_OVER_LIMIT });
        }
      } catch (error) {
        failed(chunk, error);
      }
    }
  }


  /** Processes one envelope; true when it was the stream's UserEventsCaughtUp. */
  function onEnvelope(envelope: ops.OnUserEventsSubscription['userEvents']): boolean {
    const { event } = envelope;
    if (catchUp) {
      if (event.__typename === 'UserEventsCaughtUp') {
        const held = catchUp;
        catchUp = undefined;
        for (const other of held.others) emitEvent(other.event, other.occurredAt);
        // per type: its statuses as one batch (as RongCloud's onEventChange(SubscribeInfoEvent[])
        // delivers a sync), then SYNC_SUBSCRIBED_USER_STATUS_FINISHED for that type
        for (const type of STATUS_TYPES) {
          const statuses = held.statuses.get(type) ?? [];
          if (statuses.length) emit(Events.SUBSCRIBED_USER_STATUS_CHANGE, statuses);
          emit(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, subscribeTypes.toNumber(type));
        }
        saveCursor(envelope.cursor);
        return true;
      }
      if (event.__typename === 'UserStatusChange') {
        const statuses = catchUp.statuses.get(event.subscribeType) ?? [];
        catchUp.statuses.set(event.subscribeType, statuses);
        statuses.push(toSubscribeInfoEvent(event));
      } else {
        catchUp.others.push({ event, occurredAt: envelope.occurredAt });
      }
      return false;
    }
    // a CaughtUp outside a catch-up does not happen; if it did, there is nothing to hand over
    if (event.__typename !== 'UserEventsCaughtUp') emitEvent(event, envelope.occurredAt);
    saveCursor(envelope.cursor);
    return false;
  }

  function connect(): Promise<IAsyncRes<{ userId: string }>> {
    connecting ??= call(async () => {
      const WebSocketImpl = options.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket;
      if (!WebSocketImpl) throw ProfileClientError.invalidParameter('no WebSocket implementation: pass options.webSocketImpl (e.g. the `ws` package)', ['webSocketImpl']);
      // connect() resolves once the stream caught up (SYNC_SUBSCRIBED_USER_STATUS_FINISHED for
      // every type): it is live then
      let firstSync!: () => void;
      let firstFailure!: (error: unknown) => void;
      const synced = new Promise<void>((resolve, reject) => ((firstSync = resolve), (firstFailure = reject)));
      synced.catch(() => {}); // (awaited below, unless connect() gave up before)
      abortConnect = firstFailure;
      if (lastCursor === undefined) {
        const generation = disconnects;
        const loaded = await loadCursor();
        if (disconnects !== generation) throw new ProfileClientError('disconnect() was called before the connection was established', { code: ErrorCode.NETWORK_ERROR });
        lastCursor ??= loaded;
      }
      let everConnected = false;
      let everCaughtUp = false;
      let gaveUp = false;
      /** stream failures in a row that were neither the cursor's fault nor a close */
      let streamFailures = 0;
      /** the `retry after <N> ms` of the last close (1013), for the wait before the next attempt */
      let shedHintMs: number | undefined;
      const retryWait = options.retryWait ?? defaultRetryWait;
      /** the planned reconnect with a fresh token, shortly before the one in use expires */
      let refreshTimer: ReturnType<typeof setTimeout> | undefined;
      let refreshing = false;
      /** closes with 4403 `token expired` since the last accepted connection */
      let expiredCloses = 0;
      const scheduleRefresh = () => {
        clearTimeout(refreshTimer);
        const inMs = tokens.refreshInMs();
        if (inMs === undefined) return;
        refreshTimer = setTimeout(() => {
          if (gaveUp || ws !== client) return;
          refreshing = true;
          // closes this socket (4499) and reconnects at once, asking getToken() for the new token;
          // the stream resumes after its cursor, and the offline grace hides the gap from watchers
          client.terminate();
        }, inMs);
      };
      /** A refused connection is final, except one expired token while getToken() can give another. */
      const isFinal = (event: unknown) =>
        isCloseEvent(event) && isFinalClose(event.code) && !(isTokenExpiry(event) && tokens.refreshable && expiredCloses <= 1);
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocketImpl,
        lazy: true,
        // a ping every 20 s keeps idle connections open through proxies (nginx: proxy_read_timeout)
        keepAlive: 20_000,
        connectionParams: async () => {
          const authToken = await tokens.get();
          scheduleRefresh();
          return { authToken, platform, deviceId };
        },
        retryAttempts: Number.MAX_SAFE_INTEGER,
        // (graphql-ws emits `closed` before it asks for this wait, so the hint is known by then)
        retryWait: async (retries) => {
          const hint = shedHintMs;
          shedHintMs = undefined;
          if (refreshing) {
            refreshing = false;
            return;
          }
          await Promise.all([retryWait(retries), hint === undefined ? undefined : sleep(shedDelay(hint))]);
        },
        // every failure is retried except refused credentials or parameters (a revoked token included)
        shouldRetry: (errOrClose) => !isFinal(errOrClose),
        on: {
          connecting: () => emit(Events.CONNECTING, undefined),
          connected: () => {
            everConnected = true;
            expiredCloses = 0;
            // graphql-ws subscribes again on this socket right after this event: a new catch-up
            catchUp = newCatchUp();
            emit(Events.CONNECTED, undefined);
          },
          closed: (event) => {
            clearTimeout(refreshTimer);
            const code = isCloseEvent(event) ? event.code : 1006;
            const reason = refreshing ? 'token refresh' : isCloseEvent(event) ? String(event.reason) : '';
            if (isTokenExpiry(event)) expiredCloses++;
            // a refused token (expired, revoked) is not offered again: the next connect asks getToken()
            if (code === 4403) tokens.invalidate();
            const refused = isFinal(event);
            shedHintMs = retryAfterMs(code, reason);
            const fatal = refused || ws !== client;
            if (fatal) gaveUp = true;
            emit(Events.DISCONNECT, { code, reason, willReconnect: !fatal });
            if (!everConnected && refused) {
              firstFailure(new ProfileClientError(`connection refused (${code} ${reason})`, { code: codeForRefusal(code) }));
            }
            // refused for good (e.g. a revoked token, too many connections): forget this
            // connection, so that connect() can start a new one (with a fresh token from getToken())
            if (refused && ws === client) void disconnect();
          },
        },
      });
      ws = client;

      /** (Re)opens the stream on this client, resuming after lastCursor when there is one. */
      const open = () => {
        catchUp = newCatchUp();
        /** the `after` of the latest subscribe message sent for this stream */
        let sentAfter: string | null = null;
        const payload = {
          query: ops.OnUserEventsDocument.toString(),
          // graphql-ws sends this same payload again by itself after every reconnect; the getter
          // makes each of those subscribe messages carry the cursor processed last by then
          get variables() {
            sentAfter = lastCursor ?? null;
            return { after: sentAfter };
          },
        };
        /** this subscription failed (and what follows was decided): its completion is no news */
        let failed = false;
        const dispose = client.subscribe<ops.OnUserEventsSubscription>(payload, {
          next: (result) => {
            if (gaveUp || ws !== client || failed) return;
            // a stream that could not start (e.g. CURSOR_EXPIRED) comes as one result with errors
            // and no data, then completes
            if (!result.data) return onFailure(result.errors ?? []);
            if (result.errors?.length) console.error('profile client: event stream sent errors', result.errors);
            if (onEnvelope(result.data.userEvents)) {
              streamFailures = 0;
              if (!everCaughtUp) {
                everCaughtUp = true;
                firstSync();
              }
            }
          },
          error: onFailure,
          // the server ended the stream without closing the socket: open it again
          complete: () => {
            if (!gaveUp && ws === client && !failed) reopenLater();
          },
        });
        stop = dispose;
        // (called synchronously by graphql-ws before it releases the failed operation, so that
        // opening the stream again here keeps the socket open, and this device online)
        function onFailure(error: unknown): void {
          if (gaveUp || ws !== client || failed) return;
          failed = true;
          // done with this operation (were the socket to drop before the server's complete
          // arrives, graphql-ws would otherwise subscribe it again after the reconnect); the
          // stream opened again below is subscribed first, so that the socket stays open
          queueMicrotask(dispose);
          const first = Array.isArray(error) ? (error[0] as GraphQLErrorLike | undefined) : undefined;
          const code = first?.extensions?.code;
          if (sentAfter !== null && (code === 'CURSOR_EXPIRED' || code === 'BAD_USER_INPUT')) {
            // the cursor is older than the server's retention (or not this user's, e.g. a stored
            // cursor of another account): drop it and start fresh; the app then gets the status
            // snapshot and SYNC_SUBSCRIBED_USER_STATUS_FINISHED as after a first connect, and
            // should re-read with queries whatever else it keeps (friends, applications, profile)
            saveCursor(null);
            open();
            return;
          }
          if (!everCaughtUp && first) {
            firstFailure(ProfileClientError.fromGraphQL(first));
            return;
          }
          // another failure of the stream itself (not a close): report it and open it again after
          // the same backoff as a reconnect
          console.error('profile client: event stream failed', error);
          reopenLater();
        }
      };
      const reopenLater = () => {
        catchUp = undefined;
        void retryWait(streamFailures++).then(() => {
          if (!gaveUp && ws === client) open();
        });
      };
      open();
      try {
        await synced;
      } catch (error) {
        await disconnect();
        throw error;
      }
      abortConnect = undefined;
      const me = await request(ops.MyUserProfileDocument);
      return ok({ userId: me.myUserProfile.userId });
    });
    const attempt = connecting;
    const forget = () => {
      if (connecting === attempt) connecting = undefined;
    };
    attempt.then((result) => result.code !== ErrorCode.SUCCESS && forget(), forget);
    return attempt;
  }

  async function disconnect(): Promise<void> {
    const client = ws;
    ws = undefined;
    connecting = undefined;
    disconnects++;
    abortConnect?.(new ProfileClientError('disconnect() was called before the connection was established', { code: ErrorCode.NETWORK_ERROR }));
    abortConnect = undefined;
    stop?.();
    stop = undefined;
    catchUp = undefined;
    // dispose() rethrows how the last connection attempt failed (e.g. the 4403 close): known already
    await Promise.resolve(client?.dispose()).catch(() => {});
  }

  return {
    /** this device's id, sent as X-Device-Id and in connection_init */
    deviceId,

    // RongIMLib's enums on the instance too, so that `RongIMLib.UserProfileVisibility.EVERYONE`
    // works unchanged when the client is named RongIMLib
    Events,
    ErrorCode,
    Gender,
    Platform,
    SubscribeType,
    UserProfileVisibility,
    ProfileField,
    FriendAddPermission,
    DirectionType,
    FriendApplicationType,
    FriendApplicationStatus,
    FriendRelationType,
    QueryFriendsDirectionType,

    // --- connection (RongIMLib.connect / disconnect) ---
    /**
     * Opens the event connection (this device goes online); resolves once the server accepted it
     * and the first status sync finished (SYNC_SUBSCRIBED_USER_STATUS_FINISHED for every type).
     */
    connect,
    /** Closes the event connection for good (this device goes offline). */
    disconnect,

    // --- events ---
    addEventListener<E extends EventName>(event: E, listener: Listener<E>): void {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as (payload: never) => void);
    },
    removeEventListener<E extends EventName>(event: E, listener: Listener<E>): void {
      listeners.get(event)?.delete(listener as (payload: never) => void);
    },
    removeEventListeners(event: EventName): void {
      listeners.delete(event);
    },

    // --- profiles ---
    /** All or nothing; omitted fields stay, null clears, ext entries merge. `expectedVersion` makes it a compare-and-set. */
    updateMyUserProfile(profile: IUserProfileInput, updateOptions: { expectedVersion?: number } = {}): Promise<IAsyncRes<IUserProfileInfo>> {
      return call(async () => {
        const data = await request(ops.UpdateMyUserProfileDocument, { profile: toProfileInput(profile), expectedVersion: updateOptions.expectedVersion });
        return ok(toProfile(data.updateMyUserProfile));
      });
    },
    getMyUserProfile(): Promise<IAsyncRes<IUserProfileInfo>> {
      return call(async () => ok(toProfile((await request(ops.MyUserProfileDocument)).myUserProfile)));
    },
    /** 1–20 ids; unknown ids are left out; each profile as I may see it */
    getUserProfiles(userIds: string[]): Promise<IAsyncRes<IUserProfileInfo[]>> {
      return call(async () => ok((await request(ops.UserProfilesDocument, { userIds })).userProfiles.map(toProfile)));
    },
    updateMyUserProfileVisibility(visibility: UserProfileVisibility): Promise<IAsyncRes<UserProfileVisibility>> {
      return call(async () => {
        const name = param(() => visibilities.toName(visibility), 'visibility');
        const data = await request(ops.UpdateMyUserProfileVisibilityDocument, { visibility: name });
        return ok(visibilities.toNumber(data.updateMyUserProfileVisibility));
      });
    },
    getMyUserProfileVisibility(): Promise<IAsyncRes<UserProfileVisibility>> {
      return call(async () => ok(visibilities.toNumber((await request(ops.MyUserProfileVisibilityDocument)).myUserProfileVisibility)));
    },
    /** my per-field visibility overrides (a field without one follows my profile visibility) */
    getMyFieldVisibility(): Promise<IAsyncRes<IFieldVisibility[]>> {
      return call(async () => ok((await request(ops.MyFieldVisibilityDocument)).myFieldVisibility.map(toFieldVisibility)));
    },
    /**
     * Sets per-field overrides, all or nothing (NOT_SET removes one); resolves with all my overrides
     * after the change. E.g. `[{ field: ProfileField.EMAIL, visibility: UserProfileVisibility.FRIEND_VISIBLE }]`.
     */
    updateMyFieldVisibility(settings: IFieldVisibility[]): Promise<IAsyncRes<IFieldVisibility[]>> {
      return call(async () => {
        const input = param(() => settings.map(toFieldVisibilityInput), 'settings');
        return ok((await request(ops.UpdateMyFieldVisibilityDocument, { settings: input })).updateMyFieldVisibility.map(toFieldVisibility));
      });
    },
    /** exact match; no such user is 24366, as in RongCloud */
    searchUserProfileByUniqueId(uniqueId: string): Promise<IAsyncRes<IUserProfileInfo>> {
      return call(async () => {
        const found = (await request(ops.SearchUserProfileByUniqueIdDocument, { uniqueId })).searchUserProfileByUniqueId;
        if (!found) throw new ProfileClientError(`no user has uniqueId "${uniqueId}"`, { code: ErrorCode.USER_PROFILE_USER_NOT_EXIST, errorKeys: ['uniqueId'] });
        return ok(toProfile(found));
      });
    },

    // --- presence visibility and custom status (SPEC §10; my other devices learn of a change by asking again) ---
    getMyPresenceVisibility(): Promise<IAsyncRes<PresenceVisibility>> {
      return call(async () => ok(presenceVisibilities.toNumber((await request(ops.MyPresenceVisibilityDocument)).myPresenceVisibility)));
    },
    /** FRIENDS_ONLY: only friends see me online; INVISIBLE: I appear offline to everyone; NOT_SET: the app's default */
    updateMyPresenceVisibility(visibility: PresenceVisibility): Promise<IAsyncRes<PresenceVisibility>> {
      return call(async () => {
        const name = param(() => presenceVisibilities.toName(visibility), 'visibility');
        return ok(presenceVisibilities.toNumber((await request(ops.UpdateMyPresenceVisibilityDocument, { visibility: name })).updateMyPresenceVisibility));
      });
    },
    /** null when none is set (or it expired) */
    getMyCustomStatus(): Promise<IAsyncRes<ICustomStatus | null>> {
      return call(async () => {
        const status = (await request(ops.MyCustomStatusDocument)).myCustomStatus;
        return ok(status ? toCustomStatus(status) : null);
      });
    },
    /** text 1–64 characters, emoji up to 16, expiresInSeconds 60–2592000 (omitted: until cleared) */
    updateMyCustomStatus(status: { text: string; emoji?: string; expiresInSeconds?: number }): Promise<IAsyncRes<ICustomStatus>> {
      return call(async () => {
        const data = await request(ops.UpdateMyCustomStatusDocument, { text: status.text, emoji: status.emoji ?? null, expiresInSeconds: status.expiresInSeconds ?? null });
        return ok(toCustomStatus(data.updateMyCustomStatus));
      });
    },
    /** data: whether a status was set */
    clearMyCustomStatus(): Promise<IAsyncRes<boolean>> {
      return call(async () => ok((await request(ops.ClearMyCustomStatusDocument)).clearMyCustomStatus));
    },

    // --- status subscriptions ---
    /**
     * 1–200 ids, ONLINE_STATUS or USER_PROFILE, expiry 60–2592000 s. When some targets already
     * have 5000 subscribers the rest still succeed and the call answers 26021 with the failed ids
     * in `data` (it does not reject).
     */
    subscribeUserStatus(userIds: string[], subscribeType: SubscribeType, expiry: number): Promise<IAsyncRes<string[]>> {
      return call(async () => {
        const type = param(() => subscribeTypes.toName(subscribeType), 'subscribeType');
        const failed = (await request(ops.SubscribeUserStatusDocument, { userIds, type, expiry })).subscribeUserStatus.failedUserIds;
        return failed.length ? { code: ErrorCode.SUBSCRIBE_TARGET_OVER_LIMIT, data: failed } : ok(failed);
      });
    },
    unSubscribeUserStatus(userIds: string[], subscribeType: SubscribeType): Promise<IAsyncRes> {
      return call(async () => {
        const type = param(() => subscribeTypes.toName(subscribeType), 'subscribeType');
        await request(ops.UnsubscribeUserStatusDocument, { userIds, type });
        return { code: ErrorCode.SUCCESS };
      });
    },
    /**
     * The current status (details, or userProfile) of up to 200 users I subscribe to
     * (RongCloud's querySubscribeEvent(request), as its wrappers name it).
     */
    querySubscribeEvent(query: ISubscribeEventRequest): Promise<IAsyncRes<SubscribeInfoEvent[]>> {
      return call(async () => {
        const type = param(() => subscribeTypes.toName(query?.subscribeType), 'subscribeType');
        const userIds = param(() => {
          if (!Array.isArray(query.userIds)) throw new TypeError('userIds must be an array of user ids');
          return query.userIds;
        }, 'userIds');
        return ok((await request(ops.SubscribedUserStatusDocument, { type, userIds })).subscribedUserStatus.map(toSubscribeInfoEvent));
      });
    },
    /**
     * The current status of a page of the users I subscribe to (oldest subscription first):
     * pageSize 1–200 from startIndex (RongCloud's querySubscribeEventByPage(request, pageSize,
     * startIndex)); past the end, an empty array.
     */
    querySubscribeEventByPage(query: ISubscribeEventRequest, pageSize = 20, startIndex = 0): Promise<IAsyncRes<SubscribeInfoEvent[]>> {
      return call(async () => {
        const type = param(() => subscribeTypes.toName(query?.subscribeType), 'subscribeType');
        const page = (await request(ops.SubscribedUsersDocument, { type, pageSize, startIndex })).subscribedUsers;
        if (page.items.length === 0) return ok([]);
        const userIds = page.items.map((s) => s.userId);
        const statuses = (await request(ops.SubscribedUserStatusDocument, { type, userIds })).subscribedUserStatus.map(toSubscribeInfoEvent);
        // in the page's order; a subscription that expired in between is left out
        const byUser = new Map(statuses.map((st) => [st.userId, st]));
        return ok(userIds.flatMap((id) => byUser.get(id) ?? []));
      });
    },
    /** this SDK's own name: querySubscribeEvent({ subscribeType, userIds }) with positional arguments */
    getSubscribeUserStatus(userIds: string[], subscribeType: SubscribeType = SubscribeType.ONLINE_STATUS): Promise<IAsyncRes<SubscribeInfoEvent[]>> {
      return call(async () => {
        const type = param(() => subscribeTypes.toName(subscribeType), 'subscribeType');
        return ok((await request(ops.SubscribedUserStatusDocument, { type, userIds })).subscribedUserStatus.map(toSubscribeInfoEvent));
      });
    },
    /** this SDK's own: my unexpired subscriptions of a type, by offset, with their total (no status) */
    getSubscribeUserList(subscribeType: SubscribeType, count = 20, startIndex = 0): Promise<IAsyncRes<{ data: SubscribeEvent[]; totalCount: number }>> {
      return call(async () => {
        const type = param(() => subscribeTypes.toName(subscribeType), 'subscribeType');
        const page = (await request(ops.SubscribedUsersDocument, { type, pageSize: count, startIndex })).subscribedUsers;
        return ok({
          data: page.items.map((s) => ({
            userId: s.userId,
            subscribeType: subscribeTypes.toNumber(s.subscribeType),
            operationType: 0 as const,
            subscribeTime: ms(s.subscribeTime),
            expiry: s.expiry,
          })),
          totalCount: page.totalCount,
        });
      });
    },

    // --- friends ---
    /**
     * As RongIMLib: `{ code: 0, data: { processCode } }`, processCode 0 when we are friends at
     * once, 25461 (RC_FRIEND_NEED_ACCEPT) when an application was sent for the target to accept.
     */
    addFriend(userId: string, directionType: DirectionType = DirectionType.BOTH, extra?: string): Promise<IAsyncRes<{ processCode: number }>> {
      return call(async () => {
        onlyBoth(directionType);
        const { outcome } = (await request(ops.AddFriendDocument, { userId, extra })).addFriend;
        return ok({ processCode: outcome === 'ADDED' ? ErrorCode.SUCCESS : ErrorCode.RC_FRIEND_NEED_ACCEPT });
      });
    },
    acceptFriendApplication(userId: string): Promise<IAsyncRes> {
      return call(async () => {
        await request(ops.AcceptFriendApplicationDocument, { userId });
        return { code: ErrorCode.SUCCESS };
      });
    },
    refuseFriendApplication(userId: string, reason?: string): Promise<IAsyncRes> {
      return call(async () => {
        await request(ops.RefuseFriendApplicationDocument, { userId, reason });
        return { code: ErrorCode.SUCCESS };
      });
    },
    deleteFriends(userIds: string[], directionType: DirectionType = DirectionType.BOTH): Promise<IAsyncRes> {
      return call(async () => {
        onlyBoth(directionType);
        await request(ops.DeleteFriendsDocument, { userIds });
        return { code: ErrorCode.SUCCESS };
      });
    },
    /**
     * A page of my friends: oldest friendship first, or newest first with `order: false`
     * (RongIMLib's QueryFriendsDirectionType.BOTH, or DirectionType.BOTH, for the direction).
     */
    getFriends(
      directionType: QueryFriendsDirectionType | DirectionType = QueryFriendsDirectionType.BOTH,
      option: IPagingQueryOption = {},
    ): Promise<IAsyncRes<IPagingQueryResult<IFriendInfo>>> {
      return call(async () => {
        onlyBoth(directionType);
        const newestFirst = option.order === false;
        const page = (await request(ops.FriendsDocument, { count: option.count, pageToken: option.pageToken || undefined, newestFirst })).friends;
        return ok({
          data: page.items.map((f) => {
            const userProfile = toProfile(f.profile);
            const info: IFriendInfo = {
              userId: f.userId,
              extProfile: {},
              addTime: ms(f.addedAt),
              directionType: DirectionType.BOTH,
              inBlackList: false,
              userProfile,
            };
            if (userProfile.name !== undefined) info.name = userProfile.name;
            if (userProfile.portraitUri !== undefined) info.portraitUri = userProfile.portraitUri;
            if (f.remark !== null) info.remark = f.remark;
            return info;
          }),
          pageToken: page.nextPageToken ?? '',
        });
      });
    },
    /**
     * Applications I sent and received, newest first. `types` and `status` filter; with more than
     * one status the filtering happens here, on the page the server returned.
     */
    getFriendApplications(
      option: IPagingQueryOption = {},
      types?: FriendApplicationType[],
      status?: FriendApplicationStatus[],
    ): Promise<IAsyncRes<IPagingQueryResult<IFriendApplicationInfo>>> {
      return call(async () => {
        const direction = types?.length === 1 ? param(() => applicationTypes.toName(types[0]!), 'types') : undefined;
        const statusNames = status?.map((s) => param(() => applicationStatuses.toName(s), 'status'));
        const page = (
          await request(ops.FriendApplicationsDocument, {
            count: option.count,
            pageToken: option.pageToken || undefined,
            direction,
            status: statusNames?.length === 1 ? statusNames[0] : undefined,
          })
        ).friendApplications;
        const items = page.items.filter((a) => !statusNames || statusNames.length <= 1 || statusNames.includes(a.status));
        return ok({ data: items.map(toApplicationInfo), pageToken: page.nextPageToken ?? '' });
      });
    },
    /** 1–20 ids; relationType BOTH_WAY (3) for a friend, NONE (0) otherwise (RongIMLib's IFriendRelationInfo[]) */
    checkFriends(userIds: string[], directionType: DirectionType = DirectionType.BOTH): Promise<IAsyncRes<IFriendRelationInfo[]>> {
      return call(async () => {
        onlyBoth(directionType);
        const results = (await request(ops.CheckFriendsDocument, { userIds })).checkFriends;
        return ok(results.map((r) => ({ userId: r.userId, relationType: r.isFriend ? FriendRelationType.BOTH_WAY : FriendRelationType.NONE })));
      });
    },
    setFriendAddPermission(permission: FriendAddPermission): Promise<IAsyncRes<FriendAddPermission>> {
      return call(async () => {
        const name = param(() => friendAddPermissions.toName(permission), 'permission');
        return ok(friendAddPermissions.toNumber((await request(ops.UpdateMyFriendAddPermissionDocument, { permission: name })).updateMyFriendAddPermission));
      });
    },
    /** NOT_SET (0) means the app's default applies */
    getFriendAddPermission(): Promise<IAsyncRes<FriendAddPermission>> {
      return call(async () => ok(friendAddPermissions.toNumber((await request(ops.MyFriendAddPermissionDocument)).myFriendAddPermission)));
    },
    /** the remark (≤ 64 characters; null clears it). Friend ext profiles are not hosted: a non-empty extProfile is refused. */
    setFriendInfo(userId: string, remark?: string | null, extProfile?: Record<string, string>): Promise<IAsyncRes> {
      return call(async () => {
        if (extProfile && Object.keys(extProfile).length) throw ProfileClientError.invalidParameter('friend extProfile is not supported by this server', ['extProfile']);
        await request(ops.SetFriendRemarkDocument, { userId, remark: remark ?? null });
        return { code: ErrorCode.SUCCESS };
      });
    },

    /** Any typed operation of the generated documents, with this client's credentials (escape hatch). */
    request,
  };
}
