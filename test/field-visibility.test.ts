/**
 * SPEC §10, per-field visibility, in queries: every cell (profile visibility × overridden field ×
 * override × viewer) asserted against the table written out in helpers/field-visibility.ts; the
 * API's validation (refusals change nothing); removed ext keys; one decision per (owner, viewer).
 * Pushed events, syncs and resumes: test/realtime-field-visibility.test.ts.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProfileLine, profileLine } from '../src/profiles/portable.ts';
import { upsertProfiles } from '../src/profiles/service.ts';
import type { GraphQLClient } from './helpers/client.ts';
import {
  EXT,
  FIELDS,
  MY_FIELD_VISIBILITY,
  OVERRIDES,
  SET_FIELD_VISIBILITY,
  TARGETS,
  entry,
  expectedCut,
  expectCutOf,
  fullProfile,
  myOverrides,
  setOverrides,
  type Decided,
  type Setting,
  type Target,
  type ViewerKind,
} from './helpers/field-visibility.ts';
import { ADMIN_PROFILES, ALL_FIELDS, MY_PROFILE, USER_PROFILES, defineKey, expectError, makeFriends, setAppDefaultVisibility, setMyVisibility, setProfile, type ProfileJson } from './helpers/profiles.ts';
import { startQuietTestServer, type TestApp, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  // nothing in the background: the statements counted are the request's or the change's own
  server = await startQuietTestServer();
});
afterAll(() => server?.stop());

/** the profile's own setting (NOT_SET: the app's default, FRIENDS_ONLY here) */
const PROFILE_SETTINGS: Setting[] = ['NOT_SET', 'INVISIBLE', 'FRIENDS_ONLY', 'EVERYONE'];
const APP_DEFAULT: Decided = 'FRIENDS_ONLY';
const VIEWERS: ViewerKind[] = ['self', 'friend', 'stranger', 'backend'];
const effectiveOf = (setting: Setting): Decided => (setting === 'NOT_SET' ? APP_DEFAULT : setting);

interface Owner {
  n: number;
  userId: string;
  profile: Setting;
  target: Target;
  override: Setting;
}
const OWNERS: Owner[] = PROFILE_SETTINGS.flatMap((profile) => TARGETS.flatMap((target) => OVERRIDES.map((override) => ({ profile, target, override }))))
  .map((o, n) => ({ ...o, n, userId: `o${n}` }));
const CELLS = OWNERS.flatMap((owner) => VIEWERS.map((viewer) => ({ owner, viewer, label: `profile ${owner.profile}, ${owner.target} ${owner.override}, viewer ${viewer}` })));

async function inChunks<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

async function events(appKey: string): Promise<number> {
  const { rows } = await sql<{ n: string }>`select count(*)::text as n from events where app_key = ${appKey}`.execute(server.app.services.db);
  return Number(rows[0]!.n);
}

