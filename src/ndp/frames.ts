/**
 * Pure encoders for the frames vmrouter sends itself. No I/O here: tested against byte fixtures.
 */
import { addressBytes } from '../model/addr.js';
import { neighborAdvertisement } from './encode.js';
import { icmpv6Checksum as wireIcmpv6Checksum } from './wire.js';

const macBytes = (mac: string): number[] => mac.split(':').map((h) => parseInt(h, 16));
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const ETH_P_ARP = 0x0806;
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
  return wireIcmpv6Checksum(Buffer.from(src), Buffer.from(dst), Buffer.from(message));
}

/**
 * Unsolicited Neighbor Advertisement (RFC 4861 sections 4.4 and 7.2.6) to all-nodes: Override set so
 * neighbours replace a cached link-layer address, Solicited clear, Router clear (the target is a VM),
 * with a Target Link-Layer Address option. Sent from the link-local address of the interface, hop
 * limit 255 (receivers drop ND with any other hop limit).
 */
export function unsolicitedNa(senderMac: string, sourceLinkLocal: string, target: string): Buffer {
  return neighborAdvertisement({
    srcMac: senderMac,
    srcIp: sourceLinkLocal,
    dstMac: '33:33:00:00:00:01',
    dstIp: 'ff02::1',
    target,
    router: false,
    solicited: false,
    override: true,
    tlla: senderMac,
  });
}
