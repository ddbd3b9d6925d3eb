import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { connectLive } from './helpers/ws.ts';

function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',');
    if (wanted.every((w) => present.includes(w))) return Number(match[3]);
  }
  return undefined;
}

describe('/metrics and request ids', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());
  const scrape = async () => (await fetch(server.url.replace('/graphql', '/metrics'))).text();

  it('counts operations by name, type and transport, and errors by code', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    await alice.ok('query MyProfile { myUserProfile { userId } }');
    await alice.ok('query MyProfile { myUserProfile { userId } }');
    await server.anonymous.fails('query MyProfile { myUserProfile { userId } }');
    const text = await scrape();
    expect(metric(text, 'phs_graphql_operations_total', { operation: 'MyProfile', type: 'query', transport: 'http' })).toBeGreaterThanOrEqual(3);
    expect(metric(text, 'phs_graphql_operation_duration_seconds_count', { operation: 'MyProfile', type: 'query' })).toBeGreaterThanOrEqual(3);
    expect(metric(text, 'phs_graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBeGreaterThanOrEqual(1);
    expect(text).toContain('phs_process_cpu_seconds_total');
  });

  it('reports open connections, online users, events published and delivered, and fan-out time', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const live = connectLive(server.url, { authToken: alice.token, platform: 'WEB' });
    await live.connected;
    const own = live.subscribe('subscription { ownUserProfileChanged { name } }');
    await new Promise((r) => setTimeout(r, 100));
    await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "A" }) { version } }');
    await own.waitFor(1);
    const text = await scrape();
    expect(metric(text, 'phs_ws_connections')).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'phs_online_users')).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'phs_events_published_total', { kind: 'ownProfile' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'phs_events_delivered_total', { field: 'ownUserProfileChanged' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'phs_fanout_duration_seconds_count', { change: 'profileChanged' })).toBeGreaterThanOrEqual(1);
    await live.dispose();
  });

  it('echoes the caller\'s X-Request-Id, or makes one', async () => {
    const given = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'trace-123' }, body: '{"query":"{ __typename }"}' });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const made = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('structured logs', () => {
  let proc: ServerProcess;
  beforeAll(async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    proc = await startServerProcess({ DATA_DIR: mkdtempSync(join(tmpdir(), 'phs-logs-')), LOG_FORMAT: 'json', LOG_LEVEL: 'info', DATABASE_URL: '', REDIS_URL: '' });
  }, 90_000);
  afterAll(() => proc?.stop());

  it('writes one JSON line per request with its id, and never a credential', async () => {
    const appKey = /appKey=(\S+)/.exec(proc.output())![1]!;
    const appSecret = /appSecret=(\S+)/.exec(proc.output())![1]!;
    const backend = new GraphQLClient(proc.url, basic(appKey, appSecret), { 'x-request-id': 'log-test-1' });
    const { token } = (await backend.ok('mutation Issue { issueUserToken(userId: "alice") { token } }')).issueUserToken;
    await new GraphQLClient(proc.url, bearer(token)).ok('query Me { myUserProfile { userId } }');
    await new Promise((r) => setTimeout(r, 300));
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const issued = lines.find((l) => l.reqId === 'log-test-1');
    expect(issued).toMatchObject({ msg: 'request', method: 'POST', path: '/graphql', status: 200, operation: 'Issue', type: 'mutation' });
    expect(typeof issued.ms).toBe('number');
    expect(lines.some((l) => l.operation === 'Me')).toBe(true);
    const logged = proc.output();
    expect(logged).not.toContain(token);
    expect(logged.split(appSecret).length - 1).toBe(1); // only the start-up banner prints the dev secret
  });
});
