import type { LoggedEvent } from '../events/repository.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Audiences } from '../subscriptions/audience.ts';
import { userTopic, userTopicGroup } from './messages.ts';
import type { UserTopics } from './topics.ts';

/**
 * Hands batches read from the event log to the connections of this instance. The receivers of
 * every event of a batch are looked up side by side; the messages then go out strictly in log
 * order, so each connection sees its events in cursor order. If any lookup fails nothing of the
 * batch goes out and the relay reads it again (no event half-delivered, none skipped). Only an
 * event that fails again and again (`skipFailing`, after several attempts) is left out of live
 * delivery, logged, so that one bad row cannot stop an instance's delivery for good; streams that
 * resume still get it from the log.
 */
export class LocalDelivery {
  constructor(
    private readonly audiences: Audiences,
    private readonly topics: UserTopics,
    private readonly observe: { log: Logger; metrics: Metrics },
  ) {}

  readonly deliver = async (events: LoggedEvent[], skipFailing = false): Promise<void> => {
    const start = performance.now();
    const wanted = (appKey: string, userId: string) => this.topics.listening(userTopic(appKey, userId));
    // every instance reads every event: those of apps nobody here listens to cost no lookup
    const wantedApp = (appKey: string) => this.topics.listeningInGroup(userTopicGroup(appKey));
    const addressed = skipFailing
      ? await Promise.all(
          events.map((e) =>
            this.audiences.messagesFor(e, wanted, wantedApp).catch((error) => {
              this.observe.log.error({ err: error, position: `${e.position.x}.${e.position.p}`, change: e.event.type }, 'event left out of live delivery after repeated failures');
              return [];
            }),
          ),
        )
      : await Promise.all(events.map((e) => this.audiences.messagesFor(e, wanted, wantedApp)));
    for (let i = 0; i < events.length; i++) {
      const batch = addressed[i]!;
      if (batch.length === 0) continue;
      await this.topics.publish(batch.map((a) => ({ topic: userTopic(a.appKey, a.userId), message: a.message })));
      const kinds = new Map<string, number>();
      for (const { message } of batch) kinds.set(message.kind, (kinds.get(message.kind) ?? 0) + 1);
      for (const [kind, n] of kinds) this.observe.metrics.eventsPublished.inc({ kind }, n);
    }
    for (const e of events) this.observe.metrics.fanOutDuration.observe({ change: e.event.type }, (performance.now() - start) / 1000 / events.length);
  };
}
