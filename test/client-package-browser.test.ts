// The client SDK as an app gets it: `npm pack` of client/ (its prepack runs `npm run build:client`),
// the tarball unpacked into a throwaway app's node_modules/@profile-hosting/client (beside its one
// dependency, graphql-ws, as npm would put it), then used by its package name:
// - the tarball holds the built files only, and its exports resolve;
// - its type declarations compile in a browser-only TypeScript project, and are precise;
// - a browser bundle of it (Vite, as an app would build one) has no Node.js built-in, stays within
//   the size budget (min+gzip) and drops what a page does not import (tree-shaking);
// - a page importing it runs in Debian's Chromium (playwright-core) against a real test server on
//   another origin: it connects as a user with a token issued by the app backend, and shows the
//   backend's setUserProfile arriving through the SDK's events. Only this part is skipped where
//   /usr/bin/chromium is missing outside CI; in CI it always runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import ts from 'typescript';
import { build, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CLIENT = resolve(ROOT, 'client');
const PACKAGE = '@profile-hosting/client';
const CHROMIUM = '/usr/bin/chromium';
const chromiumAvailable = existsSync(CHROMIUM) || !!process.env.CI;

/** min+gzip of everything the package exports, graphql-ws included (README: Client SDK) */
const SIZE_BUDGET_BYTES = 15 * 1024;

let work: string;
/** the throwaway app */
let appDir: string;
let packedFiles: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'client-package-'));
  appDir = join(work, 'app');
  const packed = spawnSync('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: CLIENT, encoding: 'utf8' });
  if (packed.status !== 0) throw new Error(`npm pack failed (${packed.status}):\n${packed.stdout}\n${packed.stderr}`);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack wrote no tarball:\n${packed.stdout}\n${packed.stderr}`);
  packedFiles = spawnSync('tar', ['tzf', join(work, tarball)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''))
    .sort();
  mkdirSync(join(appDir, 'node_modules', '@profile-hosting'), { recursive: true });
  const untar = spawnSync('tar', ['xzf', join(work, tarball), '-C', work]);
  if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr}`);
  renameSync(join(work, 'package'), join(appDir, 'node_modules', PACKAGE));
  symlinkSync(resolve(ROOT, 'node_modules', 'graphql-ws'), join(appDir, 'node_modules', 'graphql-ws'), 'dir');
  writeFileSync(join(appDir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { [PACKAGE]: '*' } }));
}, 120_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * Vite's production bundle (minified, for browsers) of `code` as the app's module, in one ES file,
 * and the Node.js built-ins anything in it imported (Vite would stub those with empty modules).
 */
async function bundle(code: string): Promise<{ code: string; builtins: string[] }> {
  const entry = join(appDir, `entry-${Math.random().toString(36).slice(2)}.js`);
  writeFileSync(entry, code);
  const builtins: string[] = [];
  const result = (await build({
    root: appDir,
    configFile: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'record-node-builtins',
        enforce: 'pre',
        resolveId(source) {
          if (isBuiltin(source)) builtins.push(source);
          return null;
        },
      },
    ],
    build: { write: false, minify: true, target: 'es2022', lib: { entry, formats: ['es'], fileName: 'bundle' } },
  })) as Rollup.RollupOutput[];
  const chunks = result.flatMap((r) => r.output).filter((o): o is Rollup.OutputChunk => o.type === 'chunk');
  expect(chunks).toHaveLength(1);
  return { code: chunks[0]!.code, builtins };
}

const gzipSize = (code: string) => gzipSync(code, { level: 9 }).length;

