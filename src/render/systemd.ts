/**
 * systemd drop-ins: quoting for command lines (systemd.service(5) "Command lines", systemd.syntax(7))
 * and the drop-in that runs a service inside a VRF (`vmrouter vrf drop-in`).
 */
import { UsageError } from '../config/errors.js';
import { renderTemplate } from './templates.js';

/** Words systemd reads as themselves: no quotes, escapes, specifiers (%), variables ($) or `;`. */
const BARE = /^[A-Za-z0-9_@+=:,./-]+$/;

/**
 * One argument of an Exec*= line, so systemd hands the program exactly `arg`. Double quotes keep
 * whitespace in one word; inside them systemd still unescapes C-style `\` sequences, expands `%`
 * specifiers (before splitting, quoted or not: `%%` is a literal `%`) and `$VAR` (`$$` is a
 * literal `$`). A lone `;` separates commands unless quoted. A newline cannot be carried (the
 * unit file is line based; `\n` would be unescaped to one, but systemd warns on control
 * characters and an operator reading the file would be misled), so arguments with one are refused.
 */
export function systemdQuote(arg: string): string {
  if (/[\n\r]/.test(arg)) throw new UsageError(`${JSON.stringify(arg)}: a systemd command line cannot carry a newline`);
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(arg)) throw new UsageError(`${JSON.stringify(arg)}: control characters cannot be written in a systemd command line`);
  if (BARE.test(arg)) return arg;
  const body = arg.replace(/[\\"%$\t]/g, (ch) => ({ '\\': '\\\\', '"': '\\"', '%': '%%', $: '$$', '\t': '\\t' })[ch]!);
  return `"${body}"`;
}

/** Unit names systemd accepts (unit_name_is_valid): letters, digits and `:_.\-@`, at most 255. */
const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]{1,247}$/;

/** The service a drop-in is for: `nginx` means nginx.service, as systemctl reads it. */
export function serviceUnit(name: string): string {
  const unit = /\.[a-z]+$/.test(name) ? name : `${name}.service`;
  if (!UNIT_NAME.test(name) || name.startsWith('.') || unit.length > 255) throw new UsageError(`--unit ${JSON.stringify(name)}: not a systemd unit name`);
  if (!unit.endsWith('.service')) throw new UsageError(`--unit ${JSON.stringify(name)}: only a .service runs a command (ExecStart=)`);
  return unit;
}

export interface VrfDropIn {
  /** NAME as given to `vrf exec` */
  vrf: string;
  device: string;
  /** `[vrf blue]`, `[twin io] inner side` */
  what: string;
  unit: string;
  /** the configuration file vmrouter reads at start, or null for the default */
  config: string | null;
  source: string;
  command: string[];
}

/** The drop-in text; the command is re-run by `vmrouter vrf exec`, which finds the device at start. */
export async function renderVrfDropIn(d: VrfDropIn): Promise<string> {
  if (d.command.length === 0) throw new UsageError('vrf drop-in: missing command');
  const argv = ['/usr/sbin/vmrouter', ...(d.config ? ['--config', d.config] : []), 'vrf', 'exec', d.vrf, '--', ...d.command];
  const dashes = argv.indexOf('--');
  const execStart = argv.map((a, i) => {
    try {
      return systemdQuote(a);
    } catch (e) {
      throw new UsageError(`vrf drop-in: ${i > dashes ? `argument ${i - dashes}` : '--config'} ${(e as Error).message}`);
    }
  });
  return renderTemplate('vrf-drop-in', { ...d, execStart: execStart.join(' ') });
}
