/**
 * What `ifup SIDE` applies for a twin network, in order (pure). Each side owns what enters on it
 * (zone, marks, destination NETMAP), what leaves on it (source NETMAP), its address, its table and
 * the rule that selects that table; so one side up alone routes nothing to the other.
 *
 * VRF variant (https://docs.kernel.org/networking/vrf.html): the side's interface is enslaved to a
 * VRF whose table receives its connected and local routes; the l3mdev rule (priority 1000) picks that
 * table for everything entering on it. Translated packets carry the other side's mark, and a rule
 * before 1000 sends them to the other table (seed 000).
 *
 * Policy variant (no CONFIG_NET_VRF): the address is added with `noprefixroute` so main stays out of
 * it, every packet entering on the side is marked for its table, translated ones for the other
 * table. The node's own replies carry no ingress interface: ICMP replies and accepted TCP
 * connections inherit the request's mark (fwmark_reflect, tcp_fwmark_accept); the connection's mark,
 * saved on its first packet, is also copied onto the node's later packets in a `route` output chain
 * (which re-routes when the mark changes); sockets bound to the interface (`ping -I`, `ip vrf exec`
 * has no equivalent here) find the table by an `oif` rule. A UDP service of the node must bind to
 * the side's interface: an unbound reply finds no route before any hook could mark it.
 */
import { ip, nft, RT_PROTO, sysctl, type Step } from '../plan/step.js';
import type { KernelFacts } from './feature.js';
import { l3mdevRules } from './vrf.js';
import type { TwinFamily, TwinRecord, TwinSide } from '../model/twin.js';

export type Which = 'inner' | 'outer';

export function resolveVariant(r: Pick<TwinRecord, 'variant'>, kernel?: KernelFacts): 'vrf' | 'policy' {
  if (r.variant !== 'auto') return r.variant;
  return kernel?.vrf ? 'vrf' : 'policy';
}

export const nftTableOf = (r: TwinRecord, which: Which): string => `inet vmrouter-twin-${r.name}-${which}`;

const q = (ifname: string) => `"${ifname}"`;

function families(r: TwinRecord): [4 | 6, TwinFamily][] {
  const out: [4 | 6, TwinFamily][] = [];
  if (r.v4) out.push([4, r.v4]);
  if (r.v6) out.push([6, r.v6]);
  return out;
}

function nftSide(r: TwinRecord, s: TwinSide, o: TwinSide, variant: 'vrf' | 'policy', which: Which): Step {
  const t = nftTableOf(r, which);
  const add = [`add table ${t}`];
  // raw (-300) runs before conntrack (-200): the template zone is on the packet when the entry is
  // created. zone-orig only: replies, which enter on the other side without a zone, still find it.
  add.push(`add chain ${t} ingress_zone { type filter hook prerouting priority raw; policy accept; }`);
  add.push(`add rule ${t} ingress_zone iifname ${q(s.iface)} ct original zone set ${s.zone}`);
  // mangle (-150): before the routing decision, so the rules see the mark
  add.push(`add chain ${t} ingress_mark { type filter hook prerouting priority mangle; policy accept; }`);
  if (variant === 'policy') {
    add.push(`add rule ${t} ingress_mark iifname ${q(s.iface)} meta mark set ${s.mark}`);
    add.push(`add rule ${t} ingress_mark iifname ${q(s.iface)} ct state new ct mark set ${s.mark}`);
  }
  for (const [f, fam] of families(r)) add.push(`add rule ${t} ingress_mark iifname ${q(s.iface)} ${f === 4 ? 'ip' : 'ip6'} daddr ${fam.mapped.cidr} meta mark set ${o.mark}`);
  add.push(`add chain ${t} map_dst { type nat hook prerouting priority dstnat; policy accept; }`);
  for (const [f, fam] of families(r)) {
    const p = f === 4 ? 'ip' : 'ip6';
    add.push(`add rule ${t} map_dst iifname ${q(s.iface)} ${p} daddr ${fam.mapped.cidr} dnat ${p} prefix to ${fam.subnet.cidr}`);
  }
  // Forwarded packets from the other side leave here with their source mapped. Behind a VRF the
  // input device of a forwarded packet is the VRF device (vrf_ip_rcv sets skb->dev), so match both.
  const from = variant === 'vrf' ? `{ ${q(o.iface)}, ${q(o.vrf)} }` : q(o.iface);
  add.push(`add chain ${t} map_src { type nat hook postrouting priority srcnat; policy accept; }`);
  for (const [f, fam] of families(r)) {
    const p = f === 4 ? 'ip' : 'ip6';
    add.push(`add rule ${t} map_src iifname ${from} oifname ${q(s.iface)} ${p} saddr ${fam.subnet.cidr} snat ${p} prefix to ${fam.mapped.cidr}`);
  }
  if (variant === 'policy') {
    add.push(`add chain ${t} own_replies { type route hook output priority mangle; policy accept; }`);
    add.push(`add rule ${t} own_replies ct mark ${s.mark} meta mark set ct mark`);
  }
  return nft(add, [`delete table ${t}`], `${s.iface}: conntrack zone ${s.zone}, marks and NETMAP of traffic entering and leaving here`, { provides: t });
}

