/**
 * Which VRF device `vmrouter vrf exec|drop-in NAME` means: `[vrf NAME]`'s device, or with
 * `TWIN/inner` / `TWIN/outer` the VRF of one side of `[twin TWIN]` (VRF variant only: the policy
 * variant has no device to bind a socket to). Pure: the kernel facts come from the caller.
 */
import { UsageError } from '../config/errors.js';
import type { Config } from '../config/load.js';
import type { KernelFacts } from './feature.js';
import { resolveVariant } from './twin-plan.js';
import type { TwinRecord } from '../model/twin.js';
import type { VrfRecord } from './vrf.js';

export interface VrfTarget {
  device: string;
  /** `[vrf blue]`, `[twin io] inner side`: for messages and the drop-in's header */
  what: string;
}

export function vrfTarget(config: Config, file: string, name: string, kernel: KernelFacts): VrfTarget {
  const side = /^(.+)\/(inner|outer)$/.exec(name);
  if (side) {
    const [, twinName, which] = side as unknown as [string, string, 'inner' | 'outer'];
    const twin = (config.features.get('twin') as TwinRecord[] | undefined)?.find((r) => r.name === twinName);
    if (!twin) throw new UsageError(`${file}: no [twin ${twinName}] section`);
    if (resolveVariant(twin, kernel) !== 'vrf') throw new UsageError(`${file}: [twin ${twinName}] runs the policy variant on this kernel: its sides have no VRF device to run in`);
    return { device: twin[which].vrf, what: `[twin ${twinName}] ${which} side` };
  }
  const vrfs = (config.features.get('vrf') as VrfRecord[] | undefined) ?? [];
  const r = vrfs.find((x) => x.name === name);
  if (!r) throw new UsageError(`${file}: no [vrf ${name}] section${vrfs.length ? ` (there are: ${vrfs.map((x) => x.name).join(', ')})` : ''}`);
  return { device: r.device, what: `[vrf ${name}]` };
}
