#!/usr/bin/env node
// Latency of the single operations a hypervisor waits for: one `vmrouter tap up` (on an idle node
// and on a node carrying 1000 VMs) and one `ifup` of an uplink with the vmrouter hook; plus start-up.
// NODE_EXTRA_CA_CERTS is unset (it adds ~45 ms to every node start on these machines).
//
//   sudo node bench/latency.mjs [--runs 21]
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { BIN, dropNs, freshNs, inNs, ip4, ip6, makeTaps, median, NODE_CONF, percentile, ROOT, sh, table, time, tmpfsRun, writeConf } from './lib.mjs';

const unmountRun = tmpfsRun();

const args = process.argv.slice(2);
const RUNS = Number(args.includes('--runs') ? args[args.indexOf('--runs') + 1] : 21);
const [NODE, GWNS] = ['blt-node', 'blt-gw'];
const conf = writeConf('/tmp/blt.conf', NODE_CONF);
const rows = [['operation', 'median ms', 'p90 ms', 'min ms']];
const record = (what, samples) => rows.push([what, median(samples).toFixed(1), percentile(samples, 90).toFixed(1), Math.min(...samples).toFixed(1)]);

for (const ns of [NODE, GWNS]) freshNs(ns);
record('vmrouter --version (start-up)', Array.from({ length: RUNS }, () => time(() => sh([BIN, '--version']))));
record('ip netns exec NS true (included in the rows below)', Array.from({ length: RUNS }, () => time(() => inNs(GWNS, ['true']))));
sh(['ip', '-n', NODE, 'link', 'add', 'dev', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', GWNS]);
inNs(GWNS, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);

// ifup with the installed hook: the repository's hooks/vmrouter, pointed at the built binary
const etc = `/etc/netns/${NODE}/network`;
for (const d of ['if-pre-up.d', 'if-up.d', 'if-post-up.d', 'if-pre-down.d', 'if-down.d', 'if-post-down.d']) mkdirSync(`${etc}/${d}`, { recursive: true });
// in all six, as the package installs it (it acts on PHASE)
for (const d of ['if-pre-up.d', 'if-up.d', 'if-post-up.d', 'if-pre-down.d', 'if-down.d', 'if-post-down.d']) {
  writeFileSync(`${etc}/${d}/vmrouter`, readFileSync(`${ROOT}/hooks/vmrouter`, 'utf8').replaceAll('/usr/sbin/vmrouter', BIN));
  chmodSync(`${etc}/${d}/vmrouter`, 0o755);
}
writeFileSync(`${etc}/interfaces`, sh([BIN, '--config', conf, 'generate']).stdout);
mkdirSync('/tmp/blt-ifstate', { recursive: true });
const ifupdown = (verb) => inNs(NODE, [verb, '-i', '/etc/network/interfaces', '--state-dir', '/tmp/blt-ifstate', 'up0']);
const ifups = [];
for (let i = 0; i < RUNS; i++) {
  ifups.push(time(() => ifupdown('ifup')));
  ifupdown('ifdown');
}
record('ifup up0 (vmrouter hook: network with IPv4 + IPv6)', ifups);
ifupdown('ifup');

makeTaps(NODE, 1, 1000);
const tapUp = (i) => inNs(NODE, [BIN, '--config', conf, 'tap', 'up', '--network', 'bench', '--tap', `tap${i}`, '--ip', ip4(i), '--ip6', ip6(i)]);
const tapDown = (i) => inNs(NODE, [BIN, '--config', conf, 'tap', 'down', '--tap', `tap${i}`]);
const idle = [];
for (let i = 0; i < RUNS; i++) {
  idle.push(time(() => tapUp(1000)));
  tapDown(1000);
}
record('tap up (node with no other VM)', idle);
makeTaps(NODE, 1000);
writeFileSync('/tmp/blt.bindings', Array.from({ length: 1000 }, (_, i) => `tap${i} ${ip4(i)} ${ip6(i)}`).join('\n') + '\n');
inNs(NODE, [BIN, '--config', conf, 'tap', 'sync', '--network', 'bench', '--from', '/tmp/blt.bindings']);
const busy = [];
const downs = [];
for (let i = 0; i < RUNS; i++) {
  busy.push(time(() => tapUp(1000)));
  downs.push(time(() => tapDown(1000)));
}
record('tap up (node carrying 1000 VMs)', busy);
record('tap down (node carrying 1000 VMs)', downs);
for (const ns of [NODE, GWNS]) dropNs(ns);
sh(['rm', '-rf', '/tmp/blt-ifstate']);

console.log(`latency over ${RUNS} runs each (wall time of the whole command, inside ip netns exec)`);
console.log(table(rows));
unmountRun();
