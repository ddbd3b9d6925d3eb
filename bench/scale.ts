/**
 * `npm run bench:scale`: the `scale` scenario (bench/scenarios/scale.ts) on its own, not part of
 * `npm run bench`. Checks the machine first, seeds its data (bench/seed-scale.ts, once), runs one
 * point per device count on fresh instances, and writes bench/results/scale.json after each point.
 *
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/phs_bench), REDIS_URL (default
 * redis://127.0.0.1:6379), and the knobs below (defaults = the full run):
 *   BENCH_SCALE_DEVICES      device counts, one point each        "10000,100000"
 *   BENCH_SCALE_SUBSCRIBERS  USER_PROFILE subscribers of x-target  5000
 *   BENCH_SCALE_CHANGES      measured profile changes              20
 *   BENCH_SCALE_LOADS        client load processes                 8
 *   BENCH_SCALE_CONCURRENCY  connects in flight per load process   32
 *   BENCH_SCALE_OBSERVE_S    seconds the kill is watched (>= 65)   90
 *   BENCH_SCALE_OUTPUT       where the JSON goes                   bench/results/scale.json
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DATABASE_URL, POOL_SIZE, REDIS_URL, RESULTS_DIR, log } from './lib/config.ts';
import { round } from './lib/stats.ts';
import { killChildren, layout, SCALE_OPTIONS, scalePoint, type ScalePoint } from './scenarios/scale.ts';
import { SCALE_SEED, seedScale } from './seed-scale.ts';
import { ensureDatabase } from './seed.ts';

// whatever ends this process, no server or client population outlives it
process.on('exit', killChildren);
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    log(`\n${signal}: stopping every server and load process`);
    killChildren();
    process.exit(code);
  });
}
process.on('uncaughtException', (error) => {
  log(`scale: uncaught: ${error.stack ?? error}`);
  killChildren();
  process.exit(1);
});

const o = SCALE_OPTIONS;
const output = process.env.BENCH_SCALE_OUTPUT || `${RESULTS_DIR}/scale.json`;
const started = Date.now();

/** Refuses to start, with the reason, when the machine cannot hold the largest point. */
async function preflight() {
  const problems: string[] = [];
  const warnings: string[] = [];
  const largest = Math.max(...o.points);
  const plan = layout(largest, Math.min(o.subscribers, largest), o.loads);
  const hardLimit = Number(execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
  const perInstance = Math.ceil(largest / SCALE_SEED.instances) + plan.watcherCount + 300;
  const perLoad = Math.max(...plan.perLoad.map((d, l) => d.length + plan.watchers[l]!.length + plan.warm[l]!.length)) + 300;
  if (Number.isFinite(hardLimit)) {
    if (perInstance > hardLimit) problems.push(`each instance needs ~${perInstance} open files, the hard limit is ${hardLimit}`);
    if (perLoad > hardLimit) problems.push(`each load process needs ~${perLoad} open files, the hard limit is ${hardLimit}: raise BENCH_SCALE_LOADS`);
  }
  if (perLoad > 15_300) problems.push(`${perLoad} sockets per load process: keep it at or under ~15 000 (raise BENCH_SCALE_LOADS)`);
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  if (low && high && perLoad > (high - low) * 0.9) problems.push(`${perLoad} sockets per source address, ${high - low} ephemeral ports: raise BENCH_SCALE_LOADS`);
  for (let l = 0; l < o.loads; l++) {
    const address = `127.0.0.${2 + l}`;
    const bound = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(0, address, () => s.close(() => resolve(true)));
    });
    if (!bound) problems.push(`cannot bind the source address ${address} (loopback 127.0.0.0/8 expected)`);
  }
  await ensureDatabase();
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect().catch((error) => {
    throw new Error(`PostgreSQL at ${DATABASE_URL.replace(/\/\/[^@]*@/, '//')} is not reachable: ${error}`);
  });
  const { rows } = await db.query("select current_setting('max_connections')::int as max, (select count(*)::int from pg_stat_activity) as used, current_setting('server_version') as version");
  await db.end();
  const needed = SCALE_SEED.instances * POOL_SIZE + 5;
  if (rows[0].max - rows[0].used < needed) problems.push(`PostgreSQL: ${rows[0].used} of max_connections ${rows[0].max} in use, the instances need ${needed}`);
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  let redisVersion: string | undefined;
  try {
    await redis.connect();
    redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
  } catch (error) {
    problems.push(`Redis at ${REDIS_URL} is not reachable: ${error}`);
  } finally {
    redis.disconnect();
  }
  // rough, from the small runs: ~300 MiB + 20 KiB per connection per instance, ~90 MiB + 7 KiB per socket per load process
  const needMiB = SCALE_SEED.instances * 300 + o.loads * 90 + (largest * (20 + 7)) / 1024;
  const availableMiB = Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024;
  if (availableMiB && needMiB > availableMiB * 0.8) warnings.push(`about ${Math.round(needMiB)} MiB needed, ${Math.round(availableMiB)} MiB available`);
  if (problems.length) throw new Error(`scale: cannot run:\n- ${problems.join('\n- ')}`);
  for (const w of warnings) log(`scale: warning: ${w}`);
  log(`scale: per instance ~${perInstance} sockets, per load process ~${perLoad} (open-file hard limit ${hardLimit}); about ${Math.round(needMiB)} MiB of ${Math.round(availableMiB)} MiB available`);
  return { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, postgres: rows[0].version as string, redis: redisVersion, openFilesHardLimit: hardLimit, memAvailableMiB: Math.round(availableMiB) };
}

