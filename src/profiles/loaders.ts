import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { Database, ExtProfileKeyRow, UserRow } from '../db/database.ts';
import type { AppConfigCache } from '../apps/config-cache.ts';
import { findUsers } from './repository.ts';

/** Per-request loaders: profiles are batched and cached for one request only; ext keys come from the app cache. */
export interface Loaders {
  profile: DataLoader<string, UserRow | null>;
  extKeys: () => Promise<ExtProfileKeyRow[]>;
}

export function createLoaders(db: Kysely<Database>, appConfig: AppConfigCache, appKey: string): Loaders {
  return {
    profile: new DataLoader(async (ids) => {
      const rows = await findUsers(db, appKey, ids);
      const byId = new Map(rows.map((r) => [r.userId, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    extKeys: () => appConfig.extKeys(appKey),
  };
}
