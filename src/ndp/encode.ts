/**
 * Encoders for the answers the daemon sends on a VM's TAP: Router and Neighbor Advertisements,
 * DHCPv6 Reply and DHCPv4 OFFER/ACK/NAK. Each returns a complete Ethernet frame. No I/O.
 *
 * Inputs come from validated configuration and from decoded requests: a value that cannot be encoded
 * (bad address text, out-of-range number, a domain label over 63 bytes, an option too long) is a
 * programmer error and throws.
 */
import ipaddr from 'ipaddr.js';
import { parsePrefix } from '../model/addr.js';
import {
  ETH_P_IPV4,
  ETH_P_IPV6,
  IPPROTO_ICMPV6,
  IPPROTO_UDP,
  buildEthernet,
  buildIpv4,
  buildIpv6,
  buildUdp,
  checkUint,
  dnsNameToWire,
  icmpv6Checksum,
  ipv4ToBytes,
  ipv6ToBytes,
  isIpv6LinkLocal,
  isIpv6Multicast,
  macToBytes,
  u16,
  u32,
  u8,
} from './wire.js';

// ---------------------------------------------------------------------------------------------
// Neighbor Discovery (RFC 4861)

const ND_RA = 134;
const ND_NA = 136;
const ND_HOP_LIMIT = 255;

/** An ND option: type, length in units of 8 octets, data (must already fill whole units). */
function ndOption(type: number, data: Buffer): Buffer {
  const size = 2 + data.length;
  if (size % 8 !== 0) throw new Error(`ND option ${type} is ${size} bytes, not a multiple of 8`);
  if (size / 8 > 255) throw new Error(`ND option ${type} is too long (${size} bytes)`);
  return Buffer.concat([u8(type), u8(size / 8), data]);
}

/** Source (1) or Target (2) Link-Layer Address option for Ethernet. */
const linkLayerOption = (type: 1 | 2, mac: string): Buffer => ndOption(type, macToBytes(mac));

/** ICMPv6 message with its checksum filled in, in an IPv6 packet with hop limit 255, in a frame. */
function icmpv6Frame(o: { srcMac: string; dstMac: string; srcIp: string; dstIp: string; message: Buffer }): Buffer {
  const src = ipv6ToBytes(o.srcIp);
  const dst = ipv6ToBytes(o.dstIp);
  const message = Buffer.from(o.message);
  message.writeUInt16BE(0, 2);
  message.writeUInt16BE(icmpv6Checksum(src, dst, message), 2);
  const packet = buildIpv6({ src: o.srcIp, dst: o.dstIp, nextHeader: IPPROTO_ICMPV6, hopLimit: ND_HOP_LIMIT, payload: message });
  return buildEthernet(o.dstMac, o.srcMac, ETH_P_IPV6, packet);
}

export interface RaPrefix {
  /** canonical network address, e.g. "2001:db8:1::" */
  prefix: string;
  length: number;
  onLink: boolean;
  autonomous: boolean;
  /** seconds, 0xffffffff = infinity */
  validLifetime: number;
  preferredLifetime: number;
}

export interface RouterAdvertisementOptions {
  srcMac: string;
  /** link-local: hosts drop RAs from any other source (RFC 4861 section 6.1.2) */
  srcIp: string;
  dstMac: string;
  dstIp: string;
  curHopLimit: number;
  /** M flag: addresses via DHCPv6 */
  managed: boolean;
  /** O flag: other configuration (DNS) via DHCPv6 */
  other: boolean;
  /** seconds; 0 = not a default router */
  routerLifetime: number;
  /** milliseconds, 0 = unspecified */
  reachableTime: number;
  /** milliseconds, 0 = unspecified */
  retransTimer: number;
  prefixes: RaPrefix[];
  mtu?: number;
  rdnss?: { lifetime: number; servers: string[] };
  dnssl?: { lifetime: number; domains: string[] };
}

/**
 * Router Advertisement (RFC 4861 section 4.2) with, in this order: Source Link-Layer Address (type 1),
 * MTU (type 5) if given, one Prefix Information (type 3, section 4.6.2) per prefix, Recursive DNS
 * Server (type 25, RFC 8106 section 5.1) and DNS Search List (type 31, section 5.2) if given.
 */
