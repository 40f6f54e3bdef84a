/**
 * What the running kernel offers, read from the host (the planner stays pure: it receives these
 * facts). VRF needs CONFIG_NET_VRF, which is independent of CONFIG_NET_L3_MASTER_DEV: the
 * *_l3mdev_accept sysctls can exist on a kernel without VRF devices (this project's CI kernel), so
 * they prove nothing. A loaded module, a module file or a built-in entry does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import type { KernelFacts } from '../features/feature.js';

const VRF_MODULE = /(^|\/)vrf\.ko(\.[a-z]+)?(:|$)/m;

function read(file: string, gzip = false): string | null {
  try {
    const data = readFileSync(file);
    return (gzip ? gunzipSync(data) : data).toString('utf8');
  } catch {
    return null;
  }
}

/** Where the answer came from, for `vmrouter check`. */
export interface KernelReport extends KernelFacts {
  release: string;
  evidence: string;
}

export function detectKernel(root = ''): KernelReport {
  const rel = release();
  if (existsSync(`${root}/sys/module/vrf`)) return { vrf: true, release: rel, evidence: 'the vrf module is loaded' };
  for (const dir of [`${root}/lib/modules/${rel}`, `${root}/usr/lib/modules/${rel}`]) {
    if (VRF_MODULE.test(read(`${dir}/modules.builtin`) ?? '')) return { vrf: true, release: rel, evidence: 'vrf is built in' };
    if (VRF_MODULE.test(read(`${dir}/modules.dep`) ?? '')) return { vrf: true, release: rel, evidence: 'the vrf module is installed' };
  }
  const config = read(`${root}/proc/config.gz`, true) ?? read(`${root}/boot/config-${rel}`);
  if (config !== null) {
    const on = /^CONFIG_NET_VRF=[ym]$/m.test(config);
    return { vrf: on, release: rel, evidence: on ? 'CONFIG_NET_VRF is set' : 'CONFIG_NET_VRF is not set' };
  }
  return { vrf: false, release: rel, evidence: 'no vrf module, not built in' };
}
