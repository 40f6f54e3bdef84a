/**
 * TAP bindings: the one thing only routed networks have. A VM NIC binds to a routed network as it is
 * applied (the ledger keeps the network's record), or as configured (expanded stanzas record
 * nothing); each TAP is its own ledger owner, `tap:TAP`, whose objects live in its own file.
 */
import type { BindingLine } from '../config/bindings.js';
import { UsageError } from '../config/errors.js';
import type { TapBinding } from '../model/binding.js';
import type { Network } from '../model/network.js';
import { bindingClashes, bindTap, resolveNetwork, type TapRequest } from '../model/tap-request.js';
import { planTap } from '../features/routed.js';
import type { Host } from '../exec/host.js';
import { tapOwner, type Ledger } from '../exec/ledger.js';
import type { Decision } from '../exec/runner.js';
import { ifindex, networksUp, type Mode, type Operation } from './operations.js';

export function tapsBound(ledger: Ledger): TapBinding[] {
  return Object.values(ledger.owners).flatMap((e) => (e.kind === 'tap' ? [e.record] : []));
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
    verify: true,
    decide: (ledger, mode) => {
      const n = networkFor(req, ledger, configured);
      const decision = tapDecision(host, ledger, n, req, mode);
      const clashes = bindingClashes((decision.desired!.entry as { record: TapBinding }).record, tapsBound(ledger));
      if (clashes.length > 0) throw new UsageError(clashes.join('\n'));
      return [decision];
    },
  };
}

/** `network`: what the hypervisor's script says the NIC's network is; a TAP bound to another is refused. */
export function tapDownOp(tap: string, network?: string): Operation {
  const owner = tapOwner(tap);
  return {
    title: `down TAP ${tap}`,
    scope: { owners: [owner] },
    decide: (ledger) => {
      const bound = ledger.owners[owner];
      if (network !== undefined && bound?.kind === 'tap' && bound.record.network !== network) throw new UsageError(`--tap ${tap} is bound to network ${bound.record.network}, not ${network}: nothing was unbound`);
      return [{ owner, desired: null }];
    },
  };
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
    verify: true,
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
 * Unbinds the TAPs of `network` bound with `mac`: libvirt's domain XML at `stopped end` no longer
 * names a TAP libvirt chose itself (vnetN), only the NIC's MAC.
 */
export function tapDownByMacOp(mac: string, network: string): Operation {
  return {
    title: `down the TAP of MAC ${mac} (network ${network})`,
    scope: 'all',
    decide: (ledger) => tapsBound(ledger).filter((b) => b.mac === mac && b.network === network).map((b) => ({ owner: tapOwner(b.tap), desired: null })),
  };
}
