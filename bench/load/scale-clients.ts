/**
 * Load process of the `scale` scenario: up to ~15 000 graphql-ws devices spread over several
 * server instances, all bound to one source address (`localAddress` of connect, e.g. 127.0.0.3):
 * each source address has its own ~28 000 ephemeral ports. Kept apart from ws-clients.ts: its
 * sockets each go to their own instance, it signs its own tokens (100 000 would be megabytes of
 * IPC), and its watchers keep the latest online state of every user they watch.
 *
 * Commands (IPC, each answered with { reply: id, ... }):
 *   connect  { appKey, urls, localAddress, devices: [userId, instance, platform, kind][], queries, concurrency, ackTimeoutMs }
 *            kind 'idle': connection_init only; 'profile' / 'online': then `queries[kind]`, waiting for its
 *            SyncFinished; 'warm': idle, closed again by `close`. Answers when every device is ready or failed
 *            (a connect shed with 1013 is retried as the SDK does).
 *   stats    {}                        progress: acked, ready (profile subscribers apart), failed, open sockets, closes per instance
 *   track    { version, count, timeoutMs }  wait until `count` profile deliveries carrying `version` arrived
 *   reset    {}                        forget recorded profile deliveries
 *   watched  {}                        the online state of every watched user: [userId, online, lastChangeAt, firstOfflineAt][]
 *   close    { kind }                  close the sockets of that kind (client side, code 1000)
 *   exit     {}
 */
import WebSocket from 'ws';
import { TokenService } from '../../src/auth/tokens.ts';
import { systemClock } from '../../src/clock.ts';
import { TOKEN_SECRET } from '../lib/config.ts';
import { now } from '../lib/stats.ts';
import { Arrivals, Signal, versionOf } from './arrivals.ts';

type Kind = 'idle' | 'profile' | 'online' | 'warm';
type DeviceSpec = [userId: string, instance: number, platform: string, kind: Kind];

const PROTOCOL = 'graphql-transport-ws';
let localAddress: string | undefined;
const tokens = new TokenService(TOKEN_SECRET, systemClock);

interface Device {
  userId: string;
  instance: number;
  kind: Kind;
  socket?: WebSocket;
  acked: boolean;
}

const devices: Device[] = [];
let acked = 0;
let ready = 0;
let readyProfile = 0;
let failed = 0;
let inFlight = 0;
let lastAckAt = 0;
/** connects the server shed (1013) and that were tried again */
let shed = 0;
const errors: string[] = [];
/** closes of acknowledged sockets, per instance (the killed instance's are expected, any other is a drop) */
const closedAfterAck: number[] = [];
/** watched user -> latest state, as its watchers see it */
const watched = new Map<string, { online: boolean; lastChangeAt: number; firstOfflineAt: number | null; everOnline: boolean }>();
const signal = new Signal();
/** profile version -> arrival times of the events carrying it */
const arrivals = new Arrivals(signal);


/** A watcher's ONLINE_STATUS frame (sync or live): the user's state is online when any platform is. */
function recordWatched(frame: string) {
  let change: { userId?: string; details?: { online: boolean }[] } | undefined;
  try {
    change = JSON.parse(frame).payload?.data?.subscribedUserStatusChange;
  } catch {
    return;
  }
  if (!change?.userId || !change.details) return;
  const online = change.details.some((d) => d.online);
  const t = now();
  const entry = watched.get(change.userId);
  if (!entry) {
    watched.set(change.userId, { online, lastChangeAt: t, firstOfflineAt: null, everOnline: online });
    return;
  }
  if (entry.online === online) return;
  entry.online = online;
  entry.lastChangeAt = t;
  if (online) entry.everOnline = true;
  else if (entry.everOnline && entry.firstOfflineAt === null) entry.firstOfflineAt = t;
}

function fail(message: string) {
  failed++;
  if (errors.length < 10) errors.push(message);
}

/**
 * Opens one device: resolves when it is ready (acked, and synced if it subscribes), or failed.
 * A connect the server sheds (1013 "retry after <N> ms") is tried again after the SDK's
 * shedDelay(N) (N to 2N ms), within the same `ackTimeoutMs`.
 */
