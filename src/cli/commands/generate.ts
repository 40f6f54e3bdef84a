import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { UsageError } from '../../config/errors.js';
import { DEFAULT_CONFIG } from '../../config/load.js';
import { defaultStateDir } from '../../exec/state-dir.js';
import { renderInterfaces, renderRtTables, type StanzaStyle } from '../../render/interfaces.js';
import type { FeatureRecord } from '../../features/feature.js';
import { FEATURES } from '../../features/registry.js';
import { networksIn } from '../../model/network.js';
import type { Context } from '../context.js';
import { writeFileAtomic } from '../write-file.js';

export function generateCommand(ctx: () => Context): Command {
  return new Command('generate')
    .description('write /etc/network/interfaces stanzas for the configured sections')
    .addOption(new Option('--style <style>', 'compact: vmrouter-* options for the installed hooks; expanded: plain up/down lines').choices(['compact', 'expanded']).default('compact'))
    .option('--out <file>', 'write the stanzas to this file (atomically) instead of standard output')
    .option('--rt-tables <file>', 'also write the table names (table_name) in rt_tables format to this file')
    .option('--network <name...>', 'only these networks')
    .option('--node <name>', 'only the stanzas of this node (a host or router named in [vnet NAME] sections); default: every node\'s')
    .option('--hook-config <file>', `the configuration the node\'s hooks read for the stanzas that name a section (default: the --config file); written as vmrouter-config unless it is ${DEFAULT_CONFIG}`)
    .action(async (opts: { style: StanzaStyle; out?: string; rtTables?: string; network?: string[]; node?: string; hookConfig?: string }) => {
      const c = ctx();
      for (const w of c.config().warnings) c.err(`vmrouter: warning: ${w}\n`);
      let features: ReadonlyMap<string, readonly FeatureRecord[]> = c.config().features;
      if (opts.network) {
        const networks = networksIn(features);
        const unknown = opts.network.filter((n) => !networks.some((x) => x.name === n));
        if (unknown.length) throw new UsageError(`--network: no such network in ${c.globals.config}: ${unknown.join(', ')}`);
        features = new Map([['network', networks.filter((n) => opts.network!.includes(n.name))]]);
      }
      if (opts.node !== undefined) {
        const known = new Set(FEATURES.flatMap((f) => (features.get(f.kind) ?? []).flatMap((r) => f.attach(r).flatMap((a) => a.nodes ?? []))));
        if (!known.has(opts.node)) throw new UsageError(`--node ${opts.node}: no such node in ${c.globals.config}${known.size ? ` (known: ${[...known].sort().join(', ')})` : ''}`);
      }
      const hookConfig = resolve(opts.hookConfig ?? c.globals.config);
      const text = await renderInterfaces(opts.style, c.globals.config, features, { node: opts.node, kernel: c.kernel(), hookConfig, expandedState: join(c.globals.stateDir ?? defaultStateDir(), 'expanded') });
      if (opts.out) writeFileAtomic(opts.out, text);
      else c.out(text);
      if (opts.rtTables) writeFileAtomic(opts.rtTables, await renderRtTables(networksIn(features), c.globals.config));
    });
}
