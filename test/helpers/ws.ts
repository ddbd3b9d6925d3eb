import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface LiveClient {
  client: Client;
  /** resolves once connection_ack arrived */
  connected: Promise<void>;
  /** the close event, if the server closed the socket */
  closed: Promise<{ code: number; reason: string }>;
  subscribe<T = any>(query: string, variables?: Record<string, unknown>): LiveSubscription<T>;
  /** a query or mutation over this same socket */
  execute<T = any>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: any[] }>;
  dispose(): Promise<void>;
}

export interface LiveSubscription<T> {
  events: T[];
  errors: unknown[];
  /** waits until `count` events arrived (or throws after timeoutMs) */
  waitFor(count: number, timeoutMs?: number): Promise<T[]>;
  /** asserts nothing more arrives within ms */
  quiet(ms?: number): Promise<T[]>;
  stop(): void;
}

/** A real graphql-ws client connected to the test server. */
export function connectLive(
  httpUrl: string,
  params: { authToken?: string; platform?: string; deviceId?: string } | Record<string, unknown>,
  options: { retry?: boolean } = {},
): LiveClient {
  const url = httpUrl.replace(/^http/, 'ws');
  let ack!: () => void;
  let fail!: (e: unknown) => void;
  const connected = new Promise<void>((resolve, reject) => ((ack = resolve), (fail = reject)));
  let closedResolve!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (closedResolve = resolve));
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: params,
    lazy: false,
    onNonLazyError: () => {},
    retryAttempts: options.retry ? 5 : 0,
    shouldRetry: () => !!options.retry,
    on: {
      connected: () => ack(),
      closed: (event) => {
        const e = event as { code: number; reason: string };
        closedResolve({ code: e.code, reason: String(e.reason) });
        fail(new Error(`closed ${e.code} ${e.reason}`));
      },
      error: (e) => fail(e),
    },
  });
  connected.catch(() => {}); // awaited by tests that expect success; a refusal is read from `closed`
  return {
    client,
    connected,
    closed,
    subscribe<T>(query: string, variables?: Record<string, unknown>): LiveSubscription<T> {
      const events: T[] = [];
      const errors: unknown[] = [];
      let waiters: (() => void)[] = [];
      const stop = client.subscribe<T>(
        { query, variables },
        {
          next: (value) => {
            if (value.errors) errors.push(value.errors);
            if (value.data) events.push(value.data as T);
            for (const w of waiters) w();
          },
          error: (e) => {
            errors.push(e);
            for (const w of waiters) w();
          },
          complete: () => {},
        },
      );
      return {
        events,
        errors,
        stop,
        async waitFor(count, timeoutMs = 5000) {
          const deadline = Date.now() + timeoutMs;
          while (events.length < count) {
            if (errors.length) throw new Error(`subscription error: ${JSON.stringify(errors)}`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`timed out waiting for ${count} events; got ${events.length}: ${JSON.stringify(events)}`);
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, Math.min(left, 50));
              waiters.push(() => {
                clearTimeout(t);
                resolve();
              });
            });
            waiters = [];
          }
          return events;
        },
        async quiet(ms = 300) {
          const before = events.length;
          await new Promise((r) => setTimeout(r, ms));
          if (events.length !== before) throw new Error(`expected no more events, got ${JSON.stringify(events.slice(before))}`);
          return events;
        },
      };
    },
    execute<T>(query: string, variables?: Record<string, unknown>) {
      return new Promise<{ data?: T; errors?: any[] }>((resolve, reject) => {
        let result: { data?: T; errors?: any[] } = {};
        client.subscribe<T>(
          { query, variables },
          {
            next: (v) => (result = v as never),
            error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)),
            complete: () => resolve(result),
          },
        );
      });
    },
    dispose: async () => {
      await client.dispose();
    },
  };
}
