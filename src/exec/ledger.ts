/**
 * The ledger: every kernel object and setting vmrouter created, who holds it, and what it replaced.
 * `down` removes exactly what the ledger says `up` added (not what the config says now), so editing
 * vmrouter.conf between ifup and ifdown never leaves anything behind.
 *
 * On disk, per network namespace: `ledger.json` holds the owners index (every network, TAP and
 * feature attachment with its record) and the objects several owners may need (shared ones, and
 * settings of interfaces); each owner's own objects are in `owners/OWNER.json`. So applying one
 * owner reads and writes a few kilobytes however many the node carries, and a crash can only lose
 * the file being renamed into place. Ledgers of the previous release kept the objects of networks
 * and features in ledger.json with their keys inline: they load as they are and move into owner
 * files the next time those owners change.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { TapBinding } from '../model/binding.js';
import type { FeatureRecord } from '../features/feature.js';
import type { HeldStep } from '../plan/step.js';
import { migrateNetworkOwners, type LedgerIndex } from './ledger-migrate.js';
import type { NetnsIdentity } from './state-dir.js';

export const MAIN = 'main';

export interface LedgerObject {
  step: HeldStep;
  /** owners that need it, in the order they acquired it */
  holders: string[];
  /** the value a sysctl or MAC had before vmrouter set it */
  restore?: string;
  /** which file keeps it: MAIN or the TAP owner whose alone it is */
  home: string;
  /** for a table: its incarnation; for an element: the incarnation of its table it was added to */
  generation?: number;
  /** for a table: its chains and rules as the kernel listed them once applied (exec/kernel-state.ts), for doctor */
  fingerprint?: string;
}

/** `ifindex` of the owner's device when it was applied: a re-created device starts from scratch. */
export type OwnerEntry = (
  | { kind: 'tap'; record: TapBinding }
  /** an attachment of a registered feature (features/registry.ts, routed networks too) to one interface */
  | { kind: 'feature'; feature: string; iface: string; record: FeatureRecord; summary?: string }
) & {
  since: string;
  ifindex?: number;
  /** keys of the objects it holds, in acquisition order; absent when its file was not loaded */
  keys?: string[];
};

export interface Ledger {
  version: 2;
  netns: NetnsIdentity;
  /** counter for table incarnations */
  generation: number;
  objects: Record<string, LedgerObject>;
  owners: Record<string, OwnerEntry>;
}

export const tapOwner = (tap: string): string => `tap:${tap}`;
/**
 * `tap:tap0` → `tap_tap0.json`, `natpair:pod1@tr0` → `natpair_pod1=tr0.json`, `vnet:n@br0/vm1` →
 * `vnet_n=br0,vm1.json`. One-to-one: kinds are single words, and names never contain ":", "@",
 * "/", "=" or "," (model/names.ts). TAP files keep the name the previous release gave them.
 */
const ownerFile = (owner: string): string => `${owner.replace(':', '_').replace(/@/g, '=').replace(/\//g, ',')}.json`;

export function emptyLedger(netns: NetnsIdentity): Ledger {
  return { version: 2, netns, generation: 0, objects: {}, owners: {} };
}

/** Which owners' files to read besides the main file: these owners, and every owner under a prefix (an attachment's dependants, `OWNER/`). */
export type Scope = { owners: string[]; prefixes?: string[] } | 'all';

interface MainFile {
  version: 2;
  netns: NetnsIdentity;
  generation: number;
  owners: Record<string, OwnerEntry>;
  objects: Record<string, LedgerObject>;
}

interface OwnerFile {
  keys: string[];
  objects: Record<string, LedgerObject>;
}

export class LedgerStore {
  readonly file: string;
  readonly ownersDir: string;
  /** owner files as read by the last load, to write back only what changed */
  private loadedOwnerText = new Map<string, string>();

  constructor(
    readonly dir: string,
    readonly netns: NetnsIdentity,
  ) {
    this.file = join(dir, 'ledger.json');
    this.ownersDir = join(dir, 'owners');
  }

  private readMain(): MainFile | null {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const main = JSON.parse(text) as MainFile;
    if (main.version !== 2) throw new Error(`${this.file}: unknown ledger version ${String(main.version)}; remove it only if nothing vmrouter applied is left`);
    // Written in another namespace that had this name (deleted and re-created since): the kernel
    // objects it lists died with that namespace.
    if (!sameNamespace(main.netns, this.netns)) return null;
    migrateNetworkOwners(main as LedgerIndex);
    return main;
  }