export function routerAdvertisement(o: RouterAdvertisementOptions): Buffer {
  if (!isIpv6LinkLocal(ipv6ToBytes(o.srcIp))) throw new Error(`RA source must be link-local, not ${o.srcIp}`);
  checkUint('current hop limit', o.curHopLimit, 8);
  checkUint('router lifetime', o.routerLifetime, 16);
  checkUint('reachable time', o.reachableTime, 32);
  if (o.reachableTime > 3_600_000) throw new Error(`reachable time over 3,600,000 ms: ${o.reachableTime}`);
  checkUint('retrans timer', o.retransTimer, 32);
  const header = Buffer.alloc(16);
  header[0] = ND_RA;
  header[4] = o.curHopLimit;
  header[5] = (o.managed ? 0x80 : 0) | (o.other ? 0x40 : 0);
  header.writeUInt16BE(o.routerLifetime, 6);
  header.writeUInt32BE(o.reachableTime, 8);
  header.writeUInt32BE(o.retransTimer, 12);

  const options = [linkLayerOption(1, o.srcMac)];
  if (o.mtu !== undefined) {
    checkUint('MTU', o.mtu, 32);
    if (o.mtu < 1280) throw new Error(`IPv6 MTU below 1280: ${o.mtu}`);
    options.push(ndOption(5, Buffer.concat([u16(0), u32(o.mtu)])));
  }
  for (const p of o.prefixes) options.push(prefixInformation(p));
  if (o.rdnss) {
    checkUint('RDNSS lifetime', o.rdnss.lifetime, 32);
    if (o.rdnss.servers.length === 0) throw new Error('RDNSS option needs at least one server');
    options.push(ndOption(25, Buffer.concat([u16(0), u32(o.rdnss.lifetime), ...o.rdnss.servers.map(ipv6ToBytes)])));
  }
  if (o.dnssl) {
    checkUint('DNSSL lifetime', o.dnssl.lifetime, 32);
    if (o.dnssl.domains.length === 0) throw new Error('DNSSL option needs at least one domain');
    const names = Buffer.concat(o.dnssl.domains.map(dnsNameToWire));
    // 2 (type, length) + 6 (reserved, lifetime) + names, zero-padded to a multiple of 8
    const padding = (8 - ((8 + names.length) % 8)) % 8;
    options.push(ndOption(31, Buffer.concat([u16(0), u32(o.dnssl.lifetime), names, Buffer.alloc(padding)])));
  }
  return icmpv6Frame({ srcMac: o.srcMac, dstMac: o.dstMac, srcIp: o.srcIp, dstIp: o.dstIp, message: Buffer.concat([header, ...options]) });
}

function prefixInformation(p: RaPrefix): Buffer {
  const parsed = parsePrefix(`${p.prefix}/${p.length}`, 6);
  if (!parsed || 'error' in parsed) throw new Error(`not an IPv6 prefix: ${p.prefix}/${p.length}`);
  checkUint('valid lifetime', p.validLifetime, 32);
  checkUint('preferred lifetime', p.preferredLifetime, 32);
  if (p.preferredLifetime > p.validLifetime) {
    throw new Error(`preferred lifetime ${p.preferredLifetime} over valid lifetime ${p.validLifetime} for ${parsed.cidr}`);
  }
  const flags = (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0);
  return ndOption(
    3,
    Buffer.concat([u8(p.length), u8(flags), u32(p.validLifetime), u32(p.preferredLifetime), u32(0), ipv6ToBytes(parsed.address)]),
  );
}

export interface NeighborAdvertisementOptions {
  srcMac: string;
  srcIp: string;
  dstMac: string;
  dstIp: string;
  target: string;
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** Target Link-Layer Address option, omitted when null */
  tlla: string | null;
}

/** Neighbor Advertisement (RFC 4861 section 4.4), hop limit 255. */
export function neighborAdvertisement(o: NeighborAdvertisementOptions): Buffer {
  const target = ipv6ToBytes(o.target);
  if (isIpv6Multicast(target)) throw new Error(`NA target must not be multicast: ${o.target}`);
  const header = Buffer.alloc(24);
  header[0] = ND_NA;
  header[4] = (o.router ? 0x80 : 0) | (o.solicited ? 0x40 : 0) | (o.override ? 0x20 : 0);
  target.copy(header, 8);
  const options = o.tlla === null ? [] : [linkLayerOption(2, o.tlla)];
  return icmpv6Frame({ srcMac: o.srcMac, dstMac: o.dstMac, srcIp: o.srcIp, dstIp: o.dstIp, message: Buffer.concat([header, ...options]) });
}

// ---------------------------------------------------------------------------------------------
// DHCPv6 (RFC 8415)

const DHCP6_REPLY = 7;
const DHCP6_SERVER_PORT = 547;
const DHCP6_HOP_LIMIT = 64;

