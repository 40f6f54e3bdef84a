import t from 'tap';
import { arpAnnouncement, icmpv6Checksum, unsolicitedNa } from '../../src/ndp/frames.js';

const MAC = '52:54:00:12:34:56';
const hex = (b: Buffer): string => b.toString('hex');
const bytes = (h: string): number[] => [...Buffer.from(h.replace(/\s+/g, ''), 'hex')];

/**
 * Fixtures built field by field with python3 (struct/ipaddress), independently of the code under
 * test; the ICMPv6 checksum there was summed by hand over the pseudo-header.
 */
const ARP_FIXTURE = [
  'ffffffffffff', // dst: broadcast
  '525400123456', // src
  '0806', // ARP
  '0001 0800 06 04', // Ethernet / IPv4, hlen 6, plen 4
  '0001', // opcode 1: request
  '525400123456 c000020b', // sender MAC, sender IP 192.0.2.11
  '000000000000 c000020b', // target MAC zero, target IP = sender IP
  '00'.repeat(18), // padding to 60 bytes
].join('').replace(/\s+/g, '');

const NA_FIXTURE = [
  '333300000001', // dst: all-nodes multicast MAC
  '525400123456', // src
  '86dd', // IPv6
  '60000000 0020 3a ff', // version 6, payload 32, next header 58 (ICMPv6), hop limit 255
  'fe800000000000000000000000000001', // src fe80::1
  'ff020000000000000000000000000001', // dst ff02::1
  '88 00 a397', // type 136, code 0, checksum
  '20000000', // R=0 S=0 O=1
  '20010db8000000000000000000000011', // target 2001:db8::11
  '02 01 525400123456', // option 2 (target link-layer address), length 1 (8 bytes)
].join('').replace(/\s+/g, '');

t.test('ARP announcement: byte-exact', async (t) => {
  const f = arpAnnouncement(MAC, '192.0.2.11');
  t.equal(hex(f), ARP_FIXTURE);
  t.equal(f.length, 60, 'padded to the Ethernet minimum');
  t.equal(f.readUInt16BE(12), 0x0806);
  t.equal(f.readUInt16BE(20), 1, 'opcode 1 (request)');
  t.equal(hex(f.subarray(28, 32)), hex(f.subarray(38, 42)), 'sender IP = target IP');
  t.equal(hex(f.subarray(42)), '00'.repeat(18), 'zero padding');
});

t.test('unsolicited NA: byte-exact', async (t) => {
  const f = unsolicitedNa(MAC, 'fe80::1', '2001:db8::11');
  t.equal(hex(f), NA_FIXTURE);
  t.equal(f.length, 86);
  t.equal(hex(f.subarray(0, 6)), '333300000001', 'dst MAC 33:33:00:00:00:01');
  t.equal(f[14 + 7], 255, 'hop limit 255');
  t.equal(f[14 + 6], 58, 'next header ICMPv6');
  const icmp = f.subarray(54);
  t.equal(icmp[0], 136, 'type: neighbour advertisement');
  t.equal(icmp[4]! & 0x80, 0, 'R = 0');
  t.equal(icmp[4]! & 0x40, 0, 'S = 0');
  t.equal(icmp[4]! & 0x20, 0x20, 'O = 1');
  t.strictSame([icmp[24], icmp[25]], [2, 1], 'target link-layer address option');
  t.equal(hex(icmp.subarray(26, 32)), '525400123456');
});

/** RFC 4443 2.3, written out again here: pseudo-header (src, dst, length, next header) + message. */
function referenceChecksum(frame: Buffer): number {
  const ipv6 = frame.subarray(14, 54);
  const message = Buffer.from(frame.subarray(54));
  message.writeUInt16BE(0, 2);
  const pseudo = Buffer.alloc(40);
  ipv6.copy(pseudo, 0, 8, 40);
  pseudo.writeUInt32BE(message.length, 32);
  pseudo[39] = 58;
  const all = Buffer.concat([pseudo, message, Buffer.alloc(message.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

t.test('the NA checksum verifies independently', async (t) => {
  for (const [src, target, mac] of [
    ['fe80::1', '2001:db8::11', MAC],
    ['fe80::5054:ff:feaa:bbcc', '2001:db8:ffff::ffff', 'fe:ff:ff:ff:ff:ff'],
  ] as const) {
    const f = unsolicitedNa(mac, src, target);
    t.equal(f.readUInt16BE(56), referenceChecksum(f), `${src} → ${target}`);
  }
});

t.test('icmpv6Checksum against a vector computed by the Linux kernel', async (t) => {
  // An NA for 2001:db8::11 (TLLA 52:54:00:12:34:56) sent from ::1 to ::1 through a raw ICMPv6
  // socket and captured on lo: the kernel filled in checksum 0xa11b.
  const message = bytes('8800 0000 20000000 20010db8000000000000000000000011 0201 525400123456');
  const loopback = bytes('00000000000000000000000000000001');
  t.equal(icmpv6Checksum(loopback, loopback, message), 0xa11b);
});

t.test('icmpv6Checksum: odd length and carry folding', async (t) => {
  // words: length 0x0003 + next header 0x003a + 0xffff + 0x0100 (odd byte, zero-padded)
  // = 0x1013c → folded 0x013d → complement 0xfec2
  const zero16 = new Array(16).fill(0);
  t.equal(icmpv6Checksum(zero16, zero16, [0xff, 0xff, 0x01]), 0xfec2);
});
