// npm run -s rongcloud:export -- --api https://api.rong-api.com --app-key <key> --app-secret <secret> > profiles.jsonl
// Reads every hosted profile of an app from RongCloud's server API (/user/profile/query.json, a
// page of 100 at a time, signed as RongCloud signs: sha1(secret + nonce + timestamp)) and writes
// them as the JSON Lines `npm run import` reads (src/profiles/portable.ts). RongCloud's shapes are
// converted as this server's own RongCloud API converts them (src/rongcloud-api/profiles.ts):
// gender 0/1/2, ext keys without their `ext_` prefix. A profile that cannot be converted (a key
// this server does not know) is reported on stderr with its user id and left out; exit code 3 then.
// Any server that speaks RongCloud's API works, this one included (its base URL is its origin).
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { profileInput } from '../src/rongcloud-api/profiles.ts';
import { signatureOf } from '../src/rongcloud-api/signature.ts';
import { runCli, UsageError } from './cli-database.ts';

const USAGE = 'usage: npm run -s rongcloud:export -- --api <base URL, e.g. https://api.rong-api.com> --app-key <App Key> --app-secret <App Secret> > profiles.jsonl';
/** RongCloud's largest page of /user/profile/query.json */
const PAGE_SIZE = 100;
/** RongCloud allows this endpoint 100 calls a second per app; a 1008 (429) waits and tries again */
const RATE_LIMITED_WAIT_MS = 1000;
const MAX_TRIES = 10;

interface RongCloudUser {
  userId: string;
  /** JSON text (RongCloud's v1 API) or an object */
  userProfile?: unknown;
  userExtProfile?: unknown;
}

function options() {
  let values: { api?: string; 'app-key'?: string; 'app-secret'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { api: { type: 'string' }, 'app-key': { type: 'string' }, 'app-secret': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const { api, 'app-key': appKey, 'app-secret': appSecret } = values;
  if (!api || !appKey || !appSecret) throw new UsageError(`--api, --app-key and --app-secret are required\n${USAGE}`);
  if (!/^https?:\/\//i.test(api)) throw new UsageError(`--api must be an http(s) URL\n${USAGE}`);
  return { api: api.replace(/\/+$/, ''), appKey, appSecret };
}

/** One signed POST of a form; the parsed body of a code-200 answer. */
async function call(o: { api: string; appKey: string; appSecret: string }, path: string, form: Record<string, string>): Promise<Record<string, unknown>> {
  for (let attempt = 1; ; attempt++) {
    const nonce = randomBytes(9).toString('hex');
    const timestamp = String(Date.now());
    const response = await fetch(`${o.api}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'App-Key': o.appKey,
        Nonce: nonce,
        Timestamp: timestamp,
        Signature: signatureOf(o.appSecret, nonce, timestamp),
      },
      body: new URLSearchParams(form).toString(),
    });
    const body = (await response.json().catch(() => ({}))) as { code?: number; errorMessage?: string };
    if (body.code === 200) return body as Record<string, unknown>;
    if (body.code === 1008 && attempt < MAX_TRIES) {
      await new Promise((resolve) => setTimeout(resolve, RATE_LIMITED_WAIT_MS));
      continue;
    }
    throw new Error(`${path} answered HTTP ${response.status}, code ${body.code ?? '(none)'}: ${body.errorMessage ?? 'no message'}`);
  }
}

const asObject = (value: unknown): Record<string, unknown> | undefined => {
  const parsed = typeof value === 'string' ? (value === '' ? {} : JSON.parse(value)) : value;
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
};

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

await runCli('rongcloud:export', async () => {
  const o = options();
  let written = 0;
  const skipped: string[] = [];
  for (let page = 1; ; page++) {
    const { userList } = (await call(o, '/user/profile/query.json', { page: String(page), size: String(PAGE_SIZE) })) as { userList?: RongCloudUser[] };
    const users = userList ?? [];
    const lines: string[] = [];
    for (const user of users) {
      try {
        lines.push(JSON.stringify({ userId: user.userId, profile: profileInput(asObject(user.userProfile), asObject(user.userExtProfile)) }));
      } catch (error) {
        skipped.push(user.userId);
        console.error(`left out ${user.userId}: ${(error as Error).message}`);
      }
    }
    if (lines.length && !process.stdout.write(`${lines.join('\n')}\n`)) await new Promise((resolve) => process.stdout.once('drain', resolve));
    written += lines.length;
    if (users.length < PAGE_SIZE) break;
  }
  console.error(`rongcloud:export: ${written} profiles written${skipped.length ? `, ${skipped.length} left out (see above)` : ''}`);
  if (skipped.length) process.exitCode = 3;
});
