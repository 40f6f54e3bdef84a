/**
 * `vmrouter doctor [SECTION...] [--tap TAP] [--json]`: the kernel compared with what the ledger says
 * is applied, per attachment and per VM; `vmrouter repair`: make it so again.
 */
import { Command } from 'commander';
import { ownerOf, type Finding } from '../../doctor/check.js';
import { diagnose, healthy, type Diagnosis } from '../../doctor/doctor.js';
import type { Context } from '../context.js';
import { ExitStatus } from '../exit-status.js';
import { repairOp } from '../operations.js';
import { renderBgp } from '../../doctor/bgp.js';
import { UsageError } from '../../config/errors.js';

/** doctor's exit status when the kernel is not as applied */
export const DRIFT = 3;

function label(f: Finding): string {
  switch (f.kind) {
    case 'missing':
      return `missing   ${f.what}`;
    case 'differs':
      return `differs   ${f.what} (now ${f.now})`;
    case 'stale':
      return `stale     ${f.what}: repair releases what it held`;
    case 'unowned':
      return `unowned   ${f.what} (vmrouter's stamp, no owner in the ledger: expanded stanzas, or left by hand)`;
  }
}

/** Findings of the owners the arguments name: attachments of sections `names`, TAPs `tap`. */
function only(d: Diagnosis, names: string[], tap: string | undefined): Diagnosis {
  if (names.length === 0 && tap === undefined) return d;
  const wanted = (owner: string) => (tap !== undefined && owner === `tap:${tap}`) || names.some((n) => new RegExp(`^[a-z-]+:${n}@`).test(owner) || owner.startsWith(`${n}/`));
  const bgp = d.bgp ? { ...d.bgp, unannounced: d.bgp.unannounced.filter((u) => tap === undefined || u.tap === tap) } : d.bgp;
  return { findings: d.findings.filter((f) => f.kind !== 'unowned' && (f.kind === 'stale' ? wanted(f.owner) : f.holders.some(wanted))), paths: d.paths.filter((p) => p.tap === tap || (tap === undefined && names.length === 0)), bgp };
}

export function render(d: Diagnosis, state: string): string {
  const bgp = d.bgp ? renderBgp(d.bgp) : '';
  const kernel = { findings: d.findings, paths: d.paths };
  if (healthy(kernel)) return `kernel as applied (${state})\n${bgp}`;
  const lines = [`${d.findings.length + d.paths.length} difference${d.findings.length + d.paths.length === 1 ? '' : 's'} between the kernel and what was applied (${state}):`];
  const byOwner = new Map<string, Finding[]>();
  for (const f of d.findings) byOwner.set(ownerOf(f), [...(byOwner.get(ownerOf(f)) ?? []), f]);
  for (const [owner, fs] of byOwner) {
    lines.push(owner);
    for (const f of fs) lines.push(`  ${label(f)}`);
  }
  for (const p of d.paths) lines.push(`tap:${p.tap}`, `  path      ${p.address} should go to ${p.want}; the kernel would: ${p.got}`);
  lines.push('vmrouter repair makes again what is missing and sets back what differs.');
  return lines.join('\n') + '\n' + bgp;
}

/** --vty-socket DIR, checked: it goes to vtysh as an argument */
export function vtySocketOf(opts: { vtySocket?: string }): string | null {
  const dir = opts.vtySocket;
  if (dir === undefined) return null;
  if (!dir.startsWith('/') || /[\s\0]/.test(dir)) throw new UsageError(`--vty-socket ${JSON.stringify(dir)}: not an absolute directory name`);
  return dir;
}

export function doctorCommand(ctx: () => Context): Command {
  return new Command('doctor')
    .description('compare the kernel with what vmrouter applied (rules, routes, proxy neighbours, nft tables and elements, sysctls, MACs, each VM\'s path) and, for routing = bgp, FRR\'s sessions and what they announce; exit 3 when they differ; changes nothing')
    .argument('[section...]', 'only the attachments of these sections (NAME)')
    .option('--tap <iface>', 'only this TAP')
    .option('--json', 'print the findings as JSON')
    .option('--vty-socket <dir>', 'where FRR\'s vty sockets are (vtysh --vty_socket), for the BGP sessions of routing = bgp networks')
    .action(async (names: string[], opts: { tap?: string; json?: boolean; vtySocket?: string }) => {
      const c = ctx();
      const ledger = c.runner.store.load();
      const d = only(await diagnose(c.host, ledger, { vtySocket: vtySocketOf(opts) }), names, opts.tap);
      if (opts.json) c.out(JSON.stringify({ healthy: healthy(d), ...d }, null, 1) + '\n');
      else c.out(render(d, c.runner.store.file));
      if (!healthy(d)) throw new ExitStatus(DRIFT);
    });
}

export function repairCommand(ctx: () => Context): Command {
  return new Command('repair')
    .description('make again what the kernel lost of what vmrouter applied, set back what differs, release TAPs that are gone: one transaction; objects that are right are not touched')
    .action(async () => {
      const c = ctx();
      const before = await diagnose(c.host, c.runner.store.load());
      const stale = new Set(before.findings.flatMap((f) => (f.kind === 'stale' ? [f.owner] : [])));
      await c.run([repairOp(stale)]);
      const after = await diagnose(c.host, c.runner.store.load());
      const fixed = before.findings.length + before.paths.length - (after.findings.length + after.paths.length);
      c.err(`vmrouter: repair: ${fixed} of ${before.findings.length + before.paths.length} difference${before.findings.length + before.paths.length === 1 ? '' : 's'} resolved\n`);
      // objects stamped as vmrouter's that no owner holds are reported, not removed: not known to be ours
      const left: Diagnosis = { findings: after.findings.filter((f) => f.kind !== 'unowned'), paths: after.paths };
      if (!healthy(left)) {
        c.out(render(left, c.runner.store.file));
        throw new ExitStatus(DRIFT);
      }
    });
}
