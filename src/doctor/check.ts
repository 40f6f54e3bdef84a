/**
 * The ledger against the kernel (pure): every object the ledger says is applied, looked up in what
 * the kernel holds now (exec/kernel-state.ts). What `vmrouter doctor` prints, `vmrouter repair`
 * and the reconciler act on, and `status` counts.
 */
import type { Ledger, LedgerObject } from '../exec/ledger.js';
import type { KernelState } from '../exec/kernel-state.js';
import { describe } from '../exec/transaction.js';
import { probeOf } from './identity.js';

export type Finding =
  /** the ledger holds it, the kernel does not */
  | { kind: 'missing'; key: string; holders: string[]; what: string }
  /** the kernel has it otherwise than it was applied */
  | { kind: 'differs'; key: string; holders: string[]; what: string; now: string }
  /** a TAP owner whose device is gone or was re-created: the VM died without `tap down` */
  | { kind: 'stale'; owner: string; what: string }
  /** stamped as vmrouter's (proto 86, a vmrouter nft table) but held by no owner */
  | { kind: 'unowned'; what: string };

export interface CheckInput {
  ledger: Ledger;
  kernel: KernelState;
  /** the value of a sysctl now (slash form), null when it does not exist */
  sysctl: (path: string) => string | null;
}

/** nft tables vmrouter makes: `inet vmrouter`, `ip vmrouter-natpair-pod1`, `ip vmrouter_vnet`, … */
const VMROUTER_TABLE = /^(inet|arp|ip|ip6|bridge|netdev) vmrouter([-_]|$)/;

function checkObject(obj: LedgerObject, input: CheckInput): Finding | null {
  const { kernel } = input;
  const p = probeOf(obj.step);
  const base = { key: obj.step.key, holders: obj.holders, what: describe(obj.step) };
  switch (p.kind) {
    case 'route':
    case 'rule':
    case 'neigh':
    case 'addr':
    case 'nexthop':
      return kernel.objects.has(p.id) ? null : { kind: 'missing', ...base, what: p.id };
    case 'link': {
      const l = kernel.links.get(p.dev);
      if (!l) return p.want === 'exists' ? { kind: 'missing', ...base, what: `device ${p.dev}` } : null; // its device's own finding says it
      if (p.want === 'up' && !l.up) return { kind: 'differs', ...base, what: `${p.dev} up`, now: 'down' };
      if (typeof p.want === 'object' && l.master !== p.want.master) return { kind: 'differs', ...base, what: `${p.dev} enslaved to ${p.want.master}`, now: l.master ? `enslaved to ${l.master}` : 'not enslaved' };
      return null;
    }
    case 'table': {
      const t = kernel.tables.get(p.table);
      if (!t) return { kind: 'missing', ...base, what: `nft table ${p.table}` };
      if (obj.fingerprint !== undefined && obj.fingerprint !== t.fingerprint) return { kind: 'differs', ...base, what: `chains and rules of nft table ${p.table}`, now: 'edited since vmrouter applied it' };
      return null;
    }
    case 'element': {
      const t = kernel.tables.get(p.table);
      return t?.sets.get(p.set)?.has(p.element) ? null : { kind: 'missing', ...base, what: `element ${p.element} of ${p.table} ${p.set}` };
    }
    case 'sysctl': {
      const now = input.sysctl(p.path);
      if (now === null) return null; // the device it belongs to is gone: its owner's finding says so
      return now === p.value ? null : { kind: 'differs', ...base, what: `${p.path} = ${p.value}`, now };
    }
    case 'mac': {
      const l = kernel.links.get(p.dev);
      if (!l) return null;
      return l.mac === p.mac ? null : { kind: 'differs', ...base, what: `MAC of ${p.dev} ${p.mac}`, now: l.mac };
    }
    case 'unchecked':
      return null;
  }
}

export function check(input: CheckInput): Finding[] {
  const { ledger, kernel } = input;
  const findings: Finding[] = [];
  // TAPs gone or re-created under the same name (another ifindex): what their owner holds is not
  // what it applied, and nobody will run `tap down` for them
  const stale = new Set<string>();
  for (const [owner, entry] of Object.entries(ledger.owners)) {
    if (entry.kind !== 'tap') continue;
    const link = kernel.links.get(entry.record.tap);
    if (!link) findings.push({ kind: 'stale', owner, what: `TAP ${entry.record.tap} no longer exists` });
    else if (entry.ifindex !== undefined && link.ifindex !== entry.ifindex) findings.push({ kind: 'stale', owner, what: `TAP ${entry.record.tap} was re-created (ifindex ${entry.ifindex} → ${link.ifindex})` });
    else continue;
    stale.add(owner);
  }
  const owned = new Set<string>();
  for (const obj of Object.values(ledger.objects)) {
    const p = probeOf(obj.step);
    if (p.kind === 'route' || p.kind === 'rule') owned.add(p.id);
    if (obj.holders.every((h) => stale.has(h))) continue;
    const f = checkObject(obj, input);
    if (f) findings.push(f);
  }
  for (const id of kernel.stamped) if (!owned.has(id)) findings.push({ kind: 'unowned', what: id });
  const tablesOwned = new Set(Object.values(ledger.objects).flatMap((o) => (o.step.kind === 'nft' && o.step.provides ? [o.step.provides] : [])));
  for (const t of kernel.tables.keys()) if (VMROUTER_TABLE.test(t) && !tablesOwned.has(t)) findings.push({ kind: 'unowned', what: `nft table ${t}` });
  return findings;
}

/** Whom a finding concerns, for grouping: the first holder (an attachment or a TAP), or "(nobody)". */
export const ownerOf = (f: Finding): string => (f.kind === 'stale' ? f.owner : f.kind === 'unowned' ? '(nobody)' : (f.holders[0] ?? '(nobody)'));
