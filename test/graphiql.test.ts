import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.ts';

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
