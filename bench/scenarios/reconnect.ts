import pg from 'pg';
import { APP_KEY, DATABASE_URL, QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { killServers, log, post, profiled, serverEnv, startLoad, tokensFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { USER_EVENTS_SUBSCRIPTION, writeBody } from '../lib/operations.ts';
import { startOurServer, type ServerProc } from '../lib/proc.ts';
import { now, percentile, sleep, spread } from '../lib/stats.ts';
import { id, reconnectTargetsOf, SEED } from '../seed.ts';

/** Concurrent HTTP writers of the profile changes (gap and live load). */
const WRITERS = 10;
/** How long one device may take from the reconnect to CaughtUp before the round fails. */
const DEVICE_TIMEOUT_MS = 240_000;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Small deterministic PRNG, so that every run changes the same targets. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pickDistinct(count: number, from: number, rand: () => number): number[] {
  const all = range(from);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rand() * (from - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, count);
}

interface Reconnect {
  p50: number;
  p99: number;
  all: number;
  ackP50: number;
  ackP99: number;
  envelopes: number;
  envelopesPerSecond: number;
}

/**
 * reconnect: devices e0000.. (one per user), each holding 50 subscriptions (25 ONLINE_STATUS +
 * 25 USER_PROFILE) to targets t0000..t0999, are connected on `userEvents` and keep the cursor of
 * the last envelope they received. Per round: a live write load (profile changes of subscribed
 * targets while the devices are connected), then twice: every device closes its socket at once
 * (client side), and while they are away targets change their profiles over HTTP and some
 * targets come online (before one reconnect) or go offline again (before the other); then every
 * device reconnects at once, once with `after: <its cursor>` (resume) and once without it (fresh
 * full sync), alternating which goes first. Time from the reconnect command until each device has
 * UserEventsCaughtUp.
 */
export async function reconnectScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  const n = Math.min(SCALE.reconnectDevices, SEED.reconnectDevices);
  const profileChanges = Math.min(SCALE.reconnectProfileChanges, SEED.reconnectTargets);
  const presenceChanges = Math.min(SCALE.reconnectPresenceChanges, SEED.reconnectTargets);
  const liveChanges = Math.min(SCALE.reconnectLiveChanges, SEED.reconnectTargets);
  const watch = range(n).map(reconnectTargetsOf);
  /** target -> how many of the n devices watch it, per type */
  const profileWatchers = new Array<number>(SEED.reconnectTargets).fill(0);
  const onlineWatchers = new Array<number>(SEED.reconnectTargets).fill(0);
  for (const w of watch) {
    for (const t of w.profile) profileWatchers[t]!++;
    for (const t of w.online) onlineWatchers[t]!++;
  }
  const rand = random(7);
  let ours: ServerProc | undefined;
  const loads: LoadProc[] = [];
  const db = new pg.Client({ connectionString: DATABASE_URL });
  const notes: string[] = [];
  try {
    await db.connect();
    const [devices, targets] = await Promise.all([startLoad('bench/load/ws-clients.ts'), startLoad('bench/load/ws-clients.ts')]);
    loads.push(devices, targets);
    // targets going offline while the devices are away must be announced before the devices
    // come back (the expected replay counts them): no offline grace here
    ours = await startOurServer('server', serverEnv({ PRESENCE_OFFLINE_GRACE_MS: '0' }));
    const server = ours;
    const deviceTokens = await tokensFor(range(n).map(id.reconnectDevice));
    const targetTokens = await tokensFor(range(SEED.reconnectTargets).map(id.reconnectTarget));

    /** Waits until the server holds `count` presence connections of users whose id starts with `prefix`; returns the ms waited. */
    const presenceSettled = async (prefix: string, count: number, timeoutMs = 240_000) => {
      const t0 = now();
      for (;;) {
        const { rows } = await db.query('select count(*)::int as n from presence_connections where app_key = $1 and user_id like $2', [APP_KEY, `${prefix}%`]);
        if (rows[0].n === count) return now() - t0;
        if (now() - t0 > timeoutMs) throw new Error(`reconnect: ${rows[0].n} presence connections of ${prefix}* instead of ${count} after ${timeoutMs} ms`);
        await sleep(25);
      }
    };

    /** Profile changes of the given targets over HTTP, WRITERS at a time; returns the wall time (ms). */
    const changeProfiles = async (ids: number[], tag: string) => {
      let next = 0;
      const t0 = now();
      await Promise.all(
        range(Math.min(WRITERS, ids.length)).map(async () => {
          while (next < ids.length) {
            const t = ids[next++]!;
            const response = await post(server.url, writeBody(`Reconnect ${tag} ${t}`, `rc ${tag}`), targetTokens[t]!);
            if (response.json.errors) throw new Error(`reconnect: a profile change was answered with errors: ${response.text.slice(0, 300)}`);
          }
        }),
      );
      return now() - t0;
    };

    /** Every device connects at once, resuming from its cursor or fresh; checks what came before CaughtUp. */
    const reconnect = async (mode: 'resume' | 'fresh', expected: number[] | null): Promise<Reconnect> => {
      const r = await devices.call<{ caughtUpMs: number[]; ackMs: number[]; replayed: number[]; resumed: number; failed: number; errors: string[] }>(
        { cmd: 'devices', url: server.wsUrl, query: USER_EVENTS_SUBSCRIPTION, resume: mode === 'resume', timeoutMs: DEVICE_TIMEOUT_MS },
        DEVICE_TIMEOUT_MS + 60_000,
      );
      if (r.failed) throw new Error(`reconnect (${mode}): ${r.failed} of ${n} devices did not catch up: ${r.errors.join('; ')}`);
      if (r.resumed !== (mode === 'resume' ? n : 0)) throw new Error(`reconnect (${mode}): ${r.resumed} of ${n} CaughtUp said resumed: true`);
      const want = expected ?? watch.map((w) => w.online.length + w.profile.length);
      const wrong = range(n).filter((i) => r.replayed[i] !== want[i]);
      if (wrong.length) {
        const i = wrong[0]!;
        const note = `${mode}: ${wrong.length} of ${n} devices got another number of envelopes before CaughtUp than expected (${sum(r.replayed)} in all, ${sum(want)} expected; e.g. ${id.reconnectDevice(i)}: ${r.replayed[i]} instead of ${want[i]})`;
        log(`  !! ${note}`);
        notes.push(note);
      }
      const all = Math.max(...r.caughtUpMs);
      const envelopes = sum(r.replayed);
      return {
        p50: percentile(r.caughtUpMs, 50),
        p99: percentile(r.caughtUpMs, 99),
        all,
        ackP50: percentile(r.ackMs, 50),
        ackP99: percentile(r.ackMs, 99),
        envelopes,
        envelopesPerSecond: envelopes / (all / 1000),
      };
    };

    /** All devices close their sockets at once; returns the ms until the server has taken them all offline. */
    const drop = async () => {
      const t0 = now();
      await devices.call({ cmd: 'dropDevices' });
      await presenceSettled('e', 0);
      return now() - t0;
    };

    /** While the devices are away: profileChanges targets change their profile, then presenceChanges targets go online or offline. */
    const gap = async (tag: string, presence: { ids: number[]; online: boolean }) => {
      const changed = pickDistinct(profileChanges, SEED.reconnectTargets, rand);
      const ms = await changeProfiles(changed, tag);
      if (presence.online) {
        const c = await targets.call({ cmd: 'connect', url: server.wsUrl, tokens: presence.ids.map((t) => targetTokens[t]!), concurrency: 50, platform: 'ANDROID' });
        if (c.failed) throw new Error(`reconnect: ${c.failed} targets could not connect: ${c.errors.join('; ')}`);
        await presenceSettled('t', presence.ids.length);
      } else {
        await targets.call({ cmd: 'close' });
        await presenceSettled('t', 0);
      }
      const changedSet = new Set(changed);
      const presenceSet = new Set(presence.ids);
      const expected = watch.map((w) => w.profile.filter((t) => changedSet.has(t)).length + w.online.filter((t) => presenceSet.has(t)).length);
      return { expected, commitsPerSecond: changed.length / (ms / 1000) };
    };

    /** Profile changes while every device is connected: commits/s, and live envelopes delivered per second. */
    const liveLoad = async (tag: string) => {
      await devices.call({ cmd: 'resetLive' });
      const changed = pickDistinct(liveChanges, SEED.reconnectTargets, rand);
      const deliveries = sum(changed.map((t) => profileWatchers[t]!));
      const t0 = now();
      const ms = await changeProfiles(changed, tag);
      const live = await devices.call<{ received: number; complete: boolean; lastAt: number }>({ cmd: 'awaitLive', total: deliveries, timeoutMs: 60_000 }, 90_000);
      if (!live.complete) {
        const note = `live ${tag}: ${live.received} of ${deliveries} live envelopes arrived within 60 s`;
        log(`  !! ${note}`);
        notes.push(note);
      }
      await sleep(200);
      const after = await devices.call<{ received: number }>({ cmd: 'awaitLive', total: 0 });
      if (after.received > deliveries) notes.push(`live ${tag}: ${after.received} live envelopes for ${deliveries} deliveries (duplicates)`);
      return { commitsPerSecond: changed.length / (ms / 1000), deliveriesPerSecond: live.received / ((live.lastAt - t0) / 1000), deliveries };
    };

    log(`  reconnect: ${n} devices connect (fresh, all at once)`);
    const first = await devices.call<{ failed: number; errors: string[]; caughtUpMs: number[] }>(
      { cmd: 'devices', url: server.wsUrl, tokens: deviceTokens, query: USER_EVENTS_SUBSCRIPTION, resume: false, timeoutMs: DEVICE_TIMEOUT_MS },
      DEVICE_TIMEOUT_MS + 60_000,
    );
    if (first.failed) throw new Error(`reconnect: ${first.failed} of ${n} devices did not connect: ${first.errors.join('; ')}`);
    log(`  reconnect: ${n} devices caught up in ${Math.max(...first.caughtUpMs).toFixed(0)} ms`);

    const oneRound = async (r: number, tag: string) => {
      const live = await liveLoad(`${tag}-live`);
      const presence = pickDistinct(presenceChanges, SEED.reconnectTargets, rand);
      const order: ('resume' | 'fresh')[] = r % 2 === 0 ? ['resume', 'fresh'] : ['fresh', 'resume'];
      const out: Partial<Record<'resume' | 'fresh', Reconnect>> = {};
      const dropMs: number[] = [];
      const gapCommits: number[] = [];
      for (const [j, mode] of order.entries()) {
        dropMs.push(await drop());
        const g = await gap(`${tag}-${mode}`, { ids: presence, online: j === 0 });
        gapCommits.push(g.commitsPerSecond);
        out[mode] = await reconnect(mode, mode === 'resume' ? g.expected : null);
      }
      return { live, resume: out.resume!, fresh: out.fresh!, dropMs: Math.max(...dropMs), gapCommitsPerSecond: Math.min(...gapCommits) };
    };

    if (!QUICK) {
      log('  reconnect: warm-up round');
      await oneRound(0, 'warm');
    }
    const rounds: Awaited<ReturnType<typeof oneRound>>[] = [];
    await profiled('reconnect', [server], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const x = await oneRound(r, `r${r}`);
        rounds.push(x);
        const f = (v: number) => v.toFixed(0);
        log(
          `  reconnect round ${r + 1}/${ROUNDS}: resume p50 ${f(x.resume.p50)} p99 ${f(x.resume.p99)} all ${f(x.resume.all)} ms (${x.resume.envelopes} envelopes, ${f(x.resume.envelopesPerSecond)}/s; ack p50 ${f(x.resume.ackP50)}) | fresh p50 ${f(x.fresh.p50)} p99 ${f(x.fresh.p99)} all ${f(x.fresh.all)} ms (${x.fresh.envelopes} envelopes, ${f(x.fresh.envelopesPerSecond)}/s; ack p50 ${f(x.fresh.ackP50)}) | live ${f(x.live.commitsPerSecond)} commits/s, ${f(x.live.deliveriesPerSecond)} deliveries/s | offline writes ${f(x.gapCommitsPerSecond)} commits/s | drop settled in ${f(x.dropMs)} ms`,
        );
      }
    });
    const s = (pick: (x: (typeof rounds)[number]) => number) => spread(rounds.map(pick));
    const resumeP99 = s((x) => x.resume.p99);
    const freshP99 = s((x) => x.fresh.p99);
    const perDeviceResume = rounds[0]!.resume.envelopes / n;
    return {
      name: 'reconnect',
      description:
        `${n} devices (one per user e*, each with ${SEED.reconnectSubscriptions} subscriptions: ${SEED.reconnectSubscriptions / 2} ONLINE_STATUS + ${SEED.reconnectSubscriptions / 2} USER_PROFILE to t*) on userEvents drop at once (client side) and reconnect at once, ` +
        `with after: <last cursor> (resume) and without (fresh: ${SEED.reconnectSubscriptions} statuses + CaughtUp); before each reconnect, while away, ${profileChanges} targets change their profile (HTTP, ${WRITERS} concurrent) and ${presenceChanges} targets go online (or offline again); ` +
        `per round also ${liveChanges} profile changes while connected; time = reconnect start -> UserEventsCaughtUp per device`,
      target: 'resume (after: cursor) catches up faster than a fresh full sync: resume p99 < fresh p99',
      met: QUICK ? null : resumeP99.median < freshP99.median,
      figures: {
        resumeP50: { label: 'resume: reconnect -> CaughtUp p50 (ms)', server: s((x) => x.resume.p50) },
        resumeP99: { label: 'resume: reconnect -> CaughtUp p99 (ms)', server: resumeP99 },
        resumeAll: { label: 'resume: reconnect -> all devices CaughtUp (ms)', server: s((x) => x.resume.all) },
        freshP50: { label: 'fresh: reconnect -> CaughtUp p50 (ms)', server: s((x) => x.fresh.p50) },
        freshP99: { label: 'fresh: reconnect -> CaughtUp p99 (ms)', server: freshP99 },
        freshAll: { label: 'fresh: reconnect -> all devices CaughtUp (ms)', server: s((x) => x.fresh.all) },
        resumeAckP50: { label: 'resume: reconnect -> connection_ack p50 (ms)', server: s((x) => x.resume.ackP50) },
        freshAckP50: { label: 'fresh: reconnect -> connection_ack p50 (ms)', server: s((x) => x.fresh.ackP50) },
        replayPerSecond: { label: 'resume: replayed envelopes / time until all CaughtUp (/s)', server: s((x) => x.resume.envelopesPerSecond) },
        snapshotPerSecond: { label: 'fresh: snapshot envelopes / time until all CaughtUp (/s)', server: s((x) => x.fresh.envelopesPerSecond) },
        liveDeliveriesPerSecond: { label: 'live: envelopes delivered / (first change sent -> last delivery) (/s)', server: s((x) => x.live.deliveriesPerSecond) },
        liveCommitsPerSecond: { label: `live: profile changes committed/s (${WRITERS} HTTP writers, devices online)`, server: s((x) => x.live.commitsPerSecond) },
        offlineCommitsPerSecond: { label: `away: profile changes committed/s (${WRITERS} HTTP writers, devices offline)`, server: s((x) => x.gapCommitsPerSecond) },
        dropSettle: { label: `drop: client close -> server has all ${n} offline (ms)`, server: s((x) => x.dropMs) },
      },
      notes: [
        `resume replays, per device, the coalesced status of each of its targets that changed while away: ${rounds[0]!.resume.envelopes} envelopes over ${n} devices in the first round (${perDeviceResume.toFixed(1)} each) + CaughtUp; fresh sends ${SEED.reconnectSubscriptions} statuses + CaughtUp to each`,
        `live round: ${rounds[0]!.live.deliveries} deliveries expected from ${liveChanges} changes`,
        'the devices reconnect all at once from one load process; every connect also records presence (one transaction) and every drop takes it away (one transaction each), which the scenario waits for before the writes of the gap',
        ...notes,
      ],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await killServers([ours]);
    await db.end().catch(() => {});
  }
}
