import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';

/** The address a request or upgrade comes from, as the per-IP limits count it. */
export type ClientIp = (req: IncomingMessage) => string;

/**
 * The socket's peer address; with TRUST_PROXY, the address the trusted proxies say they forwarded
 * for (X-Forwarded-For, read from the right and only through trusted hops, so a client cannot
 * name itself). IPv6 clients are counted per /64, the block one subscriber usually holds.
 */
export function clientIpResolver(trustProxy: readonly string[]): ClientIp {
  if (trustProxy.length === 0) return (req) => bucketOf(req.socket.remoteAddress ?? 'unknown');
  const trusted = proxyAddr.compile([...trustProxy]);
  return (req) => bucketOf(proxyAddr(req, trusted));
}

function bucketOf(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address); // ::ffff:1.2.3.4 is 1.2.3.4
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}
