/**
 * Group commit (and group lookup): items submitted while a batch is in flight wait and go
 * together in the next one, so under load N items cost one statement or transaction instead of N,
 * and an item submitted while nothing is in flight goes at once (no added latency when idle).
 * Each `submit` resolves with its own result once its batch is done, or rejects with its own
 * error: when a batch fails, its items are run one by one, so one bad item (a row that breaks a
 * constraint) fails alone.
 */
export class Batcher<T, R> {
  private queue: { item: T; resolve: (value: R) => void; reject: (error: unknown) => void }[] = [];
  private running = false;

  constructor(
    /** handles the items at once (one transaction, one statement); returns one result per item, in order */
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  /** items waiting for the next batch (not counting the one being written) */
  get waiting(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const results = await this.write(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(results[i]!));
        } catch (error) {
          if (batch.length === 1) {
            batch[0]!.reject(error);
            continue;
          }
          for (const b of batch) {
            try {
              b.resolve((await this.write([b.item]))[0]!);
            } catch (own) {
              b.reject(own);
            }
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}
