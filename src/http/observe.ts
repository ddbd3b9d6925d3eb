import { randomUUID } from 'node:crypto';
import { getOperationAST } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Context, Services } from '../context.ts';

const MAX_OPERATION_LABELS = 500;

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
  // Operation names come from clients: a bounded set of them become metric labels, the rest "other",
  // so nobody can grow the metrics without limit by sending random names.
  const named = new Set<string>();
  const label = (name: string | undefined) => {
    if (!name) return 'anonymous';
    if (named.has(name)) return name;
    if (named.size >= MAX_OPERATION_LABELS || name.length > 64) return 'other';
    named.add(name);
    return name;
  };
  return {
    onRequest({ request }) {
      requests.set(request, { id: request.headers.get('x-request-id')?.slice(0, 128) || randomUUID(), start: performance.now() });
    },
    onExecute({ args }) {
      const op = getOperationAST(args.document, args.operationName);
      const operation = label(op?.name?.value);
      const type = op?.operation ?? 'unknown';
      const ctx = args.contextValue as Context & { request?: Request };
      const transport = ctx.connection ? 'ws' : 'http';
      const record = ctx.request ? requests.get(ctx.request) : undefined;
      if (record) Object.assign(record, { operation, type });
      services.metrics.operations.inc({ operation, type, transport });
      const start = performance.now();
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result)) return;
          services.metrics.operationDuration.observe({ operation, type }, (performance.now() - start) / 1000);
        },
      };
    },
    onSubscribe({ args }) {
      const op = getOperationAST(args.document, args.operationName);
      const transport = (args.contextValue as Context).connection ? 'ws' : 'http';
      services.metrics.operations.inc({ operation: label(op?.name?.value), type: 'subscription', transport });
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
