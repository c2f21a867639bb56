// CIDR parsing for the environment file's networks and firewall sources, and for Cloudflare's
// published ranges.

const ipv4Cidr = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** [first address, prefix length] of an IPv4 CIDR in its network form, or null. */
export function parseIpv4Cidr(text: string): { base: number; prefix: number } | null {
  const match = ipv4Cidr.exec(text);
  if (!match) return null;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((octet) => octet > 255) || prefix > 32) return null;
  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) return null;
  return { base: address, prefix };
}

/** The prefix length of an IPv6 CIDR (`2400:cb00::/32`, `::/0`), or null when it does not parse. */
export function parseIpv6Cidr(text: string): { prefix: number } | null {
  const match = /^([0-9a-f:]+)\/(\d{1,3})$/i.exec(text);
  if (!match) return null;
  const [, address, length] = match as unknown as [string, string, string];
  const prefix = Number(length);
  if (prefix > 128) return null;
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const groups = halves.map((half) => (half === "" ? [] : half.split(":")));
  if (groups.flat().some((group) => !/^[0-9a-f]{1,4}$/i.test(group))) return null;
  const count = groups.flat().length;
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  return { prefix };
}

/** Whether a firewall source admits every address of its family. */
export const isAnywhere = (source: string) => /\/0$/.test(source);
