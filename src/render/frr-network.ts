/**
 * FRR configuration of the routed networks with `routing = bgp` on this node (Debian's `frr`:
 * /etc/frr/frr.conf and /etc/frr/daemons), from the same records as the stanzas. One iBGP AS, no
 * route reflection: each VMC node peers with each router, over IPv4 for /32 and over IPv6 for /128.
 *  vmc     announces the host routes `vmrouter tap up` adds to main for its VMs (redistribute
 *          kernel, limited to the subnets: a route appearing or vanishing is a BGP update, no FRR
 *          reload per VM); accepts only the gateways; its table's default is a static route via the
 *          gateway, resolved through the routers that announce it (ECMP).
 *  router  announces the gateway (on its loopback) and accepts only host routes inside the subnets.
 * BFD (RFC 5880, bfdd) on every session: a dead peer is noticed after 3 intervals, and its routes
 * withdrawn, long before the hold time runs out (RFC 5882).
 */
import { UsageError } from '../config/errors.js';
import { announces, hostsVms, type Bgp, type Network } from '../model/network.js';
import type { FrrFiles } from './frr.js';
import { renderTemplate } from './templates.js';

export async function renderNetworkFrr(networks: readonly Network[], source: string): Promise<FrrFiles> {
  const mine = networks.filter(announces);
  if (mine.length === 0) throw new UsageError(`${source}: no [network NAME] with routing = bgp`);
  // verify made sure they are of one side and one AS (model/verify.ts crossCheck)
  const vmc = hostsVms(mine[0]!);
  const router = !vmc;
  const first = mine[0]!.bgp;
  const bgps: Bgp[] = mine.map((n) => n.bgp);
  // one session carries every network: the shortest hold time and BFD interval asked for win
  const hold = Math.min(...bgps.map((b) => b.hold));
  const intervals = bgps.flatMap((b) => (b.bfdInterval === null ? [] : [b.bfdInterval]));
  const peers4 = [...new Set(bgps.flatMap((b) => b.peers))];
  const peers6 = [...new Set(bgps.flatMap((b) => b.peers6))];
  const family = (afi: 'ipv4' | 'ipv6', peers: string[], gateways: string[]) => ({ afi, peers, gateways, vms: afi === 'ipv4' ? 'vmrouter-vms' : 'vmrouter-vms6', gatewayMap: afi === 'ipv4' ? 'vmrouter-gateways' : 'vmrouter-gateways6' });
  const context = {
    source,
    roles: mine.map((n) => `network ${n.name}: ${n.role}`).join(', '),
    vmc,
    router,
    networks: mine.map((n, i) => ({ name: n.name, table: n.table, seq: (i + 1) * 5, subnet: n.v4?.subnet.cidr ?? null, gateway: n.v4?.gateway ?? null, subnet6: n.v6?.subnet.cidr ?? null, gateway6: n.v6?.gateway ?? null })),
    asn: first.asn,
    routerId: bgps.map((b) => b.routerId).find((r) => r !== null) ?? null,
    peerRole: vmc ? 'router' : 'VMC node',
    peers: [...peers4, ...peers6].map((address) => ({ address })),
    families: [
      ...(peers4.length > 0 ? [family('ipv4', peers4, mine.flatMap((n) => (n.v4 ? [`${n.v4.gateway}/32`] : [])))] : []),
      ...(peers6.length > 0 ? [family('ipv6', peers6, mine.flatMap((n) => (n.v6 ? [`${n.v6.gateway}/128`] : [])))] : []),
    ],
    keepalive: Math.max(1, Math.floor(hold / 3)),
    hold,
    connect: Math.max(1, Math.floor(hold / 3)),
    bfd: intervals.length > 0 ? Math.min(...intervals) : null,
  };
  return {
    'frr.conf': await renderTemplate('frr-network.conf', context),
    daemons: await renderTemplate('frr-daemons', { node: null, source, bfdd: context.bfd !== null }),
  };
}
