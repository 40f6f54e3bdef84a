/**
 * The seed-003 virtual network when one router is not enough (issue 7): hosts announce their VMs'
 * /32 and /128 routes over BGP (IPv4 and IPv6 sessions) to two routers, with FRR (zebra + bgpd) in every namespace configured only by
 * `vmrouter vnet frr --node`. Routes converge within a bounded wait, a VM move converges, and with
 * one router dead the hosts fail over to the other (ECMP next hops, dead neighbour skipped).
 */
import { rmSync } from 'node:fs';
import t from 'tap';
import { echoesSeen, installProbe, reaches, removeProbe } from '../lib/probe.js';
import { inNs } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { ping } from '../lib/topology.js';
import { frrDir, startFrr, stopFrr, vtysh } from '../lib/frr.js';
import {
  buildVnetLab,
  configureVnetNode,
  configureVnetVm,
  INET,
  moveNic,
  plug,
  cleanupVnetLab,
  sync,
  UNDERLAY,
  UNDERLAY6,
  until,
  vnIfupdown,
  writePlacements,
  type VnetLab,
  type VnetLabSpec,
} from '../lib/vnet-lab.js';

const PREFIX = 'vn-b-';
const spec: VnetLabSpec = {
  hosts: { h1: { address: UNDERLAY(103), vms: ['vm1', 'vm2'] }, h2: { address: UNDERLAY(104), vms: ['vm3', 'vm4'] } },
  routers: { r1: { address: UNDERLAY(101), uplink: '198.51.100.1' }, r2: { address: UNDERLAY(102), uplink: '198.51.100.3' } },
  extra: 'routing = bgp\nasn = 65010\nbgp_hold = 3\n',
  v6: true,
};
const IP = { vm1: '10.10.10.10', vm2: '10.10.10.11', vm3: '10.10.10.12', vm4: '10.10.10.13' } as const;
const IP6 = { vm1: '2001:db8:a::10', vm2: '2001:db8:a::11', vm3: '2001:db8:a::12', vm4: '2001:db8:a::13' } as const;
const PLACED = { vm1: ['h1', IP.vm1, IP6.vm1], vm2: ['h1', IP.vm2, IP6.vm2], vm3: ['h2', IP.vm3, IP6.vm3], vm4: ['h2', IP.vm4, IP6.vm4] } as Record<string, [string, string, string]>;
const NODES = ['h1', 'h2', 'r1', 'r2'];
const ROUTERS = ['r1', 'r2'];
const CONVERGE_MS = 20000;
let l: VnetLab;
const baseline: Record<string, string> = {};
const figures: string[] = [];

const bgpRoutes = async (router: string) => (await inNs(l.ns[router]!, ['ip', 'route', 'show', 'proto', 'bgp'])).stdout + '\n' + (await inNs(l.ns[router]!, ['ip', '-6', 'route', 'show', 'proto', 'bgp'])).stdout;
const re = (s: string) => s.replace(/\./g, '\\.');
/** every VM's /32 and /128 on every router, next hop the host it is placed on (its IPv4 or IPv6 underlay address) */
const converged = (placed: Record<string, [string, string, string]>) => async () => {
  for (const r of ROUTERS) {
    const routes = await bgpRoutes(r);
    for (const [host, ip, ip6] of Object.values(placed)) {
      const h = spec.hosts[host]!.address;
      if (!new RegExp(`^${re(ip)} .*via ${re(h)} dev eth1`, 'm').test(routes)) return false;
      if (!new RegExp(`^${ip6} .*via ${UNDERLAY6(h)} dev eth1`, 'm').test(routes)) return false;
    }
  }
  return true;
};

t.before(async () => {
  l = await buildVnetLab(PREFIX, spec);
  for (const n of NODES) baseline[n] = await snapshot(l.ns[n]!);
  for (const n of NODES) await configureVnetNode(l, spec, n);
});
t.teardown(async () => {
  for (const n of NODES) if (l?.ns[n]) await stopFrr(l.ns[n]!);
  for (const n of NODES) if (l?.ns[n]) rmSync(frrDir(l.ns[n]!), { recursive: true, force: true });
  await cleanupVnetLab(l);
});

