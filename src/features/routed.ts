/**
 * Routed VM networks (snf-network "Routed Setup", seed 004), with the seed's bugs fixed and per-VM
 * state kept out of linear lists: per VM only routes, proxy-NDP entries and set elements are added,
 * never an `ip rule` or a firewall rule.
 *
 * Roles:
 *  vmc         hosts VMs; an external router on the uplink routes the subnet. The node answers ARP/NDP
 *              for its VMs on the uplink, routes their traffic through `table` and hides its own
 *              address in ARP behind arp_ip. Host→local-VM traffic is not possible (as in the seed).
 *  router      owns the gateway address on the uplink; forwards (and optionally masquerades).
 *  vmc+router  both; the node's own traffic reaches the VMs through `to SUBNET lookup table`.
 */
import { eui64, type Prefix } from '../model/addr.js';
import type { TapBinding } from '../model/binding.js';
import { announces, hostsVms, routes, type Network } from '../model/network.js';
import { announce, ip, linkUp, mac, RT_PROTO, sysctl, type Step } from '../plan/step.js';
import { arpTable, ARP_TABLE, element, INET_TABLE, inetTable, natTable, NAT_TABLE, quoteIfname } from './nft-skeleton.js';

const ARP_PROXY_DELAY_DEFAULT = '80';

function masquerade(n: Network): Step[] {
  if (!n.natOut || !n.v4) return [];
  return [element(NAT_TABLE, 'masq', `${n.v4.subnet.cidr} . ${quoteIfname(n.natOut)}`, null, `masquerade ${n.v4.subnet.cidr} out of ${n.natOut}`)];
}

/** ip route/rule add + del with the same selector, stamped with vmrouter's protocol. */
function routeStep(family: 0 | 4 | 6, selector: string[], why: string, exclusive = false) {
  const args = [...selector, 'proto', RT_PROTO];
  return ip(family, ['route', 'add', ...args], ['route', 'del', ...args], why, exclusive ? { exclusive } : {});
}
function ruleStep(family: 4 | 6, n: Network, selector: string[], why: string) {
  const args = ['pref', String(n.priority), ...selector, 'lookup', String(n.table), 'proto', RT_PROTO];
  return ip(family, ['rule', 'add', ...args], ['rule', 'del', ...args], why);
}

function forwardingSteps(n: Network): Step[] {
  if (!n.forwarding) return [];
  const steps: Step[] = [];
  if (n.v4) {
    steps.push(sysctl(`net/ipv4/conf/${n.uplink}/forwarding`, '1', '0', 'forward IPv4 arriving on the uplink'));
    if (routes(n) && n.upstream) steps.push(sysctl(`net/ipv4/conf/${n.upstream}/forwarding`, '1', '0', 'forward replies arriving from upstream to the VMs'));
    if (n.forwardingAll || (announces(n) && routes(n))) steps.push(sysctl('net/ipv4/conf/all/forwarding', '1', '0', announces(n) ? 'a BGP router forwards between the links to all its nodes' : 'forwarding_all = yes', true));
  }
  if (n.v6) {
    // Linux forwards IPv6 only when conf/all/forwarding is set (per-interface forwarding selects host
    // or router behaviour); proxy NDP also needs forwarding on the answering interface.
    steps.push(sysctl('net/ipv6/conf/all/forwarding', '1', '0', 'IPv6 forwarding is node-wide in Linux', true));
  }
  return steps;
}

/**
 * How a VM-hosting node's traffic finds the network's table, whatever the routing: packets for the
 * VMs (from the uplink on a vmc node, from anywhere on a vmc+router node) and packets from the TAPs
 * (by mark). For IPv4 the packets arriving for the VMs carry the mark too, so that reverse-path
 * checks find their source's way back in the table (nft-skeleton.ts inetTable).
 */
