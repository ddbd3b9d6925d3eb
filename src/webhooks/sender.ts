import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress, WebhookTarget } from './address.ts';

/** Bytes of a response read at most (then the connection is dropped): its status is what counts. */
const RESPONSE_READ_MAX = 4096;

export type AttemptResult =
  | { ok: true; statusCode: number }
  | { ok: false; statusCode: number | null; error: string; reason: 'status' | 'timeout' | 'connection' | 'refused' };

/**
 * One POST to a webhook, connecting to `address` only (the one that was checked: the request's
 * own lookup answers with it, so the host name is used for the Host header and TLS but never
 * resolved again). No redirects are followed, no connection is reused, and the whole attempt —
 * connect, TLS, request, response head — is bounded by `timeoutMs`. Of the response, at most a few
 * KiB are read in the background before the socket is dropped: a receiver that trickles a huge
 * body holds nothing but that socket, and not for longer than the timeout.
 */
export function post(target: WebhookTarget, address: ResolvedAddress, headers: Record<string, string>, body: string, timeoutMs: number, signal?: AbortSignal): Promise<AttemptResult> {
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, [address]);
    else callback(null, address.address, address.family);
  };
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const req = send({
      host: target.hostname,
      port: target.port,
      path: target.path || '/',
      method: 'POST',
      lookup: pinned,
      agent: false,
      maxHeaderSize: 16_384,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), connection: 'close' },
    });
    const timer = setTimeout(() => {
      finish({ ok: false, statusCode: null, error: `no answer within ${timeoutMs} ms`, reason: 'timeout' });
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      finish({ ok: false, statusCode: null, error: 'stopped (server shutting down)', reason: 'connection' });
      req.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res: IncomingMessage) => {
      const statusCode = res.statusCode ?? 0;
      if (statusCode >= 200 && statusCode < 300) finish({ ok: true, statusCode });
      else if (statusCode >= 300 && statusCode < 400) finish({ ok: false, statusCode, error: `HTTP ${statusCode} (redirects are not followed)`, reason: 'status' });
      else finish({ ok: false, statusCode, error: `HTTP ${statusCode}`, reason: 'status' });
      drain(res, Math.max(0, timeoutMs));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      finish({ ok: false, statusCode: null, error: `connection failed (${error.code ?? error.message.split('\n')[0]!.slice(0, 80)})`, reason: 'connection' });
    });
    req.end(body);
  });
}

/** Reads a little of a response (a receiver that wrote its answer sees it taken), then drops the socket. */
function drain(res: IncomingMessage, withinMs: number): void {
  let read = 0;
  const stop = () => {
    clearTimeout(timer);
    res.destroy();
  };
  const timer = setTimeout(stop, withinMs);
  res.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > RESPONSE_READ_MAX) stop();
  });
  res.on('end', stop);
  res.on('error', stop);
}
