import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.ts';

/**
 * Runs `work` in the caller's transaction when `db` already is one (a service opened it to commit
 * the change together with its events), else in a new one.
 */
export function inTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}
