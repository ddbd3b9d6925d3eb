import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * The first step of moving an app (README, "Moving an app"): `npm run rongcloud:export` reads an
 * app's hosted profiles from RongCloud's server API and writes the lines `npm run import` reads.
 * Here it reads them from this server's own RongCloud API (which answers as RongCloud does), and
 * the lines written into a second app through setUserProfiles (the service the import uses) make
 * profiles equal to the first app's; and from a stand-in for RongCloud, for what only RongCloud
 * would send.
 */
const root = fileURLToPath(new URL('..', import.meta.url));

function runExport(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/rongcloud-export.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const SET_PROFILES = 'mutation($items: [UserProfileUpsert!]!) { setUserProfiles(items: $items) { userId error { code message } } }';
const PROFILES = 'query($ids: [ID!]!) { adminUserProfiles(userIds: $ids) { userId name portraitUri uniqueId email birthday gender location role level userExtProfile { key value } } }';

describe('npm run rongcloud:export', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    // RongCloud's signature carries the caller's clock: the server's must be near it
    server.clock.set(Date.now());
  });
  afterAll(() => server.stop());

  it('pages every profile out of a RongCloud-style API (250, 3 pages), and importing the lines gives equal profiles', async () => {
    const from = await server.newApp('moving from');
    const to = await server.newApp('moving to');
    for (const app of [from, to]) await app.backend.ok('mutation { defineExtProfileKey(key: "color") { key } }');
    const ids = Array.from({ length: 250 }, (_, i) => `mover${String(i).padStart(3, '0')}`);
    const items = ids.map((userId, i) => ({
      userId,
      profile: { name: `Mover ${i}`, uniqueId: `m${i}`, gender: (['UNKNOWN', 'MALE', 'FEMALE'] as const)[i % 3], role: i % 101, email: i % 2 ? `${userId}@example.com` : null, userExtProfile: i % 5 ? [{ key: 'color', value: `c${i}` }] : [] },
    }));
    for (let i = 0; i < items.length; i += 100) {
      const results = (await from.backend.ok(SET_PROFILES, { items: items.slice(i, i + 100) })).setUserProfiles as { error: unknown }[];
      expect(results.every((r) => r.error === null)).toBe(true);
    }

    const api = server.url.replace(/\/graphql$/, '');
    const exported = await runExport(['--api', api, '--app-key', from.appKey, '--app-secret', from.appSecret]);
    expect(exported.stderr).toContain('250 profiles written');
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { userId: string; profile: Record<string, unknown> });
    expect(lines.map((l) => l.userId).sort()).toEqual(ids);

    for (let i = 0; i < lines.length; i += 100) {
      const results = (await to.backend.ok(SET_PROFILES, { items: lines.slice(i, i + 100) })).setUserProfiles as { error: unknown }[];
      expect(results.filter((r) => r.error !== null)).toEqual([]);
    }
    for (let i = 0; i < ids.length; i += 100) {
      const batch = ids.slice(i, i + 100);
      const [a, b] = await Promise.all([from.backend.ok(PROFILES, { ids: batch }), to.backend.ok(PROFILES, { ids: batch })]);
      expect(b.adminUserProfiles).toEqual(a.adminUserProfiles);
    }
  });

  it("signs as RongCloud does, reads JSON-text profiles, leaves out one it cannot convert (exit 3), and says why", async () => {
    const secret = 'Y1W2MeFwwwRxa0';
    const seen: { signatureOk: boolean; body: string }[] = [];
    const rongcloud: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const h = (name: string) => String(req.headers[name.toLowerCase()] ?? '');
        const expected = createHash('sha1').update(secret + h('Nonce') + h('Timestamp')).digest('hex');
        seen.push({ signatureOk: h('App-Key') === 'rc-app' && h('Signature') === expected, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            code: 200,
            userList: [
              { userId: 'u1', userProfile: '{"name":"Nick","gender":1,"level":2}', userExtProfile: '{"ext_color":"red"}' },
              { userId: 'u2', userProfile: '{"AppName":"from the CN docs example"}', userExtProfile: '{}' },
            ],
          }),
        );
      });
    });
    await new Promise<void>((resolve) => rongcloud.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = rongcloud.address() as AddressInfo;
      const exported = await runExport(['--api', `http://127.0.0.1:${port}`, '--app-key', 'rc-app', '--app-secret', secret]);
      expect(exported.code).toBe(3);
      expect(exported.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
        { userId: 'u1', profile: { name: 'Nick', gender: 'MALE', level: 2, userExtProfile: [{ key: 'color', value: 'red' }] } },
      ]);
      expect(exported.stderr).toMatch(/left out u2: userProfile has unknown keys: AppName/);
      expect(seen).toHaveLength(1); // a short page is the last one
      expect(seen[0]).toEqual({ signatureOk: true, body: 'page=1&size=100' });
    } finally {
      rongcloud.close();
    }
  });

  it('without its required options it prints the usage and exits 2', async () => {
    const result = await runExport(['--api', 'http://127.0.0.1:1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--api, --app-key and --app-secret are required/);
  });
});
