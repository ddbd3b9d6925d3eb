import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';

/**
 * JSON text made once and spliced into many outgoing messages. graphql-ws serialises every
 * message it sends with JSON.stringify, walking the whole result again for each receiver; for a
 * change shared by thousands of receivers that walk was the largest cost left per delivery.
 * A result may instead carry a token string where the text goes; the socket class below swaps the
 * token for the text as the message is sent. Tokens hold a per-process random secret, so no value
 * a user wrote (a profile field, say) can ever be taken for one.
 *
 * Node 22 has JSON.rawJSON for this; Node 20, which this server supports, has it only behind a
 * V8 flag.
 */
const SECRET = randomBytes(12).toString('hex');
/** as the token appears in serialised JSON: a string starting with U+0002, which JSON escapes */
const TOKEN_PREFIX = `\u0002${SECRET}:`;
const SERIALISED_PREFIX = `"\\u0002${SECRET}:`;
/** a token not sent within this long belongs to a message that was dropped (its socket closed) */
const UNSENT_TTL_MS = 30_000;

const pending = new Map<number, { text: string; at: number }>();
let lastId = 0;

/** A token for `text`, to put where the text goes in a result; valid for one send. */
export function preSerialized(text: string): string {
  const now = Date.now();
  // entries are in creation order: drop the few that were never sent
  for (const [id, entry] of pending) {
    if (now - entry.at < UNSENT_TTL_MS) break;
    pending.delete(id);
  }
  const id = ++lastId;
  pending.set(id, { text, at: now });
  return `${TOKEN_PREFIX}${id}`;
}

/** The message with its token (if any) replaced by the text it stands for. */
export function spliced(data: string): string {
  const start = data.indexOf(SERIALISED_PREFIX);
  if (start < 0) return data;
  const end = data.indexOf('"', start + SERIALISED_PREFIX.length);
  const id = Number(data.slice(start + SERIALISED_PREFIX.length, end));
  const entry = pending.get(id);
  if (!entry) return data;
  pending.delete(id);
  return data.slice(0, start) + entry.text + data.slice(end + 1);
}

/** The server's socket class (`WebSocketServer({ WebSocket })`): splices tokens as it sends. */
export class SplicingWebSocket extends WebSocket {
  override send(data: unknown, ...rest: unknown[]): void {
    (super.send as (...args: unknown[]) => void)(typeof data === 'string' ? spliced(data) : data, ...rest);
  }

  /** A message that holds no token (nothing to splice). */
  sendPrepared(text: string): void {
    super.send(text);
  }
}

/**
 * Serialises `value` once into segments around per-receiver placeholders: `fill(values)` then
 * gives the JSON with the values (JSON-serialisable, in `keys` order) put in, without walking
 * `value` again.
 */
export function segmentsOf(value: Record<string, unknown>, keys: readonly string[]): (values: readonly unknown[]) => string {
  const copy: Record<string, unknown> = { ...value };
  keys.forEach((key, i) => (copy[key] = `\u0003${SECRET}:${i}`));
  let rest = JSON.stringify(copy);
  const parts: string[] = [];
  const order: number[] = [];
  for (;;) {
    const found = keys.map((_, i) => ({ i, at: rest.indexOf(`"\\u0003${SECRET}:${i}"`) })).filter((f) => f.at >= 0).sort((a, b) => a.at - b.at)[0];
    if (!found) break;
    parts.push(rest.slice(0, found.at));
    order.push(found.i);
    rest = rest.slice(found.at + `"\\u0003${SECRET}:${found.i}"`.length);
  }
  parts.push(rest);
  return (values) => {
    let out = parts[0]!;
    for (let k = 0; k < order.length; k++) out += JSON.stringify(values[order[k]!] ?? null) + parts[k + 1]!;
    return out;
  };
}
