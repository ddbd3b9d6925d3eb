import pg from 'pg';
import { APP_KEY, DATABASE_URL, QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { floorEnv, killServers, log, profiled, serverEnv, startLoad, tokensFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { USER_EVENTS_SUBSCRIPTION } from '../lib/operations.ts';
import { cpuMsOf, peakRssOf, resetPeakRss, rssOf, sampleRss, startFloor, startOurServer, type ServerProc } from '../lib/proc.ts';
import { now, percentile, sleep, spread } from '../lib/stats.ts';
import { id, SEED } from '../seed.ts';

/** How long one device may take from the reconnect command to CaughtUp before the round fails. */
const DEVICE_TIMEOUT_MS = 180_000;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const MiB = 2 ** 20;

interface StormReply {
  caughtUpMs: number[];
  ackMs: number[];
  replayed: number;
  resumed: number;
  failed: number;
  errors: string[];
  attempts: number;
  shed: number;
  shedDevices: number;
  otherFailures: number;
  failureSamples: string[];
  ms: number;
}

/**
 * storm: 10 000 devices (one per user: the idle users i00000.., who have no subscriptions or
 * friends, so the resume replays nothing and the cost is the reconnect itself) are connected to
 * our server on `userEvents`, each holding the cursor of the last envelope it received. Per
 * round, all close their sockets at once (client side), then all reconnect at once, each after
 * its own wait drawn from the SDK's first-retry backoff (reconnectDelay(0), src/client), with
 * `after: <its cursor>`; a device shed with 1013 "retry after <N> ms" waits as the SDK would and
 * tries again. Per device: reconnect command -> connection_ack and -> UserEventsCaughtUp. Of the
 * server: CPU time and peak RSS from the drop until it has settled (every old connection
 * removed, every new one recorded). The floor: plain `ws` (bench/floors/server.ts) connecting
 * the same devices as in the idle scenario, 100 at a time.
 */
export async function stormScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  const n = Math.min(SCALE.stormDevices, SEED.idle);
  const tokens = await tokensFor(range(n).map(id.idle));
  const notes: string[] = [];

  // ---- the floor: wall time to connect all n devices, as in idle (one process, warmed up) -----
  const floorMs: number[] = [];
  {
    let floor: ServerProc | undefined;
    let clients: LoadProc | undefined;
    try {
      clients = await startLoad('bench/load/ws-clients.ts');
      floor = await startFloor('floor', 'bench/floors/server.ts', floorEnv());
      await clients.call({ cmd: 'connect', url: floor.wsUrl, tokens: tokens.slice(0, 50), concurrency: 10 });
      await clients.call({ cmd: 'close' });
      for (let r = 0; r < ROUNDS; r++) {
        const c = await clients.call<{ failed: number; errors: string[]; ms: number }>({ cmd: 'connect', url: floor.wsUrl, tokens, concurrency: 100 }, 600_000);
        if (c.failed) throw new Error(`storm: ${c.failed} connections to the floor failed: ${c.errors.join('; ')}`);
        floorMs.push(c.ms);
        log(`  storm floor round ${r + 1}/${ROUNDS}: ${n} devices connected in ${c.ms.toFixed(0)} ms`);
        await clients.call({ cmd: 'close' });
        await sleep(500);
      }
    } finally {
      await clients?.stop();
      await killServers([floor]);
    }
  }

  // ---- our server: connect every device once, then drop and reconnect them per round ---------
  let ours: ServerProc | undefined;
  let devices: LoadProc | undefined;
  const db = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await db.connect();
    devices = await startLoad('bench/load/ws-clients.ts');
    ours = await startOurServer('server', serverEnv());
    const server = ours;

    /** Waits until the server holds exactly n connections of the idle users, all made at or after `since`. */
    const settled = async (since: Date, timeoutMs = 240_000) => {
      const t0 = now();
      for (;;) {
        const { rows } = await db.query(
          "select count(*)::int as n, (count(*) filter (where connected_at >= $2))::int as recent from presence_connections where app_key = $1 and user_id like 'i%'",
          [APP_KEY, since],
        );
        if (rows[0].n === n && rows[0].recent === n) return now() - t0;
        if (now() - t0 > timeoutMs) throw new Error(`storm: ${rows[0].n} presence connections of i* (${rows[0].recent} new) instead of ${n} after ${timeoutMs} ms`);
        await sleep(25);
      }
    };
    const stormCall = (resume: boolean, withTokens: boolean) =>
      devices!.call<StormReply>(
        { cmd: 'storm', url: server.wsUrl, tokens: withTokens ? tokens : undefined, query: USER_EVENTS_SUBSCRIPTION, resume, timeoutMs: DEVICE_TIMEOUT_MS },
        DEVICE_TIMEOUT_MS + 60_000,
      );

    log(`  storm: ${n} devices connect (fresh, jittered as after a drop)`);
    const firstSince = new Date();
    const first = await stormCall(false, true);
    if (first.failed) throw new Error(`storm: ${first.failed} of ${n} devices did not connect: ${first.errors.join('; ')}`);
    await settled(firstSince);
    log(`  storm: ${n} devices caught up in ${Math.max(...first.caughtUpMs).toFixed(0)} ms (${first.shed} shed closes)`);

    const oneRound = async () => {
      await sleep(500);
      const rssBefore = rssOf(server.pid) ?? NaN;
      const peakReset = resetPeakRss(server.pid);
      const rss = sampleRss(server.pid);
      const cpuBefore = cpuMsOf(server.pid) ?? NaN;
      const since = new Date();
      const t0 = now();
      await devices!.call({ cmd: 'dropDevices' });
      const dropMs = now() - t0;
      const s = await stormCall(true, false);
      const cpuAtCaughtUp = (cpuMsOf(server.pid) ?? NaN) - cpuBefore;
      const settleMs = await settled(since);
      const cpuMs = (cpuMsOf(server.pid) ?? NaN) - cpuBefore;
      const sampledPeak = rss.stop();
      const peakRss = peakReset ? Math.max(sampledPeak, peakRssOf(server.pid) ?? 0) : sampledPeak;
      if (s.failed) throw new Error(`storm: ${s.failed} of ${n} devices did not catch up: ${s.errors.join('; ')}`);
      if (s.resumed !== n) throw new Error(`storm: ${s.resumed} of ${n} CaughtUp said resumed: true`);
      return {
        p50: percentile(s.caughtUpMs, 50),
        p99: percentile(s.caughtUpMs, 99),
        all: Math.max(...s.caughtUpMs),
        ackP50: percentile(s.ackMs, 50),
        ackP99: percentile(s.ackMs, 99),
        ackAll: Math.max(...s.ackMs),
        replayed: s.replayed,
        attempts: s.attempts,
        shed: s.shed,
        shedDevices: s.shedDevices,
        otherFailures: s.otherFailures,
        failureSamples: s.failureSamples,
        dropMs,
        /** drop command -> the server settled (old connections gone, new ones recorded) */
        windowMs: now() - t0,
        settleMs,
        cpuMs,
        cpuAtCaughtUp,
        rssBefore,
        peakRss,
        peakFromKernel: peakReset,
      };
    };

    const rounds: Awaited<ReturnType<typeof oneRound>>[] = [];
    await profiled('storm', [server], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const x = await oneRound();
        rounds.push(x);
        const f = (v: number) => v.toFixed(0);
        log(
          `  storm round ${r + 1}/${ROUNDS}: CaughtUp p50 ${f(x.p50)} p99 ${f(x.p99)} all ${f(x.all)} ms | ack p50 ${f(x.ackP50)} p99 ${f(x.ackP99)} ms | ` +
            `p99 / floor connect-all ${(x.p99 / floorMs[r]!).toFixed(2)} | server CPU ${f(x.cpuMs)} ms (${f(x.cpuAtCaughtUp)} until all caught up), peak RSS ${f(x.peakRss / MiB)} MiB (before ${f(x.rssBefore / MiB)}) | ` +
            `${x.shed} shed closes (${x.shedDevices} devices), ${x.otherFailures} other failed attempts, ${x.attempts} attempts | drop ${f(x.dropMs)} ms, settled ${f(x.settleMs)} ms after the last CaughtUp`,
        );
        if (x.failureSamples.length) log(`  storm: failed attempts, e.g. ${x.failureSamples.join('; ')}`);
      }
    });
    const s = (pick: (x: (typeof rounds)[number]) => number) => spread(rounds.map(pick));
    const floor = spread(floorMs);
    const ratio = spread(rounds.map((x, r) => x.p99 / floorMs[r]!));
    if (!rounds.every((x) => x.peakFromKernel)) notes.push('peak RSS: the kernel refused to reset VmHWM (clear_refs); the figure is the largest of readings every 25 ms');
    if (rounds.some((x) => x.replayed)) notes.push(`the resumes replayed ${rounds.map((x) => x.replayed).join(', ')} envelopes per round (none expected: idle users have no subscriptions)`);
    return {
      name: 'storm',
      description:
        `${n} devices (one per user i*, no subscriptions) on userEvents, one server process; per round all close at once (client side), then all reconnect at once with after: <last cursor>, ` +
        `each after its own reconnectDelay(0) of the SDK (0-500 ms), a 1013 "retry after <N> ms" close retried after shedDelay(N); time = reconnect command -> connection_ack / UserEventsCaughtUp per device; ` +
        `ratio = our p99 of (reconnect command -> UserEventsCaughtUp) over the ${n} devices / the floor's wall time to connect all ${n} (plain ws, connect_init + JWT check -> connection_ack, 100 at a time, as in idle); ` +
        'server CPU and peak RSS from the drop until the server settled (old connections removed, new ones recorded)',
      target: `storm p99 (reconnect -> CaughtUp) <= 3 x the floor's time to connect all ${n}`,
      met: QUICK ? null : ratio.median <= 3,
      figures: {
        caughtUpP99: { label: `reconnect -> CaughtUp p99 (ms); floor: plain ws connects all ${n} (ms)`, server: s((x) => x.p99), floor, ratio },
        caughtUpP50: { label: 'reconnect -> CaughtUp p50 (ms)', server: s((x) => x.p50) },
        caughtUpAll: { label: 'reconnect -> all devices CaughtUp (ms)', server: s((x) => x.all) },
        ackP50: { label: 'reconnect -> connection_ack p50 (ms)', server: s((x) => x.ackP50) },
        ackP99: { label: 'reconnect -> connection_ack p99 (ms)', server: s((x) => x.ackP99) },
        ackAll: { label: 'reconnect -> all devices acked (ms)', server: s((x) => x.ackAll) },
        cpu: { label: 'server CPU time, drop -> settled (ms)', server: s((x) => x.cpuMs) },
        cpuPerDevice: { label: 'server CPU time per device (ms)', server: s((x) => x.cpuMs / n) },
        peakRss: { label: 'server peak RSS, drop -> settled (MiB)', server: s((x) => x.peakRss / MiB) },
        rssBefore: { label: `server RSS before the drop, ${n} connected (MiB)`, server: s((x) => x.rssBefore / MiB) },
        shed: { label: 'shed closes (1013 retry after)', server: s((x) => x.shed) },
        otherFailures: { label: 'other failed attempts (retried)', server: s((x) => x.otherFailures) },
        settle: { label: 'last CaughtUp -> server settled (ms)', server: s((x) => x.settleMs) },
      },
      notes: [
        `the first connect (fresh, the same jitter) caught up all ${n} in ${Math.max(...first.caughtUpMs).toFixed(0)} ms`,
        'our connect also records presence (PRESENCE_OFFLINE_GRACE_MS at its default: a device back within it makes no offline/online pair); the floor only authenticates',
        'the devices reconnect from one load process, right after their client-side closes completed (the server may still be taking the old connections out)',
        ...notes,
      ],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await devices?.stop();
    await killServers([ours]);
    await db.end().catch(() => {});
  }
}