describe('every cell: profile visibility × field × override × viewer', () => {
  let app: TestApp;
  const clients = new Map<string, GraphQLClient>();
  /** what each viewer got for each owner, by `${userId}/${viewer}` */
  const got = new Map<string, ProfileJson>();

  beforeAll(async () => {
    app = await server.newApp('field visibility cells');
    await setAppDefaultVisibility(app, APP_DEFAULT);
    await defineKey(app, EXT, true, true);
    await defineKey(app, 'secret', false, false);
    const friend = await app.user('friend');
    const stranger = await app.user('stranger');
    await inChunks(OWNERS, 8, async (o) => {
      await setProfile(app, o.userId, fullProfile(o.n));
      const client = await app.user(o.userId);
      clients.set(o.userId, client);
      if (o.profile !== 'NOT_SET') await setMyVisibility(client, o.profile);
      // NOT_SET is a real removal: an override set first, then removed
      await setOverrides(client, [entry(o.target, o.override === 'EVERYONE' ? 'INVISIBLE' : 'EVERYONE')]);
      await setOverrides(client, [entry(o.target, o.override)]);
      await makeFriends(app, 'friend', o.userId);
    });
    const ids = OWNERS.map((o) => o.userId);
    for (const [viewer, client] of [['friend', friend], ['stranger', stranger]] as const) {
      for (let i = 0; i < ids.length; i += 20) {
        const { userProfiles } = await client.ok<{ userProfiles: ProfileJson[] }>(USER_PROFILES, { ids: ids.slice(i, i + 20) });
        for (const p of userProfiles) got.set(`${p.userId}/${viewer}`, p);
      }
    }
    for (let i = 0; i < ids.length; i += 100) {
      const { adminUserProfiles } = await app.backend.ok<{ adminUserProfiles: ProfileJson[] }>(ADMIN_PROFILES, { ids: ids.slice(i, i + 100) });
      for (const p of adminUserProfiles) got.set(`${p.userId}/backend`, p);
    }
    await inChunks(OWNERS, 8, async (o) => {
      const { userProfiles } = await clients.get(o.userId)!.ok<{ userProfiles: ProfileJson[] }>(USER_PROFILES, { ids: [o.userId] });
      got.set(`${o.userId}/self`, userProfiles[0]!);
    });
  }, 180_000);

  it(`covers ${PROFILE_SETTINGS.length} × ${TARGETS.length} × ${OVERRIDES.length} × ${VIEWERS.length} cells`, () => {
    expect(CELLS).toHaveLength(4 * 8 * 4 * 4);
    expect(new Set(CELLS.map((c) => c.label)).size).toBe(CELLS.length);
    expect(got.size).toBe(CELLS.length);
  });

  it.each(CELLS)('$label', ({ owner, viewer, label }) => {
    const overrides = { [owner.target]: owner.override } as Partial<Record<Target, Setting>>;
    expectCutOf(got.get(`${owner.userId}/${viewer}`), expectedCut(owner.n, effectiveOf(owner.profile), overrides, viewer), label);
  });

  it('wider than the profile: profile INVISIBLE, email EVERYONE → a stranger sees the email and nothing else', () => {
    const owner = OWNERS.find((o) => o.profile === 'INVISIBLE' && o.target === 'EMAIL' && o.override === 'EVERYONE')!;
    const p = got.get(`${owner.userId}/stranger`)!;
    expect(p).toMatchObject({ email: fullProfile(owner.n).email, uniqueId: null, birthday: null, level: null, userExtProfile: null, restricted: true });
  });

  it('narrower than the profile: profile EVERYONE, email INVISIBLE → a friend does not see the email, the owner does', () => {
    const owner = OWNERS.find((o) => o.profile === 'EVERYONE' && o.target === 'EMAIL' && o.override === 'INVISIBLE')!;
    expect(got.get(`${owner.userId}/friend`)).toMatchObject({ email: null, location: 'Berlin', restricted: true });
    expect(got.get(`${owner.userId}/stranger`)).toMatchObject({ email: null, location: 'Berlin', restricted: true });
    expect(got.get(`${owner.userId}/self`)).toMatchObject({ email: fullProfile(owner.n).email, restricted: false });
    expect(got.get(`${owner.userId}/backend`)).toMatchObject({ email: fullProfile(owner.n).email, restricted: false });
  });

  it('an ext key shown wider than the profile lists that key alone; hidden narrower, the list is there without it', () => {
    const wider = OWNERS.find((o) => o.profile === 'INVISIBLE' && o.target === 'EXT' && o.override === 'EVERYONE')!;
    expect(got.get(`${wider.userId}/stranger`)).toMatchObject({ userExtProfile: [{ key: EXT, value: `h-${wider.n}` }], email: null, restricted: true });
    const narrower = OWNERS.find((o) => o.profile === 'EVERYONE' && o.target === 'EXT' && o.override === 'INVISIBLE')!;
    expect(got.get(`${narrower.userId}/friend`)).toMatchObject({ userExtProfile: [], email: fullProfile(narrower.n).email, restricted: true });
  });

  it('the same cuts through myUserProfile and searchUserProfileByUniqueId', async () => {
    const search = `query($q: String!) { searchUserProfileByUniqueId(uniqueId: $q) { ${ALL_FIELDS} } }`;
    const stranger = await app.user('stranger');
    for (const owner of OWNERS.filter((o) => o.target === 'EMAIL' || o.target === 'EXT')) {
      const overrides = { [owner.target]: owner.override } as Partial<Record<Target, Setting>>;
      const label = `profile ${owner.profile}, ${owner.target} ${owner.override}`;
      const found = (await stranger.ok(search, { q: `fv${owner.n}` })).searchUserProfileByUniqueId;
      expectCutOf(found, expectedCut(owner.n, effectiveOf(owner.profile), overrides, 'stranger'), `search, ${label}`);
      const mine = (await clients.get(owner.userId)!.ok(MY_PROFILE)).myUserProfile;
      expectCutOf(mine, expectedCut(owner.n, effectiveOf(owner.profile), overrides, 'self'), `myUserProfile, ${label}`);
    }
  });

  it('myFieldVisibility lists each owner’s override, and nothing for NOT_SET', async () => {
    await inChunks(OWNERS.filter((o) => o.profile === 'EVERYONE'), 8, async (o) => {
      const expected = o.override === 'NOT_SET' ? [] : [o.target === 'EXT' ? { field: null, extKey: EXT, visibility: o.override } : { field: o.target, extKey: null, visibility: o.override }];
      expect(await myOverrides(clients.get(o.userId)!), `${o.target} ${o.override}`).toEqual(expected);
    });
  });
});

