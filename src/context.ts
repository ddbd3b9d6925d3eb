import type { Kysely } from 'kysely';
import type { CallerResolver, Caller } from './auth/caller.ts';
import type { TokenService } from './auth/tokens.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { AppRow, Database } from './db/database.ts';
import type { EventBus } from './events/bus.ts';
import type { EventLog } from './events/log.ts';
import type { CursorCodec } from './events/cursor.ts';
import type { CatchUpGate } from './events/catch-up-gate.ts';
import type { Logger } from './observability/logger.ts';
import type { Metrics } from './observability/metrics.ts';
import { createLoaders, type Loaders } from './profiles/loaders.ts';
import { visibilityFor, type VisibilityDecisions } from './visibility/decisions.ts';
import type { RealtimeConnection } from './realtime/connection.ts';
import type { AppConfigCache } from './apps/config-cache.ts';
import type { AbuseLimits } from './ratelimit/abuse.ts';
import type { ClientIp } from './http/client-ip.ts';
import type { SecretCheck } from './auth/secrets.ts';
import type { SecretBox } from './apps/secret-box.ts';
import type { RateLimiter } from './ratelimit/limiter.ts';

/** What lives as long as the server: shared by every request. */
export interface Services {
  config: Config;
  db: Kysely<Database>;
  clock: Clock;
  tokens: TokenService;
  callers: CallerResolver;
  bus: EventBus;
  /** commits changes with their events (every write that someone is told about goes through it) */
  events: EventLog;
  /** resume points of userEvents, bound to their user */
  cursors: CursorCodec;
  /** how many stream catch-ups run at once here */
  catchUps: CatchUpGate;
  /** app rows and ext key registries, forgotten on `appChanged` */
  appConfig: AppConfigCache;
  log: Logger;
  metrics: Metrics;
  /** limits on unauthenticated and failed traffic, per client IP, per user's connects, per app's wrong secrets */
  abuse: AbuseLimits;
  /** the fast keyed check of app secrets (keyed by TOKEN_SECRET) */
  secretCheck: SecretCheck;
  /** seals and opens app secrets (SECRET_ENCRYPTION_KEY), for the RongCloud server API's signatures */
  secretBox: SecretBox;
  /** the token buckets every limit draws from (in this process, or in Redis with REDIS_URL) */
  rateLimiter: RateLimiter;
  /** the client address of a request or upgrade (TRUST_PROXY decides whether X-Forwarded-For counts) */
  clientIp: ClientIp;
}

export type { Loaders };

export interface Context extends Services {
  caller: Caller;
  /** X-Device-Id of the HTTP request, or the socket's deviceId */
  deviceId?: string;
  /** set when the operation arrives over a graphql-ws socket */
  connectionId?: string;
  connection?: RealtimeConnection;
  /** the graphql-ws id of the operation this context runs (set over a socket only) */
  operationId?: string;
  loaders: Loaders;
  /** null for callers that see no profiles (anonymous, operator) */
  visibility: VisibilityDecisions | null;
}

export function appOf(caller: Caller): AppRow | null {
  return caller.kind === 'user' || caller.kind === 'app' ? caller.app : null;
}

/** The request's context: who calls, from which device or socket, and its per-request readers. */
export function createContext(services: Services, caller: Caller, extra: { deviceId?: string; connectionId?: string; connection?: RealtimeConnection } = {}): Context {
  const app = appOf(caller);
  return { ...services, caller, ...extra, loaders: createLoaders(services.db, services.appConfig, app?.appKey ?? ''), visibility: visibilityFor(services.db, caller) };
}
