/**
 * Pure encoders for the frames vmrouter sends itself. No I/O here: tested against byte fixtures.
 */
import { addressBytes } from '../model/addr.js';

const macBytes = (mac: string): number[] => mac.split(':').map((h) => parseInt(h, 16));
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const ETH_P_ARP = 0x0806;
const ETH_P_IPV6 = 0x86dd;
/** Ethernet minimum frame without FCS; the ARP frame is padded to it. */
const ETH_MIN = 60;

function ethernet(dst: number[], src: number[], type: number, payload: number[]): Buffer {
  const frame = Buffer.alloc(Math.max(ETH_MIN, 14 + payload.length));
  Buffer.from([...dst, ...src, type >> 8, type & 0xff, ...payload]).copy(frame);
  return frame;
}

/**
 * ARP Announcement (RFC 5227 section 2.3): a broadcast request whose sender and target protocol
 * addresses are both the announced address. Neighbours that already have an entry for it update the
 * entry to `senderMac` (Linux: arp_process, "is_garp"), so a router re-learns a VM that moved.
 */
export function arpAnnouncement(senderMac: string, address: string): Buffer {
  const sha = macBytes(senderMac);
  const ip = addressBytes(address);
  const arp = [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, ...sha, ...ip, 0, 0, 0, 0, 0, 0, ...ip];
  return ethernet(BROADCAST, sha, ETH_P_ARP, arp);
}

/** RFC 4443 section 2.3: one's complement sum over the IPv6 pseudo-header and the ICMPv6 message. */
export function icmpv6Checksum(src: number[], dst: number[], message: number[]): number {
  const pseudo = [...src, ...dst, ...u32(message.length), 0, 0, 0, 58];
  const all = [...pseudo, ...message];
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) + (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/**
 * Unsolicited Neighbor Advertisement (RFC 4861 sections 4.4 and 7.2.6) to all-nodes: Override set so
 * neighbours replace a cached link-layer address, Solicited clear, Router clear (the target is a VM),
 * with a Target Link-Layer Address option. Sent from the link-local address of the interface, hop
 * limit 255 (receivers drop ND with any other hop limit).
 */
export function unsolicitedNa(senderMac: string, sourceLinkLocal: string, target: string): Buffer {
  const src = addressBytes(sourceLinkLocal);
  const dst = addressBytes('ff02::1');
  const mac = macBytes(senderMac);
  const message = [136, 0, 0, 0, 0x20, 0, 0, 0, ...addressBytes(target), 2, 1, ...mac];
  const sum = icmpv6Checksum(src, dst, message);
  message[2] = sum >> 8;
  message[3] = sum & 0xff;
  const ipv6 = [0x60, 0, 0, 0, message.length >> 8, message.length & 0xff, 58, 255, ...src, ...dst];
  return ethernet([0x33, 0x33, 0, 0, 0, 1], mac, ETH_P_IPV6, [...ipv6, ...message]);
}
