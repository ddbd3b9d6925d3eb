import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { safeEqual } from '../auth/secrets.ts';
import { listenOn, urlOf } from '../http/listen.ts';
import type { Metrics } from './metrics.ts';

export interface MetricsListener {
  /** where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics */
  url: string;
  close(): Promise<void>;
}

/**
 * /metrics on a listener of its own (METRICS_PORT), on loopback unless METRICS_HOST says otherwise:
 * the metrics describe the service's load and users, which is nobody's business on the public port.
 */
export async function listenForMetrics(metrics: Metrics, options: { port: number; host: string }): Promise<MetricsListener> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return notFound(res);
    void answerMetrics(res, metrics);
  });
  const { port } = await listenOn(server, options, 'METRICS_PORT, METRICS_HOST');
  return {
    url: urlOf(options.host, port, '/metrics'),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** On the public port /metrics exists only for `Authorization: Bearer <METRICS_TOKEN>`; for anyone else it is not there. */
export function mayReadMetricsPublicly(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return false;
  const header = req.headers.authorization ?? '';
  return header.startsWith('Bearer ') && safeEqual(header.slice(7), token);
}

export async function answerMetrics(res: ServerResponse, metrics: Metrics): Promise<void> {
  const text = await metrics.registry.metrics();
  res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
  res.end(text);
}

export function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('not found\n');
}
