/**
 * Data of the `scale` scenario (bench/scenarios/scale.ts), seeded only when that scenario runs:
 * an app of its own (`bench-scale`), so that the default seed (bench/seed.ts) neither pays for it
 * nor drops it when its own version changes. Idempotent: a database already holding this
 * SCALE_SEED_VERSION (the app's name) with fresh subscriptions is reused.
 *
 * Always seeded at full size (100 000 devices) whatever BENCH_SCALE_DEVICES says: a smaller run
 * uses the first N devices, and every role below is laid out so that the first N hold it in
 * proportion (devices are spread over the instances by index: device i runs on instance i % 6).
 */
import pg from 'pg';
import { hashSecret } from '../src/auth/secrets.ts';
import { DATABASE_URL, log } from './lib/config.ts';
import { ensureDatabase } from './seed.ts';
import { connectDatabase, migrateToLatest } from '../src/db/connect.ts';

export const SCALE_APP_KEY = 'bench-scale';
/** Bumped whenever the seeded data changes shape: a database seeded by another version is re-seeded. */
export const SCALE_SEED_VERSION = 'bench scale seed v1';

export const SCALE_SEED = {
  /** x000000..x099999: the devices, one per user */
  devices: 100_000,
  instances: 6,
  /** the instance that is SIGKILLed (devices i with i % instances === killed) */
  killed: 5,
  fanTarget: 'x-target',
  /** USER_PROFILE subscribers of x-target: devices x000000..x004999 (5000 = the per-target cap, SPEC §5) */
  fanSubscribers: 5000,
  /** ONLINE_STATUS subscriptions per watcher / checker (the per-subscriber cap, SPEC §5) */
  perWatcher: 1000,
  /** xk00..xk16: live watchers of the killed instance's devices, 1000 each, covering all 16 667 */
  killWatchers: 17,
  /** xs0..xs4: live watchers of the first 5000 devices of the surviving instances (a sample) */
  survivorWatchers: 5,
  /** xq000..xq099: never connected; their subscriptions serve the HTTP check of all devices (subscribedUserStatus) */
  checkers: 100,
};

export const scaleId = {
  device: (i: number) => `x${String(i).padStart(6, '0')}`,
  killWatcher: (j: number) => `xk${String(j).padStart(2, '0')}`,
  survivorWatcher: (j: number) => `xs${j}`,
  checker: (j: number) => `xq${String(j).padStart(3, '0')}`,
};

/** Device index of the r-th device (0-based) on the killed instance. */
export const killedDevice = (r: number) => SCALE_SEED.instances * r + SCALE_SEED.killed;
/** Device index of the r-th device (0-based) on any surviving instance, in index order (assumes killed = instances - 1). */
export const survivorDevice = (r: number) => SCALE_SEED.instances * Math.floor(r / (SCALE_SEED.instances - 1)) + (r % (SCALE_SEED.instances - 1));

/** rows per seeding statement (each its own short transaction) */
const CHUNK = 20_000;

