import { Command } from 'commander';
import { failedUpOperations, hookOperations } from '../../hooks/ifupdown.js';
import type { Context } from '../context.js';

export function hookCommand(ctx: () => Context): Command {
  return new Command('hook')
    .description('run by the ifupdown hooks (if-up.d, if-down.d): applies or removes the network of the stanza in $IFACE')
    .action(async () => {
      const c = ctx();
      try {
        const operations = hookOperations(c, process.env);
        if (operations.length > 0) await c.run(operations);
      } catch (e) {
        const cleanup = failedUpOperations(process.env);
        if (cleanup.length > 0) await c.run(cleanup).catch(() => undefined); // the first error is the one to report
        throw e;
      }
    });
}
