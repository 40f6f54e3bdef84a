/**
 * The seed-003 lab: hosts and routers on one underlay segment (a bridge in its own namespace), an
 * internet host behind the routers' uplinks (a second segment), and VMs whose NICs are veth pairs
 * (host end plugged into the vnet bridge once ifup created it, as a hypervisor would). Each node gets
 * the operator's underlay stanza plus `vmrouter generate --node NAME` of one shared vmrouter.conf,
 * and that vmrouter.conf as its /etc/vmrouter/vmrouter.conf (through /etc/netns/NS/vmrouter).
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ifupdown, installHooks } from './netns.js';
import { inNs, run } from './run.js';
import { vmrouter } from './vmrouter.js';

export const SUBNET = '10.10.10.0/24';
export const GW = '10.10.10.1';
export const BRIDGE_ADDRESS = '10.10.10.2';
export const INET = '198.51.100.2';
export const UNDERLAY = (i: number) => `192.168.56.${i}`;
export const SUBNET6 = '2001:db8:a::/64';
export const GW6 = '2001:db8:a::1';
export const BRIDGE_ADDRESS6 = '2001:db8:a::2';
export const INET6 = '2001:db8:ffff::2';
/** a node's IPv6 underlay address: the same last number as its IPv4 one */
export const UNDERLAY6 = (v4: string) => `fd00:56::${v4.split('.')[3]}`;
/** a router's IPv6 uplink address: the same last number as its IPv4 one */
export const UPLINK6 = (v4: string) => `2001:db8:ffff::${v4.split('.')[3]}`;

export interface VnetLab {
  lab: Lab;
  conf: string;
  placements: string;
  /** node name → namespace */
  ns: Record<string, string>;
  inet: string;
  /** VM name → namespace */
  vms: Record<string, string>;
  /** router name → its uplink address */
  uplinks: Record<string, string>;
}

export interface VnetLabSpec {
  hosts: Record<string, { address: string; vms: string[] }>;
  routers: Record<string, { address: string; uplink: string }>;
  /** extra keys of [vnet net1] */
  extra?: string;
  /** dual stack: subnet6 and the nodes' IPv6 underlay and uplink addresses */
  v6?: boolean;
}

/**
 * /etc/vmrouter of the host is the mount point `ip netns exec` needs to show /etc/netns/NS/vmrouter
 * there. Other tests on the machine may remove it when empty, so it is made sure of before every
 * command that reads the configuration (the bind mount then lives as long as the command).
 */
let madeEtc = false;
export function ensureEtcMountPoint(): void {
  if (!existsSync('/etc/vmrouter')) {
    mkdirSync('/etc/vmrouter');
    madeEtc = true;
  }
}
/** After the test: the lab's namespaces, its placements file, and the mount point if this test made it. */
export async function cleanupVnetLab(l: VnetLab | undefined): Promise<void> {
  await l?.lab.cleanup();
  if (l) rmSync(l.placements, { force: true });
  removeEtcMountPoint();
}

export function removeEtcMountPoint(): void {
  if (madeEtc && existsSync('/etc/vmrouter') && readdirSync('/etc/vmrouter').length === 0) rmdirSync('/etc/vmrouter');
}

export function vnetConf(spec: VnetLabSpec, placements: string): string {
  const list = (r: Record<string, { address: string }>) => Object.entries(r).map(([n, x]) => `${n}:${x.address}`).join(' ');
  const list6 = [spec.hosts, spec.routers].flatMap((r) => Object.entries(r).map(([n, x]) => `${n}:${UNDERLAY6(x.address)}`)).join(' ');
  const v6 = spec.v6 ? `subnet6 = ${SUBNET6}\ngateway6 = ${GW6}\nbridge_address6 = ${BRIDGE_ADDRESS6}\nunderlay6 = ${list6}\n` : '';
  return `
[vnet net1]
subnet = ${SUBNET}
gateway = ${GW}
bridge = br_net1
bridge_address = ${BRIDGE_ADDRESS}
table = 101
underlay = eth1
hosts = ${list(spec.hosts)}
routers = ${list(spec.routers)}
uplink = eth0
placements = ${placements}
${v6}${spec.extra ?? ''}
`;
}

export async function buildVnetLab(prefix: string, spec: VnetLabSpec): Promise<VnetLab> {
  ensureEtcMountPoint();
  const lab = new Lab(prefix);
  await Lab.sweep(prefix);
  const sw = await lab.ns('sw');
  const wan = await lab.ns('wan');
  for (const s of [sw, wan]) {
    await run(['ip', '-n', s, 'link', 'add', 'dev', 'br0', 'type', 'bridge']);
    await lab.up(s, 'br0');
  }
  const placements = `/tmp/${prefix}net1.placements`;
  const conf = vnetConf(spec, placements);
  writeFileSync(placements, '');
  const inet = await lab.ns('inet');
  await lab.link(inet, 'eth0', wan, 'p-inet');
  await run(['ip', '-n', wan, 'link', 'set', 'dev', 'p-inet', 'master', 'br0', 'up']);
  await lab.up(inet, 'eth0');
  await inNs(inet, ['ip', 'addr', 'add', `${INET}/24`, 'dev', 'eth0']);
  if (spec.v6) await inNs(inet, ['ip', '-6', 'addr', 'add', `${INET6}/64`, 'dev', 'eth0', 'nodad']);
  const ns: Record<string, string> = {};
  const vms: Record<string, string> = {};
  const uplinks: Record<string, string> = {};
  for (const [name, h] of Object.entries(spec.hosts)) {
    ns[name] = await lab.ns(name);
    await lab.link(ns[name]!, 'eth1', sw, `p-${name}`);
    await run(['ip', '-n', sw, 'link', 'set', 'dev', `p-${name}`, 'master', 'br0', 'up']);
    for (const vm of h.vms) {
      vms[vm] = await lab.ns(vm);
      await lab.link(ns[name]!, `${vm}p`, vms[vm]!, 'eth0');
    }
  }
  for (const [name, r] of Object.entries(spec.routers)) {
    ns[name] = await lab.ns(name);
    await lab.link(ns[name]!, 'eth1', sw, `p-${name}`);
    await run(['ip', '-n', sw, 'link', 'set', 'dev', `p-${name}`, 'master', 'br0', 'up']);
    await lab.link(ns[name]!, 'eth0', wan, `p-${name}`);
    await run(['ip', '-n', wan, 'link', 'set', 'dev', `p-${name}`, 'master', 'br0', 'up']);
    uplinks[name] = r.uplink;
  }
  return { lab, conf, placements, ns, inet, vms, uplinks };
}

