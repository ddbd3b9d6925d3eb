import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  /** the webhook-id header */
  id: string;
  headers: Record<string, string>;
  body: string;
  /** the body parsed */
  json: { type: string; timestamp: string; data: any };
  /** what the handler answered (null: it did not answer) */
  status: number | null;
}

export interface Receiver {
  /** http://127.0.0.1:<port>/hook */
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** requests whose connection is still open */
  open(): number;
  waitFor(done: (requests: ReceivedRequest[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real webhook receiver on 127.0.0.1 (port 0). `answer` decides each response from the request
 * and the ones before it: a status (sent with a short body), or 'hang' (never answers).
 */
export async function startReceiver(answer: (request: ReceivedRequest, earlier: ReceivedRequest[]) => number | 'hang' | ((res: ServerResponse) => void) = () => 204): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let open = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    open++;
    res.once('close', () => open--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
      let json: ReceivedRequest['json'];
      try {
        json = JSON.parse(body);
      } catch {
        json = { type: '', timestamp: '', data: null };
      }
      const request: ReceivedRequest = { id: headers['webhook-id'] ?? '', headers, body, json, status: null };
      const decision = answer(request, [...requests]);
      requests.push(request);
      if (decision === 'hang') return;
      if (typeof decision === 'function') return decision(res);
      request.status = decision;
      res.writeHead(decision, { 'content-type': 'text/plain' });
      res.end(decision < 300 ? 'ok' : 'no');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    open: () => open,
    async waitFor(done, timeoutMs = 15_000, what = 'webhook requests') {
      const deadline = Date.now() + timeoutMs;
      while (!done(requests)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(requests.map((r) => ({ id: r.id, type: r.json.type, status: r.status, data: r.json.data })))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
