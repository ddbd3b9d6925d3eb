import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

const CHANNEL = 'phs:events:committed';
const STILL_DOWN_WARNING_MS = 60_000;

/**
 * Tells the other instances that a transaction with events committed, so that their relays read
 * the log at once instead of at their next poll. It carries no event: losing a notice (Redis
 * down, a publish that failed, an instance that died before sending it) only costs latency up to
 * EVENT_POLL_MS, which is why a Redis outage no longer needs clients to reconnect and resync.
 */
export interface CommitWakeups {
  announce(xid: bigint): void;
  /** whether both Redis connections are up right now (/ready reports it) */
  reachable(): boolean;
  /**
   * Resolves once both connections are up; rejects after timeoutMs with the last connection error.
   * At start an unreachable REDIS_URL is a configuration mistake; later, an outage only costs latency.
   */
  connected(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export function createRedisWakeups(url: string, log: Logger, onCommit: (xid: bigint) => void): CommitWakeups {
  // no offline queue: a notice that cannot go now is worthless later (the poll has read by then)
  const publisher = new Redis(url, { lazyConnect: false, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const subscriber = new Redis(url, { lazyConnect: false });
  let lastError: Error | undefined;
  for (const [role, client] of [['publisher', publisher], ['subscriber', subscriber]] as const) {
    // one warning when the connection is lost, then one per STILL_DOWN_WARNING_MS while it stays lost
    let reported = false;
    let downSince = 0;
    let warnedAt = 0;
    client.on('error', (error) => {
      lastError = error;
      const now = Date.now();
      if (!reported) {
        reported = true;
        downSince = warnedAt = now;
        log.warn({ err: error.message, role }, 'redis connection problem (retrying; events are read from the log meanwhile)');
      } else if (now - warnedAt >= STILL_DOWN_WARNING_MS) {
        warnedAt = now;
        log.warn({ err: error.message, role, downForSeconds: Math.round((now - downSince) / 1000) }, 'redis still unreachable (events are read from the log meanwhile)');
      }
    });
    client.on('ready', () => {
      if (reported) log.info({ role }, 'redis connection back');
      reported = false;
      // whatever was announced while we were away: read now
      if (role === 'subscriber') onCommit(0n);
    });
  }
  subscriber.subscribe(CHANNEL).catch(() => {});
  subscriber.on('message', (_channel: string, payload: string) => {
    if (/^\d{1,20}$/.test(payload)) onCommit(BigInt(payload));
  });
  return {
    announce(xid) {
      if (publisher.status !== 'ready') return;
      publisher.publish(CHANNEL, xid.toString()).catch(() => {});
    },
    reachable: () => publisher.status === 'ready' && subscriber.status === 'ready',
    async connected(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!(publisher.status === 'ready' && subscriber.status === 'ready')) {
        if (Date.now() >= deadline) {
          const { host, port } = publisher.options;
          throw new Error(`Redis at ${host}:${port} unreachable after ${timeoutMs} ms (${describeRedisError(lastError)})`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async close() {
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}

/** ioredis' errors carry the socket's code (ECONNREFUSED, ENOTFOUND) or a message; never a stack here. */
function describeRedisError(error: (Error & { code?: string }) | undefined): string {
  if (!error) return 'no answer';
  const text = error.message || error.code || error.name;
  return text.split('\n')[0]!;
}
