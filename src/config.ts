import proxyAddr from 'proxy-addr';
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

const PORT_RULE = 'must be a whole number from 0 to 65535 (0: any free port)';
const port = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!/^\s*\d+\s*$/.test(v) || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `${PORT_RULE}, not ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return n;
    });
/** A duration in milliseconds where 0 means "no limit". */
const limitMs = (fallback: number) => z.coerce.number().int().min(0).max(86_400_000).default(fallback);

const EnvSchema = z.object({
  PORT: port(4000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: optionalString,
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: limitMs(10_000),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: limitMs(30_000),
  DATA_DIR: z.string().default('./data'),
  REDIS_URL: optionalString,
  TOKEN_SECRET: optionalString.refine((v) => v === undefined || Buffer.byteLength(v) >= 32, 'TOKEN_SECRET must be at least 32 bytes'),
  SECRET_ENCRYPTION_KEY: optionalString.refine((v) => v === undefined || Buffer.byteLength(v) >= 32, 'SECRET_ENCRYPTION_KEY must be at least 32 bytes'),
  RATE_LIMIT_SERVER_API_SCALE: z.coerce.number().min(0).max(1000).default(1),
  OPERATOR_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, 'OPERATOR_TOKEN must be at least 16 characters'),
  // Prometheus' registered default port for Node.js exporters
  METRICS_PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v !== undefined && ['off', 'false', 'no', 'none'].includes(v.trim().toLowerCase())) return null;
      const parsed = port(9464).safeParse(v);
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: 'custom', message: `${PORT_RULE}, or off; not ${JSON.stringify(v)}` });
      return z.NEVER;
    }),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, 'METRICS_TOKEN must be at least 16 characters'),
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
  RATE_LIMIT_IP_PER_SECOND: z.coerce.number().min(0).default(5),
  RATE_LIMIT_IP_BURST: z.coerce.number().int().min(1).default(50),
  RATE_LIMIT_IP_CONNECTS_PER_SECOND: z.coerce.number().min(0).default(50),
  RATE_LIMIT_IP_CONNECTS_BURST: z.coerce.number().int().min(1).default(500),
  RATE_LIMIT_USER_CONNECTS_PER_SECOND: z.coerce.number().min(0).default(1),
  RATE_LIMIT_USER_CONNECTS_BURST: z.coerce.number().int().min(1).default(20),
  RATE_LIMIT_APP_AUTH_FAILURES_PER_SECOND: z.coerce.number().min(0).default(1),
  RATE_LIMIT_APP_AUTH_FAILURES_BURST: z.coerce.number().int().min(1).default(20),
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((p) => p.trim()).filter(Boolean))
    .refine((list) => {
      try {
        proxyAddr.compile(list);
        return true;
      } catch {
        return false;
      }
    }, 'TRUST_PROXY must be a comma list of proxy addresses or subnets (10.0.0.1, 10.0.0.0/8, ::1) or loopback, linklocal, uniquelocal'),
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
  SUBSCRIPTION_EXPIRY_WARNING_SECONDS: z.coerce.number().int().min(0).max(2_592_000).default(3600),
  SUBSCRIPTION_EXPIRY_SWEEP_MS: z.coerce.number().int().min(100).max(3_600_000).default(5000),
  // at most 10 s: SPEC §10 promises watchers an expired custom status's change within 10 s
  CUSTOM_STATUS_SWEEP_MS: z.coerce.number().int().min(100).max(10_000).default(5000),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: flag(false),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(10).max(120_000).default(10_000),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(5000),
  WEBHOOK_RETRY_WINDOW_MS: z.coerce.number().int().min(1000).max(7 * 86_400_000).default(86_400_000),
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
  /** server-side statement_timeout of the server's pooled PostgreSQL connections; 0: none */
  databaseStatementTimeoutMs: number;
  /** idle_in_transaction_session_timeout of the same connections; 0: none */
  databaseIdleInTransactionTimeoutMs: number;
  dataDir: string;
  redisUrl?: string;
  /** HS256 key for user tokens; required with DATABASE_URL, generated for the embedded setup */
  tokenSecret?: string;
  /**
   * Key (at least 32 bytes) that encrypts app secrets (AES-256-GCM) so that RongCloud-signed server
   * API requests can be verified; required with DATABASE_URL, generated for the embedded setup
   */
  secretEncryptionKey?: string;
  /** multiplies the server API's per-endpoint rates (RongCloud's: getToken 200/s, the rest 100/s); 0 turns them off */
  rateLimitServerApiScale: number;
  /** Bearer token of the server operator; createApp over the API is off without it */
  operatorToken?: string;
  /** the Prometheus listener's port (0: any free one); null: no metrics listener */
  metricsPort: number | null;
  /** where the metrics listener binds: loopback unless a scraper elsewhere needs it */
  metricsHost: string;
  /** with it, /metrics is also served on the public port, to `Authorization: Bearer <token>` only */
  metricsToken?: string;
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
  /** requests without valid credentials and failed authentications, per client IP (HTTP and connection_init) */
  rateLimitIpPerSecond: number;
  rateLimitIpBurst: number;
  /** WebSocket upgrades per client IP; past it the upgrade is answered 429 */
  rateLimitIpConnectsPerSecond: number;
  rateLimitIpConnectsBurst: number;
  /** connection_inits per user (all its devices, every instance); past it the socket closes with 1013 and a retry hint */
  rateLimitUserConnectsPerSecond: number;
  rateLimitUserConnectsBurst: number;
  /** wrong Basic secrets per app, from any IP; past it they answer RATE_LIMITED (a right secret still passes) */
  rateLimitAppAuthFailuresPerSecond: number;
  rateLimitAppAuthFailuresBurst: number;
  /**
   * Proxies whose X-Forwarded-For is believed (addresses, subnets, or loopback/linklocal/uniquelocal);
   * empty: the client IP is the socket's peer address
   */
  trustProxy: string[];
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
   * a subscription's SubscriptionsExpiring event comes min(this, expiry / 2) seconds before it
   * expires (SPEC §11); 0: no warnings
   */
  subscriptionExpiryWarningSeconds: number;
  /** how often each instance looks for due expiry warnings */
  subscriptionExpirySweepMs: number;
  /** how often each instance clears the custom statuses past their expiry (and pushes the change) */
  customStatusSweepMs: number;
  /**
   * On SIGTERM the process exits within this long: it stops accepting, lets requests in flight
   * finish, closes its sockets with 1012 and leaves the cluster; past it, it exits anyway (code 1)
   */
  shutdownGraceMs: number;
  /**
   * Webhooks may call loopback, private, link-local and unique-local addresses (a receiver on the
   * same host or network). Off by default: a webhook URL could otherwise reach internal services
   */
  webhookAllowPrivateNetworks: boolean;
  /** a webhook attempt that has no answer (status line and headers) within this long failed */
  webhookTimeoutMs: number;
  /** the first retry of a webhook delivery comes after about this long; each next one waits about twice as long (full jitter, capped at an hour) */
  webhookRetryBaseMs: number;
  /** a webhook delivery is retried this long after it was created, then FAILED */
  webhookRetryWindowMs: number;
  logLevel: string;
  /** json in production (NODE_ENV=production or no terminal), pretty otherwise */
  logFormat: 'json' | 'pretty';
}

/** A setting that is missing, malformed or inconsistent with another; its message is one line for the operator. */
export class ConfigError extends Error {
  constructor(problems: string) {
    super(`invalid configuration: ${problems}`);
    this.name = 'ConfigError';
  }
}

/**
 * The configuration the environment describes, every setting checked on its own and against the
 * others (what `npm start` runs with). Throws a ConfigError naming every problem.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config = readEnvironment(env);
  checkConfig(config);
  return config;
}

/** Rules across settings, checked once every override is applied. */
export function checkConfig(config: Config): void {
  const problems: string[] = [];
  if (config.databaseUrl && !config.tokenSecret) {
    problems.push('TOKEN_SECRET (at least 32 bytes) is required with DATABASE_URL: every instance must sign tokens with the same key');
  }
  if (config.databaseUrl && !config.secretEncryptionKey) {
    problems.push('SECRET_ENCRYPTION_KEY (at least 32 bytes) is required with DATABASE_URL: every instance must read the app secrets the server API verifies signatures with');
  }
  if (config.metricsPort !== null && config.metricsPort !== 0 && config.metricsPort === config.port && config.port !== 0) {
    problems.push(`METRICS_PORT must differ from PORT (${config.port}); to serve /metrics on the public port set METRICS_TOKEN`);
  }
  if (problems.length) throw new ConfigError(problems.join('; '));
}

/** The environment's settings, each checked on its own (buildApp applies its overrides on top, then checkConfig). */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    databaseIdleInTransactionTimeoutMs: e.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    tokenSecret: e.TOKEN_SECRET,
    secretEncryptionKey: e.SECRET_ENCRYPTION_KEY,
    rateLimitServerApiScale: e.RATE_LIMIT_SERVER_API_SCALE,
    operatorToken: e.OPERATOR_TOKEN,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    metricsToken: e.METRICS_TOKEN,
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
    rateLimitIpPerSecond: e.RATE_LIMIT_IP_PER_SECOND,
    rateLimitIpBurst: e.RATE_LIMIT_IP_BURST,
    rateLimitIpConnectsPerSecond: e.RATE_LIMIT_IP_CONNECTS_PER_SECOND,
    rateLimitIpConnectsBurst: e.RATE_LIMIT_IP_CONNECTS_BURST,
    rateLimitUserConnectsPerSecond: e.RATE_LIMIT_USER_CONNECTS_PER_SECOND,
    rateLimitUserConnectsBurst: e.RATE_LIMIT_USER_CONNECTS_BURST,
    rateLimitAppAuthFailuresPerSecond: e.RATE_LIMIT_APP_AUTH_FAILURES_PER_SECOND,
    rateLimitAppAuthFailuresBurst: e.RATE_LIMIT_APP_AUTH_FAILURES_BURST,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    presenceHeartbeatMs: e.PRESENCE_HEARTBEAT_MS,
    presenceTimeoutMs: e.PRESENCE_TIMEOUT_MS,
    presenceOfflineGraceMs: e.PRESENCE_OFFLINE_GRACE_MS,
    eventRetentionSeconds: e.EVENT_RETENTION_SECONDS,
    eventPollMs: e.EVENT_POLL_MS,
    subscriptionExpiryWarningSeconds: e.SUBSCRIPTION_EXPIRY_WARNING_SECONDS,
    subscriptionExpirySweepMs: e.SUBSCRIPTION_EXPIRY_SWEEP_MS,
    customStatusSweepMs: e.CUSTOM_STATUS_SWEEP_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    webhookAllowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
    webhookRetryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
    webhookRetryWindowMs: e.WEBHOOK_RETRY_WINDOW_MS,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (e.NODE_ENV !== 'production' && process.stdout.isTTY ? 'pretty' : 'json'),
  };
}
