/**
 * The keys of [network NAME], declared once for the loader, the stanza reader and writer, the
 * manuals and docs/configuration.md; and the options of snf-network / gnt-networking stanzas that
 * the hook reads as the same keys.
 */
import type { KeySpec, Role } from '../config/schema.js';

const VMC_ROLES: readonly Role[] = ['vmc', 'vmc+router'];
const ROUTER_ROLES: readonly Role[] = ['router', 'vmc+router'];

export const NETWORK_KEYS: readonly KeySpec[] = [
  { key: 'role', type: 'role', help: 'what this node does for the network: vmc (hosts VMs, an external router routes), router, or vmc+router' },
  { key: 'uplink', type: 'ifname', help: 'the interface (usually a VLAN such as eth0.222) that joins the nodes and the router of this network' },
  { key: 'table', type: 'table', roles: VMC_ROLES, help: 'routing table that holds the VM routes (1-4294967295, not 253-255)' },
  { key: 'table_name', type: 'table-name', roles: VMC_ROLES, help: 'name for the table, written by `vmrouter generate --rt-tables` to an rt_tables.d file' },
  { key: 'mark', type: 'mark', roles: VMC_ROLES, default: 'the table id', help: 'firewall mark given to packets from this network\'s TAPs; one `ip rule fwmark` per table selects the table' },
  { key: 'priority', type: 'priority', roles: VMC_ROLES, default: '10000', help: 'preference of the policy rules vmrouter adds (must sort before the main table rule at 32766)' },
  { key: 'subnet', type: 'prefix4', help: 'IPv4 subnet of the VMs' },
  { key: 'gateway', type: 'addr4', help: 'IPv4 gateway of the VMs (the router\'s address in subnet)' },
  { key: 'arp_ip', type: 'addr4', roles: VMC_ROLES, help: 'source address the node puts in its own ARP requests on the uplink (required for role vmc with an IPv4 subnet)' },
  { key: 'subnet6', type: 'prefix6', help: 'IPv6 subnet of the VMs' },
  { key: 'gateway6', type: 'addr6', help: 'IPv6 gateway of the VMs (the router\'s address in subnet6)' },
  { key: 'nat_out', type: 'ifname', roles: ROUTER_ROLES, help: 'MASQUERADE IPv4 traffic from subnet leaving through this interface' },
  { key: 'upstream', type: 'ifname', roles: ROUTER_ROLES, default: 'nat_out', help: 'interface towards the internet; IPv4 forwarding is enabled on it so replies reach the VMs' },
  { key: 'forwarding', type: 'bool', default: 'yes', help: 'enable forwarding on the interfaces that need it (uplink, upstream, TAPs); IPv6 forwarding is always node-wide in Linux' },
  { key: 'forwarding_all', type: 'bool', default: 'no', help: 'also set net.ipv4.conf.all.forwarding (the hooks restore it with the last network; expanded stanzas leave it on)' },
  { key: 'proxy_arp', type: 'bool', roles: VMC_ROLES, default: 'yes', help: 'answer ARP on the uplink for this node\'s VMs' },
  { key: 'proxy_ndp', type: 'bool', roles: VMC_ROLES, default: 'yes', help: 'answer Neighbour Solicitations on the uplink for this node\'s VMs' },
  { key: 'proxy_delay', type: 'centiseconds', roles: VMC_ROLES, default: '0', help: 'neigh proxy_delay on the uplink and TAPs, in 1/100 s; the kernel default of up to 0.8 s only slows a routed network' },
  { key: 'routing', type: 'network-routing', roles: ['vmc', 'router'], default: 'proxy', help: 'proxy: the uplink is one segment shared by the nodes and the router, which finds the VMs by the nodes\' proxy ARP/NDP; bgp: each VMC node announces its VMs\' /32 and /128 routes over BGP (FRR, `vmrouter frr`) to the routers, which announce the gateway back; no shared segment needed' },
  { key: 'peers', type: 'addr4-list', roles: ['vmc', 'router'], help: 'with routing = bgp: the BGP neighbours over IPv4, on a VMC node its routers, on a router the VMC nodes (their addresses on the links between them)' },
  { key: 'peers6', type: 'addr6-list', roles: ['vmc', 'router'], help: 'with routing = bgp and subnet6: the same neighbours over IPv6 (their global addresses), carrying the /128 routes' },
  { key: 'asn', type: 'asn', roles: ['vmc', 'router'], default: '64512', help: 'with routing = bgp: the AS of the nodes and routers (one iBGP AS)' },
  { key: 'bgp_hold', type: 'seconds', roles: ['vmc', 'router'], default: '9', help: 'with routing = bgp: BGP hold time (3-65535 s, RFC 4271 4.2; keepalives every third of it); BFD notices a dead peer sooner' },
  { key: 'bfd', type: 'bool', roles: ['vmc', 'router'], default: 'yes', help: 'with routing = bgp: BFD on every session (FRR\'s bfdd, RFC 5880): a dead router or node is noticed after 3 × bfd_interval, not the hold time' },
  { key: 'bfd_interval', type: 'milliseconds', roles: ['vmc', 'router'], default: '100', help: 'with bfd: BFD transmit and receive interval (10-60000 ms); detection after three missed' },
  { key: 'router_id', type: 'addr4', roles: ['vmc', 'router'], default: 'FRR\'s choice', help: 'with routing = bgp: the BGP router id of this node (unique per node)' },
  { key: 'tap_mac', type: 'mac', roles: VMC_ROLES, help: 'give every TAP of this network this MAC, so VMs see one gateway MAC wherever they run (snf-network used cc:47:52:4e:45:54)' },
];

export function keySpec(key: string): KeySpec | undefined {
  return NETWORK_KEYS.find((k) => k.key === key);
}

/**
 * Option names of snf-network / gnt-networking stanzas that the ifupdown hook also understands, so a
 * node migrates by installing vmrouter. Their address family comes from the stanza (inet or inet6).
 */
export const LEGACY_OPTIONS: Readonly<Record<string, { inet: string; inet6: string; help: string }>> = {
  'ip-routing-table': { inet: 'table', inet6: 'table', help: 'routing table (id or rt_tables name)' },
  'ip-routes': { inet: 'subnet', inet6: 'subnet6', help: 'the routed subnet' },
  'ip-gateway': { inet: 'gateway', inet6: 'gateway6', help: 'the router' },
  'ip-forwarding': { inet: 'forwarding', inet6: 'forwarding', help: '1 to enable forwarding, 0 to leave it alone' },
  'ip-proxy-arp': { inet: 'proxy_arp', inet6: 'proxy_arp', help: '1 to answer ARP for the VMs' },
  'ip-proxy-ndp': { inet: 'proxy_ndp', inet6: 'proxy_ndp', help: '1 to answer NDP for the VMs' },
  'arp-ip': { inet: 'arp_ip', inet6: 'arp_ip', help: 'source address of the node\'s ARP requests' },
};

