/**
 * Where the SDK gets its user token: a fixed one, or the app's `getToken()` (its backend issues
 * tokens with issueUserToken). A token from `getToken()` is kept until shortly before it expires,
 * then asked for again; the event connection reconnects with the new one before the server would
 * close it (SPEC §1: a socket lives no longer than its token).
 *
 * Lifetimes are read from the token's own `iat` and `exp` and counted on this device's monotonic
 * clock from when the token arrived, so a device whose wall clock is wrong still refreshes in time.
 */
export class TokenSource {
  private current: { token: string; /** performance.now() after which it is asked for again */ refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly given: string | (() => string | Promise<string>)) {}

  /** Whether a fresh token can be had (getToken given), so an expired one is worth a retry. */
  get refreshable(): boolean {
    return typeof this.given === 'function';
  }

  async get(): Promise<string> {
    if (typeof this.given === 'string') return this.given;
    if (this.current && performance.now() < this.current.refreshAt) return this.current.token;
    this.pending ??= this.fetch(this.given).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** The next get() asks getToken() again (the server refused the one held). */
  invalidate(): void {
    this.current = undefined;
  }

  /** ms until the held token should be replaced; undefined when it does not expire (or is not a JWT). */
  refreshInMs(): number | undefined {
    return this.current ? Math.max(0, this.current.refreshAt - performance.now()) : undefined;
  }

  private async fetch(getToken: () => string | Promise<string>): Promise<string> {
    const token = await getToken();
    const lifetimeMs = lifetimeOf(token);
    // a token whose life is unknown is asked for at every use, as before tokens were kept
    this.current = lifetimeMs === undefined ? undefined : { token, refreshAt: performance.now() + lifetimeMs - refreshLeadMs(lifetimeMs) };
    return token;
  }
}

/** Replace a token this long before it expires: a tenth of its life, between 1 s and 60 s. */
export function refreshLeadMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(1000, lifetimeMs / 10));
}

/** A JWT's lifetime (exp − iat) in ms; undefined for anything else. Not verified: only a hint. */
export function lifetimeOf(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { iat?: unknown; exp?: unknown };
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || claims.exp <= claims.iat) return undefined;
    return (claims.exp - claims.iat) * 1000;
  } catch {
    return undefined;
  }
}
