/**
 * The routed-setup lab of seed 004: VMC nodes and a router on one L2 segment (a bridge in its own
 * namespace; each node's uplink is a veth named eth0.222 standing in for the VLAN), an internet host
 * behind the router, and VMs whose NICs are veth pairs (host end named like a TAP).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, installHooks } from './netns.js';
import { inNs, run } from './run.js';
import { vmrouter } from './vmrouter.js';

export const SUBNET = '192.0.2.0/24';
export const GW = '192.0.2.1';
export const ARP_IP = '192.0.2.254';
export const SUBNET6 = '2001:db8::/64';
export const GW6 = '2001:db8::1';
export const INET = '198.51.100.2';
export const INET6 = '2001:db8:ffff::2';

/**
 * A node's vmrouter.conf → generated stanzas (the real `vmrouter generate`) → its /etc/network.
 * `hookConfig`: the file the node's hooks read for sections (vmrouter-config), by default the
 * namespace's /etc/vmrouter/vmrouter.conf (tests put the same text there with etcFile).
 */
export async function configureNode(ns: string, conf: string, style: 'compact' | 'expanded' = 'compact', hookConfig = '/etc/vmrouter/vmrouter.conf'): Promise<string> {
  const file = join('/tmp', `${ns}.conf`);
  writeFileSync(file, conf);
  // in the namespace: expanded stanzas count holders in its state directory, as on the node
  const { stdout } = await vmrouter(['--config', file, 'generate', '--style', style, '--hook-config', hookConfig === 'here' ? file : hookConfig], { ns });
  installHooks(ns, stdout);
  return stdout;
}

export const vmcConf = (uplink = 'eth0.222') => `
[network public]
role = vmc
uplink = ${uplink}
table = 222
table_name = snf_routed
subnet = ${SUBNET}
gateway = ${GW}
arp_ip = ${ARP_IP}
subnet6 = ${SUBNET6}
gateway6 = ${GW6}
`;

/** A [vnet] with static routing whose host h1 (192.168.56.103, underlay eth1) has the bridge br_net1; router r1 is .101. */
export const vnetHostConf = (placements: string) => `
[vnet net1]
subnet = 10.10.10.0/24
gateway = 10.10.10.1
bridge = br_net1
bridge_address = 10.10.10.2
table = 101
underlay = eth1
hosts = h1:192.168.56.103
routers = r1:192.168.56.101
uplink = eth0
routing = static
placements = ${placements}
`;

export const routerConf = `
[network public]
role = router
uplink = eth0.222
subnet = ${SUBNET}
gateway = ${GW}
subnet6 = ${SUBNET6}
gateway6 = ${GW6}
upstream = eth0
`;

export async function macOf(ns: string, dev: string): Promise<string> {
  return (await inNs(ns, ['cat', `/sys/class/net/${dev}/address`])).stdout.trim();
}