/** The node's /etc: the operator's underlay (and uplink) stanzas, then the generated ones. */
export async function configureVnetNode(l: VnetLab, spec: VnetLabSpec, node: string): Promise<string> {
  const ns = l.ns[node]!;
  const etc = join('/etc/netns', ns, 'vmrouter');
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'vmrouter.conf'), l.conf);
  const address = spec.hosts[node]?.address ?? spec.routers[node]!.address;
  let own = `auto eth1\niface eth1 inet static\n    address ${address}/24\n`;
  // dad-attempts 0: ifup would otherwise wait for duplicate address detection; autoconf 1: ifupdown's
  // inet6 static writes its default 0 and never restores it (the kernel's default is 1)
  if (spec.v6) own += `\niface eth1 inet6 static\n    address ${UNDERLAY6(address)}/64\n    dad-attempts 0\n    autoconf 1\n`;
  if (spec.routers[node]) own += `\nauto eth0\niface eth0 inet static\n    address ${spec.routers[node]!.uplink}/24\n`;
  if (spec.routers[node] && spec.v6) own += `\niface eth0 inet6 static\n    address ${UPLINK6(spec.routers[node]!.uplink)}/64\n    dad-attempts 0\n    autoconf 1\n`;
  // the node's hooks read the copy at /etc/vmrouter/vmrouter.conf, the default: no vmrouter-config
  const { stdout } = await vmrouter(['--config', join(etc, 'vmrouter.conf'), 'generate', '--node', node, '--hook-config', '/etc/vmrouter/vmrouter.conf']);
  installHooks(ns, `${own}\n${stdout}`);
  return stdout;
}

/** Plugs a VM's NIC into the bridge of the node it runs on (the hypervisor's job). */
export async function plug(l: VnetLab, node: string, vm: string): Promise<void> {
  await run(['ip', '-n', l.ns[node]!, 'link', 'set', 'dev', `${vm}p`, 'master', 'br_net1', 'up']);
}

export async function configureVnetVm(l: VnetLab, vm: string, address: string, address6?: string): Promise<void> {
  const sh = (argv: string[]) => inNs(l.vms[vm]!, argv);
  await sh(['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  await sh(['ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await sh(['ip', 'route', 'add', 'default', 'via', GW, 'dev', 'eth0']);
  if (!address6) return;
  // a static address on-link in the /64, the gateway reached through the bridge's proxy NDP
  await sh(['ip', '-6', 'addr', 'add', `${address6}/64`, 'dev', 'eth0', 'nodad']);
  await sh(['ip', '-6', 'route', 'add', 'default', 'via', GW6, 'dev', 'eth0']);
}

/** VM → [host, address...] */
export function writePlacements(l: VnetLab, lines: Record<string, [string, ...string[]]>): void {
  writeFileSync(l.placements, Object.entries(lines).map(([vm, [host, ...ips]]) => `${vm} ${host} ${ips.join(' ')}\n`).join(''));
}

/** Real ifup/ifdown in a node, its /etc/vmrouter in place. */
export function vnIfupdown(ns: string, verb: 'ifup' | 'ifdown', iface: string, ok = true) {
  ensureEtcMountPoint();
  return ifupdown(ns, verb, iface, [], ok);
}

export async function sync(l: VnetLab, node: string): Promise<void> {
  ensureEtcMountPoint();
  await vmrouter(['vnet', 'sync', '--node', node], { ns: l.ns[node]! });
}

/** Moves a VM's NIC (host end) from one node to another and plugs it in there (cold migration). */
export async function moveNic(l: VnetLab, vm: string, from: string, to: string): Promise<void> {
  await run(['ip', '-n', l.ns[from]!, 'link', 'set', 'dev', `${vm}p`, 'netns', l.ns[to]!]);
  await plug(l, to, vm);
}

/** Polls `check` every 250 ms until it holds or `ms` passed; returns whether it held and how long it took. */
export async function until(check: () => Promise<boolean>, ms: number): Promise<{ ok: boolean; ms: number }> {
  const start = Date.now();
  for (;;) {
    if (await check()) return { ok: true, ms: Date.now() - start };
    if (Date.now() - start > ms) return { ok: false, ms: Date.now() - start };
    await new Promise((r) => setTimeout(r, 250));
  }
}
