/**
 * `vmrouter up|down [SECTION...]`: what ifup and ifdown of the interfaces would do, outside
 * ifupdown. Every kind of section alike: routed networks, VRFs, twins, NAT pairs, virtual networks.
 */
import { Command } from 'commander';
import { UsageError } from '../../config/errors.js';
import type { Attachment, Feature, FeatureRecord } from '../../features/feature.js';
import { FEATURES, keptRecord } from '../../features/registry.js';
import type { Context } from '../context.js';
import { attachmentsUp, deviceOwner, deviceUpOp, featureDownOp, featureUpOp, ownerDownOp, type Operation } from '../operations.js';

interface DryRun {
  dryRun?: boolean;
  fromScratch?: boolean;
  node?: string;
}

export function requireDryRun(opts: DryRun, planning: boolean): void {
  if (opts.fromScratch && !planning && !opts.dryRun) throw new UsageError('--from-scratch only makes sense with --dry-run (or under `vmrouter plan`)');
}

/** `NAME` or `KIND/NAME` → does it name this section? */
const names = (arg: string, kind: string, name: string): boolean => arg === name || arg === `${kind}/${name}`;

interface Chosen {
  feature: Feature<FeatureRecord>;
  record: FeatureRecord;
  attachment: Attachment;
}

/** The configured attachments the arguments name (all when none), for this node. */
function chosen(c: Context, args: string[], node: string | undefined): Chosen[] {
  const config = c.config();
  const kernel = c.kernel();
  const out: Chosen[] = [];
  for (const arg of args) {
    const kinds = FEATURES.filter((f) => (config.features.get(f.kind) ?? []).some((r) => names(arg, f.kind, r.name)));
    if (kinds.length === 0) throw new UsageError(`no such section in ${c.globals.config}: ${arg}`);
    if (kinds.length > 1) throw new UsageError(`${arg} names ${kinds.map((f) => `[${f.kind} ${arg}]`).join(' and ')}: say ${kinds.map((f) => `${f.kind}/${arg}`).join(' or ')}`);
  }
  for (const f of FEATURES) {
    for (const record of config.features.get(f.kind) ?? []) {
      if (args.length > 0 && !args.some((a) => names(a, f.kind, record.name))) continue;
      const attachments = f.attach(record, kernel);
      const mine = attachments.filter((a) => a.nodes === undefined || (node !== undefined && a.nodes.includes(node)));
      if (mine.length === 0 && attachments.length > 0 && node === undefined) {
        // asked for by name: an error; as part of "everything": said, and left out
        if (args.length > 0) throw new UsageError(`[${f.kind} ${record.name}] has a part per node: say which node this is (--node NAME)`);
        c.err(`vmrouter: [${f.kind} ${record.name}] left out: it has a part per node; say which node this is with --node NAME\n`);
      }
      out.push(...mine.map((attachment) => ({ feature: f, record, attachment })));
    }
  }
  return out;
}

export function networkCommands(ctx: () => Context, planning: boolean): Command[] {
  const up = new Command('up')
    .description('apply sections of the configuration (all when none named), as `ifup` of their interfaces would')
    .argument('[section...]', 'section names (NAME, or KIND/NAME when two kinds share it)')
    .action(async (args: string[], opts: DryRun) => {
      const c = ctx();
      requireDryRun(opts, planning);
      const ops = chosen(c, args, opts.node).flatMap((x) => [
        ...(x.attachment.create ? [deviceUpOp(x.feature.kind, x.record.name, x.attachment.iface, x.attachment.create)] : []),
        featureUpOp(c.host, x.feature.kind, keptRecord(x.feature, x.record), x.attachment),
      ]);
      await c.run(ops, { dryRun: planning || opts.dryRun, fromScratch: opts.fromScratch });
    });
  const down = new Command('down')
    .description('remove what `up` or ifup added for sections (all that are up when none named)')
    .argument('[section...]', 'section names (NAME, or KIND/NAME)')
    .action(async (args: string[], opts: DryRun) => {
      const c = ctx();
      requireDryRun(opts, planning);
      if (opts.fromScratch) {
        // as on a clean node where `up` applied them: what down would remove
        const picked = chosen(c, args, opts.node);
        const ups: Operation[] = picked.map((x) => featureUpOp(c.host, x.feature.kind, keptRecord(x.feature, x.record), x.attachment));
        await c.run(picked.map((x) => featureDownOp(x.feature.kind, x.record.name, x.attachment.iface)).reverse(), { dryRun: true, fromScratch: true, assumeDone: ups });
        return;
      }
      const applied = attachmentsUp(c.runner.store.load());
      const pick = applied.filter((a) => args.length === 0 || args.some((x) => names(x, a.entry.feature, a.entry.record.name)));
      const unknown = args.filter((x) => !applied.some((a) => names(x, a.entry.feature, a.entry.record.name)));
      if (unknown.length) throw new UsageError(`not up on this node: ${unknown.join(', ')}`);
      // the reverse of registry order: what builds on an interface goes before what it builds on
      const rank = (kind: string) => FEATURES.findIndex((f) => f.kind === kind);
      pick.sort((a, b) => rank(b.entry.feature) - rank(a.entry.feature));
      const ledger = c.runner.store.load();
      const ops = pick.flatMap((a) => {
        const device = deviceOwner(a.entry.feature, a.entry.record.name, a.entry.iface);
        return [ownerDownOp(a.owner, `down ${a.entry.feature} ${a.entry.record.name} on ${a.entry.iface}`), ...(ledger.owners[device] ? [ownerDownOp(device, `delete ${a.entry.iface}`)] : [])];
      });
      await c.run(ops, { dryRun: planning || opts.dryRun });
    });
  for (const cmd of [up, down]) {
    if (!planning) cmd.option('-n, --dry-run', 'print the commands instead of running them');
    cmd.option('--from-scratch', planning ? 'as if vmrouter had applied nothing on this node' : 'with --dry-run: as if vmrouter had applied nothing on this node');
    cmd.option('--node <name>', 'this node\'s name, for sections with a part per node ([vnet NAME] hosts and routers)');
  }
  return [up, down];
}
