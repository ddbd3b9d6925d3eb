/**
 * SPEC §2 (profiles) and §7 (errors): every input limit at its boundary and one past it,
 * for the user's own write (updateMyUserProfile) and the backend's (setUserProfile).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import type { GraphQLClient } from './helpers/client.ts';
import {
  ADMIN_PROFILES,
  MY_PROFILE,
  SET_PROFILE,
  UPDATE_MY,
  USER_PROFILES,
  adminProfile,
  defineKey,
  expectError,
  setProfile,
  updateMy,
  type ProfileJson,
} from './helpers/profiles.ts';

let server: TestServer;
/** One app for the tests that need no app of their own: ext keys k0..k19 (all readable and writable). */
let shared: TestApp;
let counter = 0;
/** A user id no other test of this file uses. */
const uid = (prefix = 'u') => `${prefix}${++counter}`;
beforeAll(async () => {
  server = await startTestServer();
  shared = await server.newApp('shared');
  for (let i = 0; i < 20; i++) await defineKey(shared, `k${i}`);
});
afterAll(() => server?.stop());

type Writer = 'user' | 'backend';
const WRITERS: Writer[] = ['user', 'backend'];

/** Writes `profile` as the given writer; returns the raw response. */
async function write(app: TestApp, writer: Writer, userId: string, profile: Record<string, unknown>) {
  if (writer === 'user') {
    const client = await app.user(userId);
    return client.request<Record<string, ProfileJson>>(UPDATE_MY, { p: profile });
  }
  return app.backend.request<Record<string, ProfileJson>>(SET_PROFILE, { u: userId, p: profile });
}

async function writeOk(app: TestApp, writer: Writer, userId: string, profile: Record<string, unknown>): Promise<ProfileJson> {
  const result = await write(app, writer, userId, profile);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data![writer === 'user' ? 'updateMyUserProfile' : 'setUserProfile']!;
}

async function writeFails(app: TestApp, writer: Writer, userId: string, profile: Record<string, unknown>) {
  const result = await write(app, writer, userId, profile);
  expect(result.errors?.length, `expected an error, got ${JSON.stringify(result.data)}`).toBeGreaterThan(0);
  expect(result.data?.[writer === 'user' ? 'updateMyUserProfile' : 'setUserProfile'] ?? null).toBeNull();
  return result.errors![0]!;
}

const TEXT_LIMITS = [
  ['name', 32],
  ['portraitUri', 128],
  ['email', 128],
  ['birthday', 32],
  ['location', 32],
] as const;

