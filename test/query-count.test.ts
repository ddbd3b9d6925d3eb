/**
 * "No N+1" (SPEC §3: one visibility decision per owner/viewer pair, loaded once per request):
 * userProfiles costs a small constant number of SQL statements, whatever the number of ids and
 * whatever fields are selected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphQLClient } from './helpers/client.ts';
import { startQuietTestServer, type TestApp, type TestServer } from './helpers/server.ts';
import { ALL_FIELDS, defineKey, makeFriends, setAppDefaultVisibility, setMyVisibility, setProfile, type ProfileJson } from './helpers/profiles.ts';

let server: TestServer;
let app: TestApp;
let viewer: GraphQLClient;
const SETTINGS = ['NOT_SET', 'INVISIBLE', 'FRIENDS_ONLY', 'EVERYONE'] as const;
const ids = Array.from({ length: 20 }, (_, i) => `owner${i}`);
const settingOf = (i: number) => SETTINGS[i % 4]!;
const isFriend = (i: number) => i % 3 === 0;

beforeAll(async () => {
  // nothing in the background: the statements counted are the request's or the change's own
  server = await startQuietTestServer();
  app = await server.newApp();
  await setAppDefaultVisibility(app, 'FRIENDS_ONLY');
  await defineKey(app, 'readable', true, true);
  await defineKey(app, 'hidden', false, false);
  viewer = await app.user('viewer');
  for (const [i, id] of ids.entries()) {
    const owner = await app.user(id);
    await setProfile(app, id, {
      name: `Owner ${i}`,
      email: `${id}@example.com`,
      level: i,
      userExtProfile: [
        { key: 'readable', value: `r${i}` },
        { key: 'hidden', value: `h${i}` },
      ],
    });
    if (settingOf(i) !== 'NOT_SET') await setMyVisibility(owner, settingOf(i));
    if (isFriend(i)) await makeFriends(app, 'viewer', id);
  }
  // the setup's events are delivered before anything is counted (the relay's lookups are not a request's)
  await server.app.realtime.drain();
});
afterAll(() => server?.stop());

const SELECTIONS = {
  minimal: 'userId',
  'one restricted field': 'userId email',
  'one restricted field and ext': 'userId email userExtProfile { key }',
  'all fields': ALL_FIELDS,
  'all fields twice (aliases)': `${ALL_FIELDS} again: userExtProfile { key value } e2: email r2: restricted`,
};

/** Statements one request costs, counted by the Kysely log hook of the harness. */
async function statementsFor(client: GraphQLClient, query: string, variables: Record<string, unknown>) {
  await server.app.realtime.drain(); // earlier writes' events delivered: their lookups are not this request's
  server.statements.length = 0;
  const result = await client.request(query, variables);
  // the event log's relay reads in the background (per batch of changes, at its own pace): not the request's
  const statements = server.statements.filter((s) => !/pg_snapshot_xmin|from "events"/.test(s));
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return { statements, data: result.data };
}

describe('userProfiles: no N+1', () => {
  it('the fixture is what it claims: mixed views in one answer', async () => {
    const { data } = await statementsFor(viewer, `query($ids: [ID!]!) { userProfiles(userIds: $ids) { ${ALL_FIELDS} } }`, { ids });
    const profiles = data.userProfiles as ProfileJson[];
    expect(profiles.map((p) => p.userId)).toEqual(ids);
    const full = profiles.filter((p) => !p.restricted).length;
    expect(full).toBeGreaterThan(0);
    expect(full).toBeLessThan(20);
    profiles.forEach((p, i) => {
      const effective = settingOf(i) === 'NOT_SET' ? 'FRIENDS_ONLY' : settingOf(i);
      const sees = effective === 'EVERYONE' || (effective === 'FRIENDS_ONLY' && isFriend(i));
      expect(p.restricted, p.userId).toBe(!sees);
      expect(p.userExtProfile, p.userId).toEqual(sees ? [{ key: 'readable', value: `r${i}` }] : null);
    });
  });

  it('costs the same small number of statements for 2 and for 20 ids, whatever the selection', async () => {
    // the 2 ids cover a friend and a stranger behind FRIENDS_ONLY, so every kind of lookup is needed
    const two = ['owner0', 'owner1'];
    const counts: Record<string, { two: number; twenty: number }> = {};
    for (const [name, selection] of Object.entries(SELECTIONS)) {
      const query = `query($ids: [ID!]!) { userProfiles(userIds: $ids) { ${selection} } }`;
      const a = await statementsFor(viewer, query, { ids: two });
      const b = await statementsFor(viewer, query, { ids });
      expect(a.data.userProfiles).toHaveLength(2);
      expect(b.data.userProfiles).toHaveLength(20);
      counts[name] = { two: a.statements.length, twenty: b.statements.length };
      expect(b.statements.length, `${name}: 20 ids\n${b.statements.join('\n')}`).toBe(a.statements.length);
      expect(b.statements.length, `${name}\n${b.statements.join('\n')}`).toBeLessThanOrEqual(5);
    }
    // every lookup is paid once per request, not per field: a selection needing the visibility
    // decision and the ext registry costs exactly what all fields (even twice over) cost
    expect(counts['one restricted field and ext']).toEqual(counts['all fields']);
    expect(counts['all fields twice (aliases)']).toEqual(counts['all fields']);
    // leaving fields out may skip a lookup (no friendship query when no restricted field is
    // asked), never adds one
    for (const name of Object.keys(SELECTIONS)) expect(counts[name]!.twenty, name).toBeLessThanOrEqual(counts['all fields']!.twenty);
  });

  it('the same holds for the backend (adminUserProfiles) and for a friend-heavy viewer', async () => {
    const query = `query($ids: [ID!]!) { adminUserProfiles(userIds: $ids) { ${ALL_FIELDS} } }`;
    const a = await statementsFor(app.backend, query, { ids: ids.slice(0, 2) });
    const b = await statementsFor(app.backend, query, { ids });
    expect(b.statements.length, b.statements.join('\n')).toBe(a.statements.length);
    expect(b.statements.length).toBeLessThanOrEqual(5);

    const owner0 = await app.user('owner0');
    const userQuery = `query($ids: [ID!]!) { userProfiles(userIds: $ids) { ${ALL_FIELDS} } }`;
    const c = await statementsFor(owner0, userQuery, { ids: ['viewer', 'owner3'] });
    const d = await statementsFor(owner0, userQuery, { ids: [...ids.slice(1), 'viewer'] });
    expect(d.statements.length, d.statements.join('\n')).toBe(c.statements.length);
    expect(d.statements.length).toBeLessThanOrEqual(5);
  });

  it('several root fields in one request share the per-request loaders', async () => {
    const query = `query($ids: [ID!]!) {
      a: userProfiles(userIds: $ids) { ${ALL_FIELDS} }
      b: userProfiles(userIds: $ids) { ${ALL_FIELDS} }
      me: myUserProfile { ${ALL_FIELDS} }
    }`;
    const single = await statementsFor(viewer, `query($ids: [ID!]!) { userProfiles(userIds: $ids) { ${ALL_FIELDS} } }`, { ids });
    const many = await statementsFor(viewer, query, { ids });
    expect(many.data.a).toEqual(many.data.b);
    expect(many.statements.length, many.statements.join('\n')).toBeLessThanOrEqual(single.statements.length + 1);
  });
});
