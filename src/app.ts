import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { CallerResolver } from './auth/caller.ts';
import { randomToken } from './auth/secrets.ts';
import { TokenService } from './auth/tokens.ts';
import { type Clock, systemClock } from './clock.ts';
import { type Config, loadConfig } from './config.ts';
import type { Services } from './context.ts';
import { connectDatabase, migrateToLatest, type DatabaseTarget } from './db/connect.ts';
import { createInProcessBus } from './events/bus.ts';
import { createGraphQLHandler } from './http/yoga.ts';
import { GraphiQLPage } from './http/graphiql.ts';
import { malformedBody, payloadTooLarge, readBodyWithin, useBufferedBody } from './http/limits.ts';
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
import { EventPruner } from './events/pruner.ts';
import { createRedisWakeups, type CommitWakeups } from './events/wakeups.ts';
import { CursorCodec } from './events/cursor.ts';
import { CatchUpGate } from './events/catch-up-gate.ts';
import { Audiences } from './subscriptions/audience.ts';
import { LocalDelivery } from './realtime/delivery.ts';
import { createLocalTopics, type UserTopics } from './realtime/topics.ts';
import { attachWebSocket, type RealtimeTransport } from './realtime/ws.ts';
import { createLogger } from './observability/logger.ts';
import { Metrics } from './observability/metrics.ts';

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
    /** resolves once every event this process committed so far has been handed to its connections */
    drain(): Promise<void>;
  };
  start(): Promise<StartedApp>;
  stop(): Promise<void>;
}

export async function buildApp(options: BuildOptions = {}): Promise<App> {
  const config: Config = { ...loadConfig(), ...options.config };
  const target: DatabaseTarget =
    options.database ?? (config.databaseUrl ? { kind: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize } : { kind: 'embedded', dataDir: config.dataDir });
  const persistentEmbedded = target.kind === 'embedded' && target.dataDir !== undefined;

  // The embedded setup needs no configuration: its secrets are generated once and kept in DATA_DIR.
  const devSecrets = persistentEmbedded ? loadDevSecrets(target.dataDir!) : undefined;
  if (!config.tokenSecret) {
    if (devSecrets) config.tokenSecret = devSecrets.tokenSecret;
    else if (target.kind === 'embedded') config.tokenSecret = randomToken(48);
    else throw new Error('TOKEN_SECRET (at least 32 bytes) is required with DATABASE_URL: every instance must sign tokens with the same key');
  }
  // only a token generated here is printed at start; one from the environment stays unprinted
  const generatedOperatorToken = !config.operatorToken && devSecrets ? devSecrets.operatorToken : undefined;
  config.operatorToken ??= generatedOperatorToken;

  const clock = options.clock ?? systemClock;
  const log = createLogger(config);
  let transport: RealtimeTransport | undefined;
  const db = await connectDatabase(target, { onQuery: options.onQuery });
  await migrateToLatest(db);
  const tokens = new TokenService(config.tokenSecret, clock);
  const bus = createInProcessBus();
  const services: Services = {
    config,
    db,
    clock,
    tokens,
    callers: new CallerResolver({ db, tokens, operatorToken: config.operatorToken }),
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
  const devApp = persistentEmbedded ? await ensureDevApp(db, target.dataDir!, clock.now()) : undefined;

  const rateLimiter = createRateLimiter(config, log);
  const yoga = createGraphQLHandler(services, { rateLimiter });
  const graphiql = config.graphiql ? new GraphiQLPage('/graphql') : undefined;
  const server = createServer((req, res) => void route(req, res));
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
  services.events.onCommit((xid) => relay.wake(xid));
  let wakeups: CommitWakeups | undefined;
  if (config.redisUrl) {
    wakeups = createRedisWakeups(config.redisUrl, log, (xid) => relay.wake(xid));
    services.events.onCommit((xid) => wakeups!.announce(xid));
  }
  const pruner = new EventPruner(db, clock, log, config.eventRetentionSeconds);
  const presence = new PresenceService(services, { heartbeatMs: config.presenceHeartbeatMs, instanceTimeoutMs: config.presenceTimeoutMs, offlineGraceMs: config.presenceOfflineGraceMs });
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

  async function route(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') return json(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': services.metrics.registry.contentType });
      return res.end(await services.metrics.registry.metrics());
    }
    if (path === '/ready') {
      const ready = await sql`select 1`.execute(db).then(
        () => true,
        () => false,
      );
      return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'database unreachable' });
    }
    if (graphiql?.wants(req, path)) return graphiql.serve(req, res);
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

  return {
    services,
    server,
    realtime: { presence, relay, transport: transport!, topics, drain: () => relay.delivered(services.events.newestCommitted) },
    async start() {
      await relay.start();
      pruner.start();
      await presence.start();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // a deep accept queue: reconnect storms (a load balancer restart) arrive all at once
        server.listen({ port: config.port, host: config.host, backlog: 4096 }, () => resolve());
      });
      const { port } = server.address() as AddressInfo;
      const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
      return { url: `http://${host}:${port}/graphql`, port, devApp, operatorToken: generatedOperatorToken };
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await transport.close();
      server.closeAllConnections();
      await closed;
      await presence.stop();
      pruner.stop();
      await relay.stop();
      await wakeups?.close();
      await topics.close();
      await rateLimiter.close();
      await services.bus.close();
      await db.destroy();
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