describe.each(WRITERS)('text field limits, written by the %s', (writer) => {
  let app: TestApp;
  beforeAll(() => {
    app = shared;
  });

  describe.each(TEXT_LIMITS)('%s (at most %i characters)', (field, max) => {
    it.each([
      ['ASCII', 'a'],
      ['emoji (2 UTF-16 units, 4 bytes each)', '😀'],
      ['CJK (3 bytes each)', '汉'],
    ])('%s: exactly the limit is stored, one more is BAD_USER_INPUT naming the field (RC 24364)', async (_kind, char) => {
      const userId = uid();
      const atLimit = char.repeat(max);
      const stored = await writeOk(app, writer, userId, { [field]: atLimit });
      expect(stored[field]).toBe(atLimit);
      const before = await adminProfile(app, userId);

      const error = await writeFails(app, writer, userId, { [field]: char.repeat(max + 1) });
      expectError(error, 'BAD_USER_INPUT', { rcCode: 24364, fields: [field] });
      expect(await adminProfile(app, userId)).toEqual(before);
    });
  });

  it.each(['role', 'level'])('%s accepts 0 and 100 and refuses -1 and 101 (RC 24368)', async (field) => {
    const userId = uid(field);
    expect((await writeOk(app, writer, userId, { [field]: 0 }))[field as 'role']).toBe(0);
    expect((await writeOk(app, writer, userId, { [field]: 100 }))[field as 'role']).toBe(100);
    for (const bad of [-1, 101]) {
      const error = await writeFails(app, writer, userId, { [field]: bad });
      expectError(error, 'BAD_USER_INPUT', { rcCode: 24368, fields: [field] });
    }
    expect((await adminProfile(app, userId))![field as 'role']).toBe(100);
  });

  it.each([
    ['\u0001', 'U+0001'],
    ['\r', 'carriage return'],
    ['\u007f', 'DEL'],
    ['\u0085', 'C1 NEL'],
    ['\u0000', 'NUL'],
  ])('a control character (%j, %s) is refused in text fields and ext values', async (control) => {
    const userId = uid('controls');
    await writeOk(app, writer, userId, { name: 'clean' });
    const before = await adminProfile(app, userId);
    for (const field of ['name', 'portraitUri', 'email', 'birthday', 'location']) {
      expectError(await writeFails(app, writer, userId, { [field]: `a${control}b` }), 'BAD_USER_INPUT', { fields: [field] });
    }
    expectError(await writeFails(app, writer, userId, { userExtProfile: [{ key: 'k0', value: `x${control}` }] }), 'BAD_USER_INPUT', { keys: ['k0'] });
    expect(await adminProfile(app, userId)).toEqual(before);
  });

  it('tab, newline and leading/trailing spaces are stored exactly as given (no trimming)', async () => {
    const value = '  a\tb\nc  ';
    const userId = uid('spaces');
    const stored = await writeOk(app, writer, userId, {
      name: value,
      portraitUri: value,
      email: value,
      birthday: value,
      location: value,
      userExtProfile: [{ key: 'k1', value: '\t x \n' }],
    });
    for (const field of ['name', 'portraitUri', 'email', 'birthday', 'location'] as const) expect(stored[field]).toBe(value);
    const read = (await adminProfile(app, userId))!;
    for (const field of ['name', 'portraitUri', 'email', 'birthday', 'location'] as const) expect(read[field]).toBe(value);
    expect(read.userExtProfile).toEqual([{ key: 'k1', value: '\t x \n' }]);
  });

  it.each([
    ['lone high surrogate', 'a\ud800b'],
    ['lone low surrogate', '\udc00'],
    ['reversed pair', '\ude00\ud83d'],
  ])('an unpaired surrogate (%s) is refused', async (_kind, value) => {
    const userId = uid('surrogates');
    await writeOk(app, writer, userId, { name: 'ok' });
    expectError(await writeFails(app, writer, userId, { name: value }), 'BAD_USER_INPUT', { fields: ['name'] });
    expectError(await writeFails(app, writer, userId, { location: value }), 'BAD_USER_INPUT', { fields: ['location'] });
    expectError(await writeFails(app, writer, userId, { userExtProfile: [{ key: 'k2', value }] }), 'BAD_USER_INPUT', { keys: ['k2'] });
    expect((await adminProfile(app, userId))!.name).toBe('ok');
  });

  it('gender takes UNKNOWN, MALE, FEMALE and nothing else', async () => {
    const userId = uid('gendered');
    for (const gender of ['UNKNOWN', 'MALE', 'FEMALE']) expect((await writeOk(app, writer, userId, { gender })).gender).toBe(gender);
    expectError(await writeFails(app, writer, userId, { gender: 'OTHER' }), 'BAD_USER_INPUT');
    expect((await adminProfile(app, userId))!.gender).toBe('FEMALE');
  });
});

