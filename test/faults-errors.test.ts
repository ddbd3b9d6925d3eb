/**
 * Issue 5, error hygiene on real PostgreSQL (test/errors.test.ts does the same on the embedded
 * database): database failures raised by `pg` — a statement timeout behind a lock, a missing
 * table — reach clients as INTERNAL with a generic message, over HTTP and over graphql-ws
 * (operations, subscriptions, and the connection_init), with no stack, SQL, driver text or path.
 *
 * Runs on a private database created on DATABASE_URL's server (dropped afterwards), since it
 * breaks it on purpose.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { openRaw } from './helpers/raw-ws.ts';
import { connectLive, type LiveClient } from './helpers/ws.ts';

const { DATABASE_URL } = process.env;
const OPERATOR = 'faults-errors-operator-token-0123456789';
/** the server's DATABASE_STATEMENT_TIMEOUT_MS: a statement waiting behind our lock fails after it */
const STATEMENT_TIMEOUT_MS = 1500;

/** Nothing internal in what a client receives: no stack frame, SQL, driver or database text, path. */
function expectClean(value: unknown) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/); // stack frames
  expect(text).not.toMatch(/\b(select|insert|update|delete)\b.+\b(from|into|set)\b/i); // SQL
  expect(text).not.toMatch(/relation|does not exist|statement timeout|canceling|sqlstate|postgres|kysely|pg-pool|\/work\/|node_modules/i);
}

function expectInternal(errors: { message: string; extensions?: Record<string, unknown> }[] | undefined) {
  expect(errors?.length, JSON.stringify(errors)).toBeGreaterThan(0);
  for (const error of errors!) {
    expect(error.extensions?.code, JSON.stringify(error)).toBe('INTERNAL');
    expect(error.message).toBe('Internal server error');
    expectClean(error);
  }
}

