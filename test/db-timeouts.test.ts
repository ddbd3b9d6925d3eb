/**
 * SPEC §14, database timeouts, on real PostgreSQL: every pooled connection of the server carries
 * DATABASE_STATEMENT_TIMEOUT_MS and DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS. A write stuck behind
 * someone else's row lock fails with INTERNAL after about the statement timeout (not after the
 * lock is released, not never), and nothing of it stays: no new version, no event in the log.
 * (PGlite accepts these settings but does not enforce them: see the README.)
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectLive } from './helpers/ws.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

const { DATABASE_URL } = process.env;
const STATEMENT_TIMEOUT_MS = 800;
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 1500;

describe.skipIf(!DATABASE_URL)('statement and idle-in-transaction timeouts (needs DATABASE_URL)', () => {
  let server: TestServer;
  let app: TestApp;
  let locker: pg.Client;

  beforeAll(async () => {
    // silent: the server logs each timed-out statement as an internal error, on purpose here
    server = await startTestServer({ config: { databaseStatementTimeoutMs: STATEMENT_TIMEOUT_MS, databaseIdleInTransactionTimeoutMs: IDLE_IN_TRANSACTION_TIMEOUT_MS, logLevel: 'silent' } });
    app = await server.newApp();
    // the test's own connection, with no timeout of its own: it holds the lock as long as it likes
    locker = new pg.Client({ connectionString: DATABASE_URL, statement_timeout: 0 });
    await locker.connect();
  });
  afterAll(async () => {
    await locker?.query('rollback').catch(() => {});
    await locker?.end();
    await server?.stop();
  });

  it('every pooled connection has both settings (from the start-up packet, not a SET that a failure could skip)', async () => {
    const db = server.app.services.db;
    // several connections at once, so that more than the first one of the pool is looked at
    const seen = await Promise.all(
      Array.from({ length: 4 }, () =>
        db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ s: string; i: string }>`select current_setting('statement_timeout') as s, current_setting('idle_in_transaction_session_timeout') as i, pg_sleep(0.05)`.execute(trx);
          return rows[0];
        }),
      ),
    );
    for (const row of seen) expect(row).toMatchObject({ s: `${STATEMENT_TIMEOUT_MS}ms`, i: `${IDLE_IN_TRANSACTION_TIMEOUT_MS}ms` });
  });

  it('a transaction of the pool left idle past the limit is ended by PostgreSQL; the pool goes on', async () => {
    const db = server.app.services.db;
    const started = Date.now();
    const outcome = await db
      .transaction()
      .execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await new Promise((r) => setTimeout(r, IDLE_IN_TRANSACTION_TIMEOUT_MS + 700));
        await sql`select 1`.execute(trx);
        return 'still open';
      })
      .catch((error: Error) => error.message);
    // PostgreSQL closed the session (FATAL 25P03); pg reports the dead connection on the next query
    expect(outcome).toMatch(/idle-in-transaction|terminat|connection error/i);
    expect(Date.now() - started).toBeLessThan(IDLE_IN_TRANSACTION_TIMEOUT_MS + 5000);
    // the broken connection is dropped, the others serve the next request
    expect((await app.backend.request('{ __typename }')).data).toEqual({ __typename: 'Query' });
  });

  it('a profile write behind a row lock answers INTERNAL after about the timeout and leaves nothing half-written', async () => {
    const alice = await app.user('alice');
    await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "before" }) { version } }');
    const bob = await app.user('bob');
    await bob.ok('mutation { subscribeUserStatus(type: USER_PROFILE, userIds: ["alice"], expiry: 3600) { failedUserIds } }');
    const stored = async () =>
      (await locker.query<{ name: string; version: number }>('select name, version from users where app_key = $1 and user_id = $2', [app.appKey, 'alice'])).rows[0];
    const eventCount = async () => Number((await locker.query<{ n: string }>('select count(*) as n from events where app_key = $1', [app.appKey])).rows[0]!.n);
    const before = { row: await stored(), events: await eventCount() };
    expect(before.row?.name).toBe('before');

    await locker.query('begin');
    await locker.query('select 1 from users where app_key = $1 and user_id = $2 for update', [app.appKey, 'alice']);
    const started = Date.now();
    const result = await alice.request('mutation { updateMyUserProfile(profile: { name: "stuck" }) { name version } }');
    const tookMs = Date.now() - started;
    expect(result.errors?.[0]?.extensions?.code, JSON.stringify(result)).toBe('INTERNAL');
    expect(result.errors?.[0]?.message).toBe('Internal server error');
    expect(JSON.stringify(result)).not.toMatch(/timeout|canceling|statement/i);
    // it waited on the lock (so the lock was in its way), then gave up on its own, well before we let go
    expect(tookMs).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_MS - 50);
    expect(tookMs).toBeLessThan(STATEMENT_TIMEOUT_MS + 2000);
    console.log(`statement timeout ${STATEMENT_TIMEOUT_MS} ms: INTERNAL after ${tookMs} ms`);
    await new Promise((r) => setTimeout(r, 300)); // anything the failed write might still do, it would do now
    await locker.query('rollback');

    // nothing of it: same row, same version, no event
    expect(await stored()).toEqual(before.row);
    expect(await eventCount()).toBe(before.events);
    // and the server goes on: the same write now succeeds, once, with the next version
    const after = await alice.ok('mutation { updateMyUserProfile(profile: { name: "after" }) { name version } }');
    expect(after.updateMyUserProfile).toEqual({ name: 'after', version: before.row!.version + 1 });
    expect(await eventCount()).toBeGreaterThan(before.events);
  });

  it('a graphql-ws operation stuck the same way also answers INTERNAL, and the socket stays open', async () => {
    const carol = await app.user('carol');
    await carol.ok('{ myUserProfile { userId } }');
    const live = connectLive(server.url, { authToken: carol.token, platform: 'WEB' });
    await live.connected;
    await locker.query('begin');
    await locker.query('select 1 from users where app_key = $1 and user_id = $2 for update', [app.appKey, 'carol']);
    const started = Date.now();
    const result = await live.execute('mutation { updateMyUserProfile(profile: { name: "stuck" }) { version } }');
    const tookMs = Date.now() - started;
    await locker.query('rollback');
    expect((result.errors as { extensions?: { code?: string } }[] | undefined)?.[0]?.extensions?.code, JSON.stringify(result)).toBe('INTERNAL');
    expect(tookMs).toBeLessThan(STATEMENT_TIMEOUT_MS + 2000);
    expect((await live.execute('{ myUserProfile { name } }')).data).toEqual({ myUserProfile: { name: null } });
    await live.dispose();
  });
});
