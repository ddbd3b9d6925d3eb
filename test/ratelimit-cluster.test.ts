import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { connectLive } from './helpers/ws.ts';

const { DATABASE_URL, REDIS_URL } = process.env;
const OPERATOR = 'ratelimit-operator-token-0123456789';

/**
 * With REDIS_URL the per-user and per-app token buckets live in Redis: two server processes
 * draw from the same buckets, so a client spreading its requests over instances (a load
 * balancer) gets the limit once, not once per instance. The rate is so low that nothing refills
 * while the test runs: the burst is the whole allowance.
 */
describe.skipIf(!DATABASE_URL || !REDIS_URL)('rate limits shared by two instances through Redis (needs DATABASE_URL and REDIS_URL)', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  const env = {
    DATABASE_URL: DATABASE_URL!,
    REDIS_URL: REDIS_URL!,
    TOKEN_SECRET: 'ratelimit-token-secret-0123456789-0123456789',
    SECRET_ENCRYPTION_KEY: 'test-secret-encryption-key-0123456789-0123456789',
    OPERATOR_TOKEN: OPERATOR,
    RATE_LIMIT_USER_PER_SECOND: '0.001',
    RATE_LIMIT_USER_BURST: '6',
    RATE_LIMIT_APP_PER_SECOND: '0.001',
    RATE_LIMIT_APP_BURST: '20',
  };

  beforeAll(async () => {
    [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
  });

  async function newApp() {
    const creds = (await new GraphQLClient(a.url, bearer(OPERATOR)).ok('mutation { createApp(name: "ratelimit") { appKey appSecret } }')).createApp;
    return { onA: new GraphQLClient(a.url, basic(creds.appKey, creds.appSecret)), onB: new GraphQLClient(b.url, basic(creds.appKey, creds.appSecret)) };
  }
  const ME = '{ myUserProfile { userId } }';

  it('a user alternating between A and B gets its burst once; the next request is refused on both, over HTTP and graphql-ws', async () => {
    const app = await newApp();
    const token = (await app.onA.ok('mutation { issueUserToken(userId: "alice") { token } }')).issueUserToken.token as string;
    const onA = new GraphQLClient(a.url, bearer(token));
    const onB = new GraphQLClient(b.url, bearer(token));
    for (let i = 0; i < 6; i++) expect((await (i % 2 ? onB : onA).request(ME)).errors, `request ${i + 1}`).toBeUndefined();
    for (const client of [onA, onB]) {
      const refused = await client.request(ME);
      expect(refused.status).toBe(429);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'user' });
    }
    const live = connectLive(b.url, { authToken: token, platform: 'WEB' });
    await live.connected;
    expect((await live.execute(ME)).errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'user' });
    await live.dispose();
    // another user of the app still has its own allowance
    const bob = (await app.onB.ok('mutation { issueUserToken(userId: "bob") { token } }')).issueUserToken.token as string;
    expect((await new GraphQLClient(b.url, bearer(bob)).request(ME)).errors).toBeUndefined();
  });

  it('the app bucket is one across instances too: backend and users together', async () => {
    const app = await newApp();
    let used = 0;
    while (used < 20) {
      const result = await (used % 2 ? app.onB : app.onA).request('{ appSettings { appKey } }');
      expect(result.errors, `request ${used + 1}`).toBeUndefined();
      used++;
    }
    for (const client of [app.onA, app.onB]) {
      const refused = await client.request('{ appSettings { appKey } }');
      expect(refused.status).toBe(429);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'app' });
    }
  });
});