const points: ScalePoint[] = [];
let failure: string | undefined;
let machine: Awaited<ReturnType<typeof preflight>> | undefined;

function growth() {
  if (points.length < 2) return undefined;
  const [a, b] = [points[0]!, points.at(-1)!];
  const pair = (x: number, y: number) => ({ from: x, to: y, ratio: round(y / x, 2) });
  return {
    devices: pair(a.devices, b.devices),
    connectsPerSecond: pair(a.connect.connectsPerSecond, b.connect.connectsPerSecond),
    connectPerDevice: { from: a.connect.cost.perDevice, to: b.connect.cost.perDevice },
    rssPerConnectionKiB: pair(a.memory.rssPerConnectionKiBMedian, b.memory.rssPerConnectionKiBMedian),
    heapPerConnectionKiB: pair(a.memory.heapPerConnectionKiBMedian, b.memory.heapPerConnectionKiBMedian),
    fanoutP99Ms: pair(a.fanout.lastDeliveryP99Ms, b.fanout.lastDeliveryP99Ms),
    fanoutPerDelivery: { from: a.fanout.cost.perDelivery, to: b.fanout.cost.perDelivery },
    killOfflineP99Ms: pair(a.kill.offlineAfterKillMs?.p99 ?? NaN, b.kill.offlineAfterKillMs?.p99 ?? NaN),
    killPostgresXacts: pair(a.kill.cost.postgres.xact_commit ?? 0, b.kill.cost.postgres.xact_commit ?? 0),
  };
}

function write() {
  const doc = {
    scenario: 'scale',
    description:
      '6 instances of our server on one PostgreSQL and one Redis, N authenticated graphql-ws devices (one per user, device i on instance i % 6), from several load processes on source addresses 127.0.0.2..; ' +
      '(a) x-target with S USER_PROFILE subscribers among the devices changes its profile, one change after the other: mutation response -> last of the S deliveries; ' +
      '(b) instance 5 SIGKILLed: watchers on the survivors (ONLINE_STATUS on every device of the killed instance and on a sample of survivor devices), the database at +60 s, and at the end the database and GraphQL (subscribedUserStatus through checker users) on every device; ' +
      '(c) memory per connection per instance after a full GC; PostgreSQL (pg_stat_database), Redis (INFO) and CPU (/proc) per phase',
    targets: 'every device acked (0 failures); fan-out p99 <= 500 ms; 0 ghosts at 60 s after the kill; 0 devices of the surviving instances offline',
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    options: o,
    presence: 'server defaults (PRESENCE_HEARTBEAT_MS 10000, PRESENCE_TIMEOUT_MS 30000, PRESENCE_OFFLINE_GRACE_MS 3000)',
    machine: machine && { ...machine, loadAverageAtEnd: loadavg().map((l) => round(l, 2)) },
    points,
    growth: growth(),
    failure,
  };
  mkdirSync(output.replace(/\/[^/]*$/, ''), { recursive: true });
  writeFileSync(output, `${JSON.stringify(doc, null, 2)}\n`);
}

log(`bench scale: points ${o.points.join(', ')} devices, ${o.subscribers} subscribers, ${o.changes} changes, ${o.loads} load processes on ${DATABASE_URL.replace(/\/\/[^@]*@/, '//')}`);
try {
  machine = await preflight();
  log(`machine: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis ?? 'n/a'}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await seedScale();
  for (const n of o.points) {
    log(`\n== scale: ${n.toLocaleString('en-US')} devices`);
    points.push(await scalePoint(n));
    write();
  }
} catch (error) {
  failure = error instanceof Error ? (error.stack ?? error.message) : String(error);
  log(`scale failed: ${failure}`);
}
// a run that measured nothing leaves the figures of the previous one in place
if (points.length) write();

const rows: string[][] = [['devices', 'acked in', 'connects/s', 'failed', 'fan-out p50/p99 ms', 'offline after kill p50/last ms', 'ghosts 60 s', 'wrongly offline', 'RSS/heap per conn KiB', 'PG xacts/device', 'met']];
for (const p of points) {
  rows.push([
    p.devices.toLocaleString('en-US'),
    `${(p.connect.allAckedMs / 1000).toFixed(1)} s`,
    String(p.connect.connectsPerSecond),
    String(p.connect.failed),
    `${p.fanout.lastDeliveryP50Ms} / ${p.fanout.lastDeliveryP99Ms}${p.fanout.incomplete ? ` (${p.fanout.incomplete} incomplete)` : ''}`,
    p.kill.offlineAfterKillMs ? `${p.kill.offlineAfterKillMs.p50} / ${p.kill.offlineAfterKillMs.last}` : '-',
    `${p.kill.ghostsWatchersAt60s} / ${p.kill.ghostsDatabaseAt60s}`,
    String(p.kill.wronglyOffline.total),
    `${p.memory.rssPerConnectionKiBMedian} / ${p.memory.heapPerConnectionKiBMedian}`,
    String(p.connect.cost.perDevice.postgresXacts),
    Object.entries(p.met)
      .map(([k, v]) => `${k} ${v ? 'yes' : 'NO'}`)
      .join(', '),
  ]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
console.log(`\n${rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')).join('\n')}`);
console.log(`\nghosts: watchers / database; ${points.length} point(s) in ${Math.round((Date.now() - started) / 1000)} s${points.length ? `; written to ${output.replace(/^.*\/bench\//, 'bench/')}` : ''}${failure ? '; FAILED (see above)' : ''}`);
process.exit(failure ? 1 : 0);
