/**
 * FRR configuration (Debian's `frr` package: /etc/frr/frr.conf and /etc/frr/daemons) for the virtual
 * networks with `routing = bgp`, from the same records as the stanzas. One iBGP AS: every host peers
 * with every router of its networks (no host-to-host sessions, no route reflection: hosts need no
 * routes, their table sends everything to the routers).
 *  host    announces the /32 and /128 routes `vmrouter vnet sync` adds for its VMs (redistribute
 *          kernel, limited to the networks' subnets); accepts nothing.
 *  router  accepts only /32 (/128) routes inside the networks' subnets (subnet6) and installs them
 *          (zebra); announces nothing. Several routers each learn every route: hosts spread over them.
 * IPv6 runs over its own sessions between the nodes' underlay6 addresses (address-family ipv6
 * unicast), not over the IPv4 ones with extended next hops (RFC 8950): the next hop is then the
 * host's global underlay address, which the routers install as it is (prefer-global: not the
 * link-local, which differs per host and hides which host a route points to).
 * A VM that moves is withdrawn by its old host and announced by its new one (RFC 4271 9.1); a host
 * that dies is forgotten after the hold time.
 */
import { UsageError } from '../config/errors.js';
import { roleOf, type VnetNode, type VnetRecord } from '../model/vnet.js';
import { renderTemplate } from './templates.js';

export interface FrrFiles {
  'frr.conf': string;
  daemons: string;
}

export async function renderFrr(records: readonly VnetRecord[], node: string, source: string): Promise<FrrFiles> {
  const mine = records.filter((v) => v.routing === 'bgp' && roleOf(v, node) !== null);
  if (mine.length === 0) {
    const anywhere = records.some((v) => roleOf(v, node) !== null);
    throw new UsageError(`--node ${node}: ${anywhere ? 'is in no [vnet NAME] with routing = bgp' : `is not a host or router of any [vnet NAME] in ${source}`}`);
  }
  const self = mine.flatMap((v) => [...v.hosts, ...v.routers]).find((n) => n.name === node)!;
  const host = mine.some((v) => roleOf(v, node) === 'host');
  const router = mine.some((v) => roleOf(v, node) === 'router');
  const neighbors = new Map<string, VnetNode & { role: string; isHost: boolean }>();
  const neighbors6 = new Map<string, VnetNode & { role: string; isHost: boolean }>();
  for (const v of mine) {
    const peers = roleOf(v, node) === 'host' ? v.routers.map((r) => ({ ...r, role: 'router', isHost: false })) : v.hosts.map((h) => ({ ...h, role: 'host', isHost: true }));
    for (const p of peers) neighbors.set(p.address, p);
    if (v.v6) for (const p of peers) neighbors6.set(v.v6.underlay.get(p.name)!, { ...p, address: v.v6.underlay.get(p.name)! });
  }
  const self6 = mine.map((v) => v.v6?.underlay.get(node)).find((a) => a !== undefined);
  // the shortest hold time asked for by any of the networks wins: one session carries them all
  const hold = Math.min(...mine.map((v) => v.bgpHold));
  const context = {
    node,
    source,
    roles: mine.map((v) => `${roleOf(v, node)} of vnet ${v.name}`).join(', '),
    networks: mine.map((v, i) => ({ name: v.name, subnet: v.subnet.cidr, seq: (i + 1) * 5 })),
    networks6: mine.flatMap((v, i) => (v.v6 ? [{ name: v.name, subnet: v.v6.subnet.cidr, seq: (i + 1) * 5 }] : [])),
    asn: mine[0]!.asn,
    routerId: self.address,
    host,
    router,
    neighbors: [...neighbors.values()].sort((a, b) => a.name.localeCompare(b.name)),
    neighbors6: [...neighbors6.values()].sort((a, b) => a.name.localeCompare(b.name)),
    self6,
    keepalive: Math.max(1, Math.floor(hold / 3)),
    hold,
    connect: Math.max(1, Math.floor(hold / 3)),
  };
  return { 'frr.conf': await renderTemplate('frr.conf', context), daemons: await renderTemplate('frr-daemons', { node, source, bfdd: false }) };
}
