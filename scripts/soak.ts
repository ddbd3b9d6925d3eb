/**
 * `npm run soak -- --minutes 5`: a mixed load against one real server process for N minutes,
 * watching for errors, memory growth and ghost presence (issue 5, item 7).
 *
 * - Starts its own server (`src/main.ts`) on DATABASE_URL (default
 *   postgres://postgres@127.0.0.1:5432/phs_soak, created when missing), with REDIS_URL when set.
 * - Seeds one app: USERS users (each subscribed to the online status of a few others, some of
 *   them friends), a "star" with FANOUT_SUBSCRIBERS subscribers connected for the whole run.
 * - Load, from this process: profile reads (20 ids a request), profile writes (a few of them
 *   deliberately invalid or with a stale expectedVersion: BAD_USER_INPUT and VERSION_CONFLICT are
 *   the intended errors), graphql-ws connections that connect, sync their subscriptions, hold a
 *   few seconds and go (presence churn), and the star writing its profile and coming and going
 *   (fan-out to every subscriber). The default rate limits stay on: the load stays under them.
 * - Samples the server's RSS (/proc/<pid>/status) and V8 heap in use and committed (its /metrics)
 *   every --sample seconds. RSS saws up and down by ~100 MB with garbage collection and grows for
 *   the first 2-3 minutes while V8 sizes its heap to the load, so growth compares medians of
 *   windows: the last minute of the run against the first minute after the warm-up (a third of
 *   the post-warm-up time each, for shorter runs); a robust (Theil-Sen) slope and a per-minute
 *   table are reported too. Runs with less than two minutes after the warm-up are not judged on
 *   memory.
 * - At the end: every fan-out subscriber must have received every acknowledged star change, and
 *   no presence row of the soak app may be left online once all clients are gone.
 *
 * Options: --minutes N (default 5), --warmup S (seconds, default min(120, 40 % of the run)),
 * --sample S (default 5), --json FILE (the figures as JSON). Exit code 1 when a check fails.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { createDatabaseIfMissing } from '../src/db/connect.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: opts } = parseArgs({
  options: { minutes: { type: 'string' }, warmup: { type: 'string' }, sample: { type: 'string' }, json: { type: 'string' } },
  strict: true,
});
const MINUTES = Number(opts.minutes ?? 5);
if (!(MINUTES > 0)) throw new Error('--minutes must be a positive number');
const DURATION_MS = MINUTES * 60_000;
// V8 sizes its heap to the load over the first minutes (measured: RSS settles after 2-3 minutes
// at ~250 requests/s while the live heap stays flat), so memory is judged after that
const WARMUP_MS = opts.warmup !== undefined ? Number(opts.warmup) * 1000 : Math.min(120_000, DURATION_MS * 0.4);
const SAMPLE_MS = Number(opts.sample ?? 5) * 1000;
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/phs_soak';
const REDIS_URL = process.env.REDIS_URL || '';

const USERS = 200;
const FANOUT_SUBSCRIBERS = 50;
const READERS = 6;
const WRITERS = 4;
const CHURNERS = 6;
const PLATFORMS = ['IOS', 'ANDROID', 'WEB', 'PC', 'MINI_PROGRAM', 'HARMONY_OS', 'OTHER'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)]!;
const log = (message: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}`);

// --- figures ----------------------------------------------------------------------------------------
const requests = new Map<string, number>();
const latencies = new Map<string, number[]>();
const intendedErrors = new Map<string, number>();
const unintendedErrors = new Map<string, number>();
const unintendedSamples: string[] = [];
const ws = { connects: 0, syncs: 0, events: 0 };
const bump = (map: Map<string, number>, key: string, n = 1) => map.set(key, (map.get(key) ?? 0) + n);
function unintended(code: string, detail: unknown) {
  bump(unintendedErrors, code);
  if (unintendedSamples.length < 20) unintendedSamples.push(`${code}: ${JSON.stringify(detail).slice(0, 300)}`);
}

// --- database ---------------------------------------------------------------------------------------
async function ensureDatabase(url: string) {
  if (await createDatabaseIfMissing(url)) log(`created database ${decodeURIComponent(new URL(url).pathname.slice(1))}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('show server_version')).rows[0].server_version as string;
  } finally {
    await client.end();
  }
}

// --- the server process -----------------------------------------------------------------------------
async function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = { warn: 0, error: 0, samples: [] as string[] };
  let buffer = '';
  let url: string | undefined;
  let metricsUrl: string | undefined;
  const onData = (chunk: Buffer) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      url ??= /server ready: GraphQL endpoint at (http:\/\/\S+)/.exec(line)?.[1];
      metricsUrl ??= /Prometheus metrics at (http:\/\/\S+)/.exec(line)?.[1];
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if (entry.level === 40) logs.warn++;
        if ((entry.level ?? 0) >= 50) logs.error++;
        if ((entry.level ?? 0) >= 40 && logs.samples.length < 20) logs.samples.push(`${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ''}`);
      } catch {
        if (line.trim() && !url && logs.samples.length < 20 && !line.includes('server ready: GraphQL endpoint at') && !line.includes('metrics at')) logs.samples.push(line);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // the server must not outlive the soak (Ctrl-C, a crash of the load generator)
  process.once('exit', () => child.kill('SIGTERM'));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(130));
  const deadline = Date.now() + 120_000;
  while (!url) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${logs.samples.join('\n')}`);
    if (Date.now() > deadline) throw new Error('server did not start within 120 s');
    await sleep(100);
  }
  // printed just before the ready line
  return { child, url, metricsUrl: metricsUrl!, logs, exited };
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
}

// --- clients ----------------------------------------------------------------------------------------
interface GqlResult {
  data?: any;
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function gql(url: string, authorization: string, query: string, variables?: Record<string, unknown>): Promise<GqlResult> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  return (await response.json()) as GqlResult;
}

/** One request of the load, timed and classified; `intended` is the error code it is meant to get. */
async function measured(op: string, send: () => Promise<GqlResult>, intended?: string): Promise<GqlResult | undefined> {
  const start = performance.now();
  bump(requests, op);
  let result: GqlResult;
  try {
    result = await send();
  } catch (error) {
    unintended('TRANSPORT', { op, error: String(error) });
    return undefined;
  }
  let list = latencies.get(op);
  if (!list) latencies.set(op, (list = []));
  list.push(performance.now() - start);
  const codes = (result.errors ?? []).map((e) => e.extensions?.code ?? 'NO_CODE');
  if (intended) {
    if (codes.length === 1 && codes[0] === intended) bump(intendedErrors, intended);
    else unintended(codes[0] ?? 'UNEXPECTED_SUCCESS', { op, result });
  } else if (codes.length) {
    for (const code of codes) unintended(code, { op, errors: result.errors });
  }
  return result;
}

