/** One node with an uplink (veth to a peer namespace) and TAPs (veths to VM namespaces). */
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
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

/** mount points under /etc this process made (for etcFile), removed again when it exits, if still empty */
const madeMountPoints = new Set<string>();
process.on('exit', () => {
  for (const dir of madeMountPoints) if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
});

/**
 * /etc/netns/NS/<dir>/<file>: seen as /etc/<dir>/<file> inside the namespace. `ip netns exec` binds
 * /etc/netns/NS/<dir> over /etc/<dir> only where /etc/<dir> exists on the host (e.g. /etc/vmrouter
 * exists only while the package is installed), so an empty one is made for the test's duration.
 */
export function etcFile(ns: string, path: string, text: string): void {
  const full = join('/etc/netns', ns, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
  const top = path.split('/')[0]!;
  const point = join('/etc', top);
  if (top !== path && !existsSync(point)) {
    mkdirSync(point);
    madeMountPoints.add(point);
  }
}
