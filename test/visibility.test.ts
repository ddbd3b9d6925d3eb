/**
 * SPEC §3: field-level visibility. Every cell of the table (app default × user setting × viewer)
 * is asserted against an expectation table written out here, independently of src/visibility.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphQLClient } from './helpers/client.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import {
  ADMIN_PROFILES,
  ALL_FIELDS,
  HIDDEN_FIELDS,
  MY_PROFILE,
  USER_PROFILES,
  defineKey,
  expectBasic,
  expectError,
  makeFriends,
  setAppDefaultVisibility,
  setMyVisibility,
  setProfile,
  type ProfileJson,
} from './helpers/profiles.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

type AppDefault = 'INVISIBLE' | 'FRIENDS_ONLY' | 'EVERYONE';
type UserSetting = 'NOT_SET' | 'INVISIBLE' | 'FRIENDS_ONLY' | 'EVERYONE';
type Viewer = 'self' | 'friend' | 'stranger' | 'backend';
type View = 'full' | 'basic';

const APP_DEFAULTS: AppDefault[] = ['INVISIBLE', 'FRIENDS_ONLY', 'EVERYONE'];
const USER_SETTINGS: UserSetting[] = ['NOT_SET', 'INVISIBLE', 'FRIENDS_ONLY', 'EVERYONE'];
const VIEWERS: Viewer[] = ['self', 'friend', 'stranger', 'backend'];

/** SPEC §3, written out: effective visibility → what each kind of viewer sees. */
const TABLE: Record<AppDefault, Record<Exclude<Viewer, 'backend'>, View>> = {
  EVERYONE: { self: 'full', friend: 'full', stranger: 'full' },
  FRIENDS_ONLY: { self: 'full', friend: 'full', stranger: 'basic' },
  INVISIBLE: { self: 'full', friend: 'basic', stranger: 'basic' },
};

function expectedView(appDefault: AppDefault, setting: UserSetting, viewer: Viewer): View {
  if (viewer === 'backend') return 'full'; // the backend sees everything
  const effective = setting === 'NOT_SET' ? appDefault : setting;
  return TABLE[effective][viewer];
}

const CELLS = APP_DEFAULTS.flatMap((appDefault) =>
  USER_SETTINGS.flatMap((setting) => VIEWERS.map((viewer) => ({ appDefault, setting, viewer, view: expectedView(appDefault, setting, viewer) }))),
);

const ownerId = (setting: UserSetting) => `owner_${setting}`;

/** What the owner's profile holds (set by the backend). */
function storedProfile(setting: UserSetting) {
  return {
    name: `Name ${setting}`,
    portraitUri: `https://cdn.example.com/${setting}.png`,
    uniqueId: `uid${setting.replace('_', '')}`,
    email: `${setting.toLowerCase()}@example.com`,
    birthday: '1990-01-01',
    gender: 'FEMALE',
    location: 'Berlin',
    role: 7,
    level: 42,
    userExtProfile: [
      { key: 'visible', value: `v-${setting}` },
      { key: 'secret', value: `s-${setting}` },
    ],
  };
}

interface Fixture {
  app: TestApp;
  owners: Record<UserSetting, GraphQLClient>;
  friend: GraphQLClient;
  stranger: GraphQLClient;
}

