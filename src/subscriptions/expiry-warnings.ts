import type { Services } from '../context.ts';
import { claimDueWarnings, dropMissedWarnings, subscribersWithDueWarnings } from './repository.ts';

/** due subscriptions looked at per transaction */
const BATCH = 200;

/**
 * Sends the subscription expiry warnings that are due (SPEC §11): every SUBSCRIPTION_EXPIRY_SWEEP_MS
 * on every instance, it finds the subscribers with a due `warn_at` and, in one transaction per
 * batch through `EventLog.write` (their event locks first, as every write of theirs), claims the
 * warnings and logs one `subscriptionsExpiring` per group. The claim is a conditional UPDATE, so
 * instances sweeping at once never log a warning twice, and a renewal or unsubscribe (which take
 * the same lock) either comes first and cancels it or comes after it. Delivery is the log's: a
 * device offline then gets it on resume. Times are the server's clock (tests move it).
 */
export class ExpiryWarnings {
  private timer: NodeJS.Timeout | undefined;
  /** the sweep in progress; sweeps run one after the other */
  private running: Promise<number> | undefined;

  constructor(
    private readonly services: Pick<Services, 'db' | 'clock' | 'events' | 'log'>,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) void this.sweepNow();
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over everything due now (after the pass in progress, if any); resolves to how many warnings it logged. */
  sweepNow(): Promise<number> {
    const pass = (this.running ?? Promise.resolve(0)).then(() => this.sweep());
    this.running = pass;
    void pass.finally(() => {
      if (this.running === pass) this.running = undefined;
    });
    return pass;
  }

  private async sweep(): Promise<number> {
    const { db, clock, events, log } = this.services;
    let logged = 0;
    try {
      for (;;) {
        const now = clock.now();
        const subscribers = await subscribersWithDueWarnings(db, now, BATCH);
        if (subscribers.length === 0) break;
        logged += await events.write(subscribers, async (trx, record) => {
          const groups = await claimDueWarnings(trx, subscribers, now);
          const at = now.toISOString();
          for (const g of groups) {
            record({ type: 'subscriptionsExpiring', appKey: g.appKey, userId: g.subscriberId, subscribeType: g.type, userIds: g.targetIds, expiresAt: g.expiresAt.toISOString(), at });
          }
          return groups.length;
        });
      }
      await dropMissedWarnings(db, clock.now(), BATCH);
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.message : String(error) }, 'sending subscription expiry warnings failed (retrying at the next sweep)');
    }
    return logged;
  }
}
