/**
 * setUserProfiles (SPEC §13, contract-next/10-migration.graphql): the backend's setUserProfile for
 * 1 to 100 users at once, each item all-or-nothing on its own, against a real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_FIELDS, SET_PROFILE, adminProfile, defineKey, makeFriends, setProfile, type ProfileJson } from './helpers/profiles.ts';
import { OWN_PROFILE_SUBSCRIPTION, expectNothingMore, goLive, openStream, statusEvents, statusStream, subscribe, waitUntil, type StatusChangeJson } from './helpers/realtime-fixtures.ts';
import { startTestServer, type TestApp, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const SET_PROFILES = `mutation($items: [UserProfileUpsert!]!) { setUserProfiles(items: $items) {
  userId profile { ${ALL_FIELDS} } error { code message rcCode fields } } }`;

interface ItemErrorJson {
  code: string;
  message: string;
  rcCode: number | null;
  fields: string[] | null;
}
interface UpsertResultJson {
  userId: string;
  profile: ProfileJson | null;
  error: ItemErrorJson | null;
}
type Item = { userId: string; profile: Record<string, unknown> };

async function setProfiles(app: TestApp, items: Item[]): Promise<UpsertResultJson[]> {
  return (await app.backend.ok<{ setUserProfiles: UpsertResultJson[] }>(SET_PROFILES, { items })).setUserProfiles;
}

async function profileCount(app: TestApp): Promise<number> {
  return (await app.backend.ok('{ allUserProfiles(size: 1) { totalCount } }')).allUserProfiles.totalCount;
}

const items = (n: number, prefix: string, profile: (i: number) => Record<string, unknown> = (i) => ({ name: `${prefix} ${i}` })): Item[] =>
  Array.from({ length: n }, (_, i) => ({ userId: `${prefix}${i + 1}`, profile: profile(i + 1) }));

describe('setUserProfiles: how many items', () => {
  it('0 items: BAD_USER_INPUT naming items; 101: LIMIT_EXCEEDED naming the limit of 100; nothing written either way', async () => {
    const app = await server.newApp();
    await setProfile(app, 'keep', { name: 'Keep' });
    const none = await app.backend.fails(SET_PROFILES, { items: [] });
    expect(none.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['items'] });
    expect(none.message).toContain('1 to 100');

    const tooMany = await app.backend.fails(SET_PROFILES, { items: [...items(100, 'over'), { userId: 'keep', profile: { name: 'Changed' } }] });
    expect(tooMany.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', fields: ['items'], max: 100 });
    expect(tooMany.message).toContain('at most 100');
    expect(tooMany.message).toContain('got 101');

    expect(await profileCount(app)).toBe(1);
    expect(await adminProfile(app, 'over1')).toBeUndefined();
    expect(await adminProfile(app, 'over100')).toBeUndefined();
    expect((await adminProfile(app, 'keep'))).toMatchObject({ name: 'Keep', version: 2 });
  });

  it('1 item: written as setUserProfile writes it (the user created, version 2)', async () => {
    const app = await server.newApp();
    const [result] = await setProfiles(app, [{ userId: 'solo', profile: { name: 'Solo', level: 3 } }]);
    expect(result!.error).toBeNull();
    expect(result!.userId).toBe('solo');
    expect(result!.profile).toMatchObject({ userId: 'solo', name: 'Solo', level: 3, version: 2, restricted: false });
    expect(await adminProfile(app, 'solo')).toEqual(result!.profile);
    // the single path gives a fresh user the same version
    expect((await setProfile(app, 'single', { name: 'Solo', level: 3 })).version).toBe(2);
  });

  it('100 items: every one written, results in input order, in one transaction and one update statement', async () => {
    const app = await server.newApp();
    await setProfile(app, 'b50', { name: 'old', email: 'old@x.io' });
    // input order is not id order
    const input = items(100, 'b', (i) => ({ name: `B ${i}`, role: i % 101 === 0 ? 1 : i % 100 })).reverse();
    await server.app.realtime.drain();
    server.statements.length = 0;
    const results = await setProfiles(app, input);
    const statements = [...server.statements];
    expect(results.map((r) => r.userId)).toEqual(input.map((i) => i.userId));
    for (const [i, result] of results.entries()) {
      expect(result.error, result.userId).toBeNull();
      expect(result.profile).toMatchObject({ userId: input[i]!.userId, name: input[i]!.profile.name, role: input[i]!.profile.role });
    }
    expect(await profileCount(app)).toBe(100);
    // an existing user keeps what the item leaves out; its version moves by one
    expect(await adminProfile(app, 'b50')).toMatchObject({ name: 'B 50', email: 'old@x.io', version: 3 });
    expect(await adminProfile(app, 'b1')).toMatchObject({ name: 'B 1', version: 2 });

    const count = (pattern: RegExp) => statements.filter((s) => pattern.test(s)).length;
    // all 100 in one update statement, the new users in one insert
    expect(count(/^\s*update users as u/), statements.join('\n')).toBe(1);
    expect(count(/^update "users"/)).toBe(0);
    expect(count(/^insert into "users"/)).toBe(1);
    expect(count(/^insert into "events"/)).toBe(1);
    expect(count(/pg_advisory_xact_lock/)).toBe(1);
    expect(count(/savepoint/i)).toBe(0);
  });

  it('100 items setting free uniqueIds: one update under one savepoint; with one taken uniqueId, one at a time (only that one refused)', async () => {
    const app = await server.newApp();
    await setProfile(app, 'holder', { uniqueId: 'uid50' });
    await server.app.realtime.drain();
    server.statements.length = 0;
    const free = await setProfiles(app, items(100, 'u', (i) => ({ uniqueId: `free${i}` })));
    expect(free.every((r) => r.error === null)).toBe(true);
    expect(server.statements.filter((s) => /^savepoint/.test(s))).toHaveLength(1);
    expect(server.statements.filter((s) => /^\s*update users as u/.test(s))).toHaveLength(1);

    server.statements.length = 0;
    const results = await setProfiles(app, items(100, 'v', (i) => ({ uniqueId: `uid${i}`, name: `V ${i}` })));
    expect(results.filter((r) => r.error).map((r) => r.userId)).toEqual(['v50']);
    expect(results[49]!.error).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['uniqueId'], message: 'uniqueId "uid50" is already taken in this app' });
    expect(results[50]!.profile).toMatchObject({ uniqueId: 'uid51', name: 'V 51', version: 2 });
    expect(server.statements.filter((s) => /^savepoint/.test(s))).toHaveLength(100);
    expect(await adminProfile(app, 'v50')).toBeUndefined();
    expect(await profileCount(app)).toBe(1 + 100 + 99);
  });

  it('writes what setUserProfile writes, change for change (set, clear, ext merge and removal, uniqueId), alone or with others', async () => {
    const app = await server.newApp();
    await defineKey(app, 'a');
    await defineKey(app, 'b');
    const changes: ((who: string) => Record<string, unknown>)[] = [
      (who) => ({ name: 'N', portraitUri: 'p://x', email: 'e@x.io', birthday: '2000', gender: 'MALE', location: 'L', role: 0, level: 100, uniqueId: `${who}1`, userExtProfile: [{ key: 'a', value: '1' }] }),
      () => ({ name: null, gender: 'FEMALE', userExtProfile: [{ key: 'b', value: '2' }, { key: 'a', value: 'x\ty' }] }),
      (who) => ({ level: null, role: 7, uniqueId: `${who}2`, userExtProfile: [{ key: 'a', value: null }] }),
      () => ({ uniqueId: null, email: null, location: '📍 東京', userExtProfile: [] }),
      () => ({}),
    ];
    for (const change of changes) {
      const single = await setProfile(app, 'single', change('s'));
      const [alone] = await setProfiles(app, [{ userId: 'alone', profile: change('a') }]);
      const [together] = await setProfiles(app, [
        { userId: 'together', profile: change('t') },
        { userId: 'filler', profile: { name: 'filler' } },
      ]);
      const same = (p: ProfileJson | null) => ({ ...p!, userId: null, uniqueId: p!.uniqueId?.slice(1) ?? null });
      expect(same(alone!.profile)).toEqual(same(single));
      expect(same(together!.profile)).toEqual(same(single));
      expect(await adminProfile(app, 'together')).toEqual(together!.profile);
    }
  });
});

// Bad inputs of every kind setUserProfile refuses, each beside a good item.
const BAD: [string, Item][] = [
  ['a name too long', { userId: 'bad-name', profile: { name: 'n'.repeat(33) } }],
  ['a control character', { userId: 'bad-ctl', profile: { location: 'a\u0001b' } }],
  ['an ext key not defined', { userId: 'bad-key', profile: { userExtProfile: [{ key: 'nope', value: 'x' }] } }],
  ['an ext value too long', { userId: 'bad-value', profile: { userExtProfile: [{ key: 'color', value: 'v'.repeat(257) }] } }],
  ['21 ext entries', { userId: 'bad-entries', profile: { userExtProfile: Array.from({ length: 21 }, (_, i) => ({ key: `k${i}`, value: 'x' })) } }],
  ['the same ext key twice', { userId: 'bad-twice', profile: { userExtProfile: [{ key: 'color', value: 'a' }, { key: 'color', value: 'b' }] } }],
  ['userExtProfile null', { userId: 'bad-null', profile: { userExtProfile: null } }],
  ['a role out of range', { userId: 'bad-role', profile: { role: 101 } }],
  ['several fields and keys at once', { userId: 'bad-many', profile: { name: 'n'.repeat(40), level: -1, userExtProfile: [{ key: 'nope', value: 'x' }, { key: 'color', value: 'v'.repeat(300) }] } }],
  ['a malformed uniqueId', { userId: 'bad-uid', profile: { uniqueId: 'not unique!' } }],
  ['a uniqueId someone has', { userId: 'bad-taken', profile: { uniqueId: 'taken1' } }],
  ['a malformed userId', { userId: 'bad id', profile: { name: 'x' } }],
];

describe('setUserProfiles: mixed good and bad items', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await server.newApp();
    await defineKey(app, 'color');
    await setProfile(app, 'holder', { uniqueId: 'taken1', name: 'Holder' });
  });

  it('each bad item is refused with the code, message, rcCode and fields setUserProfile gives for the same input', async () => {
    for (const [what, item] of BAD) {
      const single = await app.backend.fails(SET_PROFILE, { u: item.userId, p: item.profile });
      const [result] = await setProfiles(app, [item]);
      expect(result!.profile, what).toBeNull();
      expect(result!.userId).toBe(item.userId);
      const ext = single.extensions!;
      expect(result!.error, what).toEqual({
        code: ext.code,
        message: single.message,
        rcCode: ext.rcCode ?? null,
        fields: [...(ext.fields ?? []), ...(ext.keys ?? []).map((k) => `userExtProfile.${k}`)],
      });
      expect(result!.error!.code, what).toMatch(/^(BAD_USER_INPUT|FORBIDDEN)$/);
    }
    // a sample of what that means
    const byWhat = new Map(BAD);
    const [name] = await setProfiles(app, [byWhat.get('a name too long')!]);
    expect(name!.error).toMatchObject({ code: 'BAD_USER_INPUT', rcCode: 24364, fields: ['name'] });
    const [key] = await setProfiles(app, [byWhat.get('an ext key not defined')!]);
    expect(key!.error).toMatchObject({ code: 'BAD_USER_INPUT', rcCode: 24362, fields: ['userExtProfile.nope'] });
    const [taken] = await setProfiles(app, [byWhat.get('a uniqueId someone has')!]);
    expect(taken!.error).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['uniqueId'] });
    const [many] = await setProfiles(app, [byWhat.get('several fields and keys at once')!]);
    expect(many!.error!.fields).toEqual(['name', 'level', 'userExtProfile.nope', 'userExtProfile.color']);
  });

  it('good items are written, bad ones write nothing (no user created, an existing one unchanged), results in input order', async () => {
    await setProfile(app, 'existing', { name: 'Before', level: 5 });
    const before = (await adminProfile(app, 'existing'))!;
    const mixed: Item[] = [{ userId: 'good1', profile: { name: 'Good 1', userExtProfile: [{ key: 'color', value: 'red' }] } }];
    for (const [, item] of BAD) mixed.push(item, { userId: `after-${mixed.length}`, profile: { name: `after ${mixed.length}` } });
    // an existing user's bad item: a valid field beside a bad one changes nothing either
    mixed.push({ userId: 'existing', profile: { name: 'After', level: 500 } });
    mixed.push({ userId: 'good2', profile: { uniqueId: 'fresh2', gender: 'FEMALE' } });

    const results = await setProfiles(app, mixed);
    expect(results.map((r) => r.userId)).toEqual(mixed.map((m) => m.userId));
    const bad = new Set([...BAD.map(([, item]) => item.userId), 'existing']);
    for (const [i, result] of results.entries()) {
      if (bad.has(result.userId)) {
        expect(result.profile, result.userId).toBeNull();
        expect(result.error, result.userId).not.toBeNull();
      } else {
        expect(result.error, `${result.userId}: ${JSON.stringify(result.error)}`).toBeNull();
        expect(await adminProfile(app, result.userId), result.userId).toEqual(result.profile);
        expect(result.profile!.name ?? null).toBe((mixed[i]!.profile.name as string | undefined) ?? null);
      }
    }
    for (const userId of bad) if (userId !== 'existing' && userId !== 'bad id') expect(await adminProfile(app, userId), userId).toBeUndefined();
    expect(await adminProfile(app, 'existing')).toEqual(before);
    expect(await adminProfile(app, 'holder')).toMatchObject({ uniqueId: 'taken1', name: 'Holder' });
    expect(await adminProfile(app, 'good2')).toMatchObject({ uniqueId: 'fresh2', gender: 'FEMALE' });
    expect((await adminProfile(app, 'good1'))!.userExtProfile).toEqual([{ key: 'color', value: 'red' }]);
  });

  it('the same userId twice applies in input order, as two setUserProfile calls would; a refused one in between is skipped', async () => {
    await setProfile(app, 'other', { uniqueId: 'owned' });
    const results = await setProfiles(app, [
      { userId: 'twice', profile: { name: 'First', level: 1 } },
      { userId: 'twice', profile: { uniqueId: 'owned', name: 'Refused' } },
      { userId: 'twice', profile: { name: 'Second', uniqueId: 'mine2' } },
    ]);
    expect(results[0]).toMatchObject({ error: null, profile: { name: 'First', level: 1, version: 2, uniqueId: null } });
    expect(results[1]).toMatchObject({ profile: null, error: { code: 'BAD_USER_INPUT', fields: ['uniqueId'] } });
    expect(results[2]).toMatchObject({ error: null, profile: { name: 'Second', level: 1, version: 3, uniqueId: 'mine2' } });
    expect(await adminProfile(app, 'twice')).toEqual(results[2]!.profile);

    // different users interleaved: each user's items in order
    const mixed = await setProfiles(app, [
      { userId: 'ia', profile: { name: 'A1' } },
      { userId: 'ib', profile: { name: 'B1' } },
      { userId: 'ia', profile: { level: 5 } },
      { userId: 'ib', profile: { name: 'B2' } },
    ]);
    expect(mixed.map((r) => [r.userId, r.profile!.name, r.profile!.level, r.profile!.version])).toEqual([
      ['ia', 'A1', null, 2],
      ['ib', 'B1', null, 2],
      ['ia', 'A1', 5, 3],
      ['ib', 'B2', null, 3],
    ]);

    // a uniqueId moving between users: refused when asked for before its holder lets it go, as one by one
    await setProfile(app, 'm1', { uniqueId: 'moving' });
    const early = await setProfiles(app, [
      { userId: 'm2', profile: { uniqueId: 'moving' } },
      { userId: 'm1', profile: { uniqueId: 'moved' } },
    ]);
    expect(early[0]!.error!.fields).toEqual(['uniqueId']);
    expect(early[1]!.profile!.uniqueId).toBe('moved');
    const late = await setProfiles(app, [
      { userId: 'm1', profile: { uniqueId: null } },
      { userId: 'm3', profile: { uniqueId: 'moved' } },
    ]);
    expect(late.map((r) => [r.error, r.profile?.uniqueId])).toEqual([
      [null, null],
      [null, 'moved'],
    ]);

    // a refused first item for a new user, then a good one: the user exists once, made by the good one
    const again = await setProfiles(app, [
      { userId: 'late', profile: { uniqueId: 'owned' } },
      { userId: 'late', profile: { name: 'Late' } },
    ]);
    expect(again[0]!.error!.fields).toEqual(['uniqueId']);
    expect(again[1]!.profile).toMatchObject({ name: 'Late', version: 2, uniqueId: null });
  });

  it('is for the app backend only', async () => {
    const user = await app.user('someone');
    expect((await user.fails(SET_PROFILES, { items: [{ userId: 'someone', profile: { name: 'x' } }] })).extensions!.code).toBe('FORBIDDEN');
    expect((await server.operator.fails(SET_PROFILES, { items: [{ userId: 'someone', profile: { name: 'x' } }] })).extensions!.code).toBe('FORBIDDEN');
    expect((await server.anonymous.fails(SET_PROFILES, { items: [{ userId: 'someone', profile: { name: 'x' } }] })).extensions!.code).toBe('UNAUTHENTICATED');
  });
});

describe('setUserProfiles: who is told', () => {
  it("a subscriber, a friend and the owner's connections get each written profile as from setUserProfile; a refused item tells no one", async () => {
    const app = await server.newApp();
    await app.backend.ok('mutation { updateAppSettings(defaultProfileVisibility: EVERYONE) { appKey } }');
    const watcher = await goLive(server, app, 'watcher');
    await subscribe(await app.user('watcher'), 'USER_PROFILE', ['star', 'flop'], 3600);
    await setProfile(app, 'pal', { name: 'Pal' });
    await setProfile(app, 'star', { name: 'Star' });
    await makeFriends(app, 'pal', 'star');
    const pal = await goLive(server, app, 'pal');
    const star = await goLive(server, app, 'star');
    const watching = await statusStream(watcher, ['USER_PROFILE']);
    const friendly = await statusStream(pal, ['FRIEND_USER_PROFILE']);
    const own = openStream(star, OWN_PROFILE_SUBSCRIPTION);
    // what came after each stream's sync
    const changes = (sub: typeof watching) => statusEvents(sub).slice(statusEvents(sub).findIndex((e) => e.__typename === 'SubscribedUserStatusSyncFinished') + 1) as StatusChangeJson[];
    // prime the owner's stream: a single write reaches it
    const single = await setProfile(app, 'star', { name: 'Single' });
    await waitUntil(own, () => own.events.length === 1);
    await waitUntil(watching, () => changes(watching).length === 1);
    await waitUntil(friendly, () => changes(friendly).length === 1);
    const fromSingle = { watcher: changes(watching)[0]!, pal: changes(friendly)[0]!, own: own.events[0].ownUserProfileChanged };
    expect(fromSingle.watcher.userProfile).toEqual(single);

    server.clock.advance(1000);
    await setProfile(app, 'holder', { uniqueId: 'held' });
    // written together (one statement for both) ...
    await server.app.realtime.drain();
    server.statements.length = 0;
    const results = await setProfiles(app, [
      { userId: 'star', profile: { name: 'Bulk', location: 'Lima' } },
      { userId: 'extra', profile: { name: 'Extra' } },
    ]);
    expect(server.statements.filter((s) => /^\s*update users as u/.test(s))).toHaveLength(1);
    // ... and refused
    const [refused] = await setProfiles(app, [{ userId: 'flop', profile: { uniqueId: 'held' } }]);
    expect(refused!.error).not.toBeNull();
    const written = results[0]!.profile!;
    await waitUntil(watching, () => changes(watching).length === 2, 8000, 'the subscriber');
    await waitUntil(friendly, () => changes(friendly).length === 2, 8000, 'the friend');
    await waitUntil(own, () => own.events.length === 2, 8000, 'the owner');

    const toWatcher = changes(watching)[1]!;
    expect(toWatcher).toMatchObject({ userId: 'star', subscribeType: 'USER_PROFILE', changeTime: server.clock.now().toISOString() });
    expect(toWatcher.userProfile).toEqual(written);
    expect(changes(friendly)[1]!.userProfile).toEqual(written);
    expect(own.events[1].ownUserProfileChanged).toEqual(written);
    // shaped as a single write's messages are
    const shape = (e: StatusChangeJson) => ({ ...e, userProfile: null, changeTime: null });
    expect(shape(toWatcher)).toEqual(shape(fromSingle.watcher));
    expect(shape(changes(friendly)[1]!)).toEqual(shape(fromSingle.pal));
    expect(Object.keys(own.events[1].ownUserProfileChanged)).toEqual(Object.keys(fromSingle.own));
    expect(single.version + 1).toBe(written.version);
    // nothing for the refused item (flop is watched too)
    await expectNothingMore(server, [watching, friendly, own]);
    await Promise.all([watcher.dispose(), pal.dispose(), star.dispose()]);
  });
});
