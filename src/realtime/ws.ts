import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, getOperationAST, type ExecutionArgs } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import { randomUUID } from 'node:crypto';
import type { Context, Services } from '../context.ts';
import type { CommittedSet } from '../events/repository.ts';
import type { PresenceService } from '../presence/service.ts';
import { PLATFORMS } from '../subscriptions/types.ts';
import { RealtimeConnection } from './connection.ts';
import { SplicingWebSocket } from './pre-serialized.ts';
import { ExpiryWheel } from './expiry-wheel.ts';
import { acceptedUntil } from '../auth/tokens.ts';
import { appError, badInput, clientError } from '../errors.ts';
import { deviceIdProblem } from '../profiles/rules.ts';
import type { UserTopics } from './topics.ts';

export interface WebSocketLimits {
  /** largest accepted frame, in bytes */
  maxPayloadBytes: number;
  maxBufferedEvents: number;
  /** a socket without connection_init after this long is closed with 4408 */
  initTimeoutMs: number;
  /** open connections of one user on this instance; one more is closed with 4429 */
  maxConnectionsPerUser: number;
  /** operations running at once on one connection; one more is refused with LIMIT_EXCEEDED */
  maxSubscriptionsPerConnection: number;
  /** connection_inits being set up at once; past it, new ones are closed with 1013 and a retry hint */
  maxPendingConnects: number;
  /** every socket is pinged this often; one that has not answered the previous ping is dropped */
  keepAliveMs: number;
}

/**
 * RFC 6455 "Try Again Later": the server sheds a connection_init it cannot set up in reasonable
 * time. The reason carries `retry after <ms> ms`, the time this instance expects to need for the
 * connects already waiting; clients wait that long plus jitter.
 */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * How fast this instance has been setting up connections (per second, smoothed over 250 ms
 * windows; a window that spans an idle stretch says nothing and is dropped). It sets how many
 * connects may wait at once — WS_MAX_PENDING_CONNECTS, or more when this instance clears them
 * faster: shedding starts only once the backlog would take over SHED_AFTER_MS — and the retry
 * hint of a shed connect: the backlog at that rate, within [500 ms, 30 s].
 */
class ConnectRate {
  private perSecond = 0;
  private windowStart = performance.now();
  private inWindow = 0;

  done(): void {
    this.inWindow++;
    const now = performance.now();
    const elapsed = now - this.windowStart;
    if (elapsed < 250) return;
    if (elapsed < 2000) {
      const rate = (this.inWindow * 1000) / elapsed;
      this.perSecond = this.perSecond === 0 ? rate : 0.7 * this.perSecond + 0.3 * rate;
    }
    this.windowStart = now;
    this.inWindow = 0;
  }

  limit(configured: number): number {
    return Math.max(configured, Math.floor((this.perSecond * SHED_AFTER_MS) / 1000));
  }

  retryAfterMs(backlog: number): number {
    // unmeasured yet (the first burst after a quiet time): assume a modest rate, not a crawl
    const rate = this.perSecond > 0 ? this.perSecond : ASSUMED_CONNECTS_PER_SECOND;
    return Math.min(30_000, Math.max(500, Math.ceil((backlog / rate) * 1000)));
  }
}

/** Connects are shed only when the backlog would take longer than this to clear. */
const SHED_AFTER_MS = 10_000;
const ASSUMED_CONNECTS_PER_SECOND = 500;

const DELIVERIES = Symbol('deliveries');

/** graphql-ws's "Too many requests" close code, also used for a user over its connection limit. */
const CLOSE_TOO_MANY = CloseCode.TooManyInitialisationRequests; // 4429

/** SPEC §1: a socket lives no longer than its token; it is closed with this code and reason. */
const CLOSE_TOKEN_EXPIRED = { code: CloseCode.Forbidden, reason: 'token expired' } as const;

/**
 * Bytes a socket may hold unsent before prepared messages stop going straight out: past it they
 * queue in the operation's stream like any other, where WS_MAX_BUFFERED_EVENTS bounds them.
 */
const PREPARED_MAX_BUFFERED = 256 * 1024;

