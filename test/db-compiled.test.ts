/**
 * Statements compiled once per shape (src/db/compiled.ts) return what the same Kysely query
 * returns, with each call's own values, and a statement that uses an argument other than as a
 * value is refused instead of running with a stale or placeholder value.
 */
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledStatement } from '../src/db/compiled.ts';
import { connectDatabase, migrateToLatest } from '../src/db/connect.ts';
import type { Database } from '../src/db/database.ts';
import { newUserRow } from './helpers/realtime-fixtures.ts';
import { testDatabase } from './helpers/server.ts';

let db: Kysely<Database>;
const appKey = `compiled-${Date.now()}`;
const now = new Date('2026-01-01T00:00:00.000Z');

beforeAll(async () => {
  db = await connectDatabase(testDatabase());
  await migrateToLatest(db);
  await db.insertInto('apps').values({ appKey, name: 'compiled', secretHash: 'x', defaultProfileVisibility: 'EVERYONE', defaultFriendAddPermission: 'FREE', createdAt: now }).execute();
  await db
    .insertInto('users')
    .values(['u1', 'u2', 'u3', 'u4'].map((userId, i) => ({ ...newUserRow(appKey, userId, now), name: `User ${i + 1}` })))
    .execute();
});
afterAll(async () => {
  await db?.deleteFrom('users').where('appKey', '=', appKey).execute();
  await db?.deleteFrom('apps').where('appKey', '=', appKey).execute();
  await db?.destroy();
});

const usersIn = compiledStatement((db, key: string, ids: readonly string[]) =>
  db.selectFrom('users').select(['userId', 'portraitUri', 'name']).where('appKey', '=', key).where('userId', 'in', ids).orderBy('userId'),
);

describe('compiledStatement', () => {
  it('returns what Kysely returns, camelCased, for each call’s own values and list lengths', async () => {
    for (const ids of [['u1'], ['u2', 'u3'], ['u3'], ['u4', 'u1', 'nobody'], ['u1', 'u2']]) {
      const direct = await db.selectFrom('users').select(['userId', 'portraitUri', 'name']).where('appKey', '=', appKey).where('userId', 'in', ids).orderBy('userId').execute();
      const compiled = await usersIn(db, appKey, ids);
      expect(compiled).toEqual(direct);
      expect(compiled.map((r) => r.userId)).toEqual(ids.filter((id) => id !== 'nobody').sort());
    }
    expect(await usersIn(db, 'another app', ['u1'])).toEqual([]);
  });

  it('runs inside a transaction', async () => {
    const rows = await db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ name: 'renamed' }).where('appKey', '=', appKey).where('userId', '=', 'u2').execute();
      const seen = await usersIn(trx, appKey, ['u2']);
      throw Object.assign(new Error('rollback'), { seen });
    }).catch((error: { seen: unknown }) => error.seen);
    expect(rows).toEqual([{ userId: 'u2', portraitUri: null, name: 'renamed' }]);
    expect((await usersIn(db, appKey, ['u2']))[0]!.name).toBe('User 2');
  });

  it('refuses a statement that uses an argument other than as a value', async () => {
    const misuse = compiledStatement((db, key: string) => db.selectFrom('apps').selectAll().where('appKey', '=', `${key}`));
    await expect(misuse(db, appKey)).rejects.toThrow(/uses 0 of its 1 argument values/);
  });
});