describe('ext profile entries', () => {

  it.each(WRITERS)('%s: 20 entries are accepted, 21 are refused with RC 24363', async (writer) => {
    const app = shared;
    const many = uid('many');
    const twenty = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    const stored = await writeOk(app, writer, many, { userExtProfile: twenty });
    expect(stored.userExtProfile).toHaveLength(20);
    const error = await writeFails(app, writer, many, { userExtProfile: [...twenty.map((e) => ({ ...e, value: 'changed' })), { key: 'k0', value: 'x' }] });
    expectError(error, 'BAD_USER_INPUT', { rcCode: 24363, fields: ['userExtProfile'] });
    expect((await adminProfile(app, many))!.userExtProfile).toEqual(expect.arrayContaining(twenty));
  });

  it.each(WRITERS)('%s: an undefined key is BAD_USER_INPUT naming the key (RC 24362)', async (writer) => {
    const app = shared;
    const u1 = uid();
    const error = await writeFails(app, writer, u1, { userExtProfile: [{ key: 'k0', value: 'fine' }, { key: 'undefinedKey', value: 'x' }] });
    expectError(error, 'BAD_USER_INPUT', { rcCode: 24362, keys: ['undefinedKey'] });
    expect(error.extensions!.keys).not.toContain('k0');
    expect((await adminProfile(app, u1))?.userExtProfile ?? []).toEqual([]);
  });

  it.each(WRITERS)('%s: a value of 256 characters is stored, 257 are refused (RC 24364)', async (writer) => {
    const app = shared;
    const long = uid('long');
    for (const char of ['v', '😀', '汉']) {
      const stored = await writeOk(app, writer, long, { userExtProfile: [{ key: 'k0', value: char.repeat(256) }] });
      expect(stored.userExtProfile).toEqual([{ key: 'k0', value: char.repeat(256) }]);
      const error = await writeFails(app, writer, long, { userExtProfile: [{ key: 'k0', value: char.repeat(257) }] });
      expectError(error, 'BAD_USER_INPUT', { rcCode: 24364, keys: ['k0'] });
    }
    expect((await adminProfile(app, long))!.userExtProfile).toEqual([{ key: 'k0', value: '汉'.repeat(256) }]);
  });

  it('a key without allowClientWrite: the user gets FORBIDDEN (RC 24360), the backend may write it', async () => {
    const app = await server.newApp();
    await defineKey(app, 'open', true, true);
    await defineKey(app, 'locked', true, false);
    const alice = await app.user('alice');
    const error = await alice.fails(UPDATE_MY, { p: { name: 'Alice', userExtProfile: [{ key: 'open', value: 'o' }, { key: 'locked', value: 'l' }] } });
    expectError(error, 'FORBIDDEN', { rcCode: 24360, keys: ['locked'] });
    // removing it is a write too
    expectError(await alice.fails(UPDATE_MY, { p: { userExtProfile: [{ key: 'locked', value: null }] } }), 'FORBIDDEN', { rcCode: 24360, keys: ['locked'] });
    const untouched = (await adminProfile(app, 'alice'))!;
    expect(untouched.name).toBeNull();
    expect(untouched.userExtProfile).toEqual([]);

    const stored = await setProfile(app, 'alice', { userExtProfile: [{ key: 'locked', value: 'by backend' }] });
    expect(stored.userExtProfile).toEqual([{ key: 'locked', value: 'by backend' }]);
    // the owner still reads it (allowClientRead) and may write the open key next to it
    const mine = await updateMy(alice, { userExtProfile: [{ key: 'open', value: 'o' }] });
    expect(mine.userExtProfile).toEqual(expect.arrayContaining([{ key: 'locked', value: 'by backend' }, { key: 'open', value: 'o' }]));
  });

  it('entries merge by key and a null value removes the key', async () => {
    const alice = await shared.user(uid());
    await updateMy(alice, { userExtProfile: [{ key: 'k0', value: 'a' }, { key: 'k1', value: 'b' }] });
    const merged = await updateMy(alice, { userExtProfile: [{ key: 'k1', value: 'B' }, { key: 'k2', value: 'c' }] });
    expect(sortEntries(merged.userExtProfile)).toEqual([{ key: 'k0', value: 'a' }, { key: 'k1', value: 'B' }, { key: 'k2', value: 'c' }]);
    const removed = await updateMy(alice, { userExtProfile: [{ key: 'k0', value: null }, { key: 'k2' }] });
    expect(sortEntries(removed.userExtProfile)).toEqual([{ key: 'k1', value: 'B' }]);
    // an empty list changes nothing but is still a write
    const same = await updateMy(alice, { userExtProfile: [] });
    expect(same.userExtProfile).toEqual([{ key: 'k1', value: 'B' }]);
    expect(same.version).toBe(removed.version + 1);
  });
});

const sortEntries = (entries: { key: string; value: string }[] | null) => [...(entries ?? [])].sort((a, b) => a.key.localeCompare(b.key));