function ruleStep(f: 4 | 6, r: TwinRecord, selector: string[], table: number, why: string): Step {
  const args = ['pref', String(r.priority), ...selector, 'lookup', String(table), 'proto', RT_PROTO];
  return ip(f, ['rule', 'add', ...args], ['rule', 'del', ...args], why);
}

export function planSide(r: TwinRecord, which: Which, variant: 'vrf' | 'policy'): Step[] {
  const s = which === 'inner' ? r.inner : r.outer;
  const o = which === 'inner' ? r.outer : r.inner;
  const dev = s.iface;
  const steps: Step[] = [];
  if (variant === 'vrf') {
    // The first VRF device adds `1000: lookup [l3mdev-table]` and no VRF removal takes it away
    // (drivers/net/vrf.c vrf_add_fib_rules, which accepts an existing equal rule, protocol kernel included). Adding it first makes it
    // vmrouter's, removed with the last VRF of a twin; a rule that was already there is left alone.
    steps.push(...l3mdevRules());
    steps.push(ip(0, ['link', 'add', 'dev', s.vrf, 'type', 'vrf', 'table', String(s.table)], ['link', 'del', 'dev', s.vrf], `VRF of ${dev}: its connected and local routes live in table ${s.table}`));
    steps.push(ip(0, ['link', 'set', 'dev', s.vrf, 'up'], null, 'a VRF routes only when up'));
    // IPv4 forwarding is decided by the input device, which is the VRF device once enslaved
    if (r.v4) steps.push(sysctl(`net/ipv4/conf/${s.vrf}/forwarding`, '1', '0', `forward IPv4 entering through ${s.vrf}`));
    steps.push(ip(0, ['link', 'set', 'dev', dev, 'master', s.vrf], ['link', 'set', 'dev', dev, 'nomaster'], `enslave ${dev} to ${s.vrf}`));
  }
  if (r.v4) steps.push(sysctl(`net/ipv4/conf/${dev}/forwarding`, '1', '0', `forward IPv4 entering on ${dev}`));
  if (r.v4 && variant === 'policy') {
    // Reverse-path filtering looks the source up with no ingress interface (iif lo), which finds
    // nothing in main (noprefixroute). With src_valid_mark it uses the packet's mark, which every
    // packet (and ARP request, see the arp table) entering here carries; loose mode (2) because a
    // translated packet's mark names the other side. The effective value is max(all, DEV), so 2
    // here also relaxes a strict conf/all (Documentation/networking/ip-sysctl.rst rp_filter).
    steps.push(sysctl(`net/ipv4/conf/${dev}/src_valid_mark`, '1', '0', `reverse-path checks on ${dev} use the packet mark`));
    steps.push(sysctl(`net/ipv4/conf/${dev}/rp_filter`, '2', '0', `loose reverse-path filter on ${dev}: translated packets come back through the other side's table`));
  }
  // Linux forwards IPv6 only with conf/all/forwarding (per-interface selects host or router behaviour)
  if (r.v6) steps.push(sysctl('net/ipv6/conf/all/forwarding', '1', '0', 'IPv6 forwarding is node-wide in Linux', true));
  for (const [f, fam] of families(r)) {
    const cidr = `${fam.address}/${fam.subnet.length}`;
    const extra = [...(f === 6 ? ['nodad'] : []), ...(variant === 'policy' ? ['noprefixroute'] : [])];
    steps.push(ip(f, ['addr', 'add', cidr, 'dev', dev, ...extra], ['addr', 'del', cidr, 'dev', dev], `this node on the ${which} side${variant === 'policy' ? ' (no route in main: the range exists twice)' : ''}`));
    if (variant === 'policy') {
      const route = [fam.subnet.cidr, 'dev', dev, 'src', fam.address, 'table', String(s.table), 'proto', RT_PROTO];
      steps.push(ip(f, ['route', 'add', ...route], ['route', 'del', ...route], `the ${which} range, in the ${which} table`));
    }
  }
  for (const [f] of families(r)) {
    steps.push(ruleStep(f, r, ['fwmark', String(s.mark)], s.table, `packets marked for the ${which} side use its table${variant === 'vrf' ? ' (before the l3mdev rule at 1000)' : ''}`));
    if (variant === 'policy') steps.push(ruleStep(f, r, ['oif', dev], s.table, `sockets bound to ${dev} use the ${which} table`));
  }
  if (variant === 'policy') {
    // Replies the kernel builds itself (ICMP echo replies, RSTs: icmp_reply routes before any hook)
    // and accepted TCP sockets take the mark of the packet they answer, so they find the side's
    // table: Documentation/networking/ip-sysctl.rst fwmark_reflect, tcp_fwmark_accept.
    if (r.v4) steps.push(sysctl('net/ipv4/fwmark_reflect', '1', '0', 'the node\'s ICMP replies carry the mark of the request', true));
    if (r.v6) steps.push(sysctl('net/ipv6/fwmark_reflect', '1', '0', 'the node\'s ICMPv6 replies carry the mark of the request', true));
    steps.push(sysctl('net/ipv4/tcp_fwmark_accept', '1', '0', 'TCP connections accepted by the node carry the mark of their SYN (IPv4 and IPv6)', true));
  }
  if (variant === 'vrf' && r.l3mdevAccept && r.v4) {
    // https://docs.kernel.org/networking/vrf.html: unbound TCP/UDP sockets accept connections from VRFs
    steps.push(sysctl('net/ipv4/tcp_l3mdev_accept', '1', '0', 'services bound to no VRF answer TCP on both sides', true));
    steps.push(sysctl('net/ipv4/udp_l3mdev_accept', '1', '0', 'services bound to no VRF answer UDP on both sides', true));
  }
  steps.push(nftSide(r, s, o, variant, which));
  if (r.v4 && variant === 'policy') {
    // ARP requests for this node are checked against the reverse path too (arp_process routes the
    // target with the skb's mark): mark them for this side's table as well.
    const t = `arp vmrouter-twin-${r.name}-${which}`;
    steps.push(nft([`add table ${t}`, `add chain ${t} ingress_mark { type filter hook input priority filter; policy accept; }`, `add rule ${t} ingress_mark iifname ${q(dev)} meta mark set ${s.mark}`], [`delete table ${t}`], `ARP entering on ${dev} is checked against the ${which} table`, { provides: t }));
  }
  return steps;
}
