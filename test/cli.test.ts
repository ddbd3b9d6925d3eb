import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { GraphQLClient, basic } from './helpers/client.ts';
import { startTestServer, TEST_SECRET_ENCRYPTION_KEY } from './helpers/server.ts';
import { signatureOf } from '../src/rongcloud-api/signature.ts';

// `npm run migrate` and `npm run app:create` (tsx scripts/*.ts), run as real processes.
const ROOT = resolve(import.meta.dirname, '..');
const DATABASE_URL = process.env.DATABASE_URL;

/** Runs a script with the environment of the test run, DATABASE_URL replaced (or removed) as given. */
function runScript(script: string, args: string[], env: { DATA_DIR?: string; DATABASE_URL?: string; SECRET_ENCRYPTION_KEY?: string }) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATA_DIR', 'TOKEN_SECRET', 'SECRET_ENCRYPTION_KEY', 'OPERATOR_TOKEN']) delete childEnv[name];
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

const migrate = (env: Parameters<typeof runScript>[2]) => runScript('scripts/migrate.ts', [], env);
const appCreate = (args: string[], env: Parameters<typeof runScript>[2]) => runScript('scripts/app-create.ts', args, env);

function printedCredentials(stdout: string) {
  const appKey = /^appKey=(\S+)$/m.exec(stdout)?.[1];
  const appSecret = /^appSecret=(\S+)$/m.exec(stdout)?.[1];
  expect(appKey, stdout).toBeDefined();
  expect(appSecret, stdout).toBeDefined();
  expect(stdout).toContain(`Basic auth header: ${basic(appKey!, appSecret!)}`);
  return { appKey: appKey!, appSecret: appSecret! };
}

/**
 * The app's backend works with the printed credentials: it reads its settings and issues a token,
 * over GraphQL and over the RongCloud server API (signed at the server's time, `nowMs`).
 */
async function expectWorkingApp(url: string, credentials: { appKey: string; appSecret: string }, name: string, nowMs: () => number = Date.now) {
  const backend = new GraphQLClient(url, basic(credentials.appKey, credentials.appSecret));
  const data = await backend.ok('{ appSettings { appKey name } }');
  expect(data.appSettings).toEqual({ appKey: credentials.appKey, name });
  const token = await backend.ok('mutation { issueUserToken(userId: "cli-user") { token } }');
  expect(token.issueUserToken.token).toBeTruthy();
  const nonce = String(Math.random());
  const timestamp = String(Math.floor(nowMs() / 1000));
  const response = await fetch(url.replace(/\/graphql$/, '/user/getToken.json'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'App-Key': credentials.appKey, Nonce: nonce, Timestamp: timestamp, Signature: signatureOf(credentials.appSecret, nonce, timestamp) },
    body: 'userId=cli-user',
  });
  expect(await response.json()).toMatchObject({ code: 200, userId: 'cli-user' });
}

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'phs-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('CLI on the embedded database (DATA_DIR)', () => {
  it('npm run migrate applies the migrations to a fresh DATA_DIR, then reports it is up to date', async () => {
    const first = await migrate({ DATA_DIR: dataDir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`embedded database under ${dataDir}: applied`);
    expect(first.stdout).toMatch(/applied 2026-11-25T2200_initial/);

    const again = await migrate({ DATA_DIR: dataDir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already up to date, no migration applied');
  }, 60_000);

  it('npm run app:create -- --name X creates an app whose printed credentials work on the server', async () => {
    const result = await appCreate(['--name', 'CLI app'], { DATA_DIR: dataDir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Created app "CLI app"');
    const credentials = printedCredentials(result.stdout);

    const app = await buildApp({ config: { port: 0, host: '127.0.0.1', metricsPort: null }, database: { kind: 'embedded', dataDir } });
    try {
      const { url } = await app.start();
      await expectWorkingApp(url, credentials, 'CLI app');
    } finally {
      await app.stop();
    }
  }, 60_000);

  it('app:create without --name is a usage error (exit 2), and so is an unknown option', async () => {
    const missing = await appCreate([], { DATA_DIR: dataDir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--name is required');
    expect(missing.stderr).toContain('usage: npm run app:create -- --name <app name>');
    expect(missing.stdout).not.toContain('appKey=');

    const unknown = await appCreate(['--nmae', 'typo'], { DATA_DIR: dataDir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('usage: npm run app:create');
  }, 60_000);

  it('migrate fails with a clear message and a non-zero exit when the database is unreachable', async () => {
    const result = await migrate({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unreachable' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('migrate failed: cannot migrate the PostgreSQL database postgres://postgres@127.0.0.1:1/unreachable');
    expect(result.stderr).toContain('ECONNREFUSED');
  }, 60_000);
});

describe.skipIf(!DATABASE_URL)('CLI on PostgreSQL (DATABASE_URL; skipped when DATABASE_URL is unset)', () => {
  it('npm run migrate brings DATABASE_URL to the latest migration and is idempotent', async () => {
    const first = await migrate({ DATABASE_URL });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/PostgreSQL database .*: (applied|already up to date)/);
    const again = await migrate({ DATABASE_URL });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already up to date, no migration applied');
  }, 60_000);

  it('npm run app:create -- --name X on DATABASE_URL creates an app that a server on that database accepts', async () => {
    const result = await appCreate(['--name', 'CLI postgres app'], { DATABASE_URL, SECRET_ENCRYPTION_KEY: TEST_SECRET_ENCRYPTION_KEY });
    expect(result.code, result.stderr).toBe(0);
    const credentials = printedCredentials(result.stdout);
    const server = await startTestServer();
    try {
      await expectWorkingApp(server.url, credentials, 'CLI postgres app', () => server.clock.now().getTime());
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('npm run app:create on DATABASE_URL without SECRET_ENCRYPTION_KEY fails in one line and creates nothing', async () => {
    const result = await appCreate(['--name', 'CLI keyless app'], { DATABASE_URL });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^app:create failed: SECRET_ENCRYPTION_KEY .* is required with DATABASE_URL/);
    expect(result.stdout).not.toContain('appSecret=');
  }, 60_000);
});
