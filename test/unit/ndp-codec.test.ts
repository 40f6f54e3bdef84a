import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { decodeFrame, type Inbound } from '../../src/ndp/decode.js';
import { dhcp4Reply, dhcp6Reply, duidUuid, neighborAdvertisement, routerAdvertisement } from '../../src/ndp/encode.js';
import { unsolicitedNa } from '../../src/ndp/frames.js';
import {
  buildUdp,
  dnsNameToWire,
  internetChecksum,
  ipv4FromBytes,
  ipv6FromBytes,
  macFromBytes,
  macToBytes,
  parseIpv4,
  parseIpv6,
  parseUdp,
} from '../../src/ndp/wire.js';

const ROUTER_MAC = 'fe:ff:ff:ff:ff:ff';
const VM_MAC = '52:54:00:12:34:56';
const VM_LL = 'fe80::5054:ff:fe12:3456';
/** RFC 7217 stable-privacy link-local: not derived from the MAC */
const VM_LL_PRIVACY = 'fe80::1c2d:3e4f:5a6b:7c8d';
const hex = (b: Buffer): string => b.toString('hex');
const fixture = (parts: string[]): string => parts.join('').replace(/\s+/g, '');

// ---------------------------------------------------------------------------------------------
// Encoder inputs and byte fixtures. The fixtures were built field by field with python3
// (struct/ipaddress, its own RFC 1071 sum over the pseudo-headers), independently of src/ndp.

const RA_INPUT = {
  srcMac: ROUTER_MAC,
  srcIp: 'fe80::1',
  dstMac: '33:33:00:00:00:01',
  dstIp: 'ff02::1',
  curHopLimit: 64,
  managed: false,
  other: true,
  routerLifetime: 1800,
  reachableTime: 0,
  retransTimer: 0,
  prefixes: [{ prefix: '2001:db8:1::', length: 64, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400 }],
  mtu: 1500,
  rdnss: { lifetime: 600, servers: ['2001:db8::53', '2001:db8::54'] },
  dnssl: { lifetime: 600, domains: ['example.com', 'vm.example.org'] },
};
const RA_FIXTURE = fixture([
  '333300000001 feffffffffff 86dd', // all-nodes MAC, router MAC, IPv6
  '60000000 0090 3a ff', // payload 144, ICMPv6, hop limit 255
  'fe800000000000000000000000000001 ff020000000000000000000000000001',
  '86 00 8326', // type 134, code 0, checksum
  '40 40 0708 00000000 00000000', // cur hop limit 64, Flags O, router lifetime 1800, reachable, retrans
  '01 01 feffffffffff', // SLLAO
  '05 01 0000 000005dc', // MTU 1500
  '03 04 40 c0 00015180 00003840 00000000 20010db8000100000000000000000000', // /64 L A 86400 14400
  '19 05 0000 00000258 20010db8000000000000000000000053 20010db8000000000000000000000054', // RDNSS 600 s
  '1f 05 0000 00000258 07 6578616d706c65 03 636f6d 00 02 766d 07 6578616d706c65 03 6f7267 00 000000', // DNSSL
]);

const NA_INPUT = {
  srcMac: ROUTER_MAC,
  srcIp: 'fe80::1',
  dstMac: VM_MAC,
  dstIp: VM_LL,
  target: '2001:db8:1::1',
  router: true,
  solicited: true,
  override: false,
  tlla: ROUTER_MAC,
};
const NA_FIXTURE = fixture([
  '525400123456 feffffffffff 86dd',
  '60000000 0020 3a ff',
  'fe800000000000000000000000000001 fe80000000000000505400fffe123456',
  '88 00 0829 c0000000', // type 136, checksum, R=1 S=1 O=0
  '20010db8000100000000000000000001', // target
  '02 01 feffffffffff', // TLLA
]);
const NA_NO_TLLA_INPUT = { ...NA_INPUT, target: 'fe80::1', router: false, solicited: false, override: true, tlla: null };
const NA_NO_TLLA_FIXTURE = fixture([
  '525400123456 feffffffffff 86dd',
  '60000000 0018 3a ff',
  'fe800000000000000000000000000001 fe80000000000000505400fffe123456',
  '88 00 d86b 20000000', // R=0 S=0 O=1
  'fe800000000000000000000000000001',
]);

