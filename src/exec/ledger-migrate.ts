/**
 * Ledgers written by vmrouter 0.1.0, read by this release: routed networks were owners of their
 * own kind, `network:NAME` (compact stanzas) or `network:NAME@inet` / `@inet6` (snf-network stanzas,
 * one address family each), with their keys inline in ledger.json. They are now attachments like
 * every feature's: `network:NAME@UPLINK` and `network:NAME@UPLINK:inet`. Loading renames them (in
 * the index and in the holders of every object in the main file; their objects were all there), so
 * `ifdown` after an upgrade removes exactly what the old release applied. The next save writes the
 * new names.
 */
import type { Network } from '../model/network.js';
import type { LedgerObject, OwnerEntry } from './ledger.js';

/** An owner entry of 0.1.0 for a routed network. */
interface NetworkEntry {
  kind: 'network';
  record: Network;
  since: string;
  ifindex?: number;
  keys?: string[];
}

export interface LedgerIndex {
  owners: Record<string, OwnerEntry | NetworkEntry>;
  objects: Record<string, LedgerObject>;
}

/** The new name of a 0.1.0 network owner. */
function renamed(owner: string, e: NetworkEntry): string {
  const [, name = '', family] = /^network:([^@]*)(?:@(inet6?))?$/.exec(owner) ?? [];
  return `network:${name}@${e.record.uplink}${family ? `:${family}` : ''}`;
}

/** Renames 0.1.0 network owners in place; returns whether anything changed. */
export function migrateNetworkOwners(index: LedgerIndex): boolean {
  const names = new Map<string, string>();
  for (const [owner, e] of Object.entries(index.owners)) {
    if (e.kind !== 'network') continue;
    const to = renamed(owner, e);
    names.set(owner, to);
    delete index.owners[owner];
    const { kind: _kind, record, ...rest } = e;
    index.owners[to] = { ...rest, kind: 'feature', feature: 'network', iface: record.uplink, record, summary: `role ${record.role}${record.table !== null ? `, table ${record.table}` : ''}` };
  }
  if (names.size === 0) return false;
  for (const obj of Object.values(index.objects)) {
    obj.holders = obj.holders.map((h) => names.get(h) ?? h);
    obj.home = names.get(obj.home) ?? obj.home;
  }
  return true;
}
