import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CamelCasePlugin, Kysely, Migrator, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import type { Database } from './database.ts';
import { migrationProvider } from './migrations/index.ts';
import { pglitePool } from './pglite-pool.ts';

export type DatabaseTarget =
  | { kind: 'postgres'; url: string; poolSize?: number }
  /** dataDir undefined = in memory (tests) */
  | { kind: 'embedded'; dataDir?: string };

export interface DbOptions {
  /** called once per SQL statement sent, e.g. to count statements in tests */
  onQuery?: (sql: string) => void;
  /**
   * Server-side limits on every pooled PostgreSQL connection (0 or absent: none): a statement
   * running longer is cancelled, a transaction left idle longer is ended with its session. Either
   * way PostgreSQL rolls the transaction back, so a stuck request fails (INTERNAL) and leaves
   * nothing half-written. PGlite accepts these settings but does not enforce them.
   */
  statementTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
}

/** How long a request waits for a database connection (new, or free in the pool). */
const CONNECT_TIMEOUT_MS = 10_000;

// int8 (counts, identities) as JS numbers on both drivers; our int8 values stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export async function connectDatabase(target: DatabaseTarget, options: DbOptions = {}): Promise<Kysely<Database>> {
  const pool =
    target.kind === 'postgres'
      ? new pg.Pool({
          connectionString: target.url,
          max: target.poolSize ?? 10,
          // bounded waits: an unreachable database (or a saturated pool) fails a request with
          // INTERNAL after this long instead of holding it forever (pg's default is no limit)
          connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
          // notice dead peers on idle connections (a database host that vanished without a FIN)
          keepAlive: true,
          // sent in the start-up packet: in force from the connection's first statement
          statement_timeout: options.statementTimeoutMs || undefined,
          idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs || undefined,
        })
      : pglitePool(await openPglite(target.dataDir));
  if (target.kind === 'postgres') {
    // A client losing its connection (database restart or crash) must not crash the process:
    // pg emits 'error' on the client, idle in the pool (the pool's 'error') or checked out by a
    // request (the client's own 'error', unhandled by default). The request in flight fails with
    // its query's error, and the pool drops the broken client when it is released.
    (pool as pg.Pool).on('error', () => {});
    (pool as pg.Pool).on('connect', (client) => client.on('error', () => {}));
  }
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    // column names only: the keys inside JSON values (a profile's ext entries such as RongCloud's
    // `ext_Profile`, events' payloads) are data, and come back exactly as they were written
    plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
    log: options.onQuery
      ? (event: LogEvent) => {
          if (event.level === 'query') options.onQuery!(event.query.sql);
        }
      : undefined,
  });
}

async function openPglite(dataDir: string | undefined) {
  const { PGlite } = await import('@electric-sql/pglite');
  if (dataDir === undefined) return PGlite.create();
  const path = join(dataDir, 'pgdata');
  mkdirSync(path, { recursive: true });
  return PGlite.create(path);
}

/**
 * Applies every pending migration; safe to run from several processes at once (Kysely takes a lock).
 * On one connection without the pool's statement timeout: building an index over a large table,
 * or waiting for another instance's migration lock, legitimately takes longer than a request may.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  return db.connection().execute(async (connection) => {
    await sql`set statement_timeout = 0`.execute(connection);
    try {
      const migrator = new Migrator({ db: connection, provider: migrationProvider });
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error instanceof Error ? error : new Error(String(error));
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    } finally {
      // back to the connection's own setting (its start-up value) before it returns to the pool
      await sql`reset statement_timeout`.execute(connection).catch(() => {});
    }
  });
}

/**
 * For tooling (benchmark, soak, tests): creates the database a PostgreSQL URL names when it does not
 * exist yet, connecting to that server's `postgres` database to do so. Returns whether it was created.
 */
export async function createDatabaseIfMissing(url: string): Promise<boolean> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  return withAdminClient(url, async (client) => {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`create database ${quoteIdentifier(name)}`);
    return true;
  });
}

async function withAdminClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const quoteIdentifier = (name: string) => `"${name.replace(/"/g, '""')}"`;