describe('uniqueId', () => {
  it('backend: 1 to 32 letters and digits; 33, "", "a-b" and non-ASCII are BAD_USER_INPUT naming uniqueId', async () => {
    const app = shared;
    expect((await setProfile(app, uid(), { uniqueId: 'A'.repeat(32) })).uniqueId).toBe('A'.repeat(32));
    expect((await setProfile(app, uid(), { uniqueId: '7' })).uniqueId).toBe('7');
    const u3 = uid();
    for (const bad of ['B'.repeat(33), '', 'a-b', 'a b', 'é', 'a_b']) {
      const error = await app.backend.fails(SET_PROFILE, { u: u3, p: { uniqueId: bad } });
      expectError(error, 'BAD_USER_INPUT', { fields: ['uniqueId'] });
    }
    expect(await adminProfile(app, u3)).toBeUndefined();
  });

  it('is not part of UserProfileInput: a user sending it has the GraphQL document rejected', async () => {
    const app = shared;
    const aliceId = uid('alice');
    const alice = await app.user(aliceId);
    const inline = await alice.fails('mutation { updateMyUserProfile(profile: { name: "x", uniqueId: "alice1" }) { version } }');
    expectError(inline, 'BAD_USER_INPUT');
    const viaVariables = await alice.fails(UPDATE_MY, { p: { name: 'x', uniqueId: 'alice1' } });
    expectError(viaVariables, 'BAD_USER_INPUT');
    const stored = (await adminProfile(app, aliceId))!;
    expect(stored.uniqueId).toBeNull();
    expect(stored.name).toBeNull();
    expect(stored.version).toBe(1);
  });

  it('is unique per app (taken → BAD_USER_INPUT naming uniqueId), free in another app, case-sensitive', async () => {
    const app = await server.newApp();
    const other = await server.newApp();
    await setProfile(app, 'u1', { uniqueId: 'Taken1' });
    const before = await adminProfile(app, 'u2');
    await setProfile(app, 'u2', { name: 'two' });
    const error = await app.backend.fails(SET_PROFILE, { u: 'u2', p: { uniqueId: 'Taken1', name: 'changed' } });
    expectError(error, 'BAD_USER_INPUT', { fields: ['uniqueId'] });
    expect(before).toBeUndefined();
    const u2 = (await adminProfile(app, 'u2'))!;
    expect(u2.uniqueId).toBeNull();
    expect(u2.name).toBe('two');
    expect(u2.version).toBe(2);
    // a user that does not exist yet is not created by a refused write
    expectError(await app.backend.fails(SET_PROFILE, { u: 'ghost', p: { uniqueId: 'Taken1' } }), 'BAD_USER_INPUT', { fields: ['uniqueId'] });
    expect(await adminProfile(app, 'ghost')).toBeUndefined();

    // setting the same value again on its owner is fine
    expect((await setProfile(app, 'u1', { uniqueId: 'Taken1' })).uniqueId).toBe('Taken1');
    // the same uniqueId in another app is another namespace
    expect((await setProfile(other, 'u9', { uniqueId: 'Taken1' })).uniqueId).toBe('Taken1');
    // case-sensitive: a different case is a different uniqueId
    expect((await setProfile(app, 'u3', { uniqueId: 'taken1' })).uniqueId).toBe('taken1');

    const viewer = await app.user('viewer');
    const search = 'query($q: String!) { searchUserProfileByUniqueId(uniqueId: $q) { userId } }';
    expect((await viewer.ok(search, { q: 'Taken1' })).searchUserProfileByUniqueId).toEqual({ userId: 'u1' });
    expect((await viewer.ok(search, { q: 'taken1' })).searchUserProfileByUniqueId).toEqual({ userId: 'u3' });
    expect((await viewer.ok(search, { q: 'TAKEN1' })).searchUserProfileByUniqueId).toBeNull();
    expect((await viewer.ok(search, { q: 'Taken' })).searchUserProfileByUniqueId).toBeNull();

    // null clears it and frees it for someone else
    expect((await setProfile(app, 'u1', { uniqueId: null })).uniqueId).toBeNull();
    expect((await setProfile(app, 'u2', { uniqueId: 'Taken1' })).uniqueId).toBe('Taken1');
    expect((await viewer.ok(search, { q: 'Taken1' })).searchUserProfileByUniqueId).toEqual({ userId: 'u2' });
  });
});

