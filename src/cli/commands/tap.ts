import { Command } from 'commander';
import { UsageError } from '../../config/errors.js';
import { readBindings } from '../../config/bindings.js';
import { ifnameProblem, networkNameProblem } from '../../model/names.js';
import { tapRequestFromFlags, tapRequestFromGanetiEnv, type TapFlags } from '../../model/tap-request.js';
import type { Context } from '../context.js';
import { tapDownOp, tapSyncOp, tapUpOp } from '../tap-operations.js';
import { requireDryRun } from './network.js';

interface TapOptions extends TapFlags {
  dryRun?: boolean;
  fromScratch?: boolean;
}

/** `vmrouter tap up|down`: the per-VM lifecycle, for hypervisor ifup/ifdown scripts. */
export function tapCommand(ctx: () => Context, planning: boolean): Command {
  const tap = new Command('tap').description('bind or unbind a VM NIC (TAP) to a network; without flags, reads Ganeti\'s kvm-ifup environment');
  const up = new Command('up')
    .description('route the VM\'s addresses to its TAP, answer ARP/NDP for them, and allow only them as sources')
    .option('--network <name>', 'network of the NIC')
    .option('--tap <iface>', 'the TAP (host side of the NIC)')
    .option('--mac <mac>', 'MAC of the VM (gives the EUI-64 IPv6 address when no --ip6 is given)')
    .option('--ip <address...>', 'IPv4 addresses of the VM (several after one flag, or the flag repeated)')
    .option('--ip6 <address...>', 'IPv6 addresses of the VM')
    .option('--hostname <name>', 'host name the DHCPv4 responder gives the VM (Ganeti: $INSTANCE)')
    .action(async (opts: TapOptions) => {
      const c = ctx();
      requireDryRun(opts, planning);
      const fromFlags = opts.tap !== undefined || opts.network !== undefined || opts.ip !== undefined || opts.ip6 !== undefined || opts.hostname !== undefined;
      const req = fromFlags ? tapRequestFromFlags(opts) : tapRequestFromGanetiEnv(process.env);
      if (req === null) {
        if (c.globals.verbose) c.err(`vmrouter: MODE=${process.env.MODE}: not a routed NIC, nothing to do\n`);
        return;
      }
      await c.run([tapUpOp(c.host, req, () => c.networksIfConfigured())], { dryRun: planning || opts.dryRun, fromScratch: opts.fromScratch });
    });
  const down = new Command('down')
    .description('remove everything `tap up` added for the TAP; takes the flags of `tap up` too, so a hypervisor script can pass both the same (only --tap and --network count)')
    .option('--tap <iface>', 'the TAP (default: $INTERFACE, as Ganeti sets it)')
    .option('--network <name>', 'the network the TAP should be bound to: a TAP bound to another is left alone (an error)')
    .option('--mac <mac>', 'accepted, as for tap up; not needed')
    .option('--ip <address...>', 'accepted, as for tap up; not needed')
    .option('--ip6 <address...>', 'accepted, as for tap up; not needed')
    .option('--hostname <name>', 'accepted, as for tap up; not needed')
    .action(async (opts: TapOptions) => {
      const c = ctx();
      const name = opts.tap ?? process.env.INTERFACE;
      if (!name) throw new UsageError('--tap is required (or INTERFACE in the environment)');
      const problem = ifnameProblem(name);
      if (problem) throw new UsageError(`${opts.tap ? '--tap' : 'INTERFACE'} ${JSON.stringify(name)}: ${problem}`);
      if (!opts.tap && process.env.MODE !== undefined && process.env.MODE !== 'routed') return;
      if (opts.network !== undefined && networkNameProblem(opts.network)) throw new UsageError(`--network ${JSON.stringify(opts.network)}: ${networkNameProblem(opts.network)}`);
      await c.run([tapDownOp(name, opts.network)], { dryRun: planning || opts.dryRun });
    });
  const sync = new Command('sync')
    .description('make the TAPs of a network exactly those listed: bind the missing, re-bind the changed, unbind the rest, in one transaction')
    .requiredOption('--network <name>', 'the network')
    .requiredOption('--from <path>', 'bindings file ("TAP [MAC] ADDRESS..." per line, or .json), or a directory of them')
    .action(async (opts: TapOptions & { from: string }) => {
      const c = ctx();
      requireDryRun(opts, planning);
      const problem = networkNameProblem(opts.network!);
      if (problem) throw new UsageError(`--network ${JSON.stringify(opts.network)}: ${problem}`);
      const lines = readBindings(opts.from);
      await c.run([tapSyncOp(c.host, opts.network!, lines, () => c.networksIfConfigured())], { dryRun: planning || opts.dryRun, fromScratch: opts.fromScratch });
    });
  if (!planning) for (const cmd of [up, down, sync]) cmd.option('-n, --dry-run', 'print the commands instead of running them');
  for (const cmd of [up, sync]) cmd.option('--from-scratch', 'with a dry run: as if vmrouter had applied nothing on this node');
  return tap.addCommand(up).addCommand(down).addCommand(sync);
}
