/**
 * Group commit (and group lookup): items submitted while a batch is in flight wait and go
 * together in the next one, so under load N items cost one statement or transaction instead of N,
 * and an item submitted while nothing is in flight goes at once (no added latency when idle).
 * Each `submit` resolves with its own result once its batch is done, or rejects with its own
 * error: when a batch fails because of its data (`isolate`, e.g. a row that breaks a constraint),
 * its items are run one by one, so one bad item fails alone; any other failure (the database
 * unreachable) fails the whole batch at once rather than each item in turn.
 */
export class Batcher<T, R> {
  private queue: { item: T; resolve: (value: R) => void; reject: (error: unknown) => void }[] = [];
  private running = false;

  constructor(
    /** handles the items at once (one transaction, one statement); returns one result per item, in order */
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
    /** whether a failed batch is retried item by item (default: never) */
    private readonly isolate: (error: unknown) => boolean = () => false,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
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
          if (batch.length === 1 || !this.isolate(error)) {
            for (const b of batch) b.reject(error);
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

/**
 * A failure caused by the items themselves: PostgreSQL's data exceptions (class 22) and integrity
 * violations (class 23), or an error of our own code (no SQLSTATE). Not: connection or server
 * failures, which retrying item by item would only multiply.
 */
export function causedByItems(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === undefined || (typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code));
}