describe('all-or-nothing writes', () => {
  it('an update with several bad fields and keys names every one of them and writes nothing', async () => {
    const alice = await shared.user(uid());
    const start = await updateMy(alice, { name: 'Alice', email: 'a@example.com', role: 5, userExtProfile: [{ key: 'k3', value: 'g' }] });
    server.clock.advance(1000);

    const error = await alice.fails(UPDATE_MY, {
      p: {
        name: 'n'.repeat(33),
        portraitUri: 'https://ok.example.com/p.png', // valid, but must not be written either
        email: 'bad\u0001@example.com',
        birthday: 'b'.repeat(33),
        location: 'l\r',
        role: 101,
        level: -1,
        userExtProfile: [
          { key: 'k3', value: 'changed' },
          { key: 'nope', value: 'x' },
          { key: 'k4', value: 'x'.repeat(257) },
        ],
      },
    });
    expectError(error, 'BAD_USER_INPUT');
    expect([...error.extensions!.fields!].sort()).toEqual(['birthday', 'email', 'level', 'location', 'name', 'role']);
    expect([...error.extensions!.keys!].sort()).toEqual(['k4', 'nope']);
    expect(error.extensions!.rcCode).toBeGreaterThanOrEqual(24360);
    expect(error.extensions!.rcCode).toBeLessThanOrEqual(24368);

    const after = (await alice.ok(MY_PROFILE)).myUserProfile;
    expect(after).toEqual(start);
    expect(after.version).toBe(start.version);
    expect(after.updatedAt).toBe(start.updatedAt);
  });

  it('the backend write is all-or-nothing too', async () => {
    const app = shared;
    const bob = uid('bob');
    await setProfile(app, bob, { name: 'Bob' });
    const before = await adminProfile(app, bob);
    const error = await app.backend.fails(SET_PROFILE, { u: bob, p: { name: 'Robert', uniqueId: 'bad-id', level: 500, userExtProfile: [{ key: 'missing', value: 'x' }] } });
    expectError(error, 'BAD_USER_INPUT', { fields: ['uniqueId', 'level'], keys: ['missing'] });
    expect(await adminProfile(app, bob)).toEqual(before);
  });

  it('omitted fields stay, null clears', async () => {
    const app = shared;
    const aliceId = uid('alice');
    const alice = await app.user(aliceId);
    const full = { name: 'Alice', portraitUri: 'p', email: 'e', birthday: 'b', gender: 'FEMALE', location: 'l', role: 1, level: 2 };
    await updateMy(alice, full);
    const renamed = await updateMy(alice, { name: 'Alicia' });
    expect(renamed).toMatchObject({ ...full, name: 'Alicia' });
    const cleared = await updateMy(alice, { email: null, gender: null, role: null, portraitUri: null });
    expect(cleared).toMatchObject({ ...full, name: 'Alicia', email: null, gender: null, role: null, portraitUri: null });
    const backendCleared = await setProfile(app, aliceId, { name: null, level: null });
    expect(backendCleared).toMatchObject({ name: null, level: null, birthday: 'b', location: 'l' });
  });
});

describe('version and updatedAt', () => {
  it('every successful write bumps version by one and moves updatedAt; failed writes do neither', async () => {
    const app = shared;
    const aliceId = uid('alice');
    const alice = await app.user(aliceId);
    let last = (await alice.ok(MY_PROFILE)).myUserProfile as ProfileJson;
    expect(last.version).toBe(1);
    expect(last.updatedAt).toBe(server.clock.now().toISOString());

    const steps: [string, () => Promise<unknown>][] = [
      ['updateMyUserProfile', () => updateMy(alice, { name: 'A' })],
      ['updateMyUserProfile (same value)', () => updateMy(alice, { name: 'A' })],
      ['setUserProfile', () => setProfile(app, aliceId, { level: 3 })],
      ['updateMyUserProfileVisibility', () => alice.ok('mutation { updateMyUserProfileVisibility(visibility: EVERYONE) }')],
      ['updateMyUserProfileVisibility back to NOT_SET', () => alice.ok('mutation { updateMyUserProfileVisibility(visibility: NOT_SET) }')],
    ];
    for (const [what, step] of steps) {
      server.clock.advance(1500);
      await step();
      const now = (await alice.ok(MY_PROFILE)).myUserProfile as ProfileJson;
      expect(now.version, what).toBe(last.version + 1);
      expect(now.updatedAt, what).toBe(server.clock.now().toISOString());
      expect(Date.parse(now.updatedAt)).toBeGreaterThan(Date.parse(last.updatedAt));
      last = now;
    }

    server.clock.advance(1500);
    expectError(await alice.fails(UPDATE_MY, { p: { name: 'x'.repeat(40) } }), 'BAD_USER_INPUT', { fields: ['name'] });
    expectError(await alice.fails(UPDATE_MY, { p: { name: 'y' }, v: last.version - 1 }), 'VERSION_CONFLICT');
    const unchanged = (await alice.ok(MY_PROFILE)).myUserProfile;
    expect(unchanged).toEqual(last);
  });

  it('the returned profile carries the new version and updatedAt', async () => {
    const alice = await shared.user(uid('alice'));
    server.clock.advance(2000);
    const written = await updateMy(alice, { name: 'A' });
    expect(written.version).toBe(2);
    expect(written.updatedAt).toBe(server.clock.now().toISOString());
    expect((await alice.ok(MY_PROFILE)).myUserProfile).toEqual(written);
  });
});