export interface RealtimeTransport {
  connections(): RealtimeConnection[];
  /**
   * Refuses new sockets, closes every open one with 1012 (Service Restart: clients reconnect,
   * to another instance, and resume), takes their connections offline, and resolves once every
   * socket is closed; a peer that has not answered the close after `terminateAfterMs` is cut off.
   */
  close(options?: { terminateAfterMs?: number }): Promise<void>;
}

/**
 * graphql-ws on the HTTP server's port and path. Operations run through yoga's envelop
 * pipeline (same plugins, error masking and limits as HTTP); the user token travels in
 * connection_init `{ authToken, platform, deviceId }` and a refused one closes with 4403.
 */
export function attachWebSocket(
  server: Server,
  yoga: YogaServerInstance<Record<string, unknown>, Context>,
  deps: { services: Services; topics: UserTopics; presence: PresenceService; limits: WebSocketLimits; committedSoFar: () => CommittedSet | undefined },
): RealtimeTransport {
  const { abuse, clientIp } = deps.services;
  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: deps.limits.maxPayloadBytes,
    WebSocket: SplicingWebSocket,
    // upgrades per client IP (and none from an IP that spent its failed-authentication budget):
    // refused with 429 before a socket exists
    verifyClient: (info, accept) => {
      void abuse.upgrade(clientIp(info.req)).then(
        (refused) => (refused ? accept(false, 429, 'Too Many Requests', { 'Retry-After': String(Math.max(1, Math.ceil(refused.retryAfterMs / 1000))) }) : accept(true)),
        () => accept(true),
      );
    },
  });
  // Keep-alive as one sweep over all sockets (as ws recommends) instead of graphql-ws's timer
  // pair per socket: the same ping every keepAliveMs and the same drop of a peer that did not
  // answer the previous one, without two timers held per idle connection.
  const answered = new WeakSet<WebSocket>();
  function markAnswered(this: WebSocket) {
    answered.add(this);
  }
  wss.on('connection', (socket) => {
    answered.add(socket);
    socket.on('pong', markAnswered);
  });
  const keepAlive = setInterval(() => {
    for (const socket of wss.clients) {
      if (socket.readyState !== socket.OPEN) continue;
      if (!answered.has(socket)) {
        socket.terminate();
        continue;
      }
      answered.delete(socket);
      socket.ping();
    }
  }, deps.limits.keepAliveMs);
  keepAlive.unref();
  const bySocket = new Map<WebSocket, RealtimeConnection>();
  /** open connections per user (appKey, userId), for the per-user limit */
  const perUser = new Map<string, number>();
  const userKey = (c: RealtimeConnection) => `${c.info.appKey}\u0000${c.info.userId}`;
  // every socket is closed when its token expires (plus the clock tolerance HTTP also allows)
  const tokenExpiry = new ExpiryWheel<RealtimeConnection>(deps.services.clock, (c) => c.drop(CLOSE_TOKEN_EXPIRED.code, CLOSE_TOKEN_EXPIRED.reason));
  const register = (socket: WebSocket, connection: RealtimeConnection) => {
    bySocket.set(socket, connection);
    perUser.set(userKey(connection), (perUser.get(userKey(connection)) ?? 0) + 1);
    tokenExpiry.add(connection, acceptedUntil(connection.info.caller.tokenExpiresAtMs));
  };
  const unregister = (socket: WebSocket) => {
    const connection = bySocket.get(socket);
    if (!connection) return;
    bySocket.delete(socket);
    tokenExpiry.remove(connection);
    const key = userKey(connection);
    const left = (perUser.get(key) ?? 1) - 1;
    if (left > 0) perUser.set(key, left);
    else perUser.delete(key);
  };

  type SocketExtra = {
    socket: WebSocket;
    /** the client address, for the per-IP failure budget */
    ip?: string;
    connection?: RealtimeConnection;
    deferred?: { platform: string; deviceId?: string };
    establishing?: Promise<RealtimeConnection | null>;
  };

  /**
   * Authenticates a socket as a user, registers it (presence, its user's topic) and returns the
   * connection; closes the socket (4403, 4429 over the per-user limit, or 1013 when too many are
   * being set up at once) and returns null otherwise.
   */
  const connectionDeps = {
    topics: deps.topics,
    presence: deps.presence,
    clock: deps.services.clock,
    maxBufferedEvents: deps.limits.maxBufferedEvents,
    committedSoFar: deps.committedSoFar,
  };
  let pendingConnects = 0;
  const connectRate = new ConnectRate();

  async function establish(ctx: { extra: SocketExtra }, authToken: string, platform: string, deviceId: string | undefined): Promise<RealtimeConnection | null> {
    const socket = ctx.extra.socket;
    if (pendingConnects >= connectRate.limit(deps.limits.maxPendingConnects)) {
      // shed before any work: a clear "later" beats timing out everyone who is already waiting
      deps.services.metrics.connectsShed.inc();
      socket.close(CLOSE_TRY_AGAIN_LATER, `server busy: retry after ${connectRate.retryAfterMs(pendingConnects)} ms`);
      return null;
    }
    pendingConnects++;
    try {
      const connection = await setUp(ctx, authToken, platform, deviceId);
      if (connection) connectRate.done();
      return connection;
    } finally {
      pendingConnects--;
    }
  }

  async function setUp(ctx: { extra: SocketExtra }, authToken: string, platform: string, deviceId: string | undefined): Promise<RealtimeConnection | null> {
    const socket = ctx.extra.socket;
    const caller = await deps.services.callers.fromUserToken(authToken);
    if (caller.kind !== 'user') {
      // counted against the IP: once it has spent its budget, its upgrades are refused (429)
      await abuse.failed(ctx.extra.ip ?? 'unknown').catch(() => null);
      closeSocket(socket, CloseCode.Forbidden, 'Forbidden');
      return null;
    }
    // connect/close loops: each cycle would be a presence change for every watcher of this user
    const tooOften = await abuse.userConnect(caller.app.appKey, caller.userId);
    if (tooOften) {
      socket.close(CLOSE_TRY_AGAIN_LATER, `too many connection attempts: retry after ${tooOften.retryAfterMs} ms`);
      return null;
    }
    // counted from here on (no await between the check and register below)
    if ((perUser.get(`${caller.app.appKey}\u0000${caller.userId}`) ?? 0) >= deps.limits.maxConnectionsPerUser) {
      socket.close(CLOSE_TOO_MANY, `too many connections: at most ${deps.limits.maxConnectionsPerUser} per user`);
      return null;
    }
    const connection = new RealtimeConnection(
      { connectionId: randomUUID(), caller, appKey: caller.app.appKey, userId: caller.userId, platform, deviceId, tokenGeneration: caller.tokenGeneration },
      connectionDeps,
      {
        close: (code, reason) => closeSocket(socket, code, reason),
        sendPrepared: (text) => socket.readyState === socket.OPEN && socket.bufferedAmount < PREPARED_MAX_BUFFERED && ((socket as SplicingWebSocket).sendPrepared(text), true),
      },
    );
    register(socket, connection);
    ctx.extra.connection = connection;
    await connection.open();
    // A revocation between the token check and listening would have been missed: check again now
    // that the close notice cannot be. And the socket may have gone while we were registering it.
    const still = socket.readyState === socket.OPEN ? await deps.services.callers.fromUserToken(authToken) : null;
    if (still?.kind !== 'user' || still.tokenGeneration !== caller.tokenGeneration) {
      unregister(socket);
      await connection.dispose();
      if (socket.readyState === socket.OPEN) closeSocket(socket, CloseCode.Forbidden, 'Forbidden');
      return null;
    }
    return connection;
  }

  /**
   * An unexpected failure while setting a connection up (the database, say): logged here, and the
   * socket closed with 4500 and a generic reason (graphql-ws would print the error with
   * console.error and put nothing of use in the reason anyway, with isProd).
   */
  function failedToEstablish(socket: WebSocket, error: unknown): void {
    deps.services.log.error({ err: error }, 'setting up a connection failed');
    if (socket.readyState === socket.OPEN) closeSocket(socket, CloseCode.InternalServerError, 'Internal server error');
  }

  /**
   * The delivered-events counter of an operation's root field, or null for a query or mutation:
   * looked up once and kept on the operation's arguments (read once per event).
   */
  const deliveredCounter = (args: ExecutionArgs & { [DELIVERIES]?: { inc(): void } | null }) => {
    let counter = args[DELIVERIES];
    if (counter === undefined) {
      const operation = getOperationAST(args.document, args.operationName);
      const selection = operation?.selectionSet.selections[0];
      counter = operation?.operation === 'subscription' ? deps.services.metrics.deliveries(selection?.kind === 'Field' ? selection.name.value : 'unknown') : null;
      args[DELIVERIES] = counter;
    }
    return counter;
  };

  const disposer = useServer<Record<string, unknown> | undefined, Omit<SocketExtra, 'socket'>>(
    {
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => never }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => never }).subscribe(args),
      // an unexpected failure (e.g. the database during connection_init) closes with 4500 and this
      // generic reason; otherwise graphql-ws puts the error's own message (SQL, driver text) in it
      isProd: true,
      connectionInitWaitTimeout: deps.limits.initTimeoutMs,
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        // graphql-ws keeps the upgrade request in the context for the socket's life; nothing here
        // reads it after the upgrade, and it is the largest object per idle connection
        const request = (ctx.extra as { request?: IncomingMessage }).request;
        ctx.extra.ip = request ? clientIp(request) : undefined;
        (ctx.extra as { request?: unknown }).request = undefined;
        const params = ctx.connectionParams ?? {};
        const { platform = 'OTHER', deviceId } = params as { platform?: unknown; deviceId?: unknown };
        if (typeof platform !== 'string' || !(PLATFORMS as readonly string[]).includes(platform)) {
          socket.close(CloseCode.BadRequest, `platform must be one of ${PLATFORMS.join(', ')}`);
          return false;
        }
        const deviceIdWrong = deviceId === undefined ? null : deviceIdProblem(deviceId);
        if (deviceIdWrong) {
          socket.close(CloseCode.BadRequest, `deviceId ${deviceIdWrong}`);
          return false;
        }
        const authToken = tokenIn(params);
        if (authToken === undefined && Object.keys(params).length === 0) {
          // No credentials at all (GraphiQL sends `{}` and puts its headers on each operation):
          // authenticate with the first operation, or close with 4403 if none comes in time.
          ctx.extra.deferred = { platform, deviceId: deviceId as string | undefined };
          const timer = setTimeout(() => {
            if (!ctx.extra.connection) closeSocket(socket, CloseCode.Forbidden, 'Forbidden');
          }, deps.limits.initTimeoutMs);
          timer.unref();
          return true;
        }
        if (authToken === undefined) return false; // graphql-ws closes with 4403 Forbidden
        // the init payload (token and all) is read only here: not kept for the socket's life
        (ctx as { connectionParams?: unknown }).connectionParams = undefined;
        try {
          return (await establish(ctx, authToken, platform, deviceId as string | undefined)) !== null;
        } catch (error) {
          failedToEstablish(socket, error);
          return false;
        }
      },
      onClose: async (ctx) => {
        const connection = bySocket.get(ctx.extra.socket);
        if (!connection) return;
        unregister(ctx.extra.socket);
        await connection.dispose().catch((error) => deps.services.log.error({ err: error }, 'closing a connection failed'));
      },
      onNext: (_ctx, _id, _payload, args, result) => {
        deliveredCounter(args)?.inc();
        if (!result.errors) return;
        // errors of execution itself (e.g. variables that do not coerce) carry no code yet
        const errors = result.errors.map((e) => clientError(e, 'socket'));
        deps.services.metrics.countErrors(errors);
        return { ...result, errors };
      },
      onError: (_ctx, _id, _payload, errors) => {
        deps.services.metrics.countErrors(errors);
      },
      onSubscribe: async (ctx, id, payload) => {
        // graphql-ws has already registered this operation: the count includes it
        const running = Object.keys(ctx.subscriptions).length;
        if (running > deps.limits.maxSubscriptionsPerConnection) {
          return [
            appError('LIMIT_EXCEEDED', `too many operations on this connection: at most ${deps.limits.maxSubscriptionsPerConnection} at once`, {
              limit: 'subscriptionsPerConnection',
            }),
          ];
        }
        let connection = ctx.extra.connection;
        if (!connection && ctx.extra.deferred) {
          // the deferred socket authenticates with its first operation's Authorization header
          const headers = (payload.extensions as { headers?: Record<string, unknown> } | undefined)?.headers;
          const token = tokenIn(headers && typeof headers === 'object' ? { headers } : {});
          if (token === undefined) {
            closeSocket(ctx.extra.socket, CloseCode.Forbidden, 'Forbidden');
            return [appError('UNAUTHENTICATED', 'send a user token: connection_init { authToken } or the operation\'s Authorization header')];
          }
          const { platform, deviceId } = ctx.extra.deferred;
          ctx.extra.establishing ??= establish(ctx as never, token, platform, deviceId).catch((error: unknown) => {
            failedToEstablish(ctx.extra.socket, error);
            return null;
          });
          connection = (await ctx.extra.establishing) ?? undefined;
          if (!connection) return [appError('UNAUTHENTICATED', 'the token was refused')];
        }
        // between the token's expiry and the wheel's next sweep: nothing more runs on it
        if (connection && deps.services.clock.now().getTime() > acceptedUntil(connection.info.caller.tokenExpiresAtMs)) {
          connection.drop(CLOSE_TOKEN_EXPIRED.code, CLOSE_TOKEN_EXPIRED.reason);
          return [appError('UNAUTHENTICATED', 'the token expired')];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          connection,
          params: payload,
        } as never);
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [clientError(error as GraphQLError, 'socket')];
        }
        const errors = validate(schema, document);
        if (errors.length) return errors.map((e: GraphQLError) => clientError(e, 'socket'));
        // what yoga answers over HTTP before executing (execute would fail without a code)
        if (!getOperationAST(document, payload.operationName)) return [badInput('Could not determine what operation to execute.')];
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: Object.assign(await contextFactory(), { operationId: id }),
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
    0, // keep-alive: the sweep above
  );
  // graphql-ws prints a socket's errors with console.error and closes it with 4500. They are the
  // peer's doing (a frame over maxPayload, invalid UTF-8), and ws has already closed the socket with
  // the right code (1009, 1007): they go to the log instead. Registered after useServer's own
  // listener, which it replaces.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (error: Error & { code?: string }) => {
      // ws's codes for frames a peer got wrong: its message says enough, a stack says nothing
      if (typeof error.code === 'string' && error.code.startsWith('WS_ERR_')) {
        deps.services.log.warn({ code: error.code, reason: error.message }, 'websocket error: socket closed');
        return;
      }
      deps.services.log.error({ err: error }, 'websocket error: socket closed');
      closeSocket(socket, CloseCode.InternalServerError, 'Internal server error');
    });
  });

  return {
    connections: () => [...bySocket.values()],
    async close({ terminateAfterMs = CLOSE_GRACE_MS } = {}) {
      const open = [...bySocket.values()];
      bySocket.clear();
      perUser.clear();
      clearInterval(keepAlive);
      tokenExpiry.stop();
      // every socket, authenticated or not yet: 1012 tells clients to come back (elsewhere) at once
      for (const socket of wss.clients) socket.close(1012, 'service restart');
      // stops taking upgrades now and resolves once every socket is closed (graphql-ws's own
      // 1001 is a no-op on sockets already closing)
      const allClosed = Promise.resolve(disposer.dispose());
      const cutOff = setTimeout(() => {
        for (const socket of wss.clients) socket.terminate();
      }, terminateAfterMs);
      await Promise.allSettled(open.map((connection) => connection.dispose()));
      await allClosed.finally(() => clearTimeout(cutOff));
    },
  };
}

/**
 * The user token of a connection_init payload: `authToken`, else an Authorization value
 * "Bearer <token>" at the top level or under `headers` (how GraphQL IDEs and Apollo-style clients send it).
 */
function tokenIn(params: Record<string, unknown>): string | undefined {
  const bearer = (value: unknown) => (typeof value === 'string' ? /^Bearer +(\S+)$/i.exec(value.trim())?.[1] : undefined);
  const headers = typeof params.headers === 'object' && params.headers !== null ? (params.headers as Record<string, unknown>) : {};
  const token = params.authToken ?? bearer(params.Authorization ?? params.authorization) ?? bearer(headers.Authorization ?? headers.authorization);
  return typeof token === 'string' ? token : undefined;
}

/** How long a closing peer gets to answer the close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 10_000;

/** Closes with a code the client can read, without waiting ws's 30 s on a peer that does not read. */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  socket.close(code, reason);
  setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
}
