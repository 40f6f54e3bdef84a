import { Command } from 'commander';
import { hookOperation } from '../../hooks/ifupdown.js';
import type { Context } from '../context.js';

export function hookCommand(ctx: () => Context): Command {
  return new Command('hook')
    .description('run by the ifupdown hooks (if-up.d, if-down.d): applies or removes the network of the stanza in $IFACE')
    .action(async () => {
      const c = ctx();
      const op = hookOperation(c, process.env);
      if (op) await c.run([op]);
    });
}
