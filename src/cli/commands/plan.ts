import { Command } from 'commander';
import type { Context } from '../context.js';
import { ifPlanCommands } from './ifplan.js';
import { networkCommands } from './network.js';
import { tapCommand } from './tap.js';
import { vnetCommand } from './vnet.js';

/** `vmrouter plan up|down|tap …`: what the same command would run, printed, nothing changed. */
export function planCommand(ctx: () => Context): Command {
  const plan = new Command('plan').description('print exactly the commands `up`, `down`, `tap up|down`, `vnet sync` or the hook of `ifup`/`ifdown IFACE` would run now; change nothing');
  for (const c of [...networkCommands(ctx, true), ...ifPlanCommands(ctx)]) plan.addCommand(c);
  return plan.addCommand(tapCommand(ctx, true)).addCommand(vnetCommand(ctx, true));
}
