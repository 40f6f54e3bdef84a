/**
 * Wire-format helpers shared by the frame encoders and decoders: address text <-> bytes, and the
 * Ethernet, IPv4, IPv6 and UDP headers with their checksums. No I/O.
 *
 * Two directions, two error policies:
 * - builders (`*ToBytes`, `build*`) get values from validated configuration or from our own code; a bad
 *   value is a programmer error and throws;
 * - parsers (`*FromBytes`, `parse*`) get bytes from a VM, which is hostile: they check every length and
 *   return null on anything malformed. They never throw and never read past the buffer.
 */
import ipaddr from 'ipaddr.js';
import { addressBytes, parseAddress } from '../model/addr.js';

export const ETH_P_IPV4 = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
/** Ethernet minimum frame without FCS; shorter frames are zero-padded to it. */
export const ETH_MIN = 60;
export const ETH_HEADER = 14;
export const IPV4_HEADER = 20;
export const IPV6_HEADER = 40;
export const UDP_HEADER = 8;

// ---------------------------------------------------------------------------------------------
// Addresses

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** "52:54:00:12:34:56" -> 6 bytes. Throws on anything else. */
export function macToBytes(mac: string): Buffer {
  if (!MAC_RE.test(mac)) throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** 6 bytes at `offset` -> lower-case "52:54:00:12:34:56", or null if the buffer is too short. */
export function macFromBytes(buf: Buffer, offset = 0): string | null {
  if (!Number.isInteger(offset) || offset < 0 || offset + 6 > buf.length) return null;
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(buf[offset + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** Canonical IPv6 text -> 16 bytes. Strict (no zone index, no IPv4-mapped form); throws otherwise. */
export function ipv6ToBytes(address: string): Buffer {
  const parsed = parseAddress(address, 6);
  if (!parsed) throw new Error(`not an IPv6 address: ${JSON.stringify(address)}`);
  return Buffer.from(addressBytes(parsed.address));
}

/** 16 bytes at `offset` -> RFC 5952 text, or null if the buffer is too short. */
export function ipv6FromBytes(buf: Buffer, offset = 0): string | null {
  if (!Number.isInteger(offset) || offset < 0 || offset + 16 > buf.length) return null;
  return new ipaddr.IPv6([...buf.subarray(offset, offset + 16)]).toRFC5952String();
}

/** Dotted quad -> 4 bytes. Strict (no "10.1" shorthand); throws otherwise. */
export function ipv4ToBytes(address: string): Buffer {
  const parsed = parseAddress(address, 4);
  if (!parsed) throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`);
  return Buffer.from(addressBytes(parsed.address));
}

/** 4 bytes at `offset` -> dotted quad, or null if the buffer is too short. */
export function ipv4FromBytes(buf: Buffer, offset = 0): string | null {
  if (!Number.isInteger(offset) || offset < 0 || offset + 4 > buf.length) return null;
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export const isIpv6Multicast = (b: Buffer): boolean => b.length === 16 && b[0] === 0xff;
export const isIpv6Unspecified = (b: Buffer): boolean => b.length === 16 && b.every((x) => x === 0);
export const isIpv6Loopback = (b: Buffer): boolean => b.length === 16 && b.every((x, i) => x === (i === 15 ? 1 : 0));
/** ::ffff:0:0/96 */
export const isIpv4Mapped = (b: Buffer): boolean =>
  b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
/** fe80::/10 */
export const isIpv6LinkLocal = (b: Buffer): boolean => b.length === 16 && b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
/** ff02::1:ff00:0/104 (RFC 4291 2.7.1) */
export function isSolicitedNodeMulticast(b: Buffer): boolean {
  const head = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff];
  return b.length === 16 && head.every((x, i) => b[i] === x);
}

// ---------------------------------------------------------------------------------------------
// Integers (builders: validated, throw on out-of-range values)

export function checkUint(name: string, value: number, bits: 8 | 16 | 24 | 32): number {
  const max = 2 ** bits - 1;
  if (!Number.isInteger(value) || value < 0 || value > max) throw new Error(`${name} must be an integer 0..${max}, not ${value}`);
  return value;
}

export const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Checksums

/** RFC 1071 one's complement sum of the concatenated buffers (odd total length: zero-padded), complemented. */
export function internetChecksum(...parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  const even = all.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (all[i]! << 8) | all[i + 1]!;
  if (all.length & 1) sum += all[all.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** IPv6 pseudo-header (RFC 8200 section 8.1): source, destination, upper-layer length, next header. */
export function ipv6PseudoHeader(src: Buffer, dst: Buffer, length: number, nextHeader: number): Buffer {
  const p = Buffer.alloc(40);
  src.copy(p, 0);
  dst.copy(p, 16);
  p.writeUInt32BE(length >>> 0, 32);
  p[39] = nextHeader;
  return p;
}

/** IPv4 pseudo-header (RFC 768): source, destination, zero, protocol, UDP length. */
export function ipv4PseudoHeader(src: Buffer, dst: Buffer, length: number, protocol: number): Buffer {
  const p = Buffer.alloc(12);
  src.copy(p, 0);
  dst.copy(p, 4);
  p[9] = protocol;
  p.writeUInt16BE(length & 0xffff, 10);
  return p;
}

/**
 * RFC 4443 section 2.3: checksum of an ICMPv6 message (its checksum field must be zero to compute it,
 * or left as sent to verify it: a valid message sums to 0).
 */
export function icmpv6Checksum(src: Buffer, dst: Buffer, message: Buffer): number {
  return internetChecksum(ipv6PseudoHeader(src, dst, message.length, IPPROTO_ICMPV6), message);
}

/** True if the ICMPv6 message, checksum field included, verifies. */
export const icmpv6ChecksumValid = (src: Buffer, dst: Buffer, message: Buffer): boolean =>
  message.length >= 4 && icmpv6Checksum(src, dst, message) === 0;

// ---------------------------------------------------------------------------------------------
// Ethernet

export interface Ethernet {
  dst: string;
  src: string;
  /** EtherType (0x8100 for an 802.1Q tag: callers that do not handle VLANs reject it) */
  type: number;
  payload: Buffer;
}

/** Ethernet II header + payload, zero-padded to the 60-byte minimum. */
export function buildEthernet(dstMac: string, srcMac: string, type: number, payload: Buffer): Buffer {
  checkUint('EtherType', type, 16);
  const frame = Buffer.alloc(Math.max(ETH_MIN, ETH_HEADER + payload.length));
  macToBytes(dstMac).copy(frame, 0);
  macToBytes(srcMac).copy(frame, 6);
  frame.writeUInt16BE(type, 12);
  payload.copy(frame, ETH_HEADER);
  return frame;
}

/** The payload includes any padding: the layer above trims it with its own length field. */
export function parseEthernet(frame: Buffer): Ethernet | null {
  if (frame.length < ETH_HEADER) return null;
  return {
    dst: macFromBytes(frame, 0)!,
    src: macFromBytes(frame, 6)!,
    type: frame.readUInt16BE(12),
    payload: frame.subarray(ETH_HEADER),
  };
}

// ---------------------------------------------------------------------------------------------
// IPv6

export interface Ipv6 {
  trafficClass: number;
  flowLabel: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
  srcBytes: Buffer;
  dstBytes: Buffer;
  /** exactly `payload length` bytes (trailing link-layer padding removed) */
  payload: Buffer;
}

/** Fixed IPv6 header (RFC 8200 section 3, traffic class and flow label 0) + payload. */
export function buildIpv6(o: { src: string; dst: string; nextHeader: number; hopLimit: number; payload: Buffer }): Buffer {
  checkUint('next header', o.nextHeader, 8);
  checkUint('hop limit', o.hopLimit, 8);
  checkUint('IPv6 payload length', o.payload.length, 16);
  const h = Buffer.alloc(IPV6_HEADER);
  h[0] = 0x60;
  h.writeUInt16BE(o.payload.length, 4);
  h[6] = o.nextHeader;
  h[7] = o.hopLimit;
  ipv6ToBytes(o.src).copy(h, 8);
  ipv6ToBytes(o.dst).copy(h, 24);
  return Buffer.concat([h, o.payload]);
}

/** Version must be 6 and the payload length must fit in the buffer (extra bytes are link padding). */
export function parseIpv6(packet: Buffer): Ipv6 | null {
  if (packet.length < IPV6_HEADER) return null;
  if (packet[0]! >> 4 !== 6) return null;
  const length = packet.readUInt16BE(4);
  // 0 with a Jumbo Payload hop-by-hop option (RFC 2675): not on an Ethernet link
  if (IPV6_HEADER + length > packet.length) return null;
  const srcBytes = Buffer.from(packet.subarray(8, 24));
  const dstBytes = Buffer.from(packet.subarray(24, 40));
  return {
    trafficClass: ((packet[0]! & 0x0f) << 4) | (packet[1]! >> 4),
    flowLabel: ((packet[1]! & 0x0f) << 16) | packet.readUInt16BE(2),
    nextHeader: packet[6]!,
    hopLimit: packet[7]!,
    src: ipv6FromBytes(srcBytes)!,
    dst: ipv6FromBytes(dstBytes)!,
    srcBytes,
    dstBytes,
    payload: packet.subarray(IPV6_HEADER, IPV6_HEADER + length),
  };
}

// ---------------------------------------------------------------------------------------------
// IPv4

export interface Ipv4 {
  /** header length in bytes (20 without options) */
  headerLength: number;
  tos: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** in bytes */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  srcBytes: Buffer;
  dstBytes: Buffer;
  /** exactly `total length - header length` bytes */
  payload: Buffer;
}

/** IPv4 header without options (RFC 791), DF clear, with its header checksum, + payload. */
export function buildIpv4(o: { src: string; dst: string; protocol: number; ttl: number; id?: number; payload: Buffer }): Buffer {
  checkUint('protocol', o.protocol, 8);
  checkUint('TTL', o.ttl, 8);
  const id = checkUint('IPv4 identification', o.id ?? 0, 16);
  const total = IPV4_HEADER + o.payload.length;
  checkUint('IPv4 total length', total, 16);
  const h = Buffer.alloc(IPV4_HEADER);
  h[0] = 0x45;
  h.writeUInt16BE(total, 2);
  h.writeUInt16BE(id, 4);
  h[8] = o.ttl;
  h[9] = o.protocol;
  ipv4ToBytes(o.src).copy(h, 12);
  ipv4ToBytes(o.dst).copy(h, 16);
  h.writeUInt16BE(internetChecksum(h), 10);
  return Buffer.concat([h, o.payload]);
}

/**
 * Version 4, header length >= 20 and within the total length, total length within the buffer (extra
 * bytes are link padding), header checksum valid. Options and fragments are reported, not rejected.
 */
export function parseIpv4(packet: Buffer): Ipv4 | null {
  if (packet.length < IPV4_HEADER) return null;
  if (packet[0]! >> 4 !== 4) return null;
  const headerLength = (packet[0]! & 0x0f) * 4;
  if (headerLength < IPV4_HEADER) return null;
  const total = packet.readUInt16BE(2);
  if (total < headerLength || total > packet.length) return null;
  if (internetChecksum(packet.subarray(0, headerLength)) !== 0) return null;
  const frag = packet.readUInt16BE(6);
  if (frag & 0x8000) return null; // reserved ("evil") bit
  const srcBytes = Buffer.from(packet.subarray(12, 16));
  const dstBytes = Buffer.from(packet.subarray(16, 20));
  return {
    headerLength,
    tos: packet[1]!,
    id: packet.readUInt16BE(4),
    dontFragment: (frag & 0x4000) !== 0,
    moreFragments: (frag & 0x2000) !== 0,
    fragmentOffset: (frag & 0x1fff) * 8,
    ttl: packet[8]!,
    protocol: packet[9]!,
    src: ipv4FromBytes(srcBytes)!,
    dst: ipv4FromBytes(dstBytes)!,
    srcBytes,
    dstBytes,
    payload: packet.subarray(headerLength, total),
  };
}

// ---------------------------------------------------------------------------------------------
// UDP

/** Source and destination of the enclosing IP header, as bytes (4 for IPv4, 16 for IPv6). */
export interface PseudoAddresses {
  srcBytes: Buffer;
  dstBytes: Buffer;
}

function udpChecksum(ip: PseudoAddresses, datagram: Buffer): number {
  const pseudo =
    ip.srcBytes.length === 4
      ? ipv4PseudoHeader(ip.srcBytes, ip.dstBytes, datagram.length, IPPROTO_UDP)
      : ipv6PseudoHeader(ip.srcBytes, ip.dstBytes, datagram.length, IPPROTO_UDP);
  return internetChecksum(pseudo, datagram);
}

/**
 * UDP header (RFC 768) + payload, with the checksum over the IPv4 or IPv6 pseudo-header (chosen by the
 * address size). A computed 0 is sent as 0xffff (0 means "no checksum", which IPv6 forbids).
 */
export function buildUdp(o: { ip: PseudoAddresses; srcPort: number; dstPort: number; payload: Buffer }): Buffer {
  checkUint('UDP source port', o.srcPort, 16);
  checkUint('UDP destination port', o.dstPort, 16);
  const length = UDP_HEADER + o.payload.length;
  checkUint('UDP length', length, 16);
  if (![4, 16].includes(o.ip.srcBytes.length) || o.ip.dstBytes.length !== o.ip.srcBytes.length) {
    throw new Error('UDP pseudo-header needs two IPv4 or two IPv6 addresses');
  }
  const d = Buffer.alloc(length);
  d.writeUInt16BE(o.srcPort, 0);
  d.writeUInt16BE(o.dstPort, 2);
  d.writeUInt16BE(length, 4);
  o.payload.copy(d, UDP_HEADER);
  const sum = udpChecksum(o.ip, d);
  d.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  return d;
}

export interface Udp {
  srcPort: number;
  dstPort: number;
  /** false only for an IPv4 datagram sent without a checksum (field 0) */
  checksummed: boolean;
  payload: Buffer;
}

/**
 * Length field >= 8 and within the IP payload (extra bytes are ignored, as Linux trims them), checksum
 * valid. A zero checksum field means "none" over IPv4 and is invalid over IPv6 (RFC 8200 section 8.1).
 */
export function parseUdp(ip: PseudoAddresses, datagram: Buffer, checksumTrusted = false): Udp | null {
  if (datagram.length < UDP_HEADER) return null;
  const length = datagram.readUInt16BE(4);
  if (length < UDP_HEADER || length > datagram.length) return null;
  const d = datagram.subarray(0, length);
  const field = d.readUInt16BE(6);
  const v4 = ip.srcBytes.length === 4 && ip.dstBytes.length === 4;
  const v6 = ip.srcBytes.length === 16 && ip.dstBytes.length === 16;
  if (!v4 && !v6) return null;
  if (checksumTrusted) {
    // the kernel verified it, or the sender's NIC offload will fill it in (the field is not final)
  } else if (field === 0) {
    if (v6) return null;
  } else if (udpChecksum(ip, d) !== 0) return null;
  return { srcPort: d.readUInt16BE(0), dstPort: d.readUInt16BE(2), checksummed: field !== 0, payload: d.subarray(UDP_HEADER) };
}

// ---------------------------------------------------------------------------------------------
// DNS names (RFC 1035 section 3.1, uncompressed), as DNSSL (RFC 8106) and DHCPv6 option 24 carry them

const LABEL_RE = /^[A-Za-z0-9_-]+$/;

/**
 * "example.com" (a trailing dot is allowed) -> 07 "example" 03 "com" 00. Throws on an empty name or
 * label, a label over 63 bytes, a name over 255 bytes, or a character outside letters, digits, '-', '_'.
 */
export function dnsNameToWire(name: string): Buffer {
  const text = name.endsWith('.') ? name.slice(0, -1) : name;
  if (text === '') throw new Error(`empty domain name: ${JSON.stringify(name)}`);
  const parts: Buffer[] = [];
  for (const label of text.split('.')) {
    if (label === '') throw new Error(`empty label in domain name ${JSON.stringify(name)}`);
    if (!LABEL_RE.test(label)) throw new Error(`invalid character in domain name ${JSON.stringify(name)}`);
    if (label.length > 63) throw new Error(`label over 63 bytes in domain name ${JSON.stringify(name)}`);
    parts.push(u8(label.length), Buffer.from(label, 'ascii'));
  }
  parts.push(u8(0));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new Error(`domain name over 255 bytes: ${JSON.stringify(name)}`);
  return wire;
}
