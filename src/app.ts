import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CallerResolver } from './auth/caller.ts';
import { randomToken, SecretCheck } from './auth/secrets.ts';
import { AbuseLimits } from './ratelimit/abuse.ts';
import { clientIpResolver } from './http/client-ip.ts';
import { TokenService } from './auth/tokens.ts';
import { type Clock, systemClock } from './clock.ts';
import { type Config, checkConfig, readEnvironment } from './config.ts';
import type { Services } from './context.ts';
import { connectDatabase, migrateToLatest, type DatabaseTarget } from './db/connect.ts';
import { createInProcessBus } from './events/bus.ts';
import { createGraphQLHandler } from './http/yoga.ts';
import { GraphiQLPage } from './http/graphiql.ts';
import { malformedBody, payloadTooLarge, readBodyWithin, useBufferedBody } from './http/limits.ts';
import { listenOn, urlOf } from './http/listen.ts';
import { checkReadiness } from './http/readiness.ts';
import { createRateLimiter } from './ratelimit/plugin.ts';
import { ensureDevApp } from './apps/dev-app.ts';
import { loadDevSecrets } from './secrets-store.ts';
import { PresenceService } from './presence/service.ts';
import { countOnlineUsers } from './presence/repository.ts';
import { randomUUID } from 'node:crypto';
import { EventLog } from './events/log.ts';
import { EventRelay } from './events/relay.ts';
import type { LoggedEvent } from './events/repository.ts';
import { AppConfigCache } from './apps/config-cache.ts';
import { SecretBox } from './apps/secret-box.ts';
import { isServerApiPath, serveServerApi } from './rongcloud-api/router.ts';
import { EventPruner } from './events/pruner.ts';
import { createRedisWakeups, type CommitWakeups } from './events/wakeups.ts';
import { CursorCodec } from './events/cursor.ts';
import { CatchUpGate } from './events/catch-up-gate.ts';
import { Audiences } from './subscriptions/audience.ts';
import { ExpiryWarnings } from './subscriptions/expiry-warnings.ts';
import { LocalDelivery } from './realtime/delivery.ts';
import { createLocalTopics, type UserTopics } from './realtime/topics.ts';
import { attachWebSocket, type RealtimeTransport } from './realtime/ws.ts';
import { createLogger } from './observability/logger.ts';
import { Metrics } from './observability/metrics.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';
import { WebhookWorker } from './webhooks/worker.ts';
import { answerMetrics, listenForMetrics, mayReadMetricsPublicly, notFound, type MetricsListener } from './observability/metrics-endpoint.ts';

/** How long start waits for REDIS_URL to answer before giving up (an unreachable Redis at start is a mistake). */
const REDIS_START_TIMEOUT_MS = 5000;

export interface BuildOptions {
  /** overrides on top of the environment's configuration */
  config?: Partial<Config>;
  /** where the data lives; defaults to DATABASE_URL, else the embedded database under dataDir */
  database?: DatabaseTarget;
  clock?: Clock;
  /** called for every SQL statement (tests count them) */
  onQuery?: (sql: string) => void;
}

export interface StartedApp {
  url: string;
  port: number;
  /** the Prometheus listener (METRICS_PORT); absent when it is off */
  metricsUrl?: string;
  /** credentials of the development app, on the embedded setup */
  devApp?: { appKey: string; appSecret: string };
  /** the operator token the embedded setup generated (never one given in the environment) */
  operatorToken?: string;
}

export interface App {
  services: Services;
  server: Server;
  realtime: {
    presence: PresenceService;
    relay: EventRelay;
    transport: RealtimeTransport;
    topics: UserTopics;
    /** subscription expiry warnings; `sweepNow()` sends those due at once (tests) */
    expiryWarnings: ExpiryWarnings;
    /** resolves once every event this process committed so far has been handed to its connections */
    drain(): Promise<void>;
  };
  /** turns the event log into webhook deliveries (one instance at a time), and sends them */
  webhooks: { dispatcher: WebhookDispatcher; worker: WebhookWorker };
  start(): Promise<StartedApp>;
  stop(): Promise<void>;
}

