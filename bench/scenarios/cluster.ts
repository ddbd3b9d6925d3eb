import { QUICK, REDIS_URL, ROUNDS, SCALE } from '../lib/config.ts';
import { killServers, log, post, profiled, serverEnv, startLoad, tokenFor, tokensFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { PROFILE_STATUS_SUBSCRIPTION, writeBody } from '../lib/operations.ts';
import { startOurServer, type ServerProc } from '../lib/proc.ts';
import { percentile, spread } from '../lib/stats.ts';
import { id, SEED } from '../seed.ts';

/**
 * cluster: instances A and B on one Redis, 200 USER_PROFILE subscribers of c-target on A, the
 * changes made on B; against a single instance (no Redis, in-process bus) with the same 200
 * subscribers and the changes made on it. Latency of every delivery from the mutation's response.
 */
export async function clusterScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  const servers: ServerProc[] = [];
  const loads: LoadProc[] = [];
  try {
    const [onA, onSingle] = await Promise.all([startLoad('bench/load/ws-clients.ts'), startLoad('bench/load/ws-clients.ts')]);
    loads.push(onA, onSingle);
    const [a, b, single] = await Promise.all([
      startOurServer('a', serverEnv({ REDIS_URL })),
      startOurServer('b', serverEnv({ REDIS_URL })),
      startOurServer('single', serverEnv()),
    ]);
    servers.push(a, b, single);
    const n = Math.min(SCALE.clusterSubscribers, SEED.clusterSubscribers);
    const tokens = await tokensFor(Array.from({ length: n }, (_, i) => id.clusterSubscriber(i)));
    const targetToken = await tokenFor(SEED.clusterTarget);
    for (const [clients, target] of [[onA, a], [onSingle, single]] as const) {
      const c = await clients.call({ cmd: 'connect', url: target.wsUrl, tokens, query: PROFILE_STATUS_SUBSCRIPTION, syncFinished: 1, concurrency: 50 });
      if (c.failed) throw new Error(`cluster: ${c.failed} subscribers could not connect to ${target.name}: ${c.errors.join('; ')}`);
    }
    log(`  cluster: ${n} subscribers on A and ${n} on the single instance`);

    /** changes written on `writer`, deliveries counted at `clients` */
    const round = async (writer: ServerProc, clients: LoadProc, changes: number, tag: string) => {
      await clients.call({ cmd: 'reset' });
      const latencies: number[] = [];
      for (let k = 0; k < changes; k++) {
        const response = await post(writer.url, writeBody(`Cluster ${tag} ${k}`, `c ${k}`), targetToken);
        if (response.json.errors) throw new Error(`cluster: ${writer.name} answered with errors: ${response.text}`);
        const version = response.json.data.updateMyUserProfile.version as number;
        const { times, complete } = await clients.call({ cmd: 'track', version, count: n, timeoutMs: 20_000 });
        if (!complete) throw new Error(`cluster: change ${k} written on ${writer.name} reached ${times.length} of ${n} subscribers within 20 s`);
        for (const t of times as number[]) latencies.push(t - response.at);
      }
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
    };
    log('  cluster: warm-up');
    await round(b, onA, 3, 'warm');
    await round(single, onSingle, 3, 'warm');
    const rounds: { cluster: any; single: any }[] = [];
    await profiled('cluster', [a, b], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const c = await round(b, onA, SCALE.clusterChanges, `c${r}`);
        const s = await round(single, onSingle, SCALE.clusterChanges, `s${r}`);
        log(`  cluster round ${r + 1}/${ROUNDS}: B -> A p50 ${c.p50.toFixed(1)} ms p99 ${c.p99.toFixed(1)} ms | single p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms`);
        rounds.push({ cluster: c, single: s });
      }
    });
    const extra = spread(rounds.map((r) => r.cluster.p99 - r.single.p99));
    return {
      name: 'cluster',
      description: `two instances + Redis, ${n} subscribers on A, ${SCALE.clusterChanges} changes per round made on B; single instance (in-process bus) as the reference; latency of each delivery from the mutation's response`,
      target: 'p99 <= single-instance p99 + 20 ms',
      met: QUICK ? null : extra.median <= 20,
      figures: {
        p50: { label: 'delivery latency p50 (ms): cluster vs single', server: spread(rounds.map((r) => r.cluster.p50)), floor: spread(rounds.map((r) => r.single.p50)) },
        p99: { label: 'delivery latency p99 (ms): cluster vs single', server: spread(rounds.map((r) => r.cluster.p99)), floor: spread(rounds.map((r) => r.single.p99)) },
        extraP99: { label: 'p99 cluster - p99 single (ms)', server: extra },
      },
      notes: ['"floor" columns of this scenario are the single instance'],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await killServers(servers);
  }
}