  /** The ledger with the objects of the main file and of the owners in scope. */
  load(scope: Scope = 'all'): Ledger {
    this.loadedOwnerText.clear();
    const main = this.readMain();
    if (!main) return emptyLedger(this.netns);
    // the namespace as it is identified now (a 0.1.0 ledger gains the cookie when saved)
    const ledger: Ledger = { version: 2, netns: this.netns, generation: main.generation, objects: main.objects, owners: main.owners };
    const wanted =
      scope === 'all'
        ? Object.keys(main.owners).filter((o) => main.owners[o]!.keys === undefined)
        : [...scope.owners, ...Object.keys(main.owners).filter((o) => !scope.owners.includes(o) && (scope.prefixes ?? []).some((p) => o.startsWith(p)))];
    for (const owner of wanted) {
      const entry = ledger.owners[owner];
      if (!entry || entry.keys !== undefined) continue;
      let text: string;
      try {
        text = readFileSync(join(this.ownersDir, ownerFile(owner)), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        text = JSON.stringify({ keys: [], objects: {} });
      }
      const file = JSON.parse(text) as OwnerFile;
      entry.keys = file.keys;
      Object.assign(ledger.objects, file.objects);
      this.loadedOwnerText.set(owner, text.trimEnd());
    }
    return ledger;
  }

  /** Writes the owner files that changed, then the main file (the index) last. */
  save(ledger: Ledger): void {
    mkdirSync(this.ownersDir, { recursive: true, mode: 0o755 });
    const perOwner = new Map<string, OwnerFile>();
    const mainObjects: Record<string, LedgerObject> = {};
    for (const [key, obj] of Object.entries(ledger.objects)) {
      // An owner's file keeps only what that owner alone holds; anything held by others (or
      // outliving its owner) lives in main, which every load reads.
      const alone = obj.home !== MAIN && obj.holders.length === 1 && obj.holders[0] === obj.home && ledger.owners[obj.home]?.keys !== undefined;
      if (!alone) mainObjects[key] = obj.home === MAIN ? obj : { ...obj, home: MAIN };
      else {
        const f = perOwner.get(obj.home) ?? { keys: [], objects: {} };
        f.objects[key] = obj;
        perOwner.set(obj.home, f);
      }
    }
    const owners: Record<string, OwnerEntry> = {};
    for (const [owner, entry] of Object.entries(ledger.owners)) {
      const { keys, ...rest } = entry;
      owners[owner] = rest;
      if (keys === undefined) continue; // not loaded: its file stays as it is
      const f = perOwner.get(owner) ?? { keys: [], objects: {} };
      f.keys = keys;
      const text = JSON.stringify(f);
      if (this.loadedOwnerText.get(owner) !== text) writeAtomic(join(this.ownersDir, ownerFile(owner)), text);
      this.loadedOwnerText.set(owner, text);
    }
    const main: MainFile = { version: 2, netns: ledger.netns, generation: ledger.generation, owners, objects: mainObjects };
    writeAtomic(this.file, JSON.stringify(main));
    // only once the index no longer names them: a crash before this leaves stray files, not holes
    for (const owner of [...this.loadedOwnerText.keys()]) {
      if (!ledger.owners[owner]) {
        rmSync(join(this.ownersDir, ownerFile(owner)), { force: true });
        this.loadedOwnerText.delete(owner);
      }
    }
  }

  /** Owner files no owner in the index points to (a crash between writing them and the index). */
  strayOwnerFiles(ledger: Ledger): string[] {
    let files: string[] = [];
    try {
      files = readdirSync(this.ownersDir);
    } catch {
      return [];
    }
    const expected = new Set(Object.keys(ledger.owners).map(ownerFile));
    return files.filter((f) => f.endsWith('.json') && !expected.has(f));
  }

  /** Serializes every vmrouter process of this namespace (hooks, tap up/down/sync run in parallel). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const release = await lockfile.lock(this.file, {
      realpath: false,
      stale: 15000,
      update: 5000,
      retries: { retries: 5000, factor: 1.2, minTimeout: 2, maxTimeout: 50 },
    });
    try {
      return await fn();
    } finally {
      await release();
    }
  }
}

/** The cookie when both have one (it is never reused); else the inode, as 0.1.0 recorded it. */
function sameNamespace(recorded: NetnsIdentity, now: NetnsIdentity): boolean {
  if (recorded.cookie !== undefined && now.cookie !== undefined) return recorded.cookie === now.cookie;
  return recorded.inode === now.inode;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}
