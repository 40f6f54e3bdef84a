/**
 * Proxy-ARP virtual networks across hosts with central routers (seed 003), with the seed's bugs fixed.
 *
 * Hosts: VMs plug into a per-network bridge that carries the same address on every host. The bridge
 * answers ARP for every address its table routes elsewhere (proxy_arp, RFC 1027), so a VM talks to
 * remote VMs and its gateway through its host. Packets entering from the bridge look up an extra
 * table (`ip rule iif BRIDGE`) whose only route is the default via the routers; the main table keeps
 * the connected route of the bridge, so the host and the routers' replies reach local VMs. The extra
 * table never routes the subnet back to the bridge (that would keep remote VMs unreachable); instead
 * each local VM gets a /32 to the bridge there, so proxy ARP stays quiet for it and traffic between
 * VMs of one host stays on the bridge.
 *
 * Routers: the gateways on loopback (/32), a host route per VM to the host that runs it (static), or
 * learned over BGP from the hosts (bgp: FRR, see render/frr.ts), and MASQUERADE of the virtual
 * networks out of the uplink only, so VM-to-VM traffic across hosts keeps its source (the seed's rule
 * lacked `-o UPLINK`).
 *
 * IPv6 (optional, `subnet6`): the same shape with one difference, proxy NDP is per address, so each
 * host holds a proxy entry per remote VM address next to the VMs' routes (vnet6.ts).
 *
 * Per VM there are only routes (hashed in the FIB) and, for IPv6, proxy entries (hashed too), never
 * a rule: see docs/design.md, "Data path".
 */
import type { RawSection } from './feature.js';
import type { Attachment, Feature, FeatureContext } from './feature.js';
import { contains, overlaps } from '../model/addr.js';
import { networksIn } from '../model/network.js';
import { parseBool, parseMac, parseUint } from '../model/names.js';
import { Checker } from '../model/verify.js';
import { defaultPlacements, familyOf, parseNodes, roleOf, type Placement, type VnetNode, type VnetRecord, type VnetRouting } from '../model/vnet.js';
import { InputError, InvalidInput, formatOrigin } from '../config/errors.js';
import type { KeySpec } from '../config/schema.js';
import { announce, ip, RT_PROTO, sysctl, type Step } from '../plan/step.js';
import { element, NAT_TABLE, natTable, quoteIfname } from './nft-skeleton.js';
import { hostSteps6, nexthopGroupId, routerSteps6, verify6, VNET_FILTER_TABLE, vnetFilterTable } from './vnet6.js';

export { VNET_FILTER_TABLE, VNET_FILTER_TABLE6, vnetFilterTable } from './vnet6.js';

export const KIND = 'vnet';
const RESERVED_TABLES = new Set([0, 253, 254, 255]);

