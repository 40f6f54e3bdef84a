/**
 * What `vmrouter tap up` is asked to bind, from command-line flags or from Ganeti's kvm-ifup
 * environment, validated before anything is planned. Pure.
 */
import { contains, parseAddress, parsePrefix, reservedAddresses } from './addr.js';
import type { TapBinding } from './binding.js';
import { ifnameProblem, networkNameProblem, parseMac } from './names.js';
import type { Network } from './network.js';
import { UsageError } from '../config/errors.js';
import { bindingIp6s } from '../features/routed.js';
import { domainProblem } from '../ndp/config.js';

export interface TapRequest {
  network: string | null;
  /** Ganeti LINK: the routing table (id or name) of the network in routed mode */
  link: string | null;
  tap: string;
  mac: string | null;
  ips: string[];
  ip6s: string[];
  /** for the DHCPv4 responder (option 12) */
  hostname?: string | null;
  /** what Ganeti says about the network, checked against vmrouter's definition */
  claims: { label: string; subnet?: string; gateway?: string; family: 4 | 6 }[];
  /** names the inputs in messages: "--ip" or "IP" */
  labels: { tap: string; mac: string; ip: string; ip6: string; network: string };
}

function checkName(value: string, label: string, problem: (v: string) => string | null): string {
  const p = problem(value);
  if (p) throw new UsageError(`${label} ${JSON.stringify(value)}: ${p}`);
  return value;
}

function addresses(values: string[], family: 4 | 6, label: string): string[] {
  return values.map((v) => {
    const a = parseAddress(v, family);
    if (!a) throw new UsageError(`${label} ${JSON.stringify(v)}: not an IPv${family} address`);
    return a.address;
  });
}

export interface TapFlags {
  network?: string;
  tap?: string;
  mac?: string;
  ip?: string[];
  ip6?: string[];
  hostname?: string;
}

function hostname(value: string | undefined, label: string): string | null {
  if (value === undefined || value === '') return null;
  const p = domainProblem(value);
  if (p) throw new UsageError(`${label} ${JSON.stringify(value)}: ${p.replace('domain name', 'host name')}`);
  return value.replace(/\.$/, '');
}

export function tapRequestFromFlags(f: TapFlags): TapRequest {
  const labels = { tap: '--tap', mac: '--mac', ip: '--ip', ip6: '--ip6', network: '--network' };
  if (!f.tap) throw new UsageError('--tap is required (or run from a Ganeti kvm-ifup environment with INTERFACE set)');
  if (!f.network) throw new UsageError('--network is required with --tap');
  const mac = f.mac === undefined ? null : parseMac(f.mac);
  if (f.mac !== undefined && mac === null) throw new UsageError(`--mac ${JSON.stringify(f.mac)}: not a unicast MAC address`);
  return {
    network: checkName(f.network, '--network', networkNameProblem),
    link: null,
    tap: checkName(f.tap, '--tap', ifnameProblem),
    mac,
    ips: addresses(f.ip ?? [], 4, '--ip'),
    ip6s: addresses(f.ip6 ?? [], 6, '--ip6'),
    hostname: hostname(f.hostname, '--hostname'),
    claims: [],
    labels,
  };
}

/**
 * Ganeti's kvm-ifup execs /etc/ganeti/kvm-vif-bridge (examples/ganeti) with the NIC in the
 * environment: INTERFACE, MODE, LINK, MAC, IP (one address, IPv4 or IPv6: Ganeti accepts either),
 * INSTANCE, NETWORK_* and TAGS. Returns null for NICs that are not vmrouter's: MODE bridged or
 * openvswitch, and Ganeti's instance-communication TAPs (gnt.com.N, routed by kvm-ifup-os).
 */
export function tapRequestFromGanetiEnv(env: Readonly<Record<string, string | undefined>>): TapRequest | null {
  // Ganeti has one variable for the NIC's address, whatever its family
  const labels = { tap: 'INTERFACE', mac: 'MAC', ip: 'IP', ip6: 'IP', network: 'NETWORK_NAME' };
  if (env.MODE !== undefined && env.MODE !== 'routed') return null;
  if (env.INTERFACE?.startsWith('gnt.com.')) return null;
  if (!env.INTERFACE) throw new UsageError('no --tap given and INTERFACE is not set: not called by Ganeti');
  const tap = checkName(env.INTERFACE, 'INTERFACE', ifnameProblem);
  const mac = env.MAC ? parseMac(env.MAC) : null;
  if (env.MAC && mac === null) throw new UsageError(`MAC ${JSON.stringify(env.MAC)}: not a unicast MAC address`);
  const name = env.NETWORK_NAME ? checkName(env.NETWORK_NAME, 'NETWORK_NAME', networkNameProblem) : null;
  const link = env.LINK ? env.LINK : null;
  if (link !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(link)) throw new UsageError(`LINK ${JSON.stringify(link)}: not a routing table id or name`);
  if (!name && !link) throw new UsageError('neither NETWORK_NAME nor LINK is set: cannot tell which network INTERFACE belongs to');
  const claims: TapRequest['claims'] = [];
  if (env.NETWORK_SUBNET) claims.push({ label: 'NETWORK_SUBNET', subnet: env.NETWORK_SUBNET, family: 4 });
  if (env.NETWORK_GATEWAY) claims.push({ label: 'NETWORK_GATEWAY', gateway: env.NETWORK_GATEWAY, family: 4 });
  if (env.NETWORK_SUBNET6) claims.push({ label: 'NETWORK_SUBNET6', subnet: env.NETWORK_SUBNET6, family: 6 });
  if (env.NETWORK_GATEWAY6) claims.push({ label: 'NETWORK_GATEWAY6', gateway: env.NETWORK_GATEWAY6, family: 6 });
  const ip = env.IP ? [env.IP] : [];
  const v6 = ip.some((a) => a.includes(':'));
  return { network: name, link, tap, mac, ips: v6 ? [] : addresses(ip, 4, 'IP'), ip6s: v6 ? addresses(ip, 6, 'IP') : [], hostname: hostname(env.INSTANCE, 'INSTANCE'), claims, labels };
}

