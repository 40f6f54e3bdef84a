/**
 * Raw frames sent from inside a VM namespace, as a VM's own stack (or a hostile VM) would send them:
 * Router and Neighbour Solicitations, DHCPv6 and DHCPv4 client messages, and seeded malformed
 * variants of all of them. Plain JavaScript run by the system node inside the namespace
 * (`ip netns exec VM node test/lib/vm-frames.cjs SPEC`), independent of src/ndp: every field and
 * checksum is built here, so a bug in vmrouter's encoders or decoders cannot hide itself.
 *
 * SPEC (JSON, argv[2]):
 *   { addon, dev, frames: [FRAME...], repeat?, gapMs? }        sends the frames
 *   { addon, dev, fuzz: { seed, count } }                       sends `count` seeded malformed frames
 * FRAME: { kind: 'rs', src?, sllao? } | { kind: 'ns', src?, dst?, target, sllao? }
 *      | { kind: 'dhcp6', type, src?, txid? } | { kind: 'dhcp4', type, xid?, requested?, server?, ciaddr?, broadcast? }
 * `src` defaults to the device's link-local address; `sllao` (true by default unless src is '::')
 * puts the device's MAC in a Source Link-Layer Address option; `badChecksum: true` spoils the ICMPv6
 * or UDP checksum.
 * Prints one JSON line: what was sent (and, for fuzz, how many frames of each category).
 */
'use strict';
const fs = require('node:fs');

// ---------------------------------------------------------------------------------------------
// addresses and checksums

