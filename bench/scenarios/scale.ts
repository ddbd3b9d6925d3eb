/**
 * scale: 6 instances of our server on one PostgreSQL and one Redis, N authenticated graphql-ws
 * devices (one per user, spread evenly by index: device i on instance i % 6), then
 *   (a) fan-out: x-target, with S USER_PROFILE subscribers among the devices (on every instance),
 *       changes its profile one change after the other; time from the mutation's response to the
 *       last of the S deliveries;
 *   (b) instance kill: instance 5 is SIGKILLed; watchers on the survivors (ONLINE_STATUS on every
 *       device of the killed instance, and on a sample of the survivors' devices) see who goes
 *       offline and when; 60 s after the kill the database says who is still online, and at the end
 *       the database and a GraphQL check of every device (subscribedUserStatus, through checker
 *       users that subscribe to all of them) say who is wrongly offline;
 *   (c) memory per connection of each instance (after a full GC, before vs after connecting);
 * and what connecting, the fan-out and the kill cost PostgreSQL, Redis and the instances' CPU.
 * Run on its own (`npm run bench:scale`, bench/scale.ts): it is not part of `npm run bench`.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { TokenService } from '../../src/auth/tokens.ts';
import { systemClock } from '../../src/clock.ts';
import { delta, postgresCounters, postgresCpuMs, postmasterOf, redisCounters, type Counters } from '../lib/backend-stats.ts';
import { DATABASE_URL, REDIS_URL, TOKEN_SECRET, log } from '../lib/config.ts';
import { post, serverEnv, startLoad, type LoadProc } from '../lib/harness.ts';
import { PROFILE_STATUS_SUBSCRIPTION, writeBody } from '../lib/operations.ts';
import { cpuMsOf, peakRssOf, resetPeakRss, rssOf, startOurServer, type ServerProc } from '../lib/proc.ts';
import { now, percentile, round, sleep } from '../lib/stats.ts';
import { SCALE_APP_KEY, SCALE_SEED, scaleId, survivorDevice } from '../seed-scale.ts';

const int = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
};

/** Knobs (env); the defaults are the full run. */
export const SCALE_OPTIONS = {
  /** device counts, one point each (fresh instances per point) */
  points: (process.env.BENCH_SCALE_DEVICES || '10000,100000').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 60 || n > SCALE_SEED.devices) throw new Error(`BENCH_SCALE_DEVICES: each count must be an integer from 60 to ${SCALE_SEED.devices}, got ${JSON.stringify(s)}`);
    return n;
  }),
  subscribers: int('BENCH_SCALE_SUBSCRIBERS', SCALE_SEED.fanSubscribers),
  changes: int('BENCH_SCALE_CHANGES', 20),
  /** client load processes, each bound to its own source address 127.0.0.(2 + k) */
  loads: int('BENCH_SCALE_LOADS', 8),
  /** connects in flight per load process */
  concurrency: int('BENCH_SCALE_CONCURRENCY', 32),
  /** how long the kill is watched (the ghost count is taken at 60 s) */
  observeSeconds: Math.max(65, int('BENCH_SCALE_OBSERVE_S', 90)),
};

const INSTANCES = SCALE_SEED.instances;
const KILLED = SCALE_SEED.killed;
/** SPEC §5: a dead instance's users are offline within 60 s */
const OFFLINE_DEADLINE_MS = 60_000;
const WARM_PER_INSTANCE = 8;
const PLATFORM_CYCLE = ['IOS', 'ANDROID', 'WEB', 'PC'];
/** one socket must be acked (and synced) within this long of its own start */
const ACK_TIMEOUT_MS = 180_000;
/** no socket acked or failed for this long during the connect: give up */
const STALL_MS = 180_000;
const PROGRESS_MS = 5_000;

const ONLINE_STATUS_SUBSCRIPTION =
  'subscription Online { subscribedUserStatusChange(types: [ONLINE_STATUS]) { __typename ... on UserStatusChange { userId details { platform online changeTime } } ... on SubscribedUserStatusSyncFinished { subscribeType } } }';
const CHECK_QUERY = 'query Check($ids: [ID!]!) { subscribedUserStatus(type: ONLINE_STATUS, userIds: $ids) { userId details { platform online } } }';
/** ids per subscribedUserStatus call (its maximum) */
const CHECK_BATCH = 200;

const tokenService = new TokenService(TOKEN_SECRET, systemClock);
const tokenOf = async (userId: string) => (await tokenService.issue({ appKey: SCALE_APP_KEY, userId, generation: 0 }, 2 * 86_400)).token;
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
const kib = (bytes: number) => round(bytes / 1024, 2);
const fmt = (n: number) => n.toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Every child this scenario started, so that the entry can kill them whatever happens to it. */
export const children = new Set<ChildProcess>();
export function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