export const VNET_KEYS: readonly KeySpec[] = [
  { key: 'subnet', type: 'prefix4', help: 'IPv4 subnet of the VMs, the same on every host' },
  { key: 'gateway', type: 'addr4', help: 'default gateway of the VMs; the routers hold it on their loopback as /32' },
  { key: 'bridge', type: 'ifname', help: 'the bridge on every host that the VMs of this network plug into (created by the generated stanza)' },
  { key: 'bridge_address', type: 'addr4', help: 'the address of the bridge, the same on every host: a host reaches its own VMs through it' },
  { key: 'bridge_mac', type: 'mac', default: '02:76:6e and the table id', help: 'MAC of the bridge, the same on every host, so a VM that moves keeps a valid ARP cache; set, it also stops Linux from taking a port\'s MAC' },
  { key: 'subnet6', type: 'prefix6', help: 'IPv6 subnet of the VMs (optional): hosts answer NDP by proxy, one entry per remote VM address, and routers route it (no NAT unless masquerade6)' },
  { key: 'gateway6', type: 'addr6', help: 'with subnet6: the VMs\' IPv6 default gateway; the routers hold it on their loopback as /128' },
  { key: 'bridge_address6', type: 'addr6', help: 'with subnet6: the IPv6 address of the bridge, the same on every host: a host reaches its own VMs through it' },
  { key: 'underlay6', type: 'node-list', help: 'with subnet6: the IPv6 underlay address of every host and router (h1:fd00:56::103 r1:fd00:56::101): next hops of IPv6 routes, and BGP peers for them' },
  { key: 'masquerade6', type: 'bool', default: 'no', help: 'with subnet6: MASQUERADE IPv6 of the subnet leaving through uplink (NAT66; usually the subnet is routed instead)' },
  { key: 'table', type: 'table', help: 'routing table for packets entering from the bridge (default via the routers, a /32 per local VM)' },
  { key: 'priority', type: 'priority', default: '10000', help: 'preference of the `ip rule iif BRIDGE lookup TABLE` on the hosts' },
  { key: 'underlay', type: 'ifname', help: 'interface through which hosts and routers reach each other (same name on every node)' },
  { key: 'hosts', type: 'node-list', help: 'the hosts that run VMs of this network and their underlay addresses: h1:192.168.56.103 h2:192.168.56.104' },
  { key: 'routers', type: 'node-list', help: 'the routers and their underlay addresses; with several, hosts spread traffic over them (ECMP) and skip a dead one' },
  { key: 'uplink', type: 'ifname', help: 'the routers\' interface towards the internet: masquerade and the inbound filter apply there only' },
  { key: 'masquerade', type: 'bool', default: 'yes', help: 'MASQUERADE traffic of the subnet leaving through uplink (never VM-to-VM traffic)' },
  { key: 'inbound', type: 'bool', default: 'no', help: 'allow new connections from uplink to the VMs, IPv4 and IPv6 (no: only replies get in)' },
  { key: 'routing', type: 'routing', default: 'static', help: 'static: routers get one host route per VM from the placements file; bgp: hosts announce their VMs\' /32 and /128 routes to the routers (FRR, `vmrouter vnet frr`)' },
  { key: 'asn', type: 'asn', default: '64512', help: 'with routing = bgp: the AS of hosts and routers (one iBGP AS)' },
  { key: 'bgp_hold', type: 'seconds', default: '9', help: 'with routing = bgp: BGP hold time (RFC 4271 4.2; keepalives every third of it): how long a dead peer keeps its routes' },
  { key: 'placements', type: 'path', default: '/etc/vmrouter/vnet/NAME.placements', help: 'which VM runs where: "VM HOST ADDRESS..." per line, maintained by the operator or the hypervisor\'s hooks; `vmrouter vnet sync` applies it' },
];

