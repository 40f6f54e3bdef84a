import { Command } from 'commander';
import { UsageError } from '../../config/errors.js';
import { Reconciler } from '../../reconcile/daemon.js';
import type { Context } from '../context.js';

export function reconcileCommand(ctx: () => Context): Command {
  return new Command('reconcile')
    .description('keep the kernel as vmrouter applied it: repair what other tools flush or edit, as it happens (foreground; vmrouter-reconcile.service runs it)')
    .option('--interval <seconds>', 'the full check besides the kernel\'s notifications', '60')
    .action(async (opts: { interval: string }) => {
      const c = ctx();
      const seconds = Number(opts.interval);
      if (!Number.isFinite(seconds) || seconds < 1 || seconds > 86400) throw new UsageError(`--interval ${JSON.stringify(opts.interval)}: a number of seconds, 1-86400`);
      const log = (line: string) => process.stderr.write(`vmrouter reconcile: ${line}\n`);
      const reconciler = new Reconciler({ runner: c.runner, log, intervalMs: seconds * 1000 });
      const quit = () => {
        reconciler.stop();
        log('stopped');
        process.exit(0);
      };
      process.on('SIGTERM', quit);
      process.on('SIGINT', quit);
      reconciler.start();
      log(`watching ${c.runner.store.file}`);
      await new Promise(() => undefined); // until a signal
    });
}
