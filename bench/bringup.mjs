#!/usr/bin/env node
// Bringing up many VMs on a node: `vmrouter tap sync` (one transaction), N sequential `vmrouter tap
// up`, and the naive way — a shell loop running one ip/sysctl/iptables/arptables process per command,
// as per-TAP hypervisor scripts do — side by side in one run.
//
//   sudo node bench/bringup.mjs [--vms 1000]
import { writeFileSync } from 'node:fs';
import { BIN, dropNs, freshNs, inNs, ip4, ip6, makeTaps, median, NODE_CONF, sh, table, time, tmpfsRun, writeConf } from './lib.mjs';

const unmountRun = tmpfsRun();

const args = process.argv.slice(2);
const N = Number(args.includes('--vms') ? args[args.indexOf('--vms') + 1] : 1000);
const [NODE, GWNS] = ['bbu-node', 'bbu-gw'];

function topology() {
  for (const ns of [NODE, GWNS]) freshNs(ns);
  sh(['ip', '-n', NODE, 'link', 'add', 'dev', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', GWNS]);
  sh(['ip', '-n', NODE, 'link', 'set', 'dev', 'up0', 'up']);
  makeTaps(NODE, N);
}

const conf = writeConf('/tmp/bbu.conf', NODE_CONF);
const mac = (i) => `52:54:00:40:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const objects = () => Number(inNs(NODE, ['sh', '-c', 'ip route show table 400 | wc -l']).stdout.trim());

topology();
inNs(NODE, [BIN, '--config', conf, 'up']);
writeFileSync('/tmp/bbu.bindings', Array.from({ length: N }, (_, i) => `tap${i} ${mac(i)} ${ip4(i)} ${ip6(i)}`).join('\n') + '\n');
writeFileSync('/tmp/bbu.empty', '');
const syncTo = (file) => time(() => inNs(NODE, [BIN, '--config', conf, 'tap', 'sync', '--network', 'bench', '--from', file]));
// the median of five: one run on a 2-core machine varies by ±15 %
const syncs = [];
const resyncs = [];
const unsyncs = [];
for (let k = 0; k < 5; k++) {
  syncs.push(syncTo('/tmp/bbu.bindings'));
  if (objects() < N) throw new Error('sync did not bind every VM');
  resyncs.push(syncTo('/tmp/bbu.bindings'));
  unsyncs.push(syncTo('/tmp/bbu.empty'));
}
const [sync, resync, unsync] = [median(syncs), median(resyncs), median(unsyncs)];
process.stderr.write(`syncs ${syncs.map((x) => x.toFixed(0)).join(' ')} ms; re-sync unchanged ${resync.toFixed(0)} ms, sync to empty ${unsync.toFixed(0)} ms\n`);

const sequential = time(() => {
  for (let i = 0; i < N; i++) inNs(NODE, [BIN, '--config', conf, 'tap', 'up', '--network', 'bench', '--tap', `tap${i}`, '--mac', mac(i), '--ip', ip4(i), '--ip6', ip6(i)]);
});
if (objects() < N) throw new Error('tap up did not bind every VM');
process.stderr.write(`${N} sequential tap up ${sequential.toFixed(0)} ms\n`);
inNs(NODE, [BIN, '--config', conf, 'tap', 'sync', '--network', 'bench', '--from', '/tmp/bbu.empty']);
inNs(NODE, [BIN, '--config', conf, 'down']);

// The naive loop does the same per-VM work the seed's per-TAP scripts do, one process per command.
const script = ['set -e', 'ip route add 10.40.0.0/16 dev up0', 'ip rule add iif up0 lookup 400', 'ip route add 10.40.0.0/16 dev up0 table 400'];
for (let i = 0; i < N; i++) {
  script.push(
    `ip rule add dev tap${i} table 400`,
    `ip route add ${ip4(i)} dev tap${i} table 400`,
    `ip -6 route add ${ip6(i)} dev tap${i} table 400`,
    `ip -6 neigh add proxy ${ip6(i)} dev up0`,
    `sysctl -q -w net/ipv4/conf/tap${i}/proxy_arp=1`,
    `sysctl -q -w net/ipv4/conf/tap${i}/forwarding=1`,
    `iptables -w -A FORWARD -i tap${i} ! -s ${ip4(i)} -j DROP`,
    `arptables -A OUTPUT -o tap${i} --opcode Request -j mangle --mangle-ip-s 10.40.0.1`,
  );
}
const naive = time(() => inNs(NODE, ['sh', '-s'], { input: script.join('\n') + '\n' }));
if (objects() < N) throw new Error('the naive loop did not bind every VM');
process.stderr.write(`naive loop ${naive.toFixed(0)} ms\n`);
for (const ns of [NODE, GWNS]) dropNs(ns);

console.log(`bringing up ${N} VMs (IPv4 + IPv6 each) on one node`);
console.log(
  table([
    ['method', 'wall ms', 'per VM ms', 'vs sync'],
    ['vmrouter tap sync (one transaction; median of 5)', sync.toFixed(0), (sync / N).toFixed(2), '1.00x'],
    [`${N} x vmrouter tap up`, sequential.toFixed(0), (sequential / N).toFixed(2), (sequential / sync).toFixed(1) + 'x'],
    ['naive shell loop (8 processes per VM)', naive.toFixed(0), (naive / N).toFixed(2), (naive / sync).toFixed(1) + 'x'],
  ]),
);
console.log(`re-sync of an unchanged list: ${resync.toFixed(0)} ms; sync to an empty list (unbind all): ${unsync.toFixed(0)} ms`);
unmountRun();
