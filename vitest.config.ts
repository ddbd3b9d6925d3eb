import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * Files that hold a write transaction (or a table lock) open on purpose, for seconds: on
 * PostgreSQL the event log is read only below the oldest running write transaction of the whole
 * cluster, so while one of them holds it every other file's real-time delivery waits, and tests
 * that check what a resume repeats or in which order changes arrive see the wait as a fault. They
 * run after the others, one at a time.
 */
const HOLDING_TRANSACTIONS = [
  'test/batching.test.ts',
  'test/db-timeouts.test.ts',
  'test/event-log.test.ts',
  'test/faults-errors.test.ts',
  'test/load-shedding.test.ts',
  'test/rolling-restart.test.ts',
  'test/shutdown.test.ts',
  'test/user-events.test.ts',
];

export default defineConfig({
  resolve: {
    // one graphql module instance for everything (avoids "another module or realm")
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // each file boots its own server (and, without DATABASE_URL, its own embedded database)
    pool: 'forks',
    maxWorkers: 2,
    passWithNoTests: false,
    // request logs of servers that tests start themselves would drown the output; tests that read
    // logs set LOG_LEVEL for their own server processes
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: HOLDING_TRANSACTIONS, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'holding-transactions', include: HOLDING_TRANSACTIONS, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
