/**
 * Every configuration key, declared once: its type, which roles it applies to, its default and its
 * help text. The INI loader, the ifupdown stanza loader, `vmrouter generate` and the documentation
 * all read this table.
 */

export const ROLES = ['vmc', 'router', 'vmc+router'] as const;
export type Role = (typeof ROLES)[number];

export type KeyType =
  | 'seconds'
  | 'milliseconds'
  | 'mtu'
  | 'hop-limit'
  | 'addr4-list'
  | 'addr6-list'
  | 'domain'
  | 'domain-list'
  | 'role'
  | 'ifname'
  | 'table'
  | 'table-name'
  | 'mark'
  | 'priority'
  | 'prefix4'
  | 'prefix6'
  | 'addr4'
  | 'addr6'
  | 'bool'
  | 'mac'
  | 'centiseconds'
  | 'natpair-role'
  | 'ifname-list'
  | 'natpair-server'
  | 'natpair-map'
  | 'addr4-cidr'
  | 'node-list'
  | 'path'
  | 'routing'
  | 'asn'
  | 'twin-variant'
  | 'vrf-addresses'
  | 'vrf-leaks'
  | 'local-rule';

/** What each type accepts, in words: the manual and docs/configuration.md show it beside every key. */
export const TYPE_HELP: Readonly<Record<KeyType, string>> = {
  seconds: 'seconds',
  milliseconds: 'milliseconds',
  mtu: 'MTU, 1280-65535',
  'hop-limit': 'hop limit, 0-255',
  'addr4-list': 'IPv4 addresses, separated by spaces or commas',
  'addr6-list': 'IPv6 addresses, separated by spaces or commas',
  domain: 'domain name',
  'domain-list': 'domain names, separated by spaces or commas',
  role: 'vmc, router or vmc+router',
  ifname: 'interface name',
  table: 'routing table id',
  'table-name': 'rt_tables name',
  mark: 'firewall mark, 1-4294967295',
  priority: 'rule preference, 1-32765',
  prefix4: 'IPv4 prefix, ADDRESS/LENGTH',
  prefix6: 'IPv6 prefix, ADDRESS/LENGTH',
  addr4: 'IPv4 address',
  addr6: 'IPv6 address',
  bool: 'yes or no',
  mac: 'MAC address',
  centiseconds: '1/100 s',
  'natpair-role': 'customer or management',
  'ifname-list': 'interface names, separated by spaces or commas',
  'natpair-server': 'ADDRESS [as UNIQUE]; may be repeated',
  'natpair-map': 'IFACE ADDRESS [via GATEWAY] [as UNIQUE]; may be repeated',
  'addr4-cidr': 'IPv4 address with its prefix length, ADDRESS/LENGTH',
  'node-list': 'NAME:ADDRESS pairs, separated by spaces or commas',
  path: 'absolute file name',
  routing: 'static or bgp',
  asn: 'BGP AS number, 1-4294967295',
  'twin-variant': 'auto, vrf or policy',
  'vrf-addresses': 'IFACE=ADDRESS/LENGTH, separated by spaces',
  'vrf-leaks': 'VRF=PREFIX, separated by spaces',
  'local-rule': 'keep or move',
};

export interface KeySpec {
  key: string;
  type: KeyType;
  /** roles the key may be set for; absent = all roles */
  roles?: readonly Role[];
  /** human-readable default, for help and docs; the effective default is computed in verify */
  default?: string;
  help: string;
  /** may be given on several lines of one section (each kept with its own line number) */
  repeat?: boolean;
}

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
  { key: 'tap_mac', type: 'mac', roles: VMC_ROLES, help: 'give every TAP of this network this MAC, so VMs see one gateway MAC wherever they run (snf-network used cc:47:52:4e:45:54)' },
];

export const NETWORK_KEY_NAMES: ReadonlySet<string> = new Set(NETWORK_KEYS.map((k) => k.key));

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

/** [ndp]: the responder's IPv6 side (router advertisements, neighbour solicitations, DHCPv6). */
export const NDP_KEYS: readonly KeySpec[] = [
  { key: 'enabled', type: 'bool', default: 'yes', help: 'answer router and neighbour solicitations and DHCPv6 on bound TAPs of IPv6 networks' },
  { key: 'router_lifetime', type: 'seconds', default: '1800', help: 'router lifetime in RAs (0-9000 s; 0 says "not a default router")' },
  { key: 'max_interval', type: 'seconds', default: '600', help: 'MaxRtrAdvInterval between unsolicited RAs (4-1800 s, RFC 4861 6.2.1)' },
  { key: 'min_interval', type: 'seconds', default: '0.33 × max_interval', help: 'MinRtrAdvInterval (3 s to 0.75 × max_interval)' },
  { key: 'solicited_ra_delay', type: 'milliseconds', default: '500', help: 'an RA answering a solicitation waits a random 0..this (RFC 4861 6.2.6 MAX_RA_DELAY_TIME, so that hosts on a shared link do not all hear at once); a TAP has one host, 0 answers at once' },
  { key: 'cur_hop_limit', type: 'hop-limit', default: '64', help: 'hop limit hosts should use (0: unspecified)' },
  { key: 'mtu', type: 'mtu', help: 'MTU option in RAs (1280-65535)' },
  { key: 'nameservers', type: 'addr6-list', help: 'IPv6 DNS servers: RDNSS in RAs (RFC 8106) and DHCPv6 option 23' },
  { key: 'domains', type: 'domain-list', help: 'DNS search domains: DNSSL in RAs and DHCPv6 option 24' },
  { key: 'dns_lifetime', type: 'seconds', default: '3 × max_interval', help: 'lifetime of RDNSS/DNSSL (RFC 8106 recommends at least 3 × max_interval)' },
  { key: 'prefix_valid_lifetime', type: 'seconds', default: '2592000', help: 'valid lifetime of the prefix (RFC 4861 default 30 days)' },
  { key: 'prefix_preferred_lifetime', type: 'seconds', default: '604800', help: 'preferred lifetime of the prefix (RFC 4861 default 7 days)' },
  { key: 'dhcpv6', type: 'bool', default: 'yes', help: 'answer DHCPv6 Information-Request (RAs carry the O flag)' },
];

/** [dhcp]: the responder's DHCPv4 server for bound TAPs (as nfdhcpd). */
export const DHCP_KEYS: readonly KeySpec[] = [
  { key: 'enabled', type: 'bool', default: 'yes', help: 'answer DHCPDISCOVER/REQUEST/INFORM with the VM\'s bound IPv4 address' },
  { key: 'nameservers', type: 'addr4-list', help: 'DNS servers (option 6)' },
  { key: 'domain', type: 'domain', help: 'domain name (option 15)' },
  { key: 'lease_time', type: 'seconds', default: '86400', help: 'lease time (option 51); T1 and T2 are 1/2 and 7/8 of it' },
  { key: 'mtu', type: 'mtu', help: 'interface MTU (option 26)' },
];

/** The sections of vmrouter.conf and their keys. */
export const SECTIONS: Readonly<Record<string, { named: boolean; keys: readonly KeySpec[] }>> = {
  network: { named: true, keys: NETWORK_KEYS },
  ndp: { named: false, keys: NDP_KEYS },
  dhcp: { named: false, keys: DHCP_KEYS },
};
