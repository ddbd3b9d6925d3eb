import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';

const EXAMPLE_QUERY = `# Set "Authorization" in Headers below:
#   user calls:    Bearer <user token from issueUserToken>
#   backend calls: Basic base64(appKey:appSecret)
# Privacy, as a user (each field by its own visibility; presence and custom status):
#   mutation { updateMyFieldVisibility(settings: [{ field: EMAIL, visibility: FRIENDS_ONLY }]) { field extKey visibility } }
#   mutation { updateMyPresenceVisibility(visibility: INVISIBLE) }
#   mutation { updateMyCustomStatus(text: "In a meeting", emoji: "📅", expiresInSeconds: 3600) { text emoji expiresAt } }
# Webhooks, as the backend: mutation { createWebhook(url: "https://…", kinds: [PROFILE_CHANGED]) { signingSecret webhook { id } } }
query MyProfile {
  myUserProfile { userId name portraitUri email version updatedAt restricted }
}
`;

type Encoding = 'br' | 'gzip' | 'identity';

interface Variants {
  bodies: Record<Encoding, Buffer>;
  /** weak: the encodings are one page (RFC 9110 §8.8.3), revalidated alike */
  etag: string;
}

/**
 * The page a browser gets at GET /graphql (bundled GraphiQL, so it works offline). It is 9 MB of
 * inline code: rendered and compressed (brotli, gzip) once, on the first request, and sent in the
 * encoding the browser accepts, with an ETag so that a reload costs a 304 instead of the page.
 */
export class GraphiQLPage {
  private variants: Promise<Variants> | undefined;

  constructor(private readonly endpoint: string) {}

  /** Whether this request is a browser asking for the page (what yoga's GraphiQL answered). */
  wants(req: IncomingMessage, path: string): boolean {
    return (req.method === 'GET' || req.method === 'HEAD') && (path === this.endpoint || path === `${this.endpoint}/`) && !!req.headers.accept?.includes('text/html');
  }

  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { bodies, etag } = await (this.variants ??= render());
    const headers = { 'content-type': 'text/html; charset=utf-8', etag, 'cache-control': 'no-cache', vary: 'Accept-Encoding' };
    if (matches(req.headers['if-none-match'], etag)) {
      res.writeHead(304, headers);
      return void res.end();
    }
    const encoding = preferredEncoding(req.headers['accept-encoding']);
    const body = bodies[encoding];
    res.writeHead(200, { ...headers, ...(encoding === 'identity' ? {} : { 'content-encoding': encoding }), 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

async function render(): Promise<Variants> {
  const html = Buffer.from(
    renderGraphiQL({
      title: 'Profile hosting server',
      defaultQuery: EXAMPLE_QUERY,
      headers: JSON.stringify({ Authorization: 'Bearer <user token>' }, null, 2),
      subscriptionsProtocol: 'WS',
    }),
  );
  // brotli's top quality takes ~20 s on this page for 8 % less than quality 9 (~1.3 s); both run
  // on libuv's thread pool, not the event loop
  const [br, gz] = await Promise.all([
    promisify(brotliCompress)(html, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: html.length, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT } }),
    promisify(gzip)(html, { level: 9 }),
  ]);
  return { bodies: { br, gzip: gz, identity: html }, etag: `W/"${createHash('sha256').update(html).digest('base64url').slice(0, 27)}"` };
}

/** The coding the client weighs highest (RFC 9110 §12.5.3 q-values): br or gzip (br on a tie), else none. */
export function preferredEncoding(header: string | undefined): Encoding {
  if (!header) return 'identity';
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const weight = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    if (name) q.set(name, weight === undefined ? 1 : Number(weight));
  }
  const weight = (coding: string) => q.get(coding) ?? q.get('*') ?? 0;
  const [br, gz] = [weight('br'), weight('gzip')];
  if (br > 0 && br >= gz) return 'br';
  return gz > 0 ? 'gzip' : 'identity';
}

/** If-None-Match with weak comparison: any listed tag equal to ours, W/ or not, or `*`. */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const ours = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || tag.trim().replace(/^W\//, '') === ours);
}