describe('updateMyFieldVisibility', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await server.newApp('field visibility api');
    await setAppDefaultVisibility(app, 'EVERYONE');
    await defineKey(app, EXT, true, true);
    await defineKey(app, 'color', true, false);
    await defineKey(app, 'secret', false, true);
  });

  it('merges: returns all my overrides after the change (fields in order, then ext keys), NOT_SET removes one', async () => {
    const me = await app.user('merger');
    await setProfile(app, 'merger', { name: 'M' });
    expect(await myOverrides(me)).toEqual([]);
    expect(await setOverrides(me, [{ extKey: 'color', visibility: 'INVISIBLE' }, { field: 'LEVEL', visibility: 'FRIENDS_ONLY' }, { field: 'EMAIL', visibility: 'EVERYONE' }])).toEqual([
      { field: 'EMAIL', extKey: null, visibility: 'EVERYONE' },
      { field: 'LEVEL', extKey: null, visibility: 'FRIENDS_ONLY' },
      { field: null, extKey: 'color', visibility: 'INVISIBLE' },
    ]);
    expect(await setOverrides(me, [{ field: 'EMAIL', visibility: 'NOT_SET' }, { field: 'UNIQUE_ID', visibility: 'INVISIBLE' }, { extKey: EXT, visibility: 'FRIENDS_ONLY' }])).toEqual([
      { field: 'UNIQUE_ID', extKey: null, visibility: 'INVISIBLE' },
      { field: 'LEVEL', extKey: null, visibility: 'FRIENDS_ONLY' },
      { field: null, extKey: 'color', visibility: 'INVISIBLE' },
      { field: null, extKey: EXT, visibility: 'FRIENDS_ONLY' },
    ]);
    // NOT_SET of a field without an override is no error
    expect(await setOverrides(me, [{ field: 'GENDER', visibility: 'NOT_SET' }])).toHaveLength(4);
    expect(await myOverrides(me)).toHaveLength(4);
  });

  it('is a profile write: version one up, one profileChanged logged; an empty list writes nothing and answers the overrides', async () => {
    const me = await app.user('writer');
    const before = await setProfile(app, 'writer', { name: 'W' });
    const logged = await events(app.appKey);
    await setOverrides(me, [{ field: 'BIRTHDAY', visibility: 'INVISIBLE' }, { extKey: EXT, visibility: 'INVISIBLE' }]);
    const after = (await me.ok(MY_PROFILE)).myUserProfile as ProfileJson;
    expect(after.version).toBe(before.version + 1);
    expect(await events(app.appKey)).toBe(logged + 1);
    const { rows } = await sql<{ kind: string }>`select kind from events where app_key = ${app.appKey} order by xid desc, position desc limit 1`.execute(server.app.services.db);
    expect(rows[0]!.kind).toBe('profileChanged');

    expect(await setOverrides(me, [])).toEqual([
      { field: 'BIRTHDAY', extKey: null, visibility: 'INVISIBLE' },
      { field: null, extKey: EXT, visibility: 'INVISIBLE' },
    ]);
    expect(((await me.ok(MY_PROFILE)).myUserProfile as ProfileJson).version).toBe(after.version);
    expect(await events(app.appKey)).toBe(logged + 1);
  });

  describe('refusals: BAD_USER_INPUT, nothing written (version, overrides and log unchanged)', () => {
    let me: GraphQLClient;
    let version: number;
    const overrides = [{ field: 'ROLE', extKey: null, visibility: 'INVISIBLE' }];
    beforeAll(async () => {
      me = await app.user('refused');
      await setProfile(app, 'refused', { name: 'R', role: 3 });
      await setOverrides(me, [{ field: 'ROLE', visibility: 'INVISIBLE' }]);
      version = ((await me.ok(MY_PROFILE)).myUserProfile as ProfileJson).version;
    });

    const REFUSALS: { name: string; settings: Record<string, unknown>[]; keys?: string[]; rcCode?: number; message: RegExp }[] = [
      { name: 'both field and extKey', settings: [{ field: 'EMAIL', extKey: EXT, visibility: 'EVERYONE' }], message: /exactly one of field and extKey/ },
      { name: 'neither field nor extKey', settings: [{ visibility: 'EVERYONE' }], message: /exactly one of field and extKey/ },
      { name: 'both given as null', settings: [{ field: null, extKey: null, visibility: 'EVERYONE' }], message: /exactly one of field and extKey/ },
      { name: 'an ext key the app has not defined', settings: [{ extKey: 'nope', visibility: 'EVERYONE' }], keys: ['nope'], rcCode: 24362, message: /"nope" is not defined/ },
      { name: 'an ext key no client may read', settings: [{ extKey: 'secret', visibility: 'EVERYONE' }], keys: ['secret'], message: /"secret" is never shown to users/ },
      { name: 'an ext key no client may read, even NOT_SET', settings: [{ extKey: 'secret', visibility: 'NOT_SET' }], keys: ['secret'], message: /never shown/ },
      { name: 'the same field twice', settings: [{ field: 'EMAIL', visibility: 'EVERYONE' }, { field: 'EMAIL', visibility: 'INVISIBLE' }], message: /field EMAIL is given more than once/ },
      { name: 'the same field twice, once NOT_SET', settings: [{ field: 'EMAIL', visibility: 'NOT_SET' }, { field: 'EMAIL', visibility: 'INVISIBLE' }], message: /more than once/ },
      { name: 'the same ext key twice', settings: [{ extKey: EXT, visibility: 'EVERYONE' }, { extKey: EXT, visibility: 'EVERYONE' }], keys: [EXT], message: /ext key "hobby" is given more than once/ },
      { name: 'one bad entry among good ones', settings: [{ field: 'ROLE', visibility: 'NOT_SET' }, { field: 'EMAIL', visibility: 'INVISIBLE' }, { extKey: 'nope', visibility: 'INVISIBLE' }], keys: ['nope'], message: /nope/ },
      { name: 'an ext key with a character no key has', settings: [{ extKey: 'ext:hobby', visibility: 'EVERYONE' }], keys: ['ext:hobby'], message: /not defined/ },
    ];

    it.each(REFUSALS)('$name', async ({ settings, keys, rcCode, message }) => {
      const logged = await events(app.appKey);
      const error = await me.fails(SET_FIELD_VISIBILITY, { s: settings });
      expectError(error, 'BAD_USER_INPUT', { fields: ['settings'], ...(keys ? { keys } : {}), ...(rcCode ? { rcCode } : {}) });
      expect(error.message).toMatch(message);
      expect(await myOverrides(me)).toEqual(overrides);
      expect(((await me.ok(MY_PROFILE)).myUserProfile as ProfileJson).version).toBe(version);
      expect(await events(app.appKey)).toBe(logged);
    });

    it('every problem of one call is named', async () => {
      const error = await me.fails(SET_FIELD_VISIBILITY, { s: [{ visibility: 'EVERYONE' }, { extKey: 'nope', visibility: 'EVERYONE' }, { extKey: 'secret', visibility: 'EVERYONE' }] });
      expectError(error, 'BAD_USER_INPUT', { keys: ['nope', 'secret'] });
      expect((error.extensions!.issues as { index: number }[]).map((i) => i.index)).toEqual([0, 1, 2]);
    });

    it('a visibility that is no UserProfileVisibility and a field that is no ProfileField are refused by the schema', async () => {
      expectError(await me.fails(SET_FIELD_VISIBILITY, { s: [{ field: 'EMAIL', visibility: 'FRIENDS' }] }), 'BAD_USER_INPUT');
      expectError(await me.fails(SET_FIELD_VISIBILITY, { s: [{ field: 'NAME', visibility: 'INVISIBLE' }] }), 'BAD_USER_INPUT');
      expectError(await me.fails(SET_FIELD_VISIBILITY, { s: [{ field: 'EMAIL' }] }), 'BAD_USER_INPUT');
      expect(((await me.ok(MY_PROFILE)).myUserProfile as ProfileJson).version).toBe(version);
    });

    it('the backend and the operator may not call it (a user setting)', async () => {
      expectError(await app.backend.fails(SET_FIELD_VISIBILITY, { s: [{ field: 'EMAIL', visibility: 'EVERYONE' }] }), 'FORBIDDEN');
      expectError(await app.backend.fails(MY_FIELD_VISIBILITY), 'FORBIDDEN');
      expectError(await server.anonymous.fails(MY_FIELD_VISIBILITY), 'UNAUTHENTICATED');
    });
  });

  it('takes at most 7 fields + 20 ext keys: 27 entries at the limit, 28 refused', async () => {
    const big = await server.newApp('field visibility limit');
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (const k of keys) await defineKey(big, k, true, true);
    const me = await big.user('full');
    await setProfile(big, 'full', { name: 'F' });
    const all = [...Object.keys(FIELDS).map((field) => ({ field, visibility: 'INVISIBLE' as const })), ...keys.map((extKey) => ({ extKey, visibility: 'FRIENDS_ONLY' as const }))];
    expect(all).toHaveLength(27);
    const version = ((await me.ok(MY_PROFILE)).myUserProfile as ProfileJson).version;
    const error = await me.fails(SET_FIELD_VISIBILITY, { s: [...all, { field: 'EMAIL', visibility: 'EVERYONE' }] });
    expectError(error, 'BAD_USER_INPUT', { fields: ['settings'] });
    expect(error.extensions!.max).toBe(27);
    expect(((await me.ok(MY_PROFILE)).myUserProfile as ProfileJson).version).toBe(version);
    expect(await setOverrides(me, all)).toHaveLength(27);
  });
});

