import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

describe('profiles smoke', () => {
  it('backend sets a profile that its owner reads back in full', async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "Alice", email: "a@example.com" }) { version } }');
    const alice = await app.user('alice');
    const data = await alice.ok('{ myUserProfile { userId name email version restricted } }');
    expect(data.myUserProfile).toEqual({ userId: 'alice', name: 'Alice', email: 'a@example.com', version: 2, restricted: false });
  });
});
