/**
 * `vmrouter vrf exec NAME -- COMMAND...` and `vmrouter vrf drop-in NAME --unit UNIT -- COMMAND...`:
 * run a service of the node inside a VRF of the configuration (issue 6). NAME is a [vrf NAME]
 * section, or TWIN/inner, TWIN/outer for a side of a [twin] in the VRF variant.
 */
import { isAbsolute, resolve } from 'node:path';
import { Command } from 'commander';
import { DEFAULT_CONFIG } from '../../config/load.js';
import { vrfTarget } from '../../features/vrf-target.js';
import { execInVrf } from '../../exec/vrf-exec.js';
import { renderVrfDropIn, serviceUnit } from '../../render/systemd.js';
import type { Context } from '../context.js';
import { ExitStatus } from '../exit-status.js';
import { writeFileAtomic } from '../write-file.js';

const NAME_HELP = 'a [vrf NAME] section, or TWIN/inner or TWIN/outer: a side of a [twin] section (VRF variant)';

export function vrfCommand(ctx: () => Context): Command {
  const vrf = new Command('vrf').description('run a command or a systemd service inside a VRF of the configuration');
  const exec = new Command('exec')
    .description('run COMMAND with its sockets in the VRF (`ip vrf exec DEVICE`); its exit status and signals pass through')
    .argument('<name>', NAME_HELP)
    .argument('<command...>', 'the command and its arguments, after --')
    .usage('[options] <name> -- <command...>')
    .action(async (name: string, command: string[]) => {
      const c = ctx();
      const target = vrfTarget(c.config(), c.globals.config, name, c.kernel());
      const code = await execInVrf(target.device, command);
      if (code !== 0) throw new ExitStatus(code);
    });
  const dropIn = new Command('drop-in')
    .description('print a systemd drop-in that makes UNIT run COMMAND through `vmrouter vrf exec NAME`')
    .argument('<name>', NAME_HELP)
    .argument('<command...>', 'the service\'s command line, after -- (replaces its ExecStart=)')
    .requiredOption('--unit <unit>', 'the service (nginx or nginx.service); the drop-in goes to /etc/systemd/system/UNIT.d/vmrouter-vrf.conf')
    .option('--out <file>', 'write the drop-in to this file (atomically) instead of standard output')
    .usage('[options] <name> --unit <unit> -- <command...>')
    .action(async (name: string, command: string[], opts: { unit: string; out?: string }) => {
      const c = ctx();
      const unit = serviceUnit(opts.unit);
      const target = vrfTarget(c.config(), c.globals.config, name, c.kernel());
      const file = c.globals.config;
      // the service reads the same file at start: absolute, and only named when not the default
      const config = file === DEFAULT_CONFIG ? null : isAbsolute(file) ? file : resolve(file);
      const text = await renderVrfDropIn({ vrf: name, device: target.device, what: target.what, unit, config, source: file, command });
      if (opts.out) writeFileAtomic(opts.out, text);
      else c.out(text);
    });
  return vrf.addCommand(exec).addCommand(dropIn);
}
