import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess } from './helpers/process.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** GET with exactly these headers, and the body's bytes as sent (fetch would decode them). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function getHtml(url: string) {
  const response = await fetch(url, { headers: { accept: 'text/html' } });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text() };
}

/** The options object the page passes to renderYogaGraphiQL(root, { ... }). */
function embeddedConfig(html: string): Record<string, unknown> {
  const call = html.lastIndexOf('renderYogaGraphiQL(');
  expect(call, 'the page renders GraphiQL').toBeGreaterThan(-1);
  const match = /\{"[\s\S]*?\}(?=\s*,?\s*\)\s*;?\s*<\/script>)/.exec(html.slice(call));
  expect(match, 'the page embeds its GraphiQL options').not.toBeNull();
  return JSON.parse(match![0]) as Record<string, unknown>;
}

describe('GraphiQL (enabled by default)', () => {
  let server: TestServer;
  let page: Awaited<ReturnType<typeof getHtml>>;
  beforeAll(async () => {
    server = await startTestServer();
    page = await getHtml(server.url);
  });
  afterAll(() => server?.stop());

  it('GET /graphql from a browser (accept: text/html) returns the GraphiQL page', () => {
    expect(page.status).toBe(200);
    expect(page.contentType).toMatch(/^text\/html/);
    expect(page.body).toMatch(/<!doctype html>/i);
    expect(page.body).toContain('<title>Profile hosting server</title>');
    expect(page.body).toContain('renderYogaGraphiQL(');
  });

  it('loads nothing from another origin, so it works offline', () => {
    const origin = new URL(server.url).origin;
    // every src/href of a tag that fetches something: script, link, img, iframe, source, embed, object
    const references = [...page.body.matchAll(/<(?:script|link|img|iframe|source|embed|object)\b[^>]*?\b(?:src|href|data)\s*=\s*["']?([^"'\s>]+)/gi)].map(
      (m) => m[1]!,
    );
    const foreign = references.filter((ref) => /^(?:https?:)?\/\//i.test(ref) && !ref.startsWith(origin));
    expect(foreign).toEqual([]);
    // no stylesheet import or font/image url() from elsewhere, no ES module import from a URL
    expect(page.body.match(/@import\s+(?:url\()?\s*["']?(?:https?:)?\/\/[^"')\s;]+/gi) ?? []).toEqual([]);
    expect(page.body.match(/url\(\s*["']?(?:https?:)?\/\/[^"')\s]+/gi) ?? []).toEqual([]);
    expect(page.body.match(/\bimport\s*(?:\(\s*)?["'](?:https?:)?\/\/[^"']+/gi) ?? []).toEqual([]);
    // the usual CDNs are not mentioned at all
    expect(page.body.match(/unpkg\.com|cdn\.jsdelivr\.net|esm\.sh|cdnjs\.cloudflare\.com|fonts\.googleapis\.com/gi) ?? []).toEqual([]);
    // and the page is self-contained: GraphiQL's code is inline
    expect(page.body.length).toBeGreaterThan(100_000);
  });

  it('runs subscriptions over graphql-ws (subscriptionsProtocol WS)', () => {
    const config = embeddedConfig(page.body);
    expect(config.subscriptionsProtocol).toBe('WS');
    expect(config.title).toBe('Profile hosting server');
    expect(String(config.defaultQuery)).toContain('myUserProfile');
  });

  it('the same endpoint still answers GraphQL requests', async () => {
    const result = await server.anonymous.request('{ __typename }');
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ __typename: 'Query' });
  });
});

describe('GraphiQL page delivery: compressed once, revalidated with its ETag', () => {
  let server: TestServer;
  let plain: Awaited<ReturnType<typeof rawGet>>;
  beforeAll(async () => {
    server = await startTestServer();
    plain = await rawGet(server.url, { accept: 'text/html' });
  });
  afterAll(() => server?.stop());

  it('without Accept-Encoding: the page as is, with caching headers', () => {
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString('utf8')).toContain('renderYogaGraphiQL(');
    expect(plain.headers.etag).toMatch(/^W\/".+"$/);
    expect(plain.headers['cache-control']).toBe('no-cache');
    expect(plain.headers.vary).toMatch(/Accept-Encoding/i);
  });

  for (const [coding, decode] of [
    ['br', brotliDecompressSync],
    ['gzip', gunzipSync],
  ] as const) {
    it(`Accept-Encoding ${coding}: a body under 2.5 MB that decompresses to the page`, async () => {
      const page = await rawGet(server.url, { accept: 'text/html', 'accept-encoding': `${coding}, deflate` });
      expect(page.status).toBe(200);
      expect(page.headers['content-encoding']).toBe(coding);
      expect(page.body.length).toBeLessThan(2.5 * 1024 * 1024);
      expect(page.body.length).toBeLessThan(plain.body.length / 3);
      expect(decode(page.body).equals(plain.body)).toBe(true);
      expect(page.headers.etag).toBe(plain.headers.etag);
    });
  }

  it('the encoding the client weighs highest wins; q=0 refuses one', async () => {
    expect((await rawGet(server.url, { accept: 'text/html', 'accept-encoding': 'br;q=0.5, gzip;q=1' })).headers['content-encoding']).toBe('gzip');
    expect((await rawGet(server.url, { accept: 'text/html', 'accept-encoding': 'br;q=0, gzip;q=0' })).headers['content-encoding']).toBeUndefined();
    expect((await rawGet(server.url, { accept: 'text/html', 'accept-encoding': '*' })).headers['content-encoding']).toBe('br');
  });

  it('If-None-Match with the ETag answers 304 without the page; another tag gets the page', async () => {
    const etag = plain.headers.etag as string;
    for (const tag of [etag, etag.replace(/^W\//, ''), `"other", ${etag}`]) {
      const revalidated = await rawGet(server.url, { accept: 'text/html', 'accept-encoding': 'br', 'if-none-match': tag });
      expect(revalidated.status, tag).toBe(304);
      expect(revalidated.body.length).toBe(0);
      expect(revalidated.headers.etag).toBe(etag);
    }
    const changed = await rawGet(server.url, { accept: 'text/html', 'if-none-match': '"something-else"' });
    expect(changed.status).toBe(200);
    expect(changed.body.equals(plain.body)).toBe(true);
  });
});

describe('GraphiQL disabled (GRAPHIQL=false)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { graphiql: false } });
  });
  afterAll(() => server?.stop());

  it('serves no GraphiQL page to a browser', async () => {
    const page = await getHtml(server.url);
    expect(page.contentType).not.toMatch(/^text\/html/);
    expect(page.body).not.toContain('renderYogaGraphiQL');
    expect(page.body).not.toMatch(/<html/i);
  });

  it('still answers GraphQL requests', async () => {
    const result = await server.anonymous.request('{ __typename }');
    expect(result.data).toEqual({ __typename: 'Query' });
  });
});

describe('the ready line of `npm start`', () => {
  it('with GRAPHIQL=false names the GraphQL endpoint, not GraphiQL', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'graphiql-off-'));
    const started = await startServerProcess({ GRAPHIQL: 'false', DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' });
    try {
      const ready = started.output().split('\n').find((line) => line.includes('server ready'));
      expect(ready).toBe(`Profile hosting server ready: GraphQL endpoint at ${started.url}`);
      expect(started.output()).not.toMatch(/GraphiQL/);
    } finally {
      await started.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
