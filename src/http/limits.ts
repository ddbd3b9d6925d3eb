import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';

export type QueryLimitConfig = Pick<Config, 'maxQueryDepth' | 'maxQueryAliases' | 'maxQueryTokens' | 'maxQueryDirectives' | 'maxQueryCost' | 'introspection'>;

/** graphql-armor's errors start with "Syntax Error: " even for validation limits; ours name the limit. */
function limitError(limit: string, error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message.replace(/^Syntax Error: /, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { code: 'BAD_USER_INPUT', limit },
  });
}

/**
 * Reports a rejection as a validation error instead of throwing it out of `validate` (graphql-armor's
 * default), which over graphql-ws would end in an internal error instead of an answer.
 */
const report = (limit: string) => ({
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(limitError(limit, error))],
});

/**
 * Limits on one GraphQL document (graphql-armor), for HTTP and graphql-ws alike: depth (field
 * nesting; introspection's own is not counted), aliases, tokens (counted while parsing, so an
 * oversized document is not even parsed whole), directives and a static cost. A document over a
 * limit is refused before it runs, with BAD_USER_INPUT naming the limit in `extensions.limit`.
 * The defaults leave every operation of the contract and the client SDK far below them.
 */
export function useQueryLimits(config: QueryLimitConfig): Plugin[] {
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: config.maxQueryDepth, flattenFragments: true, ignoreIntrospection: true, ...report('maxDepth') },
      maxAliases: { n: config.maxQueryAliases, ...report('maxAliases') },
      maxDirectives: { n: config.maxQueryDirectives, ...report('maxDirectives') },
      costLimit: { maxCost: config.maxQueryCost, ignoreIntrospection: true, ...report('maxCost') },
      // counted by the parser, which has no validation context to report to: thrown as a syntax error
      maxTokens: {
        n: config.maxQueryTokens,
        onReject: [
          (_ctx: ValidationContext | null, error: GraphQLError) => {
            throw limitError('maxTokens', error);
          },
        ],
      },
      // suggestions are removed by useNoSuggestions below, which covers what this one misses
      blockFieldSuggestion: { enabled: false },
    }) as Plugin,
  ];
  if (!config.introspection) plugins.push(useNoIntrospection(), useNoSuggestions());
  return plugins;
}

/**
 * INTROSPECTION=false: `__schema` and `__type` are refused by validation (over HTTP and
 * graphql-ws; `__typename` stays). yoga's own plugin keys on the HTTP request and would let
 * introspection through over graphql-ws, hence this one.
 */
function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

const SUGGESTION = /\s*Did you mean [^?]*\?/g;

function withoutSuggestion<E extends Error>(error: E): E | GraphQLError {
  if (!(error instanceof GraphQLError) || !error.message.includes('Did you mean')) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

function resultWithoutSuggestions<T extends { errors?: readonly Error[] }>(result: T): T {
  if (!result.errors?.some((e) => e.message.includes('Did you mean'))) return result;
  return { ...result, errors: result.errors.map(withoutSuggestion) };
}

/**
 * INTROSPECTION=false: no "Did you mean …?" in any error, which would spell out the schema that
 * introspection hides — field, argument, type and enum value names, from validation and from the
 * coercion of variables at execution, over HTTP and graphql-ws alike. (graphql-armor's
 * blockFieldSuggestion only masks quoted names in validation errors, so enum values —
 * `Did you mean the enum value "EVERYONE"?` — and variables got through.)
 */
function useNoSuggestions(): Plugin {
  return {
    onValidate: () => ({ valid, result, setResult }) => {
      if (!valid) setResult(result.map(withoutSuggestion));
    },
    onExecute: () => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!isAsyncIterable(result)) setResult(resultWithoutSuggestions(result));
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (!isAsyncIterable(result)) setResult(resultWithoutSuggestions(result));
      },
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Request body size

/**
 * Reads a request body up to `max` bytes, counting as it streams (chunked bodies have no
 * Content-Length to check up front). Null when it is larger: the rest is not read.
 */
export function readBodyWithin(req: IncomingMessage, max: number): Promise<Buffer[] | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        cleanup(); // the rest is left to Node, which discards it until the 413 closes the connection
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('request closed before its body was read'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const JSON_TYPES = new Set(['application/json', 'application/graphql+json']);

/**
 * Hands a body that was already read to yoga: @whatwg-node/server takes `req.body` when present
 * instead of the stream. A JSON body (nearly every GraphQL request) goes over parsed: yoga's
 * request.json() then answers with it directly, where bytes are streamed through a pipeline again
 * (with an AbortController and a DOMException per request: ~5 % of a read request's CPU). Any other
 * body, and JSON that does not parse (yoga reports it, from the bytes), goes as an async iterable
 * (a Buffer or string would be walked key by key).
 */
export function useBufferedBody(req: IncomingMessage, chunks: Buffer[]): 'ok' | 'not utf-8' {
  const type = req.headers['content-type']?.split(';', 1)[0]!.trim().toLowerCase();
  // a GraphQL request is text: malformed UTF-8 would be decoded to U+FFFD and stored as such
  // (multipart bodies may carry binary parts)
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (!type?.startsWith('multipart/') && !isUtf8(bytes)) return 'not utf-8';
  if (type !== undefined && JSON_TYPES.has(type)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    // an empty object or array would make @whatwg-node/server read the (consumed) stream instead
    if (parsed !== null && typeof parsed === 'object' && Object.keys(parsed).length > 0) {
      (req as IncomingMessage & { body?: unknown }).body = parsed;
      return 'ok';
    }
  }
  (req as IncomingMessage & { body?: unknown }).body = {
    chunks,
    async *[Symbol.asyncIterator]() {
      yield* chunks;
    },
  };
  return 'ok';
}

/** 400 for a body that is not valid UTF-8: refused before it is parsed, nothing runs. */
export function malformedBody(res: ServerResponse): void {
  const body = JSON.stringify({ errors: [{ message: 'request body is not valid UTF-8', extensions: { code: 'BAD_USER_INPUT' } }] });
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** 413, and the connection is closed rather than the rest of the body read. */
export function payloadTooLarge(res: ServerResponse, max: number): void {
  const body = JSON.stringify({ errors: [{ message: `request body over ${max} bytes`, extensions: { code: 'BAD_USER_INPUT' } }] });
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
