import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { signatureOf } from '../src/rongcloud-api/signature.ts';

// The zero-setup start, as `npm start` runs it: a real process on the embedded database.
const ROOT = resolve(import.meta.dirname, '..');
const children = new Set<ChildProcess>();

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((done) => probe.close(() => done()));
  return port;
}

/** The environment of a machine with no configuration at all (nothing of the test run's own). */
function bareEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'TOKEN_SECRET', 'SECRET_ENCRYPTION_KEY', 'OPERATOR_TOKEN', 'DATA_DIR', 'PORT', 'HOST', 'GRAPHIQL', 'METRICS_HOST', 'METRICS_TOKEN']) delete env[name];
  // a free metrics port: the default (9464) may be taken by another test run on this machine
  return { ...env, METRICS_PORT: '0', ...extra };
}

function spawnServer(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const output = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
  const exited = new Promise<number | null>((done) =>
    child.once('exit', (code) => {
      children.delete(child);
      done(code);
    }),
  );
  return { child, output, exited };
}

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
  stdout: string;
  graphiqlUrl: string;
  appKey: string;
  appSecret: string;
  operatorToken: string;
}

const READY = /Profile hosting server ready: GraphQL endpoint at (http:\/\/\S+\/graphql)/;
const DEV_APP = /appKey=(\S+)\s+appSecret=(\S+)/;
const OPERATOR = /Operator token: (\S+)/;
const METRICS = /Prometheus metrics at (http:\/\/\S+\/metrics)/;

