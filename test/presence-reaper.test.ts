/**
 * An instance counts as alive until the deadline it declared with its last heartbeat (its own
 * timeout), whatever timeout the reaping instance has: during a rolling change of
 * PRESENCE_TIMEOUT_MS, an instance with a shorter one must not reap healthy instances that
 * heartbeat less often. Rows that declare no deadline are judged by the reaper's timeout.
 * Times lie an hour in the past, so that no other test file's live instance is ever stale here.
 */
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, migrateToLatest } from '../src/db/connect.ts';
import type { Database } from '../src/db/database.ts';
import { orphanedConnections, registerInstance } from '../src/presence/repository.ts';
import { testDatabase } from './helpers/server.ts';

let db: Kysely<Database>;
const t = Date.now() - 3_600_000;
const at = (ms: number) => new Date(t + ms);
const suffix = `${process.pid}-${Date.now()}`;
const exists = async (instanceId: string) => (await db.selectFrom('serverInstances').select('instanceId').where('instanceId', '=', instanceId).execute()).length === 1;

beforeAll(async () => {
  db = await connectDatabase(testDatabase());
  await migrateToLatest(db);
});
afterAll(async () => {
  await db?.deleteFrom('serverInstances').where('instanceId', 'like', `%-${suffix}`).execute();
  await db?.destroy();
});

describe('reaping dead instances', () => {
  it('honours the deadline each instance declared, not the reaper’s own timeout', async () => {
    const patient = `patient-${suffix}`;
    await registerInstance(db, patient, at(0), at(30_000)); // heartbeat at 0, alive for 30 s
    // a reaper with a 1.5 s timeout, 2 s later: the heartbeat is older than its timeout
    await orphanedConnections(db, at(2_000), at(500));
    expect(await exists(patient)).toBe(true);
    await orphanedConnections(db, at(30_000), at(28_500));
    expect(await exists(patient)).toBe(true); // at its deadline, not past it
    await orphanedConnections(db, at(30_001), at(28_501));
    expect(await exists(patient)).toBe(false);
  });

  it('judges an instance that declared no deadline by the reaper’s timeout', async () => {
    const legacy = `legacy-${suffix}`;
    await db.insertInto('serverInstances').values({ instanceId: legacy, startedAt: at(0), heartbeatAt: at(0), aliveUntil: null }).execute();
    await orphanedConnections(db, at(1_000), at(0));
    expect(await exists(legacy)).toBe(true);
    await orphanedConnections(db, at(1_001), at(1));
    expect(await exists(legacy)).toBe(false);
  });
});
