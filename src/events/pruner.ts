import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { pruneBefore } from './repository.ts';

const BATCH = 5000;

/**
 * Deletes log entries past EVENT_RETENTION_SECONDS in the background, in small batches (no long
 * lock, no long transaction holding every reader's boundary back). It keeps a margin of one more
 * retention period (at most an hour) beyond what a cursor may reach: a cursor is judged by the time
 * it was handed out, and rows near that time commit a little out of time order. Every instance
 * prunes; the deletes are idempotent.
 */
export class EventPruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly retentionSeconds: number,
  ) {}

  start(): void {
    const everyMs = Math.min(60_000, Math.max(1000, this.retentionSeconds * 500));
    this.timer = setInterval(() => void this.pruneNow(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; returns how many rows it deleted. */
  async pruneNow(): Promise<number> {
    if (this.running) {
      await this.running;
      return 0;
    }
    let total = 0;
    this.running = (async () => {
      const marginSeconds = Math.min(3600, this.retentionSeconds);
      const before = new Date(this.clock.now().getTime() - (this.retentionSeconds + marginSeconds) * 1000);
      try {
        for (;;) {
          const n = await pruneBefore(this.db, before, BATCH);
          total += n;
          if (n < BATCH) break;
        }
      } catch (error) {
        this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'pruning the event log failed (retrying later)');
      }
    })();
    await this.running;
    this.running = undefined;
    return total;
  }
}
