import { createHmac, timingSafeEqual } from 'node:crypto';
import { appError, badInput } from '../errors.ts';
import type { LogPosition } from './repository.ts';

/**
 * A resume point on one user's stream: a log position, when it was handed out, and whether it
 * was handed out during a fresh start's status snapshot (resuming from there repeats the
 * snapshot, which was cut short). Opaque to clients, and bound to its user by an HMAC under the
 * server's token secret, so a cursor of another user (or a forged one) is refused.
 */
export interface Cursor {
  position: LogPosition;
  /** epoch ms when the position was reached: retention is counted from here */
  at: number;
  snapshot: boolean;
}

const MAX_LENGTH = 256;
const PAGE_TOKEN_MAX_LENGTH = 1024;

/** The lists whose pages are resumed with a page token; a token of one is refused by another. */
export type PagedList = 'friends' | 'friends-newest-first' | 'applications';

/**
 * Opaque positions handed to one user and handed back by them: `userEvents` cursors and the
 * `pageToken`s of paginated lists. Each is signed (HMAC under the server's token secret) over its
 * kind, app and user, so that a forged, edited or borrowed one is refused as BAD_USER_INPUT before
 * anything in it reaches a query.
 */
export class CursorCodec {
  constructor(private readonly secret: string) {}

  encode(appKey: string, userId: string, cursor: Cursor): string {
    const body = `${cursor.position.x}.${cursor.position.p}.${cursor.at}.${cursor.snapshot ? 1 : 0}`;
    return `${Buffer.from(body).toString('base64url')}.${this.mac(appKey, userId, body)}`;
  }

  /** The cursor, or BAD_USER_INPUT when it is malformed or not this user's. */
  decode(appKey: string, userId: string, text: string): Cursor {
    const bad = (why: string) => badInput(`after: ${why}; pass a cursor this stream handed to you, or omit it to start fresh`, { fields: ['after'] });
    if (text.length === 0 || text.length > MAX_LENGTH) throw bad('not a cursor');
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/.exec(text);
    if (!match) throw bad('not a cursor');
    const body = Buffer.from(match[1]!, 'base64url').toString('utf8');
    const parts = /^(\d{1,20})\.(\d{1,20})\.(\d{1,15})\.([01])$/.exec(body);
    if (!parts) throw bad('not a cursor');
    const expected = Buffer.from(this.mac(appKey, userId, body), 'base64url');
    const given = Buffer.from(match[2]!, 'base64url');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw bad('this cursor was not issued to you');
    return { position: { x: BigInt(parts[1]!), p: BigInt(parts[2]!) }, at: Number(parts[3]), snapshot: parts[4] === '1' };
  }

  /** A page token for the keyset position `values` (strings) of `list`, for this user only. */
  encodePage(appKey: string, userId: string, list: PagedList, values: readonly string[]): string {
    const body = JSON.stringify(values);
    return `${Buffer.from(body).toString('base64url')}.${this.mac(appKey, userId, body, `page:${list}`)}`;
  }

  /** The values of a page token this server issued to this user for `list`, or BAD_USER_INPUT naming pageToken. */
  decodePage(appKey: string, userId: string, list: PagedList, text: string): string[] {
    const bad = () => badInput('pageToken is not a token returned by this list; pass the nextPageToken of the previous page, or omit it for the first page', { fields: ['pageToken'] });
    if (text.length === 0 || text.length > PAGE_TOKEN_MAX_LENGTH) throw bad();
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/.exec(text);
    if (!match) throw bad();
    const body = Buffer.from(match[1]!, 'base64url').toString('utf8');
    const expected = Buffer.from(this.mac(appKey, userId, body, `page:${list}`), 'base64url');
    const given = Buffer.from(match[2]!, 'base64url');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw bad();
    const values: unknown = JSON.parse(body); // signed by us: it is what encodePage wrote
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) throw bad();
    return values;
  }

  private mac(appKey: string, userId: string, body: string, kind = 'cursor'): string {
    return createHmac('sha256', this.secret).update(`${kind}\u0000${appKey}\u0000${userId}\u0000${body}`).digest().subarray(0, 16).toString('base64url');
  }
}

/** CURSOR_EXPIRED: what the log kept no longer reaches back to this cursor. */
export function cursorExpired(retentionSeconds: number) {
  return appError(
    'CURSOR_EXPIRED',
    `after: this cursor is older than the event retention (${retentionSeconds} s); start without after and read the current state with queries`,
    { fields: ['after'] },
  );
}
