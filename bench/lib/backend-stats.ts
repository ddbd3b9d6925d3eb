/**
 * Counters of the shared backends (PostgreSQL, Redis), read before and after a phase so that a
 * scenario can report what the phase cost them. All cumulative; `delta` subtracts two readings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type pg from 'pg';

export type Counters = Record<string, number>;

/**
 * This database's pg_stat_database row. PostgreSQL 15 flushes a backend's counts at most once a
 * second (an idle one within 10 s): a reading lags the traffic by about that much.
 */
export async function postgresCounters(client: pg.Client): Promise<Counters> {
  const { rows } = await client.query(
    `select xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted, blks_hit, blks_read
     from pg_stat_database where datname = current_database()`,
  );
  return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
}

/** Redis INFO: commands, network bytes, its CPU (ms), and calls per command (`calls_<command>`). */
export async function redisCounters(redis: Redis): Promise<Counters> {
  const info = (await redis.info('stats')) + (await redis.info('cpu')) + (await redis.info('commandstats'));
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  const out: Counters = {
    total_commands_processed: field('total_commands_processed'),
    total_net_input_bytes: field('total_net_input_bytes'),
    total_net_output_bytes: field('total_net_output_bytes'),
    cpu_ms: Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1000),
  };
  for (const m of info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) out[`calls_${m[1]}`] = Number(m[2]);
  return out;
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function statFields(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return undefined;
  }
}

/** The postmaster (parent) of a PostgreSQL backend: the server this connection talks to, when it runs on this machine. */
export async function postmasterOf(client: pg.Client): Promise<number | undefined> {
  const { rows } = await client.query('select pg_backend_pid() as pid');
  const pid = Number(rows[0].pid);
  // the pid is only ours to read if PostgreSQL runs in this machine's process namespace
  if (commOf(pid) !== 'postgres') return undefined;
  const ppid = Number(statFields(pid)?.[1]);
  return ppid > 1 && commOf(ppid) === 'postgres' ? ppid : undefined;
}

/**
 * CPU time (ms) of a local PostgreSQL server: its postmaster's own, that of its reaped children
 * (cutime/cstime: backends that exited) and that of its live children. Linux only; undefined when
 * the postmaster is not visible (e.g. PostgreSQL in a container). Counts every database's work.
 */
export function postgresCpuMs(postmaster: number | undefined): number | undefined {
  if (postmaster === undefined) return undefined;
  const own = statFields(postmaster);
  if (!own) return undefined;
  const ticks = (f: string[], n: number) => f.slice(11, 11 + n).reduce((s, v) => s + Number(v), 0);
  let total = ticks(own, 4); // utime stime cutime cstime
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === postmaster) total += ticks(f, 2);
  }
  return (total * 1000) / 100;
}

export function delta(after: Counters, before: Counters): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0 && Number.isFinite(d)) out[k] = d;
  }
  return out;
}
