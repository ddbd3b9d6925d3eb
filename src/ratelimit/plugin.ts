import type { Plugin } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import type { Caller } from '../auth/caller.ts';
import type { Config } from '../config.ts';
import type { Context } from '../context.ts';
import { rateLimitedError, scopeOf } from './abuse.ts';
import type { Logger } from '../observability/logger.ts';
import { LocalRateLimiter, type Bucket, type RateLimiter } from './limiter.ts';
import { RedisRateLimiter } from './redis.ts';

export type RateLimitConfig = Pick<Config, 'rateLimitUserPerSecond' | 'rateLimitUserBurst' | 'rateLimitAppPerSecond' | 'rateLimitAppBurst'>;

/** In this process without REDIS_URL; in Redis with it, so that the limits hold across instances. */
export function createRateLimiter(config: Pick<Config, 'redisUrl'>, log: Logger): RateLimiter {
  return config.redisUrl ? new RedisRateLimiter(config.redisUrl, log) : new LocalRateLimiter();
}

/** The buckets a caller draws from: a user its own and its app's; the app backend its app's. */
export function bucketsFor(caller: Caller, config: RateLimitConfig): Bucket[] {
  const buckets: Bucket[] = [];
  if (caller.kind === 'user' && config.rateLimitUserPerSecond > 0) {
    buckets.push({ key: `user:${caller.app.appKey}:${caller.userId}`, perSecond: config.rateLimitUserPerSecond, burst: config.rateLimitUserBurst });
  }
  if ((caller.kind === 'user' || caller.kind === 'app') && config.rateLimitAppPerSecond > 0) {
    buckets.push({ key: `app:${caller.app.appKey}`, perSecond: config.rateLimitAppPerSecond, burst: config.rateLimitAppBurst });
  }
  return buckets;
}

/**
 * Requests per second per user and per app, for every operation over HTTP and graphql-ws (its
 * caller is known once the context is built). A refused operation is not executed: it answers
 * RATE_LIMITED with `extensions.retryAfterMs`, over HTTP with status 429 and `Retry-After`.
 * The operator and unauthenticated requests draw from no bucket.
 */
export function useRateLimits(limiter: RateLimiter, config: RateLimitConfig): Plugin<Context> {
  async function refusal(buckets: Bucket[], ctx: Context): Promise<GraphQLError | null> {
    const refused = await limiter.take(buckets);
    return refused ? rateLimitedError(refused, scopeOf(refused), !ctx.connection) : null;
  }
  // synchronous when the caller draws from no bucket (limits off, the operator, anonymous)
  function check(ctx: Context, stop: (result: { errors: GraphQLError[] }) => void): Promise<void> | void {
    const buckets = bucketsFor(ctx.caller, config);
    if (buckets.length === 0) return;
    return refusal(buckets, ctx).then((error) => {
      if (error) stop({ errors: [error] });
    });
  }
  return {
    onExecute: ({ args, setResultAndStopExecution }) => check(args.contextValue as Context, setResultAndStopExecution),
    onSubscribe: ({ args, setResultAndStopExecution }) => check(args.contextValue as Context, setResultAndStopExecution),
  };
}
