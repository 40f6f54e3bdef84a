/**
 * Routed networks beyond one VLAN (routing = bgp): two racks with no L2 between them, two VMC nodes
 * each, two routers, an internet host; FRR (zebra, staticd, bfdd, bgpd) in every node and router,
 * configured only by `vmrouter frr`, the kernel side only by real ifup and `vmrouter tap up`.
 * VM↔VM within a node, a rack and across racks with the far end seeing the VM's own address; VM →
 * internet; a VM moved across racks converges with the other VMs' routes untouched; a router dies
 * and BFD moves traffic to the other; a node's FRR stops and its VMs are withdrawn; doctor shows the
 * sessions and the announcements; teardown returns every node to its prior state.
 */
import t from 'tap';
import { startNetworkFrr, stopFrr, vtySocket } from '../lib/frr.js';
import { echoesSeen, installProbe, reaches, removeProbe } from '../lib/probe.js';
import { inNs, run } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { ifupdown } from '../lib/netns.js';
import { ping } from '../lib/topology.js';
import { until } from '../lib/vnet-lab.js';
import { vmrouter } from '../lib/vmrouter.js';
import {
  buildBgpLab,
  INET,
  INET6,
  moveNic,
  NODES,
  rackAddress,
  rackAddress6,
  ROUTERS,
  routesOf,
  TABLE,
  tapDown,
  tapUp,
  VMS,
  wanAddress,
  type BgpLab,
  type Node,
  type Router,
  type Vm,
} from '../lib/bgp-lab.js';

const PREFIX = 'vr15-';
const CONVERGE_MS = 15000;
const nodes = Object.keys(NODES) as Node[];
const routers = Object.keys(ROUTERS) as Router[];
const vmNames = Object.keys(VMS) as Vm[];
let l: BgpLab;
const baseline: Record<string, string> = {};
const figures: string[] = [];

const nodeAddress = (n: Node) => rackAddress(NODES[n].rack, NODES[n].host);
const nodeAddress6 = (n: Node) => rackAddress6(NODES[n].rack, NODES[n].host);
const routerIfaceFor = (n: Node) => `eth-${NODES[n].rack}`;

/** Each VM's /32 and /128 at every router (or the ones given), next hop the node it runs on. */
const announcedAt = (vms: readonly Vm[], at: readonly Router[] = routers) => async () => {
  for (const r of at) {
    const [v4, v6] = [await routesOf(l.ns[r], 4), await routesOf(l.ns[r], 6)];
    for (const vm of vms) {
      const n = l.where[vm];
      if (v4.get(VMS[vm].ip)?.hops.join() !== `${nodeAddress(n)} ${routerIfaceFor(n)}` || v4.get(VMS[vm].ip)?.protocol !== 'bgp') return false;
      if (v6.get(VMS[vm].ip6)?.hops.join() !== `${nodeAddress6(n)} ${routerIfaceFor(n)}`) return false;
    }
  }
  return true;
};
const withdrawnAt = (vms: readonly Vm[], families: readonly (4 | 6)[] = [4, 6]) => async () => {
  for (const r of routers) {
    const [v4, v6] = [await routesOf(l.ns[r], 4), await routesOf(l.ns[r], 6)];
    if (vms.some((vm) => (families.includes(4) && v4.has(VMS[vm].ip)) || (families.includes(6) && v6.has(VMS[vm].ip6)))) return false;
  }
  return true;
};
/** the node's table default, as FRR installed it: through the routers given */
const defaultVia = (n: Node, via: readonly Router[]) => async () => {
  const want = via.map((r) => `${rackAddress(NODES[n].rack, ROUTERS[r])} eth1`).sort().join();
  const want6 = via.map((r) => `${rackAddress6(NODES[n].rack, ROUTERS[r])} eth1`).sort().join();
  return (await routesOf(l.ns[n], 4, String(TABLE))).get('default')?.hops.join() === want && (await routesOf(l.ns[n], 6, String(TABLE))).get('default')?.hops.join() === want6;
};