/** 02:76:6e ("vn", locally administered) and the table id's low 24 bits: the same on every host. */
export function defaultBridgeMac(table: number): string {
  const hex = (table & 0xffffff).toString(16).padStart(6, '0');
  return `02:76:6e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

function verifyOne(raw: RawSection): { record: VnetRecord | null; c: Checker } {
  const c = new Checker(raw);
  const name = raw.name;
  const subnet = c.required('subnet', '(the IPv4 subnet of the VMs)') === null ? null : c.prefix('subnet', 4);
  const gateway = c.required('gateway', '(the VMs\' default gateway)') === null ? null : c.hostIn('gateway', 4, subnet);
  const bridge = c.required('bridge', '(the bridge the VMs plug into)') === null ? null : c.ifname('bridge');
  const bridgeAddress = c.required('bridge_address', '(the bridge\'s address on every host)') === null ? null : c.hostIn('bridge_address', 4, subnet);
  if (gateway !== null && gateway === bridgeAddress) c.fail('bridge_address', `must differ from gateway ${gateway}: the gateway lives on the routers`);
  const table = c.required('table', '(the routing table of traffic from the bridge)') === null
    ? null
    : c.typed('table', (t) => { const n = parseUint(t, 1, 0xffffffff); return n !== null && !RESERVED_TABLES.has(n) ? n : null; }, 'is not a usable routing table id (1-4294967295; 253, 254 and 255 are the kernel\'s default, main and local)');
  const bridgeMac = c.has('bridge_mac') ? c.typed('bridge_mac', parseMac, 'is not a unicast MAC address (xx:xx:xx:xx:xx:xx)') : table ? defaultBridgeMac(table) : null;
  const priority = c.has('priority') ? c.typed('priority', (t) => parseUint(t, 1, 32765), 'is not a rule priority that sorts before main (1-32765)') : 10000;
  const underlay = c.required('underlay', '(the interface between hosts and routers)') === null ? null : c.ifname('underlay');
  const uplink = c.required('uplink', '(the routers\' interface towards the internet)') === null ? null : c.ifname('uplink');
  if (bridge !== null && bridge === underlay) c.fail('bridge', `must differ from underlay ${underlay}`);
  if (uplink !== null && uplink === underlay) c.fail('uplink', `must differ from underlay ${underlay}: masquerading there would hide VMs from each other`);
  const nodes = (key: 'hosts' | 'routers'): VnetNode[] | null => {
    if (c.required(key, `(${key === 'hosts' ? 'the hosts' : 'the routers'} as NAME:ADDRESS)`) === null) return null;
    const r = parseNodes(c.value(key)!.value);
    if ('error' in r) {
      c.fail(key, r.error);
      return null;
    }
    // a host's IPv6 nexthop group holds every router, within its block of 100 ids
    if (key === 'routers' && r.nodes.length > 99) c.fail(key, `lists ${r.nodes.length} routers; at most 99`);
    return r.nodes;
  };
  const hosts = nodes('hosts');
  const routers = nodes('routers');
  for (const h of hosts ?? []) {
    const r = (routers ?? []).find((x) => x.name === h.name || x.address === h.address);
    if (r) c.fail('routers', `${r.name}:${r.address} is also a host; a node is either a host or a router of a network`);
    if (subnet && contains(subnet, h.address)) c.fail('hosts', `${h.name}: ${h.address} is inside subnet ${subnet.cidr}; underlay addresses are separate`);
  }
  for (const r of routers ?? []) if (subnet && contains(subnet, r.address)) c.fail('routers', `${r.name}: ${r.address} is inside subnet ${subnet.cidr}; underlay addresses are separate`);
  const bool = (key: string, fallback: boolean) => (c.has(key) ? c.typed(key, parseBool, 'is not a boolean (yes/no)') ?? fallback : fallback);
  const masquerade = bool('masquerade', true);
  const inbound = bool('inbound', false);
  const routingText = c.value('routing')?.value ?? 'static';
  const routing = routingText === 'static' || routingText === 'bgp' ? (routingText as VnetRouting) : null;
  if (routing === null) c.fail('routing', `${JSON.stringify(routingText)} is not static or bgp`);
  for (const key of ['asn', 'bgp_hold']) if (c.has(key) && routing === 'static') c.fail(key, 'applies only to routing = bgp');
  const asn = c.asn();
  const hold = c.bgpHold();
  const placements = c.value('placements')?.value ?? defaultPlacements(name);
  if (!placements.startsWith('/')) c.fail('placements', `${JSON.stringify(placements)} is not an absolute file name`);

  const v6 = verify6(c, hosts, routers);

  const ok = c.problems.length === 0 && subnet && gateway && bridge && bridgeAddress && table && bridgeMac && underlay && uplink && hosts && routers && routing && asn && hold && priority;
  if (!ok) return { record: null, c };
  return {
    c,
    record: {
      name, subnet, gateway, bridge, bridgeAddress, bridgeMac, table, priority, underlay, hosts, routers, uplink,
      masquerade, inbound, routing, asn, bgpKeepalive: Math.max(1, Math.floor(hold / 3)), bgpHold: hold, placements, v6,
    },
  };
}

/** Checks across sections: one table, bridge and subnet per network; a node keeps its address. */
function crossCheck(records: VnetRecord[], raws: RawSection[], context: FeatureContext): InputError[] {
  const problems: InputError[] = [];
  const at = (v: VnetRecord, key: string) => raws.find((r) => r.name === v.name)!.values.get(key)?.origin ?? raws.find((r) => r.name === v.name)!.origin;
  const where = (o: { origin: { file: string; line?: number } }) => formatOrigin({ ...o.origin, section: '' }).replace(/: $/, '');
  records.forEach((v, i) => {
    for (const n of networksIn(context.records)) {
      if (n.table === v.table) problems.push(new InputError(at(v, 'table'), `table ${v.table} is already used by [network ${n.name}] (${where(n)})`));
      if (n.v4 && overlaps(n.v4.subnet, v.subnet)) problems.push(new InputError(at(v, 'subnet'), `${v.subnet.cidr} overlaps ${n.v4.subnet.cidr} of [network ${n.name}] (${where(n)})`));
      if (n.v6 && v.v6 && overlaps(n.v6.subnet, v.v6.subnet)) problems.push(new InputError(at(v, 'subnet6'), `${v.v6.subnet.cidr} overlaps ${n.v6.subnet.cidr} of [network ${n.name}] (${where(n)})`));
    }
    for (const e of records.slice(0, i)) {
      const other = `[vnet ${e.name}]`;
      if (e.table === v.table) problems.push(new InputError(at(v, 'table'), `table ${v.table} is already used by ${other}`));
      else if (e.v6 && v.v6 && nexthopGroupId(e.table) === nexthopGroupId(v.table)) problems.push(new InputError(at(v, 'table'), `table ${v.table} and table ${e.table} of ${other} give the same IPv6 nexthop ids (table modulo 20000000); pick another`));
      if (e.bridge === v.bridge) problems.push(new InputError(at(v, 'bridge'), `bridge ${v.bridge} is already used by ${other}`));
      if (overlaps(e.subnet, v.subnet)) problems.push(new InputError(at(v, 'subnet'), `${v.subnet.cidr} overlaps ${e.subnet.cidr} of ${other}`));
      if (e.v6 && v.v6 && overlaps(e.v6.subnet, v.v6.subnet)) problems.push(new InputError(at(v, 'subnet6'), `${v.v6.subnet.cidr} overlaps ${e.v6.subnet.cidr} of ${other}`));
      for (const [n, a] of v.v6?.underlay ?? []) {
        const same = e.v6?.underlay.get(n);
        if (same && same !== a) problems.push(new InputError(at(v, 'underlay6'), `${n} has IPv6 address ${same} in ${other}, not ${a}`));
      }
      for (const key of ['hosts', 'routers'] as const) {
        for (const n of v[key]) {
          const same = [...e.hosts, ...e.routers].find((x) => x.name === n.name);
          if (same && same.address !== n.address) problems.push(new InputError(at(v, key), `${n.name} has address ${same.address} in ${other}, not ${n.address}`));
        }
      }
      if (e.routing === 'bgp' && v.routing === 'bgp' && e.asn !== v.asn) problems.push(new InputError(at(v, 'asn'), `${v.asn} differs from ${e.asn} of ${other}: one FRR per node speaks for one AS`));
    }
  });
  return problems;
}

/** Host attachment: on the bridge, which its stanza creates. */
function hostSteps(v: VnetRecord): Step[] {
  const T = String(v.table);
  const br = v.bridge;
  const u = v.underlay;
  const steps: Step[] = [
    ip(4, ['addr', 'add', `${v.bridgeAddress}/${v.subnet.length}`, 'dev', br], ['addr', 'del', `${v.bridgeAddress}/${v.subnet.length}`, 'dev', br], 'the bridge address, the same on every host; its connected route reaches local VMs'),
    sysctl(`net/ipv4/conf/${br}/proxy_arp`, '1', '0', 'answer VMs\' ARP for remote VMs and the gateway with the bridge\'s MAC (RFC 1027)'),
    sysctl(`net/ipv4/conf/${br}/forwarding`, '1', '0', 'forward what VMs send to remote VMs and the internet'),
    sysctl(`net/ipv4/conf/${u}/forwarding`, '1', '0', 'forward what the routers send to local VMs', true),
    // Routers send ICMP redirects when they hand a packet back out of the underlay (host to host);
    // a redirect cached here would outlive a VM's move. With forwarding on, the interface's own
    // setting decides (Documentation/networking/ip-sysctl.rst, accept_redirects).
    sysctl(`net/ipv4/conf/${u}/accept_redirects`, '0', '1', 'ignore redirects: the routers, not other hosts, know where a VM runs', true),
    // Replies from remote VMs arrive on the underlay while main routes the subnet to the bridge:
    // strict reverse-path filtering (RFC 3704) would drop them; loose still drops unroutable sources.
    sysctl(`net/ipv4/conf/${u}/rp_filter`, '2', '0', 'loose reverse-path filter: remote VMs\' packets arrive on the underlay', true),
  ];
  if (v.routers.length > 1) {
    // ECMP over the routers; a next hop whose neighbour entry FAILED is skipped
    // (ip-sysctl.rst fib_multipath_use_neigh), and the short reachable time finds out within seconds.
    steps.push(sysctl('net/ipv4/fib_multipath_use_neigh', '1', '0', 'skip a router that stopped answering ARP', true));
    steps.push(sysctl(`net/ipv4/neigh/${u}/base_reachable_time_ms`, '4000', '30000', 'notice a dead router within seconds, not a minute', true));
    steps.push(sysctl(`net/ipv4/neigh/${u}/delay_first_probe_time`, '1', '5', 'probe a silent router at once', true));
  }
  const via = v.routers.length === 1 ? ['via', v.routers[0]!.address, 'dev', u] : v.routers.flatMap((r) => ['nexthop', 'via', r.address, 'dev', u]);
  steps.push(ip(4, ['route', 'add', 'default', 'table', T, 'proto', RT_PROTO, ...via], ['route', 'del', 'default', 'table', T, 'proto', RT_PROTO], `from the bridge, everything not local goes to the router${v.routers.length > 1 ? 's (ECMP)' : ''}`));
  steps.push(ip(4, ['rule', 'add', 'pref', String(v.priority), 'iif', br, 'lookup', T, 'proto', RT_PROTO], ['rule', 'del', 'pref', String(v.priority), 'iif', br, 'lookup', T, 'proto', RT_PROTO], 'packets and proxy-ARP lookups from the bridge use the table'));
  if (v.v6) steps.push(...hostSteps6(v, v.v6));
  return steps;
}

/** Router attachment: on the underlay. */
function routerSteps(v: VnetRecord): Step[] {
  const steps: Step[] = [];
  if (v.masquerade) steps.push(natTable());
  if (!v.inbound) steps.push(vnetFilterTable());
  steps.push(
    sysctl(`net/ipv4/conf/${v.underlay}/forwarding`, '1', '0', 'forward between hosts and to the internet', true),
    sysctl(`net/ipv4/conf/${v.uplink}/forwarding`, '1', '0', 'forward replies from the internet to the VMs', true),
    ip(4, ['addr', 'add', `${v.gateway}/32`, 'dev', 'lo'], ['addr', 'del', `${v.gateway}/32`, 'dev', 'lo'], 'the VMs\' gateway: reached through the hosts\' proxy ARP and tables, so only a /32 here'),
  );
  // The seed's ipset + one iptables rule, as nft: vmrouter keeps everything in its own nft tables,
  // and the masq set (subnet . interface) is that ipset with the `-o UPLINK` the seed forgot, so
  // traffic between VMs on different hosts, which the router hands back out of the underlay, keeps
  // its source address.
  if (v.masquerade) steps.push(element(NAT_TABLE, 'masq', `${v.subnet.cidr} . ${quoteIfname(v.uplink)}`, null, `masquerade ${v.subnet.cidr} out of ${v.uplink} only`));
  if (!v.inbound) steps.push(element(VNET_FILTER_TABLE, 'closed', `${v.subnet.cidr} . ${quoteIfname(v.uplink)}`, null, `no new connections from ${v.uplink} to ${v.subnet.cidr}`));
  if (v.v6) steps.push(...routerSteps6(v, v.v6));
  return steps;
}

export function attachVnet(v: VnetRecord): Attachment[] {
  return [
    {
      iface: v.bridge,
      summary: `host side of ${v.subnet.cidr}${v.v6 ? ` and ${v.v6.subnet.cidr}` : ''}, table ${v.table}, routers ${v.routers.map((r) => r.address).join(' ')}`,
      steps: hostSteps(v),
      nodes: v.hosts.map((h) => h.name),
      create: { up: ['ip', 'link', 'add', 'name', v.bridge, 'address', v.bridgeMac, 'type', 'bridge'], down: ['ip', 'link', 'del', 'dev', v.bridge] },
    },
    {
      iface: v.underlay,
      summary: `router side of ${v.subnet.cidr}: gateway ${v.gateway}, ${v.masquerade ? `masquerade out of ${v.uplink}` : 'no masquerade'}${v.v6 ? `; ${v.v6.subnet.cidr}: gateway ${v.v6.gateway}, ${v.v6.masquerade ? 'masquerade' : 'routed'}` : ''}, inbound ${v.inbound ? 'allowed' : 'refused'}`,
      steps: routerSteps(v),
      nodes: v.routers.map((r) => r.name),
    },
  ];
}

/** The attachment a node applies for a network. */
export function attachmentOf(v: VnetRecord, node: string): Attachment | null {
  const role = roleOf(v, node);
  if (!role) return null;
  return attachVnet(v)[role === 'host' ? 0 : 1]!;
}

/**
 * What one VM needs on `node`, by its placement: on its host, a /32 (/128) to the bridge in the table
 * (and, with bgp, in main, where FRR's `redistribute kernel` picks it up); on a static router, a host
 * route to the host that runs it. On the other hosts, one proxy NDP entry per IPv6 address (proxy ARP
 * needs none: it answers for whatever the table routes elsewhere).
 */
export function planPlacement(v: VnetRecord, node: string, p: Placement): Step[] {
  const role = roleOf(v, node);
  const steps: Step[] = [];
  const route = (family: 4 | 6, selector: string[], why: string) => {
    const args = ['route', 'add', ...selector, 'proto', RT_PROTO];
    steps.push(ip(family, args, ['route', 'del', ...selector, 'proto', RT_PROTO], why, { exclusive: true }));
  };
  const host = (a: string) => `${a}/${familyOf(a) === 4 ? 32 : 128}`;
  if (role === 'host' && p.host === node) {
    for (const a of p.ips) route(familyOf(a), [host(a), 'dev', v.bridge, 'table', String(v.table)], `${p.vm} runs here: no proxy ${familyOf(a) === 4 ? 'ARP' : 'NDP'} for ${a}, local traffic stays on the bridge`);
    if (v.routing === 'bgp') for (const a of p.ips) route(familyOf(a), [host(a), 'dev', v.bridge], `${p.vm} runs here: announced to the routers over BGP`);
  }
  if (role === 'host' && p.host !== node) {
    for (const a of p.ips.filter((x) => familyOf(x) === 6)) {
      steps.push(ip(6, ['neigh', 'add', 'proxy', a, 'dev', v.bridge], ['neigh', 'del', 'proxy', a, 'dev', v.bridge], `${p.vm} runs on ${p.host}: the bridge answers NDP for ${a}`, { exclusive: true }));
    }
  }
  if (role === 'router' && v.routing === 'static') {
    const h = v.hosts.find((x) => x.name === p.host)!;
    for (const a of p.ips) {
      const via = familyOf(a) === 4 ? h.address : v.v6!.underlay.get(h.name)!;
      route(familyOf(a), [host(a), 'via', via, 'dev', v.underlay], `${p.vm} runs on ${p.host}`);
    }
  }
  return steps;
}

/**
 * On the old host's bridge, gratuitous ARP (RFC 5227) and unsolicited NA with the override flag
 * (RFC 4861 7.2.6): its VMs learn that the address now answers at the bridge.
 */
export function planDeparture(v: VnetRecord, ips: readonly string[]): Step[] {
  return ips.map((a) => announce(familyOf(a), v.bridge, a, `${a} left this host: neighbours re-learn it at the bridge`));
}

export const vnetFeature: Feature<VnetRecord> = {
  kind: KIND,
  summary: 'A proxy-ARP virtual network across hosts with central routers: a bridge per host, an extra table towards the routers, host routes or BGP for the VMs, masquerade out of the routers\' uplink; optionally IPv6 with a proxy NDP entry per remote VM, routed.',
  keys: VNET_KEYS,
  ruleUsers: (v) => [{ who: `[vnet ${v.name}]`, tables: [v.table], rules: [{ pref: v.priority, mark: false }], vrf: false }],
  verify(sections, context) {
    const problems: InputError[] = [];
    const records: VnetRecord[] = [];
    for (const raw of sections) {
      const { record, c } = verifyOne(raw);
      problems.push(...c.problems);
      if (record) records.push(record);
    }
    if (problems.length === 0) problems.push(...crossCheck(records, [...sections], context));
    if (problems.length > 0) throw new InvalidInput(problems);
    return records;
  },
  attach: attachVnet,
  lint(records) {
    return records.flatMap((v) => (v.routers.length > 1 && v.routing === 'static' ? [`[vnet ${v.name}]: several routers with routing = static: every router needs every host route (vmrouter vnet sync on each), and a failed router is only skipped once its ARP entry fails`] : []));
  },
};
