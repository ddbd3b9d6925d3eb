import { QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { killServers, log, profiled, serverEnv, startLoad, tokenFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { SYNC_SUBSCRIPTION } from '../lib/operations.ts';
import { startOurServer, type ServerProc } from '../lib/proc.ts';
import { percentile, spread } from '../lib/stats.ts';
import { SEED } from '../seed.ts';

/**
 * connect + sync: sync-user holds 1000 subscriptions (500 USER_PROFILE, 500 ONLINE_STATUS) and
 * 20 friends; it connects and runs subscribedUserStatusChange for every type (1040 items, 4
 * SyncFinished). Time from opening the socket to the last SyncFinished, 10 connects per round.
 * The target is absolute (no floor).
 */
export async function syncScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  let ours: ServerProc | undefined;
  let clients: LoadProc | undefined;
  try {
    clients = await startLoad('bench/load/ws-clients.ts');
    ours = await startOurServer('server', serverEnv());
    const token = await tokenFor(SEED.syncUser);
    const run = (repeat: number) => clients!.call({ cmd: 'sync', url: ours!.wsUrl, token, query: SYNC_SUBSCRIPTION, syncFinished: 4, repeat }, 300_000);
    log('  sync: warm-up');
    const warm = await run(QUICK ? 1 : 3);
    const rounds: { p50: number; p99: number; items: number }[] = [];
    await profiled('sync', [ours], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const { times, items } = await run(SCALE.syncConnects);
        rounds.push({ p50: percentile(times, 50), p99: percentile(times, 99), items });
        log(`  sync round ${r + 1}/${ROUNDS}: p50 ${rounds.at(-1)!.p50.toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms, ${items} items before the last SyncFinished`);
      }
    });
    const p50 = spread(rounds.map((r) => r.p50));
    return {
      name: 'sync',
      description: `a user holding 1000 subscriptions (500 USER_PROFILE + 500 ONLINE_STATUS) and 20 friends connects and runs subscribedUserStatusChange for all types; ${SCALE.syncConnects} connects per round`,
      target: 'time to the last SyncFinished p50 <= 200 ms',
      met: QUICK ? null : p50.median <= 200,
      figures: {
        p50: { label: 'connect -> last SyncFinished p50 (ms)', server: p50 },
        p99: { label: 'connect -> last SyncFinished p99 (ms)', server: spread(rounds.map((r) => r.p99)) },
      },
      notes: [`${warm.items} status items pushed before the last SyncFinished`],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await clients?.stop();
    await killServers([ours]);
  }
}