t.test('ifup, FRR from vmrouter vnet frr, VMs placed', async (t) => {
  for (const r of ROUTERS) {
    await vnIfupdown(l.ns[r]!, 'ifup', 'eth0');
    await vnIfupdown(l.ns[r]!, 'ifup', 'eth1');
  }
  for (const h of ['h1', 'h2']) {
    await vnIfupdown(l.ns[h]!, 'ifup', 'eth1');
    await vnIfupdown(l.ns[h]!, 'ifup', 'br_net1');
  }
  t.match((await inNs(l.ns.h1!, ['ip', 'route', 'show', 'table', '101'])).stdout, /default proto 86 \n\s+nexthop via 192\.168\.56\.101 dev eth1 weight 1 \n\s+nexthop via 192\.168\.56\.102 dev eth1 weight 1/, 'hosts: ECMP default over both routers');
  t.match((await inNs(l.ns.h1!, ['ip', '-6', 'route', 'show', 'table', '101'])).stdout, /^default nhid 2000010100 proto 86/m, 'hosts: the IPv6 default through a nexthop group');
  t.match((await inNs(l.ns.h1!, ['ip', 'nexthop', 'show', 'id', '2000010100'])).stdout, /group 2000010101\/2000010102 proto 86/, 'of both routers');
  t.match((await inNs(l.ns.h1!, ['ip', 'nexthop', 'show', 'id', '2000010102'])).stdout, /via fd00:56::102 dev eth1/, 'the second one r2');
  for (const [vm, [host, ip, ip6]] of Object.entries(PLACED)) {
    await plug(l, host, vm);
    await configureVnetVm(l, vm, ip, ip6);
  }
  writePlacements(l, PLACED);
  for (const n of NODES) await sync(l, n);
  t.match((await inNs(l.ns.h1!, ['ip', 'route', 'show', 'proto', '86'])).stdout, /10\.10\.10\.10 dev br_net1/, 'h1: vm1\'s /32 in main, for FRR to announce');
  t.match((await inNs(l.ns.h1!, ['ip', '-6', 'route', 'show', 'proto', '86'])).stdout, /^2001:db8:a::10 dev br_net1/m, 'h1: vm1\'s /128 in main, for FRR to announce');
  t.equal((await inNs(l.ns.r1!, ['ip', 'route', 'show', 'proto', '86'])).stdout.trim(), '', 'routers: no static host routes with routing = bgp');
  t.equal((await inNs(l.ns.r1!, ['ip', '-6', 'route', 'show', 'proto', '86'])).stdout.trim(), '', 'nor IPv6 ones');

  const conf = `/etc/netns/${l.ns.h1}/vmrouter/vmrouter.conf`;
  for (const n of NODES) await startFrr(l.ns[n]!, n, conf);
  const c = await until(converged(PLACED), CONVERGE_MS);
  t.ok(c.ok, `both routers learned every VM's /32 and /128 from its host (${c.ms} ms)`);
  if (!c.ok) for (const r of ROUTERS) t.comment(`${r}:\n${await bgpRoutes(r)}`);
  figures.push(`initial convergence ${c.ms} ms`);
  t.match(await vtysh(l.ns.r1!, 'show bgp ipv4 unicast summary'), /192\.168\.56\.103\s+4\s+65010/, 'r1 peers with h1 in AS 65010');
  t.match(await vtysh(l.ns.r1!, 'show bgp ipv6 unicast summary'), /fd00:56::103\s+4\s+65010/, 'and over IPv6');
  t.notMatch((await inNs(l.ns.h1!, ['ip', 'route', 'show', 'proto', 'bgp'])).stdout, /\S/, 'hosts install nothing from the routers');
  t.notMatch((await inNs(l.ns.h1!, ['ip', '-6', 'route', 'show', 'proto', 'bgp'])).stdout, /\S/, 'nor IPv6 routes');
  // only /128s inside subnet6: a host's own underlay prefix or a longer-than-/128-less route is not taken
  await inNs(l.ns.h1!, ['ip', '-6', 'route', 'add', '2001:db8:a:1::/64', 'dev', 'br_net1', 'proto', '86']);
  await inNs(l.ns.h1!, ['ip', '-6', 'route', 'add', '2001:db8:b::1/128', 'dev', 'br_net1', 'proto', '86']);
  await new Promise((r) => setTimeout(r, 1500));
  t.notMatch(await bgpRoutes('r1'), /2001:db8:a:1::|2001:db8:b::1/, 'routers refuse IPv6 routes that are not /128s inside subnet6');
  await inNs(l.ns.h1!, ['ip', '-6', 'route', 'del', '2001:db8:a:1::/64', 'dev', 'br_net1', 'proto', '86']);
  await inNs(l.ns.h1!, ['ip', '-6', 'route', 'del', '2001:db8:b::1/128', 'dev', 'br_net1', 'proto', '86']);
  for (const ns of [l.inet, ...Object.values(l.vms)]) await installProbe(ns);
});

