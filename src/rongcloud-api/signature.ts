import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { safeEqual } from '../auth/secrets.ts';

/**
 * RongCloud's request signature: `Signature = sha1(AppSecret + Nonce + Timestamp)` in lowercase
 * hex, with the App-Key, Nonce, Timestamp and Signature headers (or their `RC-` aliases, for
 * platforms that strip custom headers).
 */
export function signatureOf(appSecret: string, nonce: string, timestamp: string): string {
  return createHash('sha1').update(appSecret + nonce + timestamp, 'utf8').digest('hex');
}

/** How far a request's Timestamp may be from our clock, either way (RongCloud documents none; generous). */
export const TIMESTAMP_WINDOW_MS = 10 * 60_000;

export interface SignedHeaders {
  appKey?: string;
  nonce?: string;
  timestamp?: string;
  signature?: string;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name] ?? req.headers[`rc-${name}`];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === '' ? undefined : text.trim();
}

export function signedHeaders(req: IncomingMessage): SignedHeaders {
  return { appKey: header(req, 'app-key'), nonce: header(req, 'nonce'), timestamp: header(req, 'timestamp'), signature: header(req, 'signature') };
}

/**
 * The Timestamp in ms: the docs say milliseconds (13 digits) while the official SDKs send seconds
 * (10 digits); both are accepted. Undefined for anything else.
 */
export function timestampMs(timestamp: string): number | undefined {
  if (/^\d{10}$/.test(timestamp)) return Number(timestamp) * 1000;
  if (/^\d{13}$/.test(timestamp)) return Number(timestamp);
  return undefined;
}

/** Why a signature is refused, or null when it is right (compared case-insensitively, in constant time). */
export function signatureProblem(h: Required<SignedHeaders>, appSecret: string, nowMs: number): string | null {
  const at = timestampMs(h.timestamp);
  if (at === undefined) return 'Timestamp must be seconds (10 digits) or milliseconds (13 digits) since the epoch';
  if (Math.abs(at - nowMs) > TIMESTAMP_WINDOW_MS) return `Timestamp is more than ${TIMESTAMP_WINDOW_MS / 60_000} minutes from the server's time`;
  if (!safeEqual(h.signature.toLowerCase(), signatureOf(appSecret, h.nonce, h.timestamp))) return 'Signature does not match sha1(AppSecret + Nonce + Timestamp)';
  return null;
}
