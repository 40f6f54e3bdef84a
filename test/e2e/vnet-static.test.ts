/**
 * Proxy-ARP virtual network across hosts with a central router (seed 003, issue 7), static routing:
 * two hosts with two VMs each, one router, an internet host, configured only by `vmrouter generate
 * --node` of one shared vmrouter.conf, real ifup/ifdown, and `vmrouter vnet sync` of a placements
 * file. Dual stack: IPv6 through proxy NDP entries per remote VM. Every reachability claim is checked
 * where the packet lands (probe tables).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { echoesSeen, installProbe, reaches, removeProbe } from '../lib/probe.js';
import { inNs } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { tableLostAndRepaired } from '../lib/doctor.js';
import { ping } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';
import {
  BRIDGE_ADDRESS,
  BRIDGE_ADDRESS6,
  buildVnetLab,
  ensureEtcMountPoint,
  configureVnetNode,
  configureVnetVm,
  GW,
  GW6,
  INET,
  INET6,
  moveNic,
  plug,
  cleanupVnetLab,
  sync,
  UNDERLAY,
  vnIfupdown,
  writePlacements,
  until,
  type VnetLab,
  type VnetLabSpec,
} from '../lib/vnet-lab.js';

const PREFIX = 'vn-s-';
const spec: VnetLabSpec = {
  hosts: { h1: { address: UNDERLAY(103), vms: ['vm1', 'vm2'] }, h2: { address: UNDERLAY(104), vms: ['vm3', 'vm4'] } },
  routers: { r1: { address: UNDERLAY(101), uplink: '198.51.100.1' } },
  v6: true,
};
const IP = { vm1: '10.10.10.10', vm2: '10.10.10.11', vm3: '10.10.10.12', vm4: '10.10.10.13' } as const;
const IP6 = { vm1: '2001:db8:a::10', vm2: '2001:db8:a::11', vm3: '2001:db8:a::12', vm4: '2001:db8:a::13' } as const;
const PLACED = { vm1: ['h1', IP.vm1, IP6.vm1], vm2: ['h1', IP.vm2, IP6.vm2], vm3: ['h2', IP.vm3, IP6.vm3], vm4: ['h2', IP.vm4, IP6.vm4] } as Record<string, [string, string, string]>;
const BRIDGE_MAC = '02:76:6e:00:00:65';
const proxies = async (node: string) => (await inNs(l.ns[node]!, ['ip', '-6', 'neigh', 'show', 'proxy', 'dev', 'br_net1'])).stdout;
let l: VnetLab;
const baseline: Record<string, string> = {};
const afterIfup: Record<string, string> = {};
const NODES = ['h1', 'h2', 'r1'];

t.before(async () => {
  l = await buildVnetLab(PREFIX, spec);
  for (const n of NODES) baseline[n] = await snapshot(l.ns[n]!);
  for (const n of NODES) await configureVnetNode(l, spec, n);
  await inNs(l.inet, ['ip', 'route', 'add', '10.10.10.0/24', 'via', '198.51.100.1']);
  await inNs(l.inet, ['ip', '-6', 'route', 'add', '2001:db8:a::/64', 'via', '2001:db8:ffff::1']);
});
t.teardown(async () => {
  await cleanupVnetLab(l);
});

t.test('generate --node: each node gets only its own stanzas', async (t) => {
  const h1 = (await vmrouter(['--config', `/etc/netns/${l.ns.h1}/vmrouter/vmrouter.conf`, 'generate', '--node', 'h1'])).stdout;
  t.match(h1, /iface br_net1 inet manual\n    vmrouter-vnet net1\n    vmrouter-config \/etc\/netns\/[^/]+\/vmrouter\/vmrouter\.conf\n    vmrouter-create yes$/m, 'host: the bridge stanza (the hooks make the bridge, from the config generate read)');
  t.notMatch(h1, /iface eth1/, 'host: no router stanza');
  const r1 = (await vmrouter(['--config', `/etc/netns/${l.ns.r1}/vmrouter/vmrouter.conf`, 'generate', '--node', 'r1'])).stdout;
  t.match(r1, /iface eth1 inet manual\n    vmrouter-vnet net1/, 'router: the underlay stanza');
  t.notMatch(r1, /br_net1/, 'router: no bridge');
  const bad = await vmrouter(['--config', `/etc/netns/${l.ns.r1}/vmrouter/vmrouter.conf`, 'generate', '--node', 'h9'], { ok: false });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--node h9: no such node .* \(known: h1, h2, r1\)/);
});

t.test('a failed ifup of the bridge stanza leaves no bridge; the retry after fixing the cause succeeds', async (t) => {
  const h1 = l.ns.h1!;
  const bridge = async () => (await inNs(h1, ['ip', 'link', 'show', 'dev', 'br_net1'], { ok: false })).code === 0;
  // the operator forgot the underlay: its default route via the router cannot be added
  const failed = await vnIfupdown(h1, 'ifup', 'br_net1', false);
  t.not(failed.code, 0, 'ifup br_net1 fails');
  t.match(failed.stderr, /vmrouter: .*192\.168\.56\.101/, 'vmrouter says which step the kernel refused');
  t.notOk(await bridge(), 'the bridge made in pre-up is deleted again');
  t.equal(snapshotDiff(baseline.h1!, await snapshot(h1)), '', 'the kernel state before the attempt');
  t.match((await vmrouter(['status', '--json'], { ns: h1 })).stdout, /"owners": \{\}/, 'the ledger holds nothing');
  await vnIfupdown(h1, 'ifup', 'eth1');
  await vnIfupdown(h1, 'ifup', 'br_net1');
  t.ok(await bridge(), 'the retry succeeds');

  // another if-up.d script fails after vmrouter's: ifupdown forgets the interface, vmrouter keeps
  // what it applied and the next ifup takes it over (no "File exists")
  await vnIfupdown(h1, 'ifdown', 'br_net1');
  const failing = `/etc/netns/${h1}/network/if-up.d/zz-fails`;
  writeFileSync(failing, '#!/bin/sh\n[ "$IFACE" != br_net1 ] || exit 1\n', { mode: 0o755 });
  try {
    t.not((await vnIfupdown(h1, 'ifup', 'br_net1', false)).code, 0, 'ifup fails in the other script');
    t.ok(await bridge(), 'the bridge stays: vmrouter applied the stanza');
  } finally {
    rmSync(failing);
  }
  await vnIfupdown(h1, 'ifup', 'br_net1');
  t.match((await vmrouter(['status'], { ns: h1 })).stdout, /vnet net1 on br_net1/, 'the retry succeeds: the network is up once');
});

t.test('ifup applies each role through the installed hook', async (t) => {
  await vnIfupdown(l.ns.r1!, 'ifup', 'eth0');
  await vnIfupdown(l.ns.r1!, 'ifup', 'eth1');
  for (const h of ['h1', 'h2']) {
    await vnIfupdown(l.ns[h]!, 'ifup', 'eth1');
    await vnIfupdown(l.ns[h]!, 'ifup', 'br_net1');
  }
  const h1 = l.ns.h1!;
  t.match((await inNs(h1, ['ip', '-4', 'rule', 'show'])).stdout, /10000:\s+from all iif br_net1 lookup 101 proto 86/, 'one rule: packets from the bridge use table 101');
  const table = (await inNs(h1, ['ip', 'route', 'show', 'table', '101'])).stdout;
  t.match(table, /^default via 192\.168\.56\.101 dev eth1 proto 86/m, 'table 101: default via the router');
  t.notMatch(table, /10\.10\.10\.0\/24/, 'table 101 does not route the subnet (not back to the bridge, and not needed)');
  t.match((await inNs(h1, ['ip', '-4', 'addr', 'show', 'dev', 'br_net1'])).stdout, new RegExp(`inet ${BRIDGE_ADDRESS}/24`), 'bridge address');
  t.equal((await inNs(h1, ['cat', '/proc/sys/net/ipv4/conf/br_net1/proxy_arp'])).stdout.trim(), '1', 'proxy ARP on the bridge');
  const r1 = l.ns.r1!;
  t.match((await inNs(r1, ['ip', '-4', 'addr', 'show', 'dev', 'lo'])).stdout, /inet 10\.10\.10\.1\/32/, 'router: the gateway on loopback');
  const nat = (await inNs(r1, ['nft', 'list', 'table', 'ip', 'vmrouter'])).stdout;
  t.match(nat, /10\.10\.10\.0\/24 \. "eth0"/, 'router: masquerade element limited to the uplink');
  // IPv6
  t.match((await inNs(h1, ['ip', '-6', 'rule', 'show'])).stdout, /10000:\s+from all iif br_net1 lookup 101 proto 86/, 'IPv6: the same rule');
  t.match((await inNs(h1, ['ip', '-6', 'route', 'show', 'table', '101'])).stdout, /^default via fd00:56::101 dev eth1 proto 86/m, 'IPv6: table 101 default via the router\'s underlay6 address');
  t.match(await proxies('h1'), new RegExp(`^${GW6} router proxy`, 'm'), 'IPv6: the bridge answers NDP for the gateway, as a router');
  t.equal((await inNs(h1, ['cat', '/proc/sys/net/ipv6/conf/br_net1/proxy_ndp'])).stdout.trim(), '1', 'proxy NDP on the bridge');
  t.match((await inNs(h1, ['ip', '-6', 'addr', 'show', 'dev', 'br_net1'])).stdout, new RegExp(`inet6 ${BRIDGE_ADDRESS6}/64`), 'IPv6 bridge address');
  t.match((await inNs(r1, ['ip', '-6', 'addr', 'show', 'dev', 'lo'])).stdout, new RegExp(`inet6 ${GW6}/128`), 'router: the IPv6 gateway on loopback');
  t.notMatch((await inNs(r1, ['nft', 'list', 'ruleset'])).stdout, /table ip6 vmrouter \{/, 'router: no NAT66 unless masquerade6');
  t.match((await inNs(r1, ['nft', 'list', 'table', 'ip6', 'vmrouter_vnet'])).stdout, /2001:db8:a::\/64 \. "eth0"/, 'router: inbound filter for the IPv6 subnet');
  for (const n of NODES) afterIfup[n] = await snapshot(l.ns[n]!);
});

t.test('vnet sync places the VMs: host routes on the router, local /32 on the hosts', async (t) => {
  for (const [vm, [host]] of Object.entries(PLACED)) await plug(l, host, vm);
  for (const [vm, [, ip, ip6]] of Object.entries(PLACED)) await configureVnetVm(l, vm, ip, ip6);
  writePlacements(l, PLACED);
  for (const n of NODES) await sync(l, n);
  const rt = (await inNs(l.ns.r1!, ['ip', 'route', 'show', 'proto', '86'])).stdout;
  t.match(rt, /10\.10\.10\.10 via 192\.168\.56\.103 dev eth1/, 'router: vm1 via h1');
  t.match(rt, /10\.10\.10\.12 via 192\.168\.56\.104 dev eth1/, 'router: vm3 via h2');
  const h1 = (await inNs(l.ns.h1!, ['ip', 'route', 'show', 'table', '101'])).stdout;
  t.match(h1, /10\.10\.10\.10 dev br_net1 proto 86/, 'h1: vm1 is local');
  t.notMatch(h1, /10\.10\.10\.12/, 'h1: nothing for remote VMs (proxy ARP answers for them)');
  t.equal((await inNs(l.ns.h1!, ['ip', '-4', 'rule', 'show'])).stdout.split('\n').filter((x) => x.includes('lookup 101')).length, 1, 'still one rule: per VM only routes');
  const rt6 = (await inNs(l.ns.r1!, ['ip', '-6', 'route', 'show', 'proto', '86'])).stdout;
  t.match(rt6, /^2001:db8:a::10 via fd00:56::103 dev eth1/m, 'router: vm1\'s /128 via h1');
  t.match(rt6, /^2001:db8:a::12 via fd00:56::104 dev eth1/m, 'router: vm3\'s /128 via h2');
  t.match((await inNs(l.ns.h1!, ['ip', '-6', 'route', 'show', 'table', '101'])).stdout, /^2001:db8:a::10 dev br_net1 proto 86/m, 'h1: vm1\'s /128 is local');
  const p1 = await proxies('h1');
  t.match(p1, /^2001:db8:a::12 proxy/m, 'h1 answers NDP for vm3 (on h2)');
  t.match(p1, /^2001:db8:a::13 proxy/m, 'and vm4');
  t.notMatch(p1, /^2001:db8:a::1[01] /m, 'but not for its own VMs');
  ensureEtcMountPoint();
  const again = await vmrouter(['-v', 'vnet', 'sync', '--node', 'r1'], { ns: l.ns.r1! });
  t.match(again.stderr, /0 created, 0 removed/, 'a second sync changes nothing');
  t.match((await vmrouter(['status'], { ns: l.ns.r1! })).stdout, /^vnet net1 on eth1: router side of [^\n]*\n  vm1: 2 objects\n/m, 'status lists the network and its VMs (a route per address)');
  for (const ns of [l.inet, l.ns.r1!, ...Object.values(l.vms)]) await installProbe(ns);
});

t.test('a router\'s nft tables lost: doctor names them, repair makes them again', async (t) => {
  await tableLostAndRepaired(t, l.ns.r1!, 'ip vmrouter');
  await tableLostAndRepaired(t, l.ns.r1!, 'ip vmrouter_vnet');
});

t.test('reachability', async (t) => {
  const v = l.vms;
  await reaches(t, 'VM → gateway (the router answers)', v.vm1!, GW, l.ns.r1!, IP.vm1);
  await reaches(t, 'VM → VM on the same host', v.vm1!, IP.vm2, v.vm2!, IP.vm1);
  t.match((await inNs(v.vm1!, ['ip', 'neigh', 'show', IP.vm2])).stdout, /lladdr/, 'vm1 resolved vm2');
  t.notMatch((await inNs(v.vm1!, ['ip', 'neigh', 'show', IP.vm2])).stdout, /02:76:6e/, 'vm1 talks to vm2 directly, not through the bridge MAC');
  const beforeRouter = await echoesSeen(l.ns.r1!, IP.vm1, IP.vm2);
  t.equal(beforeRouter, 0, 'same-host traffic never went through the router');
  await reaches(t, 'VM → VM across hosts: the far end sees the VM\'s own address', v.vm1!, IP.vm3, v.vm3!, IP.vm1);
  await reaches(t, 'and back', v.vm4!, IP.vm2, v.vm2!, IP.vm4);
  await reaches(t, 'VM → internet: seen as the router\'s uplink address', v.vm1!, INET, l.inet, '198.51.100.1');
  t.equal(await echoesSeen(l.inet, IP.vm1, INET), 0, 'the VM address never reached the internet');
  const before = await echoesSeen(v.vm3!, INET, IP.vm3);
  t.notOk(await ping(l.inet, IP.vm3), 'internet → VM is refused (inbound = no)');
  t.equal(await echoesSeen(v.vm3!, INET, IP.vm3), before, 'nothing from the internet reached the VM');
  t.ok(await ping(l.ns.h1!, IP.vm1), 'host → its own VM');
  t.ok((await echoesSeen(v.vm1!, BRIDGE_ADDRESS, IP.vm1)) >= 2, 'the VM saw the host\'s bridge address');
});

t.test('IPv6 reachability: proxy NDP, routed without NAT', async (t) => {
  const v = l.vms;
  await reaches(t, 'IPv6 VM → gateway6 (the router answers)', v.vm1!, GW6, l.ns.r1!, IP6.vm1);
  t.match((await inNs(v.vm1!, ['ip', '-6', 'neigh', 'show', GW6])).stdout, new RegExp(`lladdr ${BRIDGE_MAC} router`), 'vm1 resolved gateway6 at its bridge, flagged as a router');
  await reaches(t, 'IPv6 VM → VM on the same host', v.vm1!, IP6.vm2, v.vm2!, IP6.vm1);
  t.notMatch((await inNs(v.vm1!, ['ip', '-6', 'neigh', 'show', IP6.vm2])).stdout, new RegExp(BRIDGE_MAC), 'vm1 talks to vm2 directly, not through the bridge MAC');
  t.equal(await echoesSeen(l.ns.r1!, IP6.vm1, IP6.vm2), 0, 'same-host IPv6 never went through the router');
  await reaches(t, 'IPv6 VM → VM across hosts: the far end sees the VM\'s own address', v.vm1!, IP6.vm3, v.vm3!, IP6.vm1);
  t.match((await inNs(v.vm1!, ['ip', '-6', 'neigh', 'show', IP6.vm3])).stdout, new RegExp(`lladdr ${BRIDGE_MAC}`), 'vm1 resolved vm3 at its bridge (proxy NDP)');
  t.ok((await echoesSeen(l.ns.r1!, IP6.vm1, IP6.vm3)) >= 2, 'through the router');
  await reaches(t, 'and back', v.vm4!, IP6.vm2, v.vm2!, IP6.vm4);
  await reaches(t, 'IPv6 VM → internet: routed, the internet sees the VM itself', v.vm3!, INET6, l.inet, IP6.vm3);
  const before = await echoesSeen(v.vm3!, INET6, IP6.vm3);
  t.notOk(await ping(l.inet, IP6.vm3), 'internet → VM over IPv6 is refused (inbound = no)');
  t.equal(await echoesSeen(v.vm3!, INET6, IP6.vm3), before, 'nothing from the internet reached the VM');
  t.ok(await ping(l.ns.h1!, IP6.vm1), 'host → its own VM over IPv6');
  t.ok((await echoesSeen(v.vm1!, BRIDGE_ADDRESS6, IP6.vm1)) >= 2, 'the VM saw the host\'s IPv6 bridge address');
});

t.test('inbound = yes lets the internet in, as configured; masquerade6 = yes translates IPv6', async (t) => {
  const r1 = l.ns.r1!;
  const conf = `/etc/netns/${r1}/vmrouter/vmrouter.conf`;
  const reconfigure = async (inbound: 'yes' | 'no', masquerade6 = 'no') => {
    writeFileSync(conf, l.conf.replace('[vnet net1]', `[vnet net1]\ninbound = ${inbound}\nmasquerade6 = ${masquerade6}`));
    await vnIfupdown(r1, 'ifdown', 'eth1');
    await vnIfupdown(r1, 'ifup', 'eth1');
    await sync(l, 'r1');
  };
  await removeProbe(r1);
  const before = await snapshot(r1);
  await reconfigure('yes');
  t.notMatch((await inNs(r1, ['nft', 'list', 'ruleset'])).stdout, /vmrouter_vnet/, 'no inbound filter left');
  await reaches(t, 'internet → VM, the VM sees the internet host', l.inet, IP.vm3, l.vms.vm3!, INET);
  await reaches(t, 'internet → VM over IPv6', l.inet, IP6.vm3, l.vms.vm3!, INET6);
  await reaches(t, 'VM → internet still masqueraded', l.vms.vm1!, INET, l.inet, '198.51.100.1');
  await reconfigure('no', 'yes');
  t.match((await inNs(r1, ['nft', 'list', 'table', 'ip6', 'vmrouter'])).stdout, /2001:db8:a::\/64 \. "eth0"/, 'NAT66 element limited to the uplink');
  await reaches(t, 'masquerade6: VM → internet over IPv6 seen as the router\'s uplink address', l.vms.vm1!, INET6, l.inet, '2001:db8:ffff::1');
  await reaches(t, 'masquerade6: VM → VM across hosts keeps its source', l.vms.vm1!, IP6.vm3, l.vms.vm3!, IP6.vm1);
  await reconfigure('no');
  t.notMatch((await inNs(r1, ['nft', 'list', 'ruleset'])).stdout, /table ip6 vmrouter \{/, 'NAT66 gone with masquerade6 = no');
  t.notOk(await ping(l.inet, IP.vm3), 'closed again');
  t.notOk(await ping(l.inet, IP6.vm3), 'IPv6 closed again');
  t.equal(snapshotDiff(before, await snapshot(r1)), '', 'ifdown, ifup and sync put the router back exactly as it was');
});

/** The guest takes its IPv6 address down and up again, with DAD, as at boot; its addresses after DAD. */
async function restartGuestIpv6(vm: keyof typeof IP6): Promise<string> {
  const ns = l.vms[vm]!;
  await inNs(ns, ['ip', '-6', 'addr', 'del', `${IP6[vm]}/64`, 'dev', 'eth0']);
  await inNs(ns, ['ip', '-6', 'addr', 'add', `${IP6[vm]}/64`, 'dev', 'eth0']);
  await inNs(ns, ['ip', '-6', 'route', 'replace', 'default', 'via', GW6, 'dev', 'eth0']);
  const show = async () => (await inNs(ns, ['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout;
  // DAD: up to 1 s random delay, then one probe and 1 s (dad_transmits, retrans_time_ms)
  await until(async () => !/tentative/.test(await show()) || /dadfailed/.test(await show()), 5000);
  return show();
}

t.test('a VM that moves from h1 to h2 stays reachable; only its route changes', async (t) => {
  const r1 = l.ns.r1!;
  const routes = async () => (await inNs(r1, ['ip', 'route', 'show', 'proto', '86'])).stdout + '\n' + (await inNs(r1, ['ip', '-6', 'route', 'show', 'proto', '86'])).stdout;
  const routesBefore = await routes();
  const proxiesBefore = { h1: await proxies('h1'), h2: await proxies('h2') };
  t.ok(await ping(l.vms.vm1!, IP.vm2), 'vm1 → vm2 before: vm1 has vm2\'s own MAC cached');
  t.ok(await ping(l.vms.vm1!, IP6.vm2), 'and over IPv6');
  t.notMatch((await inNs(l.vms.vm1!, ['ip', '-6', 'neigh', 'show', IP6.vm2])).stdout, new RegExp(BRIDGE_MAC), 'vm1 has vm2\'s own MAC for its IPv6 address');
  await moveNic(l, 'vm2', 'h1', 'h2');
  // Before h2's sync its proxy entry for vm2 defends the address: a guest whose network starts now
  // fails duplicate address detection (RFC 4862 5.4; the kernel answers DAD for proxied targets).
  // Hypervisor hooks must place and sync the new host before the guest boots.
  t.match(await restartGuestIpv6('vm2'), /dadfailed/, 'before the new host\'s sync, vm2\'s IPv6 address fails DAD');
  // the hypervisor's hook on h2 records where vm2 runs now
  ensureEtcMountPoint();
  // one [vnet] in the configuration: no --network needed
  await vmrouter(['vnet', 'place', 'vm2', 'h2', IP.vm2, IP6.vm2], { ns: l.ns.h2! });
  t.match(readFileSync(l.placements, 'utf8'), /^vm2 h2 10\.10\.10\.11 2001:db8:a::11$/m, 'vnet place rewrote vm2\'s line');
  ensureEtcMountPoint();
  const moved = await vmrouter(['-v', 'vnet', 'sync', '--node', 'r1'], { ns: r1 });
  t.match(moved.stderr, /2 created, 2 removed/, 'router: vm2\'s two routes replaced, other VMs untouched');
  for (const n of ['h1', 'h2']) await sync(l, n);
  t.notMatch(await restartGuestIpv6('vm2'), /dadfailed|tentative/, 'after it, vm2\'s address passes DAD on its new host');
  const routesAfter = await routes();
  t.match(routesAfter, /10\.10\.10\.11 via 192\.168\.56\.104 dev eth1/, 'the router\'s table shows the new next hop (h2)');
  t.match(routesAfter, /^2001:db8:a::11 via fd00:56::104 dev eth1/m, 'and the /128 too');
  const others = (s: string) => s.split('\n').filter((x) => !x.startsWith('10.10.10.11 ') && !x.startsWith('2001:db8:a::11 ')).join('\n');
  t.equal(others(routesAfter), others(routesBefore), 'the other VMs\' routes are as they were');
  // proxy entries: only vm2's moved (h1 answers for it now, h2 no longer)
  t.match(await proxies('h1'), /^2001:db8:a::11 proxy/m, 'h1 now answers NDP for vm2');
  t.notMatch(await proxies('h2'), /^2001:db8:a::11 /m, 'h2 no longer does');
  const only = (s: string) => s.split('\n').filter((x) => x !== '' && !x.startsWith('2001:db8:a::11 ')).sort().join('\n');
  t.equal(only(await proxies('h1')), only(proxiesBefore.h1), 'h1: the other proxy entries as they were');
  t.equal(only(await proxies('h2')), only(proxiesBefore.h2), 'h2: the other proxy entries as they were');
  // h1 sent a gratuitous ARP and an unsolicited NA on its bridge: vm1 now sends to the bridge, which routes via the router
  await new Promise((r) => setTimeout(r, 200));
  t.match((await inNs(l.vms.vm1!, ['ip', 'neigh', 'show', IP.vm2])).stdout, /lladdr 02:76:6e:00:00:65/, 'vm1 re-learned vm2 at h1\'s bridge (gratuitous ARP)');
  t.match((await inNs(l.vms.vm1!, ['ip', '-6', 'neigh', 'show', IP6.vm2])).stdout, /lladdr 02:76:6e:00:00:65/, 'and its IPv6 address (unsolicited NA)');
  await reaches(t, 'vm1 → moved vm2 (now across hosts)', l.vms.vm1!, IP.vm2, l.vms.vm2!, IP.vm1);
  await reaches(t, 'vm3 → moved vm2 (now on the same host)', l.vms.vm3!, IP.vm2, l.vms.vm2!, IP.vm3);
  await reaches(t, 'moved vm2 → internet', l.vms.vm2!, INET, l.inet, '198.51.100.1');
  await reaches(t, 'IPv6 vm1 → moved vm2', l.vms.vm1!, IP6.vm2, l.vms.vm2!, IP6.vm1);
  await reaches(t, 'IPv6 vm3 → moved vm2', l.vms.vm3!, IP6.vm2, l.vms.vm2!, IP6.vm3);
  await reaches(t, 'IPv6 moved vm2 → internet', l.vms.vm2!, INET6, l.inet, IP6.vm2);

  // and back, so the hosts' state after the test is as after ifup
  await moveNic(l, 'vm2', 'h2', 'h1');
  writePlacements(l, PLACED);
  for (const n of NODES) await sync(l, n);
  t.match((await inNs(r1, ['ip', 'route', 'show', 'proto', '86'])).stdout, /10\.10\.10\.11 via 192\.168\.56\.103 dev eth1/, 'back on h1');
  await reaches(t, 'vm4 → vm2 back on h1', l.vms.vm4!, IP.vm2, l.vms.vm2!, IP.vm4);
  await reaches(t, 'IPv6 vm4 → vm2 back on h1', l.vms.vm4!, IP6.vm2, l.vms.vm2!, IP6.vm4);
});

t.test('bad placements change nothing and name file, line and key', async (t) => {
  const r1 = l.ns.r1!;
  const before = await snapshot(r1);
  writePlacements(l, { ...PLACED, vm5: ['h3', '10.10.10.99'], vm6: ['h1', '10.10.10.10'], vm7: ['h2', '2001:db8:b::7'] });
  ensureEtcMountPoint();
  const r = await vmrouter(['vnet', 'sync', '--node', 'r1'], { ns: r1, ok: false });
  t.equal(r.code, 2, 'exit 2: bad input');
  t.match(r.stderr, new RegExp(`${l.placements}:5: placements of \\[vnet net1\\] HOST: vm5: h3 is not a host of \\[vnet net1\\] \\(h1, h2\\)`));
  t.match(r.stderr, new RegExp(`${l.placements}:6: placements of \\[vnet net1\\] ADDRESS: vm6: 10\\.10\\.10\\.10 already belongs to vm1`));
  t.match(r.stderr, new RegExp(`${l.placements}:7: placements of \\[vnet net1\\] ADDRESS: vm7: 2001:db8:b::7 is outside 2001:db8:a::/64`));
  t.equal(snapshotDiff(before, await snapshot(r1)), '', 'nothing changed');
  writePlacements(l, PLACED);
});

t.test('ifdown returns every node to its prior state', async (t) => {
  for (const ns of [l.inet, l.ns.r1!, ...Object.values(l.vms)]) await removeProbe(ns);
  // the hypervisor stops the VMs (NICs unplugged and down), the placements file empties
  for (const [vm, [host]] of Object.entries(PLACED)) await inNs(l.ns[host]!, ['ip', 'link', 'set', 'dev', `${vm}p`, 'nomaster', 'down']);
  writePlacements(l, {});
  for (const n of NODES) await sync(l, n);
  for (const n of NODES) t.equal(snapshotDiff(afterIfup[n]!, await snapshot(l.ns[n]!)), '', `${n}: after the VMs left = after ifup`);
  // ifdown with VMs placed again: the per-VM routes go with the network
  for (const [vm, [host]] of Object.entries(PLACED)) await plug(l, host, vm);
  writePlacements(l, PLACED);
  for (const n of NODES) await sync(l, n);
  t.ok(await ping(l.vms.vm1!, IP.vm3), 'VMs running again before ifdown');
  for (const h of ['h1', 'h2']) {
    await vnIfupdown(l.ns[h]!, 'ifdown', 'br_net1');
    await vnIfupdown(l.ns[h]!, 'ifdown', 'eth1');
  }
  await vnIfupdown(l.ns.r1!, 'ifdown', 'eth1');
  await vnIfupdown(l.ns.r1!, 'ifdown', 'eth0');
  // the hypervisor stops the VMs: their NICs go down as they were before the test
  for (const [vm, [host]] of Object.entries(PLACED)) await inNs(l.ns[host]!, ['ip', 'link', 'set', 'dev', `${vm}p`, 'down']);
  for (const n of NODES) {
    t.equal(snapshotDiff(baseline[n]!, await snapshot(l.ns[n]!)), '', `${n}: kernel state after ifdown = before ifup`);
    t.match((await vmrouter(['status', '--json'], { ns: l.ns[n]! })).stdout, /"owners": \{\}/, `${n}: the ledger holds nothing`);
  }
});
