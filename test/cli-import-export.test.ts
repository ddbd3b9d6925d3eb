import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import { GraphQLClient, basic, bearer } from './helpers/client.ts';
import { OPERATOR_TOKEN, TEST_SECRET_ENCRYPTION_KEY } from './helpers/server.ts';

// `npm run import` and `npm run export` (tsx scripts/*.ts) as real processes, on the database of the
// test run: DATABASE_URL when set, else an embedded database in a temporary DATA_DIR (which one
// process opens at a time: the server is started only between the runs).
const ROOT = resolve(import.meta.dirname, '..');
const DATABASE_URL = process.env.DATABASE_URL;

let dataDir: string;

function runScript(script: string, args: string[], onStderr?: (stderr: string, child: ReturnType<typeof spawn>) => void) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATA_DIR', 'TOKEN_SECRET', 'OPERATOR_TOKEN']) delete childEnv[name];
  Object.assign(childEnv, DATABASE_URL ? { DATABASE_URL } : { DATA_DIR: dataDir });
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    onStderr?.(stderr, child);
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((done) =>
    child.once('close', (code) => done({ code, stdout, stderr, ms: Date.now() - started })),
  );
}
const importFile = (args: string[], onStderr?: Parameters<typeof runScript>[2]) => runScript('scripts/import.ts', args, onStderr);
const exportApp = (appKey: string) => runScript('scripts/export.ts', ['--app', appKey]);

/** A server on the same database, for as long as `work` runs. */
async function withServer<T>(work: (url: string) => Promise<T>): Promise<T> {
  const app: App = await buildApp({
    config: { port: 0, host: '127.0.0.1', metricsPort: null, operatorToken: OPERATOR_TOKEN, tokenSecret: 'import-test-token-secret-0123456789abcdef', secretEncryptionKey: TEST_SECRET_ENCRYPTION_KEY, logLevel: 'warn' },
    database: DATABASE_URL ? { kind: 'postgres', url: DATABASE_URL, poolSize: 2 } : { kind: 'embedded', dataDir },
  });
  try {
    return await work((await app.start()).url);
  } finally {
    await app.stop();
  }
}

const LINES = 10_000;
const MALFORMED = 17;
const TOO_LONG_NAME = 4242;
const WRONG_SHAPE = 7000;
const BLANK = 8000;
const UNDEFINED_KEY = 9999;
const REFUSED = [MALFORMED, TOO_LONG_NAME, WRONG_SHAPE, UNDEFINED_KEY];

const GENDERS = ['UNKNOWN', 'MALE', 'FEMALE'];
/** What line `i` gives; a varied profile (unicode, ext entries, fields left out) */
function lineText(i: number): string {
  if (i === MALFORMED) return '{"userId": "m1", "profile": {"name": "unclosed"';
  if (i === BLANK) return '   ';
  if (i === WRONG_SHAPE) return JSON.stringify({ userId: `user${i}`, profile: { role: 'ten' } });
  const profile: Record<string, unknown> = { name: i === TOO_LONG_NAME ? 'n'.repeat(33) : `用户 ${i} 👩‍💻`, gender: GENDERS[i % 3] };
  if (i % 2 === 0) profile.email = `user${i}@example.com`;
  if (i % 3 === 0) profile.uniqueId = `uid${i}`;
  if (i % 5 === 0) profile.level = i % 101;
  if (i % 7 === 0) profile.location = null;
  const ext = i % 4 === 0 ? [{ key: 'team', value: `t${i % 10}` }, { key: 'color', value: 'red\tblue' }] : [];
  if (i === UNDEFINED_KEY) ext.push({ key: 'nope', value: 'x' });
  if (ext.length) profile.userExtProfile = ext;
  return JSON.stringify({ userId: `user${i}`, profile });
}