function tableSelection(n: Network, family: 4 | 6, subnet: Prefix): Step[] {
  const dev = n.uplink;
  const proxiedArp = family === 4 && !announces(n);
  const steps: Step[] = [
    n.role === 'vmc'
      ? ruleStep(family, n, ['iif', dev, 'to', subnet.cidr], proxiedArp ? 'traffic for VMs arriving on the uplink, and proxy-ARP lookups for them, use the table' : 'traffic for VMs arriving on the uplink uses the table')
      : ruleStep(family, n, ['to', subnet.cidr], 'all traffic for the subnet, the node\'s own included, uses the table'),
    ruleStep(family, n, ['fwmark', String(n.mark)], 'traffic from this network\'s TAPs (marked by nft) uses the table'),
  ];
  if (family === 4) {
    steps.push(sysctl(`net/ipv4/conf/${dev}/src_valid_mark`, '1', '0', 'reverse-path checks on the uplink use the packet mark: the table routes the VMs'));
    steps.push(element(INET_TABLE, 'ingress4', `${quoteIfname(dev)} . ${subnet.cidr}`, String(n.mark), `packets for ${subnet.cidr} arriving on the uplink are marked for table ${n.table}`));
    if (n.v4?.arpIp) steps.push(element(ARP_TABLE, 'arp_src', quoteIfname(dev), n.v4.arpIp, 'ARP requests of the node on the uplink carry arp_ip'));
  }
  return steps;
}

/**
 * routing = bgp: no segment is shared, so nothing is proxied on the uplink and no subnet is on-link.
 * VMC node: the VMs' host routes (planTap) are announced by FRR; the table's default is FRR's
 * static route via the gateway, which the routers announce (ECMP, resolved recursively); under it
 * an unreachable default, so that VM traffic never falls through to the node's own main table while
 * FRR is down (rules fall through on a miss, ip-rule(8)). Router: the gateway on loopback, announced
 * to the nodes; an unreachable subnet, so a VM that nobody announces is not sent upstream.
 */
function planBgp(n: Network): Step[] {
  const steps: Step[] = [];
  const T = String(n.table);
  for (const [family, v] of [[4, n.v4], [6, n.v6]] as const) {
    if (!v) continue;
    const host = family === 4 ? 32 : 128;
    if (routes(n)) {
      steps.push(ip(family, ['addr', 'add', `${v.gateway}/${host}`, 'dev', 'lo', ...(family === 6 ? ['nodad'] : [])], ['addr', 'del', `${v.gateway}/${host}`, 'dev', 'lo'], 'the gateway on loopback: every router holds it and announces it to the nodes (anycast)'));
      steps.push(routeStep(family, ['unreachable', v.subnet.cidr], 'addresses no node announces go nowhere, not upstream'));
    } else {
      steps.push(routeStep(family, ['unreachable', 'default', 'table', T, 'metric', '4294967295'], 'no route through the routers (FRR down): VM traffic is refused, never routed by main'));
      steps.push(...tableSelection(n, family, v.subnet));
    }
  }
  return steps;
}

