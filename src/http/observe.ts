import { randomUUID } from 'node:crypto';
import { getOperationAST, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Context, Services } from '../context.ts';

/**
 * The `field` label of an operation: its root field when it has exactly one that the schema defines,
 * 'multiple' for several, 'other' for anything else. Operation names and aliases are the client's
 * to choose, so they never become labels: the labels' values are a closed set (the schema's root
 * fields) however many distinct documents clients send.
 */
export function rootFieldLabel(schema: GraphQLSchema, operation: OperationDefinitionNode | null | undefined): string {
  if (!operation) return 'other';
  const selections = operation.selectionSet.selections;
  if (selections.length > 1) return 'multiple';
  const only = selections[0];
  if (only?.kind !== 'Field') return 'other';
  const name = only.name.value;
  if (name === '__typename' || name === '__schema' || name === '__type') return name;
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  return root?.getFields()[name] ? name : 'other';
}

/** Operation names go to the request log (not to metrics), cut to a sane length. */
const OPERATION_NAME_LOGGED = 64;

interface RequestRecord {
  id: string;
  start: number;
  operation?: string;
  type?: string;
}

/**
 * Per-request observability: a request id (taken from X-Request-Id or made, echoed back), one
 * structured log line per HTTP request, and operation count/duration metrics for both transports.
 */
export function useObservability(services: Pick<Services, 'log' | 'metrics'>): Plugin<Context> {
  const requests = new WeakMap<Request, RequestRecord>();
  return {
    onRequest({ request }) {
      requests.set(request, { id: request.headers.get('x-request-id')?.slice(0, 128) || randomUUID(), start: performance.now() });
    },
    onExecute({ args }) {
      const op = getOperationAST(args.document, args.operationName);
      const field = rootFieldLabel(args.schema, op);
      const type = op?.operation ?? 'unknown';
      const ctx = args.contextValue as Context & { request?: Request };
      const transport = ctx.connection ? 'ws' : 'http';
      const record = ctx.request ? requests.get(ctx.request) : undefined;
      if (record) Object.assign(record, { operation: op?.name?.value.slice(0, OPERATION_NAME_LOGGED), type });
      services.metrics.operations.inc({ field, type, transport });
      const start = performance.now();
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result)) return;
          services.metrics.operationDuration.observe({ field, type }, (performance.now() - start) / 1000);
        },
      };
    },
    onSubscribe({ args }) {
      const op = getOperationAST(args.document, args.operationName);
      const transport = (args.contextValue as Context).connection ? 'ws' : 'http';
      services.metrics.operations.inc({ field: rootFieldLabel(args.schema, op), type: 'subscription', transport });
    },
    onResponse({ request, response }) {
      const record = requests.get(request);
      if (!record) return;
      response.headers.set('x-request-id', record.id);
      const path = new URL(request.url, 'http://localhost').pathname;
      services.log.info(
        { reqId: record.id, method: request.method, path, status: response.status, ms: Math.round((performance.now() - record.start) * 10) / 10, operation: record.operation, type: record.type },
        'request',
      );
    },
  };
}
