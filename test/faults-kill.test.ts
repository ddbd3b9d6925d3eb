/**
 * Issue 5, faults: a server instance is SIGKILLed while it carries connected users and writes are
 * in flight. The survivor's presence reaper takes every one of its users offline (subscribers on
 * the survivor are told), no presence row of the dead instance remains, and the survivor keeps
 * serving its own load without an error. Presence timing is shortened (heartbeat 300 ms, dead
 * after 1.5 s); with the defaults the same happens within 40 s.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { connectLive, type LiveClient } from './helpers/ws.ts';

const { DATABASE_URL, REDIS_URL } = process.env;
const OPERATOR = 'faults-kill-operator-token-0123456789';
const USERS = 12;
const PLATFORMS = ['IOS', 'WEB'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Status = { subscribedUserStatusChange: { __typename: string; userId?: string; details?: { platform: string; online: boolean }[] } };

describe.skipIf(!DATABASE_URL || !REDIS_URL)('an instance SIGKILLed under load (needs DATABASE_URL and REDIS_URL)', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  const sockets: LiveClient[] = [];
  let db: pg.Client | undefined;

  beforeAll(async () => {
    const env = {
      DATABASE_URL: DATABASE_URL!,
      REDIS_URL: REDIS_URL!,
      TOKEN_SECRET: 'faults-kill-token-secret-0123456789-0123456789',
      SECRET_ENCRYPTION_KEY: 'test-secret-encryption-key-0123456789-0123456789',
      OPERATOR_TOKEN: OPERATOR,
      PRESENCE_HEARTBEAT_MS: '300',
      PRESENCE_TIMEOUT_MS: '1500',
      DATABASE_POOL_SIZE: '4',
      // the load loops run unpaced: on a fast machine one user would pass the per-user rate limit
      RATE_LIMIT_USER_PER_SECOND: '0',
      RATE_LIMIT_APP_PER_SECOND: '0',
      LOG_LEVEL: 'error',
      LOG_FORMAT: 'json',
    };
    [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  }, 90_000);
  afterAll(async () => {
    await Promise.allSettled(sockets.map((s) => s.dispose()));
    await Promise.allSettled([a?.stop(), b?.kill(), db?.end()]);
  }, 60_000);

  it("takes all of the dead instance's users offline for subscribers on the survivor, which keeps serving", async () => {
    const creds = (await new GraphQLClient(a.url, bearer(OPERATOR)).ok('mutation { createApp(name: "kill faults") { appKey appSecret } }')).createApp;
    const backend = new GraphQLClient(a.url, basic(creds.appKey, creds.appSecret));
    const token = async (userId: string) => (await backend.ok('mutation($u: ID!) { issueUserToken(userId: $u) { token } }', { u: userId })).issueUserToken.token as string;
    const userIds = Array.from({ length: USERS }, (_, i) => `u${i}`);
    const tokens = new Map(await Promise.all(userIds.map(async (u) => [u, await token(u)] as const)));
    const watcher = await token('watcher');

    // the watcher, on A, subscribes to every user's online status
    await new GraphQLClient(a.url, bearer(watcher)).ok('mutation($ids: [ID!]!) { subscribeUserStatus(type: ONLINE_STATUS, userIds: $ids, expiry: 3600) { failedUserIds } }', { ids: userIds });
    const watcherLive = connectLive(a.url, { authToken: watcher, platform: 'PC' });
    sockets.push(watcherLive);
    await watcherLive.connected;
    const status = watcherLive.subscribe<Status>(`subscription { subscribedUserStatusChange(types: [ONLINE_STATUS]) {
      __typename ... on UserStatusChange { userId details { platform online } } } }`);
    await status.waitFor(USERS + 1, 15_000); // the sync: every user (never seen), then SyncFinished

    /** the latest known platforms of each user, as the watcher sees them */
    const latest = () => {
      const byUser = new Map<string, { platform: string; online: boolean }[]>();
      for (const e of status.events) if (e.subscribedUserStatusChange.userId) byUser.set(e.subscribedUserStatusChange.userId, e.subscribedUserStatusChange.details!);
      return byUser;
    };
    const until = async (check: () => boolean, timeoutMs: number, what: string) => {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}; latest ${JSON.stringify([...latest()])}`);
        await sleep(100);
      }
    };

    // every user connects to B on two platforms
    const onB: LiveClient[] = [];
    for (const userId of userIds) {
      for (const platform of PLATFORMS) {
        const live = connectLive(b.url, { authToken: tokens.get(userId)!, platform, deviceId: `${userId}-${platform}` });
        sockets.push(live);
        onB.push(live);
      }
    }
    await Promise.all(onB.map((s) => s.connected));
    await until(
      () => userIds.every((u) => PLATFORMS.every((p) => latest().get(u)?.some((d) => d.platform === p && d.online))),
      20_000,
      'every user online on both platforms',
    );

    // load: writes on both instances (HTTP and over B's sockets), reads on A
    let running = true;
    const survivorErrors: unknown[] = [];
    let survivorOk = 0;
    const aLoad = userIds.slice(0, 4).map(async (userId, i) => {
      const client = new GraphQLClient(a.url, bearer(tokens.get(userId)!));
      for (let n = 0; running; n++) {
        const result = await client
          .request(i % 2 ? '{ userProfiles(userIds: ["u0", "u1", "u2"]) { userId name } }' : 'mutation($n: String!) { updateMyUserProfile(profile: { name: $n }) { version } }', {
            ...(i % 2 ? {} : { n: `a${n}` }),
          })
          .catch((error) => ({ errors: [String(error)] }));
        if (result.errors?.length) survivorErrors.push(result.errors);
        else survivorOk++;
      }
    });
    const bLoad = onB.map(async (live, i) => {
      for (let n = 0; running; n++) {
        // in flight when B dies: these fail, that is expected
        const done = await Promise.race([
          live.execute('mutation($n: String!) { updateMyUserProfile(profile: { name: $n }) { version } }', { n: `b${i}-${n}` }).then(
            () => true,
            () => false,
          ),
          sleep(5_000).then(() => false),
        ]);
        if (!done) return;
      }
    });
    await sleep(1_500);
    expect(survivorOk).toBeGreaterThan(0);

    // B's instance id, from its connection rows
    db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    const instances = await db.query("select distinct instance_id from presence_connections where app_key = $1 and user_id <> 'watcher'", [creds.appKey]);
    expect(instances.rows).toHaveLength(1);
    const instanceOfB = instances.rows[0].instance_id as string;

    // --- B dies in the middle of it --------------------------------------------------------------
    const killedAt = Date.now();
    await b.kill();
    await until(
      () => userIds.every((u) => latest().get(u)?.every((d) => !d.online)),
      30_000,
      'every user of B offline for the watcher on A',
    );
    const offlineAfterMs = Date.now() - killedAt;
    await sleep(1_000); // the survivor keeps serving for a while after the reaping
    running = false;
    await Promise.all([...aLoad, ...bLoad]);

    expect(survivorErrors).toEqual([]);
    // every user went offline once per platform, none came back
    for (const userId of userIds) {
      const events = status.events.filter((e) => e.subscribedUserStatusChange.userId === userId);
      expect(events.at(-1)!.subscribedUserStatusChange.details).toEqual(PLATFORMS.map((platform) => ({ platform, online: false })).sort((x, y) => x.platform.localeCompare(y.platform)));
    }

    // the database agrees: no connection row left of B's users (only the watcher's, on A), every platform offline
    const left = await db.query(
      'select (select count(*)::int from presence_connections where instance_id = $1) as connections, (select count(*)::int from server_instances where instance_id = $1) as instances',
      [instanceOfB],
    );
    expect(left.rows[0]).toEqual({ connections: 0, instances: 0 });
    const connections = await db.query("select count(*)::int as n from presence_connections where app_key = $1 and user_id <> 'watcher'", [creds.appKey]);
    expect(connections.rows[0].n).toBe(0);
    const online = await db.query('select user_id, platform from presence_platforms where app_key = $1 and online', [creds.appKey]);
    expect(online.rows.filter((r: { user_id: string }) => r.user_id !== 'watcher')).toEqual([]);

    // A still takes new connections and announces them
    const late = connectLive(a.url, { authToken: tokens.get('u0')!, platform: 'ANDROID' });
    sockets.push(late);
    await late.connected;
    await until(() => !!latest().get('u0')?.some((d) => d.platform === 'ANDROID' && d.online), 10_000, 'u0 online again through A');
    expect(a.child.exitCode).toBeNull();
    console.log(`instance kill: ${USERS} users × ${PLATFORMS.length} platforms on B all offline for A's subscriber ${offlineAfterMs} ms after SIGKILL; survivor served ${survivorOk} requests without an error`);
  }, 90_000);
});
