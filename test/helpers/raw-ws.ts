import WebSocket from 'ws';

/** A bare graphql-transport-ws socket, for protocol-level tests (stalling, storms, bad frames). */
export interface RawSocket {
  ws: WebSocket;
  messages: any[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  /** sends connection_init and waits for connection_ack */
  init(payload: Record<string, unknown>): Promise<void>;
  /** stops reading from the TCP socket, like a stalled client */
  stall(): void;
  resume(): void;
}

export async function openRaw(httpUrl: string): Promise<RawSocket> {
  const ws = new WebSocket(httpUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const messages: any[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)));
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const raw: RawSocket = {
    ws,
    messages,
    closed,
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    async init(payload) {
      raw.send({ type: 'connection_init', payload });
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (messages.some((m) => m.type === 'connection_ack')) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
        void closed.then(({ code }) => reject(new Error(`closed ${code} before ack`)));
      });
    },
    stall: () => (ws as unknown as { _socket: { pause(): void } })._socket.pause(),
    resume: () => (ws as unknown as { _socket: { resume(): void } })._socket.resume(),
  };
  return raw;
}