describe('ext keys that change after an override was set', () => {
  it('a removed key: its override is dropped from myFieldVisibility and from the rows, reads go on, and the key defined again starts without it', async () => {
    const app = await server.newApp('field visibility removed key');
    await setAppDefaultVisibility(app, 'INVISIBLE');
    await defineKey(app, EXT, true, true);
    await defineKey(app, 'color', true, true);
    const owner = await app.user('owner');
    const viewer = await app.user('viewer');
    await setProfile(app, 'owner', { name: 'O', email: 'o@x.io', userExtProfile: [{ key: EXT, value: 'chess' }] });
    await setProfile(app, 'onlyOverride', { name: 'N' });
    const other = await app.user('onlyOverride');
    await setOverrides(owner, [{ extKey: EXT, visibility: 'EVERYONE' }, { extKey: 'color', visibility: 'EVERYONE' }, { field: 'EMAIL', visibility: 'EVERYONE' }]);
    await setOverrides(other, [{ extKey: EXT, visibility: 'EVERYONE' }]);
    expect((await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ email: 'o@x.io', userExtProfile: [{ key: EXT, value: 'chess' }], restricted: true });
    const otherVersion = ((await other.ok(MY_PROFILE)).myUserProfile as ProfileJson).version;

    await app.backend.ok(`mutation { removeExtProfileKey(key: "${EXT}") }`);
    expect(await myOverrides(owner)).toEqual([
      { field: 'EMAIL', extKey: null, visibility: 'EVERYONE' },
      { field: null, extKey: 'color', visibility: 'EVERYONE' },
    ]);
    expect(await myOverrides(other)).toEqual([]);
    // a profile that held only the override did not otherwise change: same version
    expect(((await other.ok(MY_PROFILE)).myUserProfile as ProfileJson).version).toBe(otherVersion);
    // color is shown by its override (no value, so the list is empty), email still shown
    expect((await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ email: 'o@x.io', userExtProfile: [], restricted: true });

    await defineKey(app, EXT, true, true);
    await setProfile(app, 'owner', { userExtProfile: [{ key: EXT, value: 'go' }] });
    expect((await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ userExtProfile: [], restricted: true });
    expect(await myOverrides(owner)).toHaveLength(2);
  });

  it('an override left for a key no longer defined (written meanwhile) is ignored by reads and left out of myFieldVisibility', async () => {
    const app = await server.newApp('field visibility stale override');
    await setAppDefaultVisibility(app, 'EVERYONE');
    await defineKey(app, EXT, true, true);
    const owner = await app.user('owner');
    const viewer = await app.user('viewer');
    await setProfile(app, 'owner', { name: 'O', email: 'o@x.io', userExtProfile: [{ key: EXT, value: 'chess' }] });
    // as if an override had been validated against the registry just before the key went
    await sql`update users set field_visibility = '{"ext:gone": "INVISIBLE", "ext:hobby": "EVERYONE"}'::jsonb where app_key = ${app.appKey} and user_id = 'owner'`.execute(server.app.services.db);
    expect(await myOverrides(owner)).toEqual([{ field: null, extKey: EXT, visibility: 'EVERYONE' }]);
    const seen = (await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0] as ProfileJson;
    expect(seen).toMatchObject({ email: 'o@x.io', userExtProfile: [{ key: EXT, value: 'chess' }], restricted: false });
    // and writing other overrides keeps working
    expect(await setOverrides(owner, [{ field: 'EMAIL', visibility: 'INVISIBLE' }])).toEqual([
      { field: 'EMAIL', extKey: null, visibility: 'INVISIBLE' },
      { field: null, extKey: EXT, visibility: 'EVERYONE' },
    ]);
  });

  it('a key whose allowClientRead is turned off: hidden from every user, its override listed no more and setting restricted for nobody', async () => {
    const app = await server.newApp('field visibility unreadable');
    await setAppDefaultVisibility(app, 'EVERYONE');
    await defineKey(app, EXT, true, true);
    const owner = await app.user('owner');
    const viewer = await app.user('viewer');
    await setProfile(app, 'owner', { name: 'O', userExtProfile: [{ key: EXT, value: 'chess' }] });
    await setOverrides(owner, [{ extKey: EXT, visibility: 'INVISIBLE' }]);
    expect((await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ userExtProfile: [], restricted: true });
    await defineKey(app, EXT, false, true);
    expect(await myOverrides(owner)).toEqual([]);
    expect((await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ userExtProfile: [], restricted: false });
    // readable again: the user's choice holds again
    await defineKey(app, EXT, true, true);
    expect(await myOverrides(owner)).toEqual([{ field: null, extKey: EXT, visibility: 'INVISIBLE' }]);
    expect((await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0]).toMatchObject({ userExtProfile: [], restricted: true });
  });
});

