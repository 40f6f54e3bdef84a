/**
 * The BGP side of `vmrouter doctor` for routed networks with routing = bgp: is every session the
 * ledger's networks name established in FRR, and does every session carry every bound VM's host
 * route (the adj-RIB-out, RFC 4271 3.2: what was sent, not what the node would like to send).
 * Asked of FRR through vtysh's JSON output; reads only.
 */
import type { Host } from '../exec/host.js';
import type { Ledger } from '../exec/ledger.js';
import { networksUp } from '../cli/operations.js';
import { tapsBound } from '../cli/tap-operations.js';
import { announces, hostsVms } from '../model/network.js';

export interface BgpPeer {
  address: string;
  /** FRR's state: Established, Active, Connect, …; "absent" when FRR has no such neighbour */
  state: string;
  /** prefixes received from / sent to the peer (null unless established) */
  received: number | null;
  sent: number | null;
}

export interface BgpDiagnosis {
  peers: BgpPeer[];
  /** bound VM addresses that some established session does not carry, or that no session carries */
  unannounced: { tap: string; address: string; missingAt: string[] }[];
  /** FRR could not be asked (not running, vtysh missing) */
  error: string | null;
}

export const bgpHealthy = (b: BgpDiagnosis | null): boolean => b === null || (b.error === null && b.unannounced.length === 0 && b.peers.every((p) => p.state === 'Established'));

interface SummaryJson {
  ipv4Unicast?: { peers?: Record<string, { state?: string; pfxRcd?: number; pfxSnt?: number }> };
  ipv6Unicast?: { peers?: Record<string, { state?: string; pfxRcd?: number; pfxSnt?: number }> };
}

/** `vtySocket`: the directory of FRR's vty sockets (vtysh --vty_socket); FRR's default when null. */
export async function diagnoseBgp(host: Host, ledger: Ledger, vtySocket: string | null): Promise<BgpDiagnosis | null> {
  const networks = networksUp(ledger).filter(announces);
  if (networks.length === 0) return null;
  const want = [...new Set(networks.flatMap((n) => [...n.bgp.peers, ...n.bgp.peers6]))];
  const vtysh = async (command: string): Promise<unknown> => JSON.parse(await host.query('vtysh', [...(vtySocket ? ['--vty_socket', vtySocket] : []), '-c', command]));
  let summary: SummaryJson;
  try {
    summary = (await vtysh('show bgp summary json')) as SummaryJson;
  } catch (e) {
    const error = `FRR not reachable: ${(e as Error).message.split('\n')[0]}`;
    return { peers: want.map((address) => ({ address, state: 'unknown', received: null, sent: null })), unannounced: [], error };
  }
  const known = { ...(summary.ipv4Unicast?.peers ?? {}), ...(summary.ipv6Unicast?.peers ?? {}) };
  const peers: BgpPeer[] = want.map((address) => {
    const p = known[address];
    if (!p) return { address, state: 'absent', received: null, sent: null };
    const up = p.state === 'Established';
    return { address, state: p.state ?? 'unknown', received: up ? (p.pfxRcd ?? 0) : null, sent: up ? (p.pfxSnt ?? 0) : null };
  });
  const unannounced: BgpDiagnosis['unannounced'] = [];
  const vmcNetworks = new Map(networks.filter(hostsVms).map((n) => [n.name, n]));
  if (vmcNetworks.size > 0) {
    // one adj-RIB-out per established session, asked once
    const sentTo = new Map<string, Set<string>>();
    for (const p of peers) {
      if (p.state !== 'Established') continue;
      const afi = p.address.includes(':') ? 'ipv6' : 'ipv4';
      const out = (await vtysh(`show bgp ${afi} unicast neighbors ${p.address} advertised-routes json`).catch(() => ({}))) as { advertisedRoutes?: Record<string, unknown> };
      sentTo.set(p.address, new Set(Object.keys(out.advertisedRoutes ?? {})));
    }
    for (const b of tapsBound(ledger)) {
      const n = vmcNetworks.get(b.network);
      if (!n) continue;
      for (const [family, addresses] of [[4, b.ips], [6, b.ip6s]] as const) {
        const sessions = (family === 4 ? n.bgp.peers : n.bgp.peers6).filter((a) => sentTo.has(a));
        for (const a of addresses) {
          const prefix = `${a}/${family === 4 ? 32 : 128}`;
          const missingAt = sessions.filter((s) => !sentTo.get(s)!.has(prefix));
          if (sessions.length === 0 || missingAt.length > 0) unannounced.push({ tap: b.tap, address: a, missingAt: sessions.length === 0 ? ['(no established session)'] : missingAt });
        }
      }
    }
  }
  return { peers, unannounced, error: null };
}

export function renderBgp(b: BgpDiagnosis): string {
  const lines = ['BGP sessions (FRR):'];
  for (const p of b.peers) lines.push(`  ${p.address.padEnd(24)} ${p.state}${p.received !== null ? `, ${p.received} received, ${p.sent} sent` : ''}`);
  if (b.error) lines.push(`  ${b.error}`);
  for (const u of b.unannounced) lines.push(`tap:${u.tap}`, `  unannounced ${u.address}: not sent to ${u.missingAt.join(', ')}`);
  return lines.join('\n') + '\n';
}
