import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Clock } from '../clock.ts';

export const TOKEN_TTL_DEFAULT = 86_400;
export const TOKEN_TTL_MAX = 2_592_000;
/** SPEC §1: an expired token is refused with at most 1 s of clock tolerance (still valid at exp + 1 s, refused after) */
const CLOCK_TOLERANCE_MS = 1000;
const ISSUER = 'profile-hosting';

export interface UserTokenClaims {
  appKey: string;
  userId: string;
  /** the user's token generation when issued; revokeUserTokens bumps the stored one */
  generation: number;
}

/** What a verified token says: its claims, when it was issued and when it expires (ms since the epoch). */
export interface VerifiedToken extends UserTokenClaims {
  expiresAtMs: number;
  /** from the `iat_ms` claim; tokens from before it carry only `iat` (whole seconds) */
  issuedAtMs: number;
}

/** The last moment a token is still accepted: its expiry plus the clock tolerance. */
export const acceptedUntil = (expiresAtMs: number): number => expiresAtMs + CLOCK_TOLERANCE_MS;

/**
 * Signs and verifies user tokens (HS256 JWT). Verification needs no database round trip;
 * the caller compares `generation` with the stored one (one primary-key lookup) for revocation.
 */
export class TokenService {
  /**
   * The HMAC key imported into WebCrypto once: given raw bytes, jose imports them again on every
   * sign and verify, which was most of a connect's token cost.
   */
  private readonly key: Promise<CryptoKey>;

  constructor(secret: string, private readonly clock: Clock) {
    if (Buffer.byteLength(secret) < 32) throw new Error('the token signing secret must be at least 32 bytes');
    this.key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  }

  async issue(claims: UserTokenClaims, expiresInSeconds: number): Promise<{ token: string; expiresAt: Date }> {
    const nowMs = this.clock.now().getTime();
    const nowS = Math.floor(nowMs / 1000);
    const exp = nowS + expiresInSeconds;
    // the issue time in ms too: the server API's token expiry (`time`, ms) refuses tokens issued before it
    const token = await new SignJWT({ app: claims.appKey, gen: claims.generation, iat_ms: nowMs })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(claims.userId)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .sign(await this.key);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Tokens whose signature was verified, with their expiry: a client sends the same token on every
   * request, and HMAC verification was a visible share of a read's CPU. Bounded; oldest go first.
   */
  private readonly verified = new Map<string, VerifiedToken>();
  private static readonly VERIFIED_MAX = 10_000;

  /** The claims of a valid, unexpired token; null for anything else. */
  async verify(token: string): Promise<VerifiedToken | null> {
    const now = this.clock.now();
    const cached = this.verified.get(token);
    if (cached) {
      if (now.getTime() <= acceptedUntil(cached.expiresAtMs)) return cached;
      this.verified.delete(token);
      return null;
    }
    try {
      const { payload } = await jwtVerify(token, await this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        // jose compares whole seconds (refusing at exp + tolerance); the exact check follows below
        clockTolerance: CLOCK_TOLERANCE_MS / 1000 + 1,
        currentDate: now,
        requiredClaims: ['exp', 'sub', 'iat'],
      });
      if (now.getTime() > acceptedUntil(payload.exp! * 1000)) return null;
      // issued "in the future": never by this server (its clocks agree within the tolerance)
      if (typeof payload.iat !== 'number' || payload.iat * 1000 > now.getTime() + CLOCK_TOLERANCE_MS) return null;
      if (typeof payload.app !== 'string' || typeof payload.gen !== 'number' || typeof payload.sub !== 'string') return null;
      const issuedAtMs = typeof payload.iat_ms === 'number' && Math.floor(payload.iat_ms / 1000) === payload.iat ? payload.iat_ms : payload.iat * 1000;
      const verified = { appKey: payload.app, userId: payload.sub, generation: payload.gen, expiresAtMs: payload.exp! * 1000, issuedAtMs };
      if (this.verified.size >= TokenService.VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, verified);
      return verified;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return null;
      throw error;
    }
  }
}
