#!/usr/bin/env node
// Forwarding cost against the number of VMs on a node, vmrouter's data path side by side with the
// seed's per-TAP design (one `ip rule iif TAP` and one iptables FORWARD rule per VM).
//
//   sudo node bench/forwarding.mjs [--pings 50000] [--vms 1,1000,4000]
//
// Each run: a node namespace with the TAPs (veth pairs), an uplink to a gateway namespace, and one VM
// namespace behind the last TAP (the worst place in every per-TAP list). The VM flood-pings the
// gateway through the node; the figure is ping's total time for all round trips.
import { BIN, dropNs, freshNs, inNs, ip4, makeTaps, NODE_CONF, sh, table, writeConf } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const PINGS = Number(opt('pings', '50000'));
const COUNTS = opt('vms', '1,1000,4000').split(',').map(Number);
const [NODE, GWNS, VM] = ['bfw-node', 'bfw-gw', 'bfw-vm'];

function topology(n) {
  for (const ns of [NODE, GWNS, VM]) freshNs(ns);
  sh(['ip', '-n', NODE, 'link', 'add', 'dev', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', GWNS]);
  sh(['ip', '-n', NODE, 'link', 'set', 'dev', 'up0', 'up']);
  inNs(GWNS, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  inNs(GWNS, ['ip', 'addr', 'add', '10.40.0.1/16', 'dev', 'eth0']);
  makeTaps(NODE, n - 1);
  // the measured VM behind the last TAP
  const last = n - 1;
  sh(['ip', '-n', NODE, 'link', 'add', 'dev', `tap${last}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', VM]);
  sh(['ip', '-n', NODE, 'link', 'set', 'dev', `tap${last}`, 'up']);
  inNs(VM, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  inNs(VM, ['ip', 'addr', 'add', `${ip4(last)}/16`, 'dev', 'eth0']);
  inNs(VM, ['ip', 'route', 'add', 'default', 'via', '10.40.0.1']);
}

function vmrouterDesign(n) {
  const conf = writeConf('/tmp/bfw.conf', NODE_CONF);
  inNs(NODE, [BIN, '--config', conf, 'up']);
  const lines = Array.from({ length: n }, (_, i) => `tap${i} ${ip4(i)}`).join('\n');
  writeConf('/tmp/bfw.bindings', lines + '\n');
  inNs(NODE, [BIN, '--config', conf, 'tap', 'sync', '--network', 'bench', '--from', '/tmp/bfw.bindings']);
}

/** The snf-network recipe with its per-TAP rules (the seed's ifup hook and kvm-ifup script). */
function perTapDesign(n) {
  const ip = [
    'route add 10.40.0.0/16 dev up0',
    'rule add iif up0 lookup 400',
    'route add 10.40.0.0/16 dev up0 table 400',
    'route add default via 10.40.0.1 dev up0 table 400',
  ];
  const ipt = ['*filter'];
  const sysctls = ['ipv4/conf/up0/proxy_arp', 'ipv4/conf/up0/forwarding', 'ipv4/neigh/up0/proxy_delay=0'];
  for (let i = 0; i < n; i++) {
    ip.push(`rule add dev tap${i} table 400`, `route add ${ip4(i)} dev tap${i} table 400`);
    ipt.push(`-A FORWARD -i tap${i} ! -s ${ip4(i)} -j DROP`);
    sysctls.push(`ipv4/conf/tap${i}/proxy_arp`, `ipv4/conf/tap${i}/forwarding`, `ipv4/neigh/tap${i}/proxy_delay=0`);
  }
  ipt.push('COMMIT');
  sh(['ip', '-n', NODE, '-batch', '-'], { input: ip.join('\n') + '\n' });
  inNs(NODE, ['iptables-restore', '--noflush'], { input: ipt.join('\n') + '\n' });
  const script = sysctls.map((s) => (s.includes('=') ? `echo ${s.split('=')[1]} > /proc/sys/net/${s.split('=')[0]}` : `echo 1 > /proc/sys/net/${s}`)).join('\n');
  inNs(NODE, ['sh', '-s'], { input: script + '\n' });
}

function measure() {
  inNs(VM, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.40.0.1']); // resolve neighbours first
  const out = inNs(VM, ['ping', '-f', '-q', '-c', String(PINGS), '10.40.0.1']).stdout;
  const m = /(\d+) received.*time (\d+)ms/s.exec(out);
  if (!m || Number(m[1]) < PINGS * 0.99) throw new Error(`ping lost packets or failed:\n${out}`);
  return Number(m[2]);
}

const results = {};
for (const design of ['vmrouter', 'per-TAP']) {
  for (const n of COUNTS) {
    topology(n);
    (design === 'vmrouter' ? vmrouterDesign : perTapDesign)(n);
    results[`${design} ${n}`] = measure();
    process.stderr.write(`${design} with ${n} VMs: ${results[`${design} ${n}`]} ms for ${PINGS} round trips\n`);
  }
}
for (const ns of [NODE, GWNS, VM]) dropNs(ns);

const rows = [['VMs on the node', 'vmrouter ms', 'vs its 1-VM', 'per-TAP ms', 'vs its 1-VM', 'per-TAP / vmrouter']];
for (const n of COUNTS) {
  const v = results[`vmrouter ${n}`];
  const p = results[`per-TAP ${n}`];
  rows.push([n, v, (v / results[`vmrouter ${COUNTS[0]}`]).toFixed(2) + 'x', p, (p / results[`per-TAP ${COUNTS[0]}`]).toFixed(2) + 'x', (p / v).toFixed(2) + 'x']);
}
console.log(`forwarding: ${PINGS} ping -f round trips VM -> gateway through the node (kernel ${sh(['uname', '-r']).stdout.trim()})`);
console.log(table(rows));
