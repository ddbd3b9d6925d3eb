import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const { DATABASE_URL } = process.env;
const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The benchmark harness must not rot: one short round (BENCH_QUICK=1) of two cheap scenarios
 * against PostgreSQL, in a database of its own that is dropped afterwards. Only the shape of
 * the result is checked — no timing assertion here (figures belong in BENCHMARKS.md).
 */
describe.skipIf(!DATABASE_URL)('bench harness smoke: BENCH_QUICK=1 read + sync (needs DATABASE_URL)', () => {
  // the body is collected even when skipped: no DATABASE_URL must not throw here
  const benchUrl = new URL(DATABASE_URL ?? 'postgres://unused/unused');
  const dbName = `${decodeURIComponent(benchUrl.pathname.slice(1))}_bench_smoke`;
  benchUrl.pathname = `/${dbName}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const admin = new URL(DATABASE_URL!);
    admin.pathname = '/postgres';
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    await client.query(`drop database if exists "${dbName}" with (force)`).catch(() => {});
    await client.end();
  });

  it('runs one short round and writes the figures as JSON', async () => {
    const output = join(dir, 'quick.json');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'read', 'sync'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: benchUrl.toString(), BENCH_QUICK: '1', BENCH_OUTPUT: output },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, log).toBe(0);

    const result = JSON.parse(readFileSync(output, 'utf8'));
    expect(result).toMatchObject({ quick: true, rounds: 1, machine: { cores: expect.any(Number), node: process.version, postgres: expect.any(String) } });
    const spread = { median: expect.any(Number), min: expect.any(Number), max: expect.any(Number), rounds: [expect.any(Number)] };
    expect(result.scenarios.read).toMatchObject({
      name: 'read',
      met: null,
      figures: {
        requestsPerSecond: { server: spread, floor: spread, ratio: spread },
        p50: { server: spread, floor: spread },
        p99: { server: spread, floor: spread },
      },
    });
    expect(result.scenarios.read.figures.requestsPerSecond.server.median).toBeGreaterThan(0);
    expect(result.scenarios.read.figures.requestsPerSecond.floor.median).toBeGreaterThan(0);
    expect(result.scenarios.sync).toMatchObject({ name: 'sync', figures: { p50: { server: spread } } });
    expect(log).toContain('responses identical');
  }, 120_000);
});
