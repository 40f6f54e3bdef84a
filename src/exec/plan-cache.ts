/**
 * Attachments planned once per configuration, for the hook runs of one `ifup`.
 *
 * ifupdown runs the hook once per interface, and a feature section may attach to many (a NAT pair
 * with 4000 entries has 139 interfaces). Verifying the whole section and planning every attachment
 * in each of those runs made bring-up grow with entries × interfaces. Planning is pure (the same
 * configuration bytes and kernel facts give the same attachments), so the first run plans them all
 * and stores each under `plans/KEY/`, KEY being a hash of vmrouter's version, the kernel facts and
 * the configuration text; later runs read only their own interface's file. A different key (the
 * file was edited, vmrouter upgraded) replaces the directory. The state directory is root's
 * (/run/vmrouter), like the ledger next to it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Attachment, FeatureRecord } from '../features/feature.js';

/** An attachment and what the ledger keeps of its record. */
export interface CachedAttachment {
  kept: FeatureRecord;
  attachment: Attachment;
}

export function planKey(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.length}:${p}`);
  return h.digest('hex').slice(0, 32);
}

/** `natpair`, `pod1`, `tr0` → its file name (names never contain "=", see ledger.ts). */
const fileOf = (kind: string, name: string, iface: string): string => `${kind}_${name}=${iface}.json`;

export class PlanCache {
  readonly dir: string;
  constructor(stateDir: string) {
    this.dir = join(stateDir, 'plans');
  }

  /** The cached attachment of one section on one interface; undefined when not cached under `key`. */
  read(key: string, kind: string, name: string, iface: string): CachedAttachment | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, key, fileOf(kind, name, iface)), 'utf8')) as CachedAttachment;
    } catch {
      return undefined;
    }
  }

  /** Stores every attachment of a section under `key`, and drops plans of other keys. */
  write(key: string, kind: string, name: string, attachments: readonly CachedAttachment[]): void {
    const dir = join(this.dir, key);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const a of attachments) {
      const file = join(dir, fileOf(kind, name, a.attachment.iface));
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(a), { mode: 0o644 });
      renameSync(tmp, file);
    }
    for (const other of readdirSync(this.dir)) if (other !== key) rmSync(join(this.dir, other), { recursive: true, force: true });
  }
}
