import { createDatabaseIfMissing, dropDatabase } from '../../src/db/connect.ts';

/**
 * A database of its own beside DATABASE_URL's (created when missing; `drop` removes it). Server
 * processes started with a short presence timeout run on the real clock: in a database shared with
 * other test files, whose servers heartbeat rarely and keep manual clocks, they would judge those
 * servers dead and reap their connections (other files' users going offline mid-test).
 */
export async function ownDatabase(baseUrl: string, suffix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const url = new URL(baseUrl);
  url.pathname = `/${encodeURIComponent(`${decodeURIComponent(url.pathname.slice(1))}_${suffix}`)}`;
  await createDatabaseIfMissing(url.toString());
  return { url: url.toString(), drop: () => dropDatabase(url.toString()) };
}