function expectFull(profile: ProfileJson, setting: UserSetting, viewer: Viewer) {
  const { userExtProfile, ...fields } = storedProfile(setting);
  expect(profile).toMatchObject({ userId: ownerId(setting), ...fields, restricted: false });
  const ext = [...(profile.userExtProfile ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  // "secret" has no allowClientRead: only the backend sees it (SPEC §3)
  const visible = viewer === 'backend' ? userExtProfile : userExtProfile.filter((e) => e.key === 'visible');
  expect(ext).toEqual([...visible].sort((a, b) => a.key.localeCompare(b.key)));
  expect(profile.version).toBeGreaterThanOrEqual(2);
  expect(Date.parse(profile.updatedAt)).not.toBeNaN();
}

function expectView(profile: ProfileJson | undefined | null, setting: UserSetting, viewer: Viewer, view: View) {
  expect(profile, `profile of ${ownerId(setting)}`).toBeTruthy();
  if (view === 'full') expectFull(profile!, setting, viewer);
  else expectBasic(profile!, { userId: ownerId(setting), name: `Name ${setting}`, portraitUri: `https://cdn.example.com/${setting}.png` });
}

const SEARCH = `query($q: String!) { searchUserProfileByUniqueId(uniqueId: $q) { ${ALL_FIELDS} } }`;

describe('SPEC §3 table: app default × user setting × viewer', () => {
  const fixtures = {} as Record<AppDefault, Fixture>;

  beforeAll(async () => {
    await Promise.all(
      APP_DEFAULTS.map(async (appDefault) => {
        const app = await server.newApp(`visibility ${appDefault}`);
        await setAppDefaultVisibility(app, appDefault);
        await defineKey(app, 'visible', true, true);
        await defineKey(app, 'secret', false, false);
        const owners = {} as Record<UserSetting, GraphQLClient>;
        for (const setting of USER_SETTINGS) {
          owners[setting] = await app.user(ownerId(setting));
          await setProfile(app, ownerId(setting), storedProfile(setting));
          // every owner sets a value first, then its own: NOT_SET is a real reset, not a never-touched default
          await setMyVisibility(owners[setting], setting === 'EVERYONE' ? 'INVISIBLE' : 'EVERYONE');
          await setMyVisibility(owners[setting], setting);
        }
        const friend = await app.user('friend');
        const stranger = await app.user('stranger');
        for (const setting of USER_SETTINGS) await makeFriends(app, 'friend', ownerId(setting));
        fixtures[appDefault] = { app, owners, friend, stranger };
      }),
    );
  });

  async function look(fixture: Fixture, setting: UserSetting, viewer: Viewer): Promise<ProfileJson[]> {
    const id = ownerId(setting);
    if (viewer === 'backend') {
      return [(await fixture.app.backend.ok(ADMIN_PROFILES, { ids: [id] })).adminUserProfiles[0]];
    }
    const client = viewer === 'self' ? fixture.owners[setting] : fixture[viewer];
    const seen: ProfileJson[] = [];
    seen.push((await client.ok(USER_PROFILES, { ids: [id] })).userProfiles[0]);
    seen.push((await client.ok(SEARCH, { q: storedProfile(setting).uniqueId })).searchUserProfileByUniqueId);
    if (viewer === 'self') seen.push((await client.ok(MY_PROFILE)).myUserProfile);
    return seen;
  }

  it('covers all 48 cells', () => {
    expect(CELLS).toHaveLength(48);
    expect(new Set(CELLS.map((c) => `${c.appDefault}/${c.setting}/${c.viewer}`)).size).toBe(48);
  });

  it.each(CELLS)('app $appDefault, user $setting, viewer $viewer → $view', async ({ appDefault, setting, viewer, view }) => {
    const fixture = fixtures[appDefault];
    const seen = await look(fixture, setting, viewer);
    for (const profile of seen) expectView(profile, setting, viewer, view);
  });

  it.each(APP_DEFAULTS)('app %s: one request over all four owners decides each owner on its own', async (appDefault) => {
    const fixture = fixtures[appDefault];
    const ids = USER_SETTINGS.map(ownerId);
    for (const viewer of ['friend', 'stranger'] as const) {
      const { userProfiles } = await fixture[viewer].ok(USER_PROFILES, { ids });
      expect(userProfiles.map((p: ProfileJson) => p.userId)).toEqual(ids);
      USER_SETTINGS.forEach((setting, i) => expectView(userProfiles[i], setting, viewer, expectedView(appDefault, setting, viewer)));
    }
    const { adminUserProfiles } = await fixture.app.backend.ok(ADMIN_PROFILES, { ids });
    USER_SETTINGS.forEach((setting, i) => expectView(adminUserProfiles[i], setting, 'backend', 'full'));
    const { allUserProfiles } = await fixture.app.backend.ok(`{ allUserProfiles(size: 100) { items { ${ALL_FIELDS} } totalCount } }`);
    for (const setting of USER_SETTINGS) {
      expectView(allUserProfiles.items.find((p: ProfileJson) => p.userId === ownerId(setting)), setting, 'backend', 'full');
    }
  });

  it.each(APP_DEFAULTS)('app %s: myUserProfileVisibility reports the user setting, NOT_SET included', async (appDefault) => {
    for (const setting of USER_SETTINGS) {
      expect((await fixtures[appDefault].owners[setting].ok('{ myUserProfileVisibility }')).myUserProfileVisibility).toBe(setting);
    }
  });
});

describe('ext keys without allowClientRead', () => {
  it('are hidden from every user, the owner included, shown to the backend, and do not set restricted', async () => {
    const app = await server.newApp();
    await setAppDefaultVisibility(app, 'EVERYONE');
    await defineKey(app, 'public', true, true);
    await defineKey(app, 'hidden', false, true);
    const owner = await app.user('owner');
    const other = await app.user('other');
    await setProfile(app, 'owner', { name: 'O', email: 'o@example.com', userExtProfile: [{ key: 'public', value: 'p' }, { key: 'hidden', value: 'h' }] });
    await setProfile(app, 'onlyHidden', { name: 'H', userExtProfile: [{ key: 'hidden', value: 'h2' }] });

    // writable but not readable: the owner may write it and still not read it back
    const written = (await owner.ok(`mutation { updateMyUserProfile(profile: { userExtProfile: [{ key: "hidden", value: "h!" }] }) { ${ALL_FIELDS} } }`)).updateMyUserProfile;
    expect(written.userExtProfile).toEqual([{ key: 'public', value: 'p' }]);
    expect(written.restricted).toBe(false);

    for (const viewer of [owner, other]) {
      const mine = (await viewer.ok(USER_PROFILES, { ids: ['owner', 'onlyHidden'] })).userProfiles as ProfileJson[];
      expect(mine[0]!.userExtProfile).toEqual([{ key: 'public', value: 'p' }]);
      expect(mine[0]!.email).toBe('o@example.com');
      expect(mine[0]!.restricted).toBe(false);
      expect(mine[1]!.userExtProfile).toEqual([]);
      expect(mine[1]!.restricted).toBe(false);
    }
    expect((await owner.ok(MY_PROFILE)).myUserProfile.userExtProfile).toEqual([{ key: 'public', value: 'p' }]);

    const admin = (await app.backend.ok(ADMIN_PROFILES, { ids: ['owner', 'onlyHidden'] })).adminUserProfiles as ProfileJson[];
    expect([...admin[0]!.userExtProfile!].sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: 'hidden', value: 'h!' },
      { key: 'public', value: 'p' },
    ]);
    expect(admin[1]!.userExtProfile).toEqual([{ key: 'hidden', value: 'h2' }]);

    // making the key readable shows the value to users
    await defineKey(app, 'hidden', true, true);
    expect((await other.ok(USER_PROFILES, { ids: ['onlyHidden'] })).userProfiles[0].userExtProfile).toEqual([{ key: 'hidden', value: 'h2' }]);
  });
});

