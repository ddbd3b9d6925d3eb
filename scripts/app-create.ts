// npm run app:create -- --name "My app": creates an app (tenant) on the configured database and prints its credentials once.
import { parseArgs } from 'node:util';
import { createApp } from '../src/apps/repository.ts';
import { configuredSecretKeepers, runCli, UsageError, withMigratedDatabase } from './cli-database.ts';

const USAGE = 'usage: npm run app:create -- --name <app name>';

function parseName(): string {
  let values: { name?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { name: { type: 'string', short: 'n' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const name = values.name?.trim();
  if (!name) throw new UsageError(`--name is required\n${USAGE}`);
  return values.name!;
}

await runCli('app:create', async () => {
  const name = parseName();
  const keepers = configuredSecretKeepers();
  await withMigratedDatabase(async (db, _applied, description) => {
    const { appKey, appSecret } = await createApp(db, name, new Date(), keepers);
    console.log(`Created app "${name}" on ${description}`);
    console.log(`appKey=${appKey}`);
    console.log(`appSecret=${appSecret}`);
    console.log(`Basic auth header: Basic ${Buffer.from(`${appKey}:${appSecret}`).toString('base64')}`);
    console.log('The secret is shown only this once: it is stored hashed, and encrypted for the RongCloud server API.');
  });
});