/** Everything `ifup UPLINK` applies for a network, in order. */
export function planNetwork(n: Network): Step[] {
  if (announces(n)) return [...(hostsVms(n) ? [inetTable(), arpTable()] : []), ...(n.natOut && n.v4 ? [natTable()] : []), ...forwardingSteps(n), ...planBgp(n), ...masquerade(n)];
  const steps: Step[] = [];
  const dev = n.uplink;
  const T = String(n.table);

  // the arp table also for IPv6-only networks: it drops ARP from their VMs, which own no IPv4 address
  if (hostsVms(n)) steps.push(inetTable(), arpTable());
  if (n.natOut && n.v4) steps.push(natTable());
  steps.push(...forwardingSteps(n));

  if (n.v4) {
    const { subnet, gateway } = n.v4;
    if (n.role === 'router') {
      steps.push(ip(4, ['addr', 'add', `${gateway}/${subnet.length}`, 'dev', dev], ['addr', 'del', `${gateway}/${subnet.length}`, 'dev', dev], 'the gateway address; its connected route reaches the VMs through proxy ARP of the nodes'));
    }
    if (n.role === 'vmc+router') {
      steps.push(ip(4, ['addr', 'add', `${gateway}/32`, 'dev', dev], ['addr', 'del', `${gateway}/32`, 'dev', dev], 'the gateway address (no connected route: the table routes the subnet)'));
    }
    if (hostsVms(n)) {
      if (n.proxyArp) {
        steps.push(sysctl(`net/ipv4/conf/${dev}/proxy_arp`, '1', '0', 'answer ARP on the uplink for VMs routed to TAPs'));
        steps.push(sysctl(`net/ipv4/neigh/${dev}/proxy_delay`, String(n.proxyDelay), ARP_PROXY_DELAY_DEFAULT, 'answer proxied ARP without the random delay'));
      }
      if (n.role === 'vmc') steps.push(routeStep(4, [subnet.cidr, 'dev', dev], 'the node reaches VMs on other nodes through the uplink'));
      steps.push(routeStep(4, [subnet.cidr, 'dev', dev, 'table', T], 'VM-to-VM traffic between nodes goes straight over the uplink'));
      if (n.role === 'vmc') steps.push(routeStep(4, ['default', 'via', gateway, 'dev', dev, 'table', T], 'VM traffic leaves through the router'));
      steps.push(...tableSelection(n, 4, subnet));
    }
    steps.push(...masquerade(n));
  }

  if (n.v6) {
    const { subnet, gateway } = n.v6;
    if (n.role === 'router') {
      steps.push(ip(6, ['addr', 'add', `${gateway}/${subnet.length}`, 'dev', dev, 'nodad'], ['addr', 'del', `${gateway}/${subnet.length}`, 'dev', dev], 'the gateway address; its connected route reaches the VMs through proxy NDP of the nodes'));
    }
    if (n.role === 'vmc+router') {
      steps.push(ip(6, ['addr', 'add', `${gateway}/128`, 'dev', dev, 'nodad'], ['addr', 'del', `${gateway}/128`, 'dev', dev], 'the gateway address (no connected route: the table routes the subnet)'));
    }
    if (hostsVms(n)) {
      if (n.proxyNdp) {
        steps.push(sysctl(`net/ipv6/conf/${dev}/proxy_ndp`, '1', '0', 'answer NDP on the uplink for the proxy entries of this node\'s VMs'));
        steps.push(sysctl(`net/ipv6/neigh/${dev}/proxy_delay`, String(n.proxyDelay), ARP_PROXY_DELAY_DEFAULT, 'answer proxied NDP without the random delay'));
      }
      if (n.role === 'vmc') steps.push(routeStep(6, [subnet.cidr, 'dev', dev], 'the node reaches VMs on other nodes through the uplink'));
      steps.push(routeStep(6, [subnet.cidr, 'dev', dev, 'table', T], 'VM-to-VM traffic between nodes goes straight over the uplink'));
      if (n.role === 'vmc') steps.push(routeStep(6, ['default', 'via', gateway, 'dev', dev, 'table', T], 'VM traffic leaves through the router'));
      steps.push(...tableSelection(n, 6, subnet));
    }
  }
  return steps;
}

/** IPv6 addresses of a binding: the given ones, or the EUI-64 address from the MAC when none given. */
export function bindingIp6s(n: Network, b: Pick<TapBinding, 'ip6s' | 'mac'>): string[] {
  if (b.ip6s.length > 0 || !n.v6 || !b.mac || n.v6.subnet.length > 64) return b.ip6s;
  return [eui64(n.v6.subnet, b.mac)];
}

