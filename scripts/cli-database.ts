import type { Kysely } from 'kysely';
import { readEnvironment } from '../src/config.ts';
import { connectDatabase, migrateToLatest, type DatabaseTarget } from '../src/db/connect.ts';
import type { Database } from '../src/db/database.ts';
import type { SecretKeepers } from '../src/apps/repository.ts';
import { SecretBox } from '../src/apps/secret-box.ts';
import { SecretCheck } from '../src/auth/secrets.ts';
import { loadDevSecrets } from '../src/secrets-store.ts';

/**
 * How a new app's secret is kept, as the server keeps it: sealed under SECRET_ENCRYPTION_KEY (on the
 * embedded setup the one kept in DATA_DIR), with its fast check when TOKEN_SECRET is known.
 */
export function configuredSecretKeepers(): SecretKeepers {
  const config = readEnvironment();
  const dev = config.databaseUrl ? undefined : loadDevSecrets(config.dataDir);
  const encryptionKey = config.secretEncryptionKey ?? dev?.secretEncryptionKey;
  if (!encryptionKey) throw new Error('SECRET_ENCRYPTION_KEY (the same as the server\'s) is required with DATABASE_URL: app secrets are stored encrypted with it');
  const tokenSecret = config.tokenSecret ?? dev?.tokenSecret;
  return { box: new SecretBox(encryptionKey), check: tokenSecret ? new SecretCheck(tokenSecret) : undefined };
}

/** The database the server would use: DATABASE_URL, else the embedded database under DATA_DIR. */
export function configuredTarget(): { target: DatabaseTarget; description: string } {
  // the database settings only: the server's own rules (TOKEN_SECRET with DATABASE_URL) are not the CLI's
  const config = readEnvironment();
  if (config.databaseUrl) {
    const url = new URL(config.databaseUrl);
    if (url.password) url.password = '***';
    return { target: { kind: 'postgres', url: config.databaseUrl, poolSize: 2 }, description: `PostgreSQL database ${url.toString()}` };
  }
  return { target: { kind: 'embedded', dataDir: config.dataDir }, description: `embedded database under ${config.dataDir}` };
}

/** Opens the configured database, brings it to the latest migration and passes it to `work`. */
export async function withMigratedDatabase<T>(work: (db: Kysely<Database>, applied: string[], description: string) => Promise<T>): Promise<T> {
  const { target, description } = configuredTarget();
  const db = await connectDatabase(target);
  try {
    const applied = await migrateToLatest(db).catch((error: unknown) => {
      throw new Error(`cannot migrate the ${description}: ${error instanceof Error ? error.message : String(error)}`);
    });
    return await work(db, applied, description);
  } finally {
    await db.destroy();
  }
}

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** Runs a CLI main: prints the failure (without a stack for expected ones) and sets a non-zero exit code. */
export async function runCli(name: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    const message = error instanceof Error ? error.message || String(error) : String(error);
    console.error(`${name} failed: ${message}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
