import { QUICK, ROUNDS, SCALE } from '../lib/config.ts';
import { floorEnv, killServers, log, post, profiled, serverEnv, startLoad, tokenFor, tokensFor, type LoadProc, type ScenarioResult } from '../lib/harness.ts';
import { PROFILE_STATUS_SUBSCRIPTION, SET_FIELD_VISIBILITY, writeBody } from '../lib/operations.ts';
import { startFloor, startOurServer, startPeer, type ServerProc } from '../lib/proc.ts';
import { percentile, spread } from '../lib/stats.ts';
import { id, SEED } from '../seed.ts';

/**
 * fan-out: f-target, with 5000 online USER_PROFILE subscribers (every 10th a friend, so two cuts
 * of the profile), changes its profile 20 times, one after the other. For each change: time from
 * the mutation's response to the last of the 5000 deliveries. Three contestants, round by round:
 * our server, the floor (node:http + pg + ws) and the socket.io peer (bench/peers/socketio.ts:
 * the floor's write and lookups, pushed by socket.io to socket.io clients).
 *
 * A second variant of our server runs in the same rounds: the target with per-field visibility
 * overrides set (email FRIENDS_ONLY, birthday INVISIBLE, the ext key hobby EVERYONE; SPEC §10),
 * reported beside the plain run with their ratio (the target: within 10 % of it).
 */