describe('search by uniqueId', () => {
  it('an INVISIBLE user is found with basic fields only and restricted true; a miss is null', async () => {
    const app = await server.newApp();
    await setAppDefaultVisibility(app, 'EVERYONE');
    await setProfile(app, 'hidden', { name: 'Hidden', portraitUri: 'h.png', uniqueId: 'hiddenOne', email: 'h@example.com', level: 3 });
    const hidden = await app.user('hidden');
    await setMyVisibility(hidden, 'INVISIBLE');
    const seeker = await app.user('seeker');
    const found = (await seeker.ok(SEARCH, { q: 'hiddenOne' })).searchUserProfileByUniqueId as ProfileJson;
    expectBasic(found, { userId: 'hidden', name: 'Hidden', portraitUri: 'h.png' });
    expect(found.version).toBe(3);
    expect((await seeker.ok(SEARCH, { q: 'nobodyHasThis' })).searchUserProfileByUniqueId).toBeNull();
    expect((await seeker.ok(SEARCH, { q: 'hiddenone' })).searchUserProfileByUniqueId).toBeNull();
    // the owner finds itself in full
    const self = (await hidden.ok(SEARCH, { q: 'hiddenOne' })).searchUserProfileByUniqueId as ProfileJson;
    expect(self).toMatchObject({ userId: 'hidden', uniqueId: 'hiddenOne', email: 'h@example.com', level: 3, restricted: false });
  });

  it('search is a user operation', async () => {
    const app = await server.newApp();
    expectError(await app.backend.fails(SEARCH, { q: 'x' }), 'FORBIDDEN');
  });
});

