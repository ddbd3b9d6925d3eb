/**
 * Bounds how many stream catch-ups (snapshot or replay) run at once on this instance. A reconnect
 * storm opens thousands of streams in the same second; each catch-up is a dozen reads, and
 * letting them all at the database pool at once makes the last ones wait past the pool's
 * connection timeout (INTERNAL) instead of simply waiting their turn here.
 */
export class CatchUpGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
