import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // one graphql module instance for everything (avoids "another module or realm")
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // each file boots its own server (and, without DATABASE_URL, its own embedded database)
    pool: 'forks',
    maxWorkers: 2,
    passWithNoTests: false,
    // request logs of servers that tests start themselves would drown the output; tests that read
    // logs set LOG_LEVEL for their own server processes
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  },
});