function dhcp6Option(code: number, data: Buffer): Buffer {
  checkUint(`DHCPv6 option ${code} length`, data.length, 16);
  return Buffer.concat([u16(code), u16(data.length), data]);
}

function checkDuid(name: string, duid: Buffer): void {
  // RFC 8415 section 11.1: 2-byte type + 1..128 bytes
  if (duid.length < 3 || duid.length > 130) throw new Error(`${name} must be 3..130 bytes, not ${duid.length}`);
}

export interface Dhcp6ReplyOptions {
  srcMac: string;
  srcIp: string;
  dstMac: string;
  dstIp: string;
  dstPort: number;
  transactionId: number;
  clientId: Buffer | null;
  serverDuid: Buffer;
  /** option 23 (RFC 3646), omitted when empty */
  dnsServers: string[];
  /** option 24 (RFC 3646), omitted when empty */
  domains: string[];
  /** option 32 (RFC 8415 section 21.23), seconds */
  refreshTime?: number;
}

/**
 * DHCPv6 Reply (msg-type 7) with Server Identifier (2), Client Identifier (1) when given, DNS
 * Recursive Name Server (23), Domain Search List (24) and Information Refresh Time (32) when given;
 * UDP from port 547, IPv6 hop limit 64.
 */
export function dhcp6Reply(o: Dhcp6ReplyOptions): Buffer {
  checkUint('transaction id', o.transactionId, 24);
  checkDuid('server DUID', o.serverDuid);
  const txid = Buffer.alloc(3);
  txid.writeUIntBE(o.transactionId, 0, 3);
  const options = [dhcp6Option(2, o.serverDuid)];
  if (o.clientId !== null) {
    checkDuid('client DUID', o.clientId);
    options.push(dhcp6Option(1, o.clientId));
  }
  if (o.dnsServers.length > 0) options.push(dhcp6Option(23, Buffer.concat(o.dnsServers.map(ipv6ToBytes))));
  if (o.domains.length > 0) options.push(dhcp6Option(24, Buffer.concat(o.domains.map(dnsNameToWire))));
  if (o.refreshTime !== undefined) options.push(dhcp6Option(32, u32(checkUint('information refresh time', o.refreshTime, 32))));
  const message = Buffer.concat([u8(DHCP6_REPLY), txid, ...options]);
  const ip = { srcBytes: ipv6ToBytes(o.srcIp), dstBytes: ipv6ToBytes(o.dstIp) };
  const udp = buildUdp({ ip, srcPort: DHCP6_SERVER_PORT, dstPort: o.dstPort, payload: message });
  const packet = buildIpv6({ src: o.srcIp, dst: o.dstIp, nextHeader: IPPROTO_UDP, hopLimit: DHCP6_HOP_LIMIT, payload: udp });
  return buildEthernet(o.dstMac, o.srcMac, ETH_P_IPV6, packet);
}

/** DUID-UUID (RFC 6355): type 4 + a 16-byte UUID, so the server DUID survives restarts. */
export function duidUuid(uuid16: Buffer): Buffer {
  if (!Buffer.isBuffer(uuid16) || uuid16.length !== 16) throw new Error(`a UUID is 16 bytes, not ${uuid16?.length}`);
  return Buffer.concat([u16(4), uuid16]);
}

// ---------------------------------------------------------------------------------------------
// DHCPv4 (RFC 2131, options RFC 2132)

export const DHCPOFFER = 2;
export const DHCPACK = 5;
export const DHCPNAK = 6;
const DHCP_MAGIC = Buffer.from([99, 130, 83, 99]);
const BOOTP_MIN = 300;
/** RFC 2131 section 2: a client must accept 576-byte IP datagrams, so a 548-byte BOOTP message. */
const BOOTP_MAX = 576 - 20 - 8;
const DHCP4_TTL = 64;

function dhcp4Option(code: number, data: Buffer): Buffer {
  if (data.length > 255) throw new Error(`DHCPv4 option ${code} is too long (${data.length} bytes)`);
  return Buffer.concat([u8(code), u8(data.length), data]);
}

function printable(name: string, text: string): Buffer {
  if (!/^[\x21-\x7e]{1,255}$/.test(text)) throw new Error(`${name} must be 1..255 printable ASCII characters: ${JSON.stringify(text)}`);
  return Buffer.from(text, 'ascii');
}

