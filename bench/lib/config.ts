import { fileURLToPath } from 'node:url';

/** Root of the repository (bench/ lives in it). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RESULTS_DIR = `${ROOT}bench/results`;
export const PROFILES_DIR = `${ROOT}bench/profiles`;

export const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/phs_bench';
export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
/** Same secret for the server under test and the floors: both verify the same JWTs. */
export const TOKEN_SECRET = 'bench-token-secret-0123456789-0123456789-abcdef';
export const OPERATOR_TOKEN = 'bench-operator-token-0123456789';
export const APP_KEY = 'bench-app';
/** Bumped whenever the seeded data changes shape: a database seeded by another version is re-seeded. */
export const SEED_VERSION = 'bench seed v4';
/** Pool size of the server (its default, DATABASE_POOL_SIZE=10) and of the floors. */
export const POOL_SIZE = 10;

/** BENCH_QUICK=1: one short round per scenario (the smoke test). */
export const QUICK = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
/** BENCH_PROFILE=1: one round per scenario with the V8 CPU profiler on in the server processes. */
export const PROFILE = /^(1|true|yes)$/i.test(process.env.BENCH_PROFILE ?? '');
/** Rounds per scenario (median of these is reported). */
export const ROUNDS = QUICK || PROFILE ? 1 : Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
/** Seconds of load per HTTP round. */
export const HTTP_SECONDS = QUICK ? 1 : Number(process.env.BENCH_HTTP_SECONDS ?? 5);

/** Scale: BENCH_QUICK shrinks the socket counts so that the smoke test stays well under a minute. */
export const SCALE = {
  readConnections: 50,
  writeSubscribers: QUICK ? 100 : 1000,
  fanoutSubscribers: QUICK ? 200 : 5000,
  fanoutChanges: QUICK ? 3 : 20,
  syncConnects: QUICK ? 2 : 10,
  idleConnections: QUICK ? 300 : 10_000,
  clusterSubscribers: QUICK ? 20 : 200,
  clusterChanges: QUICK ? 3 : 30,
  /** devices (one per user) that drop and reconnect at once */
  reconnectDevices: QUICK ? 200 : 2000,
  /** profile changes of subscribed targets made while the devices are away, before each reconnect */
  reconnectProfileChanges: QUICK ? 40 : 200,
  /** targets that come online (before one reconnect) and go offline again (before the other) */
  reconnectPresenceChanges: QUICK ? 20 : 100,
  /** profile changes made while the devices are connected (the live write load, once per round) */
  reconnectLiveChanges: QUICK ? 20 : 100,
  /** devices (one per user, the idle users) that drop at once and reconnect in a storm */
  stormDevices: QUICK ? 300 : 10_000,
};

export const log = (...parts: unknown[]) => process.stderr.write(`${parts.join(' ')}\n`);