/** Everything `vmrouter tap up` applies for one VM NIC. */
export function planTap(n: Network, b: TapBinding): Step[] {
  const steps: Step[] = [];
  const tap = b.tap;
  const T = String(n.table);
  const q = quoteIfname(tap);

  // a hypervisor may bind a NIC before bringing it up (Ganeti's kvm-vif-bridge); its routes need it up
  steps.push(linkUp(tap, 'the TAP carries the VM\'s traffic only when up; left as it was on tap down'));
  if (n.tapMac) steps.push(mac(tap, n.tapMac, 'one gateway MAC for every VM of the network'));
  if (n.v4 && b.ips.length > 0) {
    steps.push(sysctl(`net/ipv4/conf/${tap}/proxy_arp`, '1', '0', 'answer the VM\'s ARP for its gateway and other VMs'));
    steps.push(sysctl(`net/ipv4/neigh/${tap}/proxy_delay`, String(n.proxyDelay), ARP_PROXY_DELAY_DEFAULT, 'answer the VM\'s ARP without the random delay'));
    if (n.forwarding) steps.push(sysctl(`net/ipv4/conf/${tap}/forwarding`, '1', '0', 'forward IPv4 from the VM'));
    steps.push(sysctl(`net/ipv4/conf/${tap}/src_valid_mark`, '1', '0', 'reverse-path checks on the TAP use its mark: the VM is routed in the network\'s table'));
  }
  if (n.v6 && b.ip6s.length > 0) {
    steps.push(sysctl(`net/ipv6/conf/${tap}/proxy_ndp`, '1', '0', 'answer the VM\'s NDP for its gateway'));
    steps.push(sysctl(`net/ipv6/neigh/${tap}/proxy_delay`, String(n.proxyDelay), ARP_PROXY_DELAY_DEFAULT, 'answer the VM\'s NDP without the random delay'));
  }
  // Every iproute2 command of a TAP names an address, from which iproute2 takes the family: no
  // -4/-6, so they all run through one `ip -batch` (one process per VM, not one per family).
  for (const a of b.ips) steps.push(routeStep(0, [`${a}/32`, 'dev', tap, 'table', T], `${a} lives behind ${tap}`, true));
  for (const a of b.ip6s) steps.push(routeStep(0, [`${a}/128`, 'dev', tap, 'table', T], `${a} lives behind ${tap}`, true));
  // FRR announces host routes of the main table (redistribute kernel, render/frr-network.ts)
  if (announces(n)) for (const a of [...b.ips.map((x) => `${x}/32`), ...b.ip6s.map((x) => `${x}/128`)]) steps.push(routeStep(0, [a, 'dev', tap], `announced over BGP: ${a} runs on this node`, true));
  if (n.v6 && b.ip6s.length > 0) {
    if (n.proxyNdp) {
      for (const a of b.ip6s) steps.push(ip(0, ['neigh', 'add', 'proxy', a, 'dev', n.uplink], ['neigh', 'del', 'proxy', a, 'dev', n.uplink], `answer NDP for ${a} on the uplink`));
    }
    steps.push(ip(0, ['neigh', 'add', 'proxy', n.v6.gateway, 'dev', tap], ['neigh', 'del', 'proxy', n.v6.gateway, 'dev', tap], 'answer the VM\'s NDP for gateway6'));
  }
  for (const a of b.ips) steps.push(element(INET_TABLE, 'vm4', `${q} . ${a}`, null, `${tap} may send from ${a}`));
  for (const a of b.ip6s) steps.push(element(INET_TABLE, 'vm6', `${q} . ${a}`, null, `${tap} may send from ${a}`));
  for (const a of b.ips) steps.push(element(ARP_TABLE, 'vm4', `${q} . ${a}`, null, `${tap} may claim ${a} in ARP`));
  if (n.v4 && b.ips.length > 0) steps.push(element(ARP_TABLE, 'arp_src', q, n.v4.gateway, 'ARP requests to the VM carry its gateway as source'));
  if (n.v4 && b.ips.length > 0) steps.push(element(ARP_TABLE, 'tapmark', q, String(n.mark), `ARP from ${tap} is checked in table ${T}`));
  steps.push(element(INET_TABLE, 'tapmark', q, String(n.mark), `traffic from ${tap} uses table ${T}`));
  // membership last: until then the TAP's traffic is not checked, after it every allowed source is known
  steps.push(element(ARP_TABLE, 'taps', q, null, `ARP from ${tap} is checked`));
  steps.push(element(INET_TABLE, 'taps', q, null, `${tap} is a vmrouter TAP`));
  if (n.proxyArp) for (const a of b.ips) steps.push(announce(4, n.uplink, a, `gratuitous ARP: ${a} is now behind this node`));
  if (n.proxyNdp) for (const a of b.ip6s) steps.push(announce(6, n.uplink, a, `unsolicited NA: ${a} is now behind this node`));
  return steps;
}
