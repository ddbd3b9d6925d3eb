import WebSocket from 'ws';
import { createProfileClient, Events, type EventName, type EventPayloads, type ProfileClient, type ProfileClientOptions } from '../../src/client/index.ts';
import type { TestApp, TestServer } from './server.ts';

export interface RecordedClient {
  client: ProfileClient;
  token: string;
  /** every event received, in order */
  log: { event: EventName; payload: unknown }[];
  of<E extends EventName>(event: E): EventPayloads[E][];
  /** waits until `count` events of that name arrived */
  waitFor<E extends EventName>(event: E, count?: number, timeoutMs?: number): Promise<EventPayloads[E][]>;
  /**
   * Waits for an event of that name, received from index `since` on, that `match` accepts, and
   * returns it. Presence can be changed by other test files sharing a PostgreSQL database (their
   * real-clock servers reap the connections of manual-clock ones), so presence assertions look
   * for the event they expect rather than count positions.
   */
  waitForMatch<E extends EventName>(event: E, match: (payload: EventPayloads[E]) => boolean, since?: number, timeoutMs?: number): Promise<EventPayloads[E]>;
  /** asserts no new event of that name within ms */
  quiet(event: EventName, ms?: number): Promise<void>;
}

/** Reconnect quickly in tests (production default: reconnectDelay, random up to 0.5 s doubling to 30 s). */
const fastRetry = async (retries: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** retries)));

/** An SDK client for `userId` of `app` (token issued by the app's backend), recording every event. */
export async function sdkClient(
  server: TestServer,
  app: TestApp,
  userId: string,
  options: Partial<ProfileClientOptions> = {},
): Promise<RecordedClient> {
  const { token } = await app.user(userId);
  const client = createProfileClient({
    url: server.url,
    token,
    platform: 'WEB',
    webSocketImpl: WebSocket,
    retryWait: fastRetry,
    ...options,
  });
  return record(client, token);
}

export function record(client: ProfileClient, token = ''): RecordedClient {
  const log: { event: EventName; payload: unknown }[] = [];
  let wake: (() => void)[] = [];
  for (const event of Object.values(Events)) {
    client.addEventListener(event, (payload: unknown) => {
      log.push({ event, payload });
      const waiting = wake;
      wake = [];
      for (const w of waiting) w();
    });
  }
  const of = <E extends EventName>(event: E) => log.filter((e) => e.event === event).map((e) => e.payload as EventPayloads[E]);
  return {
    client,
    token,
    log,
    of,
    async waitFor(event, count = 1, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      while (of(event).length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${count} ${event}; got ${of(event).length}: ${JSON.stringify(log)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 100));
          wake.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return of(event);
    },
    async waitForMatch(event, match, since = 0, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = of(event).slice(since).find(match);
        if (found !== undefined) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for a matching ${event}; got ${JSON.stringify(of(event).slice(since))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 100));
          wake.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async quiet(event, ms = 300) {
      const before = of(event).length;
      await new Promise((resolve) => setTimeout(resolve, ms));
      const after = of(event);
      if (after.length !== before) throw new Error(`expected no more ${event}, got ${JSON.stringify(after.slice(before))}`);
    },
  };
}

/**
 * A retryWait that keeps a client disconnected while `hold()` is in effect: after a drop the
 * client waits at the gate until `release()`, so a test can make changes while it is offline.
 */
export function reconnectGate() {
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  return {
    retryWait: async (retries: number) => {
      await gate;
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** retries)));
    },
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      open();
    },
  };
}

/** Drops `userId`'s connections of `app` server-side, as a restarting instance does (1012 by default). */
export function dropConnections(server: TestServer, app: TestApp, userId: string, code = 1012, reason = 'service restart'): number {
  const connections = server.app.realtime.transport.connections().filter((c) => c.info.appKey === app.appKey && c.info.userId === userId);
  for (const c of connections) c.drop(code, reason);
  return connections.length;
}

/** An in-memory CursorStore that records what the client did with it. */
export function memoryCursorStore(initial: string | null = null) {
  const calls: string[] = [];
  const store = {
    value: initial,
    calls,
    load() {
      calls.push('load');
      return store.value;
    },
    save(cursor: string) {
      calls.push('save');
      store.value = cursor;
    },
    clear() {
      calls.push('clear');
      store.value = null;
    },
  };
  return store;
}
