import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';
import { LocalRateLimiter, costOf, type Bucket, type RateLimiter, type Refusal } from './limiter.ts';

/**
 * The same token buckets as LocalRateLimiter, kept in Redis so that every instance draws from
 * one bucket per user and per app. One script per request: it refills each bucket from the time
 * of its last use (Redis's own clock, so instances' clocks do not matter), then takes a token from
 * every bucket or from none, and lets idle buckets expire.
 *
 * KEYS: the buckets; ARGV: perSecond, burst and cost (tokens taken) of each, in order.
 * Returns {} when allowed, else {index of the empty bucket (1-based), ms until it has a token}.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens = {}
local worst, wait = 0, 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local have = tonumber(state[1])
  local at = tonumber(state[2])
  if have == nil or at == nil then
    have = burst
  else
    have = math.min(burst, have + math.max(0, now - at) * rate / 1000)
  end
  tokens[i] = have
  if have < cost then
    local ms = math.ceil((cost - have) * 1000 / rate)
    if ms > wait then worst, wait = i, ms end
  end
end
if worst > 0 then return {worst, wait} end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  redis.call('HSET', key, 'tokens', tostring(tokens[i] - cost), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end
return {}
`;

/** The same refill as TAKE for one bucket, without taking: {} when it holds a token, else {1, ms}. */
const PEEK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local have = tonumber(state[1])
local at = tonumber(state[2])
if have == nil or at == nil then return {} end
have = math.min(burst, have + math.max(0, now - at) * rate / 1000)
if have >= 1 then return {} end
return {1, math.ceil((1 - have) * 1000 / rate)}
`;

const PREFIX = 'phs:rl:';
/** While Redis cannot answer, each instance limits on its own rather than refusing or waiting. */
const COMMAND_TIMEOUT_MS = 500;
const WARN_EVERY_MS = 30_000;

type TakeCommand = (numKeys: number, ...args: (string | number)[]) => Promise<[number, number] | []>;

export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly fallback = new LocalRateLimiter();
  private lastWarning = 0;
  /** resolves at the first connection (or after a short wait): requests at start-up wait for it */
  private readonly firstReady: Promise<void>;

  constructor(url: string, private readonly log: Logger) {
    this.redis = new Redis(url, {
      lazyConnect: false,
      // fail fast while disconnected: a request must not wait for Redis to come back
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    this.redis.defineCommand('phsRateLimitTake', { lua: TAKE });
    this.redis.defineCommand('phsRateLimitPeek', { lua: PEEK });
    this.redis.on('error', (error) => this.warn(error.message));
    this.firstReady = new Promise<void>((resolve) => {
      this.redis.once('ready', () => resolve());
      setTimeout(resolve, 2000).unref();
    });
  }

  async take(buckets: readonly Bucket[]): Promise<Refusal | null> {
    if (buckets.length === 0) return null;
    const args: (string | number)[] = [];
    for (const b of buckets) args.push(PREFIX + b.key);
    for (const b of buckets) args.push(b.perSecond, b.burst, costOf(b));
    try {
      await this.firstReady;
      const take = (this.redis as unknown as { phsRateLimitTake: TakeCommand }).phsRateLimitTake.bind(this.redis);
      const result = await take(buckets.length, ...args);
      if (result.length === 0) return null;
      return { key: buckets[result[0] - 1]!.key, retryAfterMs: result[1] };
    } catch (error) {
      this.warn((error as Error).message);
      return this.fallback.takeNow(buckets);
    }
  }

  async peek(bucket: Bucket): Promise<Refusal | null> {
    try {
      await this.firstReady;
      const peek = (this.redis as unknown as { phsRateLimitPeek: TakeCommand }).phsRateLimitPeek.bind(this.redis);
      const result = await peek(1, PREFIX + bucket.key, bucket.perSecond, bucket.burst);
      return result.length === 0 ? null : { key: bucket.key, retryAfterMs: result[1] };
    } catch (error) {
      this.warn((error as Error).message);
      return this.fallback.peekNow(bucket);
    }
  }

  private warn(problem: string): void {
    const now = Date.now();
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.log.warn({ err: problem }, 'rate limits: redis unavailable, limiting per instance meanwhile');
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    await this.fallback.close();
  }
}