t.test('reachability through the BGP-fed routers', async (t) => {
  const v = l.vms;
  await reaches(t, 'VM → VM on the same host', v.vm1!, IP.vm2, v.vm2!, IP.vm1);
  await reaches(t, 'VM → VM across hosts keeps its source', v.vm1!, IP.vm3, v.vm3!, IP.vm1);
  await reaches(t, 'and the other pair', v.vm4!, IP.vm2, v.vm2!, IP.vm4);
  const before = (await echoesSeen(l.inet, '198.51.100.1', INET)) + (await echoesSeen(l.inet, '198.51.100.3', INET));
  t.ok(await ping(v.vm1!, INET), 'VM → internet');
  t.ok((await echoesSeen(l.inet, '198.51.100.1', INET)) + (await echoesSeen(l.inet, '198.51.100.3', INET)) - before >= 2, 'seen as a router\'s uplink address');
  t.equal(await echoesSeen(l.inet, IP.vm1, INET), 0, 'never as the VM');
  await reaches(t, 'IPv6 VM → VM on the same host', v.vm1!, IP6.vm2, v.vm2!, IP6.vm1);
  await reaches(t, 'IPv6 VM → VM across hosts keeps its source', v.vm1!, IP6.vm3, v.vm3!, IP6.vm1);
  await reaches(t, 'IPv6 the other pair', v.vm4!, IP6.vm2, v.vm2!, IP6.vm4);
});

t.test('a VM move converges on both routers', async (t) => {
  await moveNic(l, 'vm2', 'h1', 'h2');
  const moved = { ...PLACED, vm2: ['h2', IP.vm2, IP6.vm2] as [string, string, string] };
  writePlacements(l, moved);
  // the hosts act (h1 withdraws, h2 announces); the routers' sync has nothing to do with bgp
  for (const n of ['h1', 'h2']) await sync(l, n);
  const c = await until(converged(moved), CONVERGE_MS);
  for (const n of ROUTERS) await sync(l, n);
  t.ok(c.ok, `both routers now send vm2 to h2 (${c.ms} ms)`);
  figures.push(`move convergence ${c.ms} ms`);
  await reaches(t, 'vm1 → moved vm2', l.vms.vm1!, IP.vm2, l.vms.vm2!, IP.vm1);
  await reaches(t, 'vm3 → moved vm2 on its new host', l.vms.vm3!, IP.vm2, l.vms.vm2!, IP.vm3);
  await reaches(t, 'IPv6 vm1 → moved vm2', l.vms.vm1!, IP6.vm2, l.vms.vm2!, IP6.vm1);
  await reaches(t, 'IPv6 vm3 → moved vm2 on its new host', l.vms.vm3!, IP6.vm2, l.vms.vm2!, IP6.vm3);
});

