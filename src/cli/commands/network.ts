import { Command } from 'commander';
import { UsageError } from '../../config/errors.js';
import { networkNameProblem } from '../../model/names.js';
import type { Context } from '../context.js';
import { networkDownOp, networksUp, networkUpOp } from '../operations.js';

interface DryRun {
  dryRun?: boolean;
  fromScratch?: boolean;
}

export function requireDryRun(opts: DryRun, planning: boolean): void {
  if (opts.fromScratch && !planning && !opts.dryRun) throw new UsageError('--from-scratch only makes sense with --dry-run (or under `vmrouter plan`)');
}

/** `up`/`down` of networks outside ifupdown (and under `plan`). */
export function networkCommands(ctx: () => Context, planning: boolean): Command[] {
  const up = new Command('up')
    .description('apply networks from the configuration (all when none named), as `ifup` of their uplinks would')
    .argument('[network...]', 'network names')
    .action(async (names: string[], opts: DryRun) => {
      const c = ctx();
      requireDryRun(opts, planning);
      const all = c.networks();
      const unknown = names.filter((n) => !all.some((x) => x.name === n));
      if (unknown.length) throw new UsageError(`no such network in ${c.globals.config}: ${unknown.join(', ')}`);
      const chosen = names.length ? all.filter((n) => names.includes(n.name)) : all;
      await c.run(chosen.map((n) => networkUpOp(c.host, n)), { dryRun: planning || opts.dryRun, fromScratch: opts.fromScratch });
    });
  const down = new Command('down')
    .description('remove what `up` added for networks (all that are up when none named)')
    .argument('[network...]', 'network names')
    .action(async (names: string[], opts: DryRun) => {
      const c = ctx();
      requireDryRun(opts, planning);
      for (const n of names) {
        const p = networkNameProblem(n);
        if (p) throw new UsageError(`${JSON.stringify(n)} ${p}`);
      }
      if (opts.fromScratch) {
        // As on a clean node where `up` applied the configured networks: what down would remove.
        const all = c.networks();
        const unknown = names.filter((n) => !all.some((x) => x.name === n));
        if (unknown.length) throw new UsageError(`no such network in ${c.globals.config}: ${unknown.join(', ')}`);
        const chosen = names.length ? all.filter((n) => names.includes(n.name)) : all;
        await c.run(chosen.map((n) => networkDownOp(n.name)), { dryRun: true, fromScratch: true, assumeDone: chosen.map((n) => networkUpOp(c.host, n)) });
        return;
      }
      const chosen = names.length ? names : networksUp(c.runner.store.load()).map((n) => n.name);
      await c.run(chosen.map((name) => networkDownOp(name)), { dryRun: planning || opts.dryRun });
    });
  for (const cmd of [up, down]) {
    if (!planning) cmd.option('-n, --dry-run', 'print the commands instead of running them');
    cmd.option('--from-scratch', planning ? 'as if vmrouter had applied nothing on this node' : 'with --dry-run: as if vmrouter had applied nothing on this node');
  }
  return [up, down];
}