describe('expectedVersion', () => {
  it('a matching expectedVersion writes; a stale one is VERSION_CONFLICT and writes nothing', async () => {
    const alice = await shared.user(uid('alice'));
    const v2 = await updateMy(alice, { name: 'one' }, 1);
    expect(v2).toMatchObject({ name: 'one', version: 2 });
    const error = await alice.fails(UPDATE_MY, { p: { name: 'stale', email: 'x' }, v: 1 });
    expectError(error, 'VERSION_CONFLICT');
    const future = await alice.fails(UPDATE_MY, { p: { name: 'future' }, v: 3 });
    expectError(future, 'VERSION_CONFLICT');
    expect((await alice.ok(MY_PROFILE)).myUserProfile).toEqual(v2);
    expect(await updateMy(alice, { name: 'two' }, 2)).toMatchObject({ name: 'two', version: 3 });
  });

  it('an invalid input with a stale version is refused as invalid, still writing nothing', async () => {
    const alice = await shared.user(uid('alice'));
    const error = await alice.fails(UPDATE_MY, { p: { role: 500 }, v: 7 });
    expect(['BAD_USER_INPUT', 'VERSION_CONFLICT']).toContain(error.extensions?.code);
    expect((await alice.ok(MY_PROFILE)).myUserProfile.version).toBe(1);
  });

  it('two concurrent writes with the same expectedVersion: exactly one wins, the other gets VERSION_CONFLICT (20 rounds)', async () => {
    const aliceId = uid('alice');
    const phone = await shared.user(aliceId, { deviceId: 'phone' });
    const laptop = await shared.user(aliceId, { deviceId: 'laptop' });
    let version = 1;
    for (let round = 0; round < 20; round++) {
      const [a, b] = await Promise.all([
        phone.request(UPDATE_MY, { p: { name: `phone ${round}` }, v: version }),
        laptop.request(UPDATE_MY, { p: { name: `laptop ${round}` }, v: version }),
      ]);
      const winners = [a, b].filter((r) => !r.errors);
      const losers = [a, b].filter((r) => r.errors);
      expect(winners, `round ${round}`).toHaveLength(1);
      expect(losers, `round ${round}`).toHaveLength(1);
      expectError(losers[0]!.errors![0]!, 'VERSION_CONFLICT');
      const won = winners[0]!.data.updateMyUserProfile as ProfileJson;
      expect(won.version).toBe(version + 1);
      const stored = (await phone.ok(MY_PROFILE)).myUserProfile as ProfileJson;
      expect(stored.version).toBe(version + 1);
      expect(stored.name).toBe(won.name);
      version = stored.version;
    }
  });

  it('concurrent writes without expectedVersion all succeed, each bumping version once', async () => {
    const alice = await shared.user(uid('alice'));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => alice.request(UPDATE_MY, { p: { userExtProfile: [{ key: i % 2 ? 'k5' : 'k6', value: `${i}` }] } })),
    );
    expect(results.every((r) => !r.errors)).toBe(true);
    expect(new Set(results.map((r) => r.data.updateMyUserProfile.version)).size).toBe(10);
    const stored = (await alice.ok(MY_PROFILE)).myUserProfile;
    expect(stored.version).toBe(11);
    expect(stored.userExtProfile.map((e: { key: string }) => e.key).sort()).toEqual(['k5', 'k6']);
  });
});

