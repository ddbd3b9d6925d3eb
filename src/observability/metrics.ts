import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorCode } from '../errors.ts';

/** The codes of SPEC §7: the only values of the `code` label (anything else is counted as OTHER). */
const ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'LIMIT_EXCEEDED',
  'VERSION_CONFLICT',
  'RATE_LIMITED',
  'CURSOR_EXPIRED',
  'INTERNAL',
]);
const errorCodeLabel = (code: unknown) => (typeof code === 'string' && ERROR_CODES.has(code) ? code : 'OTHER');

/** The server's Prometheus metrics; one registry per server instance (tests run several). */
export class Metrics {
  readonly registry = new Registry();

  readonly operations = new Counter({
    name: 'phs_graphql_operations_total',
    help: 'GraphQL operations executed, by root field (or multiple, other), type and transport',
    labelNames: ['field', 'type', 'transport'] as const,
    registers: [this.registry],
  });

  readonly operationDuration = new Histogram({
    name: 'phs_graphql_operation_duration_seconds',
    help: 'Time to execute a query or mutation, by root field (or multiple, other) and type',
    labelNames: ['field', 'type'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'phs_graphql_errors_total',
    help: 'Errors returned to clients, by extensions.code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly serverApiRequests = new Counter({
    name: 'phs_server_api_requests_total',
    help: "RongCloud server API requests, by endpoint (or unknown) and the answer's RongCloud code",
    labelNames: ['endpoint', 'code'] as const,
    registers: [this.registry],
  });

  readonly connectsShed = new Counter({
    name: 'phs_ws_connects_shed_total',
    help: 'connection_inits refused with 1013 (try again later) because too many were being set up at once',
    registers: [this.registry],
  });

  readonly eventsPublished = new Counter({
    name: 'phs_events_published_total',
    help: 'Per-receiver messages published on user topics by the fan-out, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** deliveries counted since the last scrape, per subscription field (see deliveries()) */
  private readonly undelivered = new Map<string, { n: number }>();

  readonly eventsDelivered = new Counter({
    name: 'phs_events_delivered_total',
    help: 'Subscription events sent to graphql-ws clients, by subscription field',
    labelNames: ['field'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [field, count] of this.undelivered) {
        if (count.n) this.eventsDelivered.labels(field).inc(count.n);
        count.n = 0;
      }
    },
  });

  /**
   * The delivery count of one subscription field: a plain increment per event, added to
   * phs_events_delivered_total when it is scraped (a labelled prom-client inc per event was a
   * visible share of a large fan-out's CPU).
   */
  deliveries(field: string): { inc(): void } {
    let count = this.undelivered.get(field);
    if (!count) this.undelivered.set(field, (count = { n: 0 }));
    const counter = count;
    return { inc: () => void counter.n++ };
  }

  readonly fanOutDuration = new Histogram({
    name: 'phs_fanout_duration_seconds',
    help: 'Time from a committed change to its messages being published, by change type',
    labelNames: ['change'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'phs_webhook_deliveries_total',
    help: 'Webhook deliveries that ended, by outcome (delivered, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookAttempts = new Counter({
    name: 'phs_webhook_attempts_total',
    help: 'Webhook delivery attempts made by this instance, by result (success, status, timeout, connection, refused)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** The webhook queue across all instances: pending deliveries and the age of the oldest. */
  webhookQueue(source: () => Promise<{ pending: number; oldest: Date | null }>): void {
    let last: Promise<{ pending: number; oldest: Date | null }> | undefined;
    // one query per scrape for both gauges
    const read = () => (last ??= source().finally(() => setTimeout(() => (last = undefined), 0)));
    new Gauge({
      name: 'phs_webhook_pending_deliveries',
      help: 'Webhook deliveries waiting to be sent or retried, across all instances',
      registers: [this.registry],
      async collect() {
        this.set(await read().then((q) => q.pending, () => Number.NaN));
      },
    });
    new Gauge({
      name: 'phs_webhook_oldest_pending_seconds',
      help: 'Age of the oldest pending webhook delivery (0 when none), across all instances',
      registers: [this.registry],
      async collect() {
        this.set(await read().then((q) => (q.oldest ? Math.max(0, (Date.now() - q.oldest.getTime()) / 1000) : 0), () => Number.NaN));
      },
    });
  }

  constructor(sources: { openConnections: () => number; onlineUsers: () => Promise<number> }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'phs_' });
    new Gauge({
      name: 'phs_ws_connections',
      help: 'Open authenticated graphql-ws connections on this instance',
      registers: [this.registry],
      collect() {
        this.set(sources.openConnections());
      },
    });
    new Gauge({
      name: 'phs_online_users',
      help: 'Users online on at least one platform, across all instances',
      registers: [this.registry],
      async collect() {
        this.set(await sources.onlineUsers().catch(() => Number.NaN));
      },
    });
  }

  countErrors(errors: readonly { extensions?: Readonly<Record<string, unknown>> }[] | undefined): void {
    for (const error of errors ?? []) this.errors.inc({ code: errorCodeLabel(error.extensions?.code) });
  }
}
