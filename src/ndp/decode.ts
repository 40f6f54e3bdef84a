/**
 * Decoder for the frames the daemon answers on a VM's TAP: Router and Neighbour Solicitations,
 * DHCPv6 client messages and DHCPv4 client messages. The input is hostile: every length is checked,
 * anything malformed or not for us yields null, and nothing throws.
 *
 * Not handled (null): 802.1Q/802.1ad tags, IPv6 extension headers, IPv4 options and fragments,
 * DHCPv6 relay messages, DHCPv4 option overload (the sname/file fields are not read).
 */
import {
  ETH_P_IPV4,
  ETH_P_IPV6,
  IPPROTO_ICMPV6,
  IPPROTO_UDP,
  IPV4_HEADER,
  icmpv6ChecksumValid,
  ipv4FromBytes,
  isIpv4Mapped,
  isIpv6LinkLocal,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6Unspecified,
  isSolicitedNodeMulticast,
  ipv6FromBytes,
  macFromBytes,
  parseEthernet,
  parseIpv4,
  parseIpv6,
  parseUdp,
  type Ipv6,
} from './wire.js';

export interface RouterSolicitation {
  kind: 'rs';
  srcMac: string;
  /** '::' or a link-local address (any interface identifier, not only EUI-64) */
  srcIp: string;
  /** Source Link-Layer Address option, never present when srcIp is '::' */
  sllao: string | null;
}

export interface NeighborSolicitation {
  kind: 'ns';
  srcMac: string;
  /** '::' for Duplicate Address Detection (then dstIp is a solicited-node group) */
  srcIp: string;
  dstIp: string;
  target: string;
  sllao: string | null;
}

export interface Dhcp6Message {
  kind: 'dhcp6';
  srcMac: string;
  srcIp: string;
  srcPort: number;
  msgType: number;
  /** 24 bits */
  transactionId: number;
  /** DUID from option 1 (OPTION_CLIENTID) */
  clientId: Buffer | null;
  /** option codes from option 6 (OPTION_ORO) */
  oro: number[];
}

export interface Dhcp4Message {
  kind: 'dhcp4';
  srcMac: string;
  /** option 53 */
  msgType: number;
  xid: number;
  flags: number;
  ciaddr: string;
  chaddr: string;
  /** option 50 */
  requestedIp: string | null;
  /** option 54 */
  serverId: string | null;
  /** option 55 */
  paramList: number[];
  /** option 61 */
  clientId: Buffer | null;
  /** option 12, printable ASCII only (trailing NULs removed); null if absent or not printable */
  hostname: string | null;
}

export type Inbound = RouterSolicitation | NeighborSolicitation | Dhcp6Message | Dhcp4Message;

const ND_RS = 133;
const ND_NS = 135;
const ND_OPT_SLLA = 1;
const DHCP6_SERVER_PORT = 547;
const DHCP6_RELAY_FORW = 12;
const DHCP6_RELAY_REPL = 13;
const DHCP4_SERVER_PORT = 67;
const DHCP_MAGIC = 0x63825363;
/** op .. file: the fixed BOOTP fields before the magic cookie */
const BOOTP_FIXED = 236;

/** Every path is bounds-checked rather than wrapped in a try/catch, so the fuzz tests can see a throw. */
/**
 * `checksumTrusted`: the kernel reported the L4 checksum verified, or not final yet because the sender
 * left it to offload (veth, virtio TAPs): then it is not checked here.
 */
export function decodeFrame(frame: Buffer, checksumTrusted = false): Inbound | null {
  if (!Buffer.isBuffer(frame)) return null;
  const eth = parseEthernet(frame);
  if (!eth) return null;
  // the group bit is never set in a source address (IEEE 802)
  if (frame[6]! & 0x01) return null;
  if (eth.type === ETH_P_IPV6) {
    const ip = parseIpv6(eth.payload);
    if (!ip || !usableSource(ip.srcBytes) || isIpv4Mapped(ip.dstBytes)) return null;
    if (ip.nextHeader === IPPROTO_ICMPV6) return decodeNd(eth.src, ip, checksumTrusted);
    if (ip.nextHeader === IPPROTO_UDP) return decodeDhcp6(eth.src, ip, checksumTrusted);
    return null; // extension headers and everything else
  }
  if (eth.type === ETH_P_IPV4) return decodeDhcp4(eth.src, eth.payload, checksumTrusted);
  return null; // VLAN tags, ARP, ...
}