export interface Dhcp4ReplyOptions {
  srcMac: string;
  serverIp: string;
  dstMac: string;
  dstIp: string;
  /** 2 OFFER, 5 ACK, 6 NAK */
  msgType: number;
  xid: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  chaddr: string;
  /** option 1 */
  subnetMask: string | null;
  /** option 3 */
  router: string | null;
  /** option 6, omitted when empty */
  dnsServers: string[];
  /** option 15 */
  domain: string | null;
  /** option 26 */
  mtu: number | null;
  /** option 12 */
  hostname: string | null;
  /** option 51, seconds; null for the ACK to a DHCPINFORM (RFC 2131 section 4.3.5: no lease time) */
  leaseTime: number | null;
  /** option 58 (T1) */
  renewalTime?: number;
  /** option 59 (T2) */
  rebindingTime?: number;
}

/**
 * BOOTREPLY with the magic cookie and options 53, 54, 51, 58, 59, 1, 3, 6, 15, 26, 12, 255 (each
 * omitted when not given), padded to 300 bytes; IPv4 TTL 64 with DF clear, UDP 67 -> 68.
 * A NAK carries only 53 and 54 and zero ciaddr/yiaddr (RFC 2131 table 3).
 */
export function dhcp4Reply(o: Dhcp4ReplyOptions): Buffer {
  if (![DHCPOFFER, DHCPACK, DHCPNAK].includes(o.msgType)) throw new Error(`not a DHCP reply type: ${o.msgType}`);
  checkUint('xid', o.xid, 32);
  checkUint('flags', o.flags, 16);
  const nak = o.msgType === DHCPNAK;
  const fixed = Buffer.alloc(236);
  fixed[0] = 2; // BOOTREPLY
  fixed[1] = 1; // Ethernet
  fixed[2] = 6;
  fixed.writeUInt32BE(o.xid, 4);
  fixed.writeUInt16BE(o.flags, 10);
  (nak ? Buffer.alloc(4) : ipv4ToBytes(o.ciaddr)).copy(fixed, 12);
  (nak ? Buffer.alloc(4) : ipv4ToBytes(o.yiaddr)).copy(fixed, 16);
  macToBytes(o.chaddr).copy(fixed, 28);

  const options = [dhcp4Option(53, u8(o.msgType)), dhcp4Option(54, ipv4ToBytes(o.serverIp))];
  if (!nak) {
    if (o.leaseTime !== null) options.push(dhcp4Option(51, u32(checkUint('lease time', o.leaseTime, 32))));
    if (o.renewalTime !== undefined) options.push(dhcp4Option(58, u32(checkUint('renewal time', o.renewalTime, 32))));
    if (o.rebindingTime !== undefined) options.push(dhcp4Option(59, u32(checkUint('rebinding time', o.rebindingTime, 32))));
    if (o.subnetMask !== null) {
      const mask = ipv4ToBytes(o.subnetMask);
      if (ipaddr.IPv4.parse(o.subnetMask).prefixLengthFromSubnetMask() === null) throw new Error(`not a subnet mask: ${o.subnetMask}`);
      options.push(dhcp4Option(1, mask));
    }
    if (o.router !== null) options.push(dhcp4Option(3, ipv4ToBytes(o.router)));
    if (o.dnsServers.length > 0) options.push(dhcp4Option(6, Buffer.concat(o.dnsServers.map(ipv4ToBytes))));
    if (o.domain !== null) {
      dnsNameToWire(o.domain); // validates labels
      options.push(dhcp4Option(15, printable('domain', o.domain)));
    }
    if (o.mtu !== null) {
      checkUint('MTU', o.mtu, 16);
      if (o.mtu < 68) throw new Error(`IPv4 MTU below 68: ${o.mtu}`);
      options.push(dhcp4Option(26, u16(o.mtu)));
    }
    if (o.hostname !== null) options.push(dhcp4Option(12, printable('hostname', o.hostname)));
  }
  options.push(u8(255));
  let bootp = Buffer.concat([fixed, DHCP_MAGIC, ...options]);
  if (bootp.length < BOOTP_MIN) bootp = Buffer.concat([bootp, Buffer.alloc(BOOTP_MIN - bootp.length)]);
  if (bootp.length > BOOTP_MAX) throw new Error(`DHCP reply of ${bootp.length} bytes is over the ${BOOTP_MAX} every client accepts`);

  const ip = { srcBytes: ipv4ToBytes(o.serverIp), dstBytes: ipv4ToBytes(o.dstIp) };
  const udp = buildUdp({ ip, srcPort: 67, dstPort: 68, payload: bootp });
  const packet = buildIpv4({ src: o.serverIp, dst: o.dstIp, protocol: IPPROTO_UDP, ttl: DHCP4_TTL, payload: udp });
  return buildEthernet(o.dstMac, o.srcMac, ETH_P_IPV4, packet);
}