export async function linkLocalOf(ns: string, dev: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const { stdout } = await inNs(ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', dev, 'scope', 'link']);
    const m = /inet6 (fe80::[0-9a-f:]+)\/64 scope link\s*(tentative)?/.exec(stdout);
    if (m && !m[2]) return m[1]!;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${ns} ${dev}: no usable link-local address`);
}

export interface VmSpec {
  ns: string;
  ips: string[];
  ip6s: string[];
  /** IPv4 and IPv6 gateways of the network (default: the lab's 192.0.2.1 and 2001:db8::1) */
  gateway?: string;
  gateway6?: string;
  /** prefix length of the first IPv4 address, as DHCP would give it (default 24) */
  prefixLength?: number;
  /** IPv6 default gateway of the VM: 'tap' (the TAP's link-local, as an RA would give) or gateway6 */
  gw6: 'tap' | 'gateway6';
}

/** Configures a VM as its DHCP/RA would: /24 with default via the gateway; IPv6 addresses without an
 *  on-link prefix route (routed network) and a default route. */
export async function configureVm(vm: VmSpec, node: string, tap: string): Promise<void> {
  const sh = (argv: string[]) => inNs(vm.ns, argv);
  await sh(['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  for (const [i, ip] of vm.ips.entries()) await sh(['ip', 'addr', 'add', `${ip}/${i === 0 ? (vm.prefixLength ?? 24) : 32}`, 'dev', 'eth0']);
  if (vm.ips.length) await sh(['ip', 'route', 'add', 'default', 'via', vm.gateway ?? GW, 'dev', 'eth0']);
  for (const ip6 of vm.ip6s) await sh(['ip', '-6', 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad', 'noprefixroute']);
  if (vm.ip6s.length) {
    const via = vm.gw6 === 'tap' ? await linkLocalOf(node, tap) : (vm.gateway6 ?? GW6);
    await sh(['ip', '-6', 'route', 'add', 'default', 'via', via, 'dev', 'eth0', ...(vm.gw6 === 'gateway6' ? ['onlink'] : [])]);
  }
}

export interface RoutedLab {
  sw: string;
  router: string;
  inet: string;
  nodes: string[];
  vms: Record<string, string>;
}

/** Namespaces and cables; nothing of vmrouter yet. */
export async function buildRoutedLab(lab: Lab, vmsPerNode: Record<string, string[]>, routed: { subnet: string; subnet6: string } = { subnet: SUBNET, subnet6: SUBNET6 }): Promise<RoutedLab> {
  const sw = await lab.ns('sw');
  await run(['ip', '-n', sw, 'link', 'add', 'dev', 'br0', 'type', 'bridge']);
  await lab.up(sw, 'br0');
  const attach = async (ns: string, port: string) => {
    await lab.link(ns, 'eth0.222', sw, port);
    await run(['ip', '-n', sw, 'link', 'set', 'dev', port, 'master', 'br0', 'up']);
  };
  const router = await lab.ns('rt');
  await attach(router, 'p-rt');
  const inet = await lab.ns('inet');
  await lab.link(router, 'eth0', inet, 'eth0');
  await lab.up(router, 'eth0');
  await inNs(router, ['ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0']);
  await inNs(router, ['ip', '-6', 'addr', 'add', '2001:db8:ffff::1/64', 'dev', 'eth0', 'nodad']);
  await lab.up(inet, 'eth0');
  await inNs(inet, ['ip', 'addr', 'add', `${INET}/24`, 'dev', 'eth0']);
  await inNs(inet, ['ip', '-6', 'addr', 'add', `${INET6}/64`, 'dev', 'eth0', 'nodad']);
  await inNs(inet, ['ip', 'route', 'add', routed.subnet, 'via', '198.51.100.1']);
  await inNs(inet, ['ip', '-6', 'route', 'add', routed.subnet6, 'via', '2001:db8:ffff::1']);

  const nodes: string[] = [];
  const vms: Record<string, string> = {};
  for (const [i, [node, taps]] of Object.entries(vmsPerNode).entries()) {
    const ns = await lab.ns(node);
    nodes.push(ns);
    await attach(ns, `p-${node}`);
    // The node's own (management) address: the source the kernel would put in ARP requests.
    await inNs(ns, ['ip', 'addr', 'add', `10.255.0.${i + 1}/32`, 'dev', 'lo']);
    for (const tap of taps) {
      const vm = await lab.ns(`vm-${tap}`);
      vms[tap] = vm;
      await lab.link(ns, tap, vm, 'eth0');
      await lab.up(ns, tap);
    }
  }
  return { sw, router, inet, nodes, vms };
}

/** Re-creates a node's eth0.222 after ifdown deleted it (as it deletes a VLAN), as it was built. */
export async function recreateUplink(lab: Lab, l: RoutedLab, ns: string, port: string): Promise<void> {
  await lab.link(ns, 'eth0.222', l.sw, port);
  await run(['ip', '-n', l.sw, 'link', 'set', 'dev', port, 'master', 'br0', 'up']);
}

export async function ping(ns: string, dst: string, extra: string[] = [], count = 2): Promise<boolean> {
  const r = await inNs(ns, ['ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '2', ...extra, dst], { ok: false });
  return r.code === 0;
}
