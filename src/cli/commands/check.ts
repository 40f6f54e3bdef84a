import { Command } from 'commander';
import type { Context } from '../context.js';

export function checkCommand(ctx: () => Context): Command {
  return new Command('check').description('validate the configuration file; exit 2 with one line per problem').action(() => {
    const c = ctx();
    const networks = c.networks();
    c.out(`${c.globals.config}: ${networks.length} network${networks.length === 1 ? '' : 's'} OK (${networks.map((n) => `${n.name}: ${n.role}`).join(', ') || 'none'})\n`);
  });
}
