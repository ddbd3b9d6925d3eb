import { Redis } from 'ioredis';
import type { RealtimeMessage } from './messages.ts';
import type { Logger } from '../observability/logger.ts';

export type TopicListener = (message: RealtimeMessage) => void;

/**
 * Per-user topics (fan-out on write): each connection listens on its own user's topic only.
 * `listen` resolves once delivery of later publications is guaranteed, which the connect-time
 * sync relies on (listen first, then read the state, so nothing falls in between).
 */
export interface UserTopics {
  listen(topic: string, listener: TopicListener): Promise<() => void>;
  publish(batch: readonly { topic: string; message: RealtimeMessage }[]): Promise<void>;
  close(): Promise<void>;
}

export interface RedisTopicsOptions {
  /**
   * Called when the subscriber connection is back after a loss (not on the first connect), once
   * its channels are subscribed again: whatever was published in between is lost, so every local
   * connection must resync.
   */
  onResync?: () => void;
}

class ListenerRegistry {
  private readonly byTopic = new Map<string, Set<TopicListener>>();

  constructor(private readonly log: Logger) {}

  add(topic: string, listener: TopicListener): boolean {
    let listeners = this.byTopic.get(topic);
    const first = !listeners;
    if (!listeners) this.byTopic.set(topic, (listeners = new Set()));
    listeners.add(listener);
    return first;
  }

  remove(topic: string, listener: TopicListener): boolean {
    const listeners = this.byTopic.get(topic);
    if (!listeners) return false;
    listeners.delete(listener);
    if (listeners.size > 0) return false;
    this.byTopic.delete(topic);
    return true;
  }

  dispatch(topic: string, message: RealtimeMessage): void {
    const listeners = this.byTopic.get(topic);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.log.error({ err: error, topic }, 'realtime listener failed');
      }
    }
  }
}

/**
 * Receivers handed a message at once. Every delivery then runs as a chain of promise steps, and
 * all chains started together advance side by side: with 5000 at once, all their intermediate
 * objects are alive at every young-generation collection, which copies them. In slices, with the
 * event loop turning in between, each slice reaches its socket writes before the next starts
 * (fan-out deliveries/s +10 to 15 % with 64 to 256 per slice; BENCHMARKS.md).
 */
const DISPATCH_SLICE = 128;

/** One instance, no Redis: messages are handed over in memory, in publication order. */
export function createLocalTopics(log: Logger): UserTopics {
  const registry = new ListenerRegistry(log);
  return {
    async listen(topic, listener) {
      registry.add(topic, listener);
      return () => void registry.remove(topic, listener);
    },
    async publish(batch) {
      for (let i = 0; i < batch.length; i++) {
        registry.dispatch(batch[i]!.topic, batch[i]!.message);
        if ((i + 1) % DISPATCH_SLICE === 0 && i + 1 < batch.length) await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {},
  };
}

/**
 * Across instances through Redis pub/sub. Written here rather than taken from
 * @graphql-yoga/redis-event-target because that one does not wait for SUBSCRIBE to be
 * confirmed, so a change published right after `listen` could be lost before the sync.
 */
export function createRedisTopics(url: string, log: Logger, options: RedisTopicsOptions = {}): UserTopics {
  const publisher = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
  const subscriber = new Redis(url, { lazyConnect: false });
  // connection problems are retried by ioredis (every few hundred ms while Redis is away); logging
  // the first one until the connection is ready again is enough
  for (const [role, client] of [['publisher', publisher], ['subscriber', subscriber]] as const) {
    let reported = false;
    client.on('error', (error) => {
      if (reported) return;
      reported = true;
      log.warn({ err: error.message, role }, 'redis connection problem (retrying)');
    });
    client.on('ready', () => (reported = false));
  }
  const registry = new ListenerRegistry(log);
  const subscribing = new Map<string, Promise<unknown>>();

  // Messages published while the subscriber was away are lost (pub/sub keeps nothing). ioredis
  // reconnects and re-subscribes every channel (autoResubscribe) right after 'ready'; a PING
  // answered after those SUBSCRIBEs proves they are in effect, and then local clients resync.
  let wasReady = false;
  let lost = false;
  let closing = false;
  subscriber.on('close', () => {
    if (wasReady && !closing && !lost) {
      lost = true;
      log.warn('redis subscriber connection lost: events published until it is back are lost');
    }
  });
  subscriber.on('ready', () => {
    if (!wasReady) {
      wasReady = true;
      return;
    }
    if (!lost) return;
    lost = false;
    subscriber.ping().then(
      () => {
        log.warn('redis subscriber connection back: asking local clients to resync');
        options.onResync?.();
      },
      // lost again before the PING was answered: the next 'ready' resyncs
      () => {},
    );
  });

  subscriber.on('message', (channel: string, payload: string) => {
    let message: RealtimeMessage;
    try {
      message = JSON.parse(payload) as RealtimeMessage;
    } catch {
      return;
    }
    registry.dispatch(channel, message);
  });

  return {
    async listen(topic, listener) {
      if (registry.add(topic, listener)) subscribing.set(topic, subscriber.subscribe(topic).finally(() => subscribing.delete(topic)));
      try {
        await subscribing.get(topic);
      } catch (error) {
        // unsubscribed channel: leaving the listener would make later listens skip SUBSCRIBE for good
        if (registry.remove(topic, listener)) void subscriber.unsubscribe(topic).catch(() => {});
        throw error;
      }
      return () => {
        if (registry.remove(topic, listener)) void subscriber.unsubscribe(topic).catch(() => {});
      };
    },
    async publish(batch) {
      if (batch.length === 0) return;
      const pipeline = publisher.pipeline();
      for (const { topic, message } of batch) pipeline.publish(topic, JSON.stringify(message));
      // a command failed inside the pipeline (e.g. Redis unreachable) is reported, not swallowed
      const failed = (await pipeline.exec())?.find(([error]) => error)?.[0];
      if (failed) throw failed;
    },
    async close() {
      closing = true;
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}
