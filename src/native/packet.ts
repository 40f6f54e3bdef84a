/**
 * Loads the vmrouter_packet addon (native/packet.c). Looked up beside the program (dist/, the
 * installed binary's directory) and in the source tree's build output.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

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
}

/** sll_pkttype values (linux/if_packet.h) */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;

const FILE = 'vmrouter_packet.node';
let cached: PacketAddon | null = null;

function candidates(): string[] {
  const here = process.argv[1] ? dirname(resolve(process.argv[1])) : process.cwd();
  return [
    join(dirname(process.execPath), FILE),
    join(here, FILE),
    join(here, '..', 'build', 'Release', FILE),
    join(process.cwd(), 'build', 'Release', FILE),
    join('/usr/lib/vmrouter', FILE),
  ];
}

export function loadPacketAddon(): PacketAddon {
  if (cached) return cached;
  const file = candidates().find((f) => existsSync(f));
  if (!file) throw new Error(`${FILE} not found (looked in ${candidates().join(', ')}); run npm run build`);
  const module = { exports: {} as PacketAddon };
  process.dlopen(module, file);
  cached = module.exports;
  return cached;
}