describe.skipIf(!DATABASE_URL)('database errors through pg are INTERNAL and clean, over HTTP and graphql-ws (needs DATABASE_URL)', () => {
  const dbName = `phs_errors_${process.pid}_${Date.now()}`;
  let privateUrl: string;
  let admin: pg.Client;
  let app: App;
  let url: string;
  let backend: GraphQLClient;
  let alice: GraphQLClient;
  let aliceToken: string;
  const sockets: LiveClient[] = [];

  beforeAll(async () => {
    const target = new URL(DATABASE_URL!);
    target.pathname = `/${dbName}`;
    privateUrl = target.toString();
    admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`create database "${dbName}"`);
    app = await buildApp({
      config: {
        port: 0,
        metricsPort: null,
        host: '127.0.0.1',
        operatorToken: OPERATOR,
        tokenSecret: 'faults-errors-token-secret-long-enough-0123456789', secretEncryptionKey: 'test-secret-encryption-key-0123456789-0123456789',
        presenceHeartbeatMs: 3_600_000,
        databaseStatementTimeoutMs: STATEMENT_TIMEOUT_MS,
        logLevel: 'silent', // the server logs the real errors; keep the test output clean
        logFormat: 'json',
      },
      database: { kind: 'postgres', url: privateUrl, poolSize: 4 },
    });
    url = (await app.start()).url;
    const { appKey, appSecret } = (await new GraphQLClient(url, bearer(OPERATOR)).ok('mutation { createApp(name: "errors") { appKey appSecret } }')).createApp;
    backend = new GraphQLClient(url, basic(appKey, appSecret));
    aliceToken = (await backend.ok('mutation { issueUserToken(userId: "alice") { token } }')).issueUserToken.token;
    alice = new GraphQLClient(url, bearer(aliceToken));
    await alice.ok('{ myUserProfile { userId } }');
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(sockets.map((s) => s.dispose()));
    await app?.stop().catch(() => {});
    await admin?.query(`drop database if exists "${dbName}" with (force)`).catch(() => {});
    await admin?.end();
  }, 60_000);

  const live = async () => {
    const client = connectLive(url, { authToken: aliceToken, platform: 'WEB' });
    sockets.push(client);
    await client.connected;
    return client;
  };

  /** Runs `during` while the table is locked by another session (statements on it time out). */
  async function withLockedTable<T>(table: string, during: () => Promise<T>): Promise<T> {
    const locker = new pg.Client({ connectionString: privateUrl });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('set local statement_timeout = 0');
      await locker.query(`lock table ${table} in access exclusive mode`);
      return await during();
    } finally {
      await locker.query('rollback').catch(() => {});
      await locker.end();
    }
  }

  it('a statement timeout (behind a lock) is INTERNAL over HTTP and over a graphql-ws operation, without a hang', async () => {
    const socket = await live();
    const started = Date.now();
    const [http, overSocket] = await withLockedTable('users', () =>
      Promise.all([
        // over HTTP the caller's token check already waits on the lock: the failure is in the context
        alice.request('{ myUserProfile { userId name } }'),
        // over graphql-ws the caller is known; the resolver's read waits on the lock
        socket.execute('{ myUserProfile { userId name } }'),
      ]),
    );
    expect(Date.now() - started).toBeLessThan(STATEMENT_TIMEOUT_MS + 15_000);
    expectInternal(http.errors);
    expectInternal(overSocket.errors);
    // the lock is gone: the same calls work again, on the same socket
    expect((await alice.ok('{ myUserProfile { userId } }')).myUserProfile.userId).toBe('alice');
    expect((await socket.execute('{ myUserProfile { userId } }')).data).toEqual({ myUserProfile: { userId: 'alice' } });
  });

  it('a failing connection_init closes the socket with 4500 and a generic reason, logged through the logger (not console.error)', async () => {
    // the token check at connection_init waits on the lock and times out
    const raw = await openRaw(url);
    const originalError = console.error;
    const printed: unknown[][] = [];
    console.error = (...args: unknown[]) => void printed.push(args);
    const closed = await withLockedTable('users', async () => {
      raw.send({ type: 'connection_init', payload: { authToken: aliceToken, platform: 'WEB' } });
      return raw.closed;
    }).finally(() => (console.error = originalError));
    expect(printed).toEqual([]);
    expect(closed.code).toBe(4500);
    expect(closed.reason).toBe('Internal server error');
    expectClean(closed.reason);
    expect(raw.messages.filter((m) => m.type === 'connection_ack')).toEqual([]);
  });

  it('a missing table is INTERNAL over HTTP, a graphql-ws operation and a graphql-ws subscription', async () => {
    const socket = await live();
    const breaker = new pg.Client({ connectionString: privateUrl });
    await breaker.connect();
    try {
      await breaker.query('drop table status_subscriptions');
    } finally {
      await breaker.end();
    }
    const mutation = 'mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["bob"], expiry: 3600) { failedUserIds } }';
    expectInternal((await alice.request(mutation)).errors);
    expectInternal((await socket.execute(mutation)).errors);
    // a query failing inside one of two parallel resolvers: one INTERNAL error, with its path
    const query = await alice.request('{ myUserProfile { userId } subscribedUsers(type: USER_PROFILE) { totalCount } }');
    expectInternal(query.errors);
    expect(query.errors![0]!.path).toEqual(['subscribedUsers']);

    // the subscription's sync reads the subscriptions: its error message is INTERNAL too
    const status = socket.subscribe('subscription { subscribedUserStatusChange(types: [USER_PROFILE]) { __typename } }');
    const deadline = Date.now() + 10_000;
    while (status.errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(status.events).toEqual([]);
    expect(status.errors).toHaveLength(1);
    const sent = status.errors[0] as { message: string; extensions?: Record<string, unknown> }[] | { message: string; extensions?: Record<string, unknown> };
    expectInternal(Array.isArray(sent) ? sent : [sent]);
    // the socket itself survives a failed operation
    expect((await socket.execute('{ myUserProfile { userId } }')).data).toEqual({ myUserProfile: { userId: 'alice' } });
  });
});
