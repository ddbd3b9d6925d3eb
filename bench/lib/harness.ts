import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import pg from 'pg';
import { TokenService } from '../../src/auth/tokens.ts';
import { systemClock } from '../../src/clock.ts';
import { APP_KEY, DATABASE_URL, OPERATOR_TOKEN, POOL_SIZE, PROFILE, PROFILES_DIR, REDIS_URL, TOKEN_SECRET, log } from './config.ts';
import { rpc, spawnNode, type ServerProc } from './proc.ts';
import { now, type Spread } from './stats.ts';

const tokenService = new TokenService(TOKEN_SECRET, systemClock);
const tokenCache = new Map<string, string>();

/** A user token as issueUserToken would sign it (generation 0, as seeded), valid for a day. */
export async function tokenFor(userId: string): Promise<string> {
  let token = tokenCache.get(userId);
  if (!token) {
    token = (await tokenService.issue({ appKey: APP_KEY, userId, generation: 0 }, 86_400)).token;
    tokenCache.set(userId, token);
  }
  return token;
}

export const tokensFor = (ids: string[]) => Promise.all(ids.map(tokenFor));

/**
 * Environment of our server process. Abuse limits are off: the floor has none, and the load comes
 * from few users at rates far above the per-user production defaults.
 */
export function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL,
    TOKEN_SECRET,
    SECRET_ENCRYPTION_KEY: 'bench-secret-encryption-key-0123456789-0123456789',
    OPERATOR_TOKEN,
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    REDIS_URL: '',
    GRAPHIQL: 'false',
    RATE_LIMIT_USER_PER_SECOND: '0',
    RATE_LIMIT_APP_PER_SECOND: '0',
    // the load comes from a few 127.0.0.x addresses, each standing for thousands of devices
    RATE_LIMIT_IP_PER_SECOND: '0',
    RATE_LIMIT_IP_CONNECTS_PER_SECOND: '0',
    RATE_LIMIT_USER_CONNECTS_PER_SECOND: '0',
    WS_MAX_CONNECTIONS_PER_USER: '100000',
    ...extra,
  };
}

/** Environment of a floor process. */
export function floorEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL, TOKEN_SECRET, POOL_SIZE: String(POOL_SIZE), ...extra };
}

/** One GraphQL POST; returns the parsed body and when the response was complete (absolute ms). */
export async function post(url: string, body: string, token: string): Promise<{ json: any; text: string; at: number; sentAt: number }> {
  const sentAt = now();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  const text = await response.text();
  const at = now();
  return { json: JSON.parse(text), text, at, sentAt };
}

/** A load process (bench/load/*.ts) with an IPC channel, ready for commands. */
export interface LoadProc {
  child: ChildProcess;
  call<T = any>(message: object, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startLoad(entry: string): Promise<LoadProc> {
  const child = spawnNode(['--import', 'tsx', entry], {}, { ipc: true });
  let output = '';
  child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)));
  child.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start:\n${output}`)), 60_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}:\n${output}`)));
  });
  return {
    child,
    call: (message, timeoutMs) => rpc(child, message, 'reply', timeoutMs),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs `fn` with the CPU profiler on in the given servers when BENCH_PROFILE=1. */
export async function profiled<T>(scenario: string, servers: ServerProc[], fn: () => Promise<T>): Promise<T> {
  if (!PROFILE) return fn();
  mkdirSync(PROFILES_DIR, { recursive: true });
  await Promise.all(servers.map((s) => s.profileStart()));
  try {
    return await fn();
  } finally {
    await Promise.all(servers.map((s) => s.profileStop(`${PROFILES_DIR}/${scenario}-${s.name}.cpuprofile`)));
  }
}

/**
 * Stops servers without the graceful path: taking thousands of sockets offline one presence
 * transaction at a time would only load the database for the next scenario. Their presence rows
 * are removed directly afterwards (no bench server is alive between scenarios).
 */
export async function killServers(servers: (ServerProc | undefined)[]): Promise<void> {
  await Promise.all(servers.map((s) => s?.kill()));
  await clearPresence();
}

export async function clearPresence(): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query('delete from presence_connections where app_key = $1', [APP_KEY]);
    // killed instances' rows would be reaped by the next server after its timeout; old ones go now
    await client.query("delete from server_instances where heartbeat_at < now() - interval '1 minute'");
  } finally {
    await client.end();
  }
}

/** Compares two JSON documents after masking the values that legitimately differ between two runs. */
export function sameShape(a: unknown, b: unknown, masked: string[], path = '$'): string | null {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) return `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  if (a && typeof a === 'object') {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    if (ka.join() !== kb.join()) return `${path}: keys ${ka.join()} vs ${kb.join()}`;
    for (const k of ka) {
      if (masked.includes(k)) continue;
      const problem = sameShape((a as any)[k], (b as any)[k], masked, `${path}.${k}`);
      if (problem) return problem;
    }
    return null;
  }
  return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

export interface Figure {
  /** what is measured, with its unit */
  label: string;
  server: Spread;
  floor?: Spread;
  /** server / floor, per round, then median/min/max */
  ratio?: Spread;
  /** the same figure for the scenario's peer (another stack doing the same work, e.g. socket.io) */
  peer?: Spread;
  /** server / peer, per round, then median/min/max */
  peerRatio?: Spread;
}

export interface ScenarioResult {
  name: string;
  description: string;
  target: string;
  /** whether the target was met in this run; null when the run cannot tell (e.g. quick mode) */
  met: boolean | null;
  figures: Record<string, Figure>;
  /** what the figures' `peer` spreads measure, when the scenario has a peer */
  peer?: string;
  notes: string[];
  seconds: number;
}

export { REDIS_URL, log };
