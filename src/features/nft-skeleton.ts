/**
 * The nft tables vmrouter owns. Their chains are fixed; everything per network and per VM is an
 * element of a set or map, so the per-packet cost is a few hash lookups whatever the number of VMs
 * (see docs/design.md, "Data path"). Each table is one shared step: created by the first network that
 * needs it, deleted with the last.
 */
import { nft, type NftStep } from '../plan/step.js';

export const INET_TABLE = 'inet vmrouter';
export const ARP_TABLE = 'arp vmrouter';
export const NAT_TABLE = 'ip vmrouter';
export const NAT6_TABLE = 'ip6 vmrouter';

/**
 * prerouting guard for traffic from TAPs: mark it (the mark selects the network's table through one
 * `ip rule fwmark` per table) and drop any source address that is not bound to that TAP.
 * Priority mangle (-150): before the routing decision, so the mark is seen by the rule lookup.
 *
 * The marks also serve the kernel's reverse-path check (RFC 3704). It looks a packet's source up
 * without an input interface, in main unless src_valid_mark lets it use the packet's mark; VMs are
 * routed in their network's table, and a TAP has no IPv4 address, on which even loose mode drops
 * what does not route back through it (net/ipv4/fib_frontend.c __fib_validate_source). With the
 * mark, a VM's source routes back to its TAP and an Internet source arriving on a VMC uplink to the
 * table's default route on that uplink: strict filtering (a CIS-hardened conf/all) passes them.
 */
export function inetTable(): NftStep {
  const t = INET_TABLE;
  return nft(
    [
      `add table ${t}`,
      `add set ${t} taps { type ifname; comment "TAPs bound by vmrouter tap up"; }`,
      `add map ${t} tapmark { type ifname : mark; comment "TAP -> mark of its network"; }`,
      `add set ${t} vm4 { type ifname . ipv4_addr; comment "IPv4 sources a TAP may use"; }`,
      `add set ${t} vm6 { type ifname . ipv6_addr; comment "IPv6 sources a TAP may use"; }`,
      `add map ${t} ingress4 { type ifname . ipv4_addr : mark; flags interval; comment "uplink . VM subnet -> mark of its network"; }`,
      `add chain ${t} guard { type filter hook prerouting priority mangle; policy accept; }`,
      `flush chain ${t} guard`,
      `add rule ${t} guard meta mark set iifname . ip daddr map @ingress4`,
      `add rule ${t} guard iifname != @taps return`,
      `add rule ${t} guard meta mark set iifname map @tapmark`,
      // A VM is not a router (RA guard, RFC 6105) and not a DHCP server, whatever source it uses.
      `add rule ${t} guard icmpv6 type { nd-router-advert, nd-redirect } counter drop comment "vmrouter: router advertisement or redirect from a VM"`,
      `add rule ${t} guard icmp type redirect counter drop comment "vmrouter: redirect from a VM"`,
      `add rule ${t} guard udp sport { 67, 547 } counter drop comment "vmrouter: DHCP server on a VM"`,
      // DHCPv4 is answered on the node (vmrouter ndp reads a copy from its packet socket, taken
      // before netfilter); a unicast renewal to the gateway must not be routed on to the router.
      `add rule ${t} guard udp dport 67 counter drop comment "vmrouter: DHCP is answered on the node"`,
      `add rule ${t} guard iifname . ip saddr @vm4 accept`,
      `add rule ${t} guard iifname . ip6 saddr @vm6 accept`,
      // Link-local sources (ND, RS, DHCPv6 with the node) are never forwarded by the kernel.
      `add rule ${t} guard ip6 saddr fe80::/10 accept`,
      // Duplicate address detection and its MLD report use the unspecified source (RFC 4862 5.4.2, RFC 3590).
      `add rule ${t} guard ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld2-listener-report } accept`,
      `add rule ${t} guard counter drop comment "vmrouter: source address not bound to this TAP"`,
    ],
    [`delete table ${t}`],
    'vmrouter table: TAP marks and anti-spoofing sets',
    { shared: true, provides: t },
  );
}

/**
 * ARP requests the node sends get a source address from `arp_src` by output interface: arp_ip on a
 * VMC uplink (the node has no address of its own there), the gateway on a TAP (the VM sees only its
 * gateway on the link). Announcements vmrouter sends itself use a packet socket and are not touched.
 * ARP a VM sends must carry one of its own addresses (or none: an RFC 5227 probe), so it cannot
 * teach the node a neighbour for an address it does not own.
 */
export function arpTable(): NftStep {
  const t = ARP_TABLE;
  return nft(
    [
      `add table ${t}`,
      `add map ${t} arp_src { type ifname : ipv4_addr; comment "output interface -> source address of ARP requests"; }`,
      `add set ${t} taps { type ifname; comment "TAPs bound by vmrouter tap up"; }`,
      `add set ${t} vm4 { type ifname . ipv4_addr; comment "IPv4 addresses a TAP may claim"; }`,
      `add map ${t} tapmark { type ifname : mark; comment "TAP -> mark of its network: its reverse-path check uses the network's table"; }`,
      `add chain ${t} out { type filter hook output priority filter; policy accept; }`,
      `flush chain ${t} out`,
      `add rule ${t} out arp operation request arp saddr ip set oifname map @arp_src`,
      `add chain ${t} in { type filter hook input priority filter; policy accept; }`,
      `flush chain ${t} in`,
      `add rule ${t} in iifname != @taps return`,
      // arp_process routes the target with the sender as source and this mark (src_valid_mark)
      `add rule ${t} in meta mark set iifname map @tapmark`,
      `add rule ${t} in arp saddr ip 0.0.0.0 accept`,
      `add rule ${t} in iifname . arp saddr ip @vm4 accept`,
      `add rule ${t} in counter drop comment "vmrouter: ARP from a VM for an address it does not own"`,
    ],
    [`delete table ${t}`],
    'vmrouter arp table: source address of ARP requests the node sends',
    { shared: true, provides: t },
  );
}

/**
 * MASQUERADE by (source prefix . output interface), one table per family. Only routers that ask for
 * it create one (IPv4: nat_out, vnet masquerade; IPv6: vnet masquerade6), so nodes without NAT never
 * load conntrack for it.
 */
function masqTable(family: 4 | 6): NftStep {
  const [t, type, saddr, why] =
    family === 4 ? [NAT_TABLE, 'ipv4_addr', 'ip', 'vmrouter nat table: masquerade for nat_out'] : [NAT6_TABLE, 'ipv6_addr', 'ip6', 'vmrouter nat table: IPv6 masquerade (NAT66)'];
  return nft(
    [
      `add table ${t}`,
      `add set ${t} masq { type ${type} . ifname; flags interval; comment "subnet . interface to masquerade"; }`,
      `add chain ${t} nat_out { type nat hook postrouting priority srcnat; policy accept; }`,
      `flush chain ${t} nat_out`,
      `add rule ${t} nat_out ${saddr} saddr . oifname @masq masquerade`,
    ],
    [`delete table ${t}`],
    why,
    { shared: true, provides: t },
  );
}
export const natTable = (): NftStep => masqTable(4);
export const nat6Table = (): NftStep => masqTable(6);

/** An element of one of the tables above, removed by deleting it by key. */
export function element(table: string, set: string, key: string, value: string | null, why: string): NftStep {
  const body = value === null ? key : `${key} : ${value}`;
  return nft([`add element ${table} ${set} { ${body} }`], [`delete element ${table} ${set} { ${key} }`], why, { within: table });
}

export const quoteIfname = (name: string): string => `"${name}"`;
