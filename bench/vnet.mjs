#!/usr/bin/env node
// A [vnet NAME] router's forwarding cost against the number of VMs placed (routing = static: one /32
// host route per VM, via the host that runs it).
//
//   sudo node bench/vnet.mjs [--vms 1,1000,4000] [--pings 50000] [--runs 3]
//
// Each N: a router namespace configured only by `vmrouter generate --node r1`, real ifup with the hook
// and `vmrouter vnet sync --node r1` of a placements file with N VMs: N - 1 on host h2, the last one
// (highest address) on h1. h1 is a plain namespace on the underlay that carries the measured VM's
// address; it flood-pings an internet host from it, through the router (masquerade out of the uplink;
// the replies are routed back by the VM's /32). No naive comparison: the figure is the ratio to the
// 1-VM cost (routes are a longest-prefix-match trie lookup, not a list).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchOptions, BIN, dropNs, freshNs, inNs, median, ROOT, sh, table, tmpfsRun } from './lib.mjs';

const { opt } = benchOptions('bench/vnet.mjs');
const PINGS = Number(opt('pings', '50000'));
const RUNS = Number(opt('runs', '3'));
const COUNTS = opt('vms', '1,1000,4000').split(',').map(Number);
const [R1, H1, INET] = ['bvn-r1', 'bvn-h1', 'bvn-inet'];
const STATE = '/tmp/bvn-ifstate';
const PLACEMENTS = '/tmp/bvn.placements';
const vmIp = (i) => `10.10.${Math.floor((i + 3) / 256)}.${(i + 3) % 256}`; // from 10.10.0.3 in 10.10.0.0/20

const CONF = `
[vnet net1]
subnet = 10.10.0.0/20
gateway = 10.10.0.1
bridge = br_net1
bridge_address = 10.10.0.2
table = 101
underlay = eth1
hosts = h1:192.168.56.103 h2:192.168.56.104
routers = r1:192.168.56.101
uplink = eth0
routing = static
placements = ${PLACEMENTS}
`;

function setup(n) {
  for (const ns of [R1, H1, INET]) freshNs(ns);
  sh(['ip', '-n', R1, 'link', 'add', 'dev', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', H1]);
  sh(['ip', '-n', R1, 'link', 'add', 'dev', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', INET]);
  for (const a of [['link', 'set', 'dev', 'eth0', 'up'], ['addr', 'add', '198.51.100.2/24', 'dev', 'eth0']]) inNs(INET, ['ip', ...a]);
  // h1: its underlay address, and the measured VM's address (the last one placed)
  for (const a of [['link', 'set', 'dev', 'eth1', 'up'], ['addr', 'add', '192.168.56.103/24', 'dev', 'eth1'], ['addr', 'add', `${vmIp(n - 1)}/32`, 'dev', 'lo'], ['route', 'add', 'default', 'via', '192.168.56.101']]) inNs(H1, ['ip', ...a]);

  // the router: the operator's stanzas for its underlay and uplink, then the generated ones
  const etc = join('/etc/netns', R1);
  mkdirSync(join(etc, 'vmrouter'), { recursive: true });
  writeFileSync(join(etc, 'vmrouter', 'vmrouter.conf'), CONF);
  writeFileSync('/tmp/bvn.conf', CONF);
  const generated = sh([BIN, '--config', '/tmp/bvn.conf', 'generate', '--node', 'r1']).stdout;
  const own = 'auto eth1\niface eth1 inet static\n    address 192.168.56.101/24\n\nauto eth0\niface eth0 inet static\n    address 198.51.100.1/24\n';
  const hook = readFileSync(join(ROOT, 'hooks', 'vmrouter'), 'utf8').replaceAll('/usr/sbin/vmrouter', BIN);
  for (const dir of ['if-pre-up.d', 'if-up.d', 'if-post-up.d', 'if-pre-down.d', 'if-down.d', 'if-post-down.d']) mkdirSync(join(etc, 'network', dir), { recursive: true });
  // in all six, as the package installs it (it acts on PHASE: vmrouter-create stanzas need pre-up and post-down)
  for (const dir of ['if-pre-up.d', 'if-up.d', 'if-post-up.d', 'if-pre-down.d', 'if-down.d', 'if-post-down.d']) {
    writeFileSync(join(etc, 'network', dir, 'vmrouter'), hook);
    chmodSync(join(etc, 'network', dir, 'vmrouter'), 0o755);
  }
  writeFileSync(join(etc, 'network', 'interfaces'), `${own}\n${generated}`);
  sh(['rm', '-rf', join(STATE, R1)]);
  mkdirSync(join(STATE, R1), { recursive: true });
  inNs(R1, ['ifup', '-i', '/etc/network/interfaces', '--state-dir', join(STATE, R1), 'eth0', 'eth1']);

  const lines = Array.from({ length: n }, (_, i) => `vm${i} ${i === n - 1 ? 'h1' : 'h2'} ${vmIp(i)}`);
  writeFileSync(PLACEMENTS, lines.join('\n') + '\n');
  inNs(R1, [BIN, 'vnet', 'sync', '--node', 'r1']);
  const routes = Number(inNs(R1, ['sh', '-c', 'ip route show | grep -c "^10\\.10\\."']).stdout.trim());
  if (routes < n) throw new Error(`vnet sync placed ${routes} of ${n} VMs`);
  return routes;
}

function measure(n) {
  const src = vmIp(n - 1);
  inNs(H1, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', src, '198.51.100.2']);
  const out = inNs(H1, ['ping', '-f', '-q', '-c', String(PINGS), '-I', src, '198.51.100.2']).stdout;
  const m = /(\d+) received.*time (\d+)ms/s.exec(out);
  if (!m || Number(m[1]) < PINGS * 0.99) throw new Error(`ping lost packets or failed:\n${out}`);
  return Number(m[2]);
}

const results = {};
const routes = {};
const madeEtc = !existsSync('/etc/vmrouter'); // `ip netns exec` bind-mounts /etc/netns/NS/vmrouter over it
if (madeEtc) mkdirSync('/etc/vmrouter');
const unmountRun = tmpfsRun();
try {
  for (const n of COUNTS) {
    routes[n] = setup(n);
    const runs = Array.from({ length: RUNS }, () => measure(n));
    results[n] = median(runs);
    process.stderr.write(`router with ${n} VMs placed (${routes[n]} host routes): ${runs.join(', ')} ms for ${PINGS} round trips\n`);
    inNs(R1, ['ifdown', '-i', '/etc/network/interfaces', '--state-dir', join(STATE, R1), 'eth1', 'eth0']);
  }
} finally {
  for (const ns of [R1, H1, INET]) dropNs(ns);
  sh(['rm', '-rf', STATE, PLACEMENTS, '/tmp/bvn.conf']);
  unmountRun();
  if (madeEtc) rmdirSync('/etc/vmrouter');
}

console.log(`vnet router: ${PINGS} ping -f round trips from the last-placed VM's address to the internet host, through the router, median of ${RUNS} (kernel ${sh(['uname', '-r']).stdout.trim()})`);
const rows = [['VMs placed', 'host routes', 'router ms', 'vs its 1-VM cost']];
for (const n of COUNTS) rows.push([n, routes[n], results[n], (results[n] / results[COUNTS[0]]).toFixed(2) + 'x']);
console.log(table(rows));
