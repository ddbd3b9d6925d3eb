import type { IncomingMessage } from 'node:http';
import { GraphQLError, getOperationAST } from 'graphql';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { createContext, type Context, type Services } from '../context.ts';
import { schema } from '../schema/index.ts';
import { useObservability } from './observe.ts';
import { useQueryLimits } from './limits.ts';
import { corsOption, useCsrfPrevention, useVaryOrigin } from './security.ts';
import { useRateLimits } from '../ratelimit/plugin.ts';
import { rateLimitedError } from '../ratelimit/abuse.ts';
import type { RateLimiter } from '../ratelimit/limiter.ts';
import type { RealtimeConnection } from '../realtime/connection.ts';
import { useSharedEventExecution } from '../realtime/shared-execution.ts';
import { badInput, clientError } from '../errors.ts';
import { deviceIdProblem } from '../profiles/rules.ts';

/**
 * Errors reach clients with `extensions.code`. Our own errors carry one already; GraphQL's
 * document and variable errors become BAD_USER_INPUT; anything unexpected becomes INTERNAL with a
 * generic message (no stack, SQL or path), and is logged on the server.
 */
function maskError(error: unknown, log: Services['log']): Error {
  if (error instanceof GraphQLError) {
    const original = error.originalError;
    if (!original || original instanceof GraphQLError) return error;
    // errors thrown by yoga itself for malformed requests carry an HTTP status: keep them
    if ((original as { extensions?: { http?: unknown } }).extensions?.http) return error;
  }
  log.error({ err: error instanceof GraphQLError ? (error.originalError ?? error) : error }, 'internal error');
  const source = error instanceof GraphQLError ? error : undefined;
  return new GraphQLError('Internal server error', { nodes: source?.nodes, path: source?.path, extensions: { code: 'INTERNAL' } });
}

/** Every error leaving over HTTP gets a code, and is counted by it. */
const useErrorCodes = (metrics: Services['metrics']): Plugin => ({
  onResultProcess({ result, setResult }) {
    if (Array.isArray(result) || !result || typeof result !== 'object' || !('errors' in result) || !result.errors?.length) return;
    const errors = result.errors.map((e) => clientError(e as GraphQLError, 'http'));
    metrics.countErrors(errors);
    setResult({ ...result, errors } as never);
  },
});

export function createGraphQLHandler(services: Services, options: { rateLimiter: RateLimiter }): YogaServerInstance<Record<string, unknown>, Context> {
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: false,
    // isDev would echo internal errors' messages and stacks to clients (extensions.originalError)
    maskedErrors: { maskError: (error) => maskError(error, services.log), isDev: false },
    context: async (initial) => {
      // over graphql-ws: the caller was authenticated at connection_init; the app's settings are
      // its current ones (the cache forgets them when they change)
      const connection = (initial as { connection?: RealtimeConnection }).connection;
      if (connection) {
        const app = (await services.appConfig.app(connection.info.appKey)) ?? connection.info.caller.app;
        return createContext(services, { ...connection.info.caller, app }, {
          deviceId: connection.info.deviceId,
          connectionId: connection.id,
          connection,
        });
      }
      const { request } = initial;
      const deviceId = request.headers.get('x-device-id') ?? undefined;
      const deviceIdWrong = deviceId === undefined ? null : deviceIdProblem(deviceId);
      if (deviceIdWrong) throw badInput(`X-Device-Id ${deviceIdWrong}`, { fields: ['x-device-id'] });
      const req = (initial as unknown as { req?: IncomingMessage }).req;
      const ip = req ? services.clientIp(req) : 'unknown';
      const caller = await services.callers.fromAuthorization(request.headers.get('authorization'), ip);
      if (caller.kind === 'anonymous') {
        // no or refused credentials: this IP's budget (and a wrong app secret's app's) pays for it
        const refused = caller.throttled ?? (await services.abuse.failed(ip, caller.wrongSecretOf));
        if (refused) throw rateLimitedError(refused, refused.key.startsWith('app-') ? 'app\'s failed authentications' : 'address', true);
      }
      return createContext(services, caller, { deviceId });
    },
    // the page is served before yoga, rendered and compressed once (src/http/graphiql.ts)
    graphiql: false,
    // yoga answers any origin by default; here only CORS_ORIGINS (none by default: same origin only)
    cors: corsOption(services.config.corsOrigins),
    plugins: [
      useErrorCodes(services.metrics),
      useObservability(services),
      useCsrfPrevention(),
      useVaryOrigin(services.config.corsOrigins.length > 0),
      ...useQueryLimits(services.config),
      useRateLimits(options.rateLimiter, services.config),
      useSharedEventExecution(),
      // queries and mutations run as compiled JavaScript (graphql-jit) rather than interpreted;
      // subscriptions keep the standard executor (see useSharedEventExecution for their events)
      useGraphQlJit({}, { enableIf: (args) => getOperationAST(args.document, args.operationName)?.operation !== 'subscription' }),
    ],
  });
}
