/**
 * `vmrouter frr [--out DIR]`: the FRR configuration of this node's routed networks with
 * routing = bgp (render/frr-network.ts). Written once per configuration change, never per VM: VMs
 * come and go as kernel routes that FRR redistributes.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { networksIn } from '../../model/network.js';
import { renderNetworkFrr } from '../../render/frr-network.js';
import type { Context } from '../context.js';
import { writeFileAtomic } from '../write-file.js';

export function frrCommand(ctx: () => Context): Command {
  return new Command('frr')
    .description('write the FRR configuration (frr.conf and daemons) of this node for its [network NAME] sections with routing = bgp')
    .option('--out <dir>', 'write frr.conf and daemons into this directory (e.g. /etc/frr) instead of printing frr.conf')
    .action(async (opts: { out?: string }) => {
      const c = ctx();
      const files = await renderNetworkFrr(networksIn(c.config().features), c.globals.config);
      if (!opts.out) return c.out(files['frr.conf']);
      mkdirSync(opts.out, { recursive: true });
      writeFileAtomic(join(opts.out, 'frr.conf'), files['frr.conf']);
      writeFileAtomic(join(opts.out, 'daemons'), files.daemons);
    });
}
