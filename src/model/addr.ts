/**
 * Address math on top of ipaddr.js. Addresses are kept as canonical strings in the model (RFC 5952
 * for IPv6) so plans, stanzas and golden files are stable.
 */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** canonical network address, e.g. "192.0.2.0" */
  address: string;
  length: number;
  /** "192.0.2.0/24" */
  cidr: string;
}

function canonical(addr: ipaddr.IPv4 | ipaddr.IPv6): string {
  return addr.kind() === 'ipv6' ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
}

/** Strict parse: dotted quads only for IPv4 (no "10.1" shorthand), no zone index for IPv6. */
export function parseAddress(text: string, family?: Family): { family: Family; address: string } | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    if (family === 6) return null;
    return { family: 4, address: ipaddr.IPv4.parse(text).toString() };
  }
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) {
    if (family === 4) return null;
    const v6 = ipaddr.IPv6.parse(text);
    if (v6.isIPv4MappedAddress()) return null;
    return { family: 6, address: v6.toRFC5952String() };
  }
  return null;
}

/** Parses "ADDR/LEN"; refuses host bits set ("192.0.2.1/24") because that is nearly always a typo. */
export function parsePrefix(text: string, family?: Family): Prefix | { error: string } | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const addr = parseAddress(text.slice(0, slash), family);
  const lenText = text.slice(slash + 1);
  if (!addr || !/^[0-9]{1,3}$/.test(lenText)) return null;
  const length = Number(lenText);
  const max = addr.family === 4 ? 32 : 128;
  if (length > max) return null;
  const parsed = ipaddr.parse(addr.address);
  const network =
    addr.family === 4
      ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.address}/${length}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${addr.address}/${length}`);
  if (canonical(network) !== canonical(parsed)) {
    return { error: `has host bits set (did you mean ${canonical(network)}/${length}?)` };
  }
  return { family: addr.family, address: canonical(network), length, cidr: `${canonical(network)}/${length}` };
}

export function contains(prefix: Prefix, address: string): boolean {
  const addr = ipaddr.parse(address);
  if ((addr.kind() === 'ipv4') !== (prefix.family === 4)) return false;
  return addr.match(ipaddr.parse(prefix.address), prefix.length);
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  return a.length <= b.length ? contains(a, b.address) : contains(b, a.address);
}

/** The addresses of a prefix that no host may use: IPv4 network and broadcast, IPv6 subnet-router anycast. */
export function reservedAddresses(prefix: Prefix): string[] {
  if (prefix.family === 6) return prefix.length < 127 ? [prefix.address] : [];
  if (prefix.length >= 31) return [];
  return [prefix.address, ipaddr.IPv4.broadcastAddressFromCIDR(prefix.cidr).toString()];
}

/** RFC 4291 appendix A: modified EUI-64 interface identifier from a 48-bit MAC. */
export function eui64(prefix: Prefix, mac: string): string {
  if (prefix.family !== 6 || prefix.length > 64) throw new Error(`EUI-64 needs an IPv6 prefix of /64 or shorter, not ${prefix.cidr}`);
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const iid = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  const bytes = ipaddr.parse(prefix.address).toByteArray();
  for (let i = 0; i < 8; i++) bytes[8 + i] = iid[i]!;
  return canonical(ipaddr.fromByteArray(bytes));
}

/** IPv6 solicited-node multicast group (RFC 4291 2.7.1) of an address. */
export function solicitedNode(address: string): string {
  const bytes = ipaddr.parse(address).toByteArray();
  const group = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, bytes[13]!, bytes[14]!, bytes[15]!];
  return canonical(ipaddr.fromByteArray(group));
}

export function addressBytes(address: string): number[] {
  return ipaddr.parse(address).toByteArray();
}
