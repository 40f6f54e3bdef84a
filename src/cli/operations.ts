/**
 * The operations the commands and hooks perform on feature attachments. Each says whose ledger files
 * it touches and decides, from the ledger as it is once the lock is held, what each owner should
 * hold; `up`, `--dry-run` and `plan` share this one code path. TAP bindings: tap-operations.ts.
 */
import { UsageError } from '../config/errors.js';
import type { Network } from '../model/network.js';
import type { Attachment, FeatureRecord } from '../features/feature.js';
import { ip } from '../plan/step.js';
import { featureOwner } from '../features/registry.js';
import type { Host } from '../exec/host.js';
import type { Ledger, OwnerEntry, Scope } from '../exec/ledger.js';
import type { Decision } from '../exec/runner.js';

/** 'preview' decisions (plan, --dry-run) do not require the devices to exist yet. */
export type Mode = 'apply' | 'preview';

export interface Operation {
  title: string;
  scope: Scope;
  decide: (ledger: Ledger, mode: Mode) => Decision[];
  /** applying it again repairs: what the ledger holds for its owners but the kernel lost is made again (Runner.transactMany) */
  verify?: boolean;
}

/** A feature attachment as the ledger holds it (not its dependants `OWNER/ITEM`). */
export interface Applied {
  owner: string;
  entry: Extract<OwnerEntry, { kind: 'feature' }>;
}

export function attachmentsUp(ledger: Ledger): Applied[] {
  return Object.entries(ledger.owners).flatMap(([owner, entry]) => (entry.kind === 'feature' && !owner.includes('/') && !owner.includes('#') ? [{ owner, entry }] : []));
}

/** Routed networks as applied: halves applied per address family (legacy stanzas) merged into one. */
export function networksUp(ledger: Ledger): Network[] {
  const byName = new Map<string, Network>();
  for (const { entry } of attachmentsUp(ledger)) {
    if (entry.feature !== 'network') continue;
    const n = entry.record as Network;
    const seen = byName.get(n.name);
    byName.set(n.name, seen ? { ...seen, v4: seen.v4 ?? n.v4, v6: seen.v6 ?? n.v6, proxyArp: seen.proxyArp || n.proxyArp, proxyNdp: seen.proxyNdp || n.proxyNdp } : n);
  }
  return [...byName.values()];
}

/** IFF_UP in /sys/class/net/DEV/flags */
export function isUp(host: Host, dev: string): boolean {
  try {
    return (Number(host.readLink(dev, 'flags')) & 1) === 1;
  } catch {
    return false;
  }
}

export function ifindex(host: Host, dev: string): number | undefined {
  try {
    return Number(host.readLink(dev, 'ifindex'));
  } catch {
    return undefined;
  }
}

/**
 * Applies one attachment of a record (the stanza of its interface carries `vmrouter-KIND NAME`).
 * `kept` is what the ledger keeps of the record (registry.ts keptRecord: its name by default) with the
 * attachment's summary: teardown needs only the objects, and a NAT pair's record (every entry of
 * its map) on each of its interfaces would make the index grow with entries × interfaces.
 */
export function featureUpOp(host: Host, kind: string, kept: FeatureRecord, attachment: Attachment, part?: string): Operation {
  const { name } = kept;
  const owner = featureOwner(kind, name, attachment.iface, part);
  const what = `${kind} ${name}`;
  return {
    title: `up ${what} on ${attachment.iface}${part ? ` (${part})` : ''}`,
    scope: { owners: [owner] },
    verify: true,
    decide: (ledger, mode) => {
      const index = ifindex(host, attachment.iface);
      if (mode === 'apply') {
        if (index === undefined) throw new UsageError(`${what}: interface ${attachment.iface} does not exist`);
        if (!isUp(host, attachment.iface)) throw new UsageError(`${what}: interface ${attachment.iface} is down: bring it up first (ifup does)`);
      }
      const previous = ledger.owners[owner];
      const entry = { kind: 'feature' as const, feature: kind, iface: attachment.iface, record: kept, summary: attachment.summary, ...(index !== undefined ? { ifindex: index } : {}) };
      return [{ owner, desired: { entry, steps: attachment.steps, replace: previous !== undefined && previous.ifindex !== index } }];
    },
  };
}

