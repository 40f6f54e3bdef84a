/**
 * The operations the commands and hooks perform. Each is an owner plus a decision made from the
 * ledger under the runner's lock, so `up`, `--dry-run` and `plan` share one code path.
 */
import type { TapBinding } from '../model/binding.js';
import type { Network } from '../model/network.js';
import { bindingClashes, bindTap, resolveNetwork, type TapRequest } from '../model/tap-request.js';
import { planNetwork, planTap } from '../features/routed.js';
import { UsageError } from '../config/errors.js';
import type { Host } from '../exec/host.js';
import { networkOwner, tapOwner, type Ledger } from '../exec/ledger.js';
import type { Desired } from '../exec/transaction.js';

/** 'preview' decisions (plan, --dry-run) do not require the devices to exist yet. */
export type Mode = 'apply' | 'preview';

export interface Operation {
  title: string;
  owner: string;
  decide: (ledger: Ledger, mode: Mode) => Desired;
}

/** Networks as applied: halves applied per address family (legacy stanzas) merged into one. */
export function networksUp(ledger: Ledger): Network[] {
  const byName = new Map<string, Network>();
  for (const entry of Object.values(ledger.owners)) {
    if (entry.kind !== 'network') continue;
    const n = entry.record;
    const seen = byName.get(n.name);
    byName.set(n.name, seen ? { ...seen, v4: seen.v4 ?? n.v4, v6: seen.v6 ?? n.v6, proxyArp: seen.proxyArp || n.proxyArp, proxyNdp: seen.proxyNdp || n.proxyNdp } : n);
  }
  return [...byName.values()];
}

export function tapsBound(ledger: Ledger): TapBinding[] {
  return Object.values(ledger.owners).flatMap((e) => (e.kind === 'tap' ? [e.record] : []));
}

/** IFF_UP in /sys/class/net/DEV/flags */
function isUp(host: Host, dev: string): boolean {
  try {
    return (Number(host.readLink(dev, 'flags')) & 1) === 1;
  } catch {
    return false;
  }
}

function ifindex(host: Host, dev: string): number | undefined {
  try {
    return Number(host.readLink(dev, 'ifindex'));
  } catch {
    return undefined;
  }
}

/** `owner` defaults to the whole network; legacy stanzas apply one family as `network:NAME@inet`. */
export function networkUpOp(host: Host, n: Network, owner = networkOwner(n.name)): Operation {
  return {
    title: `up network ${n.name} (${n.role} on ${n.uplink})`,
    owner,
    decide: (ledger, mode) => {
      const index = ifindex(host, n.uplink);
      if (index === undefined && mode === 'apply') throw new UsageError(`uplink ${n.uplink} of network ${n.name} does not exist`);
      if (mode === 'apply' && !isUp(host, n.uplink)) throw new UsageError(`uplink ${n.uplink} of network ${n.name} is down: bring it up first (ifup does)`);
      const previous = ledger.owners[owner];
      return { entry: { kind: 'network', record: n, ...(index !== undefined ? { ifindex: index } : {}) }, steps: planNetwork(n), replace: previous !== undefined && previous.ifindex !== index };
    },
  };
}

export function networkDownOp(name: string, owner = networkOwner(name)): Operation {
  return { title: `down network ${name}`, owner, decide: () => null };
}

/**
 * Binds a VM NIC. The network comes from what is up (the ledger), else from vmrouter.conf (networks
 * brought up by expanded stanzas are not in the ledger).
 */
export function tapUpOp(host: Host, req: TapRequest, configured: () => Network[]): Operation {
  const owner = tapOwner(req.tap);
  return {
    title: `up TAP ${req.tap}`,
    owner,
    decide: (ledger, mode) => {
      const up = networksUp(ledger);
      const n = resolveNetwork(req, [...up, ...configured().filter((c) => !up.some((u) => u.name === c.name))]);
      const binding = bindTap(n, req);
      const clashes = bindingClashes(binding, tapsBound(ledger));
      if (clashes.length > 0) throw new UsageError(clashes.join('\n'));
      const index = ifindex(host, req.tap);
      if (index === undefined && mode === 'apply') throw new UsageError(`${req.labels.tap} ${req.tap}: no such interface`);
      const previous = ledger.owners[owner];
      return { entry: { kind: 'tap', record: binding, ...(index !== undefined ? { ifindex: index } : {}) }, steps: planTap(n, binding), replace: previous !== undefined && previous.ifindex !== index };
    },
  };
}

export function tapDownOp(tap: string): Operation {
  return { title: `down TAP ${tap}`, owner: tapOwner(tap), decide: () => null };
}
