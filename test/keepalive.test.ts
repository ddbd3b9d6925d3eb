/**
 * Keep-alive: every socket is pinged each WS_KEEPALIVE_MS; one that did not answer the previous
 * ping is dropped (and goes offline), one that answers stays however long it is idle.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { seedUsers, seededToken, sleep, storedConnections } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ config: { wsKeepAliveMs: 300 } });
});
afterAll(() => server?.stop());

async function openAcked(token: string, autoPong: boolean) {
  const ws = new WebSocket(server.url.replace(/^http/, 'ws'), 'graphql-transport-ws', { autoPong });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authToken: token, platform: 'WEB' } }));
  await new Promise<void>((resolve) => ws.on('message', (data) => JSON.parse(String(data)).type === 'connection_ack' && resolve()));
  return { ws, closed };
}

it('drops a socket that does not answer pings within two intervals and takes it offline; one that answers stays', async () => {
  const app = await server.newApp();
  await seedUsers(server, app.appKey, ['silent', 'lively']);
  const silent = await openAcked(await seededToken(server, app.appKey, 'silent'), false);
  const lively = await openAcked(await seededToken(server, app.appKey, 'lively'), true);
  let closedAfter = false;
  void silent.closed.then(() => (closedAfter = true));
  await sleep(1_500);
  expect(closedAfter).toBe(true);
  expect(await silent.closed).toBe(1006); // terminated, no close frame
  expect(lively.ws.readyState).toBe(WebSocket.OPEN);
  await sleep(200);
  expect(await storedConnections(server, app.appKey, 'silent')).toBe(0);
  expect(await storedConnections(server, app.appKey, 'lively')).toBe(1);
  lively.ws.close();
});
