/**
 * What the responder answers (src/ndp/respond.ts) and its configuration (src/ndp/config.ts), without
 * I/O: decoded solicitations in, frames out. The frames are taken apart here field by field with an
 * independent parser (and their checksums re-computed), not with src/ndp's decoder.
 */
import t, { type Test } from 'tap';
import ipaddr from 'ipaddr.js';
import { InvalidInput } from '../../src/config/errors.js';
import { loadIniSections } from '../../src/config/ini.js';
import { parseFullConfig } from '../../src/config/load.js';
import { networksIn, type Network } from '../../src/model/network.js';
import { verifyResponder, type ResponderConfig } from '../../src/ndp/config.js';
import type { Dhcp4Message, Dhcp6Message, NeighborSolicitation, RouterSolicitation } from '../../src/ndp/decode.js';
import { raFor, respond, type Reply } from '../../src/ndp/respond.js';
import type { TapService } from '../../src/ndp/services.js';

// ---------------------------------------------------------------------------------------------
// fixtures

const TAP_MAC = 'fe:54:00:aa:bb:01';
const TAP_LL = 'fe80::fc54:ff:feaa:bb01';
const VM_MAC = '52:54:00:12:34:56';
const VM_LL = 'fe80::5054:ff:fe12:3456';
const OTHER_MAC = '52:54:00:99:99:99';
const VM_IP = '192.0.2.11';
const VM_IP6 = '2001:db8::11';
const DUID = Buffer.from('0004' + '00112233445566778899aabbccddeeff', 'hex');

const NETWORK_CONF = `[network public]
role = vmc
uplink = eth0.222
table = 222
subnet = 192.0.2.0/24
gateway = 192.0.2.1
arp_ip = 192.0.2.254
subnet6 = 2001:db8::/64
gateway6 = 2001:db8::1
`;

/** the [network public] of NETWORK_CONF (with `extra` lines in it) and the responder config of `responder` */
function configOf(responder: string, network = NETWORK_CONF): { network: Network; config: ResponderConfig } {
  const { features, responder: config } = parseFullConfig(`${network}\n${responder}`, 'test.conf');
  return { network: networksIn(features)[0]!, config };
}

/** The responder configuration alone, through verifyResponder (what the daemon gets). */
function responderOf(text: string, file = 'test.conf'): ResponderConfig {
  return verifyResponder(loadIniSections(text, file));
}

const FULL = `[ndp]
nameservers = 2001:db8::53, 2001:db8::54
domains = example.org vm.example.net
mtu = 1400
solicited_ra_delay = 300

[dhcp]
nameservers = 192.0.2.53
domain = example.org
mtu = 1450
lease_time = 3600
`;

function service(network: Network, over: Partial<TapService> = {}, binding: Partial<TapService['binding']> = {}): TapService {
  return {
    tap: 'tap1',
    ifindex: 7,
    tapMac: TAP_MAC,
    tapLinkLocal: TAP_LL,
    network,
    binding: { network: 'public', tap: 'tap1', mac: VM_MAC, ips: [VM_IP], ip6s: [VM_IP6], hostname: 'vm1', ...binding },
    ...over,
  };
}

const { network: NET, config: CONFIG } = configOf(FULL);
const S = service(NET);

const rs = (o: Partial<RouterSolicitation> = {}): RouterSolicitation => ({ kind: 'rs', srcMac: VM_MAC, srcIp: VM_LL, sllao: VM_MAC, ...o });
const ns = (target: string, o: Partial<NeighborSolicitation> = {}): NeighborSolicitation => ({
  kind: 'ns',
  srcMac: VM_MAC,
  srcIp: VM_LL,
  dstIp: solicitedNode(target),
  target,
  sllao: VM_MAC,
  ...o,
});
const dhcp6 = (msgType: number, o: Partial<Dhcp6Message> = {}): Dhcp6Message => ({
  kind: 'dhcp6',
  srcMac: VM_MAC,
  srcIp: VM_LL,
  srcPort: 546,
  msgType,
  transactionId: 0xabcdef,
  clientId: Buffer.from('00030001525400123456', 'hex'),
  oro: [23, 24],
  ...o,
});
const dhcp4 = (msgType: number, o: Partial<Dhcp4Message> = {}): Dhcp4Message => ({
  kind: 'dhcp4',
  srcMac: VM_MAC,
  msgType,
  xid: 0x11223344,
  flags: 0,
  ciaddr: '0.0.0.0',
  chaddr: VM_MAC,
  requestedIp: null,
  serverId: null,
  paramList: [1, 3, 6, 15],
  clientId: null,
  hostname: null,
  ...o,
});

