// npm run seed -- --app <appKey> --users N [--friends K] [--subscriptions K] [--prefix user]
// Fills an app with N users with profiles (for demos and benchmarks), in batched inserts, with a
// progress bar on stderr. Works on DATABASE_URL or the embedded database under DATA_DIR (stop the
// server first on the embedded one). Running it again with the same prefix adds nothing twice.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Insertable, Kysely } from 'kysely';
import { findApp } from '../src/apps/repository.ts';
import type { Database, FriendshipsTable, StatusSubscriptionsTable, UsersTable } from '../src/db/database.ts';
import { runCli, UsageError, withMigratedDatabase } from './cli-database.ts';
import { Progress } from './progress.ts';

const USAGE = `usage: npm run seed -- --app <appKey> --users <N> [--friends <K>] [--subscriptions <K>] [--prefix <letters/digits>]
  --users N          users to create: <prefix>1 … <prefix>N, each with a profile (name, email, gender, …)
  --friends K        about K friends each: every user befriends the next ceil(K/2) users (wrapping), at most 3000
  --subscriptions K  every user subscribes to the online status and the profile of the next K users, at most 1000
  --prefix P         user id prefix, letters and digits (default "user"); also used for uniqueIds`;

// rows per INSERT: as many as stay under PostgreSQL's 65535 parameters (with headroom)
const batchRows = (columns: number) => Math.floor(60_000 / columns);
const FRIENDS_MAX = 3000;
const SUBSCRIPTIONS_MAX = 1000;
const SUBSCRIPTION_EXPIRY = 2_592_000; // 30 days, the longest allowed

interface Options {
  appKey: string;
  users: number;
  friends: number;
  subscriptions: number;
  prefix: string;
}

function count(value: string | undefined, name: string, min: number, max: number, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required\n${USAGE}`);
    return fallback;
  }
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}\n${USAGE}`);
  return Number(value);
}

function parseOptions(): Options {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        app: { type: 'string' },
        users: { type: 'string' },
        friends: { type: 'string' },
        subscriptions: { type: 'string' },
        prefix: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const appKey = values.app as string | undefined;
  if (!appKey) throw new UsageError(`--app is required\n${USAGE}`);
  const prefix = (values.prefix as string | undefined) ?? 'user';
  if (!/^[A-Za-z0-9]{1,20}$/.test(prefix)) throw new UsageError(`--prefix must be 1 to 20 letters or digits\n${USAGE}`);
  const users = count(values.users as string | undefined, 'users', 1, 10_000_000);
  const friends = count(values.friends as string | undefined, 'friends', 0, FRIENDS_MAX, 0);
  const subscriptions = count(values.subscriptions as string | undefined, 'subscriptions', 0, SUBSCRIPTIONS_MAX, 0);
  if (friends >= users && friends > 0) throw new UsageError(`--friends must be below --users (${users})`);
  if (subscriptions >= users && subscriptions > 0) throw new UsageError(`--subscriptions must be below --users (${users})`);
  return { appKey, users, friends, subscriptions, prefix };
}

// --- data ------------------------------------------------------------------------------------------

const FIRST = ['Ada', 'Bo', 'Chen', 'Dara', 'Eli', 'Fatima', 'Goro', 'Hana', 'Ivan', 'Jia', 'Kofi', 'Lena', 'Mei', 'Nia', 'Omar', 'Pia'];
const CITIES = ['Beijing', 'Berlin', 'Lagos', 'Lima', 'Mumbai', 'Osaka', 'Paris', 'Seoul', 'Sydney', 'Toronto'];
const GENDERS = ['UNKNOWN', 'MALE', 'FEMALE'] as const;

const userId = (options: Options, i: number) => `${options.prefix}${i}`;

function profileRow(options: Options, i: number, now: Date): Insertable<UsersTable> {
  const id = userId(options, i);
  return {
    appKey: options.appKey,
    userId: id,
    name: `${FIRST[i % FIRST.length]} ${i}`,
    portraitUri: `https://picsum.photos/seed/${id}/200`,
    uniqueId: id,
    email: `${id}@example.com`,
    birthday: `19${70 + (i % 30)}-0${1 + (i % 9)}-1${i % 10}`,
    gender: GENDERS[i % 3],
    location: CITIES[i % CITIES.length],
    role: i % 5,
    level: i % 101,
    ext: '{}',
    visibility: 'NOT_SET',
    friendAddPermission: 'NOT_SET',
    version: 1,
    // as ensureUser does: a random start, below 2^30
    tokenGeneration: randomInt(2 ** 30),
    createdAt: now,
    updatedAt: now,
  } as Insertable<UsersTable>;
}