type Kind = 'idle' | 'profile' | 'online' | 'warm';
type DeviceSpec = [userId: string, instance: number, platform: string, kind: Kind];

interface Phase {
  seconds: number;
  postgres: Counters;
  postgresCpuMs?: number;
  redis: Counters;
  instancesCpuMs: number[];
  loadsCpuMs: number;
}

/** Readings of everything a phase costs, taken at its start and end. */
async function reading(db: pg.Client, redis: Redis, servers: ServerProc[], loads: LoadProc[]) {
  return {
    at: now(),
    postgres: await postgresCounters(db),
    postgresCpuMs: postgresCpuMs(await postmasterOf(db)),
    redis: await redisCounters(redis),
    instancesCpuMs: servers.map((s) => cpuMsOf(s.pid) ?? NaN),
    loadsCpuMs: sum(loads.map((l) => cpuMsOf(l.child.pid!) ?? 0)),
  };
}
type Reading = Awaited<ReturnType<typeof reading>>;

function phase(before: Reading, after: Reading): Phase {
  return {
    seconds: round((after.at - before.at) / 1000, 1),
    postgres: delta(after.postgres, before.postgres),
    postgresCpuMs: after.postgresCpuMs !== undefined && before.postgresCpuMs !== undefined ? round(after.postgresCpuMs - before.postgresCpuMs, 0) : undefined,
    redis: delta(after.redis, before.redis),
    // a killed instance's last reading stands for its end
    instancesCpuMs: after.instancesCpuMs.map((a, i) => round((Number.isNaN(a) ? before.instancesCpuMs[i]! : a) - before.instancesCpuMs[i]!, 0)),
    loadsCpuMs: round(after.loadsCpuMs - before.loadsCpuMs, 0),
  };
}

/** A phase's cost divided by `per` (devices connected, deliveries made, ...). */
function perUnit(p: Phase, per: number) {
  return {
    postgresXacts: round((p.postgres.xact_commit ?? 0) / per, 3),
    postgresTuplesReturnedAndFetched: round(((p.postgres.tup_returned ?? 0) + (p.postgres.tup_fetched ?? 0)) / per, 1),
    postgresTuplesWritten: round(((p.postgres.tup_inserted ?? 0) + (p.postgres.tup_updated ?? 0) + (p.postgres.tup_deleted ?? 0)) / per, 2),
    postgresCpuMs: p.postgresCpuMs === undefined ? undefined : round(p.postgresCpuMs / per, 3),
    redisCommands: round((p.redis.total_commands_processed ?? 0) / per, 3),
    instancesCpuMs: round(sum(p.instancesCpuMs) / per, 3),
  };
}

/** Who is who at N devices: which users connect where, from which load process, doing what. */
export function layout(n: number, subscribers: number, loads: number) {
  const killed = range(n).filter((i) => i % INSTANCES === KILLED);
  const survivors = range(n).filter((i) => i % INSTANCES !== KILLED);
  const killWatchers = Math.ceil(killed.length / SCALE_SEED.perWatcher);
  const survivorWatchers = Math.min(SCALE_SEED.survivorWatchers, Math.ceil(survivors.length / SCALE_SEED.perWatcher));
  const perLoad: DeviceSpec[][] = range(loads).map(() => []);
  // by blocks of 6, so that every load process holds devices of every instance
  for (let i = 0; i < n; i++) perLoad[Math.floor(i / INSTANCES) % loads]!.push([scaleId.device(i), i % INSTANCES, PLATFORM_CYCLE[i % PLATFORM_CYCLE.length]!, i < subscribers ? 'profile' : 'idle']);
  // watchers on the surviving instances only, round robin
  const watchers: DeviceSpec[][] = range(loads).map(() => []);
  const watcherIds = [...range(killWatchers).map(scaleId.killWatcher), ...range(survivorWatchers).map(scaleId.survivorWatcher)];
  watcherIds.forEach((userId, j) => watchers[j % loads]!.push([userId, j % (INSTANCES - 1), 'PC', 'online']));
  const warm: DeviceSpec[][] = range(loads).map(() => []);
  range(WARM_PER_INSTANCE * INSTANCES).forEach((j) => warm[j % loads]!.push([scaleId.checker(j), j % INSTANCES, 'OTHER', 'warm']));
  return { killed, survivors, killWatchers, survivorWatchers, watcherCount: watcherIds.length, perLoad, watchers, warm };
}

