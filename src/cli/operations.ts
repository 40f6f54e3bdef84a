/**
 * The operations the commands and hooks perform. Each says whose ledger files it touches and decides,
 * from the ledger as it is once the lock is held, what each owner should hold; `up`, `--dry-run` and
 * `plan` share this one code path.
 */
import type { BindingLine } from '../config/bindings.js';
import { UsageError } from '../config/errors.js';
import type { TapBinding } from '../model/binding.js';
import type { Network } from '../model/network.js';
import { bindingClashes, bindTap, resolveNetwork, type TapRequest } from '../model/tap-request.js';
import { planNetwork, planTap } from '../features/routed.js';
import type { Attachment } from '../features/feature.js';
import { featureOwner } from '../features/registry.js';
import type { Host } from '../exec/host.js';
import { networkOwner, tapOwner, type Ledger, type Scope } from '../exec/ledger.js';
import type { Decision } from '../exec/runner.js';

/** 'preview' decisions (plan, --dry-run) do not require the devices to exist yet. */
export type Mode = 'apply' | 'preview';

export interface Operation {
  title: string;
  scope: Scope;
  decide: (ledger: Ledger, mode: Mode) => Decision[];
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
    scope: { owners: [owner] },
    decide: (ledger, mode) => {
      const index = ifindex(host, n.uplink);
      if (mode === 'apply') {
        if (index === undefined) throw new UsageError(`uplink ${n.uplink} of network ${n.name} does not exist`);
        if (!isUp(host, n.uplink)) throw new UsageError(`uplink ${n.uplink} of network ${n.name} is down: bring it up first (ifup does)`);
      }
      const previous = ledger.owners[owner];
      const desired = { entry: { kind: 'network' as const, record: n, ...(index !== undefined ? { ifindex: index } : {}) }, steps: planNetwork(n), replace: previous !== undefined && previous.ifindex !== index };
      return [{ owner, desired }];
    },
  };
}

export function networkDownOp(name: string, owner = networkOwner(name)): Operation {
  return { title: `down network ${name}`, scope: { owners: [owner] }, decide: () => [{ owner, desired: null }] };
}

/** The network a request means: what is up (the ledger), else vmrouter.conf (expanded stanzas record nothing). */
function networkFor(req: TapRequest, ledger: Ledger, configured: () => Network[]): Network {
  const up = networksUp(ledger);
  return resolveNetwork(req, [...up, ...configured().filter((c) => !up.some((u) => u.name === c.name))]);
}

/** What binding `req` means for `owner`, checked against the device. */
function tapDecision(host: Host, ledger: Ledger, n: Network, req: TapRequest, mode: Mode): Decision {
  const owner = tapOwner(req.tap);
  const binding = bindTap(n, req);
  const index = ifindex(host, req.tap);
  if (index === undefined && mode === 'apply') throw new UsageError(`${req.labels.tap} ${req.tap}: no such interface`);
  const previous = ledger.owners[owner];
  return { owner, desired: { entry: { kind: 'tap', record: binding, ...(index !== undefined ? { ifindex: index } : {}) }, steps: planTap(n, binding), replace: previous !== undefined && previous.ifindex !== index } };
}

export function tapUpOp(host: Host, req: TapRequest, configured: () => Network[]): Operation {
  const owner = tapOwner(req.tap);
  return {
    title: `up TAP ${req.tap}`,
    scope: { owners: [owner] },
    decide: (ledger, mode) => {
      const n = networkFor(req, ledger, configured);
      const decision = tapDecision(host, ledger, n, req, mode);
      const clashes = bindingClashes((decision.desired!.entry as { record: TapBinding }).record, tapsBound(ledger));
      if (clashes.length > 0) throw new UsageError(clashes.join('\n'));
      return [decision];
    },
  };
}

export function tapDownOp(tap: string): Operation {
  const owner = tapOwner(tap);
  return { title: `down TAP ${tap}`, scope: { owners: [owner] }, decide: () => [{ owner, desired: null }] };
}

/**
 * Brings the TAPs of a network to exactly `lines`: binds the missing, re-binds the changed (or
 * re-created), unbinds the stale, leaves the rest alone — one transaction. Every problem of the
 * list is reported before anything runs.
 */