t.before(async () => {
  l = await buildBgpLab(PREFIX);
  for (const x of [...nodes, ...routers]) baseline[x] = await snapshot(l.ns[x]);
});
t.teardown(async () => {
  await Promise.all([...nodes, ...routers].filter((x) => l?.ns[x]).map((x) => stopFrr(l.ns[x])));
  await l?.lab.cleanup();
});

t.test('ifup and FRR from vmrouter: sessions up, every VM announced to both routers, the gateway learned from both', async (t) => {
  for (const r of routers) for (const dev of ['eth0', 'eth-a', 'eth-b']) await ifupdown(l.ns[r], 'ifup', dev);
  for (const n of nodes) await ifupdown(l.ns[n], 'ifup', 'eth1');
  await Promise.all([...routers, ...nodes].map((x) => startNetworkFrr(l.ns[x], l.conf[x])));
  const start = Date.now();
  for (const vm of vmNames) await tapUp(l, vm);
  const all = await until(announcedAt(vmNames), CONVERGE_MS);
  t.ok(all.ok, `every VM's /32 and /128 at both routers, next hop its node (${all.ms} ms after FRR start + tap up)`);
  figures.push(`initial convergence (5 VMs, FRR just started): ${Date.now() - start} ms`);
  for (const n of nodes) t.ok((await until(defaultVia(n, routers), CONVERGE_MS)).ok, `${n}: table ${TABLE} default through r1 and r2 (FRR static over the gateway both announce)`);

  // what is in the kernel, and what is not: no proxying on the uplink, the host routes in main for FRR
  const a1 = l.ns.a1;
  t.equal((await inNs(a1, ['sysctl', '-n', 'net.ipv4.conf.eth1.proxy_arp'])).stdout, '0', 'a1: no proxy ARP on the uplink');
  t.equal((await inNs(a1, ['sysctl', '-n', 'net.ipv6.conf.eth1.proxy_ndp'])).stdout, '0', 'a1: no proxy NDP on the uplink');
  const main4 = await routesOf(a1, 4);
  t.same(main4.get(VMS.vm1.ip), { hops: ['tap1'], protocol: '86', type: 'unicast' }, 'a1: vm1\'s /32 in main, vmrouter\'s (what FRR redistributes)');
  t.notOk(main4.has('192.0.2.0/24'), 'a1: the subnet is not on-link anywhere');
  t.same((await routesOf(a1, 4, String(TABLE))).get('default unreachable'), { hops: [''], protocol: '86', type: 'unreachable' }, 'a1: the unreachable default under FRR\'s');
  for (const r of routers) {
    t.same((await routesOf(l.ns[r], 4)).get('192.0.2.0/24 unreachable')?.type, 'unreachable', `${r}: the subnet is unreachable but for announced VMs`);
    t.match((await inNs(l.ns[r], ['ip', '-4', 'addr', 'show', 'dev', 'lo'])).stdout, /inet 192\.0\.2\.1\/32/, `${r}: the gateway on loopback`);
  }
  // the routers take only host routes in the subnet from the nodes: a1 has a non-VM route to offer
  await inNs(a1, ['ip', 'route', 'add', '203.0.113.0/24', 'dev', 'tap1', 'proto', '86']);
  await inNs(a1, ['ip', 'route', 'add', '192.0.2.128/25', 'dev', 'tap1', 'proto', '86']);
  await new Promise((r) => setTimeout(r, 1500));
  for (const r of routers) {
    const v4 = await routesOf(l.ns[r], 4);
    t.notOk(v4.has('203.0.113.0/24') || v4.has('192.0.2.128/25'), `${r}: a node's route outside the subnet or shorter than /32 is not taken`);
  }
  await inNs(a1, ['ip', 'route', 'del', '203.0.113.0/24', 'dev', 'tap1', 'proto', '86']);
  await inNs(a1, ['ip', 'route', 'del', '192.0.2.128/25', 'dev', 'tap1', 'proto', '86']);
});

