import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/** Longest webhook URL accepted. */
export const WEBHOOK_URL_MAX = 2048;

/** A webhook URL as it was checked: the parts a request is made of. */
export interface WebhookTarget {
  protocol: 'http:' | 'https:';
  /** as written (the TLS server name and Host header); IPv6 without brackets */
  hostname: string;
  port: number;
  /** path and query */
  path: string;
}

/** Why a URL cannot be a webhook's (BAD_USER_INPUT at create/update), or its parts. */
export function parseWebhookUrl(text: string): { ok: true; target: WebhookTarget } | { ok: false; problem: string } {
  if (text.length > WEBHOOK_URL_MAX) return { ok: false, problem: `url must be at most ${WEBHOOK_URL_MAX} characters` };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: 'url is not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, problem: 'url must be http or https' };
  if (url.username || url.password) return { ok: false, problem: 'url must not carry a user name or password' };
  if (!url.hostname) return { ok: false, problem: 'url has no host' };
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { ok: true, target: { protocol: url.protocol, hostname, port, path: `${url.pathname}${url.search}` } };
}

/**
 * Why an address may not be called, or null for a public unicast one. Loopback, private,
 * link-local (cloud metadata at 169.254.169.254), unique-local, unspecified, carrier-grade NAT,
 * multicast, broadcast and reserved ranges are refused, and so are IPv6 forms that embed an IPv4
 * address (mapped, NAT64, 6to4, Teredo): only what ipaddr.js calls plain `unicast` passes.
 */
export function refusedAddress(address: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  const range = parsed.range();
  return range === 'unicast' ? null : `${address} is ${RANGE_NAMES[range] ?? `in a ${range} range`}`;
}

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link-local',
  uniqueLocal: 'unique-local',
  unspecified: 'unspecified',
  carrierGradeNat: 'carrier-grade NAT',
  multicast: 'multicast',
  broadcast: 'broadcast',
  reserved: 'reserved',
};

/** How long a webhook host's name may take to resolve. */
const LOOKUP_TIMEOUT_MS = 5000;

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * The address a request to `hostname` connects to, checked: every address the name resolves to
 * must be allowed (a name with one private address among public ones is refused: which one a
 * client picks is not ours to control). The request then connects to exactly this address (see
 * sender.ts), so a DNS answer that changes between the check and the connection cannot send it
 * elsewhere.
 */
export async function resolveTarget(hostname: string, allowPrivateNetworks: boolean): Promise<{ ok: true; address: ResolvedAddress } | { ok: false; problem: string; refused: boolean }> {
  let addresses: { address: string; family: number }[];
  let timer: NodeJS.Timeout | undefined;
  try {
    // getaddrinfo has no deadline of its own: a name whose DNS never answers must not hold an
    // attempt (or a createWebhook request) longer than this
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('lookup timed out'), { code: 'ETIMEOUT' })), LOOKUP_TIMEOUT_MS);
    });
    addresses = await Promise.race([lookup(hostname, { all: true, verbatim: true }), late]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'lookup failed';
    return { ok: false, problem: `host does not resolve (${code})`, refused: false };
  } finally {
    clearTimeout(timer);
  }
  if (addresses.length === 0) return { ok: false, problem: 'host does not resolve', refused: false };
  if (!allowPrivateNetworks) {
    for (const { address } of addresses) {
      const why = refusedAddress(address);
      if (why) return { ok: false, problem: `address not allowed: ${why}`, refused: true };
    }
  }
  const first = addresses[0]!;
  return { ok: true, address: { address: first.address, family: first.family === 6 ? 6 : 4 } };
}
