/**
 * Network → `vmrouter-*` options of a compact stanza: the keys of the schema, written only where they
 * differ from the default, so the stanza reads like the config section it came from. The hook reads
 * them back through the same schema (config/stanza.ts).
 */
import type { Network } from '../model/network.js';

export interface StanzaOption {
  name: string;
  value: string;
}

export function networkOptions(n: Network): StanzaOption[] {
  const o: [string, string | number | boolean | null | undefined, (string | number | boolean | null)?][] = [
    ['network', n.name],
    ['role', n.role],
    ['table', n.table],
    ['table_name', n.tableName],
    ['mark', n.mark, n.table],
    ['priority', n.priority, 10000],
    ['subnet', n.v4?.subnet.cidr],
    ['gateway', n.v4?.gateway],
    ['arp_ip', n.v4?.arpIp],
    ['subnet6', n.v6?.subnet.cidr],
    ['gateway6', n.v6?.gateway],
    ['nat_out', n.natOut],
    ['upstream', n.upstream, n.natOut],
    ['forwarding', n.forwarding, true],
    ['forwarding_all', n.forwardingAll, false],
    ['proxy_arp', n.role === 'router' || n.bgp ? null : n.proxyArp, true],
    ['proxy_ndp', n.role === 'router' || n.bgp ? null : n.proxyNdp, true],
    ['proxy_delay', n.role === 'router' ? null : n.proxyDelay, 0],
    ['tap_mac', n.tapMac],
    ['routing', n.bgp ? 'bgp' : null],
    ['peers', n.bgp && n.bgp.peers.length > 0 ? n.bgp.peers.join(' ') : null],
    ['peers6', n.bgp && n.bgp.peers6.length > 0 ? n.bgp.peers6.join(' ') : null],
    ['asn', n.bgp?.asn, 64512],
    ['bgp_hold', n.bgp?.hold, 9],
    ['bfd', n.bgp ? n.bgp.bfdInterval !== null : null, true],
    ['bfd_interval', n.bgp?.bfdInterval ?? null, 100],
    ['router_id', n.bgp?.routerId],
  ];
  return o
    .filter(([, value, fallback]) => value !== null && value !== undefined && value !== fallback)
    .map(([key, value]) => ({ name: `vmrouter-${key.replace(/_/g, '-')}`, value: typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value) }));
}
