/**
 * Routed networks over BGP without a shared segment: two racks (a bridge each, no L2 between them),
 * two VMC nodes per rack, two routers with a link into each rack and one to the internet segment,
 * and VMs whose NICs are veth pairs (the host end named like a TAP). Every node and router gets its
 * own vmrouter.conf (only role, uplink and peers differ), the operator's address stanzas plus
 * `vmrouter generate`, and FRR configured only by `vmrouter frr`.
 *
 *   rack a (10.1.0.0/24, fd00:1::/64)            rack b (10.2.0.0/24, fd00:2::/64)
 *   a1 .11   a2 .12                              b1 .11   b2 .12
 *      └──── sa ────┬──────────┐      ┌──────────┬──── sb ────┘
 *                   r1 .1      r2 .2  (each router on both racks)
 *                   └── wan 198.51.100.0/24, 2001:db8:ffff::/64 ── inet .100
 */
import { join } from 'node:path';
import { Lab, installHooks } from './netns.js';
import { inNs, run } from './run.js';
import { etcFile } from './single-node.js';
import { configureVm, GW, GW6, macOf, SUBNET, SUBNET6 } from './topology.js';
import { vmrouter } from './vmrouter.js';

/** the routed lab's network (topology.ts), here without a shared segment */
export { GW, GW6, SUBNET, SUBNET6 };
export const INET = '198.51.100.100';
export const INET6 = '2001:db8:ffff::100';
export const TABLE = 222;

export const RACKS = { a: 1, b: 2 } as const;
export type Rack = keyof typeof RACKS;
export const rackAddress = (rack: Rack, host: number) => `10.${RACKS[rack]}.0.${host}`;
export const rackAddress6 = (rack: Rack, host: number) => `fd00:${RACKS[rack]}::${host}`;

export const NODES = { a1: { rack: 'a', host: 11 }, a2: { rack: 'a', host: 12 }, b1: { rack: 'b', host: 11 }, b2: { rack: 'b', host: 12 } } as const;
export type Node = keyof typeof NODES;
export const ROUTERS = { r1: 1, r2: 2 } as const;
export type Router = keyof typeof ROUTERS;
export const wanAddress = (r: Router) => `198.51.100.${ROUTERS[r]}`;
export const wanAddress6 = (r: Router) => `2001:db8:ffff::${ROUTERS[r]}`;

/** VM → where it starts, its TAP and addresses */
export const VMS = {
  vm1: { node: 'a1', tap: 'tap1', ip: '192.0.2.11', ip6: '2001:db8::11' },
  vm2: { node: 'a1', tap: 'tap2', ip: '192.0.2.12', ip6: '2001:db8::12' },
  vm3: { node: 'a2', tap: 'tap3', ip: '192.0.2.13', ip6: '2001:db8::13' },
  vm4: { node: 'b1', tap: 'tap4', ip: '192.0.2.14', ip6: '2001:db8::14' },
  vm5: { node: 'b2', tap: 'tap5', ip: '192.0.2.15', ip6: '2001:db8::15' },
} as const;
export type Vm = keyof typeof VMS;

export interface BgpLab {
  lab: Lab;
  ns: Record<Node | Router | 'inet' | 'sa' | 'sb' | 'wan', string>;
  vms: Record<Vm, string>;
  /** the node each VM runs on now */
  where: Record<Vm, Node>;
  /** node or router → its vmrouter.conf (outside the namespace, for `vmrouter frr`) */
  conf: Record<Node | Router, string>;
}

const common = `subnet = ${SUBNET}
gateway = ${GW}
subnet6 = ${SUBNET6}
gateway6 = ${GW6}
routing = bgp
`;

export function nodeConf(node: Node): string {
  const { rack, host } = NODES[node];
  return `[network public]
role = vmc
uplink = eth1
table = ${TABLE}
tap_mac = cc:47:52:4e:45:54
router_id = ${rackAddress(rack, host)}
${common}peers = ${rackAddress(rack, 1)} ${rackAddress(rack, 2)}
peers6 = ${rackAddress6(rack, 1)} ${rackAddress6(rack, 2)}
`;
}

export function routerConf(r: Router): string {
  const all = Object.values(NODES);
  return `[network public]
role = router
uplink = eth-a
nat_out = eth0
router_id = ${wanAddress(r)}
${common}peers = ${all.map((n) => rackAddress(n.rack, n.host)).join(' ')}
peers6 = ${all.map((n) => rackAddress6(n.rack, n.host)).join(' ')}
`;
}

/** an interface's static addresses, as the operator writes them (dad-attempts 0: no wait; autoconf 1: ifupdown's inet6 would leave 0) */
const addressStanza = (dev: string, v4: string, v6: string) =>
  `auto ${dev}\niface ${dev} inet static\n    address ${v4}/24\n\niface ${dev} inet6 static\n    address ${v6}/64\n    dad-attempts 0\n    autoconf 1\n\n`;

async function bridge(lab: Lab, name: string): Promise<string> {
  const ns = await lab.ns(name);
  await run(['ip', '-n', ns, 'link', 'add', 'dev', 'br0', 'type', 'bridge']);
  await lab.up(ns, 'br0');
  return ns;
}

async function port(lab: Lab, ns: string, dev: string, sw: string, name: string): Promise<void> {
  await lab.link(ns, dev, sw, name);
  await run(['ip', '-n', sw, 'link', 'set', 'dev', name, 'master', 'br0', 'up']);
}

