/**
 * Thousands of VMs per node (issue 3): `tap sync` binds 1000 VM NICs in one transaction, a sample of
 * them (real VM namespaces) is reachable from the internet host over IPv4 and IPv6, and a sync to a
 * different list removes exactly the stale ones and adds the new ones, leaving the rest alone.
 */
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { BulkNetwork, buildBulkLab } from '../lib/bulk-lab.js';
import { Lab } from '../lib/netns.js';
import { echoesSeen, installProbe, reaches } from '../lib/probe.js';
import { inNs } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureVm, INET, INET6, ping, type RoutedLab } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr3s-';
const lab = new Lab(PREFIX);
t.teardown(() => lab.cleanup());

const N = 1000;
/** VMs with a real namespace behind their TAP (the rest are TAPs whose peer stays on the node) */
const SAMPLE = [0, 1, 499, 998, 999];
const net = new BulkNetwork('scale', 300, 20);
const [ip4, ip6] = [(i: number) => net.ip4(i), (i: number) => net.ip6(i)];
const tapName = (i: number) => `vm${i}`;
const line = (i: number, v4 = ip4(i)) => `${tapName(i)} 52:54:00:20:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')} ${v4} ${ip6(i)}`;

let l: RoutedLab;
let node: string;
let afterIfup: string;

t.before(async () => {
  await Lab.sweep(PREFIX);
  ({ l, node, afterIfup } = await buildBulkLab(lab, net, Array.from({ length: N }, (_, i) => tapName(i)), SAMPLE.map(tapName)));
});