export async function fanoutScenario(): Promise<ScenarioResult> {
  const started = Date.now();
  let ours: ServerProc | undefined;
  let floor: ServerProc | undefined;
  let peer: ServerProc | undefined;
  const loads: LoadProc[] = [];
  try {
    const [oursClients, floorClients, peerClients] = await Promise.all([
      startLoad('bench/load/ws-clients.ts'),
      startLoad('bench/load/ws-clients.ts'),
      startLoad('bench/load/socketio-clients.ts'),
    ]);
    loads.push(oursClients, floorClients, peerClients);
    [ours, floor, peer] = await Promise.all([
      startOurServer('server', serverEnv()),
      startFloor('floor', 'bench/floors/server.ts', floorEnv()),
      startPeer('socket.io', 'bench/peers/socketio.ts', floorEnv()),
    ]);
    const n = Math.min(SCALE.fanoutSubscribers, SEED.fanSubscribers);
    const tokens = await tokensFor(Array.from({ length: n }, (_, i) => id.fanSubscriber(i)));
    const targetToken = await tokenFor(SEED.fanTarget);
    const contestants = {
      server: { target: ours, clients: oursClients, url: ours.wsUrl },
      floor: { target: floor, clients: floorClients, url: floor.wsUrl },
      // socket.io-client wants the origin: it adds its own path (/socket.io/)
      'socket.io': { target: peer, clients: peerClients, url: new URL(peer.url).origin },
    };
    type Contestant = keyof typeof contestants;
    for (const [who, { clients, url }] of Object.entries(contestants)) {
      log(`  fanout: connecting ${n} subscribers to ${who}`);
      const c = await clients.call({ cmd: 'connect', url, tokens, query: PROFILE_STATUS_SUBSCRIPTION, syncFinished: 1, concurrency: 100 });
      if (c.failed) throw new Error(`fanout: ${c.failed} subscribers could not connect to ${who}: ${c.errors.join('; ')}`);
      log(`  fanout: ${c.opened} subscribers online on ${who} in ${(c.ms / 1000).toFixed(1)} s`);
    }

    /** `changes` profile changes one after the other, each waited for at all n subscribers */
    const round = async (who: Contestant, changes: number, tag: string) => {
      const { target, clients } = contestants[who];
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
    /** sets (or with NOT_SET removes) the target's overrides, then waits until that change reached every subscriber */
    const overrides = async (on: boolean) => {
      const visibility = (v: string) => (on ? v : 'NOT_SET');
      const settings = [
        { field: 'EMAIL', visibility: visibility('FRIENDS_ONLY') },
        { field: 'BIRTHDAY', visibility: visibility('INVISIBLE') },
        { extKey: 'hobby', visibility: visibility('EVERYONE') },
      ];
      const { url } = contestants.server.target;
      await oursClients.call({ cmd: 'reset' });
      const set = await post(url, JSON.stringify({ query: SET_FIELD_VISIBILITY, variables: { s: settings } }), targetToken);
      if (set.json.errors || set.json.data.updateMyFieldVisibility.length !== (on ? 3 : 0)) throw new Error(`fanout: setting the overrides failed: ${set.text}`);
      const mine = await post(url, JSON.stringify({ query: '{ myUserProfile { version } }' }), targetToken);
      const { complete } = await oursClients.call({ cmd: 'track', version: mine.json.data.myUserProfile.version, count: n, timeoutMs: 30_000 });
      if (!complete) throw new Error('fanout: the change of the overrides did not reach every subscriber within 30 s');
    };
    const line = (who: string, r: Awaited<ReturnType<typeof round>>) => `${who} p50 ${r.p50.toFixed(0)} ms p99 ${r.p99.toFixed(0)} ms ${r.deliveriesPerSecond.toFixed(0)} deliveries/s`;
    log('  fanout: warm-up');
    await round('server', 3, 'warm');
    await overrides(true);
    await round('server', 3, 'warm-fields');
    await overrides(false);
    await round('floor', 3, 'warm');
    await round('socket.io', 3, 'warm');
    const rounds: { ours: any; fields: any; floor: any; peer: any }[] = [];
    await profiled('fanout', [ours, floor, peer], async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const o = await round('server', SCALE.fanoutChanges, `s${r}`);
        await overrides(true);
        const v = await round('server', SCALE.fanoutChanges, `v${r}`);
        await overrides(false);
        const f = await round('floor', SCALE.fanoutChanges, `f${r}`);
        const p = await round('socket.io', SCALE.fanoutChanges, `p${r}`);
        log(`  fanout round ${r + 1}/${ROUNDS}: ${line('server', o)} | ${line('server + field overrides', v)} | ${line('floor', f)} | ${line('socket.io', p)}`);
        rounds.push({ ours: o, fields: v, floor: f, peer: p });
      }
    });
    const p99 = spread(rounds.map((r) => r.ours.p99));
    const ratio = spread(rounds.map((r) => r.ours.deliveriesPerSecond / r.floor.deliveriesPerSecond));
    const peerRatio = spread(rounds.map((r) => r.ours.deliveriesPerSecond / r.peer.deliveriesPerSecond));
    // the variant against the plain run of the same round
    const fieldsRatio = spread(rounds.map((r) => r.fields.deliveriesPerSecond / r.ours.deliveriesPerSecond));
    return {
      name: 'fanout',
      description: `one user with ${n} online USER_PROFILE subscribers changes its profile ${SCALE.fanoutChanges} times (each change waited for); latency = mutation response -> last delivery; peer: socket.io doing the floor's write and lookups`,
      target: 'p99 <= 250 ms and deliveries/s >= 0.6 x floor and >= socket.io; with per-field overrides deliveries/s >= 0.9 x without',
      met: QUICK ? null : p99.median <= 250 && ratio.median >= 0.6 && peerRatio.median >= 1 && fieldsRatio.median >= 0.9,
      figures: {
        p50: {
          label: 'response -> last delivery p50 (ms)',
          server: spread(rounds.map((r) => r.ours.p50)),
          floor: spread(rounds.map((r) => r.floor.p50)),
          peer: spread(rounds.map((r) => r.peer.p50)),
        },
        p99: { label: 'response -> last delivery p99 (ms)', server: p99, floor: spread(rounds.map((r) => r.floor.p99)), peer: spread(rounds.map((r) => r.peer.p99)) },
        deliveriesPerSecond: {
          label: 'deliveries/s',
          server: spread(rounds.map((r) => r.ours.deliveriesPerSecond)),
          floor: spread(rounds.map((r) => r.floor.deliveriesPerSecond)),
          ratio,
          peer: spread(rounds.map((r) => r.peer.deliveriesPerSecond)),
          peerRatio,
        },
        fieldOverridesDeliveriesPerSecond: {
          label: 'deliveries/s, target with per-field overrides (ratio: to the server without them, same rounds)',
          server: spread(rounds.map((r) => r.fields.deliveriesPerSecond)),
          ratio: fieldsRatio,
        },
        fieldOverridesP99: {
          label: 'response -> last delivery p99 (ms), target with per-field overrides (ratio: to the server without them)',
          server: spread(rounds.map((r) => r.fields.p99)),
          ratio: spread(rounds.map((r) => r.fields.p99 / r.ours.p99)),
        },
      },
      peer: 'socket.io',
      notes: [],
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await killServers([ours, floor, peer]);
  }
}