export async function buildApp(options: BuildOptions = {}): Promise<App> {
  const config: Config = { ...readEnvironment(), ...options.config };
  const target: DatabaseTarget =
    options.database ?? (config.databaseUrl ? { kind: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize } : { kind: 'embedded', dataDir: config.dataDir });
  // the rules across settings, for the database actually used (a caller's target overrides DATABASE_URL)
  checkConfig({ ...config, databaseUrl: target.kind === 'postgres' ? target.url : undefined });
  const persistentEmbedded = target.kind === 'embedded' && target.dataDir !== undefined;

  // The embedded setup needs no configuration: its secrets are generated once and kept in DATA_DIR.
  const devSecrets = persistentEmbedded ? loadDevSecrets(target.dataDir!) : undefined;
  if (!config.tokenSecret) {
    if (devSecrets) config.tokenSecret = devSecrets.tokenSecret;
    else config.tokenSecret = randomToken(48); // in memory (tests); PostgreSQL without one was refused above
  }
  if (!config.secretEncryptionKey) {
    // generated once and kept in DATA_DIR; in memory (tests) a fresh one; PostgreSQL without one was refused above
    config.secretEncryptionKey = devSecrets?.secretEncryptionKey ?? randomToken(48);
  }
  // only a token generated here is printed at start; one from the environment stays unprinted
  const generatedOperatorToken = !config.operatorToken && devSecrets ? devSecrets.operatorToken : undefined;
  config.operatorToken ??= generatedOperatorToken;

  const clock = options.clock ?? systemClock;
  const log = createLogger(config);
  let transport: RealtimeTransport | undefined;
  const db = await connectDatabase(target, {
    onQuery: options.onQuery,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    idleInTransactionTimeoutMs: config.databaseIdleInTransactionTimeoutMs,
  });
  await migrateToLatest(db).catch(async (error: unknown) => {
    await db.destroy().catch(() => {});
    throw new Error(`${describeTarget(target)}: ${describeError(error)}`);
  });
  const tokens = new TokenService(config.tokenSecret, clock);
  const bus = createInProcessBus();
  const rateLimiter = createRateLimiter(config, log);
  const abuse = new AbuseLimits(rateLimiter, config);
  const secretCheck = new SecretCheck(config.tokenSecret);
  const secretBox = new SecretBox(config.secretEncryptionKey!);
  const services: Services = {
    config,
    db,
    clock,
    tokens,
    callers: new CallerResolver({ db, tokens, operatorToken: config.operatorToken, secretCheck, abuse }),
    abuse,
    secretCheck,
    secretBox,
    rateLimiter,
    clientIp: clientIpResolver(config.trustProxy),
    bus,
    events: new EventLog(db, clock, bus),
    cursors: new CursorCodec(config.tokenSecret),
    // as many as the pool has connections (PGlite: one), the rest wait their turn
    catchUps: new CatchUpGate(target.kind === 'postgres' ? Math.max(2, config.databasePoolSize) : 2),
    appConfig: new AppConfigCache(db),
    log,
    metrics: new Metrics({
      openConnections: () => transport?.connections().length ?? 0,
      onlineUsers: () => countOnlineUsers(db),
    }),
  };
  const devApp = persistentEmbedded ? await ensureDevApp(db, target.dataDir!, clock.now(), { check: secretCheck, box: secretBox }) : undefined;

  const yoga = createGraphQLHandler(services, { rateLimiter });
  const graphiql = config.graphiql ? new GraphiQLPage('/graphql') : undefined;
  // responses being worked on, so that a shutdown lets them finish (and closes their sockets after)
  const inFlight = new Set<ServerResponse>();
  let shuttingDown = false;
  const server = createServer((req, res) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    if (shuttingDown) res.setHeader('connection', 'close');
    void route(req, res);
  });
  // Idle keep-alive sockets outlive clients' and load balancers' own idle timeouts (undici 4 s, nginx
  // and most LBs 60 s), so the server never closes a socket a client is just reusing (ECONNRESET).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  // Real-time: every instance reads the event log in order and hands each event to the receivers
  // connected to it (per-user topics in memory). Redis only carries "something committed" notices
  // between instances; without them (no Redis, or Redis down) the relay's polling finds the rows.
  const topics = createLocalTopics(log);
  const delivery = new LocalDelivery(new Audiences(db, clock, services.appConfig, randomUUID()), topics, services);
  const readFromLog = (events: LoggedEvent[], skipFailing: boolean) => {
    // settings changed anywhere: forget them before delivering what follows (which may use them)
    for (const e of events) if (e.event.type === 'appChanged') services.appConfig.forget(e.appKey);
    return delivery.deliver(events, skipFailing);
  };
  const relay = new EventRelay(db, readFromLog, log, { pollMs: config.eventPollMs, batchSize: 500 });
  // Webhooks: deliveries made from the log by one instance at a time, sent by every instance's
  // worker (on wall-clock time, as leases and receivers' signature checks are)
  const webhookWorker = new WebhookWorker({ ...services, clock: systemClock }, { pollMs: config.eventPollMs });
  const webhookDispatcher = new WebhookDispatcher(db, systemClock, log, { pollMs: config.eventPollMs, batchSize: 500, retryWindowMs: config.webhookRetryWindowMs, dispatched: () => webhookWorker.wake() });
  const committedElsewhere = (xid: bigint) => {
    relay.wake(xid);
    webhookDispatcher.wake();
  };
  services.events.onCommit((xid) => relay.wake(xid));
  services.events.onCommit(() => webhookDispatcher.wake());
  let wakeups: CommitWakeups | undefined;
  if (config.redisUrl) {
    wakeups = createRedisWakeups(config.redisUrl, log, committedElsewhere);
    services.events.onCommit((xid) => wakeups!.announce(xid));
  }
  const pruner = new EventPruner(db, clock, log, config.eventRetentionSeconds);
  const expiryWarnings = new ExpiryWarnings(services, config.subscriptionExpirySweepMs);
  const presence = new PresenceService(services, { heartbeatMs: config.presenceHeartbeatMs, instanceTimeoutMs: config.presenceTimeoutMs, offlineGraceMs: config.presenceOfflineGraceMs, customStatusSweepMs: config.customStatusSweepMs });
  transport = attachWebSocket(server, yoga, {
    services,
    topics,
    presence,
    committedSoFar: () => relay.lastSeen,
    limits: {
      maxPayloadBytes: config.wsMaxPayloadBytes,
      maxBufferedEvents: config.wsMaxBufferedEvents,
      initTimeoutMs: config.wsInitTimeoutMs,
      maxConnectionsPerUser: config.wsMaxConnectionsPerUser,
      maxSubscriptionsPerConnection: config.wsMaxSubscriptionsPerConnection,
      maxPendingConnects: config.wsMaxPendingConnects,
      keepAliveMs: config.wsKeepAliveMs,
    },
  });

  let metricsListener: MetricsListener | undefined;

  async function route(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') return json(res, 200, { status: 'ok' });
    if (path === '/metrics') return mayReadMetricsPublicly(req, config.metricsToken) ? answerMetrics(res, services.metrics) : notFound(res);
    if (path === '/ready') {
      // a load balancer that still reaches us (a kept-alive connection) stops sending
      if (shuttingDown) return json(res, 503, { status: 'shutting down' });
      const { httpStatus, body } = await checkReadiness(db, wakeups);
      return json(res, httpStatus, body);
    }
    if (graphiql?.wants(req, path)) return graphiql.serve(req, res);
    if (isServerApiPath(path)) return serveServerApi(services, req, res);
    // the body limit: a declared Content-Length up front, and every body counted as it streams in
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > config.maxBodyBytes) return payloadTooLarge(res, config.maxBodyBytes);
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS') {
      const body = await readBodyWithin(req, config.maxBodyBytes).catch(() => undefined);
      if (body === undefined) return void req.destroy(); // the client went away
      if (body === null) return payloadTooLarge(res, config.maxBodyBytes);
      if (useBufferedBody(req, body) === 'not utf-8') return malformedBody(res);
    }
    return yoga(req, res);
  }

  let stopping: Promise<void> | undefined;
  return {
    services,
    server,
    realtime: { presence, relay, transport: transport!, topics, expiryWarnings, drain: () => relay.delivered(services.events.newestCommitted) },
    webhooks: { dispatcher: webhookDispatcher, worker: webhookWorker },
    async start() {
      await wakeups?.connected(REDIS_START_TIMEOUT_MS);
      await relay.start();
      pruner.start();
      expiryWarnings.start();
      await presence.start();
      webhookDispatcher.start();
      webhookWorker.start();
      if (config.metricsPort !== null) metricsListener = await listenForMetrics(services.metrics, { port: config.metricsPort, host: config.metricsHost });
      // a deep accept queue: reconnect storms (a load balancer restart) arrive all at once
      const { port } = await listenOn(server, { port: config.port, host: config.host, backlog: 4096 }, 'PORT, HOST').catch(async (error: unknown) => {
        await metricsListener?.close();
        throw error;
      });
      return { url: urlOf(config.host, port, '/graphql'), port, metricsUrl: metricsListener?.url, devApp, operatorToken: generatedOperatorToken };
    },
    stop() {
      stopping ??= shutDown();
      return stopping;
    },
  };

  /**
   * Graceful shutdown (SPEC §14) within SHUTDOWN_GRACE_MS: stops accepting, closes the sockets with
   * 1012 (their users' offlines wait for the grace: devices reconnecting elsewhere cancel them,
   * another instance announces the rest), lets requests in flight finish, then leaves the cluster.
   * Whatever is still open when the drain's share of the grace is over is cut off.
   */
  async function shutDown(): Promise<void> {
    const startedAt = Date.now();
    const drainUntil = startedAt + config.shutdownGraceMs - Math.min(CLEANUP_RESERVE_MS, config.shutdownGraceMs / 4);
    shuttingDown = true;
    log.info({ sockets: transport!.connections().length, requests: inFlight.size }, 'shutting down: draining');
    server.close(); // new connections are refused from now on; idle kept-alive ones are closed
    // answers still to be written go out with `Connection: close`: no request follows on their socket
    for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    const requestsDone = (async () => {
      while (inFlight.size > 0 && Date.now() < drainUntil) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        server.closeIdleConnections(); // those whose answer was already on its way at the start
      }
    })();
    await Promise.all([transport!.close({ terminateAfterMs: Math.max(0, drainUntil - Date.now()) }), requestsDone]);
    if (inFlight.size > 0) log.warn({ requests: inFlight.size }, 'shutting down: requests still running at the deadline are cut off');
    server.closeAllConnections();
    await metricsListener?.close();
    await presence.stop();
    await webhookDispatcher.stop();
    await webhookWorker.stop();
    pruner.stop();
    await expiryWarnings.stop();
    await relay.stop();
    await wakeups?.close();
    await topics.close();
    await rateLimiter.close();
    await services.bus.close();
    log.info({ ms: Date.now() - startedAt }, 'shut down');
    await db.destroy();
  }
}

/** Of SHUTDOWN_GRACE_MS, what the drain leaves (at most a quarter) for leaving the cluster and closing the database. */
const CLEANUP_RESERVE_MS = 2000;

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** Where the database is, without credentials. */
function describeTarget(target: DatabaseTarget): string {
  if (target.kind === 'embedded') return target.dataDir === undefined ? 'the in-memory embedded database' : `the embedded database under ${target.dataDir}`;
  try {
    const url = new URL(target.url);
    return `PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`;
  } catch {
    return 'PostgreSQL (DATABASE_URL is not a URL)';
  }
}

/** One line: driver errors are often AggregateErrors without a message (one per address tried). */
function describeError(error: unknown): string {
  if (error instanceof AggregateError && !error.message) return [...new Set(error.errors.map((e) => describeError(e)))].join('; ');
  if (error instanceof Error) return (error.message || (error as NodeJS.ErrnoException).code || error.name).split('\n')[0]!;
  return String(error);
}
