/**
 * Seeds the benchmark's data in bulk (generate_series in a handful of statements, a few seconds):
 * one app with mixed profile visibilities, friendships and status subscriptions shaped for each
 * scenario. A database already seeded by this SEED_VERSION (with subscriptions that will not
 * expire during the run) is reused; otherwise the app is dropped and seeded again.
 */
import pg from 'pg';
import { hashSecret } from '../src/auth/secrets.ts';
import { connectDatabase, createDatabaseIfMissing, migrateToLatest } from '../src/db/connect.ts';
import { APP_KEY, DATABASE_URL, SEED_VERSION, log } from './lib/config.ts';

/** Who is who in the seeded app (ids are generated from these). */
export const SEED = {
  readers: 1000, // r0000..r0999, mixed visibility, 20 friends each among themselves
  writers: 1000, // w0000..w0999, 10 USER_PROFILE subscribers each
  writeSubscribers: 1000, // s0000..s0999, each subscribes to 10 writers
  fanTarget: 'f-target',
  fanSubscribers: 5000, // f0000..f4999 subscribe to f-target; every 10th is its friend
  syncUser: 'sync-user', // 500 USER_PROFILE + 500 ONLINE_STATUS subscriptions, 20 friends
  clusterTarget: 'c-target',
  clusterSubscribers: 200, // c000..c199 subscribe to c-target
  idle: 10_000, // i00000..i09999
  reconnectDevices: 2000, // e0000..e1999: 50 subscriptions each, to t*: t(i + 20k mod 1000), k = 0..49 (even k ONLINE_STATUS, odd k USER_PROFILE)
  reconnectTargets: 1000, // t0000..t0999: 50 ONLINE_STATUS + 50 USER_PROFILE subscribers each among e*
  reconnectSubscriptions: 50,
};

export const id = {
  reader: (i: number) => `r${String(i).padStart(4, '0')}`,
  writer: (i: number) => `w${String(i).padStart(4, '0')}`,
  writeSubscriber: (i: number) => `s${String(i).padStart(4, '0')}`,
  fanSubscriber: (i: number) => `f${String(i).padStart(4, '0')}`,
  clusterSubscriber: (i: number) => `c${String(i).padStart(3, '0')}`,
  idle: (i: number) => `i${String(i).padStart(5, '0')}`,
  reconnectDevice: (i: number) => `e${String(i).padStart(4, '0')}`,
  reconnectTarget: (i: number) => `t${String(i).padStart(4, '0')}`,
};

/** The targets reconnect device `i` subscribes to, by type (the seed's formula). */
export function reconnectTargetsOf(i: number): { online: number[]; profile: number[] } {
  const online: number[] = [];
  const profile: number[] = [];
  for (let k = 0; k < SEED.reconnectSubscriptions; k++) (k % 2 === 0 ? online : profile).push((i + 20 * k) % SEED.reconnectTargets);
  return { online, profile };
}

/** Creates the benchmark database when it does not exist yet. */
export async function ensureDatabase(url = DATABASE_URL): Promise<void> {
  if (await createDatabaseIfMissing(url)) log(`created database ${decodeURIComponent(new URL(url).pathname.slice(1))}`);
}