describe('userProfiles id list', () => {
  let app: TestApp;
  let viewer: GraphQLClient;
  beforeAll(async () => {
    app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    for (let i = 0; i < 21; i++) await setProfile(app, `p${i}`, { name: `P${i}` });
    viewer = await app.user('viewer');
  });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`);

  it.each([0, 21])('%i ids are BAD_USER_INPUT with RC 24365', async (n) => {
    const error = await viewer.fails(USER_PROFILES, { ids: ids(n) });
    expectError(error, 'BAD_USER_INPUT', { rcCode: 24365, fields: ['userIds'] });
  });

  it('20 ids are fine', async () => {
    const { userProfiles } = await viewer.ok(USER_PROFILES, { ids: ids(20) });
    expect(userProfiles.map((p: ProfileJson) => p.userId)).toEqual(ids(20));
  });

  it('unknown ids are left out, input order is kept, duplicates collapse', async () => {
    const { userProfiles } = await viewer.ok(USER_PROFILES, { ids: ['p7', 'nobody', 'p2', 'p7', 'p15', 'ghost', 'p2', 'viewer'] });
    expect(userProfiles.map((p: ProfileJson) => p.userId)).toEqual(['p7', 'p2', 'p15', 'viewer']);
    expect(userProfiles[0].name).toBe('P7');
  });

  it('only unknown ids give an empty list', async () => {
    expect((await viewer.ok(USER_PROFILES, { ids: ['x1', 'x2'] })).userProfiles).toEqual([]);
  });

  it('adminUserProfiles keeps order and leaves out unknown ids too', async () => {
    const { adminUserProfiles } = await app.backend.ok(ADMIN_PROFILES, { ids: ['p3', 'zz', 'p1', 'p3'] });
    expect(adminUserProfiles.map((p: ProfileJson) => p.userId)).toEqual(['p3', 'p1']);
  });
});

describe('ext key registry', () => {
  const DEFINE = 'mutation($k: String!, $r: Boolean, $w: Boolean) { defineExtProfileKey(key: $k, allowClientRead: $r, allowClientWrite: $w) { key allowClientRead allowClientWrite } }';

  it('20 keys are fine, a 21st is LIMIT_EXCEEDED, redefining an existing key is not counted', async () => {
    const app = await server.newApp();
    for (let i = 0; i < 20; i++) await defineKey(app, `key${i}`);
    const error = await app.backend.fails(DEFINE, { k: 'key20' });
    expectError(error, 'LIMIT_EXCEEDED');
    const redefined = await app.backend.ok(DEFINE, { k: 'key5', r: false, w: false });
    expect(redefined.defineExtProfileKey).toEqual({ key: 'key5', allowClientRead: false, allowClientWrite: false });
    const { extProfileKeys } = await app.backend.ok('{ extProfileKeys { key allowClientRead allowClientWrite } }');
    expect(extProfileKeys).toHaveLength(20);
    expect(extProfileKeys.find((k: { key: string }) => k.key === 'key5')).toEqual({ key: 'key5', allowClientRead: false, allowClientWrite: false });
    expect(extProfileKeys.some((k: { key: string }) => k.key === 'key20')).toBe(false);

    // removing one makes room again
    expect((await app.backend.ok('mutation { removeExtProfileKey(key: "key0") }')).removeExtProfileKey).toBe(true);
    await defineKey(app, 'key20');
    expectError(await app.backend.fails(DEFINE, { k: 'key21' }), 'LIMIT_EXCEEDED');
  });

  it('defaults to readable and writable; keys are 1 to 32 letters, digits and _', async () => {
    const app = await server.newApp();
    expect((await app.backend.ok(DEFINE, { k: 'K'.repeat(32) })).defineExtProfileKey).toEqual({ key: 'K'.repeat(32), allowClientRead: true, allowClientWrite: true });
    // a key with _ holds a value that reads back under that very key (not camel-cased like a column name)
    expect((await app.backend.ok(DEFINE, { k: 'ext_Profile' })).defineExtProfileKey.key).toBe('ext_Profile');
    const set = await app.backend.ok('mutation { setUserProfile(userId: "rc1", profile: { userExtProfile: [{ key: "ext_Profile", value: "testpro1" }] }) { userExtProfile { key value } } }');
    expect(set.setUserProfile.userExtProfile).toEqual([{ key: 'ext_Profile', value: 'testpro1' }]);
    const read = await app.backend.ok('query { adminUserProfiles(userIds: ["rc1"]) { userExtProfile { key value } } }');
    expect(read.adminUserProfiles[0].userExtProfile).toEqual([{ key: 'ext_Profile', value: 'testpro1' }]);
    expectError(await app.backend.fails(DEFINE, { k: `ext_${'K'.repeat(29)}` }), 'BAD_USER_INPUT');
    for (const bad of ['', 'K'.repeat(33), 'a-b', 'a b', 'ключ']) {
      expectError(await app.backend.fails(DEFINE, { k: bad }), 'BAD_USER_INPUT');
    }
  });

  it('removeExtProfileKey removes the values from every profile; the key is then undefined', async () => {
    const app = await server.newApp();
    await defineKey(app, 'keep');
    await defineKey(app, 'drop');
    await setProfile(app, 'u1', { userExtProfile: [{ key: 'keep', value: '1' }, { key: 'drop', value: '2' }] });
    await setProfile(app, 'u2', { userExtProfile: [{ key: 'drop', value: '3' }] });
    const untouched = await setProfile(app, 'u3', { userExtProfile: [{ key: 'keep', value: '4' }] });
    const u1Before = (await adminProfile(app, 'u1'))!;
    server.clock.advance(3000);
    expect((await app.backend.ok('mutation { removeExtProfileKey(key: "drop") }')).removeExtProfileKey).toBe(true);
    const u1 = (await adminProfile(app, 'u1'))!;
    expect(u1.userExtProfile).toEqual([{ key: 'keep', value: '1' }]);
    expect((await adminProfile(app, 'u2'))!.userExtProfile).toEqual([]);
    // the profiles that lost a value changed: their cache validators move (SPEC §2), the others stay
    expect(u1.version).toBe(u1Before.version + 1);
    expect(u1.updatedAt).toBe(server.clock.now().toISOString());
    expect(await adminProfile(app, 'u3')).toEqual(untouched);
    expectError(await app.backend.fails(SET_PROFILE, { u: 'u1', p: { userExtProfile: [{ key: 'drop', value: 'x' }] } }), 'BAD_USER_INPUT', {
      rcCode: 24362,
      keys: ['drop'],
    });
    // defining it again does not bring the old values back
    await defineKey(app, 'drop');
    expect((await adminProfile(app, 'u2'))!.userExtProfile).toEqual([]);
    // removing a key that does not exist answers false
    expect((await app.backend.ok('mutation { removeExtProfileKey(key: "never") }')).removeExtProfileKey).toBe(false);
  });
});

describe('issueUserToken expiresInSeconds', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await server.newApp();
  });
  const ISSUE = 'mutation($u: ID!, $e: Int) { issueUserToken(userId: $u, expiresInSeconds: $e) { token expiresAt } }';

  it.each([1, 2592000])('%i is accepted and sets expiresAt', async (seconds) => {
    const { issueUserToken } = await app.backend.ok(ISSUE, { u: uid(), e: seconds });
    expect(Date.parse(issueUserToken.expiresAt)).toBe(Math.floor(server.clock.now().getTime() / 1000) * 1000 + seconds * 1000);
    expect(typeof issueUserToken.token).toBe('string');
  });

  it('defaults to 86400 seconds', async () => {
    const { issueUserToken } = await app.backend.ok(ISSUE, { u: uid() });
    expect(Date.parse(issueUserToken.expiresAt)).toBe(Math.floor(server.clock.now().getTime() / 1000) * 1000 + 86_400_000);
  });

  it.each([0, -5, 2592001])('%i is BAD_USER_INPUT naming expiresInSeconds', async (seconds) => {
    const userId = uid();
    expectError(await app.backend.fails(ISSUE, { u: userId, e: seconds }), 'BAD_USER_INPUT', { fields: ['expiresInSeconds'] });
    expect(await adminProfile(app, userId)).toBeUndefined();
  });

  it.each(['', 'a'.repeat(65), 'bad id', 'ü'])('a malformed userId (%j) is BAD_USER_INPUT', async (userId) => {
    expectError(await app.backend.fails(ISSUE, { u: userId }), 'BAD_USER_INPUT', { fields: ['userId'] });
  });

  it('userId: 64 characters of the allowed set are fine', async () => {
    const userId = `A-z_0=9@.+${'x'.repeat(54)}`;
    await app.backend.ok(ISSUE, { u: userId });
    expect((await adminProfile(app, userId))!.userId).toBe(userId);
  });
});
