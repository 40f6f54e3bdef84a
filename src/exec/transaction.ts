/**
 * Pure part of the runner: given the ledger and what an owner wants now, which objects must be
 * created and which removed. Objects held by several owners are created once and removed with their
 * last holder; an object that already existed before vmrouter (the kernel said "exists") is left to
 * whoever made it.
 *
 * computeTransaction updates the ledger it is given as if every action will succeed; `settle` then
 * records what the kernel actually said. The ledger is the caller's private copy: on failure it is
 * simply not saved.
 */
import { isHeld, type AnnounceStep, type HeldStep, type Step } from '../plan/step.js';
import { MAIN, type Ledger, type LedgerObject, type OwnerEntry } from './ledger.js';

export interface Action {
  op: 'do' | 'undo';
  step: HeldStep;
  /** for undo of sysctl/mac: the value to put back */
  restore?: string;
}

export type Outcome = { status: 'done'; restore?: string } | { status: 'foreign' } | { status: 'gone' };

export interface TxPlan {
  owner: string;
  actions: Action[];
  announces: AnnounceStep[];
  /** objects another owner holds with different content: the transaction must not run */
  conflicts: string[];
  /** after the actions ran: keep restore values, forget objects that turned out not to be ours */
  settle(outcomes: Outcome[]): void;
}

/** An owner entry as a transaction wants it (the ledger adds `keys` and `since`); per kind of owner. */
export type WantedEntry = OwnerEntry extends infer E ? (E extends OwnerEntry ? Omit<E, 'keys' | 'since'> : never) : never;

export type Desired = {
  entry: WantedEntry;
  steps: Step[];
  /** the owner's device was re-created (new ifindex): what the ledger holds for it may be gone, redo all */
  replace?: boolean;
} | null;

/** Same object with the same content. Shared objects (nft tables) are identified by key alone. */
function same(a: HeldStep, b: HeldStep): boolean {
  if (a.key !== b.key) return false;
  if (a.shared && b.shared) return true;
  const { why: _a, ...ra } = a;
  const { why: _b, ...rb } = b;
  return JSON.stringify(ra) === JSON.stringify(rb);
}

const tableKey = (table: string): string => `nft table ${table}`;

/**
 * An element is still in the kernel only if its table was not re-created since it was added.
 * Generation 0: the table was not vmrouter's record (made by an expanded stanza), so nothing says
 * it was re-created.
 */
function current(ledger: Ledger, obj: LedgerObject): boolean {
  if (obj.step.kind !== 'nft' || !obj.step.within) return true;
  return obj.generation === (ledger.objects[tableKey(obj.step.within)]?.generation ?? 0);
}

/**
 * `redo`: keys of objects the ledger holds but the kernel lost or changed (doctor/check.ts). They are
 * created again as they were applied — the ledger entry, its holders and the value to restore stay —
 * and each key once, whichever owner of the transaction reaches it first (the set is consumed).
 */
export interface TxOptions {
  now?: Date;
  redo?: Set<string>;
  /**
   * Tables of `redo` whose every element is in `redo` too: made again with all their contents in
   * the same transaction, they stay the same incarnation (the elements' records, and so the owners'
   * files, need not change).
   */
  whole?: ReadonlySet<string>;
}

/** A route that is there otherwise than applied is replaced, not added beside ("File exists"). */
function redoStep(step: HeldStep): HeldStep {
  if (step.kind === 'ip' && step.args[0] === 'route' && step.args[1] === 'add') return { ...step, args: ['route', 'replace', ...step.args.slice(2)] };
  return step;
}