t.test('one router dies: traffic keeps flowing through the other', async (t) => {
  // r1 fails hard: both its links go down and its FRR stops (zebra withdraws its routes)
  await stopFrr(l.ns.r1!);
  for (const dev of ['eth1', 'eth0']) await inNs(l.ns.r1!, ['ip', 'link', 'set', 'dev', dev, 'down']);
  const pairs: [string, string][] = [['vm1', IP.vm3], ['vm4', IP.vm1], ['vm3', IP.vm2], ['vm1', INET], ['vm3', INET], ['vm1', IP6.vm3], ['vm4', IP6.vm1], ['vm3', IP6.vm2]];
  const allFlow = async () => {
    for (const [vm, dst] of pairs) if (!(await ping(l.vms[vm]!, dst, [], 1))) return false;
    return true;
  };
  const c = await until(allFlow, 30000);
  t.ok(c.ok, `every VM pair (IPv4 and IPv6) and the internet reachable again through r2 (${c.ms} ms)`);
  figures.push(`failover ${c.ms} ms`);
  let steady = true;
  for (let i = 0; i < 3; i++) if (!(await allFlow())) steady = false;
  t.ok(steady, 'and it stays that way');
  t.match((await inNs(l.ns.h1!, ['ip', 'neigh', 'show', '192.168.56.101', 'dev', 'eth1'])).stdout, /FAILED|INCOMPLETE/, 'h1 gave up on r1');
  for (const dev of ['eth1', 'eth0']) await inNs(l.ns.r1!, ['ip', 'link', 'set', 'dev', dev, 'up']);
  // link down removed r1's IPv6 addresses (ip-sysctl.rst keep_addr_on_down); its boot would add them again
  await inNs(l.ns.r1!, ['ip', '-6', 'addr', 'add', `${UNDERLAY6(UNDERLAY(101))}/64`, 'dev', 'eth1', 'nodad']);
  await inNs(l.ns.r1!, ['ip', '-6', 'addr', 'add', '2001:db8:ffff::1/64', 'dev', 'eth0', 'nodad']);
  await startFrr(l.ns.r1!, 'r1', `/etc/netns/${l.ns.r1}/vmrouter/vmrouter.conf`);
  const back = await until(converged({ ...PLACED, vm2: ['h2', IP.vm2, IP6.vm2] }), CONVERGE_MS);
  t.ok(back.ok, `r1 back: it relearns every route (${back.ms} ms)`);
  t.comment(`figures: ${figures.join(', ')}`);
});

t.test('FRR stopped, VMs gone, ifdown: every node as before', async (t) => {
  for (const ns of [l.inet, ...Object.values(l.vms)]) await removeProbe(ns);
  for (const n of NODES) await stopFrr(l.ns[n]!);
  for (const h of ['h1', 'h2']) {
    await vnIfupdown(l.ns[h]!, 'ifdown', 'br_net1');
    await vnIfupdown(l.ns[h]!, 'ifdown', 'eth1');
  }
  for (const r of ROUTERS) {
    await vnIfupdown(l.ns[r]!, 'ifdown', 'eth1');
    await vnIfupdown(l.ns[r]!, 'ifdown', 'eth0');
  }
  for (const [vm, host] of [['vm1', 'h1'], ['vm2', 'h2'], ['vm3', 'h2'], ['vm4', 'h2']] as const) await inNs(l.ns[host]!, ['ip', 'link', 'set', 'dev', `${vm}p`, 'down']);
  await inNs(l.ns.h2!, ['ip', 'link', 'set', 'dev', 'vm2p', 'netns', l.ns.h1!]);
  for (const n of NODES) t.equal(snapshotDiff(baseline[n]!, await snapshot(l.ns[n]!)), '', `${n}: kernel state after ifdown = before ifup`);
});