t.test('VM to VM within a node, a rack and across racks, and to the internet: the far end sees the VM', async (t) => {
  for (const vm of vmNames) await installProbe(l.vms[vm]);
  await installProbe(l.ns.inet);
  t.teardown(async () => {
    for (const vm of vmNames) await removeProbe(l.vms[vm]);
    await removeProbe(l.ns.inet);
  });
  for (const [to, what] of [['vm2', 'within a1'], ['vm3', 'within rack a'], ['vm4', 'across racks'], ['vm5', 'across racks']] as const) {
    await reaches(t, `vm1 → ${to} (${what})`, l.vms.vm1, VMS[to].ip, l.vms[to], VMS.vm1.ip);
    await reaches(t, `vm1 → ${to} (${what}, IPv6)`, l.vms.vm1, VMS[to].ip6, l.vms[to], VMS.vm1.ip6);
  }
  await reaches(t, 'vm4 → vm1 (back across racks)', l.vms.vm4, VMS.vm1.ip, l.vms.vm1, VMS.vm4.ip);
  // IPv4 leaves masqueraded (nat_out) through one of the routers; IPv6 routed with the VM's address
  const before = await Promise.all(routers.map((r) => echoesSeen(l.ns.inet, wanAddress(r), INET)));
  t.ok(await ping(l.vms.vm1, INET), 'vm1 → internet (IPv4)');
  const after = await Promise.all(routers.map((r) => echoesSeen(l.ns.inet, wanAddress(r), INET)));
  t.ok(after.some((n, i) => n - before[i]! >= 2), 'the internet host saw the echoes from a router\'s uplink address (masqueraded)');
  await reaches(t, 'vm5 → internet (IPv6)', l.vms.vm5, INET6, l.ns.inet, VMS.vm5.ip6);
  await reaches(t, 'internet → vm3 (IPv6, routed in)', l.ns.inet, VMS.vm3.ip6, l.vms.vm3, INET6);
  // the node itself reaches its VMs through the announced host route (not possible with proxy routing)
  await reaches(t, 'a1 (the node itself) → vm1', l.ns.a1, VMS.vm1.ip, l.vms.vm1, nodeAddress('a1'));
});

t.test('doctor and status show the BGP sessions and what each VM is announced to', async (t) => {
  const r = await vmrouter(['doctor', '--vty-socket', vtySocket(l.ns.a1), '--json'], { ns: l.ns.a1, ok: false });
  t.equal(r.code, 0, `doctor on a1 is clean: ${r.stdout.slice(0, 400)}`);
  const d = JSON.parse(r.stdout) as { healthy: boolean; bgp: { peers: { address: string; state: string; sent: number }[]; unannounced: unknown[] } };
  t.same(d.bgp.peers.map((p) => `${p.address} ${p.state}`).sort(), ['10.1.0.1 Established', '10.1.0.2 Established', 'fd00:1::1 Established', 'fd00:1::2 Established'], 'both routers, both families, established');
  t.ok(d.bgp.peers.every((p) => p.sent === 2), 'each session carries a1\'s two VMs');
  t.same(d.bgp.unannounced, [], 'every bound address announced');
  const status = await vmrouter(['status', '--vty-socket', vtySocket(l.ns.a1)], { ns: l.ns.a1 });
  t.match(status.stdout, /BGP sessions \(FRR\):\n\s+10\.1\.0\.1\s+Established, 1 received, 2 sent/, 'status shows the sessions');

  // a VM route FRR does not send (its /32 removed from main from outside): doctor names the address
  await inNs(l.ns.a1, ['ip', 'route', 'del', `${VMS.vm2.ip}/32`, 'dev', 'tap2', 'proto', '86']);
  t.ok((await until(withdrawnAt(['vm2'], [4]), 5000)).ok, 'the routers drop vm2\'s /32 once its host route is gone');
  const broken = await vmrouter(['doctor', '--vty-socket', vtySocket(l.ns.a1)], { ns: l.ns.a1, ok: false });
  t.equal(broken.code, 3, 'doctor exits 3');
  t.match(broken.stdout, /tap:tap2\n\s+missing\s+route -4 unicast 192\.0\.2\.12 table main dev tap2 proto 86/, 'the kernel finding: the host route in main');
  t.match(broken.stdout, /unannounced 192\.0\.2\.12: not sent to 10\.1\.0\.1, 10\.1\.0\.2/, 'the BGP finding: not announced to either router');
  await vmrouter(['repair'], { ns: l.ns.a1 });
  t.ok((await until(announcedAt(['vm2']), 5000)).ok, 'repair restores the route, FRR announces it again');
  t.equal((await vmrouter(['doctor', '--vty-socket', vtySocket(l.ns.a1)], { ns: l.ns.a1, ok: false })).code, 0, 'doctor clean again');

  // FRR not answering: doctor says so, and is not healthy
  const gone = await vmrouter(['doctor', '--vty-socket', '/nonexistent'], { ns: l.ns.a1, ok: false });
  t.equal(gone.code, 3, 'doctor exits 3 when FRR cannot be asked');
  t.match(gone.stdout, /FRR not reachable/, 'and says FRR is not reachable');
});

