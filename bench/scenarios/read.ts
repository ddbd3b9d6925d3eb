import { HTTP_SECONDS, QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { floorEnv, killServers, log, post, profiled, sameShape, serverEnv, startLoad, tokensFor, type ScenarioResult } from '../lib/harness.ts';
import { readBody } from '../lib/operations.ts';
import { startFloor, startOurServer, type ServerProc } from '../lib/proc.ts';
import { spread } from '../lib/stats.ts';
import { id, SEED } from '../seed.ts';

/**
 * read: userProfiles with 20 ids (mixed visibility, some friends of the viewer, ext entries),
 * 50 connections from autocannon, our server and the floor alternating round by round.
 */
export async function readScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  let ours: ServerProc | undefined;
  let floor: ServerProc | undefined;
  const load = await startLoad('bench/load/http.ts');
  try {
    [ours, floor] = await Promise.all([startOurServer('server', serverEnv()), startFloor('floor', 'bench/floors/server.ts', floorEnv())]);
    // each viewer asks for 20 readers around it: friends are within ±10, so about a third are friends
    const viewers = Array.from({ length: SEED.readers }, (_, i) => i);
    const tokens = await tokensFor(viewers.map(id.reader));
    const requests = viewers.map((v, i) => ({
      authorization: `Bearer ${tokens[i]}`,
      body: readBody(Array.from({ length: 20 }, (_, j) => id.reader((v + j * 3 - 28 + SEED.readers) % SEED.readers))),
    }));

    // fairness: the same request gets the same bytes from both
    for (const r of requests.slice(0, 40)) {
      const token = r.authorization.slice(7);
      const [a, b] = await Promise.all([post(ours.url, r.body, token), post(floor.url, r.body, token)]);
      if (a.json.errors) throw new Error(`read: our server answered with errors: ${a.text.slice(0, 500)}`);
      if (a.text !== b.text) throw new Error(`read: floor and server differ: ${sameShape(a.json, b.json, []) ?? 'bytes differ'}\n${a.text.slice(0, 300)}\n${b.text.slice(0, 300)}`);
    }
    const sample = JSON.parse(requests.length ? (await post(ours.url, requests[0]!.body, tokens[0]!)).text : '{}');
    const restricted = sample.data.userProfiles.filter((p: { restricted: boolean }) => p.restricted).length;
    log(`  read: responses identical on 40 requests; a response holds ${sample.data.userProfiles.length} profiles, ${restricted} restricted`);

    const job = (url: string, seconds: number) => load.call({ url, connections: SCALE.readConnections, seconds, requests }, 120_000);
    log('  read: warm-up');
    await job(ours.url, QUICK ? 1 : 3);
    await job(floor.url, QUICK ? 1 : 3);
    const rounds: { ours: any; floor: any }[] = [];
    const [server, floorProc] = [ours, floor];
    await profiled('read', [ours, floor], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const o = await job(server.url, HTTP_SECONDS);
        const f = await job(floorProc.url, HTTP_SECONDS);
        for (const [who, x] of [['server', o], ['floor', f]] as const) {
          if (x.non2xx || x.errors) {
            const proc = who === 'server' ? server : floorProc;
            throw new Error(`read: ${who} had ${x.non2xx} non-2xx and ${x.errors} errors (exit ${proc.child.exitCode ?? proc.child.signalCode ?? 'none'}):\n${proc.output().slice(-3000)}`);
          }
        }
        log(`  read round ${r + 1}/${ROUNDS}: server ${o.requestsPerSecond.toFixed(0)} req/s p99 ${o.latency.p99} ms | floor ${f.requestsPerSecond.toFixed(0)} req/s p99 ${f.latency.p99} ms`);
        rounds.push({ ours: o, floor: f });
      }
    });
    const rps = spread(rounds.map((r) => r.ours.requestsPerSecond));
    const ratio = spread(rounds.map((r) => r.ours.requestsPerSecond / r.floor.requestsPerSecond));
    return {
      name: 'read',
      description: `userProfiles with 20 ids (mixed visibility and friendships, ext entries), ${SCALE.readConnections} connections, ${HTTP_SECONDS} s per round`,
      target: 'requests/s >= 0.6 x floor',
      met: QUICK ? null : ratio.median >= 0.6,
      figures: {
        requestsPerSecond: { label: 'requests/s', server: rps, floor: spread(rounds.map((r) => r.floor.requestsPerSecond)), ratio },
        p50: { label: 'p50 latency (ms)', server: spread(rounds.map((r) => r.ours.latency.p50)), floor: spread(rounds.map((r) => r.floor.latency.p50)) },
        p99: { label: 'p99 latency (ms)', server: spread(rounds.map((r) => r.ours.latency.p99)), floor: spread(rounds.map((r) => r.floor.latency.p99)) },
      },
      notes: [`${restricted} of ${sample.data.userProfiles.length} profiles in a typical response are restricted for the viewer`],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await load.stop();
    await killServers([ours, floor]);
  }
}