/** Builds the namespaces and links; writes every node's /etc (nothing is up yet but the wires). */
export async function buildBgpLab(prefix: string): Promise<BgpLab> {
  const lab = new Lab(prefix);
  await Lab.sweep(prefix);
  const ns = { sa: await bridge(lab, 'sa'), sb: await bridge(lab, 'sb'), wan: await bridge(lab, 'wan') } as BgpLab['ns'];
  ns.inet = await lab.ns('inet');
  await port(lab, ns.inet, 'eth0', ns.wan, 'p-inet');
  await lab.up(ns.inet, 'eth0');
  await inNs(ns.inet, ['ip', 'addr', 'add', `${INET}/24`, 'dev', 'eth0']);
  await inNs(ns.inet, ['ip', '-6', 'addr', 'add', `${INET6}/64`, 'dev', 'eth0', 'nodad']);
  // IPv4 comes masqueraded (nat_out); IPv6 is routed with the VMs' own addresses, back through r2
  // (the router that stays up in the failover test: the internet host runs no BGP)
  await inNs(ns.inet, ['ip', '-6', 'route', 'add', SUBNET6, 'via', wanAddress6('r2'), 'dev', 'eth0']);
  const conf = {} as BgpLab['conf'];
  for (const r of Object.keys(ROUTERS) as Router[]) {
    ns[r] = await lab.ns(r);
    await port(lab, ns[r], 'eth-a', ns.sa, `p-${r}`);
    await port(lab, ns[r], 'eth-b', ns.sb, `p-${r}`);
    await port(lab, ns[r], 'eth0', ns.wan, `p-${r}`);
    const own = addressStanza('eth-a', rackAddress('a', ROUTERS[r]), rackAddress6('a', ROUTERS[r])) + addressStanza('eth-b', rackAddress('b', ROUTERS[r]), rackAddress6('b', ROUTERS[r])) + addressStanza('eth0', wanAddress(r), wanAddress6(r));
    conf[r] = await configure(ns[r], routerConf(r), own);
  }
  const vms = {} as BgpLab['vms'];
  for (const [node, { rack, host }] of Object.entries(NODES) as [Node, (typeof NODES)[Node]][]) {
    ns[node] = await lab.ns(node);
    await port(lab, ns[node], 'eth1', rack === 'a' ? ns.sa : ns.sb, `p-${node}`);
    conf[node] = await configure(ns[node], nodeConf(node), addressStanza('eth1', rackAddress(rack, host), rackAddress6(rack, host)));
  }
  const where = {} as BgpLab['where'];
  for (const [vm, v] of Object.entries(VMS) as [Vm, (typeof VMS)[Vm]][]) {
    vms[vm] = await lab.ns(vm);
    await lab.link(ns[v.node], v.tap, vms[vm], 'eth0');
    // the hypervisor creates the TAP up, before vmrouter sees it (tap down leaves it so)
    await lab.up(ns[v.node], v.tap);
    await configureVm({ ns: vms[vm], ips: [v.ip], ip6s: [v.ip6], gw6: 'gateway6' }, ns[v.node], v.tap);
    where[vm] = v.node;
  }
  return { lab, ns, vms, where, conf };
}

/** The node's /etc/vmrouter/vmrouter.conf and /etc/network/interfaces: the operator's stanzas, then vmrouter's. */
async function configure(ns: string, conf: string, own: string): Promise<string> {
  etcFile(ns, 'vmrouter/vmrouter.conf', conf);
  const file = join('/etc/netns', ns, 'vmrouter', 'vmrouter.conf');
  const { stdout } = await vmrouter(['--config', file, 'generate', '--hook-config', '/etc/vmrouter/vmrouter.conf']);
  installHooks(ns, own + stdout);
  return file;
}

/** `vmrouter tap up` of a VM on the node it runs on now, as a hypervisor's ifup script calls it. */
export async function tapUp(l: BgpLab, vm: Vm): Promise<void> {
  const v = VMS[vm];
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', v.tap, '--mac', await macOf(l.vms[vm], 'eth0'), '--ip', v.ip, '--ip6', v.ip6], { ns: l.ns[l.where[vm]] });
}

export async function tapDown(l: BgpLab, vm: Vm): Promise<void> {
  await vmrouter(['tap', 'down', '--tap', VMS[vm].tap], { ns: l.ns[l.where[vm]] });
}

/** Moves a stopped VM's NIC (host end) to another node: the VM restarts there (cold migration). */
export async function moveNic(l: BgpLab, vm: Vm, to: Node): Promise<void> {
  await run(['ip', '-n', l.ns[l.where[vm]], 'link', 'set', 'dev', VMS[vm].tap, 'netns', l.ns[to]]);
  // a device changing namespace goes down; the hypervisor creates the new TAP up
  await run(['ip', '-n', l.ns[to], 'link', 'set', 'dev', VMS[vm].tap, 'up']);
  l.where[vm] = to;
}

/** `ip -j route` of a namespace: prefix → the route's next hops ("via dev") and protocol. */
export async function routesOf(ns: string, family: 4 | 6, table = 'main'): Promise<Map<string, { hops: string[]; protocol: string; type: string }>> {
  const { stdout } = await inNs(ns, ['ip', `-${family}`, '-j', 'route', 'show', 'table', table]);
  const out = new Map<string, { hops: string[]; protocol: string; type: string }>();
  type Hop = { gateway?: string; dev?: string };
  for (const r of JSON.parse(stdout || '[]') as (Hop & { dst: string; protocol?: string; type?: string; nexthops?: Hop[] })[]) {
    const hops = (r.nexthops ?? [r]).map((h) => `${h.gateway ?? ''} ${h.dev ?? ''}`.trim()).sort();
    out.set(`${r.dst}${r.type && r.type !== 'unicast' ? ` ${r.type}` : ''}`, { hops, protocol: r.protocol ?? '', type: r.type ?? 'unicast' });
  }
  return out;
}
