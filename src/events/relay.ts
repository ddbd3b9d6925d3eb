import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { type CommittedSet, type LogPosition, type LoggedEvent, readAfter, watermark } from './repository.ts';

const RETRY_FIRST_MS = 2;
/** after this many failed attempts at one batch, events whose delivery keeps failing are left out */
const ATTEMPTS_BEFORE_SKIPPING = 5;

export interface RelayOptions {
  /** read the log at least this often, woken or not */
  pollMs: number;
  /** rows read per statement */
  batchSize: number;
}

/**
 * Each instance reads the whole event log once, in order, and hands every batch to its local
 * delivery (which picks the receivers connected here). Nothing is published per receiver between
 * instances: an instance that was down, cut from Redis, or never woken reads on from where it
 * was, so events are delayed, never lost. Wake-ups (a local commit, a Redis notice from another
 * instance) only make it read sooner; a timer reads every `pollMs` regardless.
 */
export class EventRelay {
  private position: LogPosition = { x: 0n, p: 0n };
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  /** the newest transaction someone told us about: read until we are past it */
  private expected = 0n;
  private waiters: { xid: bigint; resolve: () => void }[] = [];
  private stopped = false;
  private retryMs = RETRY_FIRST_MS;
  /** failed attempts to deliver the batch at the current place in the log (reads failing do not count) */
  private failures = 0;
  private seen: CommittedSet | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly deliver: (events: LoggedEvent[], skipFailing: boolean) => Promise<void>,
    private readonly log: Logger,
    private readonly options: RelayOptions,
  ) {}

  /** Starts from the present: connections opened from now on replay older events themselves. */
  async start(): Promise<void> {
    this.position = { x: await watermark(this.db), p: 0n };
    this.timer = setInterval(() => this.wake(), this.options.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    await this.reading;
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /** Where this instance has read to: every event before it was handed to delivery. */
  get read(): LogPosition {
    return this.position;
  }

  /**
   * The transactions committed as of this instance's latest read of the log. A stream without a
   * cursor takes it as its start: a row committed in it but handed to delivery only later (the
   * boundary was held back by an older open transaction) happened before the stream and is not
   * its news. Undefined before the first read.
   */
  get lastSeen(): CommittedSet | undefined {
    return this.seen;
  }

  /** Read soon; `xid`, when known, is a committed transaction to read past. */
  wake(xid?: bigint): void {
    if (xid !== undefined && xid > this.expected) this.expected = xid;
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.readAll().finally(() => {
      this.reading = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /** Resolves once every event of transaction `xid` (and all before it) has been delivered here. */
  delivered(xid: bigint): Promise<void> {
    if (this.position.x > xid || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ xid, resolve });
      this.wake(xid);
    });
  }

  private async readAll(): Promise<void> {
    try {
      for (;;) {
        const { events, boundary, snapshot } = await readAfter(this.db, this.position, this.options.batchSize);
        this.seen = snapshot;
        if (events.length) {
          try {
            await this.deliver(events, this.failures >= ATTEMPTS_BEFORE_SKIPPING);
          } catch (error) {
            this.failures++;
            throw error;
          }
          this.failures = 0;
          this.position = events[events.length - 1]!.position;
        }
        if (events.length < this.options.batchSize) {
          if (boundary > this.position.x) this.position = { x: boundary, p: 0n };
          break;
        }
      }
    } catch (error) {
      this.log.warn({ err: error instanceof Error ? error.message : String(error), failedDeliveries: this.failures }, 'reading or delivering the event log failed (retrying)');
    }
    this.settle();
  }

  private settle(): void {
    const passed = this.waiters.filter((w) => this.position.x > w.xid);
    if (passed.length) {
      this.waiters = this.waiters.filter((w) => !passed.includes(w));
      for (const w of passed) w.resolve();
    }
    // A transaction we were told of is committed but still below an older one in flight: look
    // again shortly rather than at the next poll.
    if (this.stopped || this.expected < this.position.x) {
      this.retryMs = RETRY_FIRST_MS;
      return;
    }
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.wake();
    }, this.retryMs);
    this.retry.unref();
    // a long transaction holds the boundary back: look less often the longer it lasts
    this.retryMs = Math.min(this.retryMs * 2, this.options.pollMs);
  }
}