/** Never a source on a link: multicast, loopback (RFC 4291 2.5.3) and IPv4-mapped (2.5.5.2). */
const usableSource = (b: Buffer): boolean => !isIpv6Multicast(b) && !isIpv6Loopback(b) && !isIpv4Mapped(b);

// ---------------------------------------------------------------------------------------------
// Neighbor Discovery (RFC 4861)

/**
 * ND options (RFC 4861 section 4.6): type, length in units of 8 octets (0 is invalid), data. Returns
 * the SLLAO (first one wins, as in Linux), undefined if absent, or null if the options are malformed.
 */
function ndSllao(options: Buffer): string | undefined | null {
  let sllao: string | undefined;
  let at = 0;
  while (at < options.length) {
    if (at + 2 > options.length) return null;
    const type = options[at]!;
    const len = options[at + 1]! * 8;
    if (len === 0 || at + len > options.length) return null;
    if (type === ND_OPT_SLLA && sllao === undefined) {
      if (len !== 8) return null; // Ethernet: 6 bytes of address in one unit
      sllao = macFromBytes(options, at + 2)!;
    }
    at += len;
  }
  return sllao;
}

function decodeNd(srcMac: string, ip: Ipv6, checksumTrusted: boolean): Inbound | null {
  const msg = ip.payload;
  if (msg.length < 8) return null;
  const type = msg[0]!;
  if (type !== ND_RS && type !== ND_NS) return null;
  // RFC 4861 sections 6.1.1 and 7.1.1
  if (msg[1] !== 0 || ip.hopLimit !== 255) return null;
  if (!checksumTrusted && !icmpv6ChecksumValid(ip.srcBytes, ip.dstBytes, msg)) return null;
  const unspecified = isIpv6Unspecified(ip.srcBytes);
  if (type === ND_RS) {
    if (!unspecified && !isIpv6LinkLocal(ip.srcBytes)) return null;
    const sllao = ndSllao(msg.subarray(8));
    if (sllao === null || (unspecified && sllao !== undefined)) return null;
    return { kind: 'rs', srcMac, srcIp: ip.src, sllao: sllao ?? null };
  }
  if (msg.length < 24) return null;
  const targetBytes = msg.subarray(8, 24);
  if (isIpv6Multicast(targetBytes) || isIpv4Mapped(targetBytes)) return null;
  if (unspecified && !isSolicitedNodeMulticast(ip.dstBytes)) return null;
  const sllao = ndSllao(msg.subarray(24));
  if (sllao === null || (unspecified && sllao !== undefined)) return null;
  return { kind: 'ns', srcMac, srcIp: ip.src, dstIp: ip.dst, target: ipv6FromBytes(targetBytes)!, sllao: sllao ?? null };
}

// ---------------------------------------------------------------------------------------------
// DHCPv6 (RFC 8415)

function decodeDhcp6(srcMac: string, ip: Ipv6, checksumTrusted: boolean): Dhcp6Message | null {
  // a client sends from its link-local address (RFC 8415 section 13.1); '::' could not be answered
  if (isIpv6Unspecified(ip.srcBytes)) return null;
  const udp = parseUdp(ip, ip.payload, checksumTrusted);
  if (!udp || udp.dstPort !== DHCP6_SERVER_PORT) return null;
  const m = udp.payload;
  if (m.length < 4) return null;
  const msgType = m[0]!;
  // relay messages have another layout (hop-count, link-address, peer-address); clients do not send them
  if (msgType === 0 || msgType === DHCP6_RELAY_FORW || msgType === DHCP6_RELAY_REPL) return null;
  let clientId: Buffer | null = null;
  let oro: number[] | null = null;
  // section 21.1: option-code (2), option-len (2), option-data
  let at = 4;
  while (at < m.length) {
    if (at + 4 > m.length) return null;
    const code = m.readUInt16BE(at);
    const len = m.readUInt16BE(at + 2);
    const start = at + 4;
    if (start + len > m.length) return null;
    const data = m.subarray(start, start + len);
    if (code === 1 && clientId === null) {
      // section 11.1: a DUID is a 2-byte type and up to 128 bytes of identifier
      if (len < 3 || len > 130) return null;
      clientId = Buffer.from(data);
    } else if (code === 6 && oro === null) {
      if (len % 2 !== 0) return null;
      oro = [];
      for (let i = 0; i < len; i += 2) oro.push(data.readUInt16BE(i));
    }
    at = start + len;
  }
  return {
    kind: 'dhcp6',
    srcMac,
    srcIp: ip.src,
    srcPort: udp.srcPort,
    msgType,
    transactionId: m.readUIntBE(1, 3),
    clientId,
    oro: oro ?? [],
  };
}