describe('one visibility decision per (owner, viewer): no N+1 with overrides', () => {
  let app: TestApp;
  let viewer: GraphQLClient;
  const ids = Array.from({ length: 20 }, (_, i) => `q${i}`);
  beforeAll(async () => {
    app = await server.newApp('field visibility query count');
    await setAppDefaultVisibility(app, 'EVERYONE');
    await defineKey(app, EXT, true, true);
    await defineKey(app, 'secret', false, false);
    viewer = await app.user('viewer');
    await inChunks(ids, 5, async (id) => {
      const i = Number(id.slice(1));
      const owner = await app.user(id);
      await setProfile(app, id, { ...fullProfile(i), uniqueId: `q${i}` });
      // every owner overrides something; only the even ones use FRIENDS_ONLY
      await setOverrides(owner, i % 2 === 0 ? [{ field: 'EMAIL', visibility: 'FRIENDS_ONLY' }, { extKey: EXT, visibility: 'INVISIBLE' }] : [{ field: 'BIRTHDAY', visibility: 'INVISIBLE' }]);
      if (i % 4 === 0) await makeFriends(app, 'viewer', id);
    });
    await server.app.realtime.drain();
  }, 60_000);

  async function statementsFor(client: GraphQLClient, query: string, variables: Record<string, unknown>) {
    await server.app.realtime.drain();
    server.statements.length = 0;
    const result = await client.request(query, variables);
    const statements = server.statements.filter((s) => !/pg_snapshot_xmin|from "events"/.test(s));
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    return { statements, data: result.data };
  }
  const friendLookups = (statements: string[]) => statements.filter((s) => /from "friendships"/.test(s)).length;
  const query = `query($ids: [ID!]!) { userProfiles(userIds: $ids) { ${ALL_FIELDS} } }`;

  it('the same small number of statements for 2 and for 20 owners, one friendship lookup for all', async () => {
    const two = await statementsFor(viewer, query, { ids: ['q0', 'q1'] });
    const twenty = await statementsFor(viewer, query, { ids });
    expect(twenty.statements.length, twenty.statements.join('\n')).toBe(two.statements.length);
    expect(twenty.statements.length).toBeLessThanOrEqual(5);
    expect(friendLookups(twenty.statements)).toBe(1);
    const profiles = twenty.data.userProfiles as ProfileJson[];
    profiles.forEach((p, i) => {
      const friend = i % 4 === 0;
      expect(p.email, p.userId).toBe(i % 2 === 0 && !friend ? null : `owner${i}@example.com`);
      expect(p.birthday, p.userId).toBe(i % 2 === 1 ? null : '1990-01-01');
      expect(p.userExtProfile, p.userId).toEqual(i % 2 === 0 ? [] : [{ key: EXT, value: `h-${i}` }]);
      expect(p.restricted, p.userId).toBe(true);
    });
  });

  it('no friendship lookup when neither the profiles nor any of their overrides is FRIENDS_ONLY', async () => {
    const odd = ids.filter((_, i) => i % 2 === 1);
    const { statements } = await statementsFor(viewer, query, { ids: odd });
    expect(friendLookups(statements), statements.join('\n')).toBe(0);
  });
});