const SERVER_DUID = duidUuid(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
const CLIENT_DUID = Buffer.from('00030001525400123456', 'hex'); // DUID-LL, Ethernet
const DHCP6_INPUT = {
  srcMac: ROUTER_MAC,
  srcIp: 'fe80::1',
  dstMac: VM_MAC,
  dstIp: VM_LL,
  dstPort: 546,
  transactionId: 0x123456,
  clientId: CLIENT_DUID,
  serverDuid: SERVER_DUID,
  dnsServers: ['2001:db8::53'],
  domains: ['example.com'],
  refreshTime: 86400,
};
const DHCP6_FIXTURE = fixture([
  '525400123456 feffffffffff 86dd',
  '60000000 005d 11 40', // payload 93, UDP, hop limit 64
  'fe800000000000000000000000000001 fe80000000000000505400fffe123456',
  '0223 0222 005d 5b8a', // 547 -> 546, length 93, checksum
  '07 123456', // Reply, transaction id
  '0002 0012 0004 00112233445566778899aabbccddeeff', // Server ID: DUID-UUID
  '0001 000a 00030001525400123456', // Client ID
  '0017 0010 20010db8000000000000000000000053', // DNS servers
  '0018 000d 07 6578616d706c65 03 636f6d 00', // domain search list
  '0020 0004 00015180', // information refresh time 86400
]);

const DHCP4_INPUT = {
  srcMac: ROUTER_MAC,
  serverIp: '192.0.2.1',
  dstMac: VM_MAC,
  dstIp: '192.0.2.11',
  msgType: 5,
  xid: 0xdeadbeef,
  flags: 0,
  ciaddr: '0.0.0.0',
  yiaddr: '192.0.2.11',
  chaddr: VM_MAC,
  subnetMask: '255.255.255.0',
  router: '192.0.2.1',
  dnsServers: ['192.0.2.53', '192.0.2.54'],
  domain: 'example.com',
  mtu: 1500,
  hostname: 'vm1',
  leaseTime: 86400,
  renewalTime: 43200,
  rebindingTime: 75600,
};
const DHCP4_FIXTURE = fixture([
  '525400123456 feffffffffff 0800',
  '4500 0154 0000 0000 40 11 f58c c0000201 c000020b', // total 340, no DF, TTL 64, UDP, header checksum
  '0043 0044 0140 a4b1', // 67 -> 68, length 320, checksum
  '02 01 06 00 deadbeef 0000 0000', // BOOTREPLY, Ethernet, hlen 6, hops, xid, secs, flags
  '00000000 c000020b 00000000 00000000', // ciaddr, yiaddr, siaddr, giaddr
  '525400123456' + '00'.repeat(10), // chaddr
  '00'.repeat(64 + 128), // sname, file
  '63825363', // magic cookie
  '3501 05', // ACK
  '3604 c0000201', // server id
  '3304 00015180 3a04 0000a8c0 3b04 00012750', // lease 86400, T1 43200, T2 75600
  '0104 ffffff00 0304 c0000201 0608 c0000235 c0000236', // mask, router, DNS
  '0f0b 6578616d706c652e636f6d', // "example.com"
  '1a02 05dc 0c03 766d31 ff', // MTU 1500, hostname "vm1", end
]);

const NAK_INPUT = {
  ...DHCP4_INPUT,
  dstMac: 'ff:ff:ff:ff:ff:ff',
  dstIp: '255.255.255.255',
  msgType: 6,
  xid: 0x01020304,
  flags: 0x8000,
  ciaddr: '192.0.2.11',
};
const NAK_FIXTURE = fixture([
  'ffffffffffff feffffffffff 0800',
  '4500 0148 0000 0000 40 11 b7a4 c0000201 ffffffff',
  '0043 0044 0134 2f5c',
  '02 01 06 00 01020304 0000 8000', // broadcast flag
  '00'.repeat(16), // ciaddr, yiaddr zero in a NAK; siaddr, giaddr
  '525400123456' + '00'.repeat(10),
  '00'.repeat(192),
  '63825363 3501 06 3604 c0000201 ff', // NAK, server id, end: nothing else in a NAK
  '00'.repeat(50), // to the 300-byte BOOTP minimum
]);

// ---------------------------------------------------------------------------------------------
// Client frames, built here with a local RFC 1071 sum (not the one in src/ndp/wire.ts).

function sum16(...parts: Buffer[]): number {
  const all = Buffer.concat([...parts, Buffer.alloc(Buffer.concat(parts).length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
const mac = (m: string): Buffer => Buffer.from(m.replace(/:/g, ''), 'hex');
const ip = (a: string): Buffer => Buffer.from(ipaddr.parse(a).toByteArray());

function ether(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const f = Buffer.concat([mac(dst), mac(src), Buffer.from([type >> 8, type & 0xff]), payload]);
  return f.length >= 60 ? f : Buffer.concat([f, Buffer.alloc(60 - f.length)]);
}

/** IPv6 header with the given fields (checksums filled in later by fixChecksums). */
function ipv6(src: string, dst: string, nextHeader: number, hopLimit: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = nextHeader;
  h[7] = hopLimit;
  ip(src).copy(h, 8);
  ip(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

function ipv4(src: string, dst: string, payload: Buffer, options: Buffer = Buffer.alloc(0), frag = 0): Buffer {
  const h = Buffer.alloc(20 + options.length);
  h[0] = 0x40 | ((20 + options.length) / 4);
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(frag, 6);
  h[8] = 64;
  h[9] = 17;
  ip(src).copy(h, 12);
  ip(dst).copy(h, 16);
  options.copy(h, 20);
  return Buffer.concat([h, payload]);
}

const udp = (srcPort: number, dstPort: number, payload: Buffer): Buffer => {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
};

/**
 * A copy of `frame` with the IPv4 header, ICMPv6 and UDP checksums recomputed from its current bytes
 * (so a mutated message still passes the checksums and reaches the option parsers). Options:
 * zeroUdp sends IPv4 UDP without a checksum.
 */
function fixChecksums(frame: Buffer, o: { zeroUdp?: boolean } = {}): Buffer {
  const f = Buffer.from(frame);
  const type = f.readUInt16BE(12);
  if (type === 0x86dd && f.length >= 54) {
    const plen = Math.min(f.readUInt16BE(18), f.length - 54);
    const msg = f.subarray(54, 54 + plen);
    const nh = f[20]!;
    const at = nh === 58 ? 2 : nh === 17 ? 6 : -1;
    if (at < 0 || msg.length < at + 2) return f;
    const len = nh === 17 && msg.readUInt16BE(4) >= 8 && msg.readUInt16BE(4) <= msg.length ? msg.readUInt16BE(4) : msg.length;
    const m = msg.subarray(0, len);
    m.writeUInt16BE(0, at);
    const pseudo = Buffer.concat([f.subarray(22, 54), Buffer.from([len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, 0, 0, 0, nh])]);
    const sum = sum16(pseudo, m);
    m.writeUInt16BE(nh === 17 && sum === 0 ? 0xffff : sum, at);
    return f;
  }
  if (type === 0x0800 && f.length >= 34) {
    const ihl = (f[14]! & 0x0f) * 4;
    if (ihl < 20 || 14 + ihl > f.length) return f;
    f.writeUInt16BE(0, 24);
    f.writeUInt16BE(sum16(f.subarray(14, 14 + ihl)), 24);
    const total = Math.min(f.readUInt16BE(16), f.length - 14);
    const d = f.subarray(14 + ihl, 14 + Math.max(ihl, total));
    if (d.length < 8) return f;
    const len = d.readUInt16BE(4) >= 8 && d.readUInt16BE(4) <= d.length ? d.readUInt16BE(4) : d.length;
    d.writeUInt16BE(0, 6);
    if (o.zeroUdp) return f;
    const pseudo = Buffer.concat([f.subarray(26, 34), Buffer.from([0, 17, len >> 8, len & 0xff])]);
    const sum = sum16(pseudo, d.subarray(0, len));
    d.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
    return f;
  }
  return f;
}

const sllaoOption = (m: string): Buffer => Buffer.concat([Buffer.from([1, 1]), mac(m)]);

function rsFrame(o: { srcIp: string; sllao?: string; options?: Buffer; hopLimit?: number; dstIp?: string }): Buffer {
  const options = o.options ?? (o.sllao ? sllaoOption(o.sllao) : Buffer.alloc(0));
  const msg = Buffer.concat([Buffer.from([133, 0, 0, 0, 0, 0, 0, 0]), options]);
  return fixChecksums(ether('33:33:00:00:00:02', VM_MAC, 0x86dd, ipv6(o.srcIp, o.dstIp ?? 'ff02::2', 58, o.hopLimit ?? 255, msg)));
}

function nsFrame(o: { srcIp: string; dstIp: string; target: string; sllao?: string; options?: Buffer }): Buffer {
  const options = o.options ?? (o.sllao ? sllaoOption(o.sllao) : Buffer.alloc(0));
  const msg = Buffer.concat([Buffer.from([135, 0, 0, 0, 0, 0, 0, 0]), ip(o.target), options]);
  const dstMac = o.dstIp.startsWith('ff02') ? `33:33:${hex(ip(o.dstIp).subarray(12)).match(/../g)!.join(':')}` : ROUTER_MAC;
  return fixChecksums(ether(dstMac, VM_MAC, 0x86dd, ipv6(o.srcIp, o.dstIp, 58, 255, msg)));
}

const opt6 = (code: number, data: Buffer): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff, data.length >> 8, data.length & 0xff]), data]);

/** DHCPv6 Information-Request (11) with Client ID, Elapsed Time and ORO [23, 24, 32]. */
function infoRequestFrame(options?: Buffer): Buffer {
  const body =
    options ??
    Buffer.concat([opt6(1, CLIENT_DUID), opt6(8, Buffer.from([0, 0])), opt6(6, Buffer.from([0, 23, 0, 24, 0, 32]))]);
  const msg = Buffer.concat([Buffer.from([11, 0xab, 0xcd, 0xef]), body]);
  return fixChecksums(ether('33:33:00:01:00:02', VM_MAC, 0x86dd, ipv6(VM_LL, 'ff02::1:2', 17, 1, udp(546, 547, msg))));
}

const opt4 = (code: number, data: Buffer | number[]): Buffer => Buffer.concat([Buffer.from([code, data.length]), Buffer.from(data)]);
const CLIENT_ID4 = Buffer.from('01525400123456', 'hex');
const PARAMS = [1, 3, 6, 15, 26, 12, 119];

function bootRequest(o: { xid: number; flags: number; ciaddr?: string; options: Buffer[] }): Buffer {
  const b = Buffer.alloc(236);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(o.xid, 4);
  b.writeUInt16BE(o.flags, 10);
  ip(o.ciaddr ?? '0.0.0.0').copy(b, 12);
  mac(VM_MAC).copy(b, 28);
  return Buffer.concat([b, Buffer.from([99, 130, 83, 99]), ...o.options, Buffer.from([255])]);
}

function dhcp4Frame(bootp: Buffer, o: { src?: string; dst?: string; ipOptions?: Buffer; frag?: number; zeroUdp?: boolean } = {}): Buffer {
  const packet = ipv4(o.src ?? '0.0.0.0', o.dst ?? '255.255.255.255', udp(68, 67, bootp), o.ipOptions, o.frag);
  return fixChecksums(ether(o.dst && o.dst !== '255.255.255.255' ? ROUTER_MAC : 'ff:ff:ff:ff:ff:ff', VM_MAC, 0x0800, packet), o);
}

const DISCOVER = dhcp4Frame(
  bootRequest({
    xid: 0x3903f326,
    flags: 0x8000,
    options: [opt4(53, [1]), opt4(61, CLIENT_ID4), opt4(57, [0x05, 0xdc]), opt4(55, PARAMS), opt4(12, Buffer.from('vm1'))],
  }),
);
const REQUEST = dhcp4Frame(
  bootRequest({
    xid: 0x3903f326,
    flags: 0,
    options: [opt4(53, [3]), opt4(61, CLIENT_ID4), opt4(50, ip('192.0.2.11')), opt4(54, ip('192.0.2.1')), opt4(12, Buffer.from('vm1')), opt4(55, PARAMS)],
  }),
);
const INFORM = dhcp4Frame(
  bootRequest({ xid: 0x11223344, flags: 0, ciaddr: '192.0.2.11', options: [opt4(53, [8]), opt4(55, [1, 3, 6])] }),
  { src: '192.0.2.11', dst: '192.0.2.1' },
);

const CLIENT_FRAMES: [string, Buffer][] = [
  ['RS from EUI-64 link-local with SLLAO', rsFrame({ srcIp: VM_LL, sllao: VM_MAC })],
  ['RS from ::', rsFrame({ srcIp: '::' })],
  ['RS from stable-privacy link-local', rsFrame({ srcIp: VM_LL_PRIVACY, sllao: VM_MAC })],
  ['NS with SLLAO', nsFrame({ srcIp: VM_LL, dstIp: 'ff02::1:ff00:1', target: 'fe80::1', sllao: VM_MAC })],
  ['NS without SLLAO (NUD)', nsFrame({ srcIp: '2001:db8:1::11', dstIp: '2001:db8:1::1', target: '2001:db8:1::1' })],
  ['NS for DAD', nsFrame({ srcIp: '::', dstIp: 'ff02::1:ff12:3456', target: VM_LL })],
  ['DHCPv6 Information-Request', infoRequestFrame()],
  ['DHCPDISCOVER', DISCOVER],
  ['DHCPREQUEST', REQUEST],
  ['DHCPINFORM', INFORM],
];

const ENCODED: [string, Buffer][] = [
  ['RA', routerAdvertisement(RA_INPUT)],
  ['NA', neighborAdvertisement(NA_INPUT)],
  ['NA without TLLA', neighborAdvertisement(NA_NO_TLLA_INPUT)],
  ['DHCPv6 Reply', dhcp6Reply(DHCP6_INPUT)],
  ['DHCPACK', dhcp4Reply(DHCP4_INPUT)],
  ['DHCPNAK', dhcp4Reply(NAK_INPUT)],
];

// ---------------------------------------------------------------------------------------------

t.test('encoders: byte-exact', async (t) => {
  t.equal(hex(routerAdvertisement(RA_INPUT)), RA_FIXTURE, 'router advertisement');
  t.equal(hex(neighborAdvertisement(NA_INPUT)), NA_FIXTURE, 'solicited NA with TLLA');
  t.equal(hex(neighborAdvertisement(NA_NO_TLLA_INPUT)), NA_NO_TLLA_FIXTURE, 'NA without TLLA');
  t.equal(hex(dhcp6Reply(DHCP6_INPUT)), DHCP6_FIXTURE, 'DHCPv6 reply');
  t.equal(hex(dhcp4Reply(DHCP4_INPUT)), DHCP4_FIXTURE, 'DHCPACK');
  t.equal(hex(dhcp4Reply(NAK_INPUT)), NAK_FIXTURE, 'DHCPNAK');
  t.equal(hex(duidUuid(Buffer.from('00112233445566778899aabbccddeeff', 'hex'))), '000400112233445566778899aabbccddeeff');
  t.equal(dhcp4Reply(NAK_INPUT).length, 14 + 20 + 8 + 300, 'BOOTP padded to 300 bytes');
});

t.test('encoders: optional parts', async (t) => {
  const bare = routerAdvertisement({ ...RA_INPUT, managed: true, other: true, prefixes: [], mtu: undefined, rdnss: undefined, dnssl: undefined });
  t.equal(bare.length, 14 + 40 + 16 + 8, 'only the SLLAO');
  t.equal(bare[14 + 40 + 5], 0xc0, 'M and O');
  t.equal(hex(bare.subarray(14 + 40 + 16)), '0101feffffffffff');
  const noClient = dhcp6Reply({ ...DHCP6_INPUT, clientId: null, dnsServers: [], domains: [], refreshTime: undefined });
  t.equal(hex(noClient.subarray(14 + 40 + 8)), '07123456' + '00020012' + hex(SERVER_DUID), 'server id only');
  const inform = dhcp4Reply({ ...DHCP4_INPUT, leaseTime: null, renewalTime: undefined, rebindingTime: undefined, subnetMask: null, router: null, dnsServers: [], domain: null, mtu: null, hostname: null });
  const opts = inform.subarray(14 + 20 + 8 + 240);
  t.equal(hex(opts.subarray(0, 10)), '350105' + '3604c0000201' + 'ff', 'ACK to an INFORM: 53, 54, end');
  // DNSSL padding: 2 + 6 + 13 ("example.com") = 21 -> 24
  const one = routerAdvertisement({ ...RA_INPUT, prefixes: [], mtu: undefined, rdnss: undefined, dnssl: { lifetime: 1, domains: ['example.com.'] } });
  t.equal(hex(one.subarray(14 + 40 + 16 + 8)), '1f03' + '0000' + '00000001' + '076578616d706c6503636f6d00' + '000000');
});

t.test('encoders reject programmer errors', async (t) => {
  t.throws(() => routerAdvertisement({ ...RA_INPUT, dnssl: { lifetime: 1, domains: [`${'a'.repeat(64)}.example`] } }), /63/);
  t.doesNotThrow(() => routerAdvertisement({ ...RA_INPUT, dnssl: { lifetime: 1, domains: [`${'a'.repeat(63)}.example`] } }));
  t.throws(() => routerAdvertisement({ ...RA_INPUT, dnssl: { lifetime: 1, domains: ['a..b'] } }), /empty label/);
  t.throws(() => routerAdvertisement({ ...RA_INPUT, dnssl: { lifetime: 1, domains: [] } }));
  t.throws(() => routerAdvertisement({ ...RA_INPUT, rdnss: { lifetime: 1, servers: [] } }));
  t.throws(() => routerAdvertisement({ ...RA_INPUT, rdnss: { lifetime: 1, servers: ['192.0.2.1'] } }), /IPv6/);
  t.throws(() => routerAdvertisement({ ...RA_INPUT, srcIp: '2001:db8::1' }), /link-local/);
  t.throws(() => routerAdvertisement({ ...RA_INPUT, routerLifetime: 70000 }));
  t.throws(() => routerAdvertisement({ ...RA_INPUT, mtu: 1000 }));
  t.throws(() => routerAdvertisement({ ...RA_INPUT, prefixes: [{ ...RA_INPUT.prefixes[0]!, prefix: '2001:db8:1::1' }] }), /prefix/);
  t.throws(() => routerAdvertisement({ ...RA_INPUT, prefixes: [{ ...RA_INPUT.prefixes[0]!, preferredLifetime: 86401 }] }), /preferred/);
  t.throws(() => routerAdvertisement({ ...RA_INPUT, srcMac: '52:54:00:12:34' }), /MAC/);
  t.throws(() => neighborAdvertisement({ ...NA_INPUT, target: 'ff02::1' }), /multicast/);
  t.throws(() => dhcp6Reply({ ...DHCP6_INPUT, transactionId: 0x1000000 }));
  t.throws(() => dhcp6Reply({ ...DHCP6_INPUT, serverDuid: Buffer.alloc(2) }));
  t.throws(() => dhcp6Reply({ ...DHCP6_INPUT, domains: ['-bad label!'] }));
  t.throws(() => duidUuid(Buffer.alloc(15)));
  t.throws(() => dhcp4Reply({ ...DHCP4_INPUT, msgType: 3 }), /reply type/);
  t.throws(() => dhcp4Reply({ ...DHCP4_INPUT, subnetMask: '255.0.255.0' }), /mask/);
  t.throws(() => dhcp4Reply({ ...DHCP4_INPUT, yiaddr: '10.1' }), /IPv4/);
  t.throws(() => dhcp4Reply({ ...DHCP4_INPUT, hostname: 'vm 1' }), /hostname/);
  t.throws(() => dhcp4Reply({ ...DHCP4_INPUT, dnsServers: Array.from({ length: 64 }, (_, i) => `192.0.2.${i}`) }), /too long/);
  t.throws(() => dhcp4Reply({ ...DHCP4_INPUT, dnsServers: Array.from({ length: 60 }, (_, i) => `192.0.2.${i}`), hostname: 'a'.repeat(20) }), /548/);
});

t.test('unsolicitedNa is a thin wrapper, byte-identical to before', async (t) => {
  // the fixture of test/unit/frames.test.ts, from before unsolicitedNa was rewritten on neighborAdvertisement
  const before = fixture([
    '333300000001 525400123456 86dd',
    '60000000 0020 3a ff',
    'fe800000000000000000000000000001 ff020000000000000000000000000001',
    '88 00 a397 20000000',
    '20010db8000000000000000000000011',
    '02 01 525400123456',
  ]);
  t.equal(hex(unsolicitedNa(VM_MAC, 'fe80::1', '2001:db8::11')), before);
  for (const [m, src, target] of [
    [VM_MAC, 'fe80::1', '2001:db8::11'],
    ['fe:ff:ff:ff:ff:ff', 'fe80::5054:ff:feaa:bbcc', '2001:db8:ffff::ffff'],
    ['02:00:00:00:00:01', VM_LL_PRIVACY, '2001:db8::1:0:0:1'],
  ] as const) {
    const direct = neighborAdvertisement({
      srcMac: m,
      srcIp: src,
      dstMac: '33:33:00:00:00:01',
      dstIp: 'ff02::1',
      target,
      router: false,
      solicited: false,
      override: true,
      tlla: m,
    });
    t.equal(hex(unsolicitedNa(m, src, target)), hex(direct), `${src} -> ${target}`);
  }
});

// ---------------------------------------------------------------------------------------------
// tcpdump as an independent decoder

function pcap(frames: Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16); // snaplen
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const records = frames.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(i + 1, 0); // seconds: packet i prints as "<i+1>.000000" with -tt
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([header, ...records]);
}

/** tcpdump's -vvv -e text of each frame, in order. */
function tcpdump(frames: Buffer[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ndp-codec-'));
  try {
    const file = join(dir, 'frames.pcap');
    writeFileSync(file, pcap(frames));
    const r = spawnSync('/usr/bin/tcpdump', ['-r', file, '-nn', '-vvv', '-e', '-tt'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tcpdump failed: ${r.stderr}`);
    return r.stdout.split(/^(?=\d+\.\d{6} )/m).filter((s) => s.trim() !== '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BAD_SUM = /bad cksum|bad udp cksum|bad icmp6 cksum|\[\|/i;

t.test('tcpdump decodes the encoded frames, checksums ok', { skip: !existsSync('/usr/bin/tcpdump') && 'no tcpdump' }, async (t) => {
  const expected: [string, (string | RegExp)[]][] = [
    [
      'RA',
      [
        'fe:ff:ff:ff:ff:ff > 33:33:00:00:00:01',
        'hlim 255',
        'fe80::1 > ff02::1: [icmp6 sum ok]',
        'router advertisement, length 144',
        'hop limit 64, Flags [other stateful]',
        'router lifetime 1800s, reachable time 0ms, retrans timer 0ms',
        'source link-address option (1), length 8 (1): fe:ff:ff:ff:ff:ff',
        'mtu option (5), length 8 (1):  1500',
        'prefix info option (3), length 32 (4): 2001:db8:1::/64, Flags [onlink, auto], valid time 86400s, pref. time 14400s',
        'rdnss option (25), length 40 (5):  lifetime 600s, addr: 2001:db8::53 addr: 2001:db8::54',
        'dnssl option (31), length 40 (5):  lifetime 600s, domain(s): example.com. vm.example.org.',
      ],
    ],
    [
      'NA',
      [
        'hlim 255',
        '[icmp6 sum ok]',
        'neighbor advertisement, length 32, tgt is 2001:db8:1::1, Flags [router, solicited]',
        'destination link-address option (2), length 8 (1): fe:ff:ff:ff:ff:ff',
      ],
    ],
    ['NA without TLLA', ['[icmp6 sum ok]', 'neighbor advertisement, length 24, tgt is fe80::1, Flags [override]']],
    [
      'DHCPv6 Reply',
      [
        'hlim 64, next-header UDP (17)',
        'fe80::1.547 > fe80::5054:ff:fe12:3456.546: [udp sum ok]',
        /dhcp6 reply \(xid=123456 /i,
        '(server-ID type 4)',
        '(client-ID hwaddr type 1 525400123456)',
        '(DNS-server 2001:db8::53)',
        '(DNS-search-list example.com.)',
        '(lifetime 86400)',
      ],
    ],
    [
      'DHCPACK',
      [
        'ttl 64, id 0, offset 0, flags [none], proto UDP (17), length 340',
        '192.0.2.1.67 > 192.0.2.11.68: [udp sum ok] BOOTP/DHCP, Reply, length 312, xid 0xdeadbeef',
        'Your-IP 192.0.2.11',
        'Client-Ethernet-Address 52:54:00:12:34:56',
        'DHCP-Message (53), length 1: ACK',
        'Server-ID (54), length 4: 192.0.2.1',
        'Lease-Time (51), length 4: 86400',
        'RN (58), length 4: 43200',
        'RB (59), length 4: 75600',
        'Subnet-Mask (1), length 4: 255.255.255.0',
        'Default-Gateway (3), length 4: 192.0.2.1',
        'Domain-Name-Server (6), length 8: 192.0.2.53,192.0.2.54',
        'Domain-Name (15), length 11: "example.com"',
        'MTU (26), length 2: 1500',
        'Hostname (12), length 3: "vm1"',
        'END (255)',
      ],
    ],
    ['DHCPNAK', ['[udp sum ok] BOOTP/DHCP, Reply, length 300', 'Flags [Broadcast]', 'DHCP-Message (53), length 1: NACK', 'Server-ID (54)']],
  ];
  const out = tcpdump(ENCODED.map(([, f]) => f));
  t.equal(out.length, ENCODED.length, 'one decode per frame');
  expected.forEach(([name, needles], i) => {
    t.equal(ENCODED[i]![0], name);
    const text = out[i] ?? '';
    for (const n of needles) {
      if (typeof n === 'string') t.ok(text.includes(n), `${name}: ${n}`, { text });
      else t.match(text, n, `${name}: ${n}`);
    }
    t.notMatch(text, BAD_SUM, `${name}: no bad checksum, not truncated`);
    t.match(text, /sum ok/, `${name}: checksum verified`);
  });
});

t.test('tcpdump decodes the client frames built by this test', { skip: !existsSync('/usr/bin/tcpdump') && 'no tcpdump' }, async (t) => {
  const expected: string[][] = [
    ['router solicitation', 'source link-address option (1), length 8 (1): 52:54:00:12:34:56', 'hlim 255'],
    [':: > ff02::2: [icmp6 sum ok] ICMP6, router solicitation, length 8'],
    ['fe80::1c2d:3e4f:5a6b:7c8d > ff02::2', 'router solicitation'],
    ['neighbor solicitation, length 32, who has fe80::1', 'source link-address option (1)'],
    ['2001:db8:1::11 > 2001:db8:1::1: [icmp6 sum ok] ICMP6, neighbor solicitation, length 24, who has 2001:db8:1::1'],
    [':: > ff02::1:ff12:3456: [icmp6 sum ok] ICMP6, neighbor solicitation, length 24, who has fe80::5054:ff:fe12:3456'],
    ['[udp sum ok] dhcp6 inf-req (xid=abcdef', '(client-ID hwaddr type 1 525400123456)', '(option-request DNS-server DNS-search-list lifetime)'],
    ['[udp sum ok] BOOTP/DHCP, Request', 'DHCP-Message (53), length 1: Discover', 'Hostname (12), length 3: "vm1"'],
    ['DHCP-Message (53), length 1: Request', 'Requested-IP (50), length 4: 192.0.2.11', 'Server-ID (54), length 4: 192.0.2.1'],
    ['192.0.2.11.68 > 192.0.2.1.67: [udp sum ok]', 'DHCP-Message (53), length 1: Inform', 'Client-IP 192.0.2.11'],
  ];
  const out = tcpdump(CLIENT_FRAMES.map(([, f]) => f));
  t.equal(out.length, CLIENT_FRAMES.length);
  expected.forEach((needles, i) => {
    const [name] = CLIENT_FRAMES[i]!;
    const text = out[i] ?? '';
    for (const n of needles) t.ok(text.includes(n), `${name}: ${n}`, { text });
    t.notMatch(text, BAD_SUM, `${name}: no bad checksum`);
    t.match(text, /sum ok/, `${name}: checksum verified`);
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips

t.test('decode: router solicitations', async (t) => {
  t.strictSame(decodeFrame(rsFrame({ srcIp: VM_LL, sllao: VM_MAC })), { kind: 'rs', srcMac: VM_MAC, srcIp: VM_LL, sllao: VM_MAC });
  t.strictSame(decodeFrame(rsFrame({ srcIp: '::' })), { kind: 'rs', srcMac: VM_MAC, srcIp: '::', sllao: null }, 'from ::');
  t.strictSame(
    decodeFrame(rsFrame({ srcIp: VM_LL_PRIVACY, sllao: '02:11:22:33:44:55' })),
    { kind: 'rs', srcMac: VM_MAC, srcIp: VM_LL_PRIVACY, sllao: '02:11:22:33:44:55' },
    'stable-privacy link-local, SLLAO differing from the Ethernet source',
  );
  t.strictSame(decodeFrame(rsFrame({ srcIp: VM_LL_PRIVACY })), { kind: 'rs', srcMac: VM_MAC, srcIp: VM_LL_PRIVACY, sllao: null }, 'no SLLAO');
  // an unknown option (type 14, nonce) is skipped; the SLLAO after it is found
  const nonce = Buffer.from([14, 1, 1, 2, 3, 4, 5, 6]);
  t.strictSame(decodeFrame(rsFrame({ srcIp: VM_LL, options: Buffer.concat([nonce, sllaoOption(VM_MAC)]) }))?.kind, 'rs');
  t.equal((decodeFrame(rsFrame({ srcIp: VM_LL, options: Buffer.concat([nonce, sllaoOption(VM_MAC)]) })) as { sllao: string }).sllao, VM_MAC);
  t.strictSame(decodeFrame(rsFrame({ srcIp: VM_LL, sllao: VM_MAC, dstIp: 'fe80::1' }))?.kind, 'rs', 'unicast to the router');
});

t.test('decode: neighbour solicitations', async (t) => {
  t.strictSame(decodeFrame(nsFrame({ srcIp: VM_LL, dstIp: 'ff02::1:ff00:1', target: 'fe80::1', sllao: VM_MAC })), {
    kind: 'ns',
    srcMac: VM_MAC,
    srcIp: VM_LL,
    dstIp: 'ff02::1:ff00:1',
    target: 'fe80::1',
    sllao: VM_MAC,
  });
  t.strictSame(
    decodeFrame(nsFrame({ srcIp: '2001:db8:1::11', dstIp: '2001:db8:1::1', target: '2001:db8:1::1' })),
    { kind: 'ns', srcMac: VM_MAC, srcIp: '2001:db8:1::11', dstIp: '2001:db8:1::1', target: '2001:db8:1::1', sllao: null },
    'without SLLAO',
  );
  t.strictSame(
    decodeFrame(nsFrame({ srcIp: '::', dstIp: 'ff02::1:ff12:3456', target: VM_LL })),
    { kind: 'ns', srcMac: VM_MAC, srcIp: '::', dstIp: 'ff02::1:ff12:3456', target: VM_LL, sllao: null },
    'DAD',
  );
  t.strictSame(
    decodeFrame(nsFrame({ srcIp: '2001:DB8:1:0:0:0:0:11', dstIp: '2001:db8:1::1', target: '2001:0db8:0001::0001' }))?.kind,
    'ns',
  );
  const d = decodeFrame(nsFrame({ srcIp: VM_LL, dstIp: 'ff02::1:ff00:1', target: '2001:db8:0:0:1:0:0:1' })) as { target: string };
  t.equal(d.target, '2001:db8::1:0:0:1', 'RFC 5952 text');
});

t.test('decode: DHCPv6 Information-Request', async (t) => {
  const d = decodeFrame(infoRequestFrame());
  t.strictSame(d, {
    kind: 'dhcp6',
    srcMac: VM_MAC,
    srcIp: VM_LL,
    srcPort: 546,
    msgType: 11,
    transactionId: 0xabcdef,
    clientId: CLIENT_DUID,
    oro: [23, 24, 32],
  });
  t.strictSame(decodeFrame(infoRequestFrame(Buffer.alloc(0))), {
    kind: 'dhcp6',
    srcMac: VM_MAC,
    srcIp: VM_LL,
    srcPort: 546,
    msgType: 11,
    transactionId: 0xabcdef,
    clientId: null,
    oro: [],
  }, 'no options');
});

t.test('decode: DHCPv4 DISCOVER, REQUEST, INFORM', async (t) => {
  t.strictSame(decodeFrame(DISCOVER), {
    kind: 'dhcp4',
    srcMac: VM_MAC,
    msgType: 1,
    xid: 0x3903f326,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    chaddr: VM_MAC,
    requestedIp: null,
    serverId: null,
    paramList: PARAMS,
    clientId: CLIENT_ID4,
    hostname: 'vm1',
  });
  t.strictSame(decodeFrame(REQUEST), {
    kind: 'dhcp4',
    srcMac: VM_MAC,
    msgType: 3,
    xid: 0x3903f326,
    flags: 0,
    ciaddr: '0.0.0.0',
    chaddr: VM_MAC,
    requestedIp: '192.0.2.11',
    serverId: '192.0.2.1',
    paramList: PARAMS,
    clientId: CLIENT_ID4,
    hostname: 'vm1',
  });
  const inform = {
    kind: 'dhcp4',
    srcMac: VM_MAC,
    msgType: 8,
    xid: 0x11223344,
    flags: 0,
    ciaddr: '192.0.2.11',
    chaddr: VM_MAC,
    requestedIp: null,
    serverId: null,
    paramList: [1, 3, 6],
    clientId: null,
    hostname: null,
  };
  t.strictSame(decodeFrame(INFORM), inform);
  const unsummed = dhcp4Frame(bootRequest({ xid: 0x11223344, flags: 0, ciaddr: '192.0.2.11', options: [opt4(53, [8]), opt4(55, [1, 3, 6])] }), {
    src: '192.0.2.11',
    dst: '192.0.2.1',
    zeroUdp: true,
  });
  t.equal(unsummed.readUInt16BE(14 + 20 + 6), 0);
  t.strictSame(decodeFrame(unsummed), inform, 'UDP checksum 0 (none) over IPv4');
  // pad options, a split option concatenated (RFC 3396), a NUL-terminated hostname
  const odd = dhcp4Frame(
    bootRequest({
      xid: 1,
      flags: 0,
      options: [Buffer.from([0, 0]), opt4(53, [1]), opt4(55, [1, 3]), Buffer.from([0]), opt4(55, [6]), opt4(12, Buffer.from('vm1\0'))],
    }),
  );
  const d = decodeFrame(odd) as { paramList: number[]; hostname: string };
  t.strictSame(d.paramList, [1, 3, 6]);
  t.equal(d.hostname, 'vm1');
  const ctl = dhcp4Frame(bootRequest({ xid: 1, flags: 0, options: [opt4(53, [1]), opt4(12, Buffer.from('vm\n1'))] }));
  t.equal((decodeFrame(ctl) as { hostname: string | null }).hostname, null, 'non-printable hostname dropped');
  // the frames our own encoder makes are replies and never decode as requests
  for (const [name, f] of ENCODED) t.equal(decodeFrame(f), null, `${name} is not a request`);
});

// ---------------------------------------------------------------------------------------------
// Hostile input

t.test('decode rejects malformed and non-conforming frames', async (t) => {
  const rs = rsFrame({ srcIp: VM_LL, sllao: VM_MAC });
  const flip = (f: Buffer, at: number, value?: number): Buffer => {
    const c = Buffer.from(f);
    c[at] = value ?? c[at]! ^ 0x01;
    return c;
  };
  const withFix = (f: Buffer, at: number, value: number): Buffer => fixChecksums(flip(f, at, value));
  // ND
  t.equal(decodeFrame(flip(rs, 14 + 40 + 2)), null, 'bad ICMPv6 checksum');
  t.equal(decodeFrame(rsFrame({ srcIp: VM_LL, sllao: VM_MAC, hopLimit: 254 })), null, 'RS hop limit 254');
  t.equal(decodeFrame(rsFrame({ srcIp: VM_LL, options: Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]) })), null, 'zero-length option');
  t.equal(decodeFrame(rsFrame({ srcIp: VM_LL, options: Buffer.from([14, 2, 0, 0, 0, 0, 0, 0]) })), null, 'option past the end');
  t.equal(decodeFrame(rsFrame({ srcIp: VM_LL, options: Buffer.from([1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) })), null, '16-byte SLLAO');
  t.equal(decodeFrame(rsFrame({ srcIp: VM_LL, options: Buffer.from([14]) })), null, 'half an option header');
  t.equal(decodeFrame(rsFrame({ srcIp: '::', sllao: VM_MAC })), null, 'SLLAO from ::');
  t.equal(decodeFrame(rsFrame({ srcIp: '2001:db8::1', sllao: VM_MAC })), null, 'RS from a global address');
  t.equal(decodeFrame(rsFrame({ srcIp: '::1' })), null, 'from loopback');
  t.equal(decodeFrame(rsFrame({ srcIp: 'ff02::1' })), null, 'from multicast');
  t.equal(decodeFrame(withFix(rs, 14 + 40 + 1, 1)), null, 'RS code 1');
  const ns = nsFrame({ srcIp: VM_LL, dstIp: 'ff02::1:ff00:1', target: 'fe80::1', sllao: VM_MAC });
  t.equal(decodeFrame(flip(ns, 14 + 40 + 20)), null, 'NS bad checksum');
  t.equal(decodeFrame(withFix(ns, 14 + 7, 254)), null, 'NS hop limit 254');
  t.equal(decodeFrame(nsFrame({ srcIp: VM_LL, dstIp: 'ff02::1:ff00:1', target: 'ff02::1' })), null, 'multicast target');
  t.equal(decodeFrame(nsFrame({ srcIp: VM_LL, dstIp: 'ff02::1:ff00:1', target: '::ffff:192.0.2.1' })), null, 'IPv4-mapped target');
  t.equal(decodeFrame(nsFrame({ srcIp: '::', dstIp: 'ff02::1', target: VM_LL })), null, 'DAD not to a solicited-node group');
  t.equal(decodeFrame(nsFrame({ srcIp: '::', dstIp: 'ff02::1:ff12:3456', target: VM_LL, sllao: VM_MAC })), null, 'DAD with SLLAO');
  t.equal(decodeFrame(nsFrame({ srcIp: VM_LL, dstIp: 'fe80::1', target: 'fe80::1', options: Buffer.from([1, 0]) })), null, 'NS zero-length option');
  t.equal(decodeFrame(nsFrame({ srcIp: VM_LL, dstIp: 'fe80::1', target: 'fe80::1', options: Buffer.from([2, 9, 0, 0, 0, 0, 0, 0]) })), null, 'NS option past the end');
  const shortNs = fixChecksums(ether(ROUTER_MAC, VM_MAC, 0x86dd, ipv6(VM_LL, 'fe80::1', 58, 255, Buffer.from([135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80]))));
  t.equal(decodeFrame(shortNs), null, 'NS shorter than 24 bytes');
  // IPv6
  const longer = Buffer.from(rs);
  longer.writeUInt16BE(longer.readUInt16BE(18) + 1, 18);
  t.equal(decodeFrame(longer), null, 'IPv6 payload length past the end');
  t.equal(decodeFrame(withFix(rs, 14, 0x40)), null, 'IP version 4 in an IPv6 ethertype');
  t.equal(decodeFrame(withFix(rs, 6, 0x53)), null, 'multicast Ethernet source');
  const hbh = fixChecksums(ether('33:33:00:00:00:02', VM_MAC, 0x86dd, ipv6(VM_LL, 'ff02::2', 0, 255, Buffer.concat([Buffer.from([58, 0, 1, 4, 0, 0, 0, 0]), Buffer.from([133, 0, 0, 0, 0, 0, 0, 0])]))));
  t.equal(decodeFrame(hbh), null, 'hop-by-hop extension header');
  const vlan = Buffer.concat([rs.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x05]), rs.subarray(12)]);
  t.equal(decodeFrame(vlan), null, '802.1Q tag');
  t.equal(decodeFrame(Buffer.alloc(0)), null, 'empty');
  t.equal(decodeFrame(Buffer.alloc(13)), null, 'shorter than an Ethernet header');
  // DHCPv6
  const ir = infoRequestFrame();
  t.equal(decodeFrame(flip(ir, ir.length - 1)), null, 'DHCPv6 bad UDP checksum');
  const zero6 = Buffer.from(ir);
  zero6.writeUInt16BE(0, 14 + 40 + 6);
  t.equal(decodeFrame(zero6), null, 'UDP checksum 0 over IPv6');
  t.equal(decodeFrame(withFix(ir, 14 + 40 + 3, 0x24)), null, 'to port 548');
  t.equal(decodeFrame(infoRequestFrame(Buffer.from([0, 1, 0, 20, 0, 3, 0, 1]))), null, 'DHCPv6 option past the end');
  t.equal(decodeFrame(infoRequestFrame(Buffer.from([0, 6]))), null, 'half an option header');
  t.equal(decodeFrame(infoRequestFrame(opt6(6, Buffer.from([0, 23, 0])))), null, 'odd ORO');
  t.equal(decodeFrame(infoRequestFrame(opt6(1, Buffer.from([0, 3])))), null, 'DUID too short');
  const udpLong = Buffer.from(ir);
  udpLong.writeUInt16BE(udpLong.readUInt16BE(14 + 40 + 4) + 2, 14 + 40 + 4);
  t.equal(decodeFrame(fixChecksums(udpLong)), null, 'UDP length past the end');
  const relay = fixChecksums(ether('33:33:00:01:00:02', VM_MAC, 0x86dd, ipv6(VM_LL, 'ff02::1:2', 17, 1, udp(547, 547, Buffer.concat([Buffer.from([12, 0]), Buffer.alloc(32)])))));
  t.equal(decodeFrame(relay), null, 'relay-forward');
  const fromUnspecified = fixChecksums(ether('33:33:00:01:00:02', VM_MAC, 0x86dd, ipv6('::', 'ff02::1:2', 17, 1, udp(546, 547, Buffer.from([11, 0, 0, 1])))));
  t.equal(decodeFrame(fromUnspecified), null, 'DHCPv6 from ::');
  // DHCPv4
  const ipBad = flip(DISCOVER, 14 + 10);
  t.equal(decodeFrame(ipBad), null, 'bad IPv4 header checksum');
  t.equal(decodeFrame(flip(DISCOVER, DISCOVER.length - 20)), null, 'bad UDP checksum');
  const discover = (options: Buffer[], ipo: Parameters<typeof dhcp4Frame>[1] = {}): Buffer =>
    dhcp4Frame(bootRequest({ xid: 1, flags: 0, options }), ipo);
  t.equal(decodeFrame(discover([opt4(53, [1])], { ipOptions: Buffer.from([1, 1, 1, 0]) })), null, 'IPv4 options');
  t.equal(decodeFrame(discover([opt4(53, [1])], { frag: 0x2000 })), null, 'first fragment (MF)');
  t.equal(decodeFrame(discover([opt4(53, [1])], { frag: 0x0001 })), null, 'later fragment');
  t.ok(decodeFrame(discover([opt4(53, [1])], { frag: 0x4000 })), 'DF is fine');
  t.equal(decodeFrame(discover([])), null, 'no option 53');
  t.equal(decodeFrame(discover([opt4(53, [1, 1])])), null, 'option 53 of 2 bytes');
  t.equal(decodeFrame(discover([opt4(53, [1]), opt4(50, [192, 0, 2])])), null, 'option 50 of 3 bytes');
  t.equal(decodeFrame(discover([opt4(53, [1]), opt4(61, [1])])), null, 'client id of 1 byte');
  t.equal(decodeFrame(discover([opt4(53, [1]), Buffer.from([12, 40, 0x41])])), null, 'option past the end');
  const cut = bootRequest({ xid: 1, flags: 0, options: [opt4(53, [1]), Buffer.from([55])] });
  t.equal(decodeFrame(dhcp4Frame(cut.subarray(0, cut.length - 1))), null, 'option code without length at the end');
  t.ok(decodeFrame(dhcp4Frame(bootRequest({ xid: 1, flags: 0, options: [opt4(53, [1])] }).subarray(0, 243))), 'missing end option tolerated');
  const boot = bootRequest({ xid: 1, flags: 0, options: [opt4(53, [1])] });
  const badBoot = (at: number, v: number): Buffer => {
    const b = Buffer.from(boot);
    b[at] = v;
    return dhcp4Frame(b);
  };
  t.equal(decodeFrame(badBoot(0, 2)), null, 'op BOOTREPLY');
  t.equal(decodeFrame(badBoot(1, 6)), null, 'htype 6');
  t.equal(decodeFrame(badBoot(2, 16)), null, 'hlen 16');
  t.equal(decodeFrame(badBoot(236, 0)), null, 'bad magic cookie');
  t.equal(decodeFrame(dhcp4Frame(boot.subarray(0, 239))), null, 'BOOTP shorter than the cookie');
  const totalLong = Buffer.from(DISCOVER);
  totalLong.writeUInt16BE(totalLong.readUInt16BE(16) + 1, 16);
  t.equal(decodeFrame(fixChecksums(totalLong)), null, 'IPv4 total length past the end');
  const toClient = dhcp4Frame(boot);
  toClient.writeUInt16BE(68, 14 + 20 + 2);
  t.equal(decodeFrame(fixChecksums(toClient)), null, 'to port 68');
});

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const isV6 = (s: unknown): boolean => typeof s === 'string' && ipaddr.IPv6.isValid(s) && ipaddr.IPv6.parse(s).toRFC5952String() === s;
const isV4 = (s: unknown): boolean => typeof s === 'string' && ipaddr.IPv4.isValidFourPartDecimal(s) && ipaddr.IPv4.parse(s).toString() === s;
const isUint = (n: unknown, bits: number): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 2 ** bits;
const KEYS: Record<Inbound['kind'], string[]> = {
  rs: ['kind', 'sllao', 'srcIp', 'srcMac'],
  ns: ['dstIp', 'kind', 'sllao', 'srcIp', 'srcMac', 'target'],
  dhcp6: ['clientId', 'kind', 'msgType', 'oro', 'srcIp', 'srcMac', 'srcPort', 'transactionId'],
  dhcp4: ['chaddr', 'ciaddr', 'clientId', 'flags', 'hostname', 'kind', 'msgType', 'paramList', 'requestedIp', 'serverId', 'srcMac', 'xid'],
};

/** Why `d` is not a well-formed decode, or null. */
function malformed(d: Inbound | null): string | null {
  if (d === null) return null;
  if (typeof d !== 'object' || !(d.kind in KEYS)) return 'unknown kind';
  if (Object.keys(d).sort().join() !== KEYS[d.kind].join()) return `keys ${Object.keys(d).sort().join()}`;
  if (!MAC_RE.test(d.srcMac)) return 'srcMac';
  switch (d.kind) {
    case 'rs':
      if (!isV6(d.srcIp) || !(d.srcIp === '::' || d.srcIp.startsWith('fe8') || d.srcIp.startsWith('fe9') || d.srcIp.startsWith('fea') || d.srcIp.startsWith('feb'))) return 'rs srcIp';
      if (d.sllao !== null && (!MAC_RE.test(d.sllao) || d.srcIp === '::')) return 'rs sllao';
      return null;
    case 'ns':
      if (!isV6(d.srcIp) || !isV6(d.dstIp) || !isV6(d.target) || d.target.startsWith('ff')) return 'ns addresses';
      if (d.srcIp === '::' && (!d.dstIp.startsWith('ff02::1:ff') || d.sllao !== null)) return 'ns DAD';
      if (d.sllao !== null && !MAC_RE.test(d.sllao)) return 'ns sllao';
      return null;
    case 'dhcp6':
      if (!isV6(d.srcIp) || !isUint(d.srcPort, 16) || !isUint(d.msgType, 8) || !isUint(d.transactionId, 24)) return 'dhcp6 fields';
      if (d.clientId !== null && (!Buffer.isBuffer(d.clientId) || d.clientId.length < 3 || d.clientId.length > 130)) return 'dhcp6 clientId';
      if (!Array.isArray(d.oro) || !d.oro.every((c) => isUint(c, 16))) return 'dhcp6 oro';
      return null;
    case 'dhcp4':
      if (!isUint(d.msgType, 8) || !isUint(d.xid, 32) || !isUint(d.flags, 16)) return 'dhcp4 numbers';
      if (!isV4(d.ciaddr) || !MAC_RE.test(d.chaddr)) return 'dhcp4 addresses';
      if ((d.requestedIp !== null && !isV4(d.requestedIp)) || (d.serverId !== null && !isV4(d.serverId))) return 'dhcp4 options';
      if (!Array.isArray(d.paramList) || !d.paramList.every((c) => isUint(c, 8))) return 'dhcp4 paramList';
      if (d.clientId !== null && (!Buffer.isBuffer(d.clientId) || d.clientId.length < 2)) return 'dhcp4 clientId';
      if (d.hostname !== null && !/^[\x20-\x7e]+$/.test(d.hostname)) return 'dhcp4 hostname';
      return null;
  }
}

/** decodeFrame must neither throw nor return a malformed object; returns a problem or null. */
function probe(f: Buffer): { problem: string | null; decoded: boolean } {
  try {
    const d = decodeFrame(f);
    return { problem: malformed(d), decoded: d !== null };
  } catch (e) {
    return { problem: `threw ${(e as Error).message}`, decoded: false };
  }
}

const ALL_FRAMES = [...CLIENT_FRAMES, ...ENCODED];

t.test('every fixture truncated at every length', async (t) => {
  const problems: string[] = [];
  let decoded = 0;
  for (const [name, f] of ALL_FRAMES) {
    for (let len = 0; len < f.length; len++) {
      const r = probe(f.subarray(0, len));
      if (r.problem) problems.push(`${name} cut at ${len}: ${r.problem}`);
      if (r.decoded) decoded++;
    }
  }
  t.strictSame(problems, []);
  // a DHCPv4 frame cut inside its Ethernet padding is the only way a cut frame can still be whole;
  // our client frames have none, so every cut is rejected
  t.equal(decoded, 0, 'no truncated frame decodes');
});

t.test('2000 seeded single-byte mutations per fixture', async (t) => {
  const problems: string[] = [];
  const rnd = prng(0x5eed);
  const next = (n: number): number => Math.floor(rnd() * n);
  let survived = 0;
  for (const [name, f] of ALL_FRAMES) {
    const ipv6Frame = f.readUInt16BE(12) === 0x86dd;
    const client = CLIENT_FRAMES.some(([n]) => n === name);
    for (let i = 0; i < 2000; i++) {
      const at = next(f.length);
      const m = Buffer.from(f);
      m[at] = (m[at]! + 1 + next(255)) & 0xff;
      const r = probe(m);
      if (r.problem) problems.push(`${name} byte ${at}: ${r.problem}`);
      // IPv6 addresses and everything after them are under the ICMPv6/UDP checksum
      if (ipv6Frame && at >= 22 && r.decoded) problems.push(`${name} byte ${at}: decoded despite the checksum`);
      if (r.decoded && client) survived++;
    }
  }
  t.strictSame(problems, []);
  t.ok(survived > 0, `some mutations (traffic class, MAC addresses, ...) still decode: ${survived}`);
});

t.test('2000 seeded mutations per client frame with checksums recomputed (reaches the option parsers)', async (t) => {
  const problems: string[] = [];
  const rnd = prng(0xc0dec);
  const next = (n: number): number => Math.floor(rnd() * n);
  const kinds = new Map<string, number>();
  for (const [name, f] of CLIENT_FRAMES) {
    const start = f.readUInt16BE(12) === 0x86dd ? 54 : 34; // the ICMPv6 message or UDP datagram
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(f);
      // one to three bytes of the message
      for (let k = 1 + next(3); k > 0; k--) {
        const at = start + next(f.length - start);
        m[at] = (m[at]! + 1 + next(255)) & 0xff;
      }
      const r = probe(fixChecksums(m));
      if (r.problem) problems.push(`${name} #${i}: ${r.problem}`);
      if (r.decoded) kinds.set(name, (kinds.get(name) ?? 0) + 1);
    }
  }
  t.strictSame(problems, []);
  t.ok(kinds.size >= 8, `mutated messages still decode for most frames: ${JSON.stringify([...kinds])}`);
});

t.test('random garbage after valid headers', async (t) => {
  const rnd = prng(42);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const problems: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const n = Math.floor(rnd() * 300);
    const frames = [
      fixChecksums(ether(ROUTER_MAC, VM_MAC, 0x86dd, ipv6(VM_LL, 'ff02::2', 58, 255, Buffer.concat([Buffer.from([133 + 2 * Math.floor(rnd() * 2), 0, 0, 0]), bytes(n)])))),
      fixChecksums(ether(ROUTER_MAC, VM_MAC, 0x86dd, ipv6(VM_LL, 'ff02::1:2', 17, 1, udp(546, 547, bytes(n))))),
      dhcp4Frame(Buffer.concat([Buffer.from([1, 1, 6, 0]), bytes(232), Buffer.from([99, 130, 83, 99]), bytes(n)])),
      bytes(n),
    ];
    for (const f of frames) {
      const r = probe(f);
      if (r.problem) problems.push(`#${i}: ${r.problem}`);
    }
  }
  t.strictSame(problems, []);
});

// ---------------------------------------------------------------------------------------------
// wire helpers

t.test('wire: address and header helpers', async (t) => {
  t.equal(hex(macToBytes('52:54:00:AB:cd:ef')), '525400abcdef');
  t.equal(macFromBytes(Buffer.from('525400abcdef', 'hex')), '52:54:00:ab:cd:ef');
  t.equal(macFromBytes(Buffer.alloc(5)), null);
  t.throws(() => macToBytes('52-54-00-ab-cd-ef'));
  t.equal(ipv6FromBytes(Buffer.from('20010db8000000000000000000000001', 'hex')), '2001:db8::1');
  t.equal(ipv6FromBytes(Buffer.from('20010db8000000010000000000000001', 'hex')), '2001:db8:0:1::1');
  t.equal(ipv6FromBytes(Buffer.alloc(15)), null);
  t.equal(ipv6FromBytes(Buffer.alloc(16), 1), null);
  t.equal(ipv4FromBytes(Buffer.from([192, 0, 2, 1])), '192.0.2.1');
  t.equal(ipv4FromBytes(Buffer.from([192, 0, 2])), null);
  t.equal(hex(dnsNameToWire('a.b.')), '01610162' + '00');
  t.throws(() => dnsNameToWire(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`), /255/);
  t.equal(internetChecksum(Buffer.from([0xff, 0xff, 0x01])), 0xfeff, 'odd length: zero-padded');
  t.equal(parseIpv6(Buffer.alloc(39)), null);
  t.equal(parseIpv4(Buffer.alloc(19)), null);
  const v4 = { srcBytes: Buffer.from([192, 0, 2, 1]), dstBytes: Buffer.from([192, 0, 2, 2]) };
  const d = buildUdp({ ip: v4, srcPort: 1, dstPort: 2, payload: Buffer.from('hi') });
  t.strictSame(parseUdp(v4, d)?.payload, Buffer.from('hi'));
  t.equal(parseUdp(v4, d.subarray(0, 9)), null, 'length past the end');
  t.equal(parseUdp({ srcBytes: Buffer.alloc(4), dstBytes: Buffer.alloc(16) }, d), null, 'mixed families');
  // a datagram whose checksum computes to 0 is sent as 0xffff, and verifies
  for (let p = 0; p < 0x10000; p++) {
    const u = buildUdp({ ip: v4, srcPort: p, dstPort: 2, payload: Buffer.alloc(0) });
    if (u.readUInt16BE(6) === 0xffff) {
      t.ok(parseUdp(v4, u), `port ${p}: 0xffff verifies`);
      break;
    }
  }
});