describe('the @profile-hosting/client package', () => {
  it('packs the built ES module, its declarations and package.json only; its exports resolve to them', () => {
    expect(packedFiles).toContain('package.json');
    expect(packedFiles).toContain('dist/index.js');
    expect(packedFiles).toContain('dist/index.d.ts');
    expect(packedFiles.filter((f) => !f.startsWith('dist/') && f !== 'package.json')).toEqual([]);
    const installed = join(appDir, 'node_modules', PACKAGE);
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, any>;
    expect(pkg).toMatchObject({ name: PACKAGE, type: 'module', sideEffects: false, exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } } });
    for (const target of Object.values(pkg.exports['.'] as Record<string, string>)) expect(packedFiles).toContain(target.replace(/^\.\//, ''));
    // graphql-ws only: no ws (browsers and Node.js 22 have WebSocket), no graphql
    expect(Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies })).toEqual(['graphql-ws']);
    const js = readFileSync(join(installed, 'dist', 'index.js'), 'utf8');
    expect(js.match(/^import .* from\s*["']([^"']+)["']/gm)?.map((line) => /["']([^"']+)["']/.exec(line)![1]).filter((m) => !m!.startsWith('./'))).toEqual(['graphql-ws']);
  });

  it('its declarations type an app in a browser-only TypeScript project (no Node.js types), precisely', () => {
    const file = join(appDir, 'typed-app.ts');
    writeFileSync(
      file,
      [
        `import { createProfileClient, ErrorCode, Events, Platform, ProfileClientError, type IUserProfileInfo } from '${PACKAGE}';`,
        `const im = createProfileClient({ url: 'https://profiles.example.com/graphql', getToken: async () => 'token', platform: Platform.WEB });`,
        `im.addEventListener(Events.OWN_USER_PROFILE_CHANGED, (profile: IUserProfileInfo) => console.log(profile.name));`,
        `export async function me(): Promise<string | undefined> {`,
        `  const res = await im.getMyUserProfile();`,
        `  const code: number = res.code;`,
        `  if (code === ErrorCode.SUCCESS) return res.data?.userId;`,
        `  throw new ProfileClientError('failed', { code });`,
        `}`,
        // were the declarations loose (any), these would compile, and the @ts-expect-error fail
        `// @ts-expect-error a profile is not a number`,
        `im.addEventListener(Events.OWN_USER_PROFILE_CHANGED, (profile: number) => profile);`,
        `// @ts-expect-error no such method`,
        `im.noSuchMethod();`,
      ].join('\n'),
    );
    const program = ts.createProgram([file], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    // it did read the package's declarations
    expect(program.getSourceFiles().map((f) => f.fileName)).toContain(join(appDir, 'node_modules', PACKAGE, 'dist', 'index.d.ts'));
  }, 60_000);

  it(`bundles for the browser without Node.js built-ins, within ${SIZE_BUDGET_BYTES} bytes min+gzip`, async () => {
    const { code, builtins } = await bundle(`export * from '${PACKAGE}';`);
    expect(builtins).toEqual([]);
    // the SDK and graphql-ws's client are in (the bundle is not empty)
    expect(code).toContain('graphql-transport-ws');
    expect(code).toContain('OWN_USER_PROFILE_CHANGED');
    expect(code).not.toMatch(/\bnode:[a-z]/);
    expect(code).not.toMatch(/\b(process|Buffer|require|__dirname|__filename|setImmediate)\b/);
    const size = gzipSize(code);
    console.log(`${PACKAGE}: ${code.length} bytes minified, ${size} bytes min+gzip (budget ${SIZE_BUDGET_BYTES})`);
    expect(size).toBeLessThanOrEqual(SIZE_BUDGET_BYTES);
  }, 60_000);

  it('is tree-shakeable: a page that imports one enum gets neither the operations nor graphql-ws', async () => {
    const { code } = await bundle(`import { Gender } from '${PACKAGE}';\nconsole.log(Gender.FEMALE);`);
    expect(code).not.toMatch(/TypedDocumentString|myUserProfile|graphql-transport-ws|createProfileClient/);
    expect(gzipSize(code)).toBeLessThan(1024);
  }, 60_000);
});

