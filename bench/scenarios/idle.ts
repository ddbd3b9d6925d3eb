import { QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { floorEnv, killServers, log, profiled, serverEnv, startLoad, tokensFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { startFloor, startOurServer, type ServerProc } from '../lib/proc.ts';
import { sleep, spread } from '../lib/stats.ts';
import { id, SEED } from '../seed.ts';

/**
 * idle connections: 10 000 authenticated graphql-ws connections (one per user, connection_init
 * with a user token, acknowledged), no operation. Memory of the server process after a full GC,
 * before and after, divided by the connections; and the connect rate. The floor is plain `ws`
 * doing the same handshake (JWT verify + revocation lookup, then connection_ack). A fresh
 * process per round.
 */
export async function idleScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  const n = Math.min(SCALE.idleConnections, SEED.idle);
  const tokens = await tokensFor(Array.from({ length: n }, (_, i) => id.idle(i)));
  const warmTokens = tokens.slice(0, 50);
  const measure = async (who: 'server' | 'floor') => {
    let proc: ServerProc | undefined;
    let clients: LoadProc | undefined;
    try {
      clients = await startLoad('bench/load/ws-clients.ts');
      proc = who === 'server' ? await startOurServer('server', serverEnv()) : await startFloor('floor', 'bench/floors/server.ts', floorEnv());
      // warm the code paths first, so that compiled code and pools are not counted per connection
      await clients.call({ cmd: 'connect', url: proc.wsUrl, tokens: warmTokens, concurrency: 10 });
      await clients.call({ cmd: 'close' });
      await sleep(500);
      const before = await proc.memory();
      const c = await profiled(`idle`, [proc], () => clients!.call({ cmd: 'connect', url: proc!.wsUrl, tokens, concurrency: 100 }, 600_000));
      if (c.failed) throw new Error(`idle: ${c.failed} connections to ${who} failed: ${c.errors.join('; ')}`);
      await sleep(1000);
      const after = await proc.memory();
      const result = {
        rssPerConnection: (after.rss - before.rss) / n,
        heapPerConnection: (after.heapUsed - before.heapUsed) / n,
        externalPerConnection: (after.external - before.external) / n,
        connectsPerSecond: n / (c.ms / 1000),
        rssAfterMb: after.rss / 2 ** 20,
      };
      log(
        `  idle ${who}: ${n} connections in ${(c.ms / 1000).toFixed(1)} s (${result.connectsPerSecond.toFixed(0)}/s); per connection ${(result.rssPerConnection / 1024).toFixed(1)} KiB RSS, ${(result.heapPerConnection / 1024).toFixed(1)} KiB heap`,
      );
      return result;
    } finally {
      await killServers([proc]);
      await clients?.stop();
    }
  };
  const rounds: { ours: Awaited<ReturnType<typeof measure>>; floor: Awaited<ReturnType<typeof measure>> }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    log(`  idle round ${r + 1}/${ROUNDS}`);
    rounds.push({ ours: await measure('server'), floor: await measure('floor') });
  }
  const kib = (x: number) => x / 1024;
  const ratio = spread(rounds.map((r) => r.ours.rssPerConnection / r.floor.rssPerConnection));
  return {
    name: 'idle',
    description: `${n} authenticated graphql-ws connections (one per user), no operation; memory after a full GC; fresh process per round`,
    target: 'memory per connection <= 2 x plain ws',
    met: QUICK ? null : ratio.median <= 2,
    figures: {
      rss: { label: 'RSS per connection (KiB)', server: spread(rounds.map((r) => kib(r.ours.rssPerConnection))), floor: spread(rounds.map((r) => kib(r.floor.rssPerConnection))), ratio },
      heap: {
        label: 'JS heap per connection (KiB)',
        server: spread(rounds.map((r) => kib(r.ours.heapPerConnection))),
        floor: spread(rounds.map((r) => kib(r.floor.heapPerConnection))),
        ratio: spread(rounds.map((r) => r.ours.heapPerConnection / r.floor.heapPerConnection)),
      },
      connectRate: {
        label: 'connects/s',
        server: spread(rounds.map((r) => r.ours.connectsPerSecond)),
        floor: spread(rounds.map((r) => r.floor.connectsPerSecond)),
        ratio: spread(rounds.map((r) => r.ours.connectsPerSecond / r.floor.connectsPerSecond)),
      },
    },
    notes: ['our connect also records presence (group-committed: one transaction per batch of connects that arrive together) and announces it; the floor only authenticates'],
    seconds: Math.round((Date.now() - started) / 1000),
  };
}
