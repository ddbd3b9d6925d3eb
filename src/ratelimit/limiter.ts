/**
 * Token buckets for request rates: each bucket refills at `perSecond` tokens a second up to
 * `burst`, and every request takes one token from each bucket that applies to it (the user's and
 * its app's) — all or none, so a refused request costs nothing.
 */
export interface Bucket {
  key: string;
  perSecond: number;
  burst: number;
  /** tokens this request takes from the bucket (default 1; at most `burst`, so that it can pass at all) */
  cost?: number;
}

/** What a request takes from a bucket: its cost, within 1 and the bucket's burst. */
export const costOf = (b: Bucket): number => Math.min(b.burst, Math.max(1, b.cost ?? 1));

export interface Refusal {
  /** the bucket that was empty */
  key: string;
  /** how long until it holds a token again */
  retryAfterMs: number;
}

export interface RateLimiter {
  /** Takes a token from every bucket, or from none and says which one was empty. */
  take(buckets: readonly Bucket[]): Promise<Refusal | null>;
  /** Whether a bucket is empty, without taking from it. */
  peek(bucket: Bucket): Promise<Refusal | null>;
  close(): Promise<void>;
}

interface State {
  tokens: number;
  at: number;
}

/** How often full (idle) buckets are forgotten. */
const SWEEP_MS = 60_000;

/** In this process only: the limit holds per instance. */
export class LocalRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, State & { perSecond: number; burst: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  takeNow(buckets: readonly Bucket[]): Refusal | null {
    const now = this.now();
    const states = buckets.map((b) => {
      const s = this.buckets.get(b.key);
      const tokens = s ? Math.min(b.burst, s.tokens + ((now - s.at) * b.perSecond) / 1000) : b.burst;
      return { bucket: b, tokens };
    });
    let refusal: Refusal | null = null;
    for (const { bucket, tokens } of states) {
      const cost = costOf(bucket);
      if (tokens >= cost) continue;
      const retryAfterMs = Math.ceil(((cost - tokens) * 1000) / bucket.perSecond);
      if (!refusal || retryAfterMs > refusal.retryAfterMs) refusal = { key: bucket.key, retryAfterMs };
    }
    if (refusal) return refusal;
    for (const { bucket, tokens } of states) this.buckets.set(bucket.key, { tokens: tokens - costOf(bucket), at: now, perSecond: bucket.perSecond, burst: bucket.burst });
    return null;
  }

  async take(buckets: readonly Bucket[]): Promise<Refusal | null> {
    return this.takeNow(buckets);
  }

  peekNow(bucket: Bucket): Refusal | null {
    const s = this.buckets.get(bucket.key);
    if (!s) return null;
    const tokens = Math.min(bucket.burst, s.tokens + ((this.now() - s.at) * bucket.perSecond) / 1000);
    return tokens >= 1 ? null : { key: bucket.key, retryAfterMs: Math.ceil(((1 - tokens) * 1000) / bucket.perSecond) };
  }

  async peek(bucket: Bucket): Promise<Refusal | null> {
    return this.peekNow(bucket);
  }

  /** Buckets that have refilled completely are the same as absent ones. */
  private sweep(): void {
    const now = this.now();
    for (const [key, s] of this.buckets) if (s.tokens + ((now - s.at) * s.perSecond) / 1000 >= s.burst) this.buckets.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.buckets.clear();
  }
}
