import { createHash, createHmac, hkdfSync, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scryptCb(password, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key))),
  );

// OWASP's scrypt floor (N=2^17, r=8, p=1) costs ~128 MiB and ~0.3 s; N=2^15 keeps a
// cold check near 50 ms while staying far out of brute-force reach for 256-bit random secrets.
const PARAMS = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

/**
 * Random base64url text that never starts with '-': app keys and secrets are passed as command-line
 * values (`npm run seed -- --app <appKey>`), where a leading '-' reads as an option.
 */
export function randomToken(bytes = 32): string {
  for (;;) {
    const token = randomBytes(bytes).toString('base64url');
    if (!token.startsWith('-')) return token;
  }
}

/** A slow, salted hash of a secret: `scrypt$N$r$p$salt$hash`. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(secret, salt, KEY_LENGTH, { ...PARAMS, maxmem: 256 * 1024 * 1024 });
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 256 * 1024 * 1024,
  });
  return timingSafeEqual(actual, expected);
}

/** Constant-time equality of two strings of any length (compares digests). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/**
 * The fast keyed check of app secrets (see AppSecretChecksTable): HMAC-SHA256 of `appKey:secret`
 * under a key derived from TOKEN_SECRET. Without that key a stolen check is useless; with it, an
 * app secret (256 random bits) is still far beyond guessing, which is what the slow hash is for.
 */
export class SecretCheck {
  private readonly key: Buffer;
  /** names the key, so a check written under another TOKEN_SECRET is recognised as such */
  readonly keyId: string;

  constructor(tokenSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', tokenSecret, '', 'app-secret-check', 32));
    this.keyId = createHash('sha256').update(this.key).digest('base64url').slice(0, 12);
  }

  of(appKey: string, secret: string): string {
    return createHmac('sha256', this.key).update(`${appKey}:${secret}`).digest('base64url');
  }

  /** true or false when the stored check is under this key; undefined when it is not (slow hash needed). */
  matches(stored: { keyId: string; check: string } | undefined, appKey: string, secret: string): boolean | undefined {
    if (!stored || stored.keyId !== this.keyId) return undefined;
    return safeEqual(stored.check, this.of(appKey, secret));
  }
}
