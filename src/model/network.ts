import type { Prefix } from './addr.js';
import type { Role } from '../config/schema.js';
import type { Origin } from '../config/errors.js';

/**
 * A routed network as this node applies it: every default filled in, every derived value (mark,
 * priority) computed once here and never re-derived elsewhere. Plain JSON so the runner can store it
 * with the state of an applied network.
 */
export interface Network {
  name: string;
  role: Role;
  uplink: string;
  /** routing table of the VM routes; null for the router role, which routes from main */
  table: number | null;
  tableName: string | null;
  /** fwmark of packets from this network's TAPs; selects `table` with one rule per family */
  mark: number | null;
  priority: number;
  v4: { subnet: Prefix; gateway: string; arpIp: string | null } | null;
  v6: { subnet: Prefix; gateway: string } | null;
  natOut: string | null;
  upstream: string | null;
  forwarding: boolean;
  forwardingAll: boolean;
  proxyArp: boolean;
  proxyNdp: boolean;
  /** neigh proxy_delay, 1/100 s */
  proxyDelay: number;
  tapMac: string | null;
  /**
   * routing = bgp: FRR on the node announces the VMs' host routes to the routers (render/frr-network.ts)
   * instead of proxy ARP/NDP on one shared uplink. Absent in ledgers of releases before it: proxy.
   */
  bgp?: Bgp | null;
  /** where the network was defined, for messages */
  origin: Origin;
}

/** The BGP side of a routed network: sessions between the VMC nodes and the routers, one iBGP AS. */
export interface Bgp {
  asn: number;
  /** IPv4 sessions: on a VMC node the routers, on a router the VMC nodes */
  peers: string[];
  /** IPv6 sessions (for subnet6), between the same nodes */
  peers6: string[];
  /** hold time, s (RFC 4271 4.2); keepalives every third */
  hold: number;
  /** BFD (RFC 5880) on every session, through FRR's bfdd: a dead peer is noticed in 3 × interval */
  bfdInterval: number | null;
  routerId: string | null;
}

export const hostsVms = (n: Network): boolean => n.role === 'vmc' || n.role === 'vmc+router';
export const routes = (n: Network): boolean => n.role === 'router' || n.role === 'vmc+router';

/**
 * The routed networks among verified records ([network NAME] is a registered feature, verified
 * before the others, which check their tables and interfaces against these).
 */
export const networksIn = (records: ReadonlyMap<string, readonly { name: string }[]>): Network[] => (records.get('network') ?? []) as Network[];

/** routing = bgp: no shared segment, FRR announces the VMs (a ledger of an older release has no bgp) */
export const announces = (n: Network): n is Network & { bgp: Bgp } => n.bgp !== undefined && n.bgp !== null;
