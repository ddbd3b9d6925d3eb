import { GraphQLError } from 'graphql';

/** The error codes of SPEC §7; every error a client sees carries one in `extensions.code`. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'LIMIT_EXCEEDED'
  | 'VERSION_CONFLICT'
  | 'RATE_LIMITED'
  | 'CURSOR_EXPIRED'
  | 'INTERNAL';

const CODES: ReadonlySet<string> = new Set<ErrorCode>(['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'LIMIT_EXCEEDED', 'VERSION_CONFLICT', 'RATE_LIMITED', 'CURSOR_EXPIRED', 'INTERNAL']);

/**
 * An error as a client sees it, the same over HTTP and graphql-ws: a SPEC §7 code (GraphQL's and
 * graphql-yoga's own errors — unparsable or ambiguous documents, validation, variables, malformed
 * requests — are the client's input: BAD_USER_INPUT), and none of yoga's internals: not the JSON
 * parser's own message (`extensions.originalError`), and `extensions.http` (yoga's response status,
 * which it strips from what it sends) only over HTTP.
 */
export function clientError(error: GraphQLError, transport: 'http' | 'socket'): GraphQLError {
  // `unexpected` too is yoga's (it answers 500 for it, and strips it from what it sends)
  const { http, originalError: parserError, unexpected, ...extensions } = error.extensions ?? {};
  const given = extensions.code;
  const code = typeof given === 'string' && CODES.has(given) ? given : given === 'INTERNAL_SERVER_ERROR' ? 'INTERNAL' : 'BAD_USER_INPUT';
  const clean = code === given && parserError === undefined && (transport === 'http' || (http === undefined && unexpected === undefined));
  if (clean) return error;
  let status = transport === 'http' ? (http as { spec?: boolean; status?: number; headers?: Record<string, string> } | undefined) : undefined;
  // yoga answers an application/json client 200 for a `spec` error unless that error carries a
  // non-GraphQL originalError; without it, the status is made explicit so it stays what it was
  if (status && parserError !== undefined) {
    const { spec: _spec, ...rest } = status;
    status = rest;
  }
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...extensions, code, ...(status ? { http: status } : {}), ...(transport === 'http' && unexpected !== undefined ? { unexpected } : {}) },
  });
}

export interface ErrorDetails {
  /** RongCloud's numeric error code, where it defines one */
  rcCode?: number;
  [extension: string]: unknown;
}

export function appError(code: ErrorCode, message: string, details: ErrorDetails = {}): GraphQLError {
  const extensions: Record<string, unknown> = { code };
  for (const [k, v] of Object.entries(details)) if (v !== undefined) extensions[k] = v;
  return new GraphQLError(message, { extensions });
}

export const badInput = (message: string, details?: ErrorDetails) => appError('BAD_USER_INPUT', message, details);
export const notFound = (message: string, details?: ErrorDetails) => appError('NOT_FOUND', message, details);
export const forbidden = (message: string, details?: ErrorDetails) => appError('FORBIDDEN', message, details);
export const limitExceeded = (message: string, details?: ErrorDetails) => appError('LIMIT_EXCEEDED', message, details);

/** One offending input: a profile field or an ext key. */
export interface InputIssue {
  field?: string;
  key?: string;
  message: string;
  rcCode?: number;
  /** true when the problem is a permission (ext key without allowClientWrite), not a malformed value */
  forbidden?: boolean;
}

/**
 * Turns every problem found in one input into one error that names all offenders:
 * `extensions.fields`, `extensions.keys`, `extensions.issues` and the first `rcCode`.
 * A permission problem makes the whole error FORBIDDEN (RC 24360), as RongCloud does.
 */
export function inputError(issues: InputIssue[]): GraphQLError {
  const fields = [...new Set(issues.flatMap((i) => (i.field ? [i.field] : [])))];
  const keys = [...new Set(issues.flatMap((i) => (i.key ? [i.key] : [])))];
  const isForbidden = issues.some((i) => i.forbidden);
  const lead = issues.find((i) => i.forbidden) ?? issues[0]!;
  const names = [...fields, ...keys.map((k) => `userExtProfile.${k}`)].join(', ');
  return appError(isForbidden ? 'FORBIDDEN' : 'BAD_USER_INPUT', `Invalid input: ${names}. ${issues.map((i) => i.message).join(' ')}`, {
    rcCode: lead.rcCode,
    fields: fields.length ? fields : undefined,
    keys: keys.length ? keys : undefined,
    issues: issues.map(({ forbidden: _f, ...rest }) => rest),
  });
}

/** Collects issues; throws one error naming all of them. */
export class IssueList {
  readonly issues: InputIssue[] = [];
  add(issue: InputIssue): void {
    this.issues.push(issue);
  }
  throwIfAny(): void {
    if (this.issues.length) throw inputError(this.issues);
  }
}
