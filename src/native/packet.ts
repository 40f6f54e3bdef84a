/**
 * Loads the vmrouter_packet addon (native/packet.c).
 *
 * The installed /usr/sbin/vmrouter is one file: the build embeds the addon as a SEA asset. A shared
 * object can only be dlopen()ed from a file, so it is written to a private directory (mode 0700,
 * created by mkdtemp so no one else can plant or swap the file), loaded, and removed at once: the
 * mapping outlives the unlink, so nothing is left behind (only a crash between the write and the
 * unlink could leave the directory).
 * Development runs (tsx, node dist/vmrouter.cjs, a SEA built without the asset) use the file beside
 * the program or the source tree's build output instead.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as sea from 'node:sea';
import { RUN_DIR } from '../exec/run-dir.js';

export interface PacketAddon {
  send(ifindex: number, frame: Buffer): void;
  /** one receiving socket for the process: every frame the filter passes, with its interface */
  /**
   * checksumTrusted: the kernel verified the L4 checksum, or the sender left it to offload (not final
   * yet); receivedMs: when the kernel received the frame (ms since the epoch, 0 if unknown)
   */
  listen(filter: Buffer, onFrame: (ifindex: number, pkttype: number, frame: Buffer, checksumTrusted: boolean, receivedMs: number) => void): void;
  stop(): void;
  /** frames the kernel handed over and dropped (queue full) since the previous call */
  stats(): { received: number; dropped: number };
  /** this network namespace's cookie (SO_NETNS_COOKIE), unique for the kernel's lifetime; null before Linux 5.14 */
  netnsCookie(): string | null;
}

/** sll_pkttype values (linux/if_packet.h) */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;

const FILE = 'vmrouter_packet.node';
/** the SEA asset key (scripts/build.mjs) */
export const ADDON_ASSET = 'vmrouter_packet.node';
let cached: PacketAddon | null = null;

function candidates(): string[] {
  const here = process.argv[1] ? dirname(resolve(process.argv[1])) : process.cwd();
  return [join(dirname(process.execPath), FILE), join(here, FILE), join(here, '..', 'build', 'Release', FILE), join(process.cwd(), 'build', 'Release', FILE)];
}

function embedded(): Buffer | null {
  try {
    return sea.isSea() ? Buffer.from(sea.getAsset(ADDON_ASSET)) : null;
  } catch {
    return null; // a SEA built without the asset: development lookups
  }
}

/**
 * Writes the embedded addon to a fresh private directory and dlopens it. /run/vmrouter first (root's,
 * and never mounted noexec by systemd), then the temporary directory; a directory where the mapping
 * is refused (noexec) or that cannot be written is skipped.
 */
function loadEmbedded(bytes: Buffer, module: { exports: PacketAddon }): void {
  const problems: string[] = [];
  for (const base of [RUN_DIR, tmpdir()]) {
    let dir: string | null = null;
    try {
      mkdirSync(base, { recursive: true, mode: 0o755 });
      dir = mkdtempSync(join(base, '.addon-'));
      const file = join(dir, FILE);
      writeFileSync(file, bytes, { mode: 0o500 });
      process.dlopen(module, file);
      return;
    } catch (e) {
      problems.push(`${base}: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`cannot load the embedded ${FILE} (${problems.join('; ')})`);
}

export function loadPacketAddon(): PacketAddon {
  if (cached) return cached;
  const module = { exports: {} as PacketAddon };
  const bytes = embedded();
  if (bytes) loadEmbedded(bytes, module);
  else {
    const file = candidates().find((f) => existsSync(f));
    if (!file) throw new Error(`${FILE} not found (looked in ${candidates().join(', ')}); run npm run build`);
    process.dlopen(module, file);
  }
  cached = module.exports;
  return cached;
}
