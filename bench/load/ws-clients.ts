/**
 * Load process for sockets: a graphql-ws (graphql-transport-ws) client population, driven by the
 * harness over IPC. Raw `ws` with the protocol's messages, so that the clients cost as little CPU
 * as possible on a machine they share with the server. Records when each pushed event arrives.
 *
 * Commands (IPC, each answered with { reply: id, ... }):
 *   connect { url, tokens, query?, syncFinished, concurrency, platform }  open sockets (+ subscribe, wait for the sync)
 *   track   { version, count, timeoutMs }   wait until `count` events carrying profile version `version` arrived
 *   stats   {}                               events received so far
 *   reset   {}                               forget recorded arrivals
 *   sync    { url, token, query, syncFinished, repeat }  connect+subscribe `repeat` times; time to the last SyncFinished
 *   close   {}                               close every socket
 */
import WebSocket from 'ws';
import { now } from '../lib/stats.ts';

const PROTOCOL = 'graphql-transport-ws';
const sockets = new Set<WebSocket>();
/** profile version -> arrival times (absolute ms) of events carrying it */
const arrivals = new Map<number, number[]>();
let received = 0;
let waiters: (() => void)[] = [];

function notify() {
  const current = waiters;
  waiters = [];
  for (const w of current) w();
}

function versionOf(frame: string): number | undefined {
  const at = frame.lastIndexOf('"version":');
  if (at < 0) return undefined;
  return parseInt(frame.slice(at + 10, at + 22), 10);
}

/** Opens one socket, authenticates, optionally subscribes and waits for `syncFinished` SyncFinished. */
function open(url: string, token: string, platform: string, query: string | undefined, syncFinished: number, keep: boolean): Promise<{ socket: WebSocket; ms: number; syncItems: number }> {
  const started = now();
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, PROTOCOL, { perMessageDeflate: false });
    let finished = 0;
    let syncItems = 0;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      socket.terminate();
      reject(error);
    };
    const done = () => {
      if (settled) return;
      settled = true;
      resolve({ socket, ms: now() - started, syncItems });
    };
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authToken: token, platform, deviceId: `bench-${platform}` } })));
    socket.on('error', (e) => fail(e));
    socket.on('close', (code, reason) => {
      sockets.delete(socket);
      fail(new Error(`closed ${code} ${reason}`));
    });
    socket.on('message', (data) => {
      const frame = data.toString();
      if (!settled) {
        if (frame.startsWith('{"type":"connection_ack"')) {
          if (keep) sockets.add(socket);
          if (!query) return done();
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
          return;
        }
        if (frame.includes('"SubscribedUserStatusSyncFinished"')) {
          if (++finished >= syncFinished) done();
          return;
        }
        if (frame.includes('"type":"error"')) return fail(new Error(`subscription error: ${frame.slice(0, 300)}`));
        if (frame.includes('"type":"next"')) syncItems++;
        return;
      }
      if (frame.includes('"type":"ping"')) return socket.send('{"type":"pong"}');
      received++;
      const version = versionOf(frame);
      if (version !== undefined) {
        let list = arrivals.get(version);
        if (!list) arrivals.set(version, (list = []));
        list.push(now());
      }
      if (waiters.length) notify();
    });
  });
}

async function connectAll(url: string, tokens: string[], query: string | undefined, syncFinished: number, concurrency: number, platform: string) {
  const started = now();
  let next = 0;
  let failed = 0;
  const errors: string[] = [];
  const workers = Array.from({ length: Math.min(concurrency, tokens.length) }, async () => {
    while (next < tokens.length) {
      const token = tokens[next++]!;
      try {
        await open(url, token, platform, query, syncFinished, true);
      } catch (error) {
        failed++;
        if (errors.length < 5) errors.push(String(error));
      }
    }
  });
  await Promise.all(workers);
  return { opened: tokens.length - failed, failed, errors, ms: now() - started };
}

async function track(version: number, count: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = arrivals.get(version) ?? [];
    if (list.length >= count) return { times: list.slice(), complete: true };
    const left = deadline - Date.now();
    if (left <= 0) return { times: list.slice(), complete: false };
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(left, 1000));
      waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

async function syncRuns(url: string, token: string, query: string, syncFinished: number, repeat: number) {
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < repeat; i++) {
    const { socket, ms, syncItems } = await open(url, token, 'WEB', query, syncFinished, false);
    times.push(ms);
    items = syncItems;
    await new Promise<void>((resolve) => {
      socket.removeAllListeners('close');
      socket.once('close', () => resolve());
      socket.close(1000);
    });
  }
  return { times, items };
}

async function closeAll() {
  const all = [...sockets];
  sockets.clear();
  await Promise.all(
    all.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.removeAllListeners('close');
          s.once('close', () => resolve());
          s.on('error', () => {});
          s.close(1000);
          setTimeout(() => {
            s.terminate();
            resolve();
          }, 5000).unref();
        }),
    ),
  );
}

process.on('message', (raw: any) => {
  const reply = (body: object) => process.send!({ reply: raw.id, ...body });
  void (async () => {
    try {
      switch (raw.cmd) {
        case 'connect':
          return reply(await connectAll(raw.url, raw.tokens, raw.query, raw.syncFinished ?? 1, raw.concurrency ?? 50, raw.platform ?? 'WEB'));
        case 'track':
          return reply(await track(raw.version, raw.count, raw.timeoutMs ?? 30_000));
        case 'stats':
          return reply({ received, sockets: sockets.size });
        case 'reset':
          arrivals.clear();
          received = 0;
          return reply({ ok: true });
        case 'sync':
          return reply(await syncRuns(raw.url, raw.token, raw.query, raw.syncFinished, raw.repeat));
        case 'close':
          await closeAll();
          return reply({ ok: true });
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