/** One point of the scenario: N devices on 6 fresh instances. */
export async function scalePoint(n: number) {
  const o = SCALE_OPTIONS;
  const started = now();
  const S = Math.min(o.subscribers, n, SCALE_SEED.fanSubscribers);
  const L = o.loads;
  const plan = layout(n, S, L);
  const tag = `scale ${fmt(n)}`;
  const notes: string[] = [];
  const servers: ServerProc[] = [];
  const loads: LoadProc[] = [];
  const db = new pg.Client({ connectionString: DATABASE_URL });
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  let instanceIds: string[] = [];
  try {
    await db.connect();
    await redis.connect();
    await resetState(db, []);

    log(`  ${tag}: starting ${INSTANCES} instances and ${L} load processes`);
    const env = serverEnv({ REDIS_URL, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=./bench/lib/exit-with-parent.mjs`.trim() });
    const startedServers = await Promise.allSettled(range(INSTANCES).map((i) => startOurServer(`instance-${i}`, env)));
    for (const s of startedServers) if (s.status === 'fulfilled') (servers.push(s.value), children.add(s.value.child));
    const refused = startedServers.find((s) => s.status === 'rejected');
    if (refused) throw (refused as PromiseRejectedResult).reason;
    servers.sort((a, b) => a.name.localeCompare(b.name));
    const startedLoads = await Promise.allSettled(range(L).map(() => startLoad('bench/load/scale-clients.ts')));
    for (const s of startedLoads) if (s.status === 'fulfilled') (loads.push(s.value), children.add(s.value.child));
    const refusedLoad = startedLoads.find((s) => s.status === 'rejected');
    if (refusedLoad) throw (refusedLoad as PromiseRejectedResult).reason;
    const urls = servers.map((s) => s.wsUrl);
    const localAddress = (l: number) => `127.0.0.${2 + l}`;
    const connectFrom = (l: number, devices: DeviceSpec[], timeoutMs: number) =>
      loads[l]!.call<{ devices: number; failed: number; shed: number; errors: string[]; startedAt: number; lastAckAt: number; lastReadyAt: number; ms: number }>(
        { cmd: 'connect', appKey: SCALE_APP_KEY, urls, localAddress: localAddress(l), devices, queries: { profile: PROFILE_STATUS_SUBSCRIPTION, online: ONLINE_STATUS_SUBSCRIPTION }, concurrency: o.concurrency, ackTimeoutMs: ACK_TIMEOUT_MS },
        timeoutMs,
      );
    type Stats = { acked: number; ready: number; readyProfile: number; failed: number; shed: number; inFlight: number; open: number; closedAfterAck: number[]; rss: number };
    const stats = () => Promise.all(loads.map((l) => l.call<Stats>({ cmd: 'stats' }, 60_000)));

    // warm-up: compiled code and pools are not counted per connection
    const warm = await Promise.all(range(L).map((l) => connectFrom(l, plan.warm[l]!, 300_000)));
    if (sum(warm.map((w) => w.failed))) throw new Error(`${tag}: warm-up connections failed: ${warm.flatMap((w) => w.errors).join('; ')}`);
    await Promise.all(loads.map((l) => l.call({ cmd: 'close', kind: 'warm' })));
    await sleep(4000); // their offline grace (3 s) runs out
    const memoryBefore = await Promise.all(servers.map((s) => s.memory()));

    // watchers first: they see every device come online
    log(`  ${tag}: ${plan.watcherCount} watchers connect (ONLINE_STATUS on ${plan.killWatchers * SCALE_SEED.perWatcher} killed-instance and ${plan.survivorWatchers * SCALE_SEED.perWatcher} survivor users)`);
    const w = await Promise.all(range(L).map((l) => connectFrom(l, plan.watchers[l]!, 300_000)));
    if (sum(w.map((x) => x.failed))) throw new Error(`${tag}: watchers could not connect: ${w.flatMap((x) => x.errors).join('; ')}`);

    // --- connect ---------------------------------------------------------------------------------
    log(`  ${tag}: ${fmt(n)} devices connect (${S} of them USER_PROFILE subscribers), ${o.concurrency} at a time from each of ${L} load processes`);
    const loadsRssBefore = sum((await stats()).map((x) => x.rss));
    const peakMarked = servers.map((sv) => resetPeakRss(sv.pid));
    const r0 = await reading(db, redis, servers, loads);
    const t0 = now();
    const connectTimeoutMs = Math.max(900_000, (n / 30) * 1000);
    const connecting = range(L).map((l) => connectFrom(l, plan.perLoad[l]!, connectTimeoutMs));
    let done = false;
    const settled = Promise.allSettled(connecting).finally(() => (done = true));
    let last = { at: t0, count: 0, settled: 0 };
    let lastMovedAt = t0;
    while (!done) {
      await Promise.race([settled, sleep(PROGRESS_MS)]);
      if (done) break;
      const s = await stats();
      const acked = sum(s.map((x) => x.acked)) - plan.warm.flat().length - plan.watcherCount;
      const failed = sum(s.map((x) => x.failed));
      const t = now();
      const rate = ((acked - last.count) * 1000) / (t - last.at);
      if (acked + failed !== last.settled) lastMovedAt = t;
      last = { at: t, count: acked, settled: acked + failed };
      const rss = servers.map((sv) => mib(rssOf(sv.pid) ?? 0));
      log(
        `  ${tag}: connect +${secs(t - t0)}: ${fmt(acked)}/${fmt(n)} acked, ${failed} failed, ${sum(s.map((x) => x.shed))} shed (retried), ${Math.round(rate)}/s, ` +
          `${rate > 0 ? `ETA ${secs(((n - acked) / rate) * 1000)}` : 'no progress'}; instances RSS ${Math.min(...rss)}-${Math.max(...rss)} MiB, loads RSS ${Math.max(...s.map((x) => mib(x.rss)))} MiB max`,
      );
      if (t - lastMovedAt > STALL_MS) throw new Error(`${tag}: no device acked or failed for ${STALL_MS / 1000} s (${fmt(acked)}/${fmt(n)} acked); instance output tails:\n${tails(servers)}`);
      for (const sv of servers) if (sv.child.exitCode !== null || sv.child.signalCode !== null) throw new Error(`${tag}: ${sv.name} died during the connect:\n${sv.output().slice(-3000)}`);
    }
    const results = await Promise.all(connecting);
    const allAckedMs = Math.max(...results.map((r) => r.lastAckAt)) - t0;
    const allReadyMs = Math.max(...results.map((r) => r.lastReadyAt)) - t0;
    const failed = sum(results.map((r) => r.failed));
    // cumulative in each load process: the warm-up's and the watchers' come first and are tiny
    const shed = sum(results.map((r) => r.shed));
    const errors = results.flatMap((r) => r.errors).slice(0, 10);
    log(`  ${tag}: ${fmt(n - failed)}/${fmt(n)} devices acked in ${secs(allAckedMs)} (${Math.round((n - failed) / (allAckedMs / 1000))}/s), subscribers synced at ${secs(allReadyMs)}, ${shed} shed connects retried, ${failed} failed${failed ? `: ${errors.join('; ')}` : ''}`);
    if (failed > n * 0.01) throw new Error(`${tag}: ${failed} of ${fmt(n)} devices failed to connect (more than 1 %): ${errors.join('; ')}`);
    if (failed) notes.push(`connect: ${failed} devices failed: ${errors.join('; ')}`);
    const perInstanceExpected = range(INSTANCES).map((i) => range(n).filter((d) => d % INSTANCES === i).length + plan.watchers.flat().filter((x) => x[1] === i).length);

    // presence rows of every device and watcher, and the watchers' view of them
    const expectedConnections = n - failed + plan.watcherCount;
    const presenceSettledMs = await until(async () => (await connectionsOf(db)) >= expectedConnections, 300_000, async () => `${await connectionsOf(db)} presence connections instead of ${expectedConnections}`);
    const watchedKilled = plan.killed;
    const watchedSurvivors = range(plan.survivorWatchers * SCALE_SEED.perWatcher)
      .map(survivorDevice)
      .filter((i) => i < n);
    const watchedView = async () => {
      const replies = await Promise.all(loads.map((l) => l.call<{ entries: [string, boolean, number, number | null][] }>({ cmd: 'watched' }, 60_000)));
      return new Map(replies.flatMap((r) => r.entries.map(([id, online, lastChangeAt, firstOfflineAt]) => [id, { online, lastChangeAt, firstOfflineAt }] as const)));
    };
    const watchersSawOnlineMs = await until(
      async () => {
        const view = await watchedView();
        return [...watchedKilled, ...watchedSurvivors].every((i) => view.get(scaleId.device(i))?.online);
      },
      300_000,
      async () => {
        const view = await watchedView();
        const missing = [...watchedKilled, ...watchedSurvivors].filter((i) => !view.get(scaleId.device(i))?.online);
        return `watchers see ${missing.length} watched devices not online (e.g. ${missing.slice(0, 5).map(scaleId.device).join(', ')})`;
      },
    ).catch((error: Error) => {
      notes.push(`before the kill: ${error.message}`);
      log(`  !! ${tag}: ${error.message}`);
      return NaN;
    });
    await sleep(1500); // PostgreSQL's statistics flush
    const r1 = await reading(db, redis, servers, loads);
    const connectPhase = phase(r0, r1);
    instanceIds = (await db.query('select distinct instance_id from presence_connections where app_key = $1', [SCALE_APP_KEY])).rows.map((r) => r.instance_id as string);
    log(`  ${tag}: after the last ack: presence rows complete within ${secs(presenceSettledMs)}, watchers saw every watched device online within ${secs(watchersSawOnlineMs)} more`);

    const peakRss = servers.map((sv, i) => (peakMarked[i] ? peakRssOf(sv.pid) : undefined));
    const memoryAfter = await Promise.all(servers.map((s) => s.memory()));
    const memory = servers.map((s, i) => ({
      instance: s.name,
      connections: perInstanceExpected[i]!,
      before: { rssMiB: mib(memoryBefore[i]!.rss), heapMiB: mib(memoryBefore[i]!.heapUsed) },
      after: { rssMiB: mib(memoryAfter[i]!.rss), heapMiB: mib(memoryAfter[i]!.heapUsed) },
      /** highest RSS from the connect's start until after it settled (before the GC of the `after` reading) */
      peakRssDuringConnectMiB: peakRss[i] === undefined ? null : mib(peakRss[i]!),
      rssPerConnectionKiB: kib((memoryAfter[i]!.rss - memoryBefore[i]!.rss) / perInstanceExpected[i]!),
      heapPerConnectionKiB: kib((memoryAfter[i]!.heapUsed - memoryBefore[i]!.heapUsed) / perInstanceExpected[i]!),
    }));
    const loadStats = await stats();
    const loadSockets = sum(loadStats.map((x) => x.open));
    log(`  ${tag}: memory per connection: RSS ${memory.map((m) => m.rssPerConnectionKiB).join(' / ')} KiB, heap ${memory.map((m) => m.heapPerConnectionKiB).join(' / ')} KiB (instances 0-5)`);

    // --- (a) fan-out -------------------------------------------------------------------------------
    // those that failed to connect are not waited for (they are counted as connect failures)
    const subscribersPerLoad = loadStats.map((x) => x.readyProfile);
    const targetToken = await tokenOf(SCALE_SEED.fanTarget);
    const change = async (k: number, label: string) => {
      const writer = servers[k % INSTANCES]!;
      const response = await post(writer.url, writeBody(`Scale ${label} ${k}`, `scale ${k}`), targetToken);
      if (response.json.errors) throw new Error(`${tag}: the profile change on ${writer.name} was answered with errors: ${response.text.slice(0, 300)}`);
      const version = response.json.data.updateMyUserProfile.version as number;
      const tracked = await Promise.all(
        range(L).map((l) => (subscribersPerLoad[l] ? loads[l]!.call<{ times: number[]; complete: boolean }>({ cmd: 'track', version, count: subscribersPerLoad[l], timeoutMs: 60_000 }, 90_000) : { times: [], complete: true })),
      );
      const times = tracked.flatMap((t) => t.times);
      return { sentAt: response.sentAt, at: response.at, times, complete: tracked.every((t) => t.complete), writer: writer.name };
    };
    const subscribersReady = sum(subscribersPerLoad);
    if (subscribersReady !== S) notes.push(`fan-out: ${subscribersReady} of ${S} subscribers connected`);
    log(`  ${tag}: fan-out to ${S} subscribers: 3 warm-up changes, then ${o.changes}`);
    for (let k = 0; k < 3; k++) await change(k, 'warm');
    await Promise.all(loads.map((l) => l.call({ cmd: 'reset' })));
    const r2 = await reading(db, redis, servers, loads);
    const lastMs: number[] = [];
    const deliveryMs: number[] = [];
    let incomplete = 0;
    let firstSent = 0;
    let lastDelivery = 0;
    for (let k = 0; k < o.changes; k++) {
      const c = await change(k, 'fan');
      firstSent ||= c.sentAt;
      if (!c.complete) {
        incomplete++;
        const note = `fan-out: change ${k} (written on ${c.writer}) reached ${c.times.length} of ${subscribersReady} subscribers within 60 s`;
        notes.push(note);
        log(`  !! ${tag}: ${note}`);
        continue;
      }
      const lastAt = Math.max(...c.times);
      lastDelivery = lastAt;
      lastMs.push(lastAt - c.at);
      for (const t of c.times) deliveryMs.push(t - c.at);
      if ((k + 1) % 5 === 0 || k === o.changes - 1) log(`  ${tag}: fan-out change ${k + 1}/${o.changes}: last delivery ${(lastAt - c.at).toFixed(0)} ms after the response (written on ${c.writer})`);
    }
    await sleep(1500);
    const r3 = await reading(db, redis, servers, loads);
    const fanoutPhase = phase(r2, r3);
    const fanout = {
      subscribers: subscribersReady,
      changes: o.changes,
      incomplete,
      lastDeliveryP50Ms: round(percentile(lastMs, 50), 1),
      lastDeliveryP99Ms: round(percentile(lastMs, 99), 1),
      lastDeliveryMaxMs: round(Math.max(...lastMs), 1),
      deliveryP50Ms: round(percentile(deliveryMs, 50), 1),
      deliveryP99Ms: round(percentile(deliveryMs, 99), 1),
      deliveriesPerSecond: round(deliveryMs.length / ((lastDelivery - firstSent) / 1000), 0),
      perChangeMs: lastMs.map((x) => round(x, 1)),
      cost: { ...fanoutPhase, perDelivery: perUnit(fanoutPhase, Math.max(1, deliveryMs.length)) },
    };
    log(`  ${tag}: fan-out response -> last of ${S} deliveries p50 ${fanout.lastDeliveryP50Ms} ms, p99 ${fanout.lastDeliveryP99Ms} ms (${fanout.deliveriesPerSecond} deliveries/s)`);

    // --- (b) kill ----------------------------------------------------------------------------------
    const victim = servers[KILLED]!;
    const closedBefore = (await stats()).map((x) => x.closedAfterAck);
    log(`  ${tag}: SIGKILL ${victim.name} (pid ${victim.pid}, ${fmt(plan.killed.length)} devices); watching for ${o.observeSeconds} s`);
    const r4 = await reading(db, redis, servers, loads);
    const killedAt = now();
    await victim.kill();
    let dbAt60: { ghosts: number; survivorsOffline: number; atMs: number } | undefined;
    const killedIds = new Set(plan.killed.map(scaleId.device));
    const survivorIds = new Set(plan.survivors.map(scaleId.device));
    const droppedSince = (s: Stats[]) => sum(s.map((x, l) => sum(x.closedAfterAck.map((c, i) => (i === KILLED ? 0 : c - (closedBefore[l]![i] ?? 0))))));
    for (;;) {
      const elapsed = now() - killedAt;
      if (!dbAt60 && elapsed >= OFFLINE_DEADLINE_MS) {
        const online = await onlineUsers(db);
        dbAt60 = { ghosts: [...killedIds].filter((u) => online.has(u)).length, survivorsOffline: [...survivorIds].filter((u) => !online.has(u)).length, atMs: round(now() - killedAt, 0) };
        log(`  ${tag}: kill +${secs(dbAt60.atMs)}: database: ${dbAt60.ghosts} of the killed instance's devices still online (ghosts), ${dbAt60.survivorsOffline} survivors' devices offline`);
      }
      if (elapsed >= o.observeSeconds * 1000) break;
      const view = await watchedView();
      const gone = watchedKilled.filter((i) => view.get(scaleId.device(i))?.online === false).length;
      const survivorsSeenOffline = watchedSurvivors.filter((i) => view.get(scaleId.device(i))?.firstOfflineAt != null).length;
      const connections = await connectionsOf(db);
      log(
        `  ${tag}: kill +${secs(elapsed)}: watchers see ${fmt(gone)}/${fmt(watchedKilled.length)} killed devices offline, ${survivorsSeenOffline} watched survivors offline; ` +
          `${droppedSince(await stats())} survivor sockets dropped; ${fmt(connections)} presence connections left`,
      );
      // wake up at the 60 s mark for the database reading, else every 5 s
      const toDeadline = OFFLINE_DEADLINE_MS - (now() - killedAt);
      await sleep(!dbAt60 && toDeadline > 0 ? Math.min(PROGRESS_MS, toDeadline) : PROGRESS_MS);
    }
    const view = await watchedView();
    const offlineAfterMs = watchedKilled.map((i) => {
      const v = view.get(scaleId.device(i));
      return v && !v.online && v.firstOfflineAt !== null ? v.firstOfflineAt - killedAt : Infinity;
    });
    const ghostsWatchers = offlineAfterMs.filter((ms) => !(ms <= OFFLINE_DEADLINE_MS)).length;
    const watchedSurvivorsOffline = watchedSurvivors.filter((i) => {
      const v = view.get(scaleId.device(i));
      return !v?.online || v.firstOfflineAt !== null;
    });
    const finalStats = await stats();
    const closedOnKilled = sum(finalStats.map((x, l) => (x.closedAfterAck[KILLED] ?? 0) - (closedBefore[l]![KILLED] ?? 0)));
    const droppedSurvivorSockets = droppedSince(finalStats);
    await sleep(1500);
    const r5 = await reading(db, redis, servers, loads);
    const killPhase = phase(r4, r5);

    // the database, and GraphQL through the checkers, on every device
    const onlineAtEnd = await onlineUsers(db);
    const dbGhostsAtEnd = [...killedIds].filter((u) => onlineAtEnd.has(u));
    const dbWronglyOffline = [...survivorIds].filter((u) => !onlineAtEnd.has(u));
    const graphql = await graphqlCheck(servers.filter((_, i) => i !== KILLED), n);
    const gqlGhosts = [...killedIds].filter((u) => graphql.online.has(u));
    const gqlWronglyOffline = [...survivorIds].filter((u) => !graphql.online.has(u));
    const wronglyOffline = new Set([...dbWronglyOffline, ...gqlWronglyOffline, ...watchedSurvivorsOffline.map(scaleId.device)]);
    const offlineKnown = offlineAfterMs.filter(Number.isFinite);
    const kill = {
      killedInstance: victim.name,
      killedDevices: plan.killed.length,
      watchedKilledDevices: watchedKilled.length,
      socketsClosedOnKilledInstance: closedOnKilled,
      offlineWithin60s: watchedKilled.length - ghostsWatchers,
      ghostsWatchersAt60s: ghostsWatchers,
      ghostsDatabaseAt60s: dbAt60?.ghosts ?? NaN,
      ghostsDatabaseAtEnd: dbGhostsAtEnd.length,
      ghostsGraphqlAtEnd: gqlGhosts.length,
      offlineAfterKillMs: offlineKnown.length
        ? { first: round(Math.min(...offlineKnown), 0), p50: round(percentile(offlineKnown, 50), 0), p99: round(percentile(offlineKnown, 99), 0), last: round(Math.max(...offlineKnown), 0) }
        : null,
      /** how many went offline (for the watchers) in each 5 s after the kill: [from s, count][] */
      offlineBy5s: Object.entries(
        offlineKnown.reduce<Record<number, number>>((acc, ms) => {
          const bucket = 5 * Math.floor(ms / 5000);
          acc[bucket] = (acc[bucket] ?? 0) + 1;
          return acc;
        }, {}),
      ).map(([from, count]) => [Number(from), count]),
      wronglyOffline: {
        total: wronglyOffline.size,
        database: dbWronglyOffline.length,
        graphql: gqlWronglyOffline.length,
        watchedSurvivors: watchedSurvivorsOffline.length,
        watchedSurvivorsOf: watchedSurvivors.length,
        droppedSurvivorSockets,
        examples: [...wronglyOffline].slice(0, 10),
      },
      graphqlCheck: { requests: graphql.requests, ms: round(graphql.ms, 0), missing: graphql.missing, errors: graphql.errors },
      observedSeconds: o.observeSeconds,
      cost: killPhase,
    };
    log(
      `  ${tag}: kill: ${kill.offlineWithin60s}/${kill.watchedKilledDevices} offline within 60 s for the watchers (p50 ${kill.offlineAfterKillMs?.p50 ?? '-'} ms, last ${kill.offlineAfterKillMs?.last ?? '-'} ms); ` +
        `ghosts ${ghostsWatchers} (watchers) / ${kill.ghostsDatabaseAt60s} (database at 60 s) / ${kill.ghostsGraphqlAtEnd} (GraphQL at the end); wrongly offline ${wronglyOffline.size}`,
    );
    if (graphql.errors.length) notes.push(`GraphQL check: ${graphql.errors.slice(0, 3).join('; ')}`);

    const connect = {
      devices: n,
      watchers: plan.watcherCount,
      failed,
      /** connects the instances shed (1013, retry after N ms) and the clients tried again, as the SDK does */
      shedRetried: shed,
      errors,
      allAckedMs: round(allAckedMs, 0),
      allReadyMs: round(allReadyMs, 0),
      connectsPerSecond: round((n - failed) / (allAckedMs / 1000), 0),
      presenceSettledMs: round(presenceSettledMs, 0),
      watchersSawAllOnlineMs: round(watchersSawOnlineMs, 0),
      connectionsPerInstance: perInstanceExpected,
      cost: { ...connectPhase, perDevice: perUnit(connectPhase, n) },
    };
    const memoryMedian = (pick: (m: (typeof memory)[number]) => number) => round(percentile(memory.map(pick), 50), 2);
    const met = {
      allAcked: failed === 0,
      fanoutP99: incomplete === 0 && fanout.lastDeliveryP99Ms <= 500,
      noGhosts: ghostsWatchers === 0 && (dbAt60?.ghosts ?? 1) === 0,
      noneWronglyOffline: wronglyOffline.size === 0,
    };
    return {
      devices: n,
      instances: INSTANCES,
      loadProcesses: L,
      connect,
      fanout,
      kill,
      memory: {
        perInstance: memory,
        rssPerConnectionKiBMedian: memoryMedian((m) => m.rssPerConnectionKiB),
        heapPerConnectionKiBMedian: memoryMedian((m) => m.heapPerConnectionKiB),
        loadProcessesRssMiB: mib(sum(loadStats.map((x) => x.rss))),
        loadProcessesRssPerSocketKiB: kib((sum(loadStats.map((x) => x.rss)) - loadsRssBefore) / Math.max(1, loadSockets)),
      },
      met,
      notes,
      seconds: round((now() - started) / 1000, 0),
    };
  } catch (error) {
    if (servers.length) log(`  ${tag}: failed; instance output tails:\n${tails(servers)}`);
    throw error;
  } finally {
    // servers first: the side that closes first keeps the TIME_WAITs, and theirs use no ephemeral ports
    await Promise.allSettled(servers.map((s) => s.kill()));
    await Promise.allSettled(loads.map((l) => l.stop()));
    for (const c of [...loads.map((l) => l.child), ...servers.map((s) => s.child)]) children.delete(c);
    await resetState(db, instanceIds).catch((error) => log(`  ${tag}: cleaning up presence failed: ${error}`));
    await db.end().catch(() => {});
    redis.disconnect();
  }
}

/** No bench-scale presence, events or instance rows left from a previous point or run. */
async function resetState(db: pg.Client, instanceIds: string[]): Promise<void> {
  if (instanceIds.length) await db.query('delete from server_instances where instance_id = any($1)', [instanceIds]);
  for (const table of ['presence_connections', 'presence_platforms', 'presence_users', 'events']) await db.query(`delete from ${table} where app_key = $1`, [SCALE_APP_KEY]);
  await db.query("delete from server_instances where heartbeat_at < now() - interval '1 minute'");
}

async function connectionsOf(db: pg.Client): Promise<number> {
  const { rows } = await db.query('select count(*)::int as n from presence_connections where app_key = $1', [SCALE_APP_KEY]);
  return rows[0].n as number;
}

/** Users of the scale app online on at least one platform, by the database. */
async function onlineUsers(db: pg.Client): Promise<Set<string>> {
  const { rows } = await db.query('select distinct user_id from presence_platforms where app_key = $1 and online', [SCALE_APP_KEY]);
  return new Set(rows.map((r) => r.user_id as string));
}

/** Polls `check` until it holds; returns the ms waited, or throws `describe()` after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string>): Promise<number> {
  const t0 = now();
  for (;;) {
    if (await check()) return now() - t0;
    if (now() - t0 > timeoutMs) throw new Error(`after ${secs(timeoutMs)}: ${await describe()}`);
    await sleep(250);
  }
}

/**
 * Every device's online state as GraphQL answers it: checker xq_j subscribes to devices
 * 1000j..1000j+999 and asks subscribedUserStatus for them, 200 at a time, 8 requests in flight,
 * round robin over the given (surviving) instances.
 */
async function graphqlCheck(servers: ServerProc[], n: number) {
  const t0 = now();
  const jobs: { token: Promise<string>; ids: string[] }[] = [];
  for (let j = 0; j * SCALE_SEED.perWatcher < n; j++) {
    const token = tokenOf(scaleId.checker(j));
    for (let from = j * SCALE_SEED.perWatcher; from < Math.min(n, (j + 1) * SCALE_SEED.perWatcher); from += CHECK_BATCH) {
      jobs.push({ token, ids: range(Math.min(CHECK_BATCH, n - from, (j + 1) * SCALE_SEED.perWatcher - from), from).map(scaleId.device) });
    }
  }
  const online = new Set<string>();
  const errors: string[] = [];
  let missing = 0;
  let next = 0;
  await Promise.all(
    range(8).map(async () => {
      while (next < jobs.length) {
        const k = next++;
        const job = jobs[k]!;
        try {
          const response = await post(servers[k % servers.length]!.url, JSON.stringify({ query: CHECK_QUERY, operationName: 'Check', variables: { ids: job.ids } }), await job.token);
          if (response.json.errors) throw new Error(response.text.slice(0, 300));
          const rows = response.json.data.subscribedUserStatus as { userId: string; details: { online: boolean }[] }[];
          missing += job.ids.length - rows.length;
          for (const row of rows) if (row.details.some((d) => d.online)) online.add(row.userId);
        } catch (error) {
          if (errors.length < 10) errors.push(String(error));
          missing += job.ids.length;
        }
      }
    }),
  );
  return { online, requests: jobs.length, ms: now() - t0, missing, errors };
}

function tails(servers: ServerProc[]): string {
  return servers.map((s) => `--- ${s.name} (pid ${s.pid}):\n${s.output().slice(-1500)}`).join('\n');
}

export type ScalePoint = Awaited<ReturnType<typeof scalePoint>>;