/** Starts `npm start`'s command and waits until it printed the ready line and its credentials. */
async function startServer(dataDir: string, port: number): Promise<Running> {
  const { child, output, exited } = spawnServer(bareEnv({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' }));
  const deadline = Date.now() + 120_000; // an embedded database starts slowly on a loaded 2-core machine
  while (!(READY.test(output.stdout) && DEV_APP.test(output.stdout) && OPERATOR.test(output.stdout))) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output.stdout}\n${output.stderr}`);
    if (Date.now() > deadline) throw new Error(`server printed no ready line within 120 s:\n${output.stdout}\n${output.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const [, appKey, appSecret] = DEV_APP.exec(output.stdout)!;
  return {
    child,
    exited,
    stdout: output.stdout,
    graphiqlUrl: READY.exec(output.stdout)![1]!,
    appKey: appKey!,
    appSecret: appSecret!,
    operatorToken: OPERATOR.exec(output.stdout)![1]!,
  };
}

async function stopServer(server: Running): Promise<number | null> {
  server.child.kill('SIGTERM');
  return server.exited;
}

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'phs-startup-'));
});
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('zero-setup start (node --import tsx src/main.ts, as npm start) on the embedded database', () => {
  let first: Running;
  let port: number;
  let userToken: string;

  it('comes up on an empty DATA_DIR and prints a dev app, an operator token and the GraphiQL URL', async () => {
    port = await freePort();
    first = await startServer(dataDir, port);
    expect(first.graphiqlUrl).toBe(`http://127.0.0.1:${port}/graphql`);
    expect(first.appKey).toMatch(/^[\w-]{16,}$/);
    expect(first.appSecret).toMatch(/^[\w-]{32,}$/);
    expect(first.operatorToken).toMatch(/^[\w-]{16,}$/);
    expect(first.stdout).toContain(`Basic auth header: ${basic(first.appKey, first.appSecret)}`);
    // the generated secrets are kept beside the data, readable by the owner only
    expect(statSync(join(dataDir, 'dev-secrets.json')).mode & 0o077).toBe(0);

    const base = first.graphiqlUrl.replace(/\/graphql$/, '');
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'ok' });
    // the metrics listener is printed, on loopback, and /metrics is not on the public port
    const metricsUrl = METRICS.exec(first.stdout)?.[1];
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(metricsUrl!)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    // the RongCloud server API is printed, and the printed dev app signs its requests
    expect(first.stdout).toContain(`RongCloud server API at ${base} `);
    const nonce = '523946.2375803417';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signed = await fetch(`${base}/user/checkOnline.json`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'App-Key': first.appKey, Nonce: nonce, Timestamp: timestamp, Signature: signatureOf(first.appSecret, nonce, timestamp) },
      body: 'userId=nobody',
    });
    expect(await signed.json()).toEqual({ code: 200, status: '0' });
    const graphiql = await fetch(first.graphiqlUrl, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    expect(graphiql.headers.get('content-type')).toMatch(/^text\/html/);
    await graphiql.arrayBuffer();
  }, 150_000);

  it('the printed credentials work: the operator creates an app, the dev app issues a token and sets a profile', async () => {
    const operator = new GraphQLClient(first.graphiqlUrl, bearer(first.operatorToken));
    const created = await operator.ok('mutation { createApp(name: "second app") { appKey appSecret } }');
    expect(created.createApp.appKey).not.toBe(first.appKey);

    const backend = new GraphQLClient(first.graphiqlUrl, basic(first.appKey, first.appSecret));
    await backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "Alice", uniqueId: "alice01", email: "alice@example.com" }) { version } }');
    userToken = (await backend.ok('mutation { issueUserToken(userId: "alice") { token } }')).issueUserToken.token;
    const alice = new GraphQLClient(first.graphiqlUrl, bearer(userToken));
    expect((await alice.ok('{ myUserProfile { userId name email } }')).myUserProfile).toEqual({ userId: 'alice', name: 'Alice', email: 'alice@example.com' });
  });

  it('SIGTERM stops it cleanly; a restart on the same DATA_DIR prints the same credentials and keeps data and tokens', async () => {
    expect(await stopServer(first)).toBe(0);
    const second = await startServer(dataDir, await freePort());
    expect({ appKey: second.appKey, appSecret: second.appSecret, operatorToken: second.operatorToken }).toEqual({
      appKey: first.appKey,
      appSecret: first.appSecret,
      operatorToken: first.operatorToken,
    });

    // the token issued before the restart still works, and the profile is still there
    const alice = new GraphQLClient(second.graphiqlUrl, bearer(userToken));
    expect((await alice.ok('{ myUserProfile { userId name uniqueId email } }')).myUserProfile).toEqual({
      userId: 'alice',
      name: 'Alice',
      uniqueId: 'alice01',
      email: 'alice@example.com',
    });
    expect((await alice.ok('{ searchUserProfileByUniqueId(uniqueId: "alice01") { userId } }')).searchUserProfileByUniqueId).toEqual({ userId: 'alice' });
    const backend = new GraphQLClient(second.graphiqlUrl, basic(second.appKey, second.appSecret));
    expect((await backend.ok('{ adminUserProfiles(userIds: ["alice"]) { userId name } }')).adminUserProfiles).toEqual([{ userId: 'alice', name: 'Alice' }]);
    // the operator token still creates apps
    const operator = new GraphQLClient(second.graphiqlUrl, bearer(second.operatorToken));
    await operator.ok('mutation { createApp(name: "third app") { appKey } }');
    expect(await stopServer(second)).toBe(0);
  }, 150_000);
});

