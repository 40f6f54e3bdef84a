/**
 * Where vmrouter keeps its record of what it applied. Kernel state is per network namespace, so the
 * record is too: /run/vmrouter in the namespace vmrouter was started in, /run/vmrouter/netns/NAME
 * inside a namespace entered with `ip netns exec NAME` (found the way `ip netns identify` finds it).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadPacketAddon } from '../native/packet.js';
import { RUN_DIR } from './run-dir.js';

export { RUN_DIR };

export interface NetnsIdentity {
  /** the name under /run/netns, or null for an unnamed namespace (the host's) */
  name: string | null;
  inode: number;
  /**
   * SO_NETNS_COOKIE: never reused, unlike the inode (a namespace re-created under the same name may
   * get the inode of the old one). Absent in ledgers of 0.1.0 and on kernels before 5.14.
   */
  cookie?: string;
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
      if (st.ino === self.ino && st.dev === self.dev) return { name, inode: self.ino, ...cookie() };
    } catch {
      /* vanished while we looked */
    }
  }
  return { name: null, inode: self.ino, ...cookie() };
}

function cookie(): { cookie?: string } {
  try {
    const c = loadPacketAddon().netnsCookie();
    return c === null ? {} : { cookie: c };
  } catch {
    return {}; // no addon (a unit test's stand-in): the inode alone
  }
}

export function defaultStateDir(ns: NetnsIdentity = currentNetns()): string {
  return ns.name === null ? RUN_DIR : join(RUN_DIR, 'netns', ns.name);
}
