import { Command } from 'commander';
import { UsageError } from '../../config/errors.js';
import { emptyLedger, networkOwner } from '../../exec/ledger.js';
import { computeTransaction } from '../../exec/transaction.js';
import { planNetwork } from '../../features/routed.js';
import type { Network } from '../../model/network.js';
import { renderTxPlan } from '../../render/plan.js';
import { networkNameProblem } from '../../model/names.js';
import type { Context } from '../context.js';
import { networkDownOp, networksUp, networkUpOp } from '../operations.js';

interface DryRun {
  dryRun?: boolean;
  fromScratch?: boolean;
}

/** What `down` would remove had `up` applied the network as configured now, on a clean node. */
function removalPreview(c: Context, n: Network): string {
  const owner = networkOwner(n.name);
  const up = computeTransaction(emptyLedger(c.runner.store.netns), owner, { entry: { kind: 'network', record: n }, steps: planNetwork(n) });
  const ledger = up.commit(up.actions.map(() => ({ status: 'done' })));
  return renderTxPlan(`down network ${n.name} (${n.role} on ${n.uplink})`, computeTransaction(ledger, owner, null));
}

/** `up`/`down` of networks outside ifupdown (and under `plan`). */
export function networkCommands(ctx: () => Context, planning: boolean): Command[] {
  const up = new Command('up')
    .description('apply networks from the configuration (all when none named), as `ifup` of their uplinks would')
    .argument('[network...]', 'network names')
    .action(async (names: string[], opts: DryRun) => {
      const c = ctx();
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
      for (const n of names) {
        const p = networkNameProblem(n);
        if (p) throw new UsageError(`${JSON.stringify(n)} ${p}`);
      }
      let chosen = names;
      if (chosen.length === 0) {
        chosen = opts.fromScratch ? c.networks().map((n) => n.name) : networksUp(c.runner.store.load()).map((n) => n.name);
      }
      const ops = chosen.map((name) => networkDownOp(name));
      if (opts.fromScratch) {
        // As if the networks were up exactly as configured now: plan their up from scratch, then show the removal.
        for (const name of chosen) {
          const n = c.networks().find((x) => x.name === name);
          if (!n) throw new UsageError(`no such network in ${c.globals.config}: ${name}`);
          c.out(removalPreview(c, n));
        }
        return;
      }
      await c.run(ops, { dryRun: planning || opts.dryRun });
    });
  for (const cmd of [up, down]) {
    if (!planning) cmd.option('-n, --dry-run', 'print the commands instead of running them');
    cmd.option('--from-scratch', planning ? 'as if vmrouter had applied nothing on this node' : 'with --dry-run: as if vmrouter had applied nothing on this node');
  }
  return [up, down];
}


