import { randomUUID } from 'node:crypto';
import { type AttemptDeps, attemptDelivery, leaseMs } from './attempt.ts';
import { type ClaimedDelivery, claimDue, pendingQueue, pruneFinished, releaseClaims } from './repository.ts';

/** Deliveries of one webhook in flight at once, across all instances: a slow receiver holds these and nothing else. */
export const SLOTS_PER_WEBHOOK = 4;
/** Deliveries in flight at once on one instance, all webhooks together. */
export const SLOTS_PER_INSTANCE = 32;
/** Delivered and failed deliveries stay in the delivery log this long. */
export const DELIVERY_RETENTION_MS = 7 * 86_400_000;
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 5000;

/**
 * Sends the deliveries that are due, on every instance: each pass leases due ones in the database
 * (`claimDue`: per-subject order, per-webhook slots, a lease longer than any attempt, so a crashed
 * instance's work is taken up by another once its lease is over, and nothing is sent twice at once)
 * and sends them side by side, up to SLOTS_PER_INSTANCE. A finished attempt frees its slot and
 * looks for more at once; otherwise the worker looks every `pollMs` and whenever the dispatcher
 * added deliveries here. On stop, attempts in flight are cut off and their leases given back
 * (they count as not made: another instance, or this one restarted, sends them).
 */
export class WebhookWorker {
  private readonly claim = randomUUID();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private prunedAt = 0;

  constructor(
    private readonly deps: AttemptDeps,
    private readonly options: { pollMs: number },
  ) {
    deps.metrics.webhookQueue(() => pendingQueue(deps.db));
  }

  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.pollMs);
    this.timer.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    const cut = [...this.inFlight.keys()];
    this.abort.abort();
    await Promise.allSettled(this.inFlight.values());
    await releaseClaims(this.deps.db, cut, this.claim).catch(() => {});
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async pass(): Promise<void> {
    try {
      const free = SLOTS_PER_INSTANCE - this.inFlight.size;
      if (free > 0) {
        const now = this.deps.clock.now();
        const claimed = await claimDue(this.deps.db, {
          now,
          leaseUntil: new Date(now.getTime() + leaseMs(this.deps.config.webhookTimeoutMs)),
          claim: this.claim,
          perWebhook: SLOTS_PER_WEBHOOK,
          limit: free,
        });
        for (const delivery of claimed) this.send(delivery);
      }
      if (Date.now() - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = Date.now();
        await pruneFinished(this.deps.db, new Date(this.deps.clock.now().getTime() - DELIVERY_RETENTION_MS), PRUNE_BATCH);
      }
    } catch (error) {
      this.deps.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'claiming webhook deliveries failed (retrying)');
    }
  }

  private send(delivery: ClaimedDelivery): void {
    const done = attemptDelivery(this.deps, delivery, this.claim, this.abort.signal)
      .then((outcome) => {
        // a retry due sooner than the next poll is looked for then
        if (outcome?.status === 'PENDING') {
          const wait = outcome.nextAttemptAt.getTime() - Date.now();
          if (wait < this.options.pollMs) setTimeout(() => this.wake(), Math.max(0, wait) + 5).unref();
        }
      })
      .catch((error: unknown) => {
        // recording failed: the lease runs out and the delivery is attempted again
        this.deps.log.warn({ err: error instanceof Error ? error.message : String(error), deliveryId: delivery.id }, 'recording a webhook attempt failed');
      })
      .finally(() => {
        this.inFlight.delete(delivery.id);
        this.wake();
      });
    this.inFlight.set(delivery.id, done);
  }
}