t.test('a VM moved across racks is announced by its new node and withdrawn by the old, the others untouched', async (t) => {
  const others = vmNames.filter((v) => v !== 'vm4');
  const before = await Promise.all(routers.map(async (r) => [await routesOf(l.ns[r], 4), await routesOf(l.ns[r], 6)] as const));
  const start = Date.now();
  await tapDown(l, 'vm4');
  await moveNic(l, 'vm4', 'a2');
  await tapUp(l, 'vm4');
  const moved = await until(announcedAt(['vm4']), CONVERGE_MS);
  t.ok(moved.ok, `vm4 (b1 → a2): both routers route it via a2 (${Date.now() - start} ms from tap down)`);
  figures.push(`move across racks, tap down → both routers via the new node: ${Date.now() - start} ms`);
  t.notOk((await routesOf(l.ns.b1, 4)).has(VMS.vm4.ip), 'b1 holds no route for vm4 any more');
  for (const [i, r] of routers.entries()) {
    const [v4, v6] = [await routesOf(l.ns[r], 4), await routesOf(l.ns[r], 6)];
    for (const vm of others) {
      t.same(v4.get(VMS[vm].ip), before[i]![0].get(VMS[vm].ip), `${r}: ${vm}'s route unchanged`);
      t.same(v6.get(VMS[vm].ip6), before[i]![1].get(VMS[vm].ip6), `${r}: ${vm}'s IPv6 route unchanged`);
    }
  }
  await installProbe(l.vms.vm4);
  t.teardown(() => removeProbe(l.vms.vm4));
  await reaches(t, 'vm1 → vm4 at its new node', l.vms.vm1, VMS.vm4.ip, l.vms.vm4, VMS.vm1.ip);
  await reaches(t, 'vm5 → vm4 at its new node (IPv6)', l.vms.vm5, VMS.vm4.ip6, l.vms.vm4, VMS.vm5.ip6);
});