/** Which network a request means: by name, else by Ganeti's LINK (table id or table name). */
export function resolveNetwork(req: TapRequest, candidates: Network[]): Network {
  const byName = req.network ? candidates.find((n) => n.name === req.network) : undefined;
  if (byName) return byName;
  if (req.network && !req.link) throw new UsageError(`${req.labels.network} ${req.network}: no such network (not up, and not in the configuration)`);
  const byLink = candidates.filter((n) => n.table !== null && (String(n.table) === req.link || n.tableName === req.link));
  if (byLink.length === 1) return byLink[0]!;
  if (byLink.length > 1) throw new UsageError(`LINK ${req.link}: several networks use that table (${byLink.map((n) => n.name).join(', ')})`);
  throw new UsageError(`${req.network ? `NETWORK_NAME ${req.network} and ` : ''}LINK ${req.link}: no network with that name or table`);
}

/** Checks the request against the network and returns the binding to apply. */
export function bindTap(n: Network, req: TapRequest): TapBinding {
  if (n.role === 'router') throw new UsageError(`network ${n.name} has role router: it hosts no VMs`);
  for (const c of req.claims) {
    const ours = c.family === 4 ? n.v4 : n.v6;
    if (!ours) throw new UsageError(`${c.label} is set but network ${n.name} has no IPv${c.family}`);
    if (c.subnet !== undefined) {
      const p = parsePrefix(c.subnet, c.family);
      if (!p || 'error' in p || p.cidr !== ours.subnet.cidr) throw new UsageError(`${c.label} ${c.subnet} differs from ${ours.subnet.cidr} of network ${n.name}`);
    }
    if (c.gateway !== undefined && parseAddress(c.gateway, c.family)?.address !== ours.gateway) {
      throw new UsageError(`${c.label} ${c.gateway} differs from gateway ${ours.gateway} of network ${n.name}`);
    }
  }
  const check = (list: string[], family: 4 | 6, label: string) => {
    const net = family === 4 ? n.v4 : n.v6;
    const seen = new Set<string>();
    for (const a of list) {
      if (!net) throw new UsageError(`${label} ${a}: network ${n.name} has no IPv${family}`);
      if (!contains(net.subnet, a)) throw new UsageError(`${label} ${a}: outside ${net.subnet.cidr} of network ${n.name}`);
      if (reservedAddresses(net.subnet).includes(a)) throw new UsageError(`${label} ${a}: reserved address of ${net.subnet.cidr}`);
      if (a === net.gateway) throw new UsageError(`${label} ${a}: that is the gateway of network ${n.name}`);
      if (family === 4 && a === n.v4?.arpIp) throw new UsageError(`${label} ${a}: that is arp_ip of network ${n.name}`);
      if (seen.has(a)) throw new UsageError(`${label} ${a}: given twice`);
      seen.add(a);
    }
  };
  check(req.ips, 4, req.labels.ip);
  const ip6s = bindingIp6s(n, req);
  check(ip6s, 6, req.ip6s.length > 0 ? req.labels.ip6 : `IPv6 (EUI-64 of ${req.labels.mac})`);
  if (req.ips.length === 0 && ip6s.length === 0) {
    throw new UsageError(`no address for ${req.tap}: give ${req.labels.ip}${n.v6 ? ` or ${req.labels.ip6} (or ${req.labels.mac} for an EUI-64 address)` : ''}`);
  }
  return { network: n.name, tap: req.tap, mac: req.mac, ips: req.ips, ip6s, ...(req.hostname ? { hostname: req.hostname } : {}) };
}

/** Addresses already bound to another TAP: binding them twice would route one VM's traffic to another. */
export function bindingClashes(b: TapBinding, others: TapBinding[]): string[] {
  const mine = new Set([...b.ips, ...b.ip6s]);
  return others.filter((o) => o.tap !== b.tap).flatMap((o) => [...o.ips, ...o.ip6s].filter((a) => mine.has(a)).map((a) => `${a} is already bound to ${o.tap} (network ${o.network})`));
}