const count = async (argv: string[]) => (await inNs(node, argv)).stdout.split('\n').filter((x) => x.trim() !== '').length;
const elements = async (family: string, set: string) => {
  const json = JSON.parse((await inNs(node, ['nft', '-j', 'list', 'set', family, 'vmrouter', set])).stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
  return json.nftables.find((x) => x.set)?.set?.elem?.length ?? 0;
};

t.test(`sync binds ${N} VMs in one transaction`, async (t) => {
  writeFileSync('/tmp/vr3s-bindings', Array.from({ length: N }, (_, i) => line(i)).join('\n') + '\n');
  const start = performance.now();
  const r = await vmrouter(['-v', 'tap', 'sync', '--network', 'scale', '--from', '/tmp/vr3s-bindings'], { ns: node, env: { NODE_EXTRA_CA_CERTS: '' } });
  t.comment(`sync of ${N} VMs: ${(performance.now() - start).toFixed(0)} ms wall (bench/ measures this properly)`);
  t.match(r.stderr, new RegExp(`sync TAPs of network scale \\(${N} listed\\): \\d+ created, 0 removed`), 'one transaction');
  t.equal(await count(['ip', '-4', 'route', 'show', 'table', '300']), N + 2, `${N} IPv4 host routes (+ subnet and default)`);
  t.equal(await count(['ip', '-6', 'route', 'show', 'table', '300']), N + 2, `${N} IPv6 host routes`);
  t.equal(await count(['ip', '-6', 'neigh', 'show', 'proxy', 'dev', 'eth0.222']), N, `${N} proxy NDP entries on the uplink`);
  t.equal(await elements('inet', 'vm4'), N, 'anti-spoofing set elements');
  t.equal(await elements('inet', 'taps'), N, 'TAP set elements');
  t.equal(await count(['ip', '-4', 'rule', 'show', 'lookup', '300']), 2, 'still two rules: no rule per VM');
  const rules = (await inNs(node, ['nft', '-j', 'list', 'chain', 'inet', 'vmrouter', 'guard'])).stdout.match(/"rule":/g)?.length;
  t.equal(rules, 12, 'and the same twelve guard rules');
});

t.test('a sample of the VMs is reachable over IPv4 and IPv6', async (t) => {
  for (const i of SAMPLE) await configureVm({ ns: l.vms[tapName(i)]!, ips: [ip4(i)], ip6s: [ip6(i)], gw6: 'tap', gateway: '10.20.0.1', prefixLength: 16 }, node, tapName(i));
  for (const ns of [l.inet, ...SAMPLE.map((i) => l.vms[tapName(i)]!)]) await installProbe(ns);
  for (const i of SAMPLE) {
    await reaches(t, `internet → vm${i}`, l.inet, ip4(i), l.vms[tapName(i)]!, INET);
    await reaches(t, `internet → vm${i} (IPv6)`, l.inet, ip6(i), l.vms[tapName(i)]!, INET6);
  }
  await reaches(t, 'vm999 → internet: the far end sees its address', l.vms.vm999!, INET, l.inet, ip4(999));
});

t.test('a sync to another list removes the stale, adds the new, leaves the rest', async (t) => {
  // keep 0..599 (vm1 with a new IPv4 address), drop 600..999 (with sample VMs 998, 999), add nothing new
  const keep = Array.from({ length: 600 }, (_, i) => i);
  const moved = '10.20.200.1';
  writeFileSync('/tmp/vr3s-bindings', keep.map((i) => (i === 1 ? line(i, moved) : line(i))).join('\n') + '\n');
  const untouchedRoute = (await inNs(node, ['ip', '-4', 'route', 'show', 'table', '300', `${ip4(500)}/32`])).stdout;
  const r = await vmrouter(['-v', 'tap', 'sync', '--network', 'scale', '--from', '/tmp/vr3s-bindings'], { ns: node });
  // a VM holds 19 objects: its TAP's link state, 6 sysctls, 2 host routes, 2 proxy NDP entries, 8 set elements;
  // vm1's new address replaces 3 of them (its IPv4 route and vm4 elements in the inet and arp tables)
  t.match(r.stderr, new RegExp(`: 3 created, ${400 * 19 + 3} removed`), 'only the stale and the changed objects were touched');
  t.equal(await count(['ip', '-4', 'route', 'show', 'table', '300']), 600 + 2, 'routes of removed VMs are gone');
  t.equal(await count(['ip', '-6', 'neigh', 'show', 'proxy', 'dev', 'eth0.222']), 600, 'their proxy NDP entries too');
  t.equal(await elements('inet', 'vm6'), 600, 'and their set elements');
  t.equal((await inNs(node, ['ip', '-4', 'route', 'show', 'table', '300', `${ip4(500)}/32`])).stdout, untouchedRoute, 'a kept VM is untouched');
  for (const i of [998, 999]) {
    const before = await echoesSeen(l.vms[tapName(i)]!, INET, ip4(i));
    t.notOk(await ping(l.inet, ip4(i), [], 1), `vm${i} is no longer reachable`);
    t.notOk(await ping(l.inet, ip6(i), [], 1), `vm${i} is no longer reachable over IPv6`);
    t.equal(await echoesSeen(l.vms[tapName(i)]!, INET, ip4(i)), before, `nothing reached vm${i}`);
  }
  await inNs(l.vms.vm1!, ['ip', 'addr', 'add', `${moved}/32`, 'dev', 'eth0']);
  await reaches(t, 'vm1 at its new address', l.inet, moved, l.vms.vm1!, INET);
  t.notOk(await ping(l.inet, ip4(1), [], 1), 'and not at its old one');
  await reaches(t, 'a kept VM is still reachable', l.inet, ip4(499), l.vms.vm499!, INET);
});

t.test('a sync to an empty list restores the state after ifup', async (t) => {
  writeFileSync('/tmp/vr3s-bindings', '# no VM here any more\n');
  await vmrouter(['tap', 'sync', '--network', 'scale', '--from', '/tmp/vr3s-bindings'], { ns: node });
  for (const ns of [l.inet, ...SAMPLE.map((i) => l.vms[tapName(i)]!)]) await inNs(ns, ['nft', 'delete', 'table', 'inet', 'probe'], { ok: false });
  t.equal(snapshotDiff(afterIfup, await snapshot(node)), '', 'kernel state = after ifup');
  t.match((await vmrouter(['status'], { ns: node })).stdout, /network scale on eth0\.222: role vmc, table 300\nkernel: as applied\n?$/, 'no TAP left in the ledger');
});
