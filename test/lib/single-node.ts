/** One node with an uplink (veth to a peer namespace) and TAPs (veths to VM namespaces). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './netns.js';

export interface SingleNode {
  node: string;
  peer: string;
  vms: string[];
}

export async function singleNode(lab: Lab, uplink: string, taps: string[]): Promise<SingleNode> {
  const node = await lab.ns('node');
  const peer = await lab.ns('peer');
  await lab.link(node, uplink, peer, 'eth0');
  await lab.up(peer, 'eth0');
  const vms: string[] = [];
  for (const tap of taps) {
    const vm = await lab.ns(`vm-${tap}`);
    await lab.link(node, tap, vm, 'eth0');
    await lab.up(node, tap);
    vms.push(vm);
  }
  return { node, peer, vms };
}

/** /etc/netns/NS/<dir>/<file>: seen as /etc/<dir>/<file> inside the namespace. */
export function etcFile(ns: string, path: string, text: string): void {
  const full = join('/etc/netns', ns, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
}
