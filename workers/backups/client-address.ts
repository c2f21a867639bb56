// Is a request from the run's own server? Hetzner reports a server's public IPv4 as an address
// and its IPv6 as a /64 network ("2a01:4f8:1c11:3400::/64"; the server uses addresses inside it),
// checked against hcloud-go v2.x `hcloud/schema/server.go` and its schema tests, 2026-12-06.
// The request's address is Cloudflare's CF-Connecting-IP.

/** The 8 groups of an IPv6 address (`::` and a dotted IPv4 tail allowed), or null. */
function ipv6Groups(text: string): number[] | null {
  let address = text.toLowerCase();
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  const tail = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (tail) {
    const v4 = ipv4Octets(tail[2]!);
    if (!v4) return null;
    address = `${tail[1]}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return null;
  return groups.map((group) => parseInt(group, 16));
}

function ipv4Octets(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255)) return null;
  return parts.map(Number);
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address. */
function mappedIpv4(groups: number[]): string | null {
  if (groups.slice(0, 5).some((group) => group !== 0) || groups[5] !== 0xffff) return null;
  return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join(".");
}

function inNetwork(groups: number[], network: string): boolean {
  const [base, prefixText] = network.split("/");
  const prefix = prefixText === undefined ? 128 : Number(prefixText);
  const baseGroups = ipv6Groups(base ?? "");
  if (!baseGroups || !Number.isInteger(prefix) || prefix < 0 || prefix > 128) return false;
  for (let bit = 0; bit < prefix; bit += 16) {
    const width = Math.min(16, prefix - bit);
    const mask = (0xffff << (16 - width)) & 0xffff;
    if ((groups[bit / 16]! & mask) !== (baseGroups[bit / 16]! & mask)) return false;
  }
  return true;
}

/** True when `client` is the server's IPv4 address or an address in its IPv6 network. */
export function isServerAddress(client: string | null, server: { ipv4: string | null; ipv6: string | null }): boolean {
  if (!client) return false;
  const address = client.trim();
  const v4 = ipv4Octets(address);
  if (v4) return server.ipv4 !== null && ipv4Octets(server.ipv4)?.join(".") === v4.join(".");
  const groups = ipv6Groups(address);
  if (!groups) return false;
  const mapped = mappedIpv4(groups);
  if (mapped) return server.ipv4 !== null && ipv4Octets(server.ipv4)?.join(".") === mapped;
  return server.ipv6 !== null && inNetwork(groups, server.ipv6);
}
