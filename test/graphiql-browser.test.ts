// GraphiQL in a real browser: Debian's chromium driven by playwright-core (.ci/run installs it).
// Skipped only where /usr/bin/chromium is missing outside CI; in CI it always runs.
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const RESULTS = resolve(import.meta.dirname, '..', 'test-results');
const available = existsSync(CHROMIUM) || !!process.env.CI;

describe.skipIf(!available)(`GraphiQL in Chromium${existsSync(CHROMIUM) ? '' : ' (skipped: no /usr/bin/chromium)'}`, () => {
  let server: TestServer;
  let app: TestApp;
  let browser: Browser;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    app = await server.newApp();
    token = (await app.user('alice')).token;
    await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "Alice", email: "alice@example.com" }) { userId } }');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(RESULTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Opens GraphiQL with `query` in its editor and `Authorization: Bearer <token>` typed into its Headers editor. */
  async function openGraphiQL(query: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${server.url}?query=${encodeURIComponent(query)}`);
    await page.locator('.graphiql-execute-button').waitFor({ timeout: 30_000 });
    await page.locator('.graphiql-editor-tools button', { hasText: 'Headers' }).click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor');
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Backspace');
    // insertText: typed keys would trigger the editor's bracket and quote auto-closing
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
    expect(await text(headers.locator('.view-lines'))).toContain(`"Authorization":"Bearer ${token}"`);
    return page;
  }

  /** the editors render spaces as no-break spaces */
  const text = async (locator: ReturnType<Page['locator']>) => (await locator.innerText()).replace(/\u00a0/g, ' ');
  const responseText = (page: Page) => text(page.locator('.graphiql-response .view-lines'));

  it('opens /graphql, sends the Headers editor’s Authorization, runs a query and shows the result', async () => {
    const page = await openGraphiQL('query Me { myUserProfile { userId name email restricted } }');
    await page.locator('.graphiql-execute-button').click();
    await page.waitForFunction(() => document.querySelector('.graphiql-response')?.textContent?.includes('alice@example.com'), null, { timeout: 15_000 });
    const result = JSON.parse((await responseText(page)).replace(/\s+/g, ' ')) as unknown;
    expect(result).toEqual({ data: { myUserProfile: { userId: 'alice', name: 'Alice', email: 'alice@example.com', restricted: false } } });
    await page.screenshot({ path: resolve(RESULTS, 'graphiql.png') });
    await page.close();
  }, 60_000);

  // yoga's bundled GraphiQL sends an empty connection_init and puts the Headers editor's values in
  // each subscribe message's `extensions.headers`: the server authenticates such a socket with its
  // first operation's Authorization header.
  it('starts a subscription over graphql-ws and shows an event as it arrives', async () => {
    const page = await openGraphiQL('subscription Mine { ownUserProfileChanged { userId name version } }');
    const initPayloads: unknown[] = [];
    const closed = new Promise<void>((resolveClosed) => {
      page.on('websocket', (ws) => {
        ws.on('framesent', (frame) => {
          const message = JSON.parse(String(frame.payload)) as { type: string; payload?: unknown };
          if (message.type === 'connection_init') initPayloads.push(message.payload);
        });
        ws.on('close', () => resolveClosed());
      });
    });
    try {
      await page.locator('.graphiql-execute-button').click();
      // the subscription is live once the server lists a connection of alice's
      const deadline = Date.now() + 10_000;
      const live = () => server.app.realtime.transport.connections().some((c) => c.info.appKey === app.appKey && c.info.userId === 'alice');
      while (!live()) {
        const refused = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
        if (refused && !live()) {
          throw new Error(`the server closed GraphiQL's graphql-ws connection; its connection_init payloads: ${JSON.stringify(initPayloads)}`);
        }
        if (Date.now() > deadline) throw new Error('GraphiQL opened no authenticated graphql-ws connection');
      }
      // the connection is registered a moment before the subscription's stream: repeat the change until shown
      for (let attempt = 1; ; attempt++) {
        await app.backend.ok(`mutation { setUserProfile(userId: "alice", profile: { name: "AliceFromTheBackend${attempt}" }) { userId } }`);
        const shown = await page
          .waitForFunction(() => document.querySelector('.graphiql-response')?.textContent?.includes('AliceFromTheBackend'), null, { timeout: 3_000 })
          .then(() => true, () => false);
        if (shown) break;
        if (attempt === 10) throw new Error('no event reached GraphiQL');
      }
      expect(await responseText(page)).toContain('"ownUserProfileChanged"');
    } finally {
      await page.screenshot({ path: resolve(RESULTS, 'graphiql-subscription.png') });
      await page.close();
    }
  }, 60_000);
});