describe('fails fast on a bad production configuration', () => {
  async function startFailing(env: Record<string, string>) {
    const started = Date.now();
    const { output, exited } = spawnServer(bareEnv({ DATA_DIR: dataDir, PORT: String(await freePort()), HOST: '127.0.0.1', ...env }));
    const code = await exited;
    return { code, stderr: output.stderr, stdout: output.stdout, ms: Date.now() - started };
  }
  const SECRET = 'startup-test-token-secret-0123456789-0123456789';

  /** SPEC §14: one line on stderr, naming the problem, no stack; a non-zero exit; nothing served. */
  function expectOneLine(result: Awaited<ReturnType<typeof startFailing>>, prefix: 'invalid configuration: ' | 'cannot start: ', names: RegExp) {
    const lines = result.stderr.split('\n').filter((l) => l.length > 0);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]!.startsWith(prefix), lines[0]).toBe(true);
    expect(lines[0]).toMatch(names);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull(); // exited by itself, not killed
    expect(result.stdout).not.toMatch(READY);
  }

  it.each([
    ['PORT=abc', { PORT: 'abc' }, /PORT: must be a whole number from 0 to 65535.*"abc"/],
    ['PORT=70000', { PORT: '70000' }, /PORT: must be a whole number from 0 to 65535.*"70000"/],
    ['METRICS_PORT=maybe', { METRICS_PORT: 'maybe' }, /METRICS_PORT: .*or off/],
    ['DATABASE_STATEMENT_TIMEOUT_MS=-1', { DATABASE_STATEMENT_TIMEOUT_MS: '-1' }, /DATABASE_STATEMENT_TIMEOUT_MS/],
    // port 1: nothing listens there, and the check must come before any connection attempt
    ['DATABASE_URL without TOKEN_SECRET', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }, /TOKEN_SECRET \(at least 32 bytes\) is required with DATABASE_URL/],
    ['a too short TOKEN_SECRET', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', TOKEN_SECRET: 'short' }, /TOKEN_SECRET: TOKEN_SECRET must be at least 32 bytes/],
    ['DATABASE_URL without SECRET_ENCRYPTION_KEY', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', TOKEN_SECRET: SECRET }, /SECRET_ENCRYPTION_KEY \(at least 32 bytes\) is required with DATABASE_URL/],
    ['a too short SECRET_ENCRYPTION_KEY', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', TOKEN_SECRET: SECRET, SECRET_ENCRYPTION_KEY: 'short' }, /SECRET_ENCRYPTION_KEY: SECRET_ENCRYPTION_KEY must be at least 32 bytes/],
  ])('%s: one line "invalid configuration: …", exit 2', async (_name, env, names) => {
    const result = await startFailing(env);
    expectOneLine(result, 'invalid configuration: ', names);
    expect(result.code).toBe(2);
  }, 30_000);

  it('an unreachable DATABASE_URL (nothing on port 1): one line "cannot start: …" naming it, within seconds', async () => {
    const result = await startFailing({ DATABASE_URL: 'postgres://postgres:hunter2-password@127.0.0.1:1/none', TOKEN_SECRET: SECRET, SECRET_ENCRYPTION_KEY: SECRET });
    expectOneLine(result, 'cannot start: ', /PostgreSQL at 127\.0\.0\.1:1\/none: .*ECONNREFUSED/);
    expect(result.stderr + result.stdout).not.toContain('hunter2-password');
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(20_000);
  }, 30_000);

  it('an unreachable REDIS_URL (nothing on port 1): one line "cannot start: …" naming it, after its 5 s wait', async () => {
    const result = await startFailing({ REDIS_URL: 'redis://127.0.0.1:1' });
    expectOneLine(result, 'cannot start: ', /Redis at 127\.0\.0\.1:1 unreachable after 5000 ms \(connect ECONNREFUSED/);
    expect(result.code).toBe(1);
  }, 60_000);

  it.each([
    ['PORT', (port: number) => ({ PORT: String(port) }), /127\.0\.0\.1:\d+ is already in use \(PORT, HOST\)/],
    ['METRICS_PORT', (port: number) => ({ METRICS_PORT: String(port) }), /127\.0\.0\.1:\d+ is already in use \(METRICS_PORT, METRICS_HOST\)/],
  ])('%s in use: one line "cannot start: …" naming the setting', async (_name, env, names) => {
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    try {
      const result = await startFailing(env((taken.address() as { port: number }).port));
      expectOneLine(result, 'cannot start: ', names);
      expect(result.code).toBe(1);
    } finally {
      await new Promise<void>((done) => taken.close(() => done()));
    }
  }, 150_000);
});
