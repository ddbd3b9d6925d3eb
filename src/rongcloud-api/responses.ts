import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';

/**
 * RongCloud's answers: always a JSON object with an integer `code`; 200 is success, an error is
 * `{ code, errorMessage }` with the HTTP status RongCloud gives that code.
 */
export class RestError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly httpStatus: number = HTTP_OF[code] ?? 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** RongCloud's common codes and their HTTP statuses. */
const HTTP_OF: Record<number, number> = {
  404: 404,
  1000: 500,
  1001: 401,
  1002: 400,
  1003: 400,
  1004: 401,
  1005: 400,
  1006: 401,
  1007: 401,
  1008: 429,
};

/**
 * A domain service's error in RongCloud's terms: its RongCloud code when the domain gives one (the
 * same `rcCode` GraphQL answers in `extensions`), else the common code of its kind.
 */
export function restErrorOf(error: unknown): RestError {
  if (error instanceof RestError) return error;
  if (!(error instanceof GraphQLError)) return new RestError(1000, 'internal server error');
  const { code, rcCode } = error.extensions as { code?: string; rcCode?: unknown };
  const status = code === 'FORBIDDEN' || code === 'LIMIT_EXCEEDED' ? 403 : code === 'NOT_FOUND' ? 404 : 400;
  if (typeof rcCode === 'number') return new RestError(rcCode, error.message, status);
  switch (code) {
    case 'RATE_LIMITED':
      return new RestError(1008, error.message);
    case 'FORBIDDEN':
      return new RestError(1007, error.message);
    case 'BAD_USER_INPUT':
    case 'NOT_FOUND':
    case 'LIMIT_EXCEEDED':
    case 'VERSION_CONFLICT':
      return new RestError(1002, error.message);
    default:
      return new RestError(1000, 'internal server error');
  }
}

export function answer(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}
