import { HTTP_SECONDS, QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { floorEnv, killServers, log, post, profiled, sameShape, serverEnv, startLoad, tokenFor, tokensFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { captureFrames } from '../lib/live.ts';
import { PROFILE_STATUS_SUBSCRIPTION, writeBody } from '../lib/operations.ts';
import { startFloor, startOurServer, type ServerProc } from '../lib/proc.ts';
import { sleep, spread } from '../lib/stats.ts';
import { id, SEED } from '../seed.ts';

/** Values that differ between two writes of the same input (the row moves on). */
const MASKED = ['version', 'updatedAt', 'changeTime', 'id'];

/**
 * write: updateMyUserProfile by 1000 users, each with 10 USER_PROFILE subscribers online
 * (1000 subscriber sockets, each subscribed to 10 writers). The floor does the same update and
 * publishes the same frames over plain ws.
 */
export async function writeScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  let ours: ServerProc | undefined;
  let floor: ServerProc | undefined;
  const loads: LoadProc[] = [];
  try {
    const [http, oursClients, floorClients] = await Promise.all([startLoad('bench/load/http.ts'), startLoad('bench/load/ws-clients.ts'), startLoad('bench/load/ws-clients.ts')]);
    loads.push(http, oursClients, floorClients);
    [ours, floor] = await Promise.all([startOurServer('server', serverEnv()), startFloor('floor', 'bench/floors/server.ts', floorEnv())]);

    // subscribers: s_k watches writers 10k..10k+9, so with the first N subscribers online the
    // writers they watch are the ones that write (each with 10 online subscribers at full scale)
    const subscriberCount = SCALE.writeSubscribers;
    const writerCount = Math.min(SEED.writers, subscriberCount);
    const subscriberTokens = await tokensFor(Array.from({ length: subscriberCount }, (_, k) => id.writeSubscriber(k)));
    const writerTokens = await tokensFor(Array.from({ length: writerCount }, (_, j) => id.writer(j)));
    const writes = SEED.writers === writerCount ? writerCount : writerCount; // every writer in turn
    const requests = Array.from({ length: writes * 2 }, (_, i) => {
      const j = i % writes;
      return { authorization: `Bearer ${writerTokens[j]}`, body: writeBody(`Writer ${j} #${i}`, `hobby ${i}`) };
    });
    const subscribersPerWrite = QUICK ? undefined : 10;

    // fairness: the same write gets the same response and pushes the same frame to a subscriber
    const writer0 = id.writer(0);
    const probeToken = await tokenFor(id.writeSubscriber(0));
    const body = writeBody('Writer 0 probe', 'probe');
    const frames: string[] = [];
    const responses: any[] = [];
    for (const target of [ours, floor]) {
      const [frame] = await captureFrames(target.wsUrl, probeToken, PROFILE_STATUS_SUBSCRIPTION, 1, async () => responses.push((await post(target.url, body, await tokenFor(writer0))).json));
      frames.push(frame!);
    }
    if (responses[0].errors) throw new Error(`write: our server answered with errors: ${JSON.stringify(responses[0])}`);
    const responseProblem = sameShape(responses[0], responses[1], MASKED);
    const frameProblem = sameShape(JSON.parse(frames[0]!), JSON.parse(frames[1]!), MASKED);
    if (responseProblem || frameProblem) throw new Error(`write: floor and server differ: ${responseProblem ?? frameProblem}\n${frames.join('\n')}`);
    log(`  write: same response and same pushed frame (${frames[0]!.length} bytes) from both`);

    log(`  write: connecting ${subscriberCount} subscribers to each`);
    for (const [who, clients, target] of [['server', oursClients, ours], ['floor', floorClients, floor]] as const) {
      const c = await clients.call({ cmd: 'connect', url: target.wsUrl, tokens: subscriberTokens, query: PROFILE_STATUS_SUBSCRIPTION, syncFinished: 1, concurrency: 50 });
      if (c.failed) throw new Error(`write: ${c.failed} subscribers could not connect to ${who}: ${c.errors.join('; ')}`);
      log(`  write: ${c.opened} subscribers online on ${who} in ${(c.ms / 1000).toFixed(1)} s`);
    }

    const job = (url: string, seconds: number) => http.call({ url, connections: SCALE.readConnections, seconds, requests }, 120_000);
    /** one load round; then the events it caused are counted once the fan-out drained */
    const round = async (who: 'server' | 'floor', seconds: number) => {
      const [target, clients] = who === 'server' ? [ours!, oursClients] : [floor!, floorClients];
      await clients.call({ cmd: 'reset' });
      const result = await job(target.url, seconds);
      if (result.non2xx || result.errors) throw new Error(`write: ${who} had ${result.non2xx} non-2xx and ${result.errors} errors:\n${target.output().slice(-2000)}`);
      let delivered = 0;
      for (let i = 0; i < 50; i++) {
        await sleep(200);
        const { received } = await clients.call({ cmd: 'stats' });
        if (received === delivered && i > 2) break;
        delivered = received;
      }
      return { ...result, delivered, expected: subscribersPerWrite ? result.total * subscribersPerWrite : undefined };
    };
    log('  write: warm-up');
    await round('server', QUICK ? 1 : 2);
    await round('floor', QUICK ? 1 : 2);
    const rounds: { ours: any; floor: any }[] = [];
    await profiled('write', [ours, floor], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const o = await round('server', HTTP_SECONDS);
        const f = await round('floor', HTTP_SECONDS);
        log(
          `  write round ${r + 1}/${ROUNDS}: server ${o.requestsPerSecond.toFixed(0)} req/s p99 ${o.latency.p99} ms, ${o.delivered}/${o.expected ?? '?'} events | floor ${f.requestsPerSecond.toFixed(0)} req/s p99 ${f.latency.p99} ms, ${f.delivered}/${f.expected ?? '?'} events`,
        );
        rounds.push({ ours: o, floor: f });
      }
    });
    const ratio = spread(rounds.map((r) => r.ours.requestsPerSecond / r.floor.requestsPerSecond));
    const lost = rounds.filter((r) => r.ours.expected !== undefined && r.ours.delivered < r.ours.expected);
    return {
      name: 'write',
      description: `updateMyUserProfile by ${writes} users, each with ${subscribersPerWrite ?? 'some'} USER_PROFILE subscribers online (${subscriberCount} sockets); ${SCALE.readConnections} connections, ${HTTP_SECONDS} s per round`,
      target: 'requests/s >= 0.5 x floor (floor = http + pg update + publish)',
      met: QUICK ? null : ratio.median >= 0.5,
      figures: {
        requestsPerSecond: { label: 'requests/s', server: spread(rounds.map((r) => r.ours.requestsPerSecond)), floor: spread(rounds.map((r) => r.floor.requestsPerSecond)), ratio },
        p50: { label: 'p50 latency (ms)', server: spread(rounds.map((r) => r.ours.latency.p50)), floor: spread(rounds.map((r) => r.floor.latency.p50)) },
        p99: { label: 'p99 latency (ms)', server: spread(rounds.map((r) => r.ours.latency.p99)), floor: spread(rounds.map((r) => r.floor.latency.p99)) },
        eventsPerSecond: {
          label: 'events delivered/s',
          server: spread(rounds.map((r) => r.ours.delivered / (r.ours.duration || HTTP_SECONDS))),
          floor: spread(rounds.map((r) => r.floor.delivered / (r.floor.duration || HTTP_SECONDS))),
        },
      },
      notes: [
        lost.length ? `server delivered fewer events than expected in ${lost.length} round(s)` : 'every write reached its 10 subscribers on both',
        'events counted after the fan-out drained; autocannon does not count the up to 50 requests in flight when a round ends, so up to 500 more events than 10 x requests arrive',
      ],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await killServers([ours, floor]);
  }
}
