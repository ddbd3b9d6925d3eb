import type { Kysely } from 'kysely';
import type { AppRow, Database, ExtProfileKeyRow } from '../db/database.ts';
import { findApp, listExtProfileKeys } from './repository.ts';

/**
 * What every request and fan-out of one app shares and that changes rarely: the app row (its
 * defaults) and its ext key registry, kept in memory per instance. A change to either records an
 * `appChanged` event in the same transaction; each instance forgets the app when its relay reads
 * that event (and the writing instance at once, after its commit). So an instance may use the old
 * settings only between another instance's commit and its own read of the log: normally
 * milliseconds, at most EVENT_POLL_MS. A read that was in flight when the app was forgotten is
 * handed to those who were already waiting for it, never kept.
 */
const NOT_FOUND = Symbol('app not found');

export class AppConfigCache {
  private readonly apps = new Map<string, Promise<AppRow | undefined>>();
  private readonly extKeyLists = new Map<string, Promise<ExtProfileKeyRow[]>>();

  constructor(private readonly db: Kysely<Database>) {}

  app(appKey: string): Promise<AppRow | undefined> {
    // an app not found is not kept (it may be created with that key later)
    return this.cached(this.apps, appKey, async () => (await findApp(this.db, appKey)) ?? Promise.reject(NOT_FOUND)).catch((error) => {
      if (error === NOT_FOUND) return undefined;
      throw error;
    });
  }

  extKeys(appKey: string): Promise<ExtProfileKeyRow[]> {
    return this.cached(this.extKeyLists, appKey, () => listExtProfileKeys(this.db, appKey));
  }

  forget(appKey: string): void {
    this.apps.delete(appKey);
    this.extKeyLists.delete(appKey);
  }

  private cached<T>(map: Map<string, Promise<T>>, appKey: string, read: () => Promise<T>): Promise<T> {
    let entry = map.get(appKey);
    if (!entry) {
      entry = read();
      map.set(appKey, entry);
      // a failed read is not kept: the next caller reads again
      entry.catch(() => {
        if (map.get(appKey) === entry) map.delete(appKey);
      });
    }
    return entry;
  }
}
