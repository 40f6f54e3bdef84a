/**
 * The IPv6 side of a virtual network (`subnet6`), and the routers' inbound filter tables of both
 * families. Linux has proxy ARP for whatever a route sends elsewhere, but proxy NDP only per address
 * (pneigh entries; Documentation/networking/ip-sysctl.rst proxy_ndp, RFC 4861 7.2.8): a host holds one
 * entry for the gateway here and one per remote VM address (vnet.ts planPlacement, per-VM owners).
 * Next hops are the nodes' IPv6 underlay addresses (`underlay6`), for static routes and BGP alike.
 */
import { ip, nft, RT_PROTO, sysctl, type Step } from '../plan/step.js';
import { contains } from '../model/addr.js';
import { parseBool } from '../model/names.js';
import type { Checker } from '../model/verify.js';
import { parseNodes, type Vnet6, type VnetNode, type VnetRecord } from '../model/vnet.js';
import { element, NAT6_TABLE, nat6Table, quoteIfname } from './nft-skeleton.js';

export const VNET_FILTER_TABLE = 'ip vmrouter_vnet';
/** The IPv6 twin, a table of its own: the IPv4 one stays as it was for IPv4-only networks. */
export const VNET_FILTER_TABLE6 = 'ip6 vmrouter_vnet';

/**
 * Inbound filter on the routers: new connections from the uplink to a closed virtual network are
 * dropped; replies (conntrack) pass. One rule, one set (subnet . uplink) for all virtual networks.
 */
export function vnetFilterTable(family: 4 | 6 = 4): Step {
  const t = family === 4 ? VNET_FILTER_TABLE : VNET_FILTER_TABLE6;
  const [type, match] = family === 4 ? ['ipv4_addr', 'ip'] : ['ipv6_addr', 'ip6'];
  return nft(
    [
      `add table ${t}`,
      `add set ${t} closed { type ${type} . ifname; flags interval; comment "virtual network . uplink: no new connections in"; }`,
      `add chain ${t} inbound { type filter hook forward priority filter; policy accept; }`,
      `flush chain ${t} inbound`,
      `add rule ${t} inbound ct state new ${match} daddr . iifname @closed counter drop comment "vmrouter: new connection from the uplink to a virtual network"`,
    ],
    [`delete table ${t}`],
    'vmrouter vnet table: inbound filter of virtual networks',
    { shared: true, provides: t },
  );
}

/**
 * Id of a host's IPv6 nexthop group for the network with this table; its members follow it. Nexthop
 * ids are node-wide: vmrouter takes 2000000000 and up (100 per table, FRR's zebra allocates far below,
 * under 2^28), the same on every host.
 */
export const nexthopGroupId = (table: number): number => 2_000_000_000 + (table % 20_000_000) * 100;

const V6_KEYS = ['gateway6', 'bridge_address6', 'underlay6', 'masquerade6'];

/** The optional IPv6 side: all of subnet6, gateway6, bridge_address6 and underlay6, or none. */
export function verify6(c: Checker, hosts: VnetNode[] | null, routers: VnetNode[] | null): Vnet6 | null {
  if (!c.has('subnet6')) {
    for (const key of V6_KEYS) if (c.has(key)) c.fail(key, 'needs subnet6');
    return null;
  }
  const subnet = c.prefix('subnet6', 6);
  const gateway = c.required('gateway6', 'with subnet6 (the VMs\' IPv6 default gateway)') === null ? null : c.hostIn('gateway6', 6, subnet);
  const bridgeAddress = c.required('bridge_address6', 'with subnet6 (the bridge\'s IPv6 address on every host)') === null ? null : c.hostIn('bridge_address6', 6, subnet);
  if (gateway !== null && gateway === bridgeAddress) c.fail('bridge_address6', `must differ from gateway6 ${gateway}: the gateway lives on the routers`);
  let underlay: Map<string, string> | null = null;
  if (c.required('underlay6', 'with subnet6 (NAME:IPV6ADDRESS of every host and router)') !== null) {
    const r = parseNodes(c.value('underlay6')!.value, 6);
    if ('error' in r) c.fail('underlay6', r.error);
    else {
      underlay = new Map(r.nodes.map((n) => [n.name, n.address]));
      const known = [...(hosts ?? []), ...(routers ?? [])].map((n) => n.name);
      const unknown = [...underlay.keys()].filter((n) => !known.includes(n));
      const missing = known.filter((n) => !underlay!.has(n));
      if (unknown.length) c.fail('underlay6', `${unknown.join(', ')}: not a host or router of this network`);
      if (missing.length) c.fail('underlay6', `lacks ${missing.join(', ')}: every host and router needs an IPv6 underlay address`);
      for (const [n, a] of underlay) if (subnet && contains(subnet, a)) c.fail('underlay6', `${n}: ${a} is inside subnet6 ${subnet.cidr}; underlay addresses are separate`);
    }
  }
  const masquerade = c.has('masquerade6') ? c.typed('masquerade6', parseBool, 'is not a boolean (yes/no)') ?? false : false;
  if (!subnet || !gateway || !bridgeAddress || !underlay) return null;
  return { subnet, gateway, bridgeAddress, underlay, masquerade };
}

/**
 * The IPv6 side of a host: the same table and rule, but NDP has no prefix-wide proxy. The kernel
 * answers a neighbour solicitation by proxy only for targets in its pneigh table, and only on an
 * interface with forwarding and proxy_ndp on (ip-sysctl.rst proxy_ndp; RFC 4861 7.2.8): the
 * gateway's entry lives here, each remote VM's with that VM (planPlacement).
 */