function open(appKey: string, urls: string[], device: Device, platform: string, queries: Partial<Record<Kind, string>>, ackTimeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    void tokens.issue({ appKey, userId: device.userId, generation: 0 }, 2 * 86_400).then(({ token }) => {
      const url = urls[device.instance]!;
      const query = queries[device.kind];
      let settled = false;
      let socket: WebSocket | undefined;
      const settle = (error?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) {
          fail(`${device.userId} on instance ${device.instance}: ${error}`);
          socket?.terminate();
        } else {
          ready++;
          if (device.kind === 'profile') readyProfile++;
        }
        resolve();
      };
      const timer = setTimeout(() => settle(`not ready within ${ackTimeoutMs} ms (acked: ${device.acked})`), ackTimeoutMs);
      const attempt = () => {
        if (settled) return;
        const s = new WebSocket(url, PROTOCOL, { perMessageDeflate: false, localAddress });
        socket = s;
        device.socket = s;
        s.on('open', () => s.send(JSON.stringify({ type: 'connection_init', payload: { authToken: token, platform, deviceId: `scale-${device.userId}` } })));
        s.on('error', (e) => settle(String(e)));
        s.on('close', (code, reason) => {
          if (device.socket === s) device.socket = undefined;
          const hint = code === 1013 && !device.acked ? /retry after (\d+) ms/.exec(reason.toString()) : null;
          if (hint && !settled) {
            shed++;
            const ms = Number(hint[1]);
            return void setTimeout(attempt, ms + Math.floor(Math.random() * ms));
          }
          if (device.acked && settled) closedAfterAck[device.instance] = (closedAfterAck[device.instance] ?? 0) + 1;
          settle(`closed ${code} ${reason}`);
        });
        s.on('message', (data) => {
          const frame = data.toString();
          if (!device.acked) {
            if (!frame.startsWith('{"type":"connection_ack"')) return settle(`expected connection_ack, got ${frame.slice(0, 200)}`);
            device.acked = true;
            acked++;
            lastAckAt = now();
            if (!query) return settle();
            s.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
            return;
          }
          if (frame.includes('"type":"ping"')) return s.send('{"type":"pong"}');
          if (frame.includes('"type":"error"') || frame.includes('"errors":[')) return settle(`subscription error: ${frame.slice(0, 300)}`);
          if (device.kind === 'online') recordWatched(frame);
          if (!settled) {
            if (frame.includes('"SubscribedUserStatusSyncFinished"')) settle();
            return;
          }
          if (device.kind === 'profile') {
            const version = versionOf(frame);
            if (version === undefined) return;
            arrivals.record(version);
            signal.notify();
          }
        });
      };
      attempt();
    }, (error) => {
      fail(`${device.userId}: token: ${error}`);
      resolve();
    });
  });
}

async function connectAll(appKey: string, urls: string[], specs: DeviceSpec[], queries: Partial<Record<Kind, string>>, concurrency: number, ackTimeoutMs: number) {
  const started = now();
  const failedBefore = failed;
  const batch = specs.map(([userId, instance, , kind]) => ({ userId, instance, kind, acked: false }) as Device);
  devices.push(...batch);
  let next = 0;
  let lastReadyAt = started;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, batch.length) }, async () => {
      while (next < batch.length) {
        const i = next++;
        inFlight++;
        await open(appKey, urls, batch[i]!, specs[i]![2], queries, ackTimeoutMs);
        inFlight--;
        lastReadyAt = now();
      }
    }),
  );
  return { devices: batch.length, failed: failed - failedBefore, shed, errors: errors.slice(0, 5), startedAt: started, lastAckAt, lastReadyAt, ms: now() - started };
}


async function closeKind(kind: Kind) {
  const mine = devices.filter((d) => d.kind === kind && d.socket);
  await Promise.all(
    mine.map(
      (d) =>
        new Promise<void>((resolve) => {
          const s = d.socket!;
          d.socket = undefined;
          s.removeAllListeners('close');
          s.on('error', () => {});
          s.once('close', () => resolve());
          s.close(1000);
          setTimeout(() => {
            s.terminate();
            resolve();
          }, 5000).unref();
        }),
    ),
  );
  return { closed: mine.length };
}

// a harness that died (even SIGKILLed) leaves no client population behind
process.on('disconnect', () => process.exit(0));

process.on('message', (raw: any) => {
  const reply = (body: object) => process.send?.({ reply: raw.id, ...body });
  void (async () => {
    try {
      switch (raw.cmd) {
        case 'connect':
          localAddress = raw.localAddress || undefined;
          return reply(await connectAll(raw.appKey, raw.urls, raw.devices, raw.queries ?? {}, raw.concurrency ?? 32, raw.ackTimeoutMs ?? 180_000));
        case 'stats':
          return reply({
            acked,
            ready,
            readyProfile,
            failed,
            shed,
            inFlight,
            open: devices.reduce((n, d) => n + (d.socket?.readyState === WebSocket.OPEN ? 1 : 0), 0),
            closedAfterAck: [...closedAfterAck].map((n) => n ?? 0),
            rss: process.memoryUsage().rss,
          });
        case 'track':
          return reply(await arrivals.track(raw.version, raw.count, raw.timeoutMs ?? 60_000));
        case 'reset':
          arrivals.clear();
          return reply({ ok: true });
        case 'watched':
          return reply({ entries: [...watched].map(([userId, w]) => [userId, w.online, w.lastChangeAt, w.firstOfflineAt]) });
        case 'close':
          return reply(await closeKind(raw.kind));
        case 'exit':
          reply({ ok: true });
          return setTimeout(() => process.exit(0), 50);
      }
    } catch (error) {
      reply({ error: String(error instanceof Error ? error.stack : error) });
    }
  })();
});
process.send!({ ready: true });
