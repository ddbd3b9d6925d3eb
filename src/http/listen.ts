import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * server.listen as a promise whose failure names the setting to change: a port in use or not
 * allowed is an operator's mistake, reported in one line rather than as a socket error.
 */
export function listenOn(server: Server, options: { port: number; host: string; backlog?: number }, setting: string): Promise<AddressInfo> {
  // The WebSocket server attached to this server re-emits its 'error' events, and graphql-ws
  // prints those with a stack: while listening, the failure is ours alone to report.
  const others = server.rawListeners('error') as ((...args: unknown[]) => void)[];
  server.removeAllListeners('error');
  const restore = () => {
    for (const listener of others) server.on('error', listener);
  };
  return new Promise<AddressInfo>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      restore();
      const where = `${options.host}:${options.port}`;
      if (error.code === 'EADDRINUSE') reject(new Error(`${where} is already in use (${setting})`));
      else if (error.code === 'EACCES') reject(new Error(`not allowed to listen on ${where} (${setting})`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new Error(`${options.host} is not an address of this machine (${setting})`));
      else reject(error);
    };
    server.once('error', failed);
    server.listen(options, () => {
      server.off('error', failed);
      restore();
      resolve(server.address() as AddressInfo);
    });
  });
}

/** The URL a person can open: a wildcard bind address is reached through localhost. */
export function urlOf(host: string, port: number, path: string): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}${path}`;
}