export function hostSteps6(v: VnetRecord, v6: Vnet6): Step[] {
  const T = String(v.table);
  const br = v.bridge;
  const u = v.underlay;
  const a = `${v6.bridgeAddress}/${v6.subnet.length}`;
  const routers6 = v.routers.map((r) => v6.underlay.get(r.name)!);
  const steps: Step[] = [
    // the same address on every host: duplicate address detection would only ever race with itself
    ip(6, ['addr', 'add', a, 'dev', br, 'nodad'], ['addr', 'del', a, 'dev', br], 'the bridge\'s IPv6 address, the same on every host; its connected route reaches local VMs'),
    // IPv6 forwards only with all/forwarding (ip-sysctl.rst); with it on, redirects are ignored too
    // (RFC 4861 8.1: routers do not accept them), so the underlay needs no accept_redirects step.
    sysctl('net/ipv6/conf/all/forwarding', '1', '0', 'IPv6 forwarding is node-wide in Linux', true),
    sysctl(`net/ipv6/conf/${br}/forwarding`, '1', '0', 'proxy NDP answers only on a forwarding interface'),
    sysctl(`net/ipv6/conf/${br}/proxy_ndp`, '1', '0', 'answer VMs\' neighbour solicitations for the gateway and remote VMs (one proxy entry each)'),
    // a multicast solicitation is answered by proxy after a random delay up to proxy_delay (0.8 s by default)
    sysctl(`net/ipv6/neigh/${br}/proxy_delay`, '0', '80', 'answer for remote VMs at once'),
    ip(6, ['neigh', 'add', 'proxy', v6.gateway, 'dev', br, 'router'], ['neigh', 'del', 'proxy', v6.gateway, 'dev', br], 'the gateway answers at the bridge\'s MAC, as a router (RFC 4861 4.4 R flag)'),
  ];
  let via = ['via', routers6[0]!, 'dev', u];
  if (v.routers.length > 1) {
    steps.push(sysctl(`net/ipv6/neigh/${u}/base_reachable_time_ms`, '4000', '30000', 'notice a dead router within seconds, not a minute', true));
    steps.push(sysctl(`net/ipv6/neigh/${u}/delay_first_probe_time`, '1', '5', 'probe a silent router at once', true));
    // A forwarding node's IPv6 multipath route ignores neighbour state (fib_multipath_use_neigh is
    // IPv4's; ip6_pol_route checks reachability only without forwarding), so a dead router would
    // keep its share of the flows. A nexthop group skips members whose neighbour entry is not valid
    // (nexthop_is_good_nh), whatever the family: the ECMP default uses one.
    const group = nexthopGroupId(v.table);
    const members = routers6.map((r, i) => ({ id: String(group + 1 + i), r }));
    for (const m of members) steps.push(ip(0, ['nexthop', 'add', 'id', m.id, 'via', m.r, 'dev', u, 'proto', RT_PROTO], ['nexthop', 'del', 'id', m.id], `a next hop of the IPv6 default: router ${m.r}`));
    steps.push(ip(0, ['nexthop', 'add', 'id', String(group), 'group', members.map((m) => m.id).join('/'), 'proto', RT_PROTO], ['nexthop', 'del', 'id', String(group)], 'the routers as one ECMP group that skips a dead member'));
    via = ['nhid', String(group)];
  }
  steps.push(ip(6, ['route', 'add', 'default', 'table', T, 'proto', RT_PROTO, ...via], ['route', 'del', 'default', 'table', T, 'proto', RT_PROTO], `from the bridge, IPv6 not local goes to the router${v.routers.length > 1 ? 's (ECMP)' : ''}`));
  steps.push(ip(6, ['rule', 'add', 'pref', String(v.priority), 'iif', br, 'lookup', T, 'proto', RT_PROTO], ['rule', 'del', 'pref', String(v.priority), 'iif', br, 'lookup', T, 'proto', RT_PROTO], 'IPv6 from the bridge uses the table'));
  return steps;
}

/** The IPv6 side of a router: routed, not translated, unless masquerade6 asks for NAT66. */
export function routerSteps6(v: VnetRecord, v6: Vnet6): Step[] {
  const s = v6.subnet.cidr;
  const steps: Step[] = [];
  if (v6.masquerade) steps.push(nat6Table());
  if (!v.inbound) steps.push(vnetFilterTable(6));
  steps.push(
    sysctl('net/ipv6/conf/all/forwarding', '1', '0', 'IPv6 forwarding is node-wide in Linux', true),
    ip(6, ['addr', 'add', `${v6.gateway}/128`, 'dev', 'lo', 'nodad'], ['addr', 'del', `${v6.gateway}/128`, 'dev', 'lo'], 'the VMs\' IPv6 gateway: reached through the hosts\' proxy NDP and tables, so only a /128 here'),
  );
  if (v6.masquerade) steps.push(element(NAT6_TABLE, 'masq', `${s} . ${quoteIfname(v.uplink)}`, null, `masquerade ${s} out of ${v.uplink} only (NAT66)`));
  if (!v.inbound) steps.push(element(VNET_FILTER_TABLE6, 'closed', `${s} . ${quoteIfname(v.uplink)}`, null, `no new connections from ${v.uplink} to ${s}`));
  return steps;
}