const macBytes = (mac) => mac.split(':').map((h) => parseInt(h, 16));
function v6(a) {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, null];
  const part = (s) => (s ? s.split(':') : []);
  const h = part(head);
  const t = tail === null ? [] : part(tail);
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 address ${a}`);
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]);
}
const v4 = (a) => a.split('.').map(Number);
function sum16(bytes) {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) + (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
const be16 = (n) => [(n >> 8) & 255, n & 255];
const be32 = (n) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
/** solicited-node multicast group of an address, and its MAC (33:33:ff:..) */
const solicitedNode = (addr) => [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, ...v6(addr).slice(13)];
const v6Mac = (group) => [0x33, 0x33, ...group.slice(12)];

// ---------------------------------------------------------------------------------------------
// layers (arrays of bytes; checksums filled in unless told otherwise)

function eth(dstMac, srcMac, type, payload) {
  return [...dstMac, ...srcMac, ...be16(type), ...payload];
}
function ipv6(src, dst, next, hop, payload) {
  return [0x60, 0, 0, 0, ...be16(payload.length), next, hop, ...src, ...dst, ...payload];
}
function icmp6(src, dst, msg) {
  const m = [...msg];
  m[2] = 0;
  m[3] = 0;
  const c = sum16([...src, ...dst, ...be32(m.length), 0, 0, 0, 58, ...m]);
  m[2] = c >> 8;
  m[3] = c & 255;
  return m;
}
function udp(src, dst, sport, dport, payload) {
  const len = 8 + payload.length;
  const d = [...be16(sport), ...be16(dport), ...be16(len), 0, 0, ...payload];
  const pseudo = src.length === 4 ? [...src, ...dst, 0, 17, ...be16(len)] : [...src, ...dst, ...be32(len), 0, 0, 0, 17];
  let c = sum16([...pseudo, ...d]);
  if (c === 0) c = 0xffff;
  d[6] = c >> 8;
  d[7] = c & 255;
  return d;
}
function ipv4(src, dst, proto, payload) {
  const h = [0x45, 0, ...be16(20 + payload.length), 0, 0, 0, 0, 64, proto, 0, 0, ...src, ...dst];
  const c = sum16(h);
  h[10] = c >> 8;
  h[11] = c & 255;
  return [...h, ...payload];
}

// ---------------------------------------------------------------------------------------------
// messages

function rs(ctx, f) {
  const src = v6(f.src ?? ctx.ll);
  const dst = v6('ff02::2');
  const withSllao = f.sllao ?? (f.src ?? ctx.ll) !== '::';
  const msg = icmp6(src, dst, [133, 0, 0, 0, 0, 0, 0, 0, ...(withSllao ? [1, 1, ...ctx.mac] : [])]);
  return eth(v6Mac(dst), ctx.mac, 0x86dd, ipv6(src, dst, 58, 255, msg));
}
function ns(ctx, f) {
  const srcText = f.src ?? ctx.ll;
  const src = v6(srcText);
  const dst = f.dst ? v6(f.dst) : solicitedNode(f.target);
  const withSllao = f.sllao ?? srcText !== '::';
  const msg = icmp6(src, dst, [135, 0, 0, 0, 0, 0, 0, 0, ...v6(f.target), ...(withSllao ? [1, 1, ...ctx.mac] : [])]);
  return eth(v6Mac(dst), ctx.mac, 0x86dd, ipv6(src, dst, 58, 255, msg));
}
function dhcp6(ctx, f) {
  const src = v6(f.src ?? ctx.ll);
  const dst = v6('ff02::1:2');
  const txid = f.txid ?? 0x123456;
  const clientId = [0, 1, 0, 10, 0, 3, 0, 1, ...ctx.mac]; // option 1, DUID-LL
  const oro = [0, 6, 0, 4, 0, 23, 0, 24];
  const elapsed = [0, 8, 0, 2, 0, 0];
  const msg = [f.type, (txid >> 16) & 255, (txid >> 8) & 255, txid & 255, ...clientId, ...oro, ...elapsed];
  return eth(v6Mac(dst), ctx.mac, 0x86dd, ipv6(src, dst, 17, 1, udp(src, dst, 546, 547, msg)));
}
function bootp(ctx, f) {
  const b = new Array(236).fill(0);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  be32(f.xid ?? 0xdeadbeef).forEach((x, i) => (b[4 + i] = x));
  if (f.broadcast) b[10] = 0x80;
  v4(f.ciaddr ?? '0.0.0.0').forEach((x, i) => (b[12 + i] = x));
  ctx.mac.forEach((x, i) => (b[28 + i] = x));
  const opts = [53, 1, f.type];
  if (f.requested) opts.push(50, 4, ...v4(f.requested));
  if (f.server) opts.push(54, 4, ...v4(f.server));
  opts.push(55, 4, 1, 3, 6, 15, 255);
  return [...b, 99, 130, 83, 99, ...opts, ...new Array(Math.max(0, 60 - opts.length)).fill(0)];
}
function dhcp4(ctx, f) {
  const src = v4(f.ciaddr ?? '0.0.0.0');
  const dst = v4(f.ciaddr ? f.dstIp ?? '255.255.255.255' : '255.255.255.255');
  return eth([255, 255, 255, 255, 255, 255], ctx.mac, 0x0800, ipv4(src, dst, 17, udp(src, dst, 68, 67, bootp(ctx, f))));
}
const BUILDERS = { rs, ns, dhcp6, dhcp4 };

// ---------------------------------------------------------------------------------------------
// fuzzing: a seeded PRNG (mulberry32) and mutations that keep the frame past the responder's BPF
// filter most of the time (EtherType, next header / protocol, ICMPv6 type or UDP port intact), so
// the daemon's decoder, not the kernel, has to reject them

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fuzzFrames(ctx, seed, count, onFrame) {
  const rnd = mulberry32(seed);
  const int = (n) => Math.floor(rnd() * n);
  const bytes = (n) => Array.from({ length: n }, () => int(256));
  const targets = ['2001:db8::77', ctx.ll, '2001:db8::1', 'fe80::1', '::', 'ff02::1'];
  const base = () => {
    switch (int(4)) {
      case 0:
        return { cat: 'rs', f: rs(ctx, { src: rnd() < 0.2 ? '::' : ctx.ll }) };
      case 1:
        return { cat: 'ns', f: ns(ctx, { target: targets[int(targets.length)] }) };
      case 2:
        return { cat: 'dhcp6', f: dhcp6(ctx, { type: [1, 3, 5, 11, 12, 0, 255][int(7)], txid: int(1 << 24) }) };
      default:
        return { cat: 'dhcp4', f: dhcp4(ctx, { type: [1, 3, 8, 4, 7, 0, 99][int(7)], xid: int(2 ** 32), requested: rnd() < 0.5 ? '192.0.2.99' : undefined, server: rnd() < 0.3 ? '192.0.2.1' : undefined }) };
    }
  };
  // offsets inside each kind of frame (Ethernet 14 + IPv6 40 = 54; UDP at 54 or 34; BOOTP at 42)
  const l4 = (cat) => (cat === 'dhcp4' ? 34 : 54);
  const stats = { total: 0, mutation: {} };
  for (let i = 0; i < count; i++) {
    const { cat, f } = base();
    let m = f;
    const kind = int(10);
    let label;
    switch (kind) {
      case 0: // truncated anywhere
        label = 'truncated';
        m = f.slice(0, int(f.length));
        break;
      case 1: // truncated after the headers the filter reads
        label = 'truncated-payload';
        m = f.slice(0, l4(cat) + 4 + int(Math.max(1, f.length - l4(cat) - 4)));
        break;
      case 2: // random bytes after the filter's fields
        label = 'garbage-payload';
        m = [...f.slice(0, l4(cat) + (cat === 'dhcp4' || cat === 'dhcp6' ? 4 : 1)), ...bytes(int(600))];
        break;
      case 3: // one to eight random bytes overwritten anywhere past the EtherType
        label = 'bitflips';
        m = [...f];
        for (let k = 1 + int(8); k > 0; k--) m[14 + int(m.length - 14)] = int(256);
        break;
      case 4: // bad checksum (ICMPv6 / UDP)
        label = 'bad-checksum';
        m = [...f];
        m[l4(cat) + (cat === 'rs' || cat === 'ns' ? 2 : 6)] ^= 1 + int(255);
        break;
      case 5: // IP payload / total length too long or too short
        label = 'bad-ip-length';
        m = [...f];
        if (cat === 'dhcp4') {
          const v = int(2) ? 20 + int(20) : 1400 + int(60000);
          m[16] = v >> 8;
          m[17] = v & 255; // (the header checksum is now wrong too unless recomputed)
          if (int(2)) {
            m[24] = 0;
            m[25] = 0;
            const c = sum16(m.slice(14, 34));
            m[24] = c >> 8;
            m[25] = c & 255;
          }
        } else {
          const v = int(2) ? int(8) : 1500 + int(60000);
          m[18] = v >> 8;
          m[19] = v & 255;
        }
        break;
      case 6: // UDP length / ND option length bad
        label = 'bad-option-length';
        m = [...f];
        if (cat === 'rs') m[54 + 9] = int(2) ? 0 : 2 + int(250);
        else if (cat === 'ns') m[54 + 25] = int(2) ? 0 : 2 + int(250);
        else if (cat === 'dhcp6') {
          // option-len of the client id, then of the ORO (odd or overrunning)
          const at = 54 + 8 + 4 + (int(2) ? 2 : 14 + 2);
          const v = int(3) === 0 ? 1 + 2 * int(100) : int(65536);
          m[at] = v >> 8;
          m[at + 1] = v & 255;
        } else {
          // a DHCPv4 option whose length overruns (message type, or the parameter list)
          m[42 + 240 + 1 + (int(2) ? 0 : 3)] = int(256);
        }
        break;
      case 7: // UDP length field wrong
        label = 'bad-udp-length';
        m = [...f];
        if (cat === 'rs' || cat === 'ns') m[54 + 0] = 133 + 2 * int(2); // flip RS<->NS: wrong layout for the length
        else {
          const at = l4(cat) + 4;
          const v = int(2) ? int(8) : 1000 + int(60000);
          m[at] = v >> 8;
          m[at + 1] = v & 255;
        }
        break;
      case 8: // valid headers, garbage message of a plausible size (checksums made right again)
        label = 'valid-headers-garbage';
        if (cat === 'rs' || cat === 'ns') {
          const src = f.slice(22, 38);
          const dst = f.slice(38, 54);
          const msg = icmp6(src, dst, [f[54], int(2) ? 0 : int(256), 0, 0, ...bytes(4 + int(120))]);
          m = eth(f.slice(0, 6), f.slice(6, 12), 0x86dd, ipv6(src, dst, 58, int(4) ? 255 : int(256), msg));
        } else if (cat === 'dhcp6') {
          const src = f.slice(22, 38);
          const dst = f.slice(38, 54);
          m = eth(f.slice(0, 6), f.slice(6, 12), 0x86dd, ipv6(src, dst, 17, 1, udp(src, dst, 546, 547, [int(16), ...bytes(int(300))])));
        } else {
          const b = [1, 1, 6, ...bytes(233), 99, 130, 83, 99, ...bytes(int(300))];
          m = eth(f.slice(0, 6), f.slice(6, 12), 0x0800, ipv4([0, 0, 0, 0], [255, 255, 255, 255], 17, udp([0, 0, 0, 0], [255, 255, 255, 255], 68, 67, b)));
        }
        break;
      default: // random bytes behind a plausible Ethernet + IP header prefix
        label = 'random';
        m = [...f.slice(0, l4(cat) + int(4)), ...bytes(int(200))];
    }
    if (m.length < 14) m = [...m, ...bytes(14 - m.length)];
    if (m.length > 1514) m = m.slice(0, 1514);
    stats.total++;
    stats.mutation[label] = (stats.mutation[label] ?? 0) + 1;
    onFrame(Buffer.from(m));
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------

function main() {
  const spec = JSON.parse(process.argv[2]);
  const m = { exports: {} };
  process.dlopen(m, spec.addon);
  const dev = spec.dev ?? 'eth0';
  const ifindex = Number(fs.readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
  const mac = macBytes(fs.readFileSync(`/sys/class/net/${dev}/address`, 'utf8').trim());
  const ll = spec.ll ?? linkLocal(dev);
  const ctx = { mac, ll };
  let sendErrors = 0;
  const send = (frame) => {
    for (;;) {
      try {
        m.exports.send(ifindex, frame);
        return;
      } catch (e) {
        // ENOBUFS under a flood: the qdisc is full; try again
        if (!/ENOBUFS|No buffer space|Resource temporarily/.test(e.message)) throw e;
        sendErrors++;
      }
    }
  };
  if (spec.fuzz) {
    const stats = fuzzFrames(ctx, spec.fuzz.seed, spec.fuzz.count, send);
    process.stdout.write(JSON.stringify({ ...stats, sendErrors }) + '\n');
    return;
  }
  const frames = spec.frames.map((f) => {
    const b = BUILDERS[f.kind](ctx, f);
    // badChecksum: the ICMPv6 or UDP checksum off by one bit
    if (f.badChecksum) b[f.kind === 'dhcp4' ? 34 + 6 : 54 + (f.kind === 'dhcp6' ? 6 : 2)] ^= 0x01;
    return Buffer.from(b);
  });
  const repeat = spec.repeat ?? 1;
  const sendAll = (left) => {
    for (const f of frames) send(f);
    if (left > 1) setTimeout(() => sendAll(left - 1), spec.gapMs ?? 0);
    else process.stdout.write(JSON.stringify({ sent: frames.length * repeat, ll }) + '\n');
  };
  sendAll(repeat);
}

/** the device's link-local address, from /proc/net/if_inet6 */
function linkLocal(dev) {
  for (const line of fs.readFileSync('/proc/net/if_inet6', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 6 && f[5] === dev && f[3] === '20') return f[0].match(/.{4}/g).join(':').replace(/(^|:)0{1,3}/g, '$1');
  }
  return '::';
}

main();
