/**
 * What the responder serves: for every bound TAP, the VM's binding, its network, and the TAP's own
 * MAC and link-local address (the source of everything sent to the VM). Built from the ledger's
 * index (and vmrouter.conf for networks brought up by expanded stanzas); keyed by ifindex because
 * that is what the packet socket reports.
 */
import { readFileSync } from 'node:fs';
import { parseAddress } from '../model/addr.js';
import type { TapBinding } from '../model/binding.js';
import type { Network } from '../model/network.js';
import type { Ledger } from '../exec/ledger.js';
import { networksUp } from '../cli/operations.js';
import { tapsBound } from '../cli/tap-operations.js';

export interface TapService {
  tap: string;
  ifindex: number;
  tapMac: string;
  /** null while the kernel has not finished DAD on it: nothing is sent until it has one */
  tapLinkLocal: string | null;
  binding: TapBinding;
  network: Network;
}

export interface LinkReader {
  link(dev: string): { ifindex: number; mac: string } | null;
  /** every device's usable (not tentative) link-local address, by ifindex */
  linkLocals(): Map<number, string>;
}

/** Reads /sys and /proc/net/if_inet6 of the namespace this process runs in. */
export const sysfsLinks: LinkReader = {
  link(dev) {
    try {
      return { ifindex: Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8')), mac: readFileSync(`/sys/class/net/${dev}/address`, 'utf8').trim() };
    } catch {
      return null;
    }
  },
  linkLocals() {
    const out = new Map<number, string>();
    // address, ifindex, prefix length, scope, flags (IFA_F_TENTATIVE 0x40, IFA_F_DADFAILED 0x08), name
    for (const f of readFileSync('/proc/net/if_inet6', 'utf8').split('\n').map((l) => l.trim().split(/\s+/))) {
      if (f.length < 6 || f[3] !== '20' || (parseInt(f[4]!, 16) & 0x48) !== 0) continue;
      const ifindex = parseInt(f[1]!, 16);
      const address = parseAddress(f[0]!.match(/.{4}/g)!.join(':'), 6)?.address;
      if (address && !out.has(ifindex)) out.set(ifindex, address);
    }
    return out;
  },
};

export function buildServices(ledger: Ledger, configured: Network[], links: LinkReader): Map<number, TapService> {
  const up = networksUp(ledger);
  const networks = new Map([...configured, ...up].map((n) => [n.name, n]));
  const lls = links.linkLocals();
  const services = new Map<number, TapService>();
  for (const binding of tapsBound(ledger)) {
    const network = networks.get(binding.network);
    const link = links.link(binding.tap);
    if (!network || !link) continue;
    services.set(link.ifindex, { tap: binding.tap, ifindex: link.ifindex, tapMac: link.mac, tapLinkLocal: lls.get(link.ifindex) ?? null, binding, network });
  }
  return services;
}
