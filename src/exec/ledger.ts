/**
 * The ledger: every kernel object and setting vmrouter created, who holds it, and what it replaced.
 * `down` removes exactly what the ledger says `up` added (not what the config says now), so editing
 * vmrouter.conf between ifup and ifdown never leaves anything behind.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { TapBinding } from '../model/binding.js';
import type { Network } from '../model/network.js';
import type { HeldStep } from '../plan/step.js';
import type { NetnsIdentity } from './state-dir.js';

export interface LedgerObject {
  step: HeldStep;
  /** owners that need it, in the order they acquired it */
  holders: string[];
  /** the value a sysctl or MAC had before vmrouter set it */
  restore?: string;
}

/** `ifindex` of the owner's device when it was applied: a re-created device starts from scratch. */
export type OwnerEntry =
  | { kind: 'network'; keys: string[]; record: Network; since: string; ifindex?: number }
  | { kind: 'tap'; keys: string[]; record: TapBinding; since: string; ifindex?: number };

export interface Ledger {
  version: 1;
  netns: NetnsIdentity;
  objects: Record<string, LedgerObject>;
  owners: Record<string, OwnerEntry>;
}

export const networkOwner = (name: string): string => `network:${name}`;
export const tapOwner = (tap: string): string => `tap:${tap}`;

export function emptyLedger(netns: NetnsIdentity): Ledger {
  return { version: 1, netns, objects: {}, owners: {} };
}

export class LedgerStore {
  readonly file: string;
  constructor(
    readonly dir: string,
    readonly netns: NetnsIdentity,
  ) {
    this.file = join(dir, 'ledger.json');
  }

  /**
   * A ledger written in another namespace that had the same name (deleted and re-created since) says
   * nothing about this one: the kernel objects it lists died with that namespace.
   */
  load(): Ledger {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyLedger(this.netns);
      throw e;
    }
    const ledger = JSON.parse(text) as Ledger;
    if (ledger.version !== 1) throw new Error(`${this.file}: unknown ledger version ${String(ledger.version)}`);
    if (ledger.netns.inode !== this.netns.inode) return emptyLedger(this.netns);
    return ledger;
  }

  save(ledger: Ledger): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(ledger, null, 1) + '\n', { mode: 0o644 });
    renameSync(tmp, this.file);
  }

  /** Serializes every vmrouter process of this namespace (hooks, tap up/down run in parallel). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const release = await lockfile.lock(this.file, {
      realpath: false,
      stale: 15000,
      update: 5000,
      retries: { retries: 2000, factor: 1.2, minTimeout: 2, maxTimeout: 50 },
    });
    try {
      return await fn();
    } finally {
      await release();
    }
  }
}