t.test('a router dies: BFD takes it out of every node\'s default, traffic keeps flowing through the other', async (t) => {
  // r1 loses power: its ports go dark, it sends nothing (no BGP notification)
  const ports = [[l.ns.sa, 'p-r1'], [l.ns.sb, 'p-r1'], [l.ns.wan, 'p-r1']] as const;
  for (const [sw, p] of ports) await run(['ip', '-n', sw, 'link', 'set', 'dev', p, 'down']);
  const failover = await until(async () => (await Promise.all(nodes.map((n) => defaultVia(n, ['r2'])()))).every(Boolean), 5000);
  t.ok(failover.ok, `every node's default through r2 only after ${failover.ms} ms`);
  t.ok(failover.ms < 2000, `within 2 s: BFD (3 × 100 ms), not the 9 s hold time (${failover.ms} ms)`);
  figures.push(`router failover (ports down → every node's default through the other router, BFD 3 × 100 ms): ${failover.ms} ms`);
  t.ok(await ping(l.vms.vm1, INET, [], 3), 'vm1 → internet through r2');
  t.ok(await ping(l.vms.vm1, VMS.vm5.ip, [], 3), 'vm1 → vm5 across racks through r2');
  t.ok(await ping(l.vms.vm3, INET6, [], 3), 'vm3 → internet (IPv6) through r2');
  for (const [sw, p] of ports) await run(['ip', '-n', sw, 'link', 'set', 'dev', p, 'up']);
  const back = await until(async () => (await Promise.all(nodes.map((n) => defaultVia(n, routers)()))).every(Boolean), CONVERGE_MS);
  t.ok(back.ok, `r1 back: every node's default through both again (${back.ms} ms)`);
  t.ok((await until(announcedAt(vmNames, ['r1']), CONVERGE_MS)).ok, 'r1 relearned every VM');
});

t.test('a node\'s FRR stops: its VMs are withdrawn at the routers, and its VMs reach nothing through main', async (t) => {
  // SIGTERM, as systemctl stop frr sends it: bgpd says goodbye to its peers (a Cease NOTIFICATION,
  // RFC 4486) before it exits, so the routers withdraw at once, not after the hold time
  const stopping = stopFrr(l.ns.b2);
  const gone = await until(withdrawnAt(['vm5']), 10000);
  await stopping;
  t.ok(gone.ok, `vm5 withdrawn at both routers ${gone.ms} ms after FRR on b2 was told to stop`);
  t.ok(gone.ms < 3000, `sooner than the 9 s hold time (${gone.ms} ms)`);
  figures.push(`a node's FRR stopped → its VMs withdrawn at both routers: ${gone.ms} ms`);
  t.ok(await announcedAt(vmNames.filter((v) => l.where[v] !== 'b2'))(), 'the other nodes\' VMs stay');
  t.same((await routesOf(l.ns.b2, 4, String(TABLE))).get('default unreachable')?.type, 'unreachable', 'b2: only the unreachable default is left in the table');
  t.notOk(await ping(l.vms.vm5, INET, [], 1), 'vm5 reaches nothing (refused, not routed by main)');
  await startNetworkFrr(l.ns.b2, l.conf.b2);
  t.ok((await until(announcedAt(['vm5']), CONVERGE_MS)).ok, 'FRR back on b2: vm5 announced again');
  t.ok((await until(() => ping(l.vms.vm5, INET, [], 1), 10000)).ok, 'vm5 → internet again');
});

t.test('teardown: tap down, ifdown, FRR stopped: every node and router as before', async (t) => {
  for (const vm of vmNames) await tapDown(l, vm);
  // the moved NIC goes home, so that the baseline's links are where they were
  await moveNic(l, 'vm4', 'b1');
  t.ok((await until(withdrawnAt(vmNames), 10000)).ok, 'every VM withdrawn at both routers after tap down');
  for (const n of nodes) await ifupdown(l.ns[n], 'ifdown', 'eth1');
  for (const r of routers) for (const dev of ['eth-b', 'eth-a', 'eth0']) await ifupdown(l.ns[r], 'ifdown', dev);
  await Promise.all([...nodes, ...routers].map((x) => stopFrr(l.ns[x])));
  for (const x of [...nodes, ...routers]) t.equal(snapshotDiff(baseline[x]!, await snapshot(l.ns[x])), '', `${x}: kernel state after teardown = before`);
  t.comment(figures.join('\n'));
});
