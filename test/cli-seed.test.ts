import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { TEST_SECRET_ENCRYPTION_KEY } from './helpers/server.ts';

// `npm run seed` (tsx scripts/seed.ts) as a real process, on the database of the test run:
// DATABASE_URL when set, else an embedded database in a temporary DATA_DIR.
const ROOT = resolve(import.meta.dirname, '..');
const DATABASE_URL = process.env.DATABASE_URL;

let dataDir: string;
// app:create on DATABASE_URL seals the secret with the servers' key, as the server below reads it
const env = () => (DATABASE_URL ? { DATABASE_URL, SECRET_ENCRYPTION_KEY: TEST_SECRET_ENCRYPTION_KEY } : { DATA_DIR: dataDir });

function runScript(script: string, args: string[]) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATA_DIR', 'TOKEN_SECRET', 'OPERATOR_TOKEN']) delete childEnv[name];
  Object.assign(childEnv, env());
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}
const seed = (args: string[]) => runScript('scripts/seed.ts', args);

describe(`npm run seed (${DATABASE_URL ? 'PostgreSQL' : 'embedded database'})`, () => {
  let appKey: string;
  let appSecret: string;
  let first: Awaited<ReturnType<typeof seed>>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'phs-seed-'));
    const created = await runScript('scripts/app-create.ts', ['--name', 'Seeded']);
    expect(created.code, created.stderr).toBe(0);
    appKey = /^appKey=(\S+)$/m.exec(created.stdout)![1]!;
    appSecret = /^appSecret=(\S+)$/m.exec(created.stdout)![1]!;
    first = await seed(['--app', appKey, '--users', '60', '--friends', '4', '--subscriptions', '3', '--prefix', 'demo']);
  }, 120_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('creates the users, friendships and subscriptions and says so', () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`Seeded app "Seeded" (${appKey})`);
    expect(first.stdout).toContain('users: 60 created (0 already there), ids demo1…demo60');
    expect(first.stdout).toContain('friendships: 120 created');
    expect(first.stdout).toContain('subscriptions: 360 created');
  });

  it('draws a progress bar on stderr (one line per tenth when not a terminal)', () => {
    for (const label of ['users', 'friendships', 'subscriptions']) {
      expect(first.stderr).toMatch(new RegExp(`^${label} +\\[-{30}\\]   0% 0/60`, 'm'));
      expect(first.stderr).toMatch(new RegExp(`^${label} +\\[#{30}\\] 100% 60/60 \\d+/s$`, 'm'));
    }
  });

  describe('what the server then serves', () => {
    let app: App;
    let url: string;
    beforeAll(async () => {
      app = await buildApp({
        config: { port: 0, host: '127.0.0.1', metricsPort: null, tokenSecret: 'seed-test-token-secret-0123456789abcdef', secretEncryptionKey: TEST_SECRET_ENCRYPTION_KEY },
        database: DATABASE_URL ? { kind: 'postgres', url: DATABASE_URL, poolSize: 2 } : { kind: 'embedded', dataDir },
      });
      url = (await app.start()).url;
    }, 60_000);
    afterAll(() => app?.stop());

    it('profiles, friends (about K each) and subscriptions of both types', async () => {
      const backend = new GraphQLClient(url, basic(appKey, appSecret));
      const all = await backend.ok('{ allUserProfiles(size: 1) { totalCount } }');
      expect(all.allUserProfiles.totalCount).toBe(60);
      const [profile] = (await backend.ok('{ adminUserProfiles(userIds: ["demo7"]) { userId name uniqueId email gender location level } }')).adminUserProfiles;
      expect(profile).toMatchObject({ userId: 'demo7', uniqueId: 'demo7', email: 'demo7@example.com', gender: 'MALE', level: 7 });
      expect(profile.name).toMatch(/ 7$/);

      const { token } = (await backend.ok('mutation { issueUserToken(userId: "demo1") { token } }')).issueUserToken;
      const demo1 = new GraphQLClient(url, bearer(token));
      const friends = await demo1.ok('{ friends(count: 100) { items { userId } } }');
      // the next two and (wrapping) the last two
      expect(friends.friends.items.map((f: { userId: string }) => f.userId).sort()).toEqual(['demo2', 'demo3', 'demo59', 'demo60']);
      for (const type of ['ONLINE_STATUS', 'USER_PROFILE']) {
        const page = await demo1.ok(`{ subscribedUsers(type: ${type}, pageSize: 10) { totalCount items { userId expiry } } }`);
        expect(page.subscribedUsers.totalCount).toBe(3);
        expect(page.subscribedUsers.items.map((s: { userId: string }) => s.userId).sort()).toEqual(['demo2', 'demo3', 'demo4']);
      }
    });
  });

  it('running it again adds nothing twice', async () => {
    const again = await seed(['--app', appKey, '--users', '60', '--friends', '4', '--prefix', 'demo']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('users: 0 created (60 already there)');
    expect(again.stdout).toContain('friendships: 0 created');
  }, 120_000);

  it('refuses a bad command line (exit 2, usage) and an unknown app (exit 1)', async () => {
    const missing = await seed(['--users', '3']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--app is required');
    expect(missing.stderr).toContain('usage: npm run seed');
    const badCount = await seed(['--app', appKey, '--users', 'ten']);
    expect(badCount.code).toBe(2);
    const tooManyFriends = await seed(['--app', appKey, '--users', '3', '--friends', '3']);
    expect(tooManyFriends.code).toBe(2);
    const unknown = await seed(['--app', 'nope', '--users', '3']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no app with appKey "nope"');
  }, 120_000);
});
