import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../context.ts';
import { signingSecretOf } from '../apps/service.ts';
import { readBodyWithin } from '../http/limits.ts';
import { serverApiBuckets } from '../ratelimit/server-api.ts';
import { COUNTED_PER_ITEM, ENDPOINTS } from './endpoints.ts';
import { Params } from './params.ts';
import { answer, RestError, restErrorOf } from './responses.ts';
import { signatureProblem, signedHeaders } from './signature.ts';

/**
 * RongCloud's server API beside /graphql (SPEC §13), so that an app backend migrates by changing
 * its base URL: `POST /user/….json` and `/friend/….json`, signed as RongCloud signs them, answered
 * as RongCloud answers. This module carries messages only; every rule is the domain services'.
 */
export function isServerApiPath(path: string): boolean {
  return (path.startsWith('/user/') || path.startsWith('/friend/')) && path.endsWith('.json');
}

/** The request id echoed back (RongCloud's SDKs send one and the Go SDK reads it), or a new one. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  const id = Array.isArray(given) ? given[0] : given;
  return id && /^[\x21-\x7e]{1,64}$/.test(id) ? id : randomUUID();
}

export async function serveServerApi(s: Services, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const headers = { 'x-request-id': requestIdOf(req) };
  const start = performance.now();
  let code = 200;
  try {
    const endpoint = Object.hasOwn(ENDPOINTS, path) ? ENDPOINTS[path] : undefined;
    if (!endpoint) throw new RestError(404, `no such endpoint: ${path}`);
    if (req.method !== 'POST') throw new RestError(1002, `${path} takes POST`, 405, { allow: 'POST' });
    if (Number(req.headers['content-length'] ?? 0) > s.config.maxBodyBytes) throw new RestError(1005, `the request body is larger than ${s.config.maxBodyBytes} bytes`, 413);
    const app = await authenticate(s, req);
    const body = await readBodyWithin(req, s.config.maxBodyBytes);
    if (body === null) {
      res.setHeader('connection', 'close'); // the rest of the body is not read
      throw new RestError(1005, `the request body is larger than ${s.config.maxBodyBytes} bytes`, 413);
    }
    const params = Params.parse(Buffer.concat(body), req.headers['content-type']);
    const counted = Object.hasOwn(COUNTED_PER_ITEM, path) ? COUNTED_PER_ITEM[path] : undefined;
    const refused = await s.rateLimiter.take(serverApiBuckets(app.appKey, path, s.config, counted ? params.list(counted).length : 1));
    if (refused) {
      const seconds = Math.max(1, Math.ceil(refused.retryAfterMs / 1000));
      throw new RestError(1008, `too many requests for ${path} of this App-Key: retry in ${refused.retryAfterMs} ms`, 429, { 'retry-after': String(seconds) });
    }
    const result = await endpoint({ services: s, app, params });
    answer(res, 200, { code: 200, ...result }, headers);
  } catch (error) {
    const refusal = restErrorOf(error);
    code = refusal.code;
    if (refusal.code === 1000) s.log.error({ err: error, path }, 'server API request failed');
    answer(res, refusal.httpStatus, { code: refusal.code, errorMessage: refusal.message, url: path }, { ...headers, ...refusal.headers });
  } finally {
    // labels from closed sets: the known endpoints, and the codes this module answers
    s.metrics.serverApiRequests.inc({ endpoint: Object.hasOwn(ENDPOINTS, path) ? path : 'unknown', code: String(code) });
    s.log.info({ reqId: headers['x-request-id'], method: req.method, path, status: res.statusCode, code, ms: Math.round((performance.now() - start) * 10) / 10 }, 'server API request');
  }
}

/**
 * The signed headers against the app's secret. Failures count against the client IP's (and the
 * app's) failure budget, as wrong Basic secrets do; an IP that spent it is refused unchecked.
 */
async function authenticate(s: Services, req: IncomingMessage) {
  const h = signedHeaders(req);
  if (!h.appKey) throw new RestError(1002, 'invalid App-Key: the App-Key header (or RC-App-Key) is missing', 401);
  if (!h.nonce || !h.timestamp || !h.signature) throw new RestError(1004, 'signature error: the Nonce, Timestamp and Signature headers (or their RC- aliases) are required');
  const ip = s.clientIp(req);
  const throttled = await s.abuse.exhausted(ip);
  if (throttled) throw new RestError(1008, `too many failed authentications from this address: retry in ${throttled.retryAfterMs} ms`);
  const found = await signingSecretOf(s, h.appKey);
  if (!found.ok) {
    if (found.reason === 'unknown app') {
      await s.abuse.failed(ip);
      throw new RestError(1002, 'invalid App-Key.', 401);
    }
    if (found.reason === 'other key') throw new RestError(1001, "this app's secret was encrypted under another SECRET_ENCRYPTION_KEY: restore that key, or call rotateAppSecret over GraphQL for a new secret");
    throw new RestError(1001, "this app's secret is stored only as a hash (the app was created before the server API): it keeps working with Basic auth; call rotateAppSecret over GraphQL for a new secret that works for both");
  }
  const problem = signatureProblem({ appKey: h.appKey, nonce: h.nonce, timestamp: h.timestamp, signature: h.signature }, found.secret, s.clock.now().getTime());
  if (problem) {
    await s.abuse.failed(ip, h.appKey);
    throw new RestError(1004, `signature error: ${problem}`);
  }
  return found.app;
}
