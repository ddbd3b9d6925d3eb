import { createGraphQLError, type Plugin } from 'graphql-yoga';

/** What yoga's `cors` option takes per request (@whatwg-node/server's CORSOptions). */
type CORSOptions = {
  origin?: string[];
  methods?: string[];
  allowedHeaders?: string[];
  exposedHeaders?: string[];
  credentials?: boolean;
  maxAge?: number;
};

/**
 * Headers that make a browser request "non-simple", so that the browser asks (CORS preflight)
 * before sending it cross-origin. Any of them marks a request as deliberate: yoga's, Apollo's and
 * the GraphQL-over-HTTP draft's names are all accepted.
 */
export const CSRF_HEADERS = ['x-graphql-yoga-csrf', 'graphql-require-preflight', 'apollo-require-preflight', 'x-apollo-operation-name'];

/** Content types a cross-site HTML form or no-cors fetch can send without a preflight. */
const SIMPLE_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

/**
 * CSRF prevention for browser requests (the rule of yoga's and Apollo's CSRF prevention, for
 * everything but plain GETs):
 * - POST (and any other method but GET/HEAD) must be non-simple: a JSON (or other non-form)
 *   content type, or one of CSRF_HEADERS. A cross-site form post (form-urlencoded, multipart,
 *   text/plain, or no content type) is refused with 403 before it is parsed, so no mutation can
 *   be triggered by one.
 * - GET runs queries only (yoga refuses mutations over GET with 405), so it cannot change
 *   anything; it stays open to non-browser clients, links and the GraphQL-over-HTTP audits. A GET
 *   that the browser itself marks as a cross-site, non-CORS request (Fetch Metadata:
 *   `Sec-Fetch-Site: cross-site` with `Sec-Fetch-Mode` other than `cors`, e.g. an <img> or
 *   <script> pointing at /graphql) is refused unless it carries a CSRF header.
 * The GraphiQL page (GET, text/html) is served before this check and is unaffected.
 */
export function useCsrfPrevention(): Plugin {
  return {
    onRequestParse({ request }) {
      const headers = request.headers;
      if (CSRF_HEADERS.some((name) => headers.has(name))) return;
      const method = request.method.toUpperCase();
      if (method === 'GET' || method === 'HEAD') {
        if (headers.get('sec-fetch-site') === 'cross-site' && headers.get('sec-fetch-mode') !== 'cors') throw refused('a cross-site GET that is not a CORS request');
        return;
      }
      const contentType = headers.get('content-type')?.toLowerCase().trim();
      if (contentType && !SIMPLE_CONTENT_TYPES.some((simple) => contentType.startsWith(simple))) return;
      throw refused(contentType ? `a POST with the form content type ${contentType.split(';')[0]}` : 'a POST without a content type');
    },
  };
}

function refused(what: string) {
  return createGraphQLError(
    `Refused ${what} (CSRF prevention): send Content-Type: application/json, or one of the headers ${CSRF_HEADERS.join(', ')}`,
    { extensions: { code: 'FORBIDDEN', http: { status: 403 } } },
  );
}

/**
 * CORS from CORS_ORIGINS. Empty (the default): same origin only — no CORS headers at all, so
 * browsers on other origins cannot read responses nor send non-simple requests. `*`: any origin.
 * Otherwise only the listed origins, each answered with its own origin; any other origin (the
 * opaque "null" one included) gets no CORS headers. Credentials (cookies) are never involved:
 * callers authenticate with the Authorization header.
 */
/** With CORS on, every answer depends on the request's Origin: caches must keep them apart. */
export function useVaryOrigin(enabled: boolean): Plugin {
  if (!enabled) return {};
  return {
    onResponse({ response }) {
      const vary = response.headers.get('vary');
      if (!vary?.split(/,\s*/).some((v) => v.toLowerCase() === 'origin')) response.headers.set('vary', vary ? `${vary}, Origin` : 'Origin');
    },
  };
}

export function corsOption(origins: readonly string[]): false | ((request: Request) => CORSOptions | false) {
  if (origins.length === 0) return false;
  const any = origins.includes('*');
  const allowed = new Set(origins.map((o) => o.toLowerCase()));
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || origin === 'null' || (!any && !allowed.has(origin.toLowerCase()))) return false;
    return {
      origin: [origin],
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['authorization', 'content-type', 'accept', 'x-device-id', 'x-request-id', ...CSRF_HEADERS],
      exposedHeaders: ['x-request-id', 'retry-after'],
      credentials: false,
      maxAge: 600,
    };
  };
}
