import { QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { floorEnv, killServers, log, post, profiled, serverEnv, startLoad, tokenFor, tokensFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { PROFILE_STATUS_SUBSCRIPTION, writeBody } from '../lib/operations.ts';
import { startFloor, startOurServer, type ServerProc } from '../lib/proc.ts';
import { percentile, spread } from '../lib/stats.ts';
import { id, SEED } from '../seed.ts';

/**
 * fan-out: f-target, with 5000 online USER_PROFILE subscribers (every 10th a friend, so two cuts
 * of the profile), changes its profile 20 times, one after the other. For each change: time from
 * the mutation's response to the last of the 5000 deliveries.
 */
export async function fanoutScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  let ours: ServerProc | undefined;
  let floor: ServerProc | undefined;
  const loads: LoadProc[] = [];
  try {
    const [oursClients, floorClients] = await Promise.all([startLoad('bench/load/ws-clients.ts'), startLoad('bench/load/ws-clients.ts')]);
    loads.push(oursClients, floorClients);
    [ours, floor] = await Promise.all([startOurServer('server', serverEnv()), startFloor('floor', 'bench/floors/server.ts', floorEnv())]);
    const n = Math.min(SCALE.fanoutSubscribers, SEED.fanSubscribers);
    const tokens = await tokensFor(Array.from({ length: n }, (_, i) => id.fanSubscriber(i)));
    const targetToken = await tokenFor(SEED.fanTarget);
    for (const [who, clients, target] of [['server', oursClients, ours], ['floor', floorClients, floor]] as const) {
      log(`  fanout: connecting ${n} subscribers to ${who}`);
      const c = await clients.call({ cmd: 'connect', url: target.wsUrl, tokens, query: PROFILE_STATUS_SUBSCRIPTION, syncFinished: 1, concurrency: 100 });
      if (c.failed) throw new Error(`fanout: ${c.failed} subscribers could not connect to ${who}: ${c.errors.join('; ')}`);
      log(`  fanout: ${c.opened} subscribers online on ${who} in ${(c.ms / 1000).toFixed(1)} s`);
    }

    /** `changes` profile changes one after the other, each waited for at all n subscribers */
    const round = async (who: 'server' | 'floor', changes: number, tag: string) => {
      const [target, clients] = who === 'server' ? [ours!, oursClients] : [floor!, floorClients];
      await clients.call({ cmd: 'reset' });
      const latencies: number[] = [];
      let firstSent = 0;
      let lastDelivery = 0;
      for (let k = 0; k < changes; k++) {
        const response = await post(target.url, writeBody(`Fan ${tag} ${k}`, `fan ${k}`), targetToken);
        if (response.json.errors) throw new Error(`fanout: ${who} answered with errors: ${response.text}`);
        firstSent ||= response.sentAt;
        const version = response.json.data.updateMyUserProfile.version as number;
        const { times, complete } = await clients.call({ cmd: 'track', version, count: n, timeoutMs: 30_000 });
        if (!complete) throw new Error(`fanout: ${who} delivered change ${k} to ${times.length} of ${n} subscribers within 30 s`);
        const last = Math.max(...(times as number[]));
        latencies.push(last - response.at);
        lastDelivery = last;
      }
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), deliveriesPerSecond: (n * changes) / ((lastDelivery - firstSent) / 1000) };
    };
    log('  fanout: warm-up');
    await round('server', 3, 'warm');
    await round('floor', 3, 'warm');
    const rounds: { ours: any; floor: any }[] = [];
    await profiled('fanout', [ours, floor], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const o = await round('server', SCALE.fanoutChanges, `s${r}`);
        const f = await round('floor', SCALE.fanoutChanges, `f${r}`);
        log(
          `  fanout round ${r + 1}/${ROUNDS}: server p50 ${o.p50.toFixed(0)} ms p99 ${o.p99.toFixed(0)} ms ${o.deliveriesPerSecond.toFixed(0)} deliveries/s | floor p50 ${f.p50.toFixed(0)} ms p99 ${f.p99.toFixed(0)} ms ${f.deliveriesPerSecond.toFixed(0)} deliveries/s`,
        );
        rounds.push({ ours: o, floor: f });
      }
    });
    const p99 = spread(rounds.map((r) => r.ours.p99));
    const ratio = spread(rounds.map((r) => r.ours.deliveriesPerSecond / r.floor.deliveriesPerSecond));
    return {
      name: 'fanout',
      description: `one user with ${n} online USER_PROFILE subscribers changes its profile ${SCALE.fanoutChanges} times (each change waited for); latency = mutation response -> last delivery`,
      target: 'p99 <= 250 ms and deliveries/s >= 0.5 x floor',
      met: QUICK ? null : p99.median <= 250 && ratio.median >= 0.5,
      figures: {
        p50: { label: 'response -> last delivery p50 (ms)', server: spread(rounds.map((r) => r.ours.p50)), floor: spread(rounds.map((r) => r.floor.p50)) },
        p99: { label: 'response -> last delivery p99 (ms)', server: p99, floor: spread(rounds.map((r) => r.floor.p99)) },
        deliveriesPerSecond: { label: 'deliveries/s', server: spread(rounds.map((r) => r.ours.deliveriesPerSecond)), floor: spread(rounds.map((r) => r.floor.deliveriesPerSecond)), ratio },
      },
      notes: [],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await killServers([ours, floor]);
  }
}