function wsClient(url: string, params: Record<string, unknown>, onClose: (code: number, reason: string) => void): { client: Client; connected: Promise<void> } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const connected = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  connected.catch(() => {});
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: params,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    on: {
      connected: () => resolve(),
      closed: (event) => {
        const e = event as { code: number; reason: string };
        reject(new Error(`closed ${e.code} ${e.reason}`));
        onClose(e.code, String(e.reason));
      },
      error: (e) => reject(e),
    },
  });
  return { client, connected };
}

const STATUS_SUBSCRIPTION = `subscription($types: [SubscribeType!]) { subscribedUserStatusChange(types: $types) {
  __typename ... on UserStatusChange { userId subscribeType details { platform online } userProfile { name version } }
  ... on SubscribedUserStatusSyncFinished { subscribeType } } }`;

// --- main -------------------------------------------------------------------------------------------
async function main() {
  const postgresVersion = await ensureDatabase(DATABASE_URL);
  const operatorToken = randomBytes(24).toString('base64url');
  const server = await startServer({
    DATABASE_URL,
    REDIS_URL,
    TOKEN_SECRET: randomBytes(48).toString('base64'),
    SECRET_ENCRYPTION_KEY: randomBytes(48).toString('base64'),
    OPERATOR_TOKEN: operatorToken,
  });
  const { url } = server;
  const pid = server.child.pid!;
  log(`server ${url} (pid ${pid}) on ${DATABASE_URL}${REDIS_URL ? ` with ${REDIS_URL}` : ''}`);
  const loadAtStart = loadavg();

  // seed
  const creds = (await gql(url, `Bearer ${operatorToken}`, `mutation { createApp(name: "soak ${new Date().toISOString()}") { appKey appSecret } }`)).data.createApp;
  const backend = `Basic ${Buffer.from(`${creds.appKey}:${creds.appSecret}`).toString('base64')}`;
  await gql(url, backend, 'mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
  const issue = async (userId: string) => {
    const result = await gql(url, backend, 'mutation($u: ID!) { issueUserToken(userId: $u, expiresInSeconds: 86400) { token } }', { u: userId });
    if (!result.data) throw new Error(`seeding failed: ${JSON.stringify(result.errors)}`);
    return `Bearer ${result.data.issueUserToken.token}`;
  };
  const userIds = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(3, '0')}`);
  const fanIds = Array.from({ length: FANOUT_SUBSCRIBERS }, (_, i) => `f${String(i).padStart(2, '0')}`);
  const tokens = new Map<string, string>();
  for (let i = 0; i < userIds.length; i += 20) {
    await Promise.all(userIds.slice(i, i + 20).map(async (u) => tokens.set(u, await issue(u))));
  }
  await Promise.all(fanIds.map(async (u) => tokens.set(u, await issue(u))));
  tokens.set('star', await issue('star'));
  for (const [i, userId] of userIds.entries()) {
    const targets = Array.from({ length: 8 }, (_, k) => userIds[(i + 1 + k * 7) % USERS]!);
    await gql(url, tokens.get(userId)!, 'mutation($ids: [ID!]!) { subscribeUserStatus(type: ONLINE_STATUS, userIds: $ids, expiry: 86400) { failedUserIds } }', { ids: targets });
    if (i % 4 === 0) await gql(url, backend, 'mutation($a: ID!, $b: ID!) { adminAddFriend(userId: $a, friendId: $b) }', { a: userId, b: userIds[(i + 2) % USERS] });
  }
  for (const fan of fanIds) {
    for (const type of ['USER_PROFILE', 'ONLINE_STATUS']) {
      await gql(url, tokens.get(fan)!, `mutation { subscribeUserStatus(type: ${type}, userIds: ["star"], expiry: 86400) { failedUserIds } }`);
    }
  }
  log(`seeded app ${creds.appKey}: ${USERS} users, the star and ${FANOUT_SUBSCRIBERS} fan-out subscribers`);

  let running = true;
  const startedAt = Date.now();
  const sockets = new Set<Client>();

  // fan-out subscribers: connected for the whole run
  const fans = await Promise.all(
    fanIds.map(async (fan) => {
      const state = { profileEvents: 0, statusEvents: 0, synced: 0, closed: false };
      const { client, connected } = wsClient(url, { authToken: tokens.get(fan)!.slice(7), platform: 'ANDROID', deviceId: `${fan}-phone` }, (code, reason) => {
        state.closed = true;
        if (running) unintended(`WS_CLOSE_${code}`, { fan, reason });
      });
      sockets.add(client);
      await connected;
      ws.connects++;
      client.subscribe(
        { query: STATUS_SUBSCRIPTION, variables: { types: ['USER_PROFILE', 'ONLINE_STATUS'] } },
        {
          next: (value) => {
            if (value.errors) unintended('SUBSCRIPTION_ERROR', value.errors);
            const event = (value.data as any)?.subscribedUserStatusChange;
            if (!event) return;
            if (event.__typename === 'SubscribedUserStatusSyncFinished') {
              state.synced++;
              ws.syncs++;
            } else if (state.synced === 2) {
              ws.events++;
              if (event.subscribeType === 'USER_PROFILE') state.profileEvents++;
              else state.statusEvents++;
            }
          },
          error: (e) => unintended('SUBSCRIPTION_ERROR', e),
          complete: () => {},
        },
      );
      return state;
    }),
  );
  const deadline = Date.now() + 60_000;
  while (fans.some((f) => f.synced < 2) && Date.now() < deadline) await sleep(100);
  if (fans.some((f) => f.synced < 2)) throw new Error('fan-out subscribers did not sync within 60 s');

  const loops: Promise<void>[] = [];

  // readers
  for (let r = 0; r < READERS; r++) {
    loops.push(
      (async () => {
        while (running) {
          const ids = Array.from({ length: 20 }, () => pick(userIds));
          await measured('read userProfiles', () =>
            gql(url, tokens.get(pick(userIds))!, 'query($ids: [ID!]!) { userProfiles(userIds: $ids) { userId name email level version restricted } }', { ids }),
          );
          await sleep(15);
        }
      })(),
    );
  }

  // writers
  for (let w = 0; w < WRITERS; w++) {
    loops.push(
      (async () => {
        for (let n = 0; running; n++) {
          const auth = tokens.get(pick(userIds))!;
          if (n % 50 === 49) {
            await measured('write invalid (intended BAD_USER_INPUT)', () => gql(url, auth, 'mutation { updateMyUserProfile(profile: { level: 500 }) { version } }'), 'BAD_USER_INPUT');
          } else if (n % 25 === 24) {
            await measured(
              'write stale expectedVersion (intended VERSION_CONFLICT)',
              () => gql(url, auth, 'mutation { updateMyUserProfile(profile: { location: "x" }, expectedVersion: 0) { version } }'),
              'VERSION_CONFLICT',
            );
          } else {
            await measured('write updateMyUserProfile', () =>
              gql(url, auth, 'mutation($p: UserProfileInput!) { updateMyUserProfile(profile: $p) { version } }', {
                p: { name: `name ${n} ${w}`, level: n % 101, email: `w${w}n${n}@example.com` },
              }),
            );
          }
          await sleep(25);
        }
      })(),
    );
  }

  // the star: writes its profile every second (fan-out to every subscriber), comes and goes
  let starAcked = 0;
  loops.push(
    (async () => {
      for (let n = 0; running; n++) {
        const result = await measured('star updateMyUserProfile (fan-out)', () =>
          gql(url, tokens.get('star')!, 'mutation($n: String!) { updateMyUserProfile(profile: { name: $n }) { version } }', { n: `star ${n}` }),
        );
        if (result?.data) starAcked++;
        await sleep(1000);
      }
    })(),
  );
  loops.push(
    (async () => {
      while (running) {
        const { client, connected } = wsClient(url, { authToken: tokens.get('star')!.slice(7), platform: 'IOS' }, (code, reason) => {
          if (running && code !== 1000) unintended(`WS_CLOSE_${code}`, { who: 'star', reason });
        });
        sockets.add(client);
        try {
          await connected;
          ws.connects++;
          await sleep(5000);
        } catch (error) {
          unintended('WS_CONNECT', String(error));
        }
        await client.dispose();
        sockets.delete(client);
        await sleep(5000);
      }
    })(),
  );

  // connection churn: connect, sync, hold, go
  for (let c = 0; c < CHURNERS; c++) {
    loops.push(
      (async () => {
        while (running) {
          const userId = pick(userIds);
          let synced = 0;
          const { client, connected } = wsClient(url, { authToken: tokens.get(userId)!.slice(7), platform: pick(PLATFORMS), deviceId: `churn-${c}` }, (code, reason) => {
            if (running && code !== 1000) unintended(`WS_CLOSE_${code}`, { userId, reason });
          });
          sockets.add(client);
          try {
            await connected;
            ws.connects++;
            client.subscribe(
              { query: STATUS_SUBSCRIPTION, variables: { types: ['ONLINE_STATUS', 'FRIEND_ONLINE_STATUS', 'FRIEND_USER_PROFILE'] } },
              {
                next: (value) => {
                  if (value.errors) unintended('SUBSCRIPTION_ERROR', value.errors);
                  const event = (value.data as any)?.subscribedUserStatusChange;
                  if (event?.__typename === 'SubscribedUserStatusSyncFinished') {
                    synced++;
                    ws.syncs++;
                  } else if (event) ws.events++;
                },
                error: (e) => unintended('SUBSCRIPTION_ERROR', e),
                complete: () => {},
              },
            );
            const syncDeadline = Date.now() + 30_000;
            while (synced < 3 && Date.now() < syncDeadline && running) await sleep(50);
            if (synced < 3 && running) unintended('SYNC_TIMEOUT', { userId });
            await sleep(1000 + Math.random() * 3000);
          } catch (error) {
            if (running) unintended('WS_CONNECT', String(error));
          }
          await client.dispose();
          sockets.delete(client);
        }
      })(),
    );
  }

  // RSS samples and progress
  const samples: { atSeconds: number; rssMb: number; heapMb: number; heapTotalMb: number; load1: number; requests: number }[] = [];
  /** V8 heap in use and committed, from the server's /metrics */
  const heap = async () => {
    const text = await (await fetch(server.metricsUrl, { signal: AbortSignal.timeout(5_000) })).text();
    const mb = (name: string) => Math.round(Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 104857.6) / 10;
    return { heapMb: mb('phs_nodejs_heap_size_used_bytes'), heapTotalMb: mb('phs_nodejs_heap_size_total_bytes') };
  };
  const sampleOnce = async () => {
    try {
      const atSeconds = Math.round((Date.now() - startedAt) / 1000);
      const rssMb = Math.round(rssKb(pid) / 102.4) / 10;
      const requestsSoFar = [...requests.values()].reduce((a, b) => a + b, 0);
      const { heapMb, heapTotalMb } = await heap().catch(() => ({ heapMb: NaN, heapTotalMb: NaN }));
      samples.push({ atSeconds, rssMb, heapMb, heapTotalMb, load1: Math.round(loadavg()[0]! * 100) / 100, requests: requestsSoFar });
    } catch {
      unintended('SERVER_GONE', 'could not read the server process RSS');
    }
  };
  await sampleOnce();
  const sampler = setInterval(() => void sampleOnce(), SAMPLE_MS);
  let lastTotal = 0;
  const progress = setInterval(() => {
    const total = [...requests.values()].reduce((a, b) => a + b, 0);
    const errors = [...unintendedErrors.values()].reduce((a, b) => a + b, 0);
    log(`${Math.round((Date.now() - startedAt) / 1000)} s: ${total} requests (${Math.round((total - lastTotal) / 30)}/s), ${ws.connects} ws connects, ${ws.events} events, RSS ${samples.at(-1)?.rssMb} MB, ${errors} unintended errors, load ${loadavg()[0]!.toFixed(2)}`);
    lastTotal = total;
  }, 30_000);

  await sleep(DURATION_MS);
  running = false;
  clearInterval(progress);
  clearInterval(sampler);
  await sampleOnce();
  const elapsedS = (Date.now() - startedAt) / 1000;
  log('load stopped; draining');
  await Promise.all(loops);

  // every fan-out subscriber got every acknowledged star change (let the last ones arrive)
  const fanDeadline = Date.now() + 15_000;
  while (fans.some((f) => f.profileEvents < starAcked) && Date.now() < fanDeadline) await sleep(100);
  const lostFanOut = fans.reduce((sum, f) => sum + Math.max(0, starAcked - f.profileEvents), 0);
  const extraFanOut = fans.reduce((sum, f) => sum + Math.max(0, f.profileEvents - starAcked), 0);

  // every client goes; then no presence of the soak app may be left
  await Promise.allSettled([...sockets].map((s) => s.dispose()));
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  let ghosts = { connections: -1, online: -1 };
  const ghostDeadline = Date.now() + 20_000;
  while (Date.now() < ghostDeadline) {
    const { rows } = await db.query(
      'select (select count(*)::int from presence_connections where app_key = $1) as connections, (select count(*)::int from presence_platforms where app_key = $1 and online) as online',
      [creds.appKey],
    );
    ghosts = rows[0];
    if (ghosts.connections === 0 && ghosts.online === 0) break;
    await sleep(250);
  }
  await db.end();

  server.child.kill('SIGTERM');
  const exitCode = await server.exited;

  // --- report -------------------------------------------------------------------------------------
  const afterWarmup = samples.filter((s) => s.atSeconds * 1000 >= WARMUP_MS);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const lastAt = afterWarmup.at(-1)!.atSeconds;
  const windowS = Math.min(60, (lastAt - WARMUP_MS / 1000) / 3);
  const firstWindow = afterWarmup.filter((s) => s.atSeconds < WARMUP_MS / 1000 + windowS);
  const lastWindow = afterWarmup.filter((s) => s.atSeconds > lastAt - windowS);
  const round1 = (x: number) => Math.round(x * 10) / 10;
  const growth = (field: 'rssMb' | 'heapMb') => {
    const from = median(firstWindow.map((s) => s[field]));
    const to = median(lastWindow.map((s) => s[field]));
    // Theil-Sen (median of the pairwise slopes) over every post-warm-up sample, in MB per minute:
    // one sample taken right after a collection does not tilt it
    const pairs: number[] = [];
    for (let i = 0; i < afterWarmup.length; i++) {
      for (let j = i + 1; j < afterWarmup.length; j++) {
        const dx = (afterWarmup[j]!.atSeconds - afterWarmup[i]!.atSeconds) / 60;
        if (dx > 0) pairs.push((afterWarmup[j]![field] - afterWarmup[i]![field]) / dx);
      }
    }
    const slope = median(pairs);
    return { firstWindowMedianMb: from, lastWindowMedianMb: to, growthPercent: round1(((to - from) / from) * 100), slopeMbPerMinute: round1(slope) };
  };
  // the load the server carried in each window: memory follows it (a machine shared with other
  // work can slow the load generator down for minutes)
  const rate = (window: typeof samples) =>
    window.length > 1 ? Math.round((window.at(-1)!.requests - window[0]!.requests) / (window.at(-1)!.atSeconds - window[0]!.atSeconds)) : NaN;
  const windowRates = { firstWindowRequestsPerSecond: rate(firstWindow), lastWindowRequestsPerSecond: rate(lastWindow) };
  const rssGrowth = { ...growth('rssMb'), ...windowRates };
  /** min / median / max per minute of the run, to see the warm-up and the plateau */
  const minutes = Math.max(1, Math.floor(lastAt / 60)); // the sample taken as the load stops counts in the last minute
  const perMinute = Array.from({ length: minutes }, (_, m) => {
    const w = samples.filter((s) => s.atSeconds > m * 60 && (s.atSeconds <= (m + 1) * 60 || m === minutes - 1));
    const stats = (field: 'rssMb' | 'heapMb' | 'heapTotalMb') => {
      const xs = w.map((s) => s[field]).filter((x) => !Number.isNaN(x));
      return xs.length ? [Math.min(...xs), median(xs), Math.max(...xs)] : [];
    };
    return { minute: m + 1, requestsPerSecond: rate(w), rssMb: stats('rssMb'), heapUsedMb: stats('heapMb'), heapCommittedMb: stats('heapTotalMb') };
  });
  const heapGrowth = growth('heapMb');
  const growthPercent = rssGrowth.growthPercent;
  const pct = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]! * 10) / 10;
  const totalRequests = [...requests.values()].reduce((a, b) => a + b, 0);
  const unintendedTotal = [...unintendedErrors.values()].reduce((a, b) => a + b, 0);
  const report = {
    minutes: MINUTES,
    warmupSeconds: WARMUP_MS / 1000,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      node: process.version,
      postgres: postgresVersion,
      redis: REDIS_URL ? 'yes' : 'no (in-process bus)',
      loadAverageAtStart: loadAtStart.map((l) => Math.round(l * 100) / 100),
      loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    requests: {
      total: totalRequests,
      perSecond: Math.round(totalRequests / elapsedS),
      byOperation: Object.fromEntries(
        [...requests].map(([op, n]) => {
          const l = latencies.get(op) ?? [];
          return [op, { count: n, p50ms: l.length ? pct(l, 50) : null, p95ms: l.length ? pct(l, 95) : null, p99ms: l.length ? pct(l, 99) : null }];
        }),
      ),
    },
    websocket: { ...ws, fanOutSubscribers: FANOUT_SUBSCRIBERS, starChangesAcknowledged: starAcked, fanOutEventsLost: lostFanOut, fanOutEventsExtra: extraFanOut },
    errors: { intended: Object.fromEntries(intendedErrors), unintended: Object.fromEntries(unintendedErrors), unintendedSamples },
    serverLogs: { warn: server.logs.warn, error: server.logs.error, samples: server.logs.samples },
    rss: {
      samples,
      minMb: Math.min(...samples.map((s) => s.rssMb)),
      maxMb: Math.max(...samples.map((s) => s.rssMb)),
      windowSeconds: round1(windowS),
      ...rssGrowth,
    },
    heapUsed: heapGrowth,
    perMinute,
    ghostPresence: ghosts,
    serverExitCode: exitCode,
  };
  // with less than two minutes after the warm-up, garbage-collection swings swamp any trend
  const memoryJudged = lastAt - WARMUP_MS / 1000 >= 120;
  const checks: Record<string, boolean | 'not judged (run too short)'> = {
    'no unintended errors': unintendedTotal === 0,
    'RSS growth after warm-up under 10 %': memoryJudged ? growthPercent < 10 : 'not judged (run too short)',
    'every fan-out subscriber got every star change': lostFanOut === 0 && extraFanOut === 0,
    'no ghost presence': ghosts.connections === 0 && ghosts.online === 0,
    'server stopped cleanly': exitCode === 0,
  };
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ ...report, checks }, null, 2));

  console.log('\n=== soak summary ===');
  console.log(`duration ${elapsedS.toFixed(0)} s (warm-up ${WARMUP_MS / 1000} s) on ${report.machine.cores} cores, node ${report.machine.node}, PostgreSQL ${postgresVersion}, Redis: ${report.machine.redis}`);
  console.log(`load average at start ${report.machine.loadAverageAtStart.join(' ')}, at end ${report.machine.loadAverageAtEnd.join(' ')}`);
  console.log(`requests: ${totalRequests} (${report.requests.perSecond}/s)`);
  for (const [op, figures] of Object.entries(report.requests.byOperation)) console.log(`  ${op}: ${figures.count}, p50 ${figures.p50ms} ms, p95 ${figures.p95ms} ms, p99 ${figures.p99ms} ms`);
  console.log(`graphql-ws: ${ws.connects} connects, ${ws.syncs} syncs, ${ws.events} live events; star changes ${starAcked} × ${FANOUT_SUBSCRIBERS} subscribers, lost ${lostFanOut}, extra ${extraFanOut}`);
  console.log(`errors: intended ${JSON.stringify(report.errors.intended)}, unintended ${JSON.stringify(report.errors.unintended)}`);
  for (const sample of unintendedSamples) console.log(`  ${sample}`);
  console.log(`server logs: ${server.logs.warn} warn, ${server.logs.error} error${server.logs.samples.length ? `; e.g. ${server.logs.samples.slice(0, 5).join(' | ')}` : ''}`);
  const sign = (x: number) => (x >= 0 ? `+${x}` : `${x}`);
  console.log(`RSS MB: min ${report.rss.minMb}, max ${report.rss.maxMb}; median of the first ${round1(windowS)} s after warm-up ${rssGrowth.firstWindowMedianMb} → of the last ${round1(windowS)} s ${rssGrowth.lastWindowMedianMb} (${sign(rssGrowth.growthPercent)} %), slope ${sign(rssGrowth.slopeMbPerMinute)} MB/min; load in those windows ${windowRates.firstWindowRequestsPerSecond} → ${windowRates.lastWindowRequestsPerSecond} requests/s`);
  for (const m of perMinute) console.log(`  minute ${m.minute}: ${m.requestsPerSecond} req/s, RSS ${m.rssMb.join(' / ')}, heap used ${m.heapUsedMb.join(' / ')}, heap committed ${m.heapCommittedMb.join(' / ')} MB (min / median / max)`);
  console.log(`V8 heap used MB: ${heapGrowth.firstWindowMedianMb} → ${heapGrowth.lastWindowMedianMb} (${sign(heapGrowth.growthPercent)} %), slope ${sign(heapGrowth.slopeMbPerMinute)} MB/min`);
  console.log(`  samples (s=RSS/heap used/heap committed MB): ${samples.map((s) => `${s.atSeconds}=${s.rssMb}/${s.heapMb}/${s.heapTotalMb}`).join(' ')}`);
  console.log(`ghost presence after all clients left: ${ghosts.connections} connections, ${ghosts.online} platforms online`);
  for (const [check, ok] of Object.entries(checks)) console.log(`${ok === true ? 'PASS' : ok === false ? 'FAIL' : 'SKIP'} ${check}${typeof ok === 'string' ? `: ${ok}` : ''}`);
  process.exit(Object.values(checks).every((ok) => ok !== false) ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