/** The line export gives for a good input line written onto a new user: every field, nulls included, and its privacy choices. */
function exportedLine(i: number): string {
  const given = JSON.parse(lineText(i)) as { userId: string; profile: Record<string, unknown> };
  const fields = ['name', 'portraitUri', 'uniqueId', 'email', 'birthday', 'gender', 'location', 'role', 'level'];
  const profile: Record<string, unknown> = Object.fromEntries(fields.map((f) => [f, given.profile[f] ?? null]));
  profile.userExtProfile = ((given.profile.userExtProfile as { key: string; value: string }[] | undefined) ?? []).slice().sort((a, b) => (a.key < b.key ? -1 : 1));
  // and the user's privacy choices: its own visibility (never set here) and no per-field overrides
  return JSON.stringify({ userId: given.userId, profile, visibility: 'NOT_SET', fieldVisibility: [] });
}

const summaryOf = (stdout: string) => stdout.split('\n').filter((l) => !l.startsWith('Imported ')).join('\n');

describe(`npm run import / npm run export (${DATABASE_URL ? 'PostgreSQL' : 'embedded database'})`, () => {
  let source: { appKey: string; appSecret: string };
  let target: { appKey: string; appSecret: string };
  let resumed: { appKey: string; appSecret: string };
  let file: string;
  let first: Awaited<ReturnType<typeof importFile>>;
  let firstExport: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'phs-import-'));
    file = join(dataDir, 'profiles.jsonl');
    writeFileSync(file, Array.from({ length: LINES }, (_, i) => lineText(i + 1)).join('\n') + '\n');
    [source, target, resumed] = await withServer(async (url) => {
      const operator = new GraphQLClient(url, bearer(OPERATOR_TOKEN));
      const apps = [];
      for (const name of ['Import source', 'Import target', 'Import resumed']) {
        const { createApp } = await operator.ok('mutation($n: String!) { createApp(name: $n) { appKey appSecret } }', { n: name });
        const backend = new GraphQLClient(url, basic(createApp.appKey, createApp.appSecret));
        for (const key of ['team', 'color']) await backend.ok('mutation($k: String!) { defineExtProfileKey(key: $k) { key } }', { k: key });
        apps.push(createApp);
      }
      return apps;
    });
    first = await importFile(['--app', source.appKey, file]);
  }, 180_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it(`imports ${LINES} lines, refusing the bad ones by line number (exit 3), with a progress bar`, () => {
    console.log(`import of ${LINES} lines: ${first.ms} ms`);
    expect(first.code, first.stderr).toBe(3);
    const lines = first.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      expect.stringMatching(new RegExp(`^line ${MALFORMED}: refused, BAD_USER_INPUT: malformed JSON`)),
      `line ${TOO_LONG_NAME}: refused, BAD_USER_INPUT (RC 24364): Invalid input: name. name is 33 characters long; at most 32 allowed.`,
      expect.stringMatching(new RegExp(`^line ${WRONG_SHAPE}: refused, BAD_USER_INPUT: not a profile line \\(profile\\.role: `)),
      `line ${UNDEFINED_KEY}: refused, BAD_USER_INPUT (RC 24362): Invalid input: userExtProfile.nope. ext key "nope" is not defined for this app.`,
    ]);
    expect(first.stdout).toContain(`lines: ${LINES} read from line 1, ${LINES - REFUSED.length - 1} written, 4 refused (lines ${REFUSED.join(', ')})`);
    expect(first.stderr).toMatch(new RegExp(`^import +\\[#{30}\\] 100% ${LINES}/${LINES} \\d+/s$`, 'm'));
  });

  it('exports every written profile as the line it was imported from, in userId order', async () => {
    const exported = await exportApp(source.appKey);
    expect(exported.code, exported.stderr).toBe(0);
    firstExport = exported.stdout;
    const good = Array.from({ length: LINES }, (_, i) => i + 1).filter((i) => !REFUSED.includes(i) && i !== BLANK);
    const expected = good.map((i) => ({ id: `user${i}`, line: exportedLine(i) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const lines = firstExport.trimEnd().split('\n');
    expect(lines).toHaveLength(good.length);
    expect(lines).toEqual(expected.map((e) => e.line));
    expect(exported.stderr).toContain(`Exported ${good.length} profiles of app "Import source"`);
  }, 60_000);

  it('running it again duplicates nothing and ends with the same profiles; the same lines are refused', async () => {
    const again = await importFile(['--app', source.appKey, file]);
    expect(again.code, again.stderr).toBe(3);
    expect(summaryOf(again.stdout)).toBe(summaryOf(first.stdout));
    const exported = await exportApp(source.appKey);
    expect(exported.stdout).toBe(firstExport);
    await withServer(async (url) => {
      const backend = new GraphQLClient(url, basic(source.appKey, source.appSecret));
      expect((await backend.ok('{ allUserProfiles(size: 1) { totalCount } }')).allUserProfiles.totalCount).toBe(LINES - REFUSED.length - 1);
      // written twice: created (1), then two writes
      const [one, refused] = (await backend.ok('{ adminUserProfiles(userIds: ["user1", "user4242", "m1"]) { userId name version } }')).adminUserProfiles;
      expect(one).toEqual({ userId: 'user1', name: '用户 1 👩‍💻', version: 3 });
      expect(refused).toBeUndefined();
    });
  }, 120_000);

  it('export → import into another app → export gives the same lines', async () => {
    const exportFile = join(dataDir, 'exported.jsonl');
    writeFileSync(exportFile, firstExport);
    const imported = await importFile(['--app', target.appKey, exportFile]);
    expect(imported.code, imported.stdout + imported.stderr).toBe(0);
    expect(imported.stdout).toContain('0 refused');
    const exported = await exportApp(target.appKey);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toBe(firstExport);
  }, 120_000);

  it('interrupted (Ctrl-C), it finishes its batch and says where to go on; going on from there ends as one whole run', async () => {
    let sent = false;
    const stopped = await importFile(['--app', resumed.appKey, file], (stderr, child) => {
      // once a tenth is done
      if (!sent && / 10% /.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(130);
    const match = /^interrupted: lines up to (\d+) are done; go on with: npm run import -- --app \S+ --from-line (\d+) /m.exec(stopped.stdout);
    expect(match, stopped.stdout).not.toBeNull();
    const from = Number(match![2]);
    expect(Number(match![1])).toBe(from - 1);
    expect(from).toBeGreaterThan(1000);
    expect(from).toBeLessThan(LINES);
    const rest = await importFile(['--app', resumed.appKey, '--from-line', String(from), file]);
    expect(rest.code).toBe(3);
    // each refused line reported by the run that read it
    const refusedIn = (stdout: string) => [...stdout.matchAll(/^line (\d+): refused/gm)].map((m) => Number(m[1]));
    expect([...refusedIn(stopped.stdout), ...refusedIn(rest.stdout)]).toEqual(REFUSED);
    expect((await exportApp(resumed.appKey)).stdout).toBe(firstExport);
  }, 120_000);

  it('--from-line starts there (the line numbers stay those of the file)', async () => {
    const tail = await importFile(['--app', source.appKey, '--from-line', String(UNDEFINED_KEY), file]);
    expect(tail.code).toBe(3);
    expect(tail.stdout).toContain(`line ${UNDEFINED_KEY}: refused, BAD_USER_INPUT (RC 24362)`);
    expect(tail.stdout).toContain(`lines: 2 read from line ${UNDEFINED_KEY}, 1 written, 1 refused (line ${UNDEFINED_KEY})`);
  }, 60_000);

  it('refuses a bad command line (exit 2), an unknown app or a missing file (exit 1)', async () => {
    const noApp = await importFile([file]);
    expect(noApp.code).toBe(2);
    expect(noApp.stderr).toContain('--app is required');
    const noFile = await importFile(['--app', source.appKey]);
    expect(noFile.code).toBe(2);
    const badFrom = await importFile(['--app', source.appKey, '--from-line', '0', file]);
    expect(badFrom.code).toBe(2);
    const unknown = await importFile(['--app', 'nope', file]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no app with appKey "nope"');
    const missing = await importFile(['--app', source.appKey, join(dataDir, 'missing.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
    const exportUnknown = await exportApp('nope');
    expect(exportUnknown.code).toBe(1);
    expect(exportUnknown.stdout).toBe('');
  }, 60_000);
});
