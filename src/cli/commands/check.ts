import { Command } from 'commander';
import { lintConfig } from '../../features/lint.js';
import { FEATURES } from '../../features/registry.js';
import type { Context } from '../context.js';
import type { TwinRecord } from '../../features/twin.js';

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function checkCommand(ctx: () => Context): Command {
  return new Command('check').description('validate the configuration file; exit 2 with one line per problem, warnings for hazards').action(() => {
    const c = ctx();
    const config = c.config();
    const { networks } = config;
    const parts = [`${plural(networks.length, 'network')} OK (${networks.map((n) => `${n.name}: ${n.role}`).join(', ') || 'none'})`];
    for (const f of FEATURES) {
      const records = config.features.get(f.kind) ?? [];
      if (records.length > 0) parts.push(`${plural(records.length, f.kind)} (${records.map((r) => r.name).join(', ')})`);
    }
    c.out(`${c.globals.config}: ${parts.join('; ')}\n`);
    const twins = config.features.get('twin') ?? [];
    const vrfs = config.features.get('vrf') ?? [];
    if (twins.length > 0 || vrfs.length > 0) {
      // which implementation `variant = auto` gets on this kernel (detected here, never in the planner)
      const k = c.kernel();
      c.out(`kernel ${k.release}: ${k.vrf ? 'VRF devices available' : 'no VRF devices (CONFIG_NET_VRF)'} (${k.evidence}); twin variant auto = ${k.vrf ? 'vrf' : 'policy'}\n`);
      if (!k.vrf && vrfs.length > 0) c.out(`warning: [vrf] sections need VRF devices, which this kernel lacks; ifup will fail\n`);
      for (const r of twins as TwinRecord[]) {
        if (r.variant === 'vrf' && !k.vrf) c.out(`warning: [twin ${r.name}]: variant vrf, but this kernel has no VRF devices; ifup will fail (use variant = policy or auto)\n`);
      }
    }
    for (const w of lintConfig(config)) c.out(`warning: ${w}\n`);
  });
}