export async function seed(url = DATABASE_URL): Promise<void> {
  await ensureDatabase(url);
  const db = await connectDatabase({ kind: 'postgres', url, poolSize: 2 });
  await migrateToLatest(db);
  await db.destroy();

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // no bench server is alive now: presence left by an interrupted run is stale
    await client.query('delete from presence_connections');
    await client.query('delete from server_instances');
    await client.query('delete from presence_platforms where app_key = $1', [APP_KEY]);
    await client.query('delete from presence_users where app_key = $1', [APP_KEY]);

    const existing = await client.query(
      `select a.name, (select count(*) from users u where u.app_key = a.app_key)::int as users,
              (select min(expires_at) > now() + interval '2 days' from status_subscriptions s where s.app_key = a.app_key) as fresh
       from apps a where a.app_key = $1`,
      [APP_KEY],
    );
    const row = existing.rows[0] as { name: string; users: number; fresh: boolean } | undefined;
    const expectedUsers = SEED.readers + SEED.writers + SEED.writeSubscribers + 1 + SEED.fanSubscribers + 1 + 1 + SEED.clusterSubscribers + SEED.idle + SEED.reconnectDevices + SEED.reconnectTargets;
    if (row && row.name === SEED_VERSION && row.users === expectedUsers && row.fresh) {
      log(`seed: reusing the data already seeded (${row.users} users, ${SEED_VERSION})`);
      return;
    }
    const started = Date.now();
    const step = async (label: string, sql: string, params: unknown[] = []) => {
      const t = Date.now();
      const result = await client.query(sql, params);
      log(`seed: ${label}: ${result.rowCount ?? 0} rows (${Date.now() - t} ms)`);
    };
    await client.query('begin');
    await step('drop previous bench app', 'delete from apps where app_key = $1', [APP_KEY]);
    await client.query('delete from status_subscriptions where app_key = $1', [APP_KEY]);
    await client.query('delete from friendships where app_key = $1', [APP_KEY]);
    await step(
      'app',
      `insert into apps (app_key, name, secret_hash, default_profile_visibility, default_friend_add_permission, created_at)
       values ($1, $2, $3, 'FRIENDS_ONLY', 'FREE', now())`,
      [APP_KEY, SEED_VERSION, await hashSecret('bench-app-secret')],
    );
    await step(
      'ext keys',
      `insert into ext_profile_keys (app_key, key, allow_client_read, allow_client_write, created_at)
       values ($1, 'city', true, true, now()), ($1, 'hobby', true, true, now()), ($1, 'secret', false, false, now())`,
      [APP_KEY],
    );
    // every profile filled in; visibility cycles through NOT_SET (app default FRIENDS_ONLY), EVERYONE, FRIENDS_ONLY, INVISIBLE
    const users = (label: string, idSql: string, count: number, visibility = `(array['NOT_SET','EVERYONE','FRIENDS_ONLY','INVISIBLE'])[1 + g % 4]`) =>
      step(
        `users ${label}`,
        `insert into users (app_key, user_id, name, portrait_uri, unique_id, email, birthday, gender, location, role, level, ext, visibility, friend_add_permission, version, token_generation, created_at, updated_at)
         select $1, ${idSql}, 'User ' || ${idSql}, 'https://img.example.com/p/' || ${idSql} || '.png', replace(${idSql}, '-', ''),
                ${idSql} || '@example.com', '1990-01-' || lpad((1 + g % 28)::text, 2, '0'), (array['UNKNOWN','MALE','FEMALE'])[1 + g % 3],
                'City ' || (g % 50), g % 101, (g * 7) % 101,
                jsonb_build_object('city', 'Paris', 'hobby', 'chess ' || (g % 10), 'secret', 'hidden'),
                ${visibility}, 'NOT_SET', 1, 0, now() - interval '1 day', now() - interval '1 day'
         from generate_series(0, ${count - 1}) g`,
        [APP_KEY],
      );
    await users('r*', `'r' || lpad(g::text, 4, '0')`, SEED.readers);
    await users('w*', `'w' || lpad(g::text, 4, '0')`, SEED.writers);
    await users('s*', `'s' || lpad(g::text, 4, '0')`, SEED.writeSubscribers);
    await users('f*', `'f' || lpad(g::text, 4, '0')`, SEED.fanSubscribers);
    await users('c*', `'c' || lpad(g::text, 3, '0')`, SEED.clusterSubscribers);
    await users('i*', `'i' || lpad(g::text, 5, '0')`, SEED.idle);
    await users('e*', `'e' || lpad(g::text, 4, '0')`, SEED.reconnectDevices);
    await users('t*', `'t' || lpad(g::text, 4, '0')`, SEED.reconnectTargets);
    await users('f-target', `'${SEED.fanTarget}'`, 1, `'NOT_SET'`);
    await users('c-target', `'${SEED.clusterTarget}'`, 1, `'EVERYONE'`);
    await users('sync-user', `'${SEED.syncUser}'`, 1);

    const friends = (label: string, pairsSql: string) =>
      step(
        `friendships ${label}`,
        `insert into friendships (app_key, user_id, friend_id, added_at)
         select $1, a, b, now() - interval '1 hour' from (${pairsSql}) p(x, y), lateral (values (x, y), (y, x)) d(a, b)
         on conflict do nothing`,
        [APP_KEY],
      );
    await friends('r* (20 each)', `select 'r' || lpad(i::text, 4, '0'), 'r' || lpad(((i + k) % ${SEED.readers})::text, 4, '0') from generate_series(0, ${SEED.readers - 1}) i, generate_series(1, 10) k`);
    await friends('w* - s*', `select 'w' || lpad(((10 * k) % ${SEED.writers})::text, 4, '0'), 's' || lpad(k::text, 4, '0') from generate_series(0, ${SEED.writeSubscribers - 1}) k`);
    await friends('f-target - every 10th f*', `select '${SEED.fanTarget}', 'f' || lpad(i::text, 4, '0') from generate_series(0, ${SEED.fanSubscribers - 1}, 10) i`);
    await friends('sync-user - r0000..r0019', `select '${SEED.syncUser}', 'r' || lpad(i::text, 4, '0') from generate_series(0, 19) i`);

    const subscriptions = (label: string, selectSql: string) =>
      step(
        `subscriptions ${label}`,
        `insert into status_subscriptions (app_key, subscriber_id, target_id, type, subscribed_at, expiry, expires_at)
         select $1, subscriber, target, type, now() - interval '1 minute', 2592000, now() - interval '1 minute' + interval '2592000 seconds'
         from (${selectSql}) s(subscriber, target, type)`,
        [APP_KEY],
      );
    await subscriptions(
      's* -> 10 writers each',
      `select 's' || lpad(k::text, 4, '0'), 'w' || lpad(((10 * k + m) % ${SEED.writers})::text, 4, '0'), 'USER_PROFILE' from generate_series(0, ${SEED.writeSubscribers - 1}) k, generate_series(0, 9) m`,
    );
    await subscriptions('f* -> f-target', `select 'f' || lpad(i::text, 4, '0'), '${SEED.fanTarget}', 'USER_PROFILE' from generate_series(0, ${SEED.fanSubscribers - 1}) i`);
    await subscriptions('c* -> c-target', `select 'c' || lpad(i::text, 3, '0'), '${SEED.clusterTarget}', 'USER_PROFILE' from generate_series(0, ${SEED.clusterSubscribers - 1}) i`);
    await subscriptions(
      'sync-user -> 500 USER_PROFILE + 500 ONLINE_STATUS',
      `select '${SEED.syncUser}', 'r' || lpad(i::text, 4, '0'), case when i < 500 then 'USER_PROFILE' else 'ONLINE_STATUS' end from generate_series(0, 999) i`,
    );
    await subscriptions(
      `e* -> ${SEED.reconnectSubscriptions} t* each (ONLINE_STATUS and USER_PROFILE alternating)`,
      `select 'e' || lpad(i::text, 4, '0'), 't' || lpad(((i + 20 * k) % ${SEED.reconnectTargets})::text, 4, '0'), case when k % 2 = 0 then 'ONLINE_STATUS' else 'USER_PROFILE' end
       from generate_series(0, ${SEED.reconnectDevices - 1}) i, generate_series(0, ${SEED.reconnectSubscriptions - 1}) k`,
    );
    await client.query('commit');
    await client.query('analyze');
    log(`seed: done in ${Date.now() - started} ms`);
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await seed();
}
