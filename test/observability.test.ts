import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { OPERATOR_TOKEN, startTestServer, type TestServer } from './helpers/server.ts';
import { loadConfig } from '../src/config.ts';
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
  const scrape = async () => (await fetch(server.metricsUrl)).text();

  it('counts operations by root field, type and transport, and errors by code', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    await alice.ok('query MyProfile { myUserProfile { userId } }');
    await alice.ok('query MyProfile { myUserProfile { userId } }');
    await server.anonymous.fails('query MyProfile { myUserProfile { userId } }');
    const text = await scrape();
    expect(metric(text, 'phs_graphql_operations_total', { field: 'myUserProfile', type: 'query', transport: 'http' })).toBeGreaterThanOrEqual(3);
    expect(metric(text, 'phs_graphql_operation_duration_seconds_count', { field: 'myUserProfile', type: 'query' })).toBeGreaterThanOrEqual(3);
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

  it('labels stay a closed set under hostile operation names, aliases and fields', async () => {
    const app = await server.newApp();
    const alice = await app.user('alice');
    const series = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`)).length;
    const before = await scrape();
    const distinct = 300;
    for (let i = 0; i < distinct; i += 30) {
      await Promise.all(
        Array.from({ length: 30 }, (_, j) => {
          const n = `Hostile_${i + j}_${Math.random().toString(36).slice(2)}`;
          const documents = [
            `query ${n} { myUserProfile { userId } }`,
            `query ${n}_b { ${n}: myUserProfile { userId } }`,
            `query ${n}_c { a${i + j}: __typename b: __typename }`,
            `mutation ${n}_d { ${n}: nonexistentField }`,
          ];
          return Promise.all(documents.map((q) => alice.request(q)));
        }),
      );
    }
    const after = await scrape();
    expect(after).not.toMatch(/Hostile_/);
    // a handful of root fields, not one series per distinct name: before this rule, each name was one
    const grown = series(after, 'phs_graphql_operations_total') - series(before, 'phs_graphql_operations_total');
    expect(grown, after.split('\n').filter((l) => l.startsWith('phs_graphql_operations_total{')).join('\n')).toBeLessThanOrEqual(3);
    expect(metric(after, 'phs_graphql_operations_total', { field: 'myUserProfile', type: 'query', transport: 'http' })).toBeGreaterThanOrEqual(2 * distinct);
    expect(metric(after, 'phs_graphql_operations_total', { field: 'multiple', type: 'query', transport: 'http' })).toBeGreaterThanOrEqual(distinct);
    const codes = after.split('\n').filter((l) => l.startsWith('phs_graphql_errors_total{'));
    for (const line of codes) expect(line).toMatch(/code="(UNAUTHENTICATED|FORBIDDEN|BAD_USER_INPUT|NOT_FOUND|LIMIT_EXCEEDED|VERSION_CONFLICT|RATE_LIMITED|CURSOR_EXPIRED|INTERNAL|OTHER)"/);
  });

  it('echoes the caller\'s X-Request-Id, or makes one', async () => {
    const given = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'trace-123' }, body: '{"query":"{ __typename }"}' });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const made = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('where /metrics is served', () => {
  let server: TestServer | undefined;
  const METRICS_TOKEN = 'metrics-scrape-token-0123456789';
  const publicMetrics = (headers: Record<string, string> = {}) => fetch(server!.url.replace(/\/graphql$/, '/metrics'), { headers });
  /** each test starts its own server and stops it itself (the last one checks what a stop closes) */
  const start = async (config: Parameters<typeof startTestServer>[0]) => (server = await startTestServer(config));
  const stop = async () => {
    await server?.stop();
    server = undefined;
  };
  afterAll(stop);

  it('by default on 127.0.0.1:9464, and never on the public port', () => {
    const defaults = loadConfig({});
    expect({ port: defaults.metricsPort, host: defaults.metricsHost, token: defaults.metricsToken }).toEqual({ port: 9464, host: '127.0.0.1', token: undefined });
    expect(loadConfig({ METRICS_PORT: 'off' }).metricsPort).toBeNull();
    expect(() => loadConfig({ METRICS_PORT: 'maybe' })).toThrow(/^invalid configuration: METRICS_PORT: .*or off/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be at least 16 characters/);
  });

  it('the public port answers 404 without METRICS_TOKEN, even to the operator; the metrics listener answers on loopback', async () => {
    const { metricsUrl, url } = await start({});
    expect(new URL(metricsUrl).hostname).toBe('127.0.0.1');
    expect(new URL(metricsUrl).port).not.toBe(new URL(url).port);
    for (const headers of [{}, { authorization: `Bearer ${OPERATOR_TOKEN}` }, { authorization: 'Bearer ' }] as Record<string, string>[]) {
      const res = await publicMetrics(headers);
      expect(res.status, JSON.stringify(headers)).toBe(404);
      expect(await res.text()).not.toContain('phs_');
    }
    const scraped = await fetch(metricsUrl);
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await scraped.text()).toContain('phs_process_cpu_seconds_total');
    // the metrics listener serves nothing else
    expect((await fetch(metricsUrl.replace(/\/metrics$/, '/graphql'))).status).toBe(404);
    expect((await fetch(metricsUrl, { method: 'POST', body: '{}' })).status).toBe(404);
    await stop();
    // and it is closed with the server
    await expect(fetch(metricsUrl)).rejects.toThrow();
  });

  it('with METRICS_TOKEN the public port serves it to that bearer token only', async () => {
    await start({ config: { metricsToken: METRICS_TOKEN } });
    expect((await publicMetrics()).status).toBe(404);
    for (const wrong of [`Bearer ${METRICS_TOKEN}x`, `Bearer ${METRICS_TOKEN.slice(0, -1)}`, `Basic ${METRICS_TOKEN}`, METRICS_TOKEN, `Bearer ${OPERATOR_TOKEN}`]) {
      expect((await publicMetrics({ authorization: wrong })).status, wrong).toBe(404);
    }
    const res = await publicMetrics({ authorization: `Bearer ${METRICS_TOKEN}` });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('phs_graphql_operations_total');
    await stop();
  });

  it('METRICS_PORT off: no metrics listener at all', async () => {
    const { metricsUrl, anonymous } = await start({ config: { metricsPort: null } });
    expect(metricsUrl).toBe('');
    expect((await publicMetrics()).status).toBe(404);
    expect((await anonymous.request('{ __typename }')).data).toEqual({ __typename: 'Query' });
    await stop();
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

  it('prints where its metrics listener is, on 127.0.0.1 (METRICS_PORT=0: a free port)', async () => {
    expect(proc.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(proc.metricsUrl!)).status).toBe(200);
    expect((await fetch(proc.url.replace(/\/graphql$/, '/metrics'))).status).toBe(404);
  });

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
