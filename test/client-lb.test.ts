// docker-compose.yml's topology without Docker: two server processes on one PostgreSQL and one
// Redis, behind nginx running deploy/nginx.conf itself (only its upstream addresses and listen
// port are rewritten), with SDK clients connected through the load balancer.
// Needs DATABASE_URL, REDIS_URL and an nginx binary (apt-get install nginx-light); skipped otherwise.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Events, Platform, SubscribeType } from '../src/client/index.ts';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { record, type RecordedClient } from './helpers/sdk.ts';
import { createProfileClient } from '../src/client/index.ts';
import WebSocket from 'ws';

const { DATABASE_URL, REDIS_URL } = process.env;
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const OPERATOR = 'lb-operator-token-0123456789abcdef';

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

describe.skipIf(!DATABASE_URL || !REDIS_URL || !NGINX)('two instances behind nginx (deploy/nginx.conf; needs DATABASE_URL, REDIS_URL and nginx)', () => {
  const env = {
    DATABASE_URL: DATABASE_URL!,
    REDIS_URL: REDIS_URL!,
    TOKEN_SECRET: 'lb-token-secret-0123456789-0123456789-0123',
    SECRET_ENCRYPTION_KEY: 'test-secret-encryption-key-0123456789-0123456789',
    OPERATOR_TOKEN: OPERATOR,
    PRESENCE_HEARTBEAT_MS: '300',
    PRESENCE_TIMEOUT_MS: '1500',
  };
  let ports: [number, number];
  const servers: (ServerProcess | undefined)[] = [];
  let nginx: ChildProcess;
  let dir: string;
  let lbUrl: string;
  const clients: RecordedClient[] = [];

  const start = async (i: 0 | 1) => (servers[i] = await startServerProcess({ ...env, PORT: String(ports[i]) }));

  beforeAll(async () => {
    ports = [await freePort(), await freePort()];
    const lbPort = await freePort();
    await Promise.all([start(0), start(1)]);
    dir = mkdtempSync(join(tmpdir(), 'phs-lb-'));
    const conf = readFileSync(resolve(import.meta.dirname, '..', 'deploy', 'nginx.conf'), 'utf8')
      .replace('server-a:4000', `127.0.0.1:${ports[0]}`)
      .replace('server-b:4000', `127.0.0.1:${ports[1]}`)
      .replace('listen 80;', `listen 127.0.0.1:${lbPort};`)
      .replace('access_log /dev/stdout;', 'access_log off;');
    expect(conf).not.toMatch(/server-[ab]:4000|listen 80;/);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawn(NGINX!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], { stdio: 'ignore' });
    lbUrl = `http://127.0.0.1:${lbPort}/graphql`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${lbPort}/lb-health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (i > 100) throw new Error('nginx did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.client.disconnect()));
    nginx?.kill('SIGTERM');
    await Promise.allSettled(servers.map((s) => s?.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves /health and /graphql through the load balancer', async () => {
    const health = await fetch(lbUrl.replace('/graphql', '/health'));
    expect(health.status).toBe(200);
    const response = await new GraphQLClient(lbUrl).request('{ __typename }');
    expect(response.data).toEqual({ __typename: 'Query' });
  });

  it('SDK clients behind nginx: events cross instances; stopping either instance moves its clients to the other, which resyncs them', async () => {
    const creds = (await new GraphQLClient(lbUrl, bearer(OPERATOR)).ok('mutation { createApp(name: "lb") { appKey appSecret } }')).createApp;
    const backend = new GraphQLClient(lbUrl, basic(creds.appKey, creds.appSecret));
    const sdk = async (userId: string, platform: Platform) => {
      const { token } = (await backend.ok('mutation($u: ID!) { issueUserToken(userId: $u) { token } }', { u: userId })).issueUserToken;
      const client = createProfileClient({ url: lbUrl, token, platform, webSocketImpl: WebSocket, retryWait: (n) => new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** n))) });
      const recorded = record(client, token);
      clients.push(recorded);
      return recorded;
    };
    const alice = await sdk('alice', Platform.WEB);
    const bob = await sdk('bob', Platform.ANDROID);
    await alice.client.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 3600);
    await alice.client.connect();
    await bob.client.connect();
    await bob.client.updateMyUserProfile({ name: 'Bob 1' });
    const [, first] = await alice.waitFor(Events.SUBSCRIBED_USER_STATUS_CHANGE, 2); // sync, then the change
    expect(first).toMatchObject([{ userId: 'bob', subscribeType: 2, userProfile: { name: 'Bob 1' } }]);

    // a rolling restart: stop one instance, start it again, then the other
    for (const i of [0, 1] as const) {
      await servers[i]!.stop();
      await start(i);
    }
    // a client on the first instance moved twice (to the second, then back), one on the second
    // once; every move reconnected by itself and synced again
    for (const c of [alice, bob]) {
      const moves = c.of(Events.DISCONNECT);
      expect(moves.length).toBeGreaterThanOrEqual(1);
      expect(moves.length).toBeLessThanOrEqual(2);
      expect(moves.every((d) => d.willReconnect)).toBe(true);
      await c.waitFor(Events.CONNECTED, moves.length + 1);
      await c.waitFor(Events.SYNC_SUBSCRIBED_USER_STATUS_FINISHED, 4 * (moves.length + 1));
    }
    const before = alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE).length;
    expect(alice.of(Events.SUBSCRIBED_USER_STATUS_CHANGE)[before - 1]).toMatchObject([{ userId: 'bob', userProfile: { name: 'Bob 1' } }]); // the resync
    await bob.client.updateMyUserProfile({ name: 'Bob 2' });
    const after = await alice.waitFor(Events.SUBSCRIBED_USER_STATUS_CHANGE, before + 1, 15_000);
    expect(after[before]).toMatchObject([{ userId: 'bob', userProfile: { name: 'Bob 2' } }]);
  }, 180_000);
});
