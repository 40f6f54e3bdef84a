/**
 * The types of configuration keys, and the keys of the sections that are not features ([ndp],
 * [dhcp]). Each feature declares its own keys (features/*-keys.ts); the INI loader, the ifupdown
 * stanza loader, `vmrouter generate` and the documentation all read those tables.
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
  | 'network-routing'
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
  'network-routing': 'proxy or bgp',
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

/**
 * The sections of vmrouter.conf that are not features: one of each at most, without a name. The
 * named sections are the registered features (features/registry.ts), routed networks included.
 */
export const SECTIONS: Readonly<Record<string, { named: false; keys: readonly KeySpec[]; about: string }>> = {
  ndp: { named: false, keys: NDP_KEYS, about: 'The IPv6 side of the responder, `vmrouter ndp`: router advertisements, neighbour solicitations and DHCPv6 on bound TAPs.' },
  dhcp: { named: false, keys: DHCP_KEYS, about: 'The DHCPv4 server of the responder for bound TAPs: each VM gets the address bound to its TAP.' },
};
