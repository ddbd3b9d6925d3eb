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
 *
 * Devices on the resumable stream (reconnect scenario), kept apart from the sockets above:
 *   devices     { url, tokens?, query, resume, platform, timeoutMs }  open every device at once (tokens given:
 *               a new population, else the current one again), run `query` with `after` = the device's last
 *               cursor when `resume`; answers per device the time from the command to UserEventsCaughtUp
 *               and the envelopes before it
 *   dropDevices {}                           close every device socket at once (client side), keep the cursors
 *   awaitLive   { total, timeoutMs }         wait until `total` envelopes arrived after CaughtUp (since resetLive)
 *   resetLive   {}                           forget the live envelopes counted so far
 *   storm       { url, tokens?, query, resume, platform, timeoutMs }  like `devices`, but each device first waits
 *               the SDK's first-retry backoff and retries as the SDK would (a 1013 "retry after <N> ms" close: the
 *               hint plus jitter); answers per device the times from the command to the ack and to CaughtUp, and
 *               the shed closes and other failed attempts
 */
import WebSocket from 'ws';
import { reconnectDelay, retryAfterMs, shedDelay } from '../../src/client/index.ts';
import { now, sleep } from '../lib/stats.ts';
import { Arrivals, Signal, versionOf } from './arrivals.ts';

const PROTOCOL = 'graphql-transport-ws';
const sockets = new Set<WebSocket>();
let received = 0;
const signal = new Signal();
/** profile version -> arrival times of the events carrying it */
const arrivals = new Arrivals(signal);


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
        arrivals.record(version);
      }
      signal.notify();
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

interface Device {
  token: string;
  /** cursor of the last envelope received */
  cursor?: string;
  socket?: WebSocket;
}
let devices: Device[] = [];
let liveEnvelopes = 0;
let lastLiveAt = 0;

function cursorOf(frame: string): string | undefined {
  const at = frame.indexOf('"cursor":"');
  if (at < 0) return undefined;
  const end = frame.indexOf('"', at + 10);
  return end < 0 ? undefined : frame.slice(at + 10, end);
}

/**
 * Opens one device's socket and its userEvents operation; resolves at UserEventsCaughtUp with
 * the times (from `t0`) of the ack and of CaughtUp and the envelopes before CaughtUp. The socket
 * stays open and counts live envelopes afterwards, keeping the device's cursor current.
 */
function openDevice(url: string, device: Device, index: number, query: string, resume: boolean, platform: string, t0: number, timeoutMs: number) {
  return new Promise<{ ackMs: number; caughtUpMs: number; replayed: number; resumed: boolean }>((resolve, reject) => {
    const after = resume ? device.cursor : undefined;
    if (resume && !after) return reject(new Error(`device ${index} has no cursor to resume from`));
    const socket = new WebSocket(url, PROTOCOL, { perMessageDeflate: false });
    device.socket = socket;
    let ackMs = NaN;
    let replayed = 0;
    let caughtUp = false;
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`device ${index}: no UserEventsCaughtUp within ${timeoutMs} ms (${replayed} envelopes)`)), timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      socket.terminate();
      reject(error);
    };
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authToken: device.token, platform, deviceId: `bench-device-${index}` } })));
    socket.on('error', (e) => fail(e));
    socket.on('close', (code, reason) => {
      if (device.socket === socket) device.socket = undefined;
      fail(new Error(`device ${index}: closed ${code} ${reason}`));
    });
    socket.on('message', (data) => {
      const frame = data.toString();
      if (frame.startsWith('{"type":"connection_ack"')) {
        ackMs = now() - t0;
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: after ? { after } : {} } }));
        return;
      }
      if (frame.includes('"type":"ping"')) return socket.send('{"type":"pong"}');
      if (frame.includes('"type":"error"') || frame.includes('"errors":[')) return fail(new Error(`device ${index}: ${frame.slice(0, 300)}`));
      if (!frame.includes('"type":"next"')) return;
      const cursor = cursorOf(frame);
      if (cursor) device.cursor = cursor;
      if (caughtUp) {
        liveEnvelopes++;
        lastLiveAt = now();
        signal.notify();
        return;
      }
      if (frame.includes('"UserEventsCaughtUp"')) {
        caughtUp = true;
        clearTimeout(timer);
        settled = true;
        resolve({ ackMs, caughtUpMs: now() - t0, replayed, resumed: frame.includes('"resumed":true') });
        return;
      }
      replayed++;
    });
  });
}

