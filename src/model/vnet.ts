/**
 * Proxy-ARP virtual networks across hosts (seed 003): the typed model of a `[vnet NAME]` section and
 * of its placements file (which VM runs on which host). Pure: text in, records or file:line errors out.
 */
import { contains, parseAddress, reservedAddresses, type Prefix } from './addr.js';
import { networkNameProblem } from './names.js';
import { InputError, InvalidInput, type Origin } from '../config/errors.js';

/** A host or router of a virtual network: its name and its address on the underlay. */
export interface VnetNode {
  name: string;
  address: string;
}

export type VnetRouting = 'static' | 'bgp';

/**
 * The IPv6 side of a virtual network (optional). Linux answers NDP by proxy only per address
 * (pneigh entries, Documentation/networking/ip-sysctl.rst proxy_ndp), so every host holds one proxy
 * entry on its bridge for the gateway and for each VM address placed on another host.
 */
export interface Vnet6 {
  subnet: Prefix;
  /** on the routers' loopback (as /128) */
  gateway: string;
  /** the same on every host, like the IPv4 one: its connected route reaches local VMs */
  bridgeAddress: string;
  /** node name → its IPv6 underlay address: next hops of the hosts' default and the routers' /128s, BGP peers */
  underlay: Map<string, string>;
  /** NAT66 out of the uplink; off by default (RFC 4864: IPv6 needs no NAT) */
  masquerade: boolean;
}

export interface VnetRecord {
  name: string;
  subnet: Prefix;
  /** on the routers' loopback (as /32): the VMs' default gateway */
  gateway: string;
  bridge: string;
  /** the same on every host: the hosts reach their own VMs through its connected route */
  bridgeAddress: string;
  /** set explicitly, so the bridge keeps it whatever ports come and go */
  bridgeMac: string;
  table: number;
  priority: number;
  /** hosts and routers reach each other through this interface (same name on every node) */
  underlay: string;
  hosts: VnetNode[];
  routers: VnetNode[];
  /** the routers' interface towards the internet */
  uplink: string;
  masquerade: boolean;
  /** new connections from the uplink to the VMs are allowed */
  inbound: boolean;
  routing: VnetRouting;
  asn: number;
  /** BGP keepalive and hold time, seconds */
  bgpKeepalive: number;
  bgpHold: number;
  placements: string;
  /** null: IPv4 only */
  v6: Vnet6 | null;
}

/** One VM of a virtual network: where it runs and its addresses. */
export interface Placement {
  vm: string;
  host: string;
  ips: string[];
  line: number;
}

export const defaultPlacements = (name: string): string => `/etc/vmrouter/vnet/${name}.placements`;

/** "h1:192.0.2.11 h2:192.0.2.12" → nodes, or a problem in words (IPv6 addresses with family 6). */
export function parseNodes(text: string, family: 4 | 6 = 4): { nodes: VnetNode[] } | { error: string } {
  const nodes: VnetNode[] = [];
  for (const word of text.split(/[\s,]+/).filter((w) => w !== '')) {
    const m = /^([^:]+):(.+)$/.exec(word);
    if (!m) return { error: `${JSON.stringify(word)} is not NAME:ADDRESS` };
    const problem = networkNameProblem(m[1]!);
    if (problem) return { error: `node name ${JSON.stringify(m[1])} ${problem.replace('network name', 'name')}` };
    const addr = parseAddress(m[2]!, family);
    if (!addr) return { error: `${JSON.stringify(m[2])} (of ${m[1]}) is not an IPv${family} address` };
    if (nodes.some((n) => n.name === m[1])) return { error: `${m[1]} is listed twice` };
    if (nodes.some((n) => n.address === addr.address)) return { error: `${addr.address} is listed twice` };
    nodes.push({ name: m[1]!, address: addr.address });
  }
  if (nodes.length === 0) return { error: 'lists no node (NAME:ADDRESS, separated by spaces)' };
  return { nodes };
}

/**
 * The placements file: `VM HOST ADDRESS...` per line, `#` comments. Every problem at once, each with
 * its file and line; an address may belong to one VM only.
 */
