#!/usr/bin/env node
// The responder under load: Router Solicitations from 1 and from 1000 bound TAPs (1000 VMs booting
// at once), answered by `vmrouter ndp`.
//
//   sudo node bench/ndp.mjs [--rs 20000]
//
// Throughput runs use solicited_ra_delay = 0 (every RS answered at once, unicast); the RFC run keeps
// the default 0..500 ms random delay (RFC 4861 6.2.6) and checks that every RS got its RA within that
// window. Processing time is the daemon's own (its stats: receive → send, the chosen delay excluded).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, dropNs, freshNs, inNs, ROOT, sh, table, tmpfsRun, writeConf } from './lib.mjs';

const args = process.argv.slice(2);
const TOTAL = Number(args.includes('--rs') ? args[args.indexOf('--rs') + 1] : 20000);
const [NODE, GEN] = ['bnd-node', 'bnd-gen'];
const ADDON = join(ROOT, 'dist', 'vmrouter_packet.node');
const unmountRun = tmpfsRun();

const conf = (delay) =>
  writeConf(
    '/tmp/bnd.conf',
    `[network bench]\nrole = vmc\nuplink = up0\ntable = 400\nsubnet6 = 2001:db8:40::/64\ngateway6 = 2001:db8:40::1\n\n[ndp]\nsolicited_ra_delay = ${delay}\nnameservers = 2001:db8::53\ndomains = example.org\n`,
  );

