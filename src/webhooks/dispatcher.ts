import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { compare, type LoggedEvent, readAfter } from '../events/repository.ts';
import type { Logger } from '../observability/logger.ts';
import { messagesOf, type WebhookMessage, webhookBody } from './messages.ts';
import { dispatchCursor, enabledWebhooksOf, insertDeliveries, type NewDelivery, saveDispatchCursor, tryLockDispatch, webhooksAndBoundary } from './repository.ts';

/** The shortest time between two passes of one instance. */
const MIN_GAP_MS = 50;

/** A delivery's id: its webhook-id header (Standard Webhooks' msg_ prefix). */
export const deliveryId = () => `msg_${randomBytes(16).toString('base64url')}`;

/**
 * Turns the event log into webhook deliveries (SPEC §12: driven from the log, so a crash between a
 * commit and its webhook loses nothing). The cursor lives in the database (`webhook_dispatch`);
 * each pass reads the rows after it in (xid, position) order below the complete boundary, as the
 * relays do, and in one transaction adds the deliveries those rows owe to the enabled webhooks of
 * their apps whose kinds match and moves the cursor past them. One instance at a time does it (an
 * advisory lock taken without waiting: the others skip their pass), so deliveries are neither
 * doubled nor lost whichever instance runs, dies or restarts. Every instance tries on its own
 * commits, on wake-ups from the others, and every `pollMs`.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastPass = 0;
  private delayed: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: { pollMs: number; batchSize: number; retryWindowMs: number; dispatched: () => void },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.pollMs);
    this.timer.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.delayed);
    await this.running;
  }

  /**
   * Dispatch soon. Commits wake it, so under load passes are spaced by MIN_GAP_MS at least: a
   * webhook can wait that long, and the log is read in larger batches instead of once per commit.
   */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const wait = this.lastPass + MIN_GAP_MS - Date.now();
    if (wait > 0) {
      this.delayed ??= setTimeout(() => {
        this.delayed = undefined;
        this.wake();
      }, wait);
      return;
    }
    this.lastPass = Date.now();
    this.running = this.passes().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /** Dispatches until the log is read up to its boundary (or another instance holds the lock). */
  async passes(): Promise<void> {
    try {
      for (;;) {
        const result = await this.pass();
        if (result.created > 0) this.options.dispatched();
        if (!result.more || this.stopped) break;
      }
    } catch (error) {
      this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'dispatching webhook deliveries failed (retrying)');
    }
  }

  /** A row that cannot be read as its kind says (it will not read better later) is logged and left out, never retried forever. */
  private messagesOf(e: LoggedEvent): WebhookMessage[] {
    try {
      return messagesOf(e.event);
    } catch (error) {
      this.log.error({ err: error instanceof Error ? error.message : String(error), position: `${e.position.x}.${e.position.p}`, change: e.event?.type }, 'malformed event left out of webhook deliveries');
      return [];
    }
  }

  private pass(): Promise<{ created: number; more: boolean }> {
    const { batchSize } = this.options;
    return this.db.transaction().execute(async (trx) => {
      if (!(await tryLockDispatch(trx))) return { created: 0, more: false };
      const cursor = await dispatchCursor(trx);
      const now = await webhooksAndBoundary(trx);
      if (!now.any) {
        // nobody to deliver to (an app without webhooks): move past what is complete without
        // reading it; a webhook being created is above that boundary, and so is what follows it
        if (now.boundary > cursor.x) await saveDispatchCursor(trx, { x: now.boundary, p: 0n });
        return { created: 0, more: false };
      }
      const { events, boundary } = await readAfter(trx, cursor, batchSize);
      let next = events.length ? events[events.length - 1]!.position : cursor;
      if (events.length < batchSize && boundary > next.x) next = { x: boundary, p: 0n };
      if (compare(next, cursor) === 0) return { created: 0, more: false };
      const owed = events.map((e) => ({ e, messages: this.messagesOf(e) })).filter((o) => o.messages.length > 0);
      const webhooks = await enabledWebhooksOf(trx, [...new Set(owed.map((o) => o.e.appKey))]);
      const deliveries: NewDelivery[] = [];
      const createdAt = this.clock.now();
      const giveUpAt = new Date(createdAt.getTime() + this.options.retryWindowMs);
      for (const { e, messages } of owed) {
        for (const webhook of webhooks) {
          if (webhook.appKey !== e.appKey || e.position.x < webhook.sinceXid) continue;
          for (const message of messages) {
            if (!webhook.kinds.includes(message.kind)) continue;
            deliveries.push({ id: deliveryId(), webhookId: webhook.id, subject: message.subject, kind: message.kind, body: webhookBody(message), createdAt, giveUpAt });
          }
        }
      }
      await insertDeliveries(trx, deliveries);
      await saveDispatchCursor(trx, next);
      return { created: deliveries.length, more: events.length === batchSize };
    });
  }
}
