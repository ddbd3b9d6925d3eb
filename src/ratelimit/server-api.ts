import type { Config } from '../config.ts';
import type { Bucket } from './limiter.ts';

/**
 * RongCloud's per-App-Key, per-endpoint rates for its server API (requests per second; the burst
 * is one second's worth), scaled by RATE_LIMIT_SERVER_API_SCALE (0: off).
 */
const RATES: Record<string, number> = {
  '/user/getToken.json': 200,
};
const DEFAULT_RATE = 100;

/**
 * The endpoint's bucket of this app, beside the app's own bucket (shared with its GraphQL calls).
 * `items`: RongCloud counts a friend batch call once per item (deleting 10 friends is 10 calls).
 */
export function serverApiBuckets(appKey: string, endpoint: string, config: Pick<Config, 'rateLimitServerApiScale' | 'rateLimitAppPerSecond' | 'rateLimitAppBurst'>, items = 1): Bucket[] {
  const buckets: Bucket[] = [];
  const perSecond = (RATES[endpoint] ?? DEFAULT_RATE) * config.rateLimitServerApiScale;
  if (perSecond > 0) buckets.push({ key: `server-api:${appKey}:${endpoint}`, perSecond, burst: Math.max(1, Math.round(perSecond)), cost: items });
  if (config.rateLimitAppPerSecond > 0) buckets.push({ key: `app:${appKey}`, perSecond: config.rateLimitAppPerSecond, burst: config.rateLimitAppBurst });
  return buckets;
}
