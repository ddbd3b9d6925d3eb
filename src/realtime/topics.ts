import type { RealtimeMessage } from './messages.ts';
import type { Logger } from '../observability/logger.ts';

export type TopicListener = (message: RealtimeMessage) => void;

/**
 * Per-user topics of this instance: each connection listens on its own user's topic only, and
 * the local delivery of the event log publishes there. Nothing per receiver travels between
 * instances: each instance reads the log itself (src/events/relay.ts).
 */
export interface UserTopics {
  listen(topic: string, listener: TopicListener): Promise<() => void>;
  publish(batch: readonly { topic: string; message: RealtimeMessage }[]): Promise<void>;
  /** whether anyone here listens on the topic (only their messages are built) */
  listening(topic: string): boolean;
  /** whether anyone here listens on a topic of the group (`userTopicGroup`: one app) */
  listeningInGroup(group: string): boolean;
  close(): Promise<void>;
}

/** A topic's group: everything before its last ':' (for user topics, the app). */
const groupOf = (topic: string) => topic.slice(0, topic.lastIndexOf(':'));

class ListenerRegistry {
  private readonly byTopic = new Map<string, Set<TopicListener>>();
  /** topics with listeners per group, so that a change of an app nobody here listens to costs nothing */
  private readonly perGroup = new Map<string, number>();

  constructor(private readonly log: Logger) {}

  add(topic: string, listener: TopicListener): boolean {
    let listeners = this.byTopic.get(topic);
    const first = !listeners;
    if (!listeners) {
      this.byTopic.set(topic, (listeners = new Set()));
      const group = groupOf(topic);
      this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
    }
    listeners.add(listener);
    return first;
  }

  remove(topic: string, listener: TopicListener): boolean {
    const listeners = this.byTopic.get(topic);
    if (!listeners) return false;
    listeners.delete(listener);
    if (listeners.size > 0) return false;
    this.byTopic.delete(topic);
    const group = groupOf(topic);
    const left = (this.perGroup.get(group) ?? 1) - 1;
    if (left > 0) this.perGroup.set(group, left);
    else this.perGroup.delete(group);
    return true;
  }

  has(topic: string): boolean {
    return this.byTopic.has(topic);
  }

  hasGroup(group: string): boolean {
    return this.perGroup.has(group);
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

/** Messages are handed over in memory, in publication order. */
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
    listening: (topic) => registry.has(topic),
    listeningInGroup: (group) => registry.hasGroup(group),
    async close() {},
  };
}