describe('changes take effect at once', () => {
  it('a new user setting, a new app default and a new or removed friendship change the next read', async () => {
    const app = await server.newApp();
    await setProfile(app, 'owner', { name: 'O', email: 'o@example.com' });
    const owner = await app.user('owner');
    const viewer = await app.user('viewer');
    const emailSeen = async () => {
      const p = (await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0] as ProfileJson;
      expect(p.restricted).toBe(p.email === null);
      return p.email;
    };

    expect(await emailSeen()).toBeNull(); // app default INVISIBLE
    await setAppDefaultVisibility(app, 'EVERYONE');
    expect(await emailSeen()).toBe('o@example.com');
    await setMyVisibility(owner, 'FRIENDS_ONLY');
    expect(await emailSeen()).toBeNull();
    await makeFriends(app, 'viewer', 'owner');
    expect(await emailSeen()).toBe('o@example.com');
    await setMyVisibility(owner, 'INVISIBLE');
    expect(await emailSeen()).toBeNull();
    await setMyVisibility(owner, 'NOT_SET');
    expect(await emailSeen()).toBe('o@example.com');
    await setAppDefaultVisibility(app, 'FRIENDS_ONLY');
    expect(await emailSeen()).toBe('o@example.com'); // still friends
    // friendship is mutual: the owner deleting the viewer ends it for both
    expect((await owner.ok('mutation { deleteFriends(userIds: ["viewer"]) }')).deleteFriends).toBe(true);
    expect(await emailSeen()).toBeNull();
  });

  it('friendship is per pair: a friend of one user is a stranger to another', async () => {
    const app = await server.newApp();
    await setAppDefaultVisibility(app, 'FRIENDS_ONLY');
    await setProfile(app, 'a', { name: 'A', email: 'a@example.com' });
    await setProfile(app, 'b', { name: 'B', email: 'b@example.com' });
    const viewer = await app.user('viewer');
    await makeFriends(app, 'viewer', 'a');
    const [a, b] = (await viewer.ok(USER_PROFILES, { ids: ['a', 'b'] })).userProfiles as ProfileJson[];
    expect(a!.email).toBe('a@example.com');
    expect(a!.restricted).toBe(false);
    expectBasic(b!, { userId: 'b', name: 'B', portraitUri: null });
    // and it is mutual: a sees the viewer's fields too
    await setProfile(app, 'viewer', { email: 'v@example.com' });
    const aClient = await app.user('a');
    expect((await aClient.ok(USER_PROFILES, { ids: ['viewer'] })).userProfiles[0].email).toBe('v@example.com');
  });

  it('a basic view still carries version and updatedAt, which move with hidden changes', async () => {
    const app = await server.newApp();
    const owner = await setProfile(app, 'owner', { name: 'O', email: 'one' });
    const viewer = await app.user('viewer');
    const before = (await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0] as ProfileJson;
    expect(before).toEqual({ ...Object.fromEntries(HIDDEN_FIELDS.map((f) => [f, null])), userId: 'owner', name: 'O', portraitUri: null, version: owner.version, updatedAt: owner.updatedAt, restricted: true });
    server.clock.advance(1000);
    await setProfile(app, 'owner', { email: 'two' });
    const after = (await viewer.ok(USER_PROFILES, { ids: ['owner'] })).userProfiles[0] as ProfileJson;
    expect(after.version).toBe(before.version + 1);
    expect(after.updatedAt).toBe(server.clock.now().toISOString());
    expect(after.email).toBeNull();
  });
});
