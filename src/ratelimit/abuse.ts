import type { GraphQLError } from 'graphql';
import type { Config } from '../config.ts';
import { appError } from '../errors.ts';
import type { Bucket, RateLimiter, Refusal } from './limiter.ts';

export type AbuseLimitConfig = Pick<
  Config,
  | 'rateLimitIpPerSecond'
  | 'rateLimitIpBurst'
  | 'rateLimitIpConnectsPerSecond'
  | 'rateLimitIpConnectsBurst'
  | 'rateLimitUserConnectsPerSecond'
  | 'rateLimitUserConnectsBurst'
  | 'rateLimitAppAuthFailuresPerSecond'
  | 'rateLimitAppAuthFailuresBurst'
>;

/**
 * SPEC §14's limits on traffic that is not (yet) a known caller, in the same token buckets as the
 * per-user and per-app limits (shared through Redis across instances):
 * - per client IP, every request or connect whose credentials were missing or refused; once an
 *   IP has spent that budget, new credentials from it are not even checked (guessing stays slow);
 * - per client IP, WebSocket upgrades; per user, connection_inits (a connect/close loop would
 *   otherwise make every watcher of that user receive a presence change per cycle);
 * - per app, wrong Basic secrets from anywhere (a right one still passes: the app's own backend
 *   never waits behind an attacker).
 * A rate of 0 turns that limit off.
 */
export class AbuseLimits {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly config: AbuseLimitConfig,
  ) {}

  /** Credentials were missing or refused: counts against the IP, and for a wrong app secret against the app. */
  async failed(ip: string, appKey?: string): Promise<Refusal | null> {
    // each bucket on its own (not all-or-none): a failure counts against the IP even once the app's budget is spent
    const buckets = [this.ipBucket(ip), appKey === undefined ? undefined : this.appFailureBucket(appKey)].filter((b) => b !== undefined);
    const refusals = await Promise.all(buckets.map((b) => this.limiter.take([b])));
    return refusals.find((r) => r !== null) ?? null;
  }

  /** Whether this IP has spent its budget of failures (then fresh credentials from it are refused unchecked). */
  exhausted(ip: string): Promise<Refusal | null> {
    const bucket = this.ipBucket(ip);
    return bucket ? this.limiter.peek(bucket) : Promise.resolve(null);
  }

  /** A WebSocket upgrade from this IP. */
  async upgrade(ip: string): Promise<Refusal | null> {
    const failures = await this.exhausted(ip);
    if (failures) return failures;
    const c = this.config;
    if (c.rateLimitIpConnectsPerSecond <= 0) return null;
    return this.limiter.take([{ key: `ip-connect:${ip}`, perSecond: c.rateLimitIpConnectsPerSecond, burst: c.rateLimitIpConnectsBurst }]);
  }

  /** A connection_init of this user that authenticated. */
  userConnect(appKey: string, userId: string): Promise<Refusal | null> {
    const c = this.config;
    if (c.rateLimitUserConnectsPerSecond <= 0) return Promise.resolve(null);
    return this.limiter.take([{ key: `user-connect:${appKey}:${userId}`, perSecond: c.rateLimitUserConnectsPerSecond, burst: c.rateLimitUserConnectsBurst }]);
  }

  private ipBucket(ip: string): Bucket | undefined {
    const c = this.config;
    return c.rateLimitIpPerSecond > 0 ? { key: `ip:${ip}`, perSecond: c.rateLimitIpPerSecond, burst: c.rateLimitIpBurst } : undefined;
  }

  private appFailureBucket(appKey: string): Bucket | undefined {
    const c = this.config;
    return c.rateLimitAppAuthFailuresPerSecond > 0 ? { key: `app-auth-failures:${appKey}`, perSecond: c.rateLimitAppAuthFailuresPerSecond, burst: c.rateLimitAppAuthFailuresBurst } : undefined;
  }
}

/** What a bucket key limits, for the error's `extensions.limit`. */
export function scopeOf(refusal: Refusal): string {
  return refusal.key.slice(0, refusal.key.indexOf(':'));
}

/**
 * RATE_LIMITED with `extensions.retryAfterMs`; over HTTP also status 429 and `Retry-After`
 * (yoga answers with `extensions.http` and leaves it out of the body).
 */
export function rateLimitedError(refusal: Refusal, what: string, overHttp: boolean): GraphQLError {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  return appError('RATE_LIMITED', `Too many requests for this ${what}: retry in ${refusal.retryAfterMs} ms`, {
    limit: scopeOf(refusal),
    retryAfterMs: refusal.retryAfterMs,
    http: overHttp ? { status: 429, headers: { 'Retry-After': String(seconds) } } : undefined,
  });
}
