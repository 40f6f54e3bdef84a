/**
 * Where vmrouter keeps its record of what it applied. Kernel state is per network namespace, so the
 * record is too: /run/vmrouter in the namespace vmrouter was started in, /run/vmrouter/netns/NAME
 * inside a namespace entered with `ip netns exec NAME` (found the way `ip netns identify` finds it).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const RUN_DIR = '/run/vmrouter';

export interface NetnsIdentity {
  /** the name under /run/netns, or null for an unnamed namespace (the host's) */
  name: string | null;
  inode: number;
}

export function currentNetns(): NetnsIdentity {
  const self = statSync('/proc/self/ns/net');
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    /* no named namespaces */
  }
  for (const name of names.sort()) {
    try {
      const st = statSync(join('/run/netns', name));
      if (st.ino === self.ino && st.dev === self.dev) return { name, inode: self.ino };
    } catch {
      /* vanished while we looked */
    }
  }
  return { name: null, inode: self.ino };
}

export function defaultStateDir(ns: NetnsIdentity = currentNetns()): string {
  return ns.name === null ? RUN_DIR : join(RUN_DIR, 'netns', ns.name);
}
