/**
 * Load process for the socket.io peer (bench/peers/socketio.ts): a socket.io-client population,
 * WebSocket transport only, driven by the harness over IPC with the commands of ws-clients.ts
 * that the fan-out scenario uses. Records when each pushed event arrives.
 *
 * Commands (IPC, each answered with { reply: id, ... }):
 *   connect { url, tokens, query, syncFinished, concurrency }  open sockets (token in the handshake auth),
 *           emit `subscribe` with `query` and wait for `syncFinished` SyncFinished
 *   track   { version, count, timeoutMs }   wait until `count` events carrying profile version `version` arrived
 *   stats   {}                               events received so far
 *   reset   {}                               forget recorded arrivals
 *   close   {}                               disconnect every socket
 */
import { io, type Socket } from 'socket.io-client';
import { now } from '../lib/stats.ts';
import { Arrivals, Signal, versionOf } from './arrivals.ts';

const sockets = new Set<Socket>();
let received = 0;
const signal = new Signal();
/** profile version -> arrival times of the events carrying it */
const arrivals = new Arrivals(signal);

/** Opens one socket, authenticated in the handshake, subscribes and waits for `syncFinished` SyncFinished. */
function open(url: string, token: string, query: string, syncFinished: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // forceNew: one connection per client, as many as the floor's sockets (no multiplexing over one)
    const socket = io(url, { transports: ['websocket'], auth: { token }, forceNew: true, reconnection: false, timeout: 60_000 });
    let finished = 0;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      socket.disconnect();
      reject(error);
    };
    socket.on('connect_error', (e) => fail(e));
    socket.on('disconnect', (reason) => {
      sockets.delete(socket);
      fail(new Error(`disconnected: ${reason}`));
    });
    socket.on('connect', () => socket.emit('subscribe', { query }));
    socket.on('next', (payload: any) => {
      const change = payload?.data?.subscribedUserStatusChange;
      if (!settled) {
        if (change?.__typename === 'SubscribedUserStatusSyncFinished' && ++finished >= syncFinished) {
          settled = true;
          sockets.add(socket);
          resolve();
        }
        return;
      }
      received++;
      const version = change?.userProfile?.version;
      if (typeof version === 'number') {
        arrivals.record(version);
      }
      signal.notify();
    });
  });
}

async function connectAll(url: string, tokens: string[], query: string, syncFinished: number, concurrency: number) {
  const started = now();
  let next = 0;
  let failed = 0;
  const errors: string[] = [];
  const workers = Array.from({ length: Math.min(concurrency, tokens.length) }, async () => {
    while (next < tokens.length) {
      const token = tokens[next++]!;
      try {
        await open(url, token, query, syncFinished);
      } catch (error) {
        failed++;
        if (errors.length < 5) errors.push(String(error));
      }
    }
  });
  await Promise.all(workers);
  return { opened: tokens.length - failed, failed, errors, ms: now() - started };
}


function closeAll() {
  const all = [...sockets];
  sockets.clear();
  for (const s of all) {
    s.removeAllListeners('disconnect');
    s.disconnect();
  }
}

process.on('message', (raw: any) => {
  const reply = (body: object) => process.send!({ reply: raw.id, ...body });
  void (async () => {
    try {
      switch (raw.cmd) {
        case 'connect':
          return reply(await connectAll(raw.url, raw.tokens, raw.query, raw.syncFinished ?? 1, raw.concurrency ?? 50));
        case 'track':
          return reply(await arrivals.track(raw.version, raw.count, raw.timeoutMs ?? 30_000));
        case 'stats':
          return reply({ received, sockets: sockets.size });
        case 'reset':
          arrivals.clear();
          received = 0;
          return reply({ ok: true });
        case 'close':
          closeAll();
          return reply({ ok: true });
        case 'exit':
          reply({ ok: true });
          return setTimeout(() => process.exit(0), 50);
        default:
          return reply({ error: `socketio-clients does not know ${raw.cmd}` });
      }
    } catch (error) {
      reply({ error: String(error instanceof Error ? error.stack : error) });
    }
  })();
});
process.send!({ ready: true });
