import WebSocket from 'ws';

/**
 * One graphql-ws subscriber driven from the harness itself, to capture the exact frames a server
 * pushes (the fairness check between our server and a floor).
 */
export async function captureFrames(wsUrl: string, token: string, query: string, syncFinished: number, action: () => Promise<unknown>, frames = 1, timeoutMs = 15_000): Promise<string[]> {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  const seen: string[] = [];
  let finished = 0;
  let onFrame: (() => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no sync from ${wsUrl}`)), timeoutMs);
    socket.on('error', reject);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authToken: token, platform: 'PC' } })));
    socket.on('message', (data) => {
      const frame = data.toString();
      if (frame.startsWith('{"type":"connection_ack"')) return socket.send(JSON.stringify({ id: 'capture', type: 'subscribe', payload: { query } }));
      if (frame.includes('SubscribedUserStatusSyncFinished')) {
        if (++finished === syncFinished) {
          clearTimeout(timer);
          resolve();
        }
        return;
      }
      if (finished >= syncFinished && frame.includes('"type":"next"')) {
        seen.push(frame);
        onFrame?.();
      }
    });
  });
  try {
    await action();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${frames} frame(s) from ${wsUrl}, got ${seen.length}`)), timeoutMs);
      onFrame = () => {
        if (seen.length >= frames) {
          clearTimeout(timer);
          resolve();
        }
      };
      onFrame();
    });
    return seen;
  } finally {
    socket.terminate();
  }
}