describe('export and import carry the overrides', () => {
  it('a profile line holds the visibility and the overrides; imported into another app, they are the same there', async () => {
    const source = await server.newApp('field visibility export');
    const target = await server.newApp('field visibility import');
    for (const app of [source, target]) await defineKey(app, EXT, true, true);
    const owner = await source.user('mover');
    await setProfile(source, 'mover', { name: 'Mover', email: 'm@x.io', userExtProfile: [{ key: EXT, value: 'chess' }] });
    await setMyVisibility(owner, 'INVISIBLE');
    await setOverrides(owner, [{ field: 'EMAIL', visibility: 'EVERYONE' }, { extKey: EXT, visibility: 'FRIENDS_ONLY' }]);

    const services = server.app.services;
    const [row] = await services.db.selectFrom('users').selectAll().where('appKey', '=', source.appKey).where('userId', '=', 'mover').execute();
    const line = profileLine(row!, await services.appConfig.extKeys(source.appKey));
    expect(line).toMatchObject({
      visibility: 'INVISIBLE',
      fieldVisibility: [
        { field: 'EMAIL', visibility: 'EVERYONE' },
        { extKey: EXT, visibility: 'FRIENDS_ONLY' },
      ],
    });
    const parsed = parseProfileLine(JSON.stringify(line));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const [outcome] = await upsertProfiles(services, target.appKey, [parsed.item], await services.appConfig.extKeys(target.appKey));
    expect(outcome!.error).toBeUndefined();
    const moved = await target.user('mover');
    expect((await moved.ok('{ myUserProfileVisibility }')).myUserProfileVisibility).toBe('INVISIBLE');
    expect(await myOverrides(moved)).toEqual([
      { field: 'EMAIL', extKey: null, visibility: 'EVERYONE' },
      { field: null, extKey: EXT, visibility: 'FRIENDS_ONLY' },
    ]);
    const stranger = await target.user('stranger');
    expect((await stranger.ok(USER_PROFILES, { ids: ['mover'] })).userProfiles[0]).toMatchObject({ email: 'm@x.io', userExtProfile: null, restricted: true });

    // a line's overrides replace the stored ones; an override the target app cannot hold refuses the line
    const [replaced] = await upsertProfiles(services, target.appKey, [{ ...parsed.item, privacy: { fieldVisibility: [{ field: 'level', extKey: null, visibility: 'INVISIBLE' }] } }], await services.appConfig.extKeys(target.appKey));
    expect(replaced!.error).toBeUndefined();
    expect(await myOverrides(moved)).toEqual([{ field: 'LEVEL', extKey: null, visibility: 'INVISIBLE' }]);
    const bad = parseProfileLine(JSON.stringify({ ...line, fieldVisibility: [{ extKey: 'unknown', visibility: 'EVERYONE' }] }));
    if (!bad.ok) throw new Error(bad.message);
    const [refused] = await upsertProfiles(services, target.appKey, [bad.item], await services.appConfig.extKeys(target.appKey));
    expect(refused!.error?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await myOverrides(moved)).toEqual([{ field: 'LEVEL', extKey: null, visibility: 'INVISIBLE' }]);
    // several lines of distinct users are written together (one statement): each gets its own
    const batch = ['b1', 'b2', 'b3'].map((userId, i) => ({
      userId,
      input: { name: userId, email: `${userId}@x.io` },
      privacy: i === 2 ? undefined : { visibility: i === 0 ? ('EVERYONE' as const) : undefined, fieldVisibility: [{ field: i === 0 ? ('email' as const) : ('level' as const), extKey: null, visibility: 'INVISIBLE' as const }] },
    }));
    const written = await upsertProfiles(services, target.appKey, batch, await services.appConfig.extKeys(target.appKey));
    expect(written.map((o) => o.error)).toEqual([undefined, undefined, undefined]);
    expect(await myOverrides(await target.user('b1'))).toEqual([{ field: 'EMAIL', extKey: null, visibility: 'INVISIBLE' }]);
    expect(await myOverrides(await target.user('b2'))).toEqual([{ field: 'LEVEL', extKey: null, visibility: 'INVISIBLE' }]);
    expect(await myOverrides(await target.user('b3'))).toEqual([]);
    const seenBatch = (await stranger.ok(USER_PROFILES, { ids: ['b1', 'b2', 'b3'] })).userProfiles as ProfileJson[];
    expect(seenBatch.map((p) => [p.userId, p.email])).toEqual([['b1', null], ['b2', null], ['b3', null]]);
    expect(seenBatch[0]).toMatchObject({ level: null, restricted: true }); // EVERYONE, but no level set
    const again = await upsertProfiles(services, target.appKey, batch.map((b) => ({ ...b, privacy: { fieldVisibility: [] } })), await services.appConfig.extKeys(target.appKey));
    expect(again.map((o) => o.error)).toEqual([undefined, undefined, undefined]);
    expect(await myOverrides(await target.user('b1'))).toEqual([]);
    expect(((await stranger.ok(USER_PROFILES, { ids: ['b1'] })).userProfiles[0] as ProfileJson)).toMatchObject({ email: 'b1@x.io', restricted: false });

    // a line of the wrong shape is refused as a line
    expect(parseProfileLine(JSON.stringify({ ...line, fieldVisibility: [{ field: 'NAME', visibility: 'EVERYONE' }] })).ok).toBe(false);
    expect(parseProfileLine(JSON.stringify({ ...line, visibility: 'HIDDEN' })).ok).toBe(false);
  });
});