/** Index `i + d` on the ring 1..n */
const ring = (i: number, d: number, n: number) => ((i - 1 + d) % n) + 1;

async function inBatches<T extends object>(total: number, progress: Progress, rowsOf: (index: number) => T[], insert: (rows: T[]) => Promise<bigint>): Promise<number> {
  let limit = 0;
  let inserted = 0;
  let rows: T[] = [];
  const flush = async () => {
    if (!rows.length) return;
    inserted += Number(await insert(rows));
    rows = [];
  };
  for (let i = 1; i <= total; i++) {
    const more = rowsOf(i);
    limit ||= more.length ? batchRows(Object.keys(more[0]!).length) : 0;
    rows.push(...more);
    if (rows.length >= limit) {
      await flush();
      progress.set(i);
    }
  }
  await flush();
  progress.set(total);
  return inserted;
}

async function seed(db: Kysely<Database>, options: Options, now: Date) {
  const { users: n } = options;
  const users = await inBatches(n, new Progress('users', n), (i) => [profileRow(options, i, now)], async (rows) => {
    const result = await db.insertInto('users').values(rows).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return result.numInsertedOrUpdatedRows ?? 0n;
  });

  let friendships = 0;
  if (options.friends > 0) {
    const forward = Math.ceil(options.friends / 2);
    friendships = await inBatches(
      n,
      new Progress('friendships', n),
      (i) => {
        const rows: Insertable<FriendshipsTable>[] = [];
        for (let d = 1; d <= forward; d++) {
          const j = ring(i, d, n);
          if (j === i) continue;
          const a = userId(options, i);
          const b = userId(options, j);
          rows.push({ appKey: options.appKey, userId: a, friendId: b, remark: null, addedAt: now }, { appKey: options.appKey, userId: b, friendId: a, remark: null, addedAt: now });
        }
        return rows;
      },
      async (rows) => (await db.insertInto('friendships').values(rows).onConflict((oc) => oc.doNothing()).executeTakeFirst()).numInsertedOrUpdatedRows ?? 0n,
    );
    friendships /= 2;
  }

  let subscriptions = 0;
  if (options.subscriptions > 0) {
    const expiresAt = new Date(now.getTime() + SUBSCRIPTION_EXPIRY * 1000);
    subscriptions = await inBatches(
      n,
      new Progress('subscriptions', n),
      (i) => {
        const rows: Insertable<StatusSubscriptionsTable>[] = [];
        for (let d = 1; d <= options.subscriptions; d++) {
          for (const type of ['ONLINE_STATUS', 'USER_PROFILE'] as const) {
            rows.push({
              appKey: options.appKey,
              subscriberId: userId(options, i),
              targetId: userId(options, ring(i, d, n)),
              type,
              subscribedAt: now,
              expiry: SUBSCRIPTION_EXPIRY,
              expiresAt,
            });
          }
        }
        return rows;
      },
      async (rows) => (await db.insertInto('statusSubscriptions').values(rows).onConflict((oc) => oc.doNothing()).executeTakeFirst()).numInsertedOrUpdatedRows ?? 0n,
    );
  }
  return { users, friendships, subscriptions };
}

await runCli('seed', async () => {
  const options = parseOptions();
  await withMigratedDatabase(async (db, _applied, description) => {
    const app = await findApp(db, options.appKey);
    if (!app) throw new Error(`no app with appKey "${options.appKey}" on the ${description} (create one with npm run app:create)`);
    const started = Date.now();
    const result = await seed(db, options, new Date());
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`Seeded app "${app.name}" (${options.appKey}) on ${description} in ${seconds}s`);
    console.log(`users: ${result.users} created (${options.users - result.users} already there), ids ${userId(options, 1)}…${userId(options, options.users)}`);
    if (options.friends) console.log(`friendships: ${result.friendships} created`);
    if (options.subscriptions) console.log(`subscriptions: ${result.subscriptions} created (ONLINE_STATUS and USER_PROFILE, 30 days)`);
  });
});
