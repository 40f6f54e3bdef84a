/**
 * What the responder answers, decided without I/O: a decoded frame from a bound TAP in, the frames
 * to send (and after how long) out. The kernel already answers Neighbour Solicitations for the TAP's
 * own link-local and for gateway6 (vmrouter puts a proxy entry on every TAP), so the responder
 * answers only what the kernel does not: router solicitations, solicitations for the other addresses
 * of the on-link prefix (as proxy ARP does for IPv4), DHCPv6 Information-Request and DHCPv4.
 */
import { contains, parsePrefix, type Prefix } from '../model/addr.js';
import type { ResponderConfig } from './config.js';
import type { Inbound } from './decode.js';
import { dhcp4Reply, dhcp6Reply, neighborAdvertisement, routerAdvertisement } from './encode.js';
import type { TapService } from './services.js';

export interface Reply {
  kind: 'ra' | 'na' | 'dhcp6' | 'dhcp4';
  frame: Buffer;
  /** ms to wait before sending (RFC 4861 6.2.6 for solicited RAs); 0 for everything else */
  delay: number;
  /** a multicast RA (rate limited per TAP, RFC 4861 6.2.6) */
  multicast?: boolean;
}

const ALL_NODES = 'ff02::1';
const ALL_NODES_MAC = '33:33:00:00:00:01';
const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

/** The RA a TAP sends: to `dst` (unicast to a soliciting host) or all-nodes. */
export function raFor(s: TapService, config: ResponderConfig, dst: { ip: string; mac: string } | null, routerLifetime = config.ndp.routerLifetime): Buffer | null {
  const v6 = s.network.v6;
  if (!v6 || !s.tapLinkLocal) return null;
  const n = config.ndp;
  return routerAdvertisement({
    srcMac: s.tapMac,
    srcIp: s.tapLinkLocal,
    dstMac: dst?.mac ?? ALL_NODES_MAC,
    dstIp: dst?.ip ?? ALL_NODES,
    curHopLimit: n.curHopLimit,
    managed: false,
    other: n.dhcpv6,
    routerLifetime,
    reachableTime: 0,
    retransTimer: 0,
    // SLAAC needs a /64 (RFC 4862 5.5.3, RFC 2464); other lengths are announced on-link only
    prefixes: [{ prefix: v6.subnet.address, length: v6.subnet.length, onLink: true, autonomous: v6.subnet.length === 64, validLifetime: n.prefixValidLifetime, preferredLifetime: n.prefixPreferredLifetime }],
    ...(n.mtu !== null ? { mtu: n.mtu } : {}),
    ...(n.nameservers.length ? { rdnss: { lifetime: n.dnsLifetime, servers: n.nameservers } } : {}),
    ...(n.domains.length ? { dnssl: { lifetime: n.dnsLifetime, domains: n.domains } } : {}),
  });
}

function maskOf(p: Prefix): string {
  const bits = p.length === 0 ? 0 : (~0 << (32 - p.length)) >>> 0;
  return [24, 16, 8, 0].map((sh) => (bits >>> sh) & 255).join('.');
}

/**
 * RFC 4861 6.2.6: a random delay in 0..MAX_RA_DELAY_TIME. Drawn from a range a scheduling margin
 * (up to 50 ms) shorter, so that the RA still goes out inside the window when the node is busy.
 */
export function solicitedDelay(max: number, random: () => number): number {
  return Math.floor(random() * (max - Math.min(50, max / 10)));
}