// ---------------------------------------------------------------------------------------------
// DHCPv4 (RFC 2131, options RFC 2132)

/**
 * Options from the magic cookie on: pad (0) is skipped, end (255) stops, everything else is
 * code, length, data within the buffer. A code seen more than once is concatenated (RFC 3396).
 * Running out of bytes without an end option is tolerated; an option that overruns is not.
 */
function dhcp4Options(options: Buffer): Map<number, Buffer> | null {
  const parts = new Map<number, Buffer[]>();
  let at = 0;
  while (at < options.length) {
    const code = options[at]!;
    if (code === 0) {
      at += 1;
      continue;
    }
    if (code === 255) break;
    if (at + 2 > options.length) return null;
    const len = options[at + 1]!;
    if (at + 2 + len > options.length) return null;
    const list = parts.get(code) ?? [];
    list.push(options.subarray(at + 2, at + 2 + len));
    parts.set(code, list);
    at += 2 + len;
  }
  return new Map([...parts].map(([code, list]) => [code, Buffer.concat(list)]));
}

function hostnameText(data: Buffer): string | null {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  if (end === 0) return null;
  for (let i = 0; i < end; i++) if (data[i]! < 0x20 || data[i]! > 0x7e) return null;
  return data.toString('latin1', 0, end);
}

function decodeDhcp4(srcMac: string, packet: Buffer, checksumTrusted: boolean): Dhcp4Message | null {
  const ip = parseIpv4(packet);
  if (!ip) return null;
  if (ip.headerLength !== IPV4_HEADER || ip.moreFragments || ip.fragmentOffset !== 0) return null;
  if (ip.protocol !== IPPROTO_UDP) return null;
  const udp = parseUdp(ip, ip.payload, checksumTrusted);
  if (!udp || udp.dstPort !== DHCP4_SERVER_PORT) return null;
  const b = udp.payload;
  if (b.length < BOOTP_FIXED + 4) return null;
  // op BOOTREQUEST, htype Ethernet, hlen 6
  if (b[0] !== 1 || b[1] !== 1 || b[2] !== 6) return null;
  if (b.readUInt32BE(BOOTP_FIXED) !== DHCP_MAGIC) return null;
  const options = dhcp4Options(b.subarray(BOOTP_FIXED + 4));
  if (!options) return null;
  const type = options.get(53);
  if (!type || type.length !== 1) return null;
  const requested = options.get(50);
  if (requested && requested.length !== 4) return null;
  const server = options.get(54);
  if (server && server.length !== 4) return null;
  const clientId = options.get(61);
  // RFC 2132 section 9.14: type and at least one byte of identifier
  if (clientId && clientId.length < 2) return null;
  const hostname = options.get(12);
  return {
    kind: 'dhcp4',
    srcMac,
    msgType: type[0]!,
    xid: b.readUInt32BE(4),
    flags: b.readUInt16BE(10),
    ciaddr: ipv4FromBytes(b, 12)!,
    chaddr: macFromBytes(b, 28)!,
    requestedIp: requested ? ipv4FromBytes(requested)! : null,
    serverId: server ? ipv4FromBytes(server)! : null,
    paramList: [...(options.get(55) ?? [])],
    clientId: clientId ? Buffer.from(clientId) : null,
    hostname: hostname ? hostnameText(hostname) : null,
  };
}
