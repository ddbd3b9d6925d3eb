/**
 * How long the SDK waits before a reconnect attempt. Pure functions (the randomness is a
 * parameter), so that tests can pin them and the benchmark's storm scenario can reconnect its
 * devices exactly as the SDK would.
 */

/** The first retry waits up to this long; every further retry doubles the bound… */
export const RECONNECT_BASE_MS = 500;
/** …up to this. */
export const RECONNECT_CAP_MS = 30_000;
/** Never less than this: a wait of 0 would spin when the server is down. */
export const RECONNECT_MIN_MS = 5;
/** A server's `retry after <N> ms` hint is capped here (a larger setTimeout delay would fire at once). */
export const RETRY_AFTER_MAX_MS = 600_000;
/** The close code of a server that sheds load (RFC 6455: Try Again Later). */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * The wait before reconnect attempt `retries` (0-based), "full jitter": uniformly random in
 * [0, min(30 s, 0.5 s · 2^retries)], at least RECONNECT_MIN_MS. Full jitter (rather than a
 * fixed backoff plus a little noise) spreads the devices of a mass disconnect over the whole
 * window, so they do not come back together.
 */
export function reconnectDelay(retries: number, random: () => number = Math.random): number {
  const bound = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.max(0, retries));
  return Math.max(RECONNECT_MIN_MS, Math.floor(random() * bound));
}

/**
 * The wait a shedding server asks for: N when it closed with 1013 (Try Again Later) and a reason
 * containing `retry after <N> ms`; undefined for any other close.
 */
export function retryAfterMs(code: number, reason: string): number | undefined {
  if (code !== CLOSE_TRY_AGAIN_LATER) return undefined;
  const match = /retry after (\d+) ?ms/i.exec(reason);
  if (!match) return undefined;
  return Math.min(RETRY_AFTER_MAX_MS, Number(match[1]));
}

/**
 * The wait after a shed close with hint N: N plus a random jitter of up to N, so that the
 * clients shed together do not all come back together after exactly N.
 */
export function shedDelay(hintMs: number, random: () => number = Math.random): number {
  return hintMs + Math.floor(random() * hintMs);
}