/** `cache`: raFor with memory (the daemon keeps each TAP's RAs, which only differ by destination). */
export function respond(inbound: Inbound, s: TapService, config: ResponderConfig, serverDuid: Buffer, random: () => number = Math.random, cache?: typeof raFor): Reply[] {
  const v6 = s.network.v6;
  switch (inbound.kind) {
    case 'rs': {
      if (!config.ndp.enabled || !v6) return [];
      // RFC 4861 6.2.6: unicast to a host that said who it is, all-nodes for the unspecified source
      const unicast = inbound.srcIp !== '::';
      const frame = (cache ?? raFor)(s, config, unicast ? { ip: inbound.srcIp, mac: inbound.sllao ?? inbound.srcMac } : null);
      return frame ? [{ kind: 'ra', frame, delay: solicitedDelay(config.ndp.solicitedRaDelay, random), multicast: !unicast }] : [];
    }
    case 'ns': {
      if (!config.ndp.enabled || !v6 || !s.tapLinkLocal) return [];
      // DAD (unspecified source) is never answered; the kernel answers for the TAP and gateway6
      if (inbound.srcIp === '::' || inbound.target === s.tapLinkLocal || inbound.target === v6.gateway) return [];
      if (s.binding.ip6s.includes(inbound.target) || !contains(v6.subnet, inbound.target)) return [];
      // another address of the on-link prefix: it is reached through this TAP (RFC 4861 7.2.8, a proxy: Override clear)
      const frame = neighborAdvertisement({
        srcMac: s.tapMac,
        srcIp: s.tapLinkLocal,
        dstMac: inbound.sllao ?? inbound.srcMac,
        dstIp: inbound.srcIp,
        target: inbound.target,
        router: false,
        solicited: true,
        override: false,
        tlla: s.tapMac,
      });
      return [{ kind: 'na', frame, delay: 0 }];
    }
    case 'dhcp6': {
      // Information-Request (11) only: addresses come from SLAAC (the RA's M flag is clear)
      if (!config.ndp.enabled || !config.ndp.dhcpv6 || !v6 || !s.tapLinkLocal || inbound.msgType !== 11) return [];
      const frame = dhcp6Reply({
        srcMac: s.tapMac,
        srcIp: s.tapLinkLocal,
        dstMac: inbound.srcMac,
        dstIp: inbound.srcIp,
        dstPort: inbound.srcPort,
        transactionId: inbound.transactionId,
        clientId: inbound.clientId,
        serverDuid,
        dnsServers: config.ndp.nameservers,
        domains: config.ndp.domains,
      });
      return [{ kind: 'dhcp6', frame, delay: 0 }];
    }
    case 'dhcp4': {
      const v4 = s.network.v4;
      const ip = s.binding.ips[0];
      if (!config.dhcp.enabled || !v4 || !ip) return [];
      if (inbound.serverId !== null && inbound.serverId !== v4.gateway) return []; // talking to another server
      const requested = inbound.requestedIp ?? (inbound.ciaddr !== '0.0.0.0' ? inbound.ciaddr : null);
      let msgType: number;
      if (inbound.msgType === 1) msgType = 2; // DISCOVER → OFFER
      else if (inbound.msgType === 3) msgType = requested === null || requested === ip ? 5 : 6; // REQUEST → ACK or NAK
      else if (inbound.msgType === 8) msgType = 5; // INFORM → ACK, no lease
      else return [];
      const inform = inbound.msgType === 8;
      const broadcast = msgType === 6 || (inbound.flags & 0x8000) !== 0;
      const dstIp = inbound.ciaddr !== '0.0.0.0' && msgType !== 6 ? inbound.ciaddr : broadcast ? '255.255.255.255' : ip;
      const prefix = parsePrefix(v4.subnet.cidr) as Prefix;
      const d = config.dhcp;
      const frame = dhcp4Reply({
        srcMac: s.tapMac,
        serverIp: v4.gateway,
        dstMac: broadcast ? BROADCAST_MAC : inbound.chaddr,
        dstIp,
        msgType,
        xid: inbound.xid,
        flags: inbound.flags,
        ciaddr: inform ? inbound.ciaddr : '0.0.0.0',
        yiaddr: inform || msgType === 6 ? '0.0.0.0' : ip,
        chaddr: inbound.chaddr,
        subnetMask: maskOf(prefix),
        router: v4.gateway,
        dnsServers: d.nameservers,
        domain: d.domain,
        mtu: d.mtu,
        hostname: s.binding.hostname ?? null,
        leaseTime: inform || msgType === 6 ? null : d.leaseTime,
      });
      return [{ kind: 'dhcp4', frame, delay: 0 }];
    }
  }
}