describe.skipIf(!chromiumAvailable)(`a page bundling the package, in Chromium${existsSync(CHROMIUM) ? '' : ' (skipped: no /usr/bin/chromium)'}`, () => {
  let server: TestServer;
  let app: TestApp;
  let browser: Browser;
  let site: Server;
  let siteOrigin: string;

  beforeAll(async () => {
    // the page: index.html + main.js importing the package by its name, built by Vite
    const pageDir = join(appDir, 'page');
    mkdirSync(pageDir, { recursive: true });
    writeFileSync(
      join(pageDir, 'index.html'),
      '<!doctype html><meta charset="utf-8"><title>SDK page</title><link rel="icon" href="data:,"><p id="status">loading</p><ul id="events"></ul><script type="module" src="./main.js"></script>',
    );
    writeFileSync(
      join(pageDir, 'main.js'),
      `import { createProfileClient, Events, Platform, SubscribeType } from '${PACKAGE}';

const params = new URLSearchParams(location.hash.slice(1));
const status = document.querySelector('#status');
const show = (line) => {
  const item = document.createElement('li');
  item.textContent = line;
  document.querySelector('#events').append(item);
};
window.received = [];
const im = createProfileClient({ url: params.get('url'), token: params.get('token'), platform: Platform.WEB });
im.addEventListener(Events.OWN_USER_PROFILE_CHANGED, (profile) => {
  window.received.push({ event: 'OWN_USER_PROFILE_CHANGED', profile });
  show('my profile: ' + profile.name);
});
im.addEventListener(Events.SUBSCRIBED_USER_STATUS_CHANGE, (events) => {
  for (const event of events) {
    window.received.push({ event: 'SUBSCRIBED_USER_STATUS_CHANGE', ...event });
    if (event.userProfile) show(event.userId + "'s profile: " + event.userProfile.name);
  }
});
(async () => {
  const connected = await im.connect();
  const subscribed = await im.subscribeUserStatus(['bob'], SubscribeType.USER_PROFILE, 3600);
  const me = await im.getMyUserProfile();
  window.ready = { connected, subscribed, me, hasWebSocket: typeof WebSocket === 'function' };
  status.textContent = 'connected as ' + connected.data.userId;
})().catch((error) => {
  window.failure = String(error?.stack ?? error);
  status.textContent = 'failed: ' + error;
});
`,
    );
    await build({ root: pageDir, base: './', configFile: false, logLevel: 'silent', build: { outDir: join(pageDir, 'dist'), minify: true, target: 'es2022' } });
    const served = join(pageDir, 'dist');
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };
    site = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const file = join(served, path === '/' ? 'index.html' : path);
      if (!file.startsWith(served) || !existsSync(file)) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    });
    await new Promise<void>((ready) => site.listen(0, '127.0.0.1', ready));
    const address = site.address();
    siteOrigin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    // the app's page is on an origin of its own, allowed by the server's CORS_ORIGINS
    server = await startTestServer({ config: { corsOrigins: [siteOrigin] } });
    app = await server.newApp();
    await app.user('bob');
    await app.backend.ok('mutation { setUserProfile(userId: "bob", profile: { name: "Bob" }) { userId } }');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await new Promise((closed) => (site ? site.close(closed) : closed(undefined)));
  });

  it("connects as the user with the backend's token; the backend's setUserProfile arrives as OWN_USER_PROFILE_CHANGED and SUBSCRIBED_USER_STATUS_CHANGE", async () => {
    // the app backend issues alice's token (issueUserToken) and hands it to the page
    const { token } = (await app.backend.ok<{ issueUserToken: { token: string } }>('mutation { issueUserToken(userId: "alice") { token } }')).issueUserToken;
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    try {
      await page.goto(`${siteOrigin}/#${new URLSearchParams({ url: server.url, token })}`);
      await page.waitForFunction(() => (window as any).ready || (window as any).failure, null, { timeout: 15_000 });
      expect(await page.evaluate(() => (window as any).failure)).toBeUndefined();
      const ready = await page.evaluate(() => (window as any).ready);
      expect(ready).toMatchObject({ connected: { code: 0, data: { userId: 'alice' } }, subscribed: { code: 0, data: [] }, me: { code: 0, data: { userId: 'alice' } }, hasWebSocket: true });
      expect(await page.locator('#status').innerText()).toBe('connected as alice');
      // the browser's own WebSocket, to the server's endpoint
      expect(sockets.length).toBeGreaterThan(0);
      expect(new Set(sockets)).toEqual(new Set([server.url.replace(/^http/, 'ws')]));

      await app.backend.ok('mutation { setUserProfile(userId: "alice", profile: { name: "Alice (from the backend)" }) { userId } }');
      await app.backend.ok('mutation { setUserProfile(userId: "bob", profile: { name: "Bob (from the backend)" }) { userId } }');
      await page.locator('#events li', { hasText: 'my profile: Alice (from the backend)' }).waitFor({ timeout: 10_000 });
      await page.locator('#events li', { hasText: "bob's profile: Bob (from the backend)" }).waitFor({ timeout: 10_000 });
      const received = (await page.evaluate(() => (window as any).received)) as Array<Record<string, any>>;
      expect(received.filter((e) => e.event === 'OWN_USER_PROFILE_CHANGED')).toEqual([
        { event: 'OWN_USER_PROFILE_CHANGED', profile: expect.objectContaining({ userId: 'alice', name: 'Alice (from the backend)' }) },
      ]);
      expect(received.filter((e) => e.event === 'SUBSCRIBED_USER_STATUS_CHANGE').at(-1)).toMatchObject({
        userId: 'bob',
        subscribeType: 2,
        userProfile: { userId: 'bob', name: 'Bob (from the backend)' },
      });
      expect(consoleErrors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 30_000);
});
