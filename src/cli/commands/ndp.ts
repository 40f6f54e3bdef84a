import { Command } from 'commander';
import { InvalidInput } from '../../config/errors.js';
import { loadFullConfig } from '../../config/load.js';
import { networksIn } from '../../model/network.js';
import { verifyResponder } from '../../ndp/config.js';
import { ResponderDaemon } from '../../ndp/daemon.js';
import type { Context } from '../context.js';

/** vmrouter.conf, or the defaults when there is none (nodes configured by stanzas alone). */
function configOrDefaults(file: string) {
  try {
    const config = loadFullConfig(file);
    return { networks: networksIn(config.features), responder: config.responder };
  } catch (e) {
    if (e instanceof InvalidInput && e.problems.length === 1 && /cannot read: no such file/.test(e.problems[0]!.message)) {
      return { networks: [], responder: verifyResponder({ globals: new Map() }) };
    }
    throw e;
  }
}

export function ndpCommand(ctx: () => Context): Command {
  return new Command('ndp')
    .description('run the responder for bound TAPs: router advertisements, neighbour solicitations, DHCPv6 and DHCPv4 (foreground; vmrouter-ndp.service runs it)')
    .action(async () => {
      const c = ctx();
      const log = (line: string) => process.stderr.write(`vmrouter ndp: ${line}\n`);
      const store = c.runner.store;
      const daemon = new ResponderDaemon({ stateDir: store.dir, store, loadConfig: () => configOrDefaults(c.globals.config), log, verbose: c.globals.verbose });
      const quit = () => {
        daemon.stop();
        daemon.writeStats();
        log('stopped');
        process.exit(0);
      };
      process.on('SIGTERM', quit);
      process.on('SIGINT', quit);
      process.on('SIGHUP', () => {
        try {
          daemon.reloadConfig();
          log('configuration reloaded');
        } catch (e) {
          log(`configuration not reloaded: ${(e as Error).message}`);
        }
      });
      process.on('SIGUSR1', () => log(`stats written to ${daemon.writeStats()}`));
      // Handlers first: start() announces "listening", and a signal sent on that word must find them
      // (Node's default for SIGUSR1 opens the inspector on 127.0.0.1:9229). Handlers run from the
      // event loop, so none runs before the synchronous start() has returned.
      daemon.start();
      await new Promise(() => undefined); // until a signal
    });
}