export function computeTransaction(ledger: Ledger, owner: string, desired: Desired, opts: TxOptions | Date = {}): TxPlan {
  const { now = new Date(), redo = new Set<string>(), whole = new Set<string>() } = opts instanceof Date ? { now: opts } : opts;
  const previous = ledger.owners[owner];
  if (previous && previous.keys === undefined) throw new Error(`ledger of ${owner} was not loaded`);
  const held = previous?.keys ?? [];
  const wanted = (desired?.steps ?? []).filter(isHeld);
  const want = new Map(wanted.map((s) => [s.key, s]));
  // a table made again is a new incarnation: the elements in it are gone with the old one
  const redone: Action[] = [];
  for (const s of wanted) {
    const obj = ledger.objects[s.key];
    if (!obj || !redo.has(s.key) || desired?.replace) continue;
    redo.delete(s.key);
    if (obj.step.kind === 'nft' && obj.step.provides && !whole.has(s.key)) obj.generation = ++ledger.generation;
    redone.push({ op: 'do', step: redoStep(obj.step) });
  }
  const keep = new Set(
    desired?.replace
      ? []
      : held.filter((k) => {
          const obj = ledger.objects[k];
          const w = want.get(k);
          return obj !== undefined && w !== undefined && same(obj.step, w) && current(ledger, obj);
        }),
  );
  const releaseKeys = held.filter((k) => !keep.has(k)).reverse();
  const acquire = wanted.filter((s) => !keep.has(s.key));
  const announces = (desired?.steps ?? []).filter((s): s is AnnounceStep => s.kind === 'announce');

  const conflicts: string[] = [];
  for (const s of acquire) {
    const obj = ledger.objects[s.key];
    const others = obj ? obj.holders.filter((h) => h !== owner) : [];
    if (obj && others.length > 0 && !same(obj.step, s)) conflicts.push(`${describe(s)} is already set differently for ${others.join(', ')}`);
  }
  if (conflicts.length > 0) return { owner, actions: [], announces: [], conflicts, settle: () => undefined };

  const actions: Action[] = [...redone];
  for (const k of releaseKeys) {
    const obj = ledger.objects[k];
    if (!obj) continue;
    obj.holders = obj.holders.filter((h) => h !== owner);
    if (obj.holders.length > 0) continue;
    delete ledger.objects[k];
    // an element whose table was re-created is already gone: nothing to run
    if (current(ledger, obj)) actions.push({ op: 'undo', step: obj.step, ...(obj.restore !== undefined ? { restore: obj.restore } : {}) });
  }

  // Where the ledger keeps each new object: in the owner's own file, so that applying one owner
  // reads and writes a few kilobytes however many owners the node has (a TAP among thousands, one
  // interface of a 138-interface NAT pair). Settings of a device another owner may also configure
  // (sysctls and MACs of an interface several features attach to) stay in the main file, which
  // every load reads, so that a second owner sees them held and neither restores them too early.
  // A TAP's device is its own: its settings go with it.
  const homeOf = (s: HeldStep): string => (s.shared ? MAIN : (s.kind === 'sysctl' || s.kind === 'mac' || s.kind === 'link-up') && desired?.entry.kind !== 'tap' ? MAIN : owner);
  const gained: string[] = [];
  /** action index → key it creates */
  const created = new Map<number, string>();
  for (const s of acquire) {
    const obj = ledger.objects[s.key];
    if (obj && obj.holders.some((h) => h !== owner)) {
      if (!obj.holders.includes(owner)) obj.holders.push(owner);
      gained.push(s.key);
      continue;
    }
    const fresh: LedgerObject = { step: s, holders: [owner], home: homeOf(s) };
    if (s.kind === 'nft' && s.provides) fresh.generation = ++ledger.generation;
    if (s.kind === 'nft' && s.within) fresh.generation = ledger.objects[tableKey(s.within)]?.generation ?? 0;
    ledger.objects[s.key] = fresh;
    created.set(actions.length, s.key);
    actions.push({ op: 'do', step: s });
    gained.push(s.key);
  }

  const keys = [...held.filter((k) => keep.has(k)), ...gained];
  if (desired === null) delete ledger.owners[owner];
  else ledger.owners[owner] = { ...desired.entry, since: previous?.since ?? now.toISOString(), keys } as OwnerEntry;

  const settle = (outcomes: Outcome[]): void => {
    for (const [index, key] of created) {
      const outcome = outcomes[index];
      const obj = ledger.objects[key];
      if (!obj) continue;
      if (outcome?.status === 'done') {
        if (outcome.restore !== undefined) obj.restore = outcome.restore;
        continue;
      }
      // foreign: somebody else's object, not ours to remove later
      delete ledger.objects[key];
      const entry = ledger.owners[owner];
      if (entry?.keys) entry.keys = entry.keys.filter((k) => k !== key);
    }
  };
  return { owner, actions, announces, conflicts, settle };
}

export function describe(s: HeldStep): string {
  switch (s.kind) {
    case 'sysctl':
      return `${s.path}=${s.value}`;
    case 'mac':
      return `MAC of ${s.dev}`;
    case 'link-up':
      return `${s.dev} up`;
    default:
      return s.key;
  }
}
