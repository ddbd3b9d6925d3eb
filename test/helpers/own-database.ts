import pg from 'pg';

/**
 * A database of its own beside DATABASE_URL's (created when missing; `drop` removes it). Server
 * processes started with a short presence timeout run on the real clock: in a database shared with
 * other test files, whose servers heartbeat rarely and keep manual clocks, they would judge those
 * servers dead and reap their connections (other files' users going offline mid-test).
 */
export async function ownDatabase(baseUrl: string, suffix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const url = new URL(baseUrl);
  const name = `${decodeURIComponent(url.pathname.slice(1))}_${suffix}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: baseUrl });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const quoted = `"${name.replace(/"/g, '""')}"`;
  if (!(await admin(`select 1 from pg_database where datname = '${name.replace(/'/g, "''")}'`)).rowCount) await admin(`create database ${quoted}`);
  url.pathname = `/${encodeURIComponent(name)}`;
  return { url: url.toString(), drop: async () => void (await admin(`drop database if exists ${quoted} with (force)`)) };
}
