import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './2026-11-25T2200_initial.ts';
import * as presence from './2026-11-25T2330_presence.ts';
import * as instanceDeadline from './2026-11-26T0300_instance_deadline.ts';
import * as eventLog from './2026-12-01T0900_event_log.ts';
import * as presenceGrace from './2026-12-01T1100_presence_grace.ts';
import * as appSecretChecks from './2026-12-01T1500_app_secret_checks.ts';
import * as appSealedSecrets from './2026-12-01T1700_app_sealed_secrets.ts';
import * as fieldVisibility from './2026-12-02T0100_field_visibility.ts';
import * as presencePrivacy from './2026-12-02T0200_presence_privacy.ts';
import * as expiryWarnings from './2026-12-02T0300_expiry_warnings.ts';
import * as webhooks from './2026-12-02T0400_webhooks.ts';

/** Timestamped migrations, applied in name order. Add new ones here. */
const migrations: Record<string, Migration> = {
  '2026-11-25T2200_initial': initial,
  '2026-11-25T2330_presence': presence,
  '2026-11-26T0300_instance_deadline': instanceDeadline,
  '2026-12-01T0900_event_log': eventLog,
  '2026-12-01T1100_presence_grace': presenceGrace,
  '2026-12-01T1500_app_secret_checks': appSecretChecks,
  '2026-12-01T1700_app_sealed_secrets': appSealedSecrets,
  '2026-12-02T0100_field_visibility': fieldVisibility,
  '2026-12-02T0200_presence_privacy': presencePrivacy,
  '2026-12-02T0300_expiry_warnings': expiryWarnings,
  '2026-12-02T0400_webhooks': webhooks,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
