import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database.ts';

export interface Readiness {
  /** 200 while requests can be served; 503 when the database is unreachable */
  httpStatus: 200 | 503;
  body: { status: 'ready' | 'degraded' | 'unavailable'; database: 'ok' | 'unreachable'; redis?: 'ok' | 'unreachable' };
}

/**
 * What /ready reports. The database is required: without it nothing works, and a load balancer
 * should send traffic elsewhere (503). Redis is not: without it real time still works from the
 * event log (at EVENT_POLL_MS latency between instances) and rate limits hold per instance, so
 * the instance stays in (200, "degraded") rather than every instance leaving at once when Redis blinks.
 */
export async function checkReadiness(db: Kysely<Database>, redis: { reachable(): boolean } | undefined): Promise<Readiness> {
  const database = await sql`select 1`.execute(db).then(
    () => 'ok' as const,
    () => 'unreachable' as const,
  );
  const redisState = redis ? (redis.reachable() ? ('ok' as const) : ('unreachable' as const)) : undefined;
  const status = database !== 'ok' ? 'unavailable' : redisState === 'unreachable' ? 'degraded' : 'ready';
  return { httpStatus: database === 'ok' ? 200 : 503, body: { status, database, ...(redisState ? { redis: redisState } : {}) } };
}
