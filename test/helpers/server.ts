import { buildApp, type App } from '../../src/app.ts';
import type { Config } from '../../src/config.ts';
import { ManualClock } from '../../src/clock.ts';
import type { DatabaseTarget } from '../../src/db/connect.ts';
import { GraphQLClient, basic, bearer } from './client.ts';

export const OPERATOR_TOKEN = 'test-operator-token-0123456789abcdef';
/** The key test servers sign user tokens with (unless a test passes its own): forged-token tests sign with it too. */
export const TEST_TOKEN_SECRET = 'test-token-secret-that-is-long-enough-0123456789';
/** The key test servers encrypt app secrets with (a CLI creating apps for them passes it too). */
export const TEST_SECRET_ENCRYPTION_KEY = 'test-secret-encryption-key-0123456789-0123456789';

/** Which database the suite runs on: real PostgreSQL when DATABASE_URL is set, else in-memory PGlite. */
export function testDatabase(): DatabaseTarget {
  return process.env.DATABASE_URL ? { kind: 'postgres', url: process.env.DATABASE_URL, poolSize: 5 } : { kind: 'embedded' };
}

export interface TestServer {
  app: App;
  url: string;
  /** the Prometheus listener (METRICS_PORT, a free port on 127.0.0.1 here); /metrics is not on `url` */
  metricsUrl: string;
  clock: ManualClock;
  /** SQL statements sent since the last reset */
  statements: string[];
  operator: GraphQLClient;
  anonymous: GraphQLClient;
  /** creates a fresh app (tenant) with its backend client */
  newApp(name?: string): Promise<TestApp>;
  stop(): Promise<void>;
}

export interface TestApp {
  appKey: string;
  appSecret: string;
  backend: GraphQLClient;
  /** issues a token for userId (creating the user) and returns that user's client */
  user(userId: string, options?: { deviceId?: string; expiresInSeconds?: number }): Promise<GraphQLClient & { token: string }>;
}

/**
 * A test server with no background pass at all (heartbeat, log polling, expiry and custom status
 * sweeps, webhook dispatcher and worker), for tests that count the SQL statements of one request
 * or one change: nothing else may run in their window.
 */
export async function startQuietTestServer(): Promise<TestServer> {
  const server = await startTestServer({ config: { presenceHeartbeatMs: 3_600_000, eventPollMs: 3_600_000, subscriptionExpirySweepMs: 3_600_000, customStatusSweepMs: 3_600_000 } });
  await server.app.webhooks.dispatcher.stop();
  await server.app.webhooks.worker.stop();
  return server;
}

/** A real server on a free port over the test database, with a movable clock. */
export async function startTestServer(options: { config?: Partial<Config> } = {}): Promise<TestServer> {
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00.000Z'));
  const statements: string[] = [];
  const app = await buildApp({
    // no offline grace unless a test asks for one (test/presence-grace.test.ts): the other tests
    // check offlines as they happen
    config: {
      port: 0,
      host: '127.0.0.1',
      operatorToken: OPERATOR_TOKEN,
      tokenSecret: TEST_TOKEN_SECRET, secretEncryptionKey: TEST_SECRET_ENCRYPTION_KEY,
      logLevel: 'warn',
      logFormat: 'json',
      presenceOfflineGraceMs: 0,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      // every test client comes from 127.0.0.1, and some tests send many wrong credentials on
      // purpose: the per-IP, per-user-connect and per-app-failure limits are tested on servers of
      // their own (test/abuse-limits.test.ts)
      rateLimitIpPerSecond: 0,
      rateLimitAppAuthFailuresPerSecond: 0,
      rateLimitIpConnectsPerSecond: 0,
      rateLimitUserConnectsPerSecond: 0,
      // webhook receivers in tests listen on 127.0.0.1; on a shared PostgreSQL every test server's
      // worker may send any file's deliveries, so all of them allow it and retry soon (the refusal
      // of private addresses is tested with the flag off in test/webhooks-ssrf.test.ts)
      webhookAllowPrivateNetworks: true,
      webhookRetryBaseMs: 200,
      ...options.config,
    },
    database: testDatabase(),
    clock,
    onQuery: (sql) => statements.push(sql),
  });
  const { url, metricsUrl } = await app.start();
  const operator = new GraphQLClient(url, bearer(OPERATOR_TOKEN));
  let counter = 0;
  return {
    app,
    url,
    metricsUrl: metricsUrl ?? '',
    clock,
    statements,
    operator,
    anonymous: new GraphQLClient(url),
    async newApp(name = `test app ${++counter}`) {
      const { appKey, appSecret } = (await operator.ok<{ createApp: { appKey: string; appSecret: string } }>(
        'mutation($name: String!) { createApp(name: $name) { appKey appSecret } }',
        { name },
      )).createApp;
      const backend = new GraphQLClient(url, basic(appKey, appSecret));
      return {
        appKey,
        appSecret,
        backend,
        async user(userId, opts = {}) {
          const { token } = (await backend.ok<{ issueUserToken: { token: string } }>(
            'mutation($u: ID!, $e: Int) { issueUserToken(userId: $u, expiresInSeconds: $e) { token } }',
            { u: userId, e: opts.expiresInSeconds },
          )).issueUserToken;
          const client = new GraphQLClient(url, bearer(token), opts.deviceId ? { 'x-device-id': opts.deviceId } : {});
          return Object.assign(client, { token });
        },
      };
    },
    stop: () => app.stop(),
  };
}