/**
 * Removes what the ledger says one attachment added, whatever the configuration says now: the
 * attachment, the stanzas of its interface told apart by part (`OWNER:inet`, snf-network's
 * families, all of them: ifupdown2's pre-down knows no family), and its dependants (`OWNER/ITEM`,
 * e.g. a virtual network's per-VM routes). Not the device vmrouter created (`OWNER#device`): that
 * goes in post-down, once ifupdown took the link down.
 */
export function featureDownOp(kind: string, name: string, iface: string): Operation {
  return ownerDownOp(featureOwner(kind, name, iface), `down ${kind} ${name} on ${iface}`);
}

export function ownerDownOp(owner: string, title: string): Operation {
  const mine = (o: string) => o === owner || o.startsWith(`${owner}:`) || o.startsWith(`${owner}/`);
  return {
    title,
    scope: { owners: [owner], prefixes: [`${owner}:`, `${owner}/`] },
    // dependants first, the attachment last
    decide: (ledger) => Object.keys(ledger.owners).filter(mine).sort((a, b) => Number(a === owner) - Number(b === owner)).map((o) => ({ owner: o, desired: null })),
  };
}

/** The owner of the device a stanza's ifup creates (Attachment.create). */
export const deviceOwner = (kind: string, name: string, iface: string): string => `${featureOwner(kind, name, iface)}#device`;

/**
 * Creates the device of a stanza (a virtual network's bridge) in pre-up, before ifupdown brings it
 * up. Its own owner: a failed ifup leaves it recorded, and the retry finds it made.
 */
export function deviceUpOp(kind: string, name: string, iface: string, create: { up: string[]; down: string[] }): Operation {
  const owner = deviceOwner(kind, name, iface);
  const step = ip(0, create.up.slice(1), create.down.slice(1), `${iface}: made by ifup, deleted by ifdown`);
  return {
    title: `create ${iface} for ${kind} ${name}`,
    scope: { owners: [owner] },
    verify: true,
    decide: () => [{ owner, desired: { entry: { kind: 'feature', feature: kind, iface, record: { name }, summary: `the device ${iface}` }, steps: [step] } }],
  };
}

export function deviceDownOp(kind: string, name: string, iface: string): Operation {
  const owner = deviceOwner(kind, name, iface);
  return { title: `delete ${iface} of ${kind} ${name}`, scope: { owners: [owner] }, decide: () => [{ owner, desired: null }] };
}

/**
 * After a failed up: the device that this attempt's pre-up made, unless the feature was already up
 * on it (ifupdown2's ifreload runs up again on a working stanza; its bridge carries VMs). ifupdown
 * runs no post-down after a failed ifup, so nothing else would delete it.
 */
export function orphanDeviceDownOp(kind: string, name: string, iface: string): Operation {
  const owner = deviceOwner(kind, name, iface);
  const feature = featureOwner(kind, name, iface);
  return {
    title: `delete ${iface} of ${kind} ${name} (its ifup failed)`,
    scope: { owners: [owner, feature] },
    decide: (ledger) => (ledger.owners[owner] && !ledger.owners[feature] ? [{ owner, desired: null }] : []),
  };
}

/**
 * `vmrouter repair`: every owner applied again as the ledger has it, so that what the kernel lost
 * or changed is made again (verify), and TAPs whose device is gone released.
 */
export function repairOp(stale: ReadonlySet<string>): Operation {
  return {
    title: 'repair',
    scope: 'all',
    verify: true,
    decide: (ledger) =>
      Object.entries(ledger.owners).map(([owner, entry]) => {
        if (stale.has(owner)) return { owner, desired: null };
        const { keys = [], since: _since, ...rest } = entry;
        return { owner, desired: { entry: rest, steps: keys.flatMap((k) => (ledger.objects[k] ? [ledger.objects[k]!.step] : [])) } };
      }),
  };
}