async function openDevices(url: string, tokens: string[] | undefined, query: string, resume: boolean, platform: string, timeoutMs: number) {
  if (tokens) devices = tokens.map((token) => ({ token }));
  const t0 = now();
  const results = await Promise.allSettled(devices.map((d, i) => openDevice(url, d, i, query, resume, platform, t0, timeoutMs)));
  const errors: string[] = [];
  const caughtUpMs: number[] = [];
  const ackMs: number[] = [];
  const replayed: number[] = [];
  let resumed = 0;
  let failed = 0;
  for (const r of results) {
    if (r.status === 'rejected') {
      failed++;
      if (errors.length < 5) errors.push(String(r.reason));
      replayed.push(-1);
      continue;
    }
    caughtUpMs.push(r.value.caughtUpMs);
    ackMs.push(r.value.ackMs);
    replayed.push(r.value.replayed);
    if (r.value.resumed) resumed++;
  }
  return { caughtUpMs, ackMs, replayed, resumed, failed, errors, ms: now() - t0 };
}

/** How one attempt of a storm device ended. */
type StormAttempt =
  | { kind: 'caughtUp'; ackMs: number; caughtUpMs: number; replayed: number; resumed: boolean }
  | { kind: 'closed'; acked: boolean; code: number; reason: string; error?: string };

/**
 * One connection attempt of a storm device: open, connection_init, subscribe `query` (with
 * `after` = the device's cursor when `resume`), up to UserEventsCaughtUp. A close or socket error
 * on the way ends the attempt (the caller decides whether to retry). After CaughtUp the socket
 * stays open and keeps the device's cursor current, as openDevice's do.
 */
function stormAttempt(url: string, device: Device, index: number, query: string, resume: boolean, platform: string, t0: number): Promise<StormAttempt> {
  return new Promise((resolve, reject) => {
    const after = resume ? device.cursor : undefined;
    const socket = new WebSocket(url, PROTOCOL, { perMessageDeflate: false });
    device.socket = socket;
    let ackMs = NaN;
    let replayed = 0;
    let caughtUp = false;
    let error: string | undefined;
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authToken: device.token, platform, deviceId: `bench-storm-${index}` } })));
    // (a failed handshake or a reset is followed by 'close', which settles the attempt)
    socket.on('error', (e) => (error ??= String(e)));
    socket.on('close', (code, reason) => {
      if (device.socket === socket) device.socket = undefined;
      if (!caughtUp) resolve({ kind: 'closed', acked: !Number.isNaN(ackMs), code, reason: reason.toString(), error });
    });
    socket.on('message', (data) => {
      const frame = data.toString();
      if (frame.startsWith('{"type":"connection_ack"')) {
        ackMs = now() - t0;
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: after ? { after } : {} } }));
        return;
      }
      if (frame.includes('"type":"ping"')) return socket.send('{"type":"pong"}');
      if (frame.includes('"type":"error"') || frame.includes('"errors":[')) {
        socket.terminate();
        return reject(new Error(`device ${index}: ${frame.slice(0, 300)}`));
      }
      if (!frame.includes('"type":"next"')) return;
      const cursor = cursorOf(frame);
      if (cursor) device.cursor = cursor;
      if (caughtUp) {
        liveEnvelopes++;
        lastLiveAt = now();
        signal.notify();
        return;
      }
      if (frame.includes('"UserEventsCaughtUp"')) {
        caughtUp = true;
        resolve({ kind: 'caughtUp', ackMs, caughtUpMs: now() - t0, replayed, resumed: frame.includes('"resumed":true') });
        return;
      }
      replayed++;
    });
  });
}

/**
 * A device in a reconnect storm, doing what the SDK (graphql-ws under src/client) does after
 * its socket dropped: wait reconnectDelay(retries) (retries counts the attempts since the last
 * connection_ack), reconnect; after a 1013 close with `retry after <N> ms`, wait at least
 * shedDelay(N). Closes with a 4xxx code (refused credentials or parameters) end it, as in the SDK.
 */