/** node with N TAPs (veth: the VM side of each in the generator namespace), all bound */
function topology(n) {
  for (const ns of [NODE, GEN]) freshNs(ns);
  // no DAD on the TAPs' link-locals: the bench starts at once (a real TAP finishes DAD in ~1 s)
  inNs(NODE, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.accept_dad=0']);
  inNs(GEN, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.accept_dad=0']);
  sh(['ip', '-n', NODE, 'link', 'add', 'dev', 'up0', 'type', 'veth', 'peer', 'name', 'p0']);
  const lines = ['link set dev up0 up', 'link set dev p0 up'];
  for (let i = 0; i < n; i++) lines.push(`link add dev tap${i} type veth peer name v${i} netns ${GEN}`, `link set dev tap${i} up`);
  sh(['ip', '-n', NODE, '-batch', '-'], { input: lines.join('\n') + '\n' });
  sh(['ip', '-n', GEN, '-batch', '-'], { input: Array.from({ length: n }, (_, i) => `link set dev v${i} up`).join('\n') + '\n' });
  inNs(NODE, [BIN, '--config', conf(0), 'up']);
  writeFileSync('/tmp/bnd.bindings', Array.from({ length: n }, (_, i) => `tap${i} 2001:db8:40::${(i + 2).toString(16)}`).join('\n') + '\n');
  inNs(NODE, [BIN, '--config', '/tmp/bnd.conf', 'tap', 'sync', '--network', 'bench', '--from', '/tmp/bnd.bindings']);
}

function startDaemon(delay) {
  conf(delay);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn('ip', ['netns', 'exec', NODE, BIN, '--config', '/tmp/bnd.conf', 'ndp'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve) => {
    child.stderr.on('data', (d) => {
      if (String(d).includes('listening')) resolve(child);
    });
  });
}

async function stopDaemon(child) {
  child.kill('SIGUSR1');
  await new Promise((r) => setTimeout(r, 300));
  const stats = JSON.parse(readFileSync(`/run/vmrouter/netns/${NODE}/ndp-stats.json`, 'utf8'));
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  return stats;
}

// The generator runs inside the generator namespace: it sends RS frames (from each VM's link-local,
// with SLLAO) on the chosen interfaces and records when each RA comes back.
const GENERATOR = `
const fs = require('fs');
const m = { exports: {} }; process.dlopen(m, process.env.ADDON);
const { send, listen, stop } = m.exports;
const [n, total, perRound] = [Number(process.env.N), Number(process.env.TOTAL), Number(process.env.PER_ROUND)];
const v6 = (a) => { const [h, t] = a.split('::'); const p = (s) => (s ? s.split(':') : []); const g = [...p(h), ...Array(8 - p(h).length - p(t).length).fill('0'), ...p(t)]; return g.flatMap((x) => [parseInt(x, 16) >> 8, parseInt(x, 16) & 255]); };
const lls = new Map();
for (const l of fs.readFileSync('/proc/net/if_inet6', 'utf8').trim().split('\\n')) { const f = l.trim().split(/\\s+/); if (f[3] === '20') lls.set(parseInt(f[1], 16), f[0].match(/.{4}/g).join(':')); }
const frames = [];
for (let i = 0; i < n; i++) {
  const dev = 'v' + i;
  const ifindex = Number(fs.readFileSync('/sys/class/net/' + dev + '/ifindex', 'utf8'));
  const mac = fs.readFileSync('/sys/class/net/' + dev + '/address', 'utf8').trim().split(':').map((h) => parseInt(h, 16));
  const src = v6(lls.get(ifindex)), dst = v6('ff02::2');
  const rs = [133, 0, 0, 0, 0, 0, 0, 0, 1, 1, ...mac];
  const pseudo = [...src, ...dst, 0, 0, 0, rs.length, 0, 0, 0, 58, ...rs];
  let sum = 0; for (let k = 0; k < pseudo.length; k += 2) sum += (pseudo[k] << 8) + (pseudo[k + 1] || 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16); sum = ~sum & 0xffff; rs[2] = sum >> 8; rs[3] = sum & 255;
  frames.push({ ifindex, frame: Buffer.from([0x33, 0x33, 0, 0, 0, 2, ...mac, 0x86, 0xdd, 0x60, 0, 0, 0, 0, rs.length, 58, 255, ...src, ...dst, ...rs]) });
}
// tcpdump -dd 'icmp6 and ip6[40] == 134'
const prog = [[0x28,0,0,0x0c],[0x15,0,3,0x86dd],[0x30,0,0,0x14],[0x15,0,1,0x3a],[0x30,0,0,0x36],[0x15,0,1,0x86],[0x6,0,0,0x40000],[0x6,0,0,0]];
const filter = Buffer.alloc(prog.length * 8); prog.forEach(([c, jt, jf, k], i) => { filter.writeUInt16LE(c, i * 8); filter[i * 8 + 2] = jt; filter[i * 8 + 3] = jf; filter.writeUInt32LE(k, i * 8 + 4); });
const sentAt = new Map(); // ifindex -> queue of send times
const latencies = [];
let received = 0, firstSend = 0, lastReceive = 0;
listen(filter, (ifindex) => {
  const q = sentAt.get(ifindex); const t = performance.now();
  if (q && q.length) latencies.push(t - q.shift());
  received++; lastReceive = t;
  if (received === total) finish();
});
let sent = 0;
function round() {
  const until = Math.min(total, sent + perRound);
  if (!firstSend) firstSend = performance.now();
  while (sent < until) { const f = frames[sent % n]; let q = sentAt.get(f.ifindex); if (!q) sentAt.set(f.ifindex, q = []); q.push(performance.now()); send(f.ifindex, f.frame); sent++; }
  if (sent < total) setTimeout(round, Number(process.env.GAP_MS));
}
let done = false;
function finish() { if (done) return; done = true; stop(); latencies.sort((a, b) => a - b);
  const at = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p / 100))] : 0;
  process.stdout.write(JSON.stringify({ sent, received, seconds: (lastReceive - firstSend) / 1000, p50: at(50), p99: at(99), max: at(100) })); process.exit(0); }
setTimeout(round, 200);
setTimeout(finish, Number(process.env.DEADLINE_MS));
`;

function generate(n, total, perRound, gapMs, deadlineMs) {
  const env = { ...process.env, ADDON, N: String(n), TOTAL: String(total), PER_ROUND: String(perRound), GAP_MS: String(gapMs), DEADLINE_MS: String(deadlineMs) };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = sh(['ip', 'netns', 'exec', GEN, 'node', '-e', GENERATOR], { env });
  return JSON.parse(r.stdout);
}

const rows = [['run', 'RS sent', 'RA received', 'lost', 'RS/s answered', 'RS→RA p50 ms', 'RS→RA p99 ms', 'daemon p50 ms', 'daemon p99 ms']];
for (const n of [1, 1000]) {
  topology(n);
  const daemon = await startDaemon(0);
  // bursts of one RS per TAP (1000 VMs booting at once), back to back
  const g = generate(n, TOTAL, Math.max(n, 200), 1, 60_000);
  const stats = await stopDaemon(daemon);
  rows.push([`${n} TAP${n > 1 ? 's' : ''}, no delay`, g.sent, g.received, g.sent - g.received, Math.round(g.received / g.seconds), g.p50.toFixed(2), g.p99.toFixed(2), stats.processing.p50.toFixed(3), stats.processing.p99.toFixed(3)]);
  process.stderr.write(`${n} TAPs: ${JSON.stringify(g)}; daemon ${JSON.stringify(stats.processing)}, socket ${JSON.stringify(stats.socket)}\n`);
}
// RFC timing: 1000 VMs booting at once, each sending one RS; the daemon waits 0..500 ms per RFC 4861
const daemon = await startDaemon(500);
const g = generate(1000, 1000, 1000, 1, 5_000);
const stats = await stopDaemon(daemon);
rows.push(['1000 TAPs, RFC delay 0..500 ms', g.sent, g.received, g.sent - g.received, '-', g.p50.toFixed(1), g.p99.toFixed(1), stats.processing.p50.toFixed(3), stats.processing.p99.toFixed(3)]);
const within = stats.solicited.late === 0 && g.received === g.sent;
for (const ns of [NODE, GEN]) dropNs(ns);
unmountRun();

console.log('vmrouter ndp: Router Solicitations from bound TAPs, answered with Router Advertisements');
console.log(table(rows));
console.log(
  `RFC run: the daemon saw at most ${stats.solicited.maxMs.toFixed(1)} ms from the kernel's receipt of an RS to its RA (window 500 ms), ${stats.solicited.late} late: ${within ? 'every RS answered within the window' : 'SOME RS ANSWERED LATE'}; seen from the VMs, the slowest RA came ${g.max.toFixed(1)} ms after its RS was sent`,
);

