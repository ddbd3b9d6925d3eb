import { z } from 'zod';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : ['true', '1', 'yes'].includes(v)));

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: optionalString,
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  DATA_DIR: z.string().default('./data'),
  REDIS_URL: optionalString,
  TOKEN_SECRET: optionalString.refine((v) => v === undefined || Buffer.byteLength(v) >= 32, 'TOKEN_SECRET must be at least 32 bytes'),
  OPERATOR_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, 'OPERATOR_TOKEN must be at least 16 characters'),
  GRAPHIQL: flag(true),
  INTROSPECTION: flag(true),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  WS_MAX_PAYLOAD_BYTES: z.coerce.number().int().min(1024).default(65_536),
  WS_MAX_BUFFERED_EVENTS: z.coerce.number().int().min(10).default(1000),
  WS_INIT_TIMEOUT_MS: z.coerce.number().int().min(10).default(10_000),
  WS_MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).default(20),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(20),
  WS_MAX_PENDING_CONNECTS: z.coerce.number().int().min(1).default(5000),
  WS_KEEPALIVE_MS: z.coerce.number().int().min(100).default(12_000),
  MAX_QUERY_DEPTH: z.coerce.number().int().min(1).default(10),
  MAX_QUERY_ALIASES: z.coerce.number().int().min(0).default(15),
  MAX_QUERY_TOKENS: z.coerce.number().int().min(50).default(2000),
  MAX_QUERY_DIRECTIVES: z.coerce.number().int().min(0).default(50),
  MAX_QUERY_COST: z.coerce.number().int().min(10).default(5000),
  RATE_LIMIT_USER_PER_SECOND: z.coerce.number().min(0).default(50),
  RATE_LIMIT_USER_BURST: z.coerce.number().int().min(1).default(100),
  RATE_LIMIT_APP_PER_SECOND: z.coerce.number().min(0).default(1000),
  RATE_LIMIT_APP_BURST: z.coerce.number().int().min(1).default(2000),
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean))
    .refine((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/i.test(o)), 'CORS_ORIGINS must be a comma list of origins such as https://app.example.com, or *'),
  PRESENCE_HEARTBEAT_MS: z.coerce.number().int().min(50).default(10_000),
  PRESENCE_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  PRESENCE_OFFLINE_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(3000),
  EVENT_RETENTION_SECONDS: z.coerce.number().int().min(1).max(31_536_000).default(604_800),
  EVENT_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  NODE_ENV: z.string().optional(),
});

export interface Config {
  port: number;
  host: string;
  /** real PostgreSQL when set; the embedded PGlite under dataDir otherwise */
  databaseUrl?: string;
  databasePoolSize: number;
  dataDir: string;
  redisUrl?: string;
  /** HS256 key for user tokens; required with DATABASE_URL, generated for the embedded setup */
  tokenSecret?: string;
  /** Bearer token of the server operator; createApp over the API is off without it */
  operatorToken?: string;
  graphiql: boolean;
  introspection: boolean;
  maxBodyBytes: number;
  /** largest graphql-ws frame accepted */
  wsMaxPayloadBytes: number;
  /** events held for one slow connection before it is closed with 4008 */
  wsMaxBufferedEvents: number;
  /** a socket that sends no connection_init within this time is closed with 4408 */
  wsInitTimeoutMs: number;
  /** open graphql-ws connections of one user on one instance; one more is closed with 4429 */
  wsMaxConnectionsPerUser: number;
  /** operations running at once on one connection (subscriptions and in-flight queries); one more is refused */
  wsMaxSubscriptionsPerConnection: number;
  /** connection_inits being authenticated and registered at once on this instance; past it, new ones are shed (1013) */
  wsMaxPendingConnects: number;
  /** ping interval; a socket that did not answer the previous ping is dropped */
  wsKeepAliveMs: number;
  /** limits on one GraphQL document (graphql-armor); a document over one is BAD_USER_INPUT */
  maxQueryDepth: number;
  maxQueryAliases: number;
  maxQueryTokens: number;
  maxQueryDirectives: number;
  maxQueryCost: number;
  /** token buckets (rate per second, burst); a rate of 0 turns that limit off. Shared through Redis with REDIS_URL */
  rateLimitUserPerSecond: number;
  rateLimitUserBurst: number;
  /** one bucket per app: its backend's requests and all its users' together */
  rateLimitAppPerSecond: number;
  rateLimitAppBurst: number;
  /** origins allowed to call from a browser (CORS); empty: same origin only, no CORS headers; '*': any origin */
  corsOrigins: string[];
  /** presence heartbeat period; also how often dead instances are looked for */
  presenceHeartbeatMs: number;
  /** an instance silent this long is dead and its users go offline */
  presenceTimeoutMs: number;
  /** a platform's offline is announced this long after its last connection closed, unless it reconnects */
  presenceOfflineGraceMs: number;
  /** how long the event log keeps events: an older cursor is CURSOR_EXPIRED */
  eventRetentionSeconds: number;
  /** how often each instance reads the event log without being woken (Redis down, a lost wake-up) */
  eventPollMs: number;
  /**
   * On SIGTERM the process exits within this long: it stops accepting, lets requests in flight
   * finish, closes its sockets with 1012 and leaves the cluster; past it, it exits anyway (code 1)
   */
  shutdownGraceMs: number;
  logLevel: string;
  /** json in production (NODE_ENV=production or no terminal), pretty otherwise */
  logFormat: 'json' | 'pretty';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    tokenSecret: e.TOKEN_SECRET,
    operatorToken: e.OPERATOR_TOKEN,
    graphiql: e.GRAPHIQL,
    introspection: e.INTROSPECTION,
    maxBodyBytes: e.MAX_BODY_BYTES,
    wsMaxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES,
    wsMaxBufferedEvents: e.WS_MAX_BUFFERED_EVENTS,
    wsInitTimeoutMs: e.WS_INIT_TIMEOUT_MS,
    wsMaxConnectionsPerUser: e.WS_MAX_CONNECTIONS_PER_USER,
    wsMaxSubscriptionsPerConnection: e.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
    wsMaxPendingConnects: e.WS_MAX_PENDING_CONNECTS,
    wsKeepAliveMs: e.WS_KEEPALIVE_MS,
    maxQueryDepth: e.MAX_QUERY_DEPTH,
    maxQueryAliases: e.MAX_QUERY_ALIASES,
    maxQueryTokens: e.MAX_QUERY_TOKENS,
    maxQueryDirectives: e.MAX_QUERY_DIRECTIVES,
    maxQueryCost: e.MAX_QUERY_COST,
    rateLimitUserPerSecond: e.RATE_LIMIT_USER_PER_SECOND,
    rateLimitUserBurst: e.RATE_LIMIT_USER_BURST,
    rateLimitAppPerSecond: e.RATE_LIMIT_APP_PER_SECOND,
    rateLimitAppBurst: e.RATE_LIMIT_APP_BURST,
    corsOrigins: e.CORS_ORIGINS,
    presenceHeartbeatMs: e.PRESENCE_HEARTBEAT_MS,
    presenceTimeoutMs: e.PRESENCE_TIMEOUT_MS,
    presenceOfflineGraceMs: e.PRESENCE_OFFLINE_GRACE_MS,
    eventRetentionSeconds: e.EVENT_RETENTION_SECONDS,
    eventPollMs: e.EVENT_POLL_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (e.NODE_ENV !== 'production' && process.stdout.isTTY ? 'pretty' : 'json'),
  };
}