export function parsePlacements(text: string, file: string, v: VnetRecord): Placement[] {
  const problems: InputError[] = [];
  const out: Placement[] = [];
  const owner = new Map<string, string>();
  const reserved = new Set([v.gateway, v.bridgeAddress, ...reservedAddresses(v.subnet)]);
  if (v.v6) for (const a of [v.v6.gateway, v.v6.bridgeAddress, ...reservedAddresses(v.v6.subnet)]) reserved.add(a);
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const at = (key: string): Origin => ({ file, line: i + 1, section: `placements of [vnet ${v.name}]`, key });
    const [vm, host, ...addrs] = line.split(/\s+/);
    if (networkNameProblem(vm!)) {
      problems.push(new InputError(at('VM'), `${JSON.stringify(vm)} is not a VM name (1-32 letters, digits, "_" or "-")`));
      return;
    }
    if (host === undefined) {
      problems.push(new InputError(at('HOST'), `${vm}: expected "VM HOST ADDRESS..."`));
      return;
    }
    if (!v.hosts.some((h) => h.name === host)) problems.push(new InputError(at('HOST'), `${vm}: ${host} is not a host of [vnet ${v.name}] (${v.hosts.map((h) => h.name).join(', ')})`));
    if (addrs.length === 0) problems.push(new InputError(at('ADDRESS'), `${vm}: no address`));
    if (out.some((p) => p.vm === vm)) problems.push(new InputError(at('VM'), `${vm} is placed twice`));
    const ips: string[] = [];
    for (const a of addrs) {
      const p = parseAddress(a);
      const subnet = p?.family === 6 ? v.v6?.subnet : v.subnet;
      if (!p) problems.push(new InputError(at('ADDRESS'), `${vm}: ${JSON.stringify(a)} is not an ${v.v6 ? 'IPv4 or IPv6' : 'IPv4'} address`));
      else if (!subnet) problems.push(new InputError(at('ADDRESS'), `${vm}: ${p.address} is IPv6, but [vnet ${v.name}] has no subnet6`));
      else if (!contains(subnet, p.address)) problems.push(new InputError(at('ADDRESS'), `${vm}: ${p.address} is outside ${subnet.cidr}`));
      else if (reserved.has(p.address)) problems.push(new InputError(at('ADDRESS'), `${vm}: ${p.address} is the network's gateway, bridge, network or broadcast address`));
      else if (owner.has(p.address)) problems.push(new InputError(at('ADDRESS'), `${vm}: ${p.address} already belongs to ${owner.get(p.address)}`));
      else {
        owner.set(p.address, vm!);
        ips.push(p.address);
      }
    }
    out.push({ vm: vm!, host: host, ips, line: i + 1 });
  });
  if (problems.length > 0) throw new InvalidInput(problems);
  return out;
}

/** The role a node plays in a virtual network, or null when it is not part of it. */
export function roleOf(v: VnetRecord, node: string): 'host' | 'router' | null {
  if (v.hosts.some((h) => h.name === node)) return 'host';
  if (v.routers.some((r) => r.name === node)) return 'router';
  return null;
}

/** The address family of an address in a placement (IPv6 ones contain a colon). */
export const familyOf = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);

export const gatewayInSubnet = (v: Pick<VnetRecord, 'subnet'>, a: string): boolean => contains(v.subnet, a);

/**
 * The placements text with `vm` on `host` (replacing its line, or appended), or without it
 * (`host` null). Comments and the other lines stay as they are; the result is checked by the caller.
 */
export function editPlacements(text: string, vm: string, host: string | null, ips: readonly string[]): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const mine = (l: string) => l.replace(/#.*$/, '').trim().split(/\s+/)[0] === vm;
  const entry = host === null ? null : [vm, host, ...ips].join(' ');
  const at = lines.findIndex(mine);
  const kept = lines.filter((l, i) => !mine(l) || i === at);
  const out = at < 0 ? [...kept, ...(entry ? [entry] : [])] : kept.flatMap((l) => (mine(l) ? (entry ? [entry] : []) : [l]));
  return out.length ? `${out.join('\n')}\n` : '';
}