export function tapSyncOp(host: Host, network: string, lines: BindingLine[], configured: () => Network[]): Operation {
  return {
    title: `sync TAPs of network ${network} (${lines.length} listed)`,
    scope: 'all',
    decide: (ledger, mode) => {
      const requests: TapRequest[] = lines.map((l) => ({
        network,
        link: null,
        tap: l.tap,
        mac: l.mac,
        ips: l.ips,
        ip6s: l.ip6s,
        claims: [],
        labels: { tap: `${l.where}: TAP`, mac: `${l.where}: MAC`, ip: `${l.where}: address`, ip6: `${l.where}: address`, network: '--network' },
      }));
      const n = [...networksUp(ledger), ...configured()].find((x) => x.name === network);
      if (!n) throw new UsageError(`--network ${network}: no such network (not up, and not in the configuration)`);
      if (n.role === 'router') throw new UsageError(`network ${n.name} has role router: it hosts no VMs`);
      const listed = new Set(lines.map((l) => l.tap));
      const problems: string[] = [];
      const decisions: Decision[] = [];
      const taken = new Map<string, string>();
      for (const b of tapsBound(ledger)) if (!listed.has(b.tap) && b.network !== n.name) for (const a of [...b.ips, ...b.ip6s]) taken.set(a, `${b.tap} (network ${b.network})`);
      for (const req of requests) {
        try {
          const d = tapDecision(host, ledger, n, req, mode);
          const binding = (d.desired!.entry as { record: TapBinding }).record;
          for (const a of [...binding.ips, ...binding.ip6s]) {
            const other = taken.get(a);
            if (other) problems.push(`${req.labels.ip} ${a}: already bound to ${other}`);
            else taken.set(a, req.tap);
          }
          decisions.push(d);
        } catch (e) {
          if (!(e instanceof UsageError)) throw e;
          problems.push(e.message);
        }
      }
      if (problems.length > 0) throw new UsageError(problems.join('\n'));
      for (const b of tapsBound(ledger)) if (b.network === n.name && !listed.has(b.tap)) decisions.push({ owner: tapOwner(b.tap), desired: null });
      return decisions;
    },
  };
}

/**
 * Applies one attachment of a feature record (the stanza of `iface` carries `vmrouter-KIND NAME`).
 * The ledger keeps the record's name and the attachment's summary, not the record: teardown needs
 * only the objects, and a NAT pair's record (every entry of its map) on each of its interfaces
 * would make the index grow with entries × interfaces.
 */
export function featureUpOp(host: Host, kind: string, name: string, attachment: Attachment): Operation {
  const owner = featureOwner(kind, name, attachment.iface);
  return {
    title: `up ${kind} ${name} on ${attachment.iface}`,
    scope: { owners: [owner] },
    decide: (ledger, mode) => {
      const index = ifindex(host, attachment.iface);
      if (mode === 'apply') {
        if (index === undefined) throw new UsageError(`${kind} ${name}: interface ${attachment.iface} does not exist`);
        if (!isUp(host, attachment.iface)) throw new UsageError(`${kind} ${name}: interface ${attachment.iface} is down: bring it up first (ifup does)`);
      }
      const previous = ledger.owners[owner];
      const entry = { kind: 'feature' as const, feature: kind, iface: attachment.iface, record: { name }, summary: attachment.summary, ...(index !== undefined ? { ifindex: index } : {}) };
      return [{ owner, desired: { entry, steps: attachment.steps, replace: previous !== undefined && previous.ifindex !== index } }];
    },
  };
}

/**
 * Removes what the ledger says one attachment added, whatever the configuration says now, and what
 * its dependants (owners named `OWNER/ITEM`, e.g. a virtual network's per-VM routes) hold.
 */
export function featureDownOp(kind: string, name: string, iface: string): Operation {
  const owner = featureOwner(kind, name, iface);
  return {
    title: `down ${kind} ${name} on ${iface}`,
    scope: { owners: [owner], prefixes: [`${owner}/`] },
    decide: (ledger) => [...Object.keys(ledger.owners).filter((o) => o.startsWith(`${owner}/`)).map((o) => ({ owner: o, desired: null })), { owner, desired: null }],
  };
}
