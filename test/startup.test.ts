import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';

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
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'TOKEN_SECRET', 'OPERATOR_TOKEN', 'DATA_DIR', 'PORT', 'HOST', 'GRAPHIQL']) delete env[name];
  return { ...env, ...extra };
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
    expect(await ready.json()).toEqual({ status: 'ready' });
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
    const { output, exited } = spawnServer(bareEnv({ DATA_DIR: dataDir, PORT: String(await freePort()), HOST: '127.0.0.1', ...env }));
    const code = await exited;
    return { code, stderr: output.stderr, stdout: output.stdout };
  }

  it('DATABASE_URL without TOKEN_SECRET exits non-zero, naming TOKEN_SECRET, before serving anything', async () => {
    // port 1: nothing listens there, and the check must come before any connection attempt
    const result = await startFailing({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/TOKEN_SECRET \(at least 32 bytes\) is required with DATABASE_URL/);
    expect(result.stderr).not.toMatch(/ECONNREFUSED/);
    expect(result.stdout).not.toMatch(READY);
  }, 20_000);

  it('a too short TOKEN_SECRET is refused with a clear message', async () => {
    const result = await startFailing({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', TOKEN_SECRET: 'short' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/invalid configuration: TOKEN_SECRET: TOKEN_SECRET must be at least 32 bytes/);
    expect(result.stdout).not.toMatch(READY);
  }, 20_000);
});
