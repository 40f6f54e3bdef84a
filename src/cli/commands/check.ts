import { Command } from 'commander';
import { lintConfig } from '../../features/lint.js';
import { FEATURES } from '../../features/registry.js';
import type { Context } from '../context.js';

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function checkCommand(ctx: () => Context): Command {
  return new Command('check').description('validate the configuration file; exit 2 with one line per problem, warnings for hazards').action(() => {
    const c = ctx();
    const config = c.config();
    const parts: string[] = [];
    for (const f of FEATURES) {
      const records = config.features.get(f.kind) ?? [];
      if (records.length > 0) parts.push(`${plural(records.length, f.kind)} (${records.map((r) => f.describe?.(r) ?? r.name).join(', ')})`);
    }
    c.out(`${c.globals.config}: OK${parts.length ? `: ${parts.join('; ')}` : ', no sections'}\n`);
    // which implementation `variant = auto` gets on this kernel (detected here, never in the planner)
    const usesKernel = FEATURES.some((f) => f.usesKernel && (config.features.get(f.kind) ?? []).length > 0);
    const kernel = usesKernel ? c.kernel() : undefined;
    if (kernel) c.out(`kernel ${kernel.release}: ${kernel.vrf ? 'VRF devices available' : 'no VRF devices'} (${kernel.evidence}); twin variant auto = ${kernel.vrf ? 'vrf' : 'policy'}\n`);
    for (const w of [...config.warnings.map(String), ...lintConfig(config, kernel)]) c.out(`warning: ${w}\n`);
  });
}
