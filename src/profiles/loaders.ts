import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { Database, ExtProfileKeyRow, UserRow } from '../db/database.ts';
import { listExtProfileKeys } from '../apps/repository.ts';
import { findUsers } from './repository.ts';

/** Per-request loaders: each batches and caches its reads for one request only. */
export interface Loaders {
  profile: DataLoader<string, UserRow | null>;
  extKeys: () => Promise<ExtProfileKeyRow[]>;
}

export function createLoaders(db: Kysely<Database>, appKey: string): Loaders {
  let extKeys: Promise<ExtProfileKeyRow[]> | undefined;
  return {
    profile: new DataLoader(async (ids) => {
      const rows = await findUsers(db, appKey, ids);
      const byId = new Map(rows.map((r) => [r.userId, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    extKeys: () => (extKeys ??= listExtProfileKeys(db, appKey)),
  };
}
