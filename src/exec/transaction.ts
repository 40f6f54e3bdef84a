/**
 * Pure part of the runner: given the ledger and what an owner wants now, which objects must be
 * created and which removed. Objects held by several owners are created once and removed with their
 * last holder; an object that already existed before vmrouter (the kernel said "exists") is left to
 * whoever made it.
 */
import { isHeld, type AnnounceStep, type HeldStep, type Step } from '../plan/step.js';
import type { Ledger, OwnerEntry } from './ledger.js';

export interface Action {
  op: 'do' | 'undo';
  step: HeldStep;
  /** for undo of sysctl/mac: the value to put back */
  restore?: string;
}

export type Outcome = { status: 'done'; restore?: string } | { status: 'foreign' } | { status: 'gone' };

export interface TxPlan {
  actions: Action[];
  announces: AnnounceStep[];
  /** objects another owner holds with different content: the transaction must not run */
  conflicts: string[];
  /** the ledger after the actions ran with these outcomes (one per action) */
  commit(outcomes: Outcome[]): Ledger;
}

/** Same object with the same content. Shared objects (nft tables) are identified by key alone. */
function same(a: HeldStep, b: HeldStep): boolean {
  if (a.key !== b.key) return false;
  if (a.shared && b.shared) return true;
  const { why: _a, ...ra } = a;
  const { why: _b, ...rb } = b;
  return JSON.stringify(ra) === JSON.stringify(rb);
}

export type Desired = {
  entry: Omit<OwnerEntry, 'keys' | 'since'>;
  steps: Step[];
  /** the owner's device was re-created (new ifindex): what the ledger holds for it may be gone, redo all */
  replace?: boolean;
} | null;

export function computeTransaction(ledger: Ledger, owner: string, desired: Desired, now = new Date()): TxPlan {
  const current = ledger.owners[owner];
  const held = current?.keys ?? [];
  const wanted = (desired?.steps ?? []).filter(isHeld);
  const want = new Map(wanted.map((s) => [s.key, s]));
  const keep = desired?.replace ? [] : held.filter((k) => {
    const obj = ledger.objects[k];
    const w = want.get(k);
    return obj !== undefined && w !== undefined && same(obj.step, w);
  });
  const keepSet = new Set(keep);
  const releaseKeys = held.filter((k) => !keepSet.has(k)).reverse();
  const acquire = wanted.filter((s) => !keepSet.has(s.key));

  const conflicts: string[] = [];
  const actions: Action[] = [];
  /** index into `actions` for each acquire step, or -1 when another owner already holds it */
  const acquireAction: number[] = [];

  for (const k of releaseKeys) {
    const obj = ledger.objects[k];
    if (!obj) continue;
    if (obj.holders.every((h) => h === owner)) actions.push({ op: 'undo', step: obj.step, ...(obj.restore !== undefined ? { restore: obj.restore } : {}) });
  }
  for (const s of acquire) {
    const obj = ledger.objects[s.key];
    const others = obj ? obj.holders.filter((h) => h !== owner) : [];
    if (obj && others.length > 0) {
      if (!same(obj.step, s)) conflicts.push(`${describe(s)} is already set differently for ${others.join(', ')}`);
      acquireAction.push(-1);
    } else {
      acquireAction.push(actions.length);
      actions.push({ op: 'do', step: s });
    }
  }

  const commit = (outcomes: Outcome[]): Ledger => {
    const next: Ledger = structuredClone(ledger);
    for (const k of releaseKeys) {
      const obj = next.objects[k];
      if (!obj) continue;
      obj.holders = obj.holders.filter((h) => h !== owner);
      if (obj.holders.length === 0) delete next.objects[k];
    }
    // Removing an nft table removed everything in it, whoever held it.
    tx.actions.forEach((a, i) => {
      const table = a.op === 'undo' && a.step.kind === 'nft' ? a.step.provides : undefined;
      if (!table || outcomes[i]?.status === undefined) return;
      for (const [key, obj] of Object.entries(next.objects)) {
        if (obj.step.kind !== 'nft' || obj.step.within !== table) continue;
        delete next.objects[key];
        for (const entry of Object.values(next.owners)) entry.keys = entry.keys.filter((k) => k !== key);
      }
    });
    const gained: string[] = [];
    acquire.forEach((s, i) => {
      const at = acquireAction[i]!;
      if (at < 0) {
        next.objects[s.key]!.holders.push(owner);
        gained.push(s.key);
        return;
      }
      const outcome = outcomes[at];
      if (outcome?.status !== 'done') return; // foreign: not ours to remove later
      next.objects[s.key] = { step: s, holders: [owner], ...(outcome.restore !== undefined ? { restore: outcome.restore } : {}) };
      gained.push(s.key);
    });
    if (desired === null) delete next.owners[owner];
    else next.owners[owner] = { ...desired.entry, keys: [...keep.filter((k) => next.objects[k] !== undefined), ...gained], since: current?.since ?? now.toISOString() } as OwnerEntry;
    return next;
  };

  const announces = (desired?.steps ?? []).filter((s): s is AnnounceStep => s.kind === 'announce');
  const tx: TxPlan = { actions, announces, conflicts, commit };
  return tx;
}

export function describe(s: HeldStep): string {
  switch (s.kind) {
    case 'sysctl':
      return `${s.path}=${s.value}`;
    case 'mac':
      return `MAC of ${s.dev}`;
    default:
      return s.key;
  }
}
