/**
 * `vmrouter plan ifup IFACE` / `plan ifdown IFACE`: what the hook would do when ifupdown brings up or
 * down an interface whose stanzas `vmrouter generate` wrote — every attachment on it, routed networks
 * included — each planned on the ledger the previous one would leave.
 */
import { Command } from 'commander';
import { UsageError } from '../../config/errors.js';
import { FEATURES, keptRecord } from '../../features/registry.js';
import { ifnameProblem } from '../../model/names.js';
import type { Context } from '../context.js';
import { deviceDownOp, deviceUpOp, featureDownOp, featureUpOp, type Operation } from '../operations.js';

interface Options {
  node?: string;
  fromScratch?: boolean;
}

/** Up and down operations for IFACE, in ifup order (registry order: routed networks first). */
function operationsOn(c: Context, iface: string, node: string | undefined): { up: Operation[]; down: Operation[] } {
  const problem = ifnameProblem(iface);
  if (problem) throw new UsageError(`${JSON.stringify(iface)}: ${problem}`);
  const config = c.config();
  const kernel = c.kernel();
  const up: Operation[] = [];
  const down: Operation[] = [];
  for (const f of FEATURES) {
    for (const record of config.features.get(f.kind) ?? []) {
      for (const a of f.attach(record, kernel)) {
        if (a.iface !== iface || (node !== undefined && a.nodes !== undefined && !a.nodes.includes(node))) continue;
        // the device its stanza makes (pre-up) and deletes (post-down), around the rest
        if (a.create) up.push(deviceUpOp(f.kind, record.name, iface, a.create));
        up.push(featureUpOp(c.host, f.kind, keptRecord(f, record), a));
        if (a.create) down.push(deviceDownOp(f.kind, record.name, iface));
        down.push(featureDownOp(f.kind, record.name, iface));
      }
    }
  }
  if (up.length === 0) throw new UsageError(`${iface}: no section of ${c.globals.config} attaches to it${node ? ` for node ${node}` : ''}`);
  return { up, down: down.reverse() };
}

export function ifPlanCommands(ctx: () => Context): Command[] {
  const make = (direction: 'ifup' | 'ifdown') =>
    new Command(direction)
      .description(direction === 'ifup' ? 'print what `ifup IFACE` would apply through the hook: its networks and feature attachments' : 'print what `ifdown IFACE` would remove through the hook')
      .argument('<iface>', 'the interface of the generated stanzas')
      .option('--node <name>', 'only the attachments of this node (as `generate --node`)')
      .option('--from-scratch', 'as if vmrouter had applied nothing on this node (for ifdown: as if ifup had just run)')
      .action(async (iface: string, opts: Options) => {
        const c = ctx();
        const { up, down } = operationsOn(c, iface, opts.node);
        if (direction === 'ifup') await c.run(up, { dryRun: true, fromScratch: opts.fromScratch });
        else await c.run(down, { dryRun: true, fromScratch: opts.fromScratch, ...(opts.fromScratch ? { assumeDone: up } : {}) });
      });
  return [make('ifup'), make('ifdown')];
}