async function stormDevice(url: string, device: Device, index: number, query: string, resume: boolean, platform: string, t0: number, deadline: number) {
  if (resume && !device.cursor) throw new Error(`device ${index} has no cursor to resume from`);
  let retries = 0;
  let hintMs: number | undefined;
  let attempts = 0;
  let shed = 0;
  let otherFailures = 0;
  for (;;) {
    await sleep(Math.max(reconnectDelay(retries), hintMs === undefined ? 0 : shedDelay(hintMs)));
    retries++;
    if (now() > deadline) throw new Error(`device ${index}: not caught up before the deadline (${attempts} attempts, ${shed} shed)`);
    attempts++;
    const outcome = await stormAttempt(url, device, index, query, resume, platform, t0);
    if (outcome.kind === 'caughtUp') return { ...outcome, attempts, shed, otherFailures };
    if (outcome.acked) retries = 0;
    if (outcome.code >= 4000 && outcome.code !== 4499) throw new Error(`device ${index}: closed ${outcome.code} ${outcome.reason}`);
    hintMs = retryAfterMs(outcome.code, outcome.reason);
    if (hintMs !== undefined) shed++;
    else {
      otherFailures++;
      if (stormErrors.length < 5) stormErrors.push(`device ${index}: ${outcome.error ?? `closed ${outcome.code} ${outcome.reason}`}`);
    }
  }
}
/** the first few failed attempts of the current storm that were not shed closes */
let stormErrors: string[] = [];

async function storm(url: string, tokens: string[] | undefined, query: string, resume: boolean, platform: string, timeoutMs: number) {
  if (tokens) devices = tokens.map((token) => ({ token }));
  stormErrors = [];
  const t0 = now();
  const deadline = t0 + timeoutMs;
  const pending = new Set(devices);
  // (a device stuck in one attempt past the deadline: its socket is ended, which ends the attempt)
  const stuck = setTimeout(() => {
    for (const d of pending) d.socket?.terminate();
  }, timeoutMs + 5000);
  const results = await Promise.allSettled(devices.map((d, i) => stormDevice(url, d, i, query, resume, platform, t0, deadline).finally(() => pending.delete(d))));
  clearTimeout(stuck);
  const errors: string[] = [];
  const caughtUpMs: number[] = [];
  const ackMs: number[] = [];
  let replayed = 0;
  let resumed = 0;
  let failed = 0;
  let attempts = 0;
  let shed = 0;
  let otherFailures = 0;
  let shedDevices = 0;
  for (const r of results) {
    if (r.status === 'rejected') {
      failed++;
      if (errors.length < 5) errors.push(String(r.reason));
      continue;
    }
    caughtUpMs.push(r.value.caughtUpMs);
    ackMs.push(r.value.ackMs);
    replayed += r.value.replayed;
    attempts += r.value.attempts;
    shed += r.value.shed;
    otherFailures += r.value.otherFailures;
    if (r.value.shed) shedDevices++;
    if (r.value.resumed) resumed++;
  }
  return { caughtUpMs, ackMs, replayed, resumed, failed, errors, attempts, shed, shedDevices, otherFailures, failureSamples: stormErrors, ms: now() - t0 };
}

async function dropDevices() {
  const open = devices.map((d) => d.socket).filter((s): s is WebSocket => s !== undefined);
  for (const d of devices) d.socket = undefined;
  await Promise.all(
    open.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.removeAllListeners('close');
          s.removeAllListeners('message');
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
  return { closed: open.length };
}

async function awaitLive(total: number, timeoutMs: number) {
  await signal.until(() => liveEnvelopes >= total, timeoutMs);
  return { received: liveEnvelopes, complete: liveEnvelopes >= total, lastAt: lastLiveAt };
}

process.on('message', (raw: any) => {
  const reply = (body: object) => process.send!({ reply: raw.id, ...body });
  void (async () => {
    try {
      switch (raw.cmd) {
        case 'connect':
          return reply(await connectAll(raw.url, raw.tokens, raw.query, raw.syncFinished ?? 1, raw.concurrency ?? 50, raw.platform ?? 'WEB'));
        case 'track':
          return reply(await arrivals.track(raw.version, raw.count, raw.timeoutMs ?? 30_000));
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
        case 'devices':
          return reply(await openDevices(raw.url, raw.tokens, raw.query, raw.resume === true, raw.platform ?? 'IOS', raw.timeoutMs ?? 120_000));
        case 'dropDevices':
          return reply(await dropDevices());
        case 'awaitLive':
          return reply(await awaitLive(raw.total, raw.timeoutMs ?? 30_000));
        case 'storm':
          return reply(await storm(raw.url, raw.tokens, raw.query, raw.resume === true, raw.platform ?? 'IOS', raw.timeoutMs ?? 120_000));
        case 'resetLive':
          liveEnvelopes = 0;
          lastLiveAt = 0;
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
