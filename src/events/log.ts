import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { DomainEvent, EventBus } from './bus.ts';
import { Batcher } from '../db/batcher.ts';
import { appendEvents, committedNow, type CommittedSet, lockSubjects } from './repository.ts';

/** Records events produced inside a write transaction; they are committed with it or not at all. */
export type RecordEvent = (event: DomainEvent) => void;

/** Told after a transaction with events committed (its xid), so that readers look at once. */
export type CommitListener = (xid: bigint) => void;

/**
 * The one way a domain service commits a change together with its events (SPEC §9: nothing
 * committed is lost). `write` takes the subjects' event locks first (per-user order, see
 * repository.ts), runs the change, appends what it recorded, commits, and only then tells the
 * in-process bus and the relays; if telling fails or never happens, the relays' polling still
 * finds the rows, so a lost wake-up delays events but loses none.
 */
export class EventLog {
  private readonly listeners = new Set<CommitListener>();
  /** the newest transaction id this process committed events in */
  private lastCommitted = 0n;
  /** tests: do not tell anyone of commits (as if the process died right after committing) */
  silent = false;

  /**
   * What has committed, as of a snapshot taken after the call: every caller that asks while one is
   * being read waits for the next, which is taken after it asked (a stream that listens first, then
   * asks, misses nothing), so a reconnect storm of catch-ups costs one statement per batch.
   */
  private readonly snapshots = new Batcher<void, CommittedSet>(async (callers) => {
    const set = await committedNow(this.db);
    return callers.map(() => set);
  }, 10_000);

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly bus: EventBus,
  ) {}

  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  committedNow(): Promise<CommittedSet> {
    return this.snapshots.submit();
  }

  get newestCommitted(): bigint {
    return this.lastCommitted;
  }

  /**
   * Runs `work` in one transaction with the event locks of `subjects` (one app's userIds, or
   * (appKey, userId) pairs of any apps) taken first;
   * `work` records its events with `record`.
   */
  async write<T>(
    subjects: { appKey: string; userIds: readonly string[] } | readonly { appKey: string; userId: string }[],
    work: (trx: Transaction<Database>, record: RecordEvent) => Promise<T>,
  ): Promise<T> {
    const recorded: DomainEvent[] = [];
    let xid: bigint | null = null;
    const pairs = 'userIds' in subjects ? subjects.userIds.map((userId) => ({ appKey: subjects.appKey, userId })) : subjects;
    const result = await this.db.transaction().execute(async (trx) => {
      await lockSubjects(trx, pairs);
      const value = await work(trx, (event) => recorded.push(event));
      xid = await appendEvents(trx, recorded, this.clock.now());
      return value;
    });
    if (xid !== null) this.committed(xid);
    for (const event of recorded) await this.bus.publish(event);
    return result;
  }

  /**
   * For a change that appended its own event in one statement, outside `write` (the hottest write,
   * see `changeWithEvent`): tell the bus and the relays as `write` does after its commit.
   */
  async committedAlone(xid: bigint | null, events: readonly DomainEvent[]): Promise<void> {
    if (xid !== null) this.committed(xid);
    for (const event of events) await this.bus.publish(event);
  }

  private committed(xid: bigint): void {
    if (xid > this.lastCommitted) this.lastCommitted = xid;
    if (this.silent) return;
    for (const listener of this.listeners) {
      try {
        listener(xid);
      } catch {
        // a wake-up is a hint; the relays poll anyway
      }
    }
  }
}
