import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomToken } from './auth/secrets.ts';

/**
 * Secrets of the zero-configuration embedded setup, kept beside its data (mode 0600) so that a
 * restart keeps tokens valid and the same operator token. Production sets them in the environment.
 */
export interface DevSecrets {
  tokenSecret: string;
  operatorToken: string;
  /** added later: a data directory from before it gets one on its next start */
  secretEncryptionKey?: string;
  devApp?: { appKey: string; appSecret: string };
}

export function devSecretsPath(dataDir: string): string {
  return join(dataDir, 'dev-secrets.json');
}

export function loadDevSecrets(dataDir: string): DevSecrets {
  const path = devSecretsPath(dataDir);
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as DevSecrets;
    if (stored.secretEncryptionKey) return stored;
    const upgraded = { ...stored, secretEncryptionKey: randomToken(48) };
    saveDevSecrets(dataDir, upgraded);
    return upgraded;
  }
  const secrets: DevSecrets = { tokenSecret: randomToken(48), operatorToken: randomToken(32), secretEncryptionKey: randomToken(48) };
  saveDevSecrets(dataDir, secrets);
  return secrets;
}

export function saveDevSecrets(dataDir: string, secrets: DevSecrets): void {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(devSecretsPath(dataDir), JSON.stringify(secrets, null, 2), { mode: 0o600 });
}
