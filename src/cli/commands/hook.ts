import { Command } from 'commander';
import { hookOperations } from '../../hooks/ifupdown.js';
import type { Context } from '../context.js';

export function hookCommand(ctx: () => Context): Command {
  return new Command('hook')
    .description('run by the ifupdown hooks (if-up.d, if-down.d): applies or removes the network of the stanza in $IFACE')
    .action(async () => {
      const c = ctx();
      const ops = hookOperations(c, process.env);
      if (ops.length > 0) await c.run(ops);
    });
}