export async function seedScale(url = DATABASE_URL): Promise<void> {
  if (SCALE_SEED.killed !== SCALE_SEED.instances - 1) throw new Error('survivorDevice assumes the killed instance is the last one');
  await ensureDatabase(url);
  const db = await connectDatabase({ kind: 'postgres', url, poolSize: 2 });
  await migrateToLatest(db);
  await db.destroy();

  const S = SCALE_SEED;
  const users = S.devices + 1 + S.killWatchers + S.survivorWatchers + S.checkers;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const existing = await client.query(
      `select a.name, (select count(*) from users u where u.app_key = a.app_key)::int as users,
              (select min(expires_at) > now() + interval '2 days' from status_subscriptions s where s.app_key = a.app_key) as fresh
       from apps a where a.app_key = $1`,
      [SCALE_APP_KEY],
    );
    const row = existing.rows[0] as { name: string; users: number; fresh: boolean } | undefined;
    if (row && row.name === SCALE_SEED_VERSION && row.users === users && row.fresh) {
      log(`seed scale: reusing the data already seeded (${row.users} users, ${SCALE_SEED_VERSION})`);
      return;
    }
    const started = Date.now();
    const step = async (label: string, sql: string, params: unknown[] = [SCALE_APP_KEY]) => {
      const t = Date.now();
      const result = await client.query(sql, params);
      log(`seed scale: ${label}: ${result.rowCount ?? 0} rows (${Date.now() - t} ms)`);
    };
    // Short statements, no long transaction: event delivery waits for the oldest writing
    // transaction of the whole PostgreSQL server, and others may be using it. The app is named
    // after the version only at the end, so an interrupted seed is dropped and redone next time.
    for (const table of ['status_subscriptions', 'friendships', 'presence_connections', 'presence_platforms', 'presence_users', 'events']) {
      await client.query(`delete from ${table} where app_key = $1`, [SCALE_APP_KEY]);
    }
    await step('drop previous scale app', 'delete from apps where app_key = $1');
    await step(
      'app',
      `insert into apps (app_key, name, secret_hash, default_profile_visibility, default_friend_add_permission, created_at)
       values ($1, 'bench scale seed (incomplete)', $2, 'EVERYONE', 'FREE', now())`,
      [SCALE_APP_KEY, await hashSecret('bench-scale-secret')],
    );
    await step(
      'ext keys',
      `insert into ext_profile_keys (app_key, key, allow_client_read, allow_client_write, created_at)
       values ($1, 'city', true, true, now()), ($1, 'hobby', true, true, now())`,
    );
    /** one statement per CHUNK rows of generate_series(0, count - 1) */
    const chunked = async (label: string, count: number, statement: (from: number, to: number) => string) => {
      for (let from = 0; from < count; from += CHUNK) await step(count > CHUNK ? `${label} [${from}..]` : label, statement(from, Math.min(count, from + CHUNK) - 1));
    };
    const insertUsers = (label: string, idSql: string, count: number) =>
      chunked(
        `users ${label}`,
        count,
        (from, to) => `insert into users (app_key, user_id, name, portrait_uri, unique_id, email, birthday, gender, location, role, level, ext, visibility, friend_add_permission, version, token_generation, created_at, updated_at)
         select $1, ${idSql}, 'User ' || ${idSql}, 'https://img.example.com/p/' || ${idSql} || '.png', replace(${idSql}, '-', ''),
                ${idSql} || '@example.com', '1990-01-' || lpad((1 + g % 28)::text, 2, '0'), (array['UNKNOWN','MALE','FEMALE'])[1 + g % 3],
                'City ' || (g % 50), g % 101, (g * 7) % 101, jsonb_build_object('city', 'Paris', 'hobby', 'chess ' || (g % 10)),
                'NOT_SET', 'NOT_SET', 1, 0, now() - interval '1 day', now() - interval '1 day'
         from generate_series(${from}, ${to}) g`,
      );
    await insertUsers('x* (devices)', `'x' || lpad(g::text, 6, '0')`, S.devices);
    await insertUsers(S.fanTarget, `'${S.fanTarget}'`, 1);
    await insertUsers('xk* (watchers of the killed instance)', `'xk' || lpad(g::text, 2, '0')`, S.killWatchers);
    await insertUsers('xs* (watchers of survivors)', `'xs' || g::text`, S.survivorWatchers);
    await insertUsers('xq* (checkers)', `'xq' || lpad(g::text, 3, '0')`, S.checkers);

    const subscriptions = (label: string, count: number, selectSql: (from: number, to: number) => string) =>
      chunked(
        `subscriptions ${label}`,
        count,
        (from, to) => `insert into status_subscriptions (app_key, subscriber_id, target_id, type, subscribed_at, expiry, expires_at)
         select $1, subscriber, target, type, now() - interval '1 minute', 2592000, now() - interval '1 minute' + interval '2592000 seconds'
         from (${selectSql(from, to)}) s(subscriber, target, type)`,
      );
    const device = (indexSql: string) => `'x' || lpad((${indexSql})::text, 6, '0')`;
    await subscriptions(`x000000..x00${S.fanSubscribers - 1} -> ${S.fanTarget} (USER_PROFILE)`, S.fanSubscribers, (from, to) => `select ${device('i')}, '${S.fanTarget}', 'USER_PROFILE' from generate_series(${from}, ${to}) i`);
    // killed-instance device of rank r = 6r + 5; watcher j holds ranks 1000j .. 1000j + 999
    const killedCount = Math.ceil((S.devices - S.killed) / S.instances);
    await subscriptions(
      'xk* -> the killed instance devices (ONLINE_STATUS)',
      killedCount,
      (from, to) => `select 'xk' || lpad((r / ${S.perWatcher})::text, 2, '0'), ${device(`${S.instances} * r + ${S.killed}`)}, 'ONLINE_STATUS' from generate_series(${from}, ${to}) r`,
    );
    // survivor device of rank r = 6 (r / 5) + r % 5
    await subscriptions(
      'xs* -> the first survivor devices (ONLINE_STATUS)',
      S.survivorWatchers * S.perWatcher,
      (from, to) => `select 'xs' || (r / ${S.perWatcher})::text, ${device(`${S.instances} * (r / ${S.instances - 1}) + r % ${S.instances - 1}`)}, 'ONLINE_STATUS' from generate_series(${from}, ${to}) r`,
    );
    await subscriptions('xq* -> every device (ONLINE_STATUS)', S.devices, (from, to) => `select 'xq' || lpad((i / ${S.perWatcher})::text, 3, '0'), ${device('i')}, 'ONLINE_STATUS' from generate_series(${from}, ${to}) i`);
    await client.query('analyze users');
    await client.query('analyze status_subscriptions');
    await step('version', 'update apps set name = $2 where app_key = $1', [SCALE_APP_KEY, SCALE_SEED_VERSION]);
    log(`seed scale: done in ${Date.now() - started} ms`);
  } finally {
    await client.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await seedScale();
}
