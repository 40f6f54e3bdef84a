#!/usr/bin/env node
// NAT pairs ([natpair NAME]) against the number of entries, vmrouter's customer node side by side with
// the seed's design (seed 002: one iptables DNAT rule per entry in PREROUTING, plus one per-source DNAT
// rule per customer VM towards the server), with the same addresses on the same interfaces.
//
//   sudo node bench/natpair.mjs [--entries 1,1000,4000] [--pings 50000] [--flows 20000] [--runs 3] [--loop-max 4000] [--bringup-only]
//
// Each N: a customer node namespace with N customer VMs mapped on one customer interface (cA) and one
// management server, so N + 1 slots on ceil((N + 1) / 29) transit interfaces (the seed's /27 per
// interface, 198.18.0.0/15). The last transit interface is a veth to a "far" namespace standing for the
// cloud router and the management node (it sends from the management node's transit address); cA is a
// veth to the VM of the *last* entry (the worst place in a per-entry rule list). The other transit
// interfaces are veths with their far ends up and unused. vmrouter's node is configured only by `vmrouter generate` and real ifup with
// the hook; the naive node by `ip -batch` (addresses, routes) and iptables rules.
//
// Measured per N:
//   (a) forwarding: `ping -f` far -> last VM's unique address, through the node (one ICMP connection);
//   (b) new connections: UDP request/answer pairs far -> last VM, each from a new source port, so each
//       one is a new conntrack entry and goes through the NAT chains (the nat table sees only the
//       first packet of a connection);
//   (c) bring-up: ifup of the pair's interfaces vs 2N+2 `iptables -t nat -A` processes vs one
//       iptables-restore of the same rules.
import { spawn } from 'node:child_process';
import { mkdirSync, rmdirSync, existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { benchOptions, BIN, dropNs, freshNs, inNs, median, ROOT, sh, table, time, tmpfsRun } from './lib.mjs';

const { opt, flag } = benchOptions('bench/natpair.mjs');
const PINGS = Number(opt('pings', '50000'));
const FLOWS = Number(opt('flows', '20000'));
const RUNS = Number(opt('runs', '3'));
const LOOP_MAX = Number(opt('loop-max', '4000')); // the per-process loop is skipped above this N
const COUNTS = opt('entries', '1,1000,4000').split(',').map(Number);
/** only the bring-up table: skip the forwarding measurements (minutes of ping -f and UDP flows) */
const BRINGUP_ONLY = flag('bringup-only');
const [NODE, FAR, VM] = ['bnp-node', 'bnp-far', 'bnp-vm'];
const STATE = '/tmp/bnp-ifstate';
const PER = 29; // entries per /27 (.2 .. .30)

// ---- the address plan (as src/model/nat-plan.ts computes it for block 198.18.0.0/15) ----
const u32 = (a) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
const dotted = (n) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
const UC = (slot) => dotted(u32('198.18.0.0') + Math.floor(slot / PER) * 32 + 2 + (slot % PER));
const UM = (slot) => dotted(u32('198.19.0.0') + Math.floor(slot / PER) * 32 + 2 + (slot % PER));
const pairNet = (base, k) => dotted(u32(base) + k * 32);
const SERVER = '172.16.0.100'; // slot 0: servers first, then VMs in address order
const vmIp = (i) => `10.${1 + Math.floor(i / 250)}.0.${2 + (i % 250)}`;
const vmSlot = (i) => i + 1;
const pairs = (n) => Math.ceil((n + 1) / PER);

function topology(n) {
  for (const ns of [NODE, FAR, VM]) freshNs(ns);
  const P = pairs(n);
  const last = P - 1;
  // the other transit interfaces: veth pairs whose far ends are up (with carrier) and unused in FAR
  const batch = [];
  const farUp = [];
  for (let k = 0; k < last; k++) batch.push(`link add dev t${k} type veth peer name s${k} netns ${FAR}`), farUp.push(`link set dev s${k} up`);
  sh(['ip', '-n', NODE, '-batch', '-'], { input: batch.join('\n') + '\n' });
  sh(['ip', '-n', FAR, '-batch', '-'], { input: farUp.join('\n') + '\n' });
  sh(['ip', '-n', NODE, 'link', 'add', 'dev', `t${last}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', FAR]);
  sh(['ip', '-n', NODE, 'link', 'add', 'dev', 'cA', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', VM]);
  // far: the cloud router's .1 of the last pair, and the management node's transit address of that pair
  const gw = dotted(u32(pairNet('198.18.0.0', last)) + 1);
  const from = UM(last * PER);
  for (const a of [['link', 'set', 'dev', 'eth0', 'up'], ['addr', 'add', `${gw}/27`, 'dev', 'eth0'], ['addr', 'add', `${from}/32`, 'dev', 'eth0']]) inNs(FAR, ['ip', ...a]);
  // the last entry's VM; it sees the management side as 198.18.0.2 (the customer node SNATs to it)
  for (const a of [['link', 'set', 'dev', 'eth0', 'up'], ['addr', 'add', `${vmIp(n - 1)}/32`, 'dev', 'eth0'], ['route', 'add', '198.18.0.2/32', 'dev', 'eth0']]) inNs(VM, ['ip', ...a]);
  return { P, from, target: UC(vmSlot(n - 1)) };
}

// ---- vmrouter: generated stanzas, real ifup with the hook ----
function vmrouterConf(n) {
  const lines = ['[natpair bench]', 'role = customer', 'block = 198.18.0.0/15', `transit = ${Array.from({ length: pairs(n) }, (_, k) => `t${k}`).join(' ')}`, 'table = 300', `server = ${SERVER}`];
  for (let i = 0; i < n; i++) lines.push(`map = cA ${vmIp(i)}`);
  return lines.join('\n') + '\n';
}

function installVmrouter(n) {
  const conf = vmrouterConf(n);
  writeFileSync('/tmp/bnp.conf', conf);
  const interfaces = sh([BIN, '--config', '/tmp/bnp.conf', 'generate']).stdout;
  const etc = join('/etc/netns', NODE);
  mkdirSync(join(etc, 'vmrouter'), { recursive: true });
  writeFileSync(join(etc, 'vmrouter', 'vmrouter.conf'), conf);
  const hook = readFileSync(join(ROOT, 'hooks', 'vmrouter'), 'utf8').replaceAll('/usr/sbin/vmrouter', BIN);
  for (const dir of ['if-pre-up.d', 'if-up.d', 'if-post-up.d', 'if-pre-down.d', 'if-down.d', 'if-post-down.d']) mkdirSync(join(etc, 'network', dir), { recursive: true });
  // in all six, as the package installs it (it acts on PHASE: vmrouter-create stanzas need pre-up and post-down)
  for (const dir of ['if-pre-up.d', 'if-up.d', 'if-post-up.d', 'if-pre-down.d', 'if-down.d', 'if-post-down.d']) {
    writeFileSync(join(etc, 'network', dir, 'vmrouter'), hook);
    chmodSync(join(etc, 'network', dir, 'vmrouter'), 0o755);
  }
  writeFileSync(join(etc, 'network', 'interfaces'), interfaces);
  sh(['rm', '-rf', join(STATE, NODE)]);
  mkdirSync(join(STATE, NODE), { recursive: true });
  return [...Array.from({ length: pairs(n) }, (_, k) => `t${k}`), 'cA'];
}
const ifupdown = (verb, ifaces) => inNs(NODE, [verb, '-i', '/etc/network/interfaces', '--state-dir', join(STATE, NODE), ...ifaces]);

// ---- the naive node: the seed's per-entry iptables rules, same addresses ----
function naiveIpBatch(n) {
  const P = pairs(n);
  const b = [];
  for (let k = 0; k < P; k++) {
    b.push(`link set dev t${k} up`, `addr add ${UC(k * PER)}/27 dev t${k}`);
    b.push(`route add ${pairNet('198.19.0.0', k)}/27 via ${dotted(u32(pairNet('198.18.0.0', k)) + 1)} dev t${k}`);
  }
  for (let s = 0; s <= n; s++) if (s % PER !== 0) b.push(`addr add ${UC(s)}/32 dev t${Math.floor(s / PER)}`);
  b.push('link set dev cA up');
  for (let i = 0; i < n; i++) b.push(`route add ${vmIp(i)}/32 dev cA`);
  return b.join('\n') + '\n';
}
/** 2N + 2 rules: per VM its inbound DNAT and its per-source DNAT towards the server; MASQUERADE, SNAT. */
function naiveRules(n) {
  const r = [];
  for (let i = 0; i < n; i++) {
    const t = `t${Math.floor(vmSlot(i) / PER)}`;
    r.push(`-A PREROUTING -i ${t} -d ${UC(vmSlot(i))}/32 -j DNAT --to-destination ${vmIp(i)}`);
    r.push(`-A PREROUTING -i cA -s ${vmIp(i)}/32 -d ${UC(0)}/32 -j DNAT --to-destination ${UM(0)}`);
  }
  r.push('-A POSTROUTING -o t+ -j MASQUERADE', `-A POSTROUTING -o cA -j SNAT --to-source ${UC(0)}`);
  return r;
}
const restoreText = (rules) => ['*nat', ...rules, 'COMMIT', ''].join('\n');
const natRules = () => Number(inNs(NODE, ['sh', '-c', 'iptables -t nat -S | grep -c -- "^-A"']).stdout.trim());

// ---- measurements ----
function ping(target, from) {
  inNs(FAR, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', from, target]); // neighbours, conntrack
  const out = inNs(FAR, ['ping', '-f', '-q', '-c', String(PINGS), '-I', from, target]).stdout;
  const m = /(\d+) received.*time (\d+)ms/s.exec(out);
  if (!m || Number(m[1]) < PINGS * 0.99) throw new Error(`ping lost packets or failed:\n${out}`);
  return Number(m[2]);
}

// A UDP echo in the VM; the client sends FLOWS request/answer pairs, each from a fresh source port.
const ECHO = `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7))
while True:
    d, a = s.recvfrom(64); s.sendto(d, a)`;
const CLIENT = `import socket, sys, time
target, src, flows = sys.argv[1], sys.argv[2], int(sys.argv[3])
ok = 0; t0 = time.perf_counter()
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
    s.bind((src, 10000 + i % 50000)); s.sendto(b"x", (target, 7))
    try:
        s.recvfrom(64); ok += 1
    except socket.timeout:
        pass
    s.close()
print(ok, round((time.perf_counter() - t0) * 1000))`;
function flows(target, from) {
  if (FLOWS > 50000) throw new Error('--flows: at most 50000 (one source port each)');
  const echo = spawn('ip', ['netns', 'exec', VM, 'python3', '-c', ECHO], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    // the rest of this script is synchronous: wait until the echo's socket is bound
    for (let k = 0; !inNs(VM, ['ss', '-H', '-uln', 'sport = :7']).stdout.trim(); k++) {
      if (k > 100) throw new Error('the UDP echo did not start');
      sh(['sleep', '0.05']);
    }
    inNs(FAR, ['conntrack', '-F'], { ok: false });
    inNs(NODE, ['conntrack', '-F'], { ok: false });
    const [ok, ms] = inNs(FAR, ['python3', '-c', CLIENT, target, from, String(FLOWS)]).stdout.trim().split(' ').map(Number);
    if (ok < FLOWS * 0.99) throw new Error(`only ${ok} of ${FLOWS} UDP flows answered`);
    inNs(NODE, ['conntrack', '-F'], { ok: false });
    return ms;
  } finally {
    echo.kill();
  }
}

const results = {};
const note = (k, v) => {
  results[k] = v;
  process.stderr.write(`${k}: ${typeof v === 'number' ? v.toFixed(0) : v}\n`);
};

const madeEtc = !existsSync('/etc/vmrouter'); // `ip netns exec` bind-mounts /etc/netns/NS/vmrouter over it
if (madeEtc) mkdirSync('/etc/vmrouter');
const unmountRun = tmpfsRun();
try {
  for (const n of COUNTS) {
    const { from, target } = topology(n);
    // vmrouter: RUNS × (ifup timed, ifdown); the last ifup stays for the data path
    const ifaces = installVmrouter(n);
    const ups = [];
    const downs = [];
    for (let r = 0; r < RUNS; r++) {
      if (r > 0) downs.push(time(() => ifupdown('ifdown', [...ifaces].reverse())));
      ups.push(time(() => ifupdown('ifup', ifaces)));
    }
    const elements = inNs(NODE, ['nft', 'list', 'table', 'ip', 'vmrouter-natpair-bench']).stdout;
    if (!elements.includes(`${target} `) && !elements.includes(`${target},`)) throw new Error(`vmrouter: ${target} not in its nft table`);
    note(`vmrouter ${n} ifup`, median(ups));
    if (downs.length) note(`vmrouter ${n} ifdown`, median(downs));
    if (!BRINGUP_ONLY) {
      note(`vmrouter ${n} ping`, median(Array.from({ length: RUNS }, () => ping(target, from))));
      note(`vmrouter ${n} flows`, median(Array.from({ length: RUNS }, () => flows(target, from))));
    }
    ifupdown('ifdown', [...ifaces].reverse());

    // naive: addresses and routes in one ip -batch, then the rules
    note(`naive ${n} ip-batch`, time(() => sh(['ip', '-n', NODE, '-batch', '-'], { input: naiveIpBatch(n) })));
    inNs(NODE, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    const rules = naiveRules(n);
    const restores = [];
    for (let r = 0; r < RUNS; r++) {
      inNs(NODE, ['iptables', '-t', 'nat', '-F']);
      restores.push(time(() => inNs(NODE, ['iptables-restore', '--noflush'], { input: restoreText(rules) })));
    }
    if (natRules() !== rules.length) throw new Error('iptables-restore did not load every rule');
    note(`naive ${n} restore`, median(restores));
    if (!BRINGUP_ONLY) {
      note(`naive ${n} ping`, median(Array.from({ length: RUNS }, () => ping(target, from))));
      note(`naive ${n} flows`, median(Array.from({ length: RUNS }, () => flows(target, from))));
    }
    if (n <= LOOP_MAX) {
      inNs(NODE, ['iptables', '-t', 'nat', '-F']);
      const script = rules.map((r) => `iptables -t nat ${r}`).join('\n') + '\n';
      note(`naive ${n} loop`, time(() => inNs(NODE, ['sh', '-e', '-s'], { input: script })));
      if (natRules() !== rules.length) throw new Error('the loop did not add every rule');
    }
  }
} finally {
  for (const ns of [NODE, FAR, VM]) dropNs(ns);
  sh(['rm', '-rf', STATE, '/tmp/bnp.conf']);
  unmountRun();
  if (madeEtc) rmdirSync('/etc/vmrouter');
}

const ipt = sh(['iptables', '-V']).stdout.trim();
const first = COUNTS[0];
const r = (k) => results[k];
const x = (a, b) => (a / b).toFixed(2) + 'x';
if (!BRINGUP_ONLY) {
console.log(`\nforwarding through the customer node to the last entry (kernel ${sh(['uname', '-r']).stdout.trim()}; naive rules with ${ipt})`);
console.log(`ping: ${PINGS} ping -f round trips (one connection); flows: ${FLOWS} UDP request/answer pairs, each a new connection; median of ${RUNS} each`);
const fw = [['entries', 'vmrouter ping ms', 'vs 1', 'naive ping ms', 'vs 1', 'vmrouter flows ms', 'vs 1', 'naive flows ms', 'vs 1', 'naive / vmrouter flows']];
for (const n of COUNTS) {
  fw.push([n, r(`vmrouter ${n} ping`), x(r(`vmrouter ${n} ping`), r(`vmrouter ${first} ping`)), r(`naive ${n} ping`), x(r(`naive ${n} ping`), r(`naive ${first} ping`)),
    r(`vmrouter ${n} flows`), x(r(`vmrouter ${n} flows`), r(`vmrouter ${first} flows`)), r(`naive ${n} flows`), x(r(`naive ${n} flows`), r(`naive ${first} flows`)), x(r(`naive ${n} flows`), r(`vmrouter ${n} flows`))]);
}
console.log(table(fw));
}
console.log(`\nbring-up (median of ${RUNS} where marked; the loop runs once)`);
const bu = [['entries', 'transit ifaces', 'naive rules', `vmrouter ifup ms (med ${RUNS})`, `vmrouter ifdown ms`, 'naive ip -batch ms', `iptables-restore ms (med ${RUNS})`, 'naive loop ms', 'ifup / loop', 'ifup / (ip -batch + restore)']];
for (const n of COUNTS) {
  const up = r(`vmrouter ${n} ifup`);
  const loop = r(`naive ${n} loop`);
  bu.push([n, pairs(n), 2 * n + 2, up.toFixed(0), r(`vmrouter ${n} ifdown`)?.toFixed(0) ?? '-', r(`naive ${n} ip-batch`).toFixed(0), r(`naive ${n} restore`).toFixed(0),
    loop === undefined ? 'skipped' : loop.toFixed(0), loop === undefined ? '-' : x(up, loop), x(up, r(`naive ${n} restore`) + r(`naive ${n} ip-batch`))]);
}
console.log(table(bu));
