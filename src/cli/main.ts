/**
 * vmrouter command line. Exit codes: EXIT_STATUS. Every error is one line on stderr ("vmrouter: …");
 * stack traces only with --debug or VMROUTER_DEBUG=1.
 */
import { Command, CommanderError, Option } from 'commander';
import { InvalidInput, UsageError } from '../config/errors.js';
import { DEFAULT_CONFIG } from '../config/load.js';
import { ConflictError, StepFailed } from '../exec/runner.js';
import { VERSION } from '../version.js';
import { checkCommand } from './commands/check.js';
import { doctorCommand, repairCommand } from './commands/doctor.js';
import { generateCommand } from './commands/generate.js';
import { hookCommand } from './commands/hook.js';
import { libvirtCommand } from './commands/libvirt.js';
import { ndpCommand } from './commands/ndp.js';
import { reconcileCommand } from './commands/reconcile.js';
import { networkCommands } from './commands/network.js';
import { planCommand } from './commands/plan.js';
import { statusCommand } from './commands/status.js';
import { tapCommand } from './commands/tap.js';
import { vnetCommand } from './commands/vnet.js';
import { frrCommand } from './commands/frr.js';
import { vrfCommand } from './commands/vrf.js';
import { Context, type GlobalOptions } from './context.js';
import { ExitStatus } from './exit-status.js';

/** The exit codes, for --help and vmrouter(8). */
export const EXIT_STATUS: readonly (readonly [number, string])[] = [
  [0, 'success (also: help and version)'],
  [1, 'a step failed on the host; what the transaction had done was rolled back'],
  [2, 'bad input: configuration, flags or environment; nothing was applied'],
  [3, 'doctor, repair: the kernel differs from what vmrouter applied'],
];

/** `vmrouter tap up` for messages. */
function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Commander's own errors (unknown option, missing value...) as one line like every other error, with
 * the help hint on it; a command that only groups others (tap, plan) named without one is an error too,
 * not a screen of help on stderr.
 */
function oneLineErrors(cmd: Command): void {
  cmd.exitOverride().configureOutput({
    outputError: (text, write) => write(`vmrouter: ${text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace('(Did you mean', '(did you mean')} (run ${pathOf(cmd)} --help for usage)\n`),
  });
  if (cmd.commands.length && cmd.parent) {
    cmd.allowExcessArguments().action((_opts: unknown, self: Command) => {
      const names = self.commands.map((c) => c.name());
      const choice = `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
      const [first] = self.args;
      const what = first === undefined ? 'missing command' : `unknown command ${JSON.stringify(first)}`;
      throw new UsageError(`${pathOf(self).replace(/^vmrouter /, '')}: ${what}: ${choice} (run ${pathOf(self)} --help for usage)`);
    });
  }
  for (const c of cmd.commands) oneLineErrors(c);
}

export function buildProgram(): Command {
  const program = new Command('vmrouter');
  let context: Context | null = null;
  const ctx = (): Context => (context ??= new Context(program.opts<GlobalOptions>()));
  program
    .description('routed L3 networking for hypervisor nodes: proxy ARP/NDP, policy routing and per-VM TAPs from one INI file')
    .version(VERSION, '-V, --version', 'print the version')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
    .addOption(new Option('--state-dir <dir>', 'where vmrouter records what it applied (default: /run/vmrouter, per network namespace)'))
    .option('-v, --verbose', 'say what was done')
    .option('--debug', 'print stack traces of errors')
    .addHelpText('after', `\nExit status:\n${EXIT_STATUS.map(([code, meaning]) => `  ${code}  ${meaning}`).join('\n')}\n\nSee vmrouter(8) and vmrouter.conf(5).`);
  program.addCommand(generateCommand(ctx));
  program.addCommand(checkCommand(ctx));
  for (const c of networkCommands(ctx, false)) program.addCommand(c);
  program.addCommand(tapCommand(ctx, false));
  program.addCommand(vnetCommand(ctx, false));
  program.addCommand(frrCommand(ctx));
  program.addCommand(vrfCommand(ctx));
  program.addCommand(planCommand(ctx));
  program.addCommand(ndpCommand(ctx));
  program.addCommand(reconcileCommand(ctx));
  program.addCommand(hookCommand(ctx));
  program.addCommand(libvirtCommand(ctx));
  program.addCommand(statusCommand(ctx));
  program.addCommand(doctorCommand(ctx));
  program.addCommand(repairCommand(ctx));
  oneLineErrors(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; commander already printed the message for usage errors
      return e.exitCode === 0 ? 0 : 2;
    }
    // `vrf exec`: the command's own status, already reported by the command if it wanted to
    if (e instanceof ExitStatus) return e.code;
    const debug = program.opts<GlobalOptions>().debug || process.env.VMROUTER_DEBUG === '1';
    if (e instanceof InvalidInput || e instanceof UsageError) {
      process.stderr.write(e.message.split('\n').map((l) => `vmrouter: ${l}`).join('\n') + '\n');
      return 2;
    }
    if (e instanceof StepFailed || e instanceof ConflictError) {
      process.stderr.write(`vmrouter: ${e.message}\n`);
      if (debug) process.stderr.write(`${e.stack}\n`);
      return 1;
    }
    process.stderr.write(`vmrouter: ${(e as Error).message ?? String(e)}\n`);
    if (debug) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}
