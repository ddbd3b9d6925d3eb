import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/db/database.ts';

/**
 * Everything the database holds for one app: every row of every table with an app_key column
 * (found in the catalog, so a new table is covered without a change here), the event log
 * included, plus (on a database of its own) the number of apps. Rows are sorted, so two snapshots compare with toEqual:
 * "nothing of this app was written" is `expect(after).toEqual(before)`.
 */
export async function appSnapshot(db: Kysely<Database>, appKey: string): Promise<Record<string, unknown[]>> {
  const tables = await appTables(db);
  const parts = tables.map((t) => sql`${sql.lit(t)}, (select coalesce(json_agg(r), '[]'::json) from ${sql.table(t)} r where r.app_key = ${appKey})`);
  // the number of apps says whether a refused createApp wrote one; on PostgreSQL other test files
  // create apps in the same database meanwhile, so there it is left out (the embedded run has it)
  if (!process.env.DATABASE_URL) parts.push(sql`'(apps)', (select count(*) from apps)`);
  const { rows } = await sql<{ snapshot: Record<string, unknown[]> }>`select json_build_object(${sql.join(parts)}) as snapshot`.execute(db);
  const snapshot = rows[0]!.snapshot;
  const raw = typeof snapshot === 'string' ? (JSON.parse(snapshot) as Record<string, unknown>) : snapshot;
  const sorted: Record<string, unknown[]> = {};
  for (const [table, value] of Object.entries(raw)) {
    sorted[table] = Array.isArray(value) ? value.map((r) => JSON.stringify(r)).sort() : [value];
  }
  return sorted;
}

let cached: string[] | undefined;
async function appTables(db: Kysely<Database>): Promise<string[]> {
  cached ??= (
    await sql<{ tableName: string }>`
      select c.table_name from information_schema.columns c
      join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.column_name = 'app_key' and c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
      order by c.table_name`.execute(db)
  ).rows.map((r) => r.tableName);
  if (!cached.includes('users') || !cached.includes('events')) throw new Error(`app tables not found: ${cached.join(', ')}`);
  return cached;
}