function solicitedNode(a: string): string {
  const b = ipaddr.IPv6.parse(a).toByteArray();
  return ipaddr.fromByteArray([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, b[13]!, b[14]!, b[15]!]).toString();
}

// ---------------------------------------------------------------------------------------------
// an independent parser of the frames the responder sends

const mac = (b: Buffer, at: number) => [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ip6 = (b: Buffer, at: number) => (ipaddr.fromByteArray([...b.subarray(at, at + 16)]) as ipaddr.IPv6).toRFC5952String();
const ip4 = (b: Buffer, at: number) => [...b.subarray(at, at + 4)].join('.');

/** RFC 1071 over the concatenation; 0 when a checksummed message verifies */
function sum(...parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += (all[i]! << 8) + (i + 1 < all.length ? all[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

interface Parsed {
  dstMac: string;
  srcMac: string;
  etherType: number;
  /** IPv6 or IPv4 */
  src: string;
  dst: string;
  hopLimit: number;
  /** the L4 checksum (ICMPv6 / UDP) verifies over its pseudo-header */
  checksumOk: boolean;
  /** the IPv4 header checksum verifies (true for IPv6) */
  headerOk: boolean;
  icmp?: { type: number; code: number; body: Buffer; options: { type: number; data: Buffer }[] };
  udp?: { srcPort: number; dstPort: number; payload: Buffer };
}

function parse(frame: Buffer): Parsed {
  const etherType = frame.readUInt16BE(12);
  const base = { dstMac: mac(frame, 0), srcMac: mac(frame, 6), etherType };
  if (etherType === 0x86dd) {
    const p = frame.subarray(14);
    const len = p.readUInt16BE(4);
    const next = p[6]!;
    const payload = p.subarray(40, 40 + len);
    const pseudo = Buffer.alloc(40);
    p.copy(pseudo, 0, 8, 40);
    pseudo.writeUInt32BE(len, 32);
    pseudo[39] = next;
    const out: Parsed = { ...base, src: ip6(p, 8), dst: ip6(p, 24), hopLimit: p[7]!, checksumOk: sum(pseudo, payload) === 0, headerOk: true };
    if (next === 58) {
      const fixed = payload[0] === 134 ? 16 : payload[0] === 136 ? 24 : 8;
      const options: { type: number; data: Buffer }[] = [];
      for (let at = fixed; at < payload.length; at += payload[at + 1]! * 8) {
        if (payload[at + 1] === 0) throw new Error('ND option of length 0');
        options.push({ type: payload[at]!, data: payload.subarray(at + 2, at + payload[at + 1]! * 8) });
      }
      out.icmp = { type: payload[0]!, code: payload[1]!, body: payload.subarray(4, fixed), options };
    } else if (next === 17) {
      out.udp = { srcPort: payload.readUInt16BE(0), dstPort: payload.readUInt16BE(2), payload: payload.subarray(8, payload.readUInt16BE(4)) };
    }
    return out;
  }
  const p = frame.subarray(14);
  const ihl = (p[0]! & 15) * 4;
  const total = p.readUInt16BE(2);
  const payload = p.subarray(ihl, total);
  const pseudo = Buffer.concat([p.subarray(12, 20), Buffer.from([0, p[9]!, payload.length >> 8, payload.length & 255])]);
  return {
    ...base,
    src: ip4(p, 12),
    dst: ip4(p, 16),
    hopLimit: p[8]!,
    headerOk: sum(p.subarray(0, ihl)) === 0,
    checksumOk: sum(pseudo, payload) === 0,
    udp: { srcPort: payload.readUInt16BE(0), dstPort: payload.readUInt16BE(2), payload: payload.subarray(8, payload.readUInt16BE(4)) },
  };
}

/** The RA's fields (RFC 4861 4.2 and its options) */
function ra(frame: Buffer) {
  const p = parse(frame);
  const { body, options } = p.icmp!;
  const opt = (type: number) => options.filter((o) => o.type === type);
  const names = (data: Buffer) => {
    const out: string[] = [];
    const labels: string[] = [];
    for (let at = 6; at < data.length && data[at] !== undefined; ) {
      const n = data[at]!;
      if (n === 0) {
        if (labels.length) out.push(labels.splice(0).join('.'));
        at++;
        continue;
      }
      labels.push(data.toString('ascii', at + 1, at + 1 + n));
      at += 1 + n;
    }
    return out;
  };
  return {
    p,
    curHopLimit: body[0]!,
    managed: (body[1]! & 0x80) !== 0,
    other: (body[1]! & 0x40) !== 0,
    routerLifetime: body.readUInt16BE(2),
    sllao: opt(1).map((o) => mac(o.data, 0)),
    mtu: opt(5).map((o) => o.data.readUInt32BE(2)),
    prefixes: opt(3).map((o) => ({
      prefix: `${ip6(o.data, 14)}/${o.data[0]}`,
      onLink: (o.data[1]! & 0x80) !== 0,
      autonomous: (o.data[1]! & 0x40) !== 0,
      valid: o.data.readUInt32BE(2),
      preferred: o.data.readUInt32BE(6),
    })),
    rdnss: opt(25).map((o) => ({ lifetime: o.data.readUInt32BE(2), servers: Array.from({ length: (o.data.length - 6) / 16 }, (_, i) => ip6(o.data, 6 + 16 * i)) })),
    dnssl: opt(31).map((o) => ({ lifetime: o.data.readUInt32BE(2), domains: names(o.data) })),
  };
}

/** DHCPv6 message: type, transaction id, options by code */
function dhcp6Of(payload: Buffer) {
  const options = new Map<number, Buffer>();
  for (let at = 4; at + 4 <= payload.length; at += 4 + payload.readUInt16BE(at + 2)) options.set(payload.readUInt16BE(at), payload.subarray(at + 4, at + 4 + payload.readUInt16BE(at + 2)));
  return { type: payload[0]!, txid: payload.readUIntBE(1, 3), options };
}

/** BOOTP fields and DHCP options by code */
function dhcp4Of(b: Buffer) {
  const options = new Map<number, Buffer>();
  for (let at = 240; at < b.length && b[at] !== 255; ) {
    if (b[at] === 0) {
      at++;
      continue;
    }
    options.set(b[at]!, b.subarray(at + 2, at + 2 + b[at + 1]!));
    at += 2 + b[at + 1]!;
  }
  return { op: b[0]!, xid: b.readUInt32BE(4), flags: b.readUInt16BE(10), ciaddr: ip4(b, 12), yiaddr: ip4(b, 16), chaddr: mac(b, 28), cookie: b.readUInt32BE(236), options };
}

const one = (t: Test, replies: Reply[], kind: Reply['kind']): Reply => {
  t.equal(replies.length, 1, `one ${kind} reply`);
  t.equal(replies[0]?.kind, kind, `of kind ${kind}`);
  return replies[0]!;
};

// ---------------------------------------------------------------------------------------------
// Router Solicitation

t.test('RS from a link-local source: unicast RA after a random delay below solicited_ra_delay', async (t) => {
  const r = one(t, respond(rs(), S, CONFIG, DUID), 'ra');
  t.notOk(r.multicast, 'not multicast');
  t.ok(r.delay >= 0 && r.delay < 300 && Number.isInteger(r.delay), `delay ${r.delay} in [0, 300)`);
  const a = ra(r.frame);
  t.same([a.p.dstMac, a.p.dst, a.p.srcMac, a.p.src], [VM_MAC, VM_LL, TAP_MAC, TAP_LL], 'from the TAP (MAC, link-local) to the VM (SLLAO, source address)');
  t.same([a.p.etherType, a.p.hopLimit, a.p.icmp!.type, a.p.icmp!.code], [0x86dd, 255, 134, 0], 'ICMPv6 RA, hop limit 255');
  t.ok(a.p.checksumOk, 'ICMPv6 checksum verifies');
  t.same([a.curHopLimit, a.managed, a.other, a.routerLifetime], [64, false, true, 1800], 'cur hop limit 64, M clear, O set, router lifetime 1800');
  t.same(a.sllao, [TAP_MAC], 'SLLAO = TAP MAC');
  t.same(a.mtu, [1400], 'MTU 1400');
  t.same(a.prefixes, [{ prefix: '2001:db8::/64', onLink: true, autonomous: true, valid: 2592000, preferred: 604800 }], 'prefix 2001:db8::/64 L A, default lifetimes');
  t.same(a.rdnss, [{ lifetime: 1800, servers: ['2001:db8::53', '2001:db8::54'] }], 'RDNSS, lifetime 3 × max_interval');
  t.same(a.dnssl, [{ lifetime: 1800, domains: ['example.org', 'vm.example.net'] }], 'DNSSL');

  // the bounds of the delay, with the random source pinned
  t.equal(respond(rs(), S, CONFIG, DUID, () => 0)[0]!.delay, 0, 'random 0 → no delay');
  const top = respond(rs(), S, CONFIG, DUID, () => 0.999999)[0]!.delay;
  t.ok(top >= 0 && top < 300, `random → 1 stays below solicited_ra_delay (${top})`);
  const delays = Array.from({ length: 2000 }, () => respond(rs(), S, CONFIG, DUID)[0]!.delay);
  t.ok(delays.every((d) => d >= 0 && d < 300), 'Math.random: every delay in [0, 300)');
  t.ok(new Set(delays).size > 100, 'and spread over the range');
  const { config: immediate } = configOf('[ndp]\nsolicited_ra_delay = 0\n');
  t.equal(respond(rs(), S, immediate, DUID)[0]!.delay, 0, 'solicited_ra_delay = 0 answers at once');
});

t.test('RS without SLLAO: unicast to the frame\'s source MAC; any link-local source (stable privacy)', async (t) => {
  const privacy = 'fe80::1c2d:3e4f:5a6b:7c8d';
  const a = ra(one(t, respond(rs({ srcIp: privacy, sllao: null, srcMac: OTHER_MAC }), S, CONFIG, DUID), 'ra').frame);
  t.same([a.p.dstMac, a.p.dst], [OTHER_MAC, privacy], 'to the source MAC and the stable-privacy address');
});

t.test('RS from :: → multicast RA to all-nodes', async (t) => {
  const r = one(t, respond(rs({ srcIp: '::', sllao: null }), S, CONFIG, DUID), 'ra');
  t.equal(r.multicast, true, 'multicast (rate limited by the daemon)');
  t.ok(r.delay >= 0 && r.delay < 300, 'delayed like any solicited RA');
  const a = ra(r.frame);
  t.same([a.p.dstMac, a.p.dst, a.p.src], ['33:33:00:00:00:01', 'ff02::1', TAP_LL], 'to 33:33:00:00:00:01 / ff02::1');
  t.equal(a.routerLifetime, 1800, 'a full RA');
});

t.test('RS not answered', async (t) => {
  t.same(respond(rs(), service(NET, { tapLinkLocal: null }), CONFIG, DUID), [], 'TAP without a usable link-local yet');
  t.same(respond(rs(), S, configOf('[ndp]\nenabled = no\n').config, DUID), [], '[ndp] enabled = no');
  const v4only = configOf('', NETWORK_CONF.replace(/subnet6.*\n|gateway6.*\n/g, '')).network;
  t.same(respond(rs(), service(v4only), CONFIG, DUID), [], 'IPv4-only network');
});

t.test('raFor: lifetime override, options only when configured, A flag only on a /64', async (t) => {
  const farewell = ra(raFor(S, CONFIG, null, 0)!);
  t.same([farewell.routerLifetime, farewell.p.dst, farewell.p.dstMac], [0, 'ff02::1', '33:33:00:00:00:01'], 'router lifetime 0 (the farewell), multicast');
  const { config: bare } = configOf('');
  const b = ra(raFor(S, bare, { ip: VM_LL, mac: VM_MAC })!);
  t.same([b.mtu, b.rdnss, b.dnssl], [[], [], []], 'no MTU, RDNSS or DNSSL option without configuration');
  t.same([b.other, b.routerLifetime], [true, 1800], 'defaults: O set, lifetime 1800');
  t.equal(ra(raFor(S, configOf('[ndp]\ndhcpv6 = no\n').config, null)!).other, false, 'dhcpv6 = no clears the O flag');
  const { network: wide } = configOf('', NETWORK_CONF.replace('subnet6 = 2001:db8::/64', 'subnet6 = 2001:db8::/56'));
  t.same(ra(raFor(service(wide), bare, null)!).prefixes.map((p) => [p.prefix, p.onLink, p.autonomous]), [['2001:db8::/56', true, false]], 'a /56 is on-link but not autonomous (SLAAC needs a /64)');
  const custom = configOf('[ndp]\nrouter_lifetime = 9000\ncur_hop_limit = 0\nprefix_valid_lifetime = 600\nprefix_preferred_lifetime = 300\ndns_lifetime = 77\nnameservers = 2001:db8::53\n').config;
  const c = ra(raFor(S, custom, null)!);
  t.same([c.routerLifetime, c.curHopLimit, c.prefixes[0]!.valid, c.prefixes[0]!.preferred, c.rdnss[0]!.lifetime], [9000, 0, 600, 300, 77], 'configured lifetimes and hop limit are sent');
  t.equal(raFor(service(NET, { tapLinkLocal: null }), CONFIG, null), null, 'nothing without a source link-local');
});

// ---------------------------------------------------------------------------------------------
// Neighbour Solicitation

t.test('NS the kernel or nobody answers: no reply', async (t) => {
  t.same(respond(ns(TAP_LL), S, CONFIG, DUID), [], 'the TAP\'s own link-local (the kernel answers)');
  t.same(respond(ns('2001:db8::1'), S, CONFIG, DUID), [], 'gateway6 (proxied on the TAP by the kernel)');
  t.same(respond(ns(VM_IP6), S, CONFIG, DUID), [], 'the VM\'s own address');
  t.same(respond(ns('2001:db8::77', { srcIp: '::', sllao: null }), S, CONFIG, DUID), [], 'DAD (from ::)');
  t.same(respond(ns('2001:db9::77'), S, CONFIG, DUID), [], 'outside the prefix');
  t.same(respond(ns('fe80::77'), S, CONFIG, DUID), [], 'another link-local');
  t.same(respond(ns('2001:db8::77'), service(NET, { tapLinkLocal: null }), CONFIG, DUID), [], 'TAP without a link-local yet');
  t.same(respond(ns('2001:db8::77'), S, configOf('[ndp]\nenabled = no\n').config, DUID), [], '[ndp] enabled = no');
  // gateway6 written in a non-canonical form in the config is still recognised
  const { network: longhand } = configOf('', NETWORK_CONF.replace('gateway6 = 2001:db8::1', 'gateway6 = 2001:0DB8:0:0:0:0:0:0001'));
  t.same(respond(ns('2001:db8::1'), service(longhand), CONFIG, DUID), [], 'gateway6 written long-hand in the config');
});

t.test('NS for another address of the prefix → NA from the TAP, Override clear', async (t) => {
  const r = one(t, respond(ns('2001:db8::77'), S, CONFIG, DUID), 'na');
  t.equal(r.delay, 0, 'at once');
  t.notOk(r.multicast, 'not multicast');
  const p = parse(r.frame);
  t.same([p.dstMac, p.dst, p.srcMac, p.src, p.hopLimit], [VM_MAC, VM_LL, TAP_MAC, TAP_LL, 255], 'from the TAP to the soliciting address and its SLLAO, hop limit 255');
  t.same([p.icmp!.type, p.icmp!.code], [136, 0], 'ICMPv6 NA');
  t.ok(p.checksumOk, 'checksum verifies');
  const flags = p.icmp!.body[0]!;
  t.same({ router: !!(flags & 0x80), solicited: !!(flags & 0x40), override: !!(flags & 0x20) }, { router: false, solicited: true, override: false }, 'R clear, S set, O clear (a proxy, RFC 4861 7.2.8)');
  t.equal(ip6(p.icmp!.body, 4), '2001:db8::77', 'target 2001:db8::77');
  t.same(p.icmp!.options.map((o) => [o.type, mac(o.data, 0)]), [[2, TAP_MAC]], 'TLLA = TAP MAC');

  const bare = parse(respond(ns('2001:db8::78', { sllao: null, srcMac: OTHER_MAC }), S, CONFIG, DUID)[0]!.frame);
  t.equal(bare.dstMac, OTHER_MAC, 'without SLLAO: to the frame\'s source MAC');
  const unicastNs = parse(respond(ns('2001:db8::79', { dstIp: '2001:db8::79', srcIp: VM_IP6 }), S, CONFIG, DUID)[0]!.frame);
  t.same([unicastNs.dst, unicastNs.dstMac], [VM_IP6, VM_MAC], 'from a global source (reachability check): back to it');
  // another VM's address on another TAP is reached through this TAP too (routed)
  t.equal(respond(ns('2001:db8::12'), S, CONFIG, DUID).length, 1, 'another VM\'s address is answered as well');
});

// ---------------------------------------------------------------------------------------------
// DHCPv6

t.test('DHCPv6 Information-Request → Reply with DNS servers and search list', async (t) => {
  const r = one(t, respond(dhcp6(11), S, CONFIG, DUID), 'dhcp6');
  t.equal(r.delay, 0, 'at once');
  const p = parse(r.frame);
  t.same([p.dstMac, p.dst, p.srcMac, p.src], [VM_MAC, VM_LL, TAP_MAC, TAP_LL], 'from the TAP\'s link-local to the client');
  t.same([p.udp!.srcPort, p.udp!.dstPort], [547, 546], 'UDP 547 → the client\'s port');
  t.ok(p.checksumOk, 'UDP checksum verifies');
  const m = dhcp6Of(p.udp!.payload);
  t.same([m.type, m.txid], [7, 0xabcdef], 'Reply with the transaction id');
  t.same(m.options.get(2), DUID, 'server id = the daemon\'s DUID');
  t.same(m.options.get(1), Buffer.from('00030001525400123456', 'hex'), 'client id echoed');
  t.same(m.options.get(23), Buffer.concat(['2001:db8::53', '2001:db8::54'].map((a) => Buffer.from(ipaddr.parse(a).toByteArray()))), 'option 23: DNS servers');
  t.same(m.options.get(24), Buffer.from('076578616d706c65036f72670002766d076578616d706c65036e657400', 'hex'), 'option 24: example.org, vm.example.net');
  const port = parse(respond(dhcp6(11, { srcPort: 10546 }), S, CONFIG, DUID)[0]!.frame);
  t.equal(port.udp!.dstPort, 10546, 'to whatever port the client used');
  const anonymous = dhcp6Of(parse(respond(dhcp6(11, { clientId: null }), S, CONFIG, DUID)[0]!.frame).udp!.payload);
  t.notOk(anonymous.options.has(1), 'no client id in the request: none in the reply');
});

t.test('other DHCPv6 messages: nothing', async (t) => {
  for (const [type, name] of [[1, 'Solicit'], [3, 'Request'], [4, 'Confirm'], [5, 'Renew'], [6, 'Rebind'], [8, 'Release'], [9, 'Decline']] as const) {
    t.same(respond(dhcp6(type), S, CONFIG, DUID), [], `${name} (${type})`);
  }
  t.same(respond(dhcp6(11), S, configOf('[ndp]\ndhcpv6 = no\n').config, DUID), [], 'Information-Request with dhcpv6 = no');
  t.same(respond(dhcp6(11), service(NET, { tapLinkLocal: null }), CONFIG, DUID), [], 'Information-Request before the TAP has a link-local');
});

// ---------------------------------------------------------------------------------------------
// DHCPv4

function dhcp4Reply(t: Test, replies: Reply[]) {
  const r = one(t, replies, 'dhcp4');
  const p = parse(r.frame);
  t.ok(p.headerOk && p.checksumOk, 'IPv4 header and UDP checksums verify');
  t.same([p.srcMac, p.src, p.udp!.srcPort, p.udp!.dstPort], [TAP_MAC, '192.0.2.1', 67, 68], 'from the TAP and the gateway, UDP 67 → 68');
  return { p, m: dhcp4Of(p.udp!.payload), r };
}

t.test('DHCPDISCOVER → OFFER of the bound address', async (t) => {
  const { p, m, r } = dhcp4Reply(t, respond(dhcp4(1), S, CONFIG, DUID));
  t.equal(r.delay, 0, 'at once');
  t.same([p.dstMac, p.dst], [VM_MAC, VM_IP], 'unicast to chaddr and yiaddr (no broadcast flag)');
  t.same([m.op, m.xid, m.yiaddr, m.ciaddr, m.chaddr, m.cookie], [2, 0x11223344, VM_IP, '0.0.0.0', VM_MAC, 0x63825363], 'BOOTREPLY, xid, yiaddr = the bound address');
  const opt = (c: number) => m.options.get(c);
  t.same(opt(53), Buffer.from([2]), 'OFFER');
  t.equal(ip4(opt(54)!, 0), '192.0.2.1', 'server id = gateway');
  t.equal(opt(51)?.readUInt32BE(0), 3600, 'lease time');
  t.equal(ip4(opt(1)!, 0), '255.255.255.0', 'subnet mask of the /24');
  t.equal(ip4(opt(3)!, 0), '192.0.2.1', 'router = gateway');
  t.equal(ip4(opt(6)!, 0), '192.0.2.53', 'DNS server');
  t.equal(opt(15)?.toString(), 'example.org', 'domain');
  t.equal(opt(26)?.readUInt16BE(0), 1450, 'MTU');
  t.equal(opt(12)?.toString(), 'vm1', 'host name of the binding');
  const b = dhcp4Reply(t, respond(dhcp4(1, { flags: 0x8000 }), S, CONFIG, DUID));
  t.same([b.p.dstMac, b.p.dst, b.m.flags], ['ff:ff:ff:ff:ff:ff', '255.255.255.255', 0x8000], 'broadcast flag: broadcast');
  const unnamed = dhcp4Reply(t, respond(dhcp4(1), service(NET, {}, { hostname: null }), CONFIG, DUID));
  t.notOk(unnamed.m.options.has(12), 'no host name bound: no option 12');
  const other = dhcp4Reply(t, respond(dhcp4(1, { requestedIp: '192.0.2.99' }), S, CONFIG, DUID));
  t.equal(other.m.yiaddr, VM_IP, 'a DISCOVER asking for another address is offered the bound one');
});

t.test('DHCPREQUEST → ACK for the bound address, NAK (broadcast) for another', async (t) => {
  const ack = dhcp4Reply(t, respond(dhcp4(3, { requestedIp: VM_IP, serverId: '192.0.2.1' }), S, CONFIG, DUID));
  t.same(ack.m.options.get(53), Buffer.from([5]), 'ACK');
  t.equal(ack.m.yiaddr, VM_IP, 'yiaddr = the bound address');
  t.equal(ack.m.options.get(51)?.readUInt32BE(0), 3600, 'with the lease time');
  const renew = dhcp4Reply(t, respond(dhcp4(3, { ciaddr: VM_IP }), S, CONFIG, DUID));
  t.same([renew.m.options.get(53), renew.p.dst, renew.m.ciaddr, renew.m.yiaddr], [Buffer.from([5]), VM_IP, '0.0.0.0', VM_IP], 'renewing (ciaddr): ACK unicast to ciaddr');

  const nak = dhcp4Reply(t, respond(dhcp4(3, { requestedIp: '192.0.2.99' }), S, CONFIG, DUID));
  t.same(nak.m.options.get(53), Buffer.from([6]), 'NAK');
  t.same([nak.p.dstMac, nak.p.dst], ['ff:ff:ff:ff:ff:ff', '255.255.255.255'], 'broadcast (RFC 2131 4.3.2)');
  t.same([nak.m.yiaddr, nak.m.ciaddr], ['0.0.0.0', '0.0.0.0'], 'no address in it');
  t.same([...nak.m.options.keys()].sort((a, b) => a - b), [53, 54], 'only message type and server id');
  const nakRenew = dhcp4Reply(t, respond(dhcp4(3, { ciaddr: '192.0.2.99' }), S, CONFIG, DUID));
  t.same([nakRenew.m.options.get(53), nakRenew.p.dst], [Buffer.from([6]), '255.255.255.255'], 'renewing another address: NAK, broadcast');
});

t.test('DHCPINFORM → ACK without a lease', async (t) => {
  const { p, m } = dhcp4Reply(t, respond(dhcp4(8, { ciaddr: VM_IP }), S, CONFIG, DUID));
  t.same(m.options.get(53), Buffer.from([5]), 'ACK');
  t.same([m.ciaddr, m.yiaddr], [VM_IP, '0.0.0.0'], 'ciaddr echoed, yiaddr 0');
  t.notOk(m.options.has(51), 'no lease time (RFC 2131 4.3.5)');
  t.equal(p.dst, VM_IP, 'unicast to ciaddr');
  t.equal(ip4(m.options.get(6)!, 0), '192.0.2.53', 'the configuration (DNS server) is there');
});

t.test('DHCPv4 not answered', async (t) => {
  t.same(respond(dhcp4(3, { requestedIp: VM_IP, serverId: '192.0.2.254' }), S, CONFIG, DUID), [], 'REQUEST to another server');
  t.same(respond(dhcp4(1, { serverId: '198.51.100.1' }), S, CONFIG, DUID), [], 'DISCOVER naming another server');
  t.same(respond(dhcp4(4, { requestedIp: VM_IP }), S, CONFIG, DUID), [], 'DECLINE');
  t.same(respond(dhcp4(7, { ciaddr: VM_IP }), S, CONFIG, DUID), [], 'RELEASE');
  t.same(respond(dhcp4(1), S, configOf('[dhcp]\nenabled = no\n').config, DUID), [], '[dhcp] enabled = no');
  t.same(respond(dhcp4(1), service(NET, {}, { ips: [] }), CONFIG, DUID), [], 'no IPv4 address bound');
  const v6only = configOf('', NETWORK_CONF.replace(/^(subnet|gateway|arp_ip) = .*\n/gm, '')).network;
  t.same(respond(dhcp4(1), service(v6only, {}, { ips: [] }), CONFIG, DUID), [], 'IPv6-only network');
});

// ---------------------------------------------------------------------------------------------
// config.ts

t.test('defaults (RFC 4861 6.2.1, RFC 8106)', async (t) => {
  const d = responderOf('');
  t.same(d.ndp, {
    enabled: true,
    routerLifetime: 1800,
    maxInterval: 600,
    minInterval: 198,
    solicitedRaDelay: 500,
    curHopLimit: 64,
    mtu: null,
    nameservers: [],
    domains: [],
    dnsLifetime: 1800,
    prefixValidLifetime: 2592000,
    prefixPreferredLifetime: 604800,
    dhcpv6: true,
  });
  t.same(d.dhcp, { enabled: true, nameservers: [], domain: null, leaseTime: 86400, mtu: null });
  for (const [max, min] of [[100, 33], [30, 9], [1800, 594], [9, 3], [4, 3]] as const) {
    const c = responderOf(`[ndp]\nmax_interval = ${max}\n`).ndp;
    t.same([c.minInterval, c.dnsLifetime], [min, 3 * max], `max_interval ${max}: min_interval ${min} (0.33 × max, at least 3), dns_lifetime ${3 * max} (3 × max)`);
  }
  const set = responderOf('[ndp]\nmax_interval = 100\nmin_interval = 75\ndns_lifetime = 100\n').ndp;
  t.same([set.minInterval, set.dnsLifetime], [75, 100], 'explicit min_interval (up to 0.75 × max) and dns_lifetime are kept');
  const lists = responderOf('[ndp]\nnameservers = 2001:DB8::53,2001:db8:0:0::54  2001:db8::55\ndomains = a.example, b.example.\n').ndp;
  t.same(lists.nameservers, ['2001:db8::53', '2001:db8::54', '2001:db8::55'], 'nameservers: comma or space separated, canonical');
  t.same(lists.domains, ['a.example', 'b.example.'], 'domains: comma or space separated');
});

/** The formatted problems of a config text; fails the test if it is accepted. */
function problems(text: string): string[] {
  try {
    responderOf(text);
  } catch (e) {
    if (e instanceof InvalidInput) return e.problems.map(String);
    throw e;
  }
  return ['(accepted)'];
}

t.test('bad values: file:line: [section] key: problem, all of them at once', async (t) => {
  const text = [
    '[ndp]', // 1
    'nameservers = 2001:db8::53, 192.0.2.53, nonsense', // 2
    'domains = example.org, -bad-.example, a..b', // 3
    'mtu = 1279', // 4
    '', // 5
    '[dhcp]', // 6
    'nameservers = 2001:db8::53', // 7
    'domain = exa_mple.org', // 8
    'mtu = 575', // 9
    'lease_time = 59', // 10
  ].join('\n');
  t.same(problems(text).sort(), [
    'test.conf:2: [ndp] nameservers: "192.0.2.53" is not an IPv6 address',
    'test.conf:2: [ndp] nameservers: "nonsense" is not an IPv6 address',
    'test.conf:3: [ndp] domains: "-bad-.example" is not a domain name (labels of letters, digits and "-", at most 63 each)',
    'test.conf:3: [ndp] domains: "a..b" is not a domain name (labels of letters, digits and "-", at most 63 each)',
    'test.conf:4: [ndp] mtu: "1279" is not an IPv6 MTU (1280-65535)',
    'test.conf:7: [dhcp] nameservers: "2001:db8::53" is not an IPv4 address',
    'test.conf:8: [dhcp] domain: "exa_mple.org" is not a domain name (labels of letters, digits and "-", at most 63 each)',
    'test.conf:9: [dhcp] mtu: "575" is not an IPv4 MTU (576-65535)',
    'test.conf:10: [dhcp] lease_time: "59" is not a lease time (60 s or more)',
  ].sort(), 'every problem, each with its file and line');
  t.same(problems('[ndp]\nmtu = 65536\n'), ['test.conf:2: [ndp] mtu: "65536" is not an IPv6 MTU (1280-65535)'], 'MTU over 65535');
  t.same(problems('[ndp]\nmtu = big\n'), ['test.conf:2: [ndp] mtu: "big" is not an IPv6 MTU (1280-65535)'], 'MTU not a number');
  t.same(problems(`[ndp]\ndomains = ${'a'.repeat(64)}.example\n`), [`test.conf:2: [ndp] domains: "${'a'.repeat(64)}.example" is not a domain name (labels of letters, digits and "-", at most 63 each)`], 'label over 63');
  t.same(problems(`[ndp]\ndomains = ${Array(64).fill('abc').join('.')}\n`), [`test.conf:2: [ndp] domains: "${Array(64).fill('abc').join('.')}" is not a domain name (1-253 characters)`], 'name over 253');
  t.same(problems('[ndp]\nnameservers = fe80::1%eth0\n'), ['test.conf:2: [ndp] nameservers: "fe80::1%eth0" is not an IPv6 address'], 'zone index');
  t.same(problems('\n\n[ndp]\nmax_interval = 100\nmin_interval = 76\n'), ['test.conf:5: [ndp] min_interval: "76" is not a number from 3 to 75'], 'min_interval over 0.75 × max_interval');
  t.same(problems('[ndp]\nprefix_valid_lifetime = 100\nprefix_preferred_lifetime = 200\n'), ['test.conf:3: [ndp] prefix_preferred_lifetime: must not exceed prefix_valid_lifetime'], 'preferred over valid lifetime');
  t.same(problems('[ndp]\nsolicited_ra_delay = 501\n'), ['test.conf:2: [ndp] solicited_ra_delay: "501" is not a number from 0 to 500'], 'solicited_ra_delay over MAX_RA_DELAY_TIME');
});

t.test('RFC 4861 6.2.1: router_lifetime is 0 or between max_interval and 9000', async (t) => {
  // a router lifetime shorter than the interval between unsolicited RAs lets a VM's default route expire between them
  t.match(problems('[ndp]\nmax_interval = 600\nrouter_lifetime = 300\n'), [/test\.conf:3: \[ndp\] router_lifetime: /], 'router_lifetime below max_interval is refused', {
  });
  t.same(problems('[ndp]\nmax_interval = 600\nrouter_lifetime = 0\n'), ['(accepted)'], '0 (not a default router) is fine');
  t.same(problems('[ndp]\nmax_interval = 600\nrouter_lifetime = 600\n'), ['(accepted)'], 'max_interval itself is fine');
});
