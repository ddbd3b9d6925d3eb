import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * App secrets kept readable by the server only (SPEC §13): RongCloud's request signature is a hash
 * of the secret itself, so verifying one needs the secret, not a hash of it. Each secret is sealed
 * with AES-256-GCM under a key derived from SECRET_ENCRYPTION_KEY (never stored in the database),
 * bound to its app key (additional authenticated data: a sealed secret copied onto another app
 * does not open). Format: `v1.<keyId>.<iv>.<ciphertext+tag>`, base64url parts.
 */
export class SecretBox {
  private readonly key: Buffer;
  /** names the key, so a secret sealed under another SECRET_ENCRYPTION_KEY is told apart from a forged one */
  readonly keyId: string;

  constructor(encryptionKey: string) {
    if (Buffer.byteLength(encryptionKey) < 32) throw new Error('the secret encryption key must be at least 32 bytes');
    this.key = Buffer.from(hkdfSync('sha256', encryptionKey, '', 'app-secret-encryption', 32));
    this.keyId = createHash('sha256').update(this.key).digest('base64url').slice(0, 12);
  }

  seal(appKey: string, secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(appKey, 'utf8'));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return ['v1', this.keyId, iv.toString('base64url'), body.toString('base64url')].join('.');
  }

  /** The secret; 'other key' when it was sealed under another SECRET_ENCRYPTION_KEY; null when it does not open. */
  open(appKey: string, sealed: string): string | 'other key' | null {
    const [version, keyId, iv, body] = sealed.split('.');
    if (version !== 'v1' || !keyId || !iv || !body) return null;
    if (keyId !== this.keyId) return 'other key';
    try {
      const bytes = Buffer.from(body, 'base64url');
      if (bytes.length < 16) return null;
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(appKey, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}
