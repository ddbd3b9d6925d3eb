import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './2026-11-25T2200_initial.ts';

/** Timestamped migrations, applied in name order. Add new ones here. */
const migrations: Record<string, Migration> = {
  '2026-11-25T2200_initial': initial,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
