import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { InputError, InvalidInput, UsageError } from '../../config/errors.js';
import { KIND } from '../../features/vnet.js';
import { networkNameProblem } from '../../model/names.js';
import { parsePlacements, type Placement, type VnetRecord } from '../../model/vnet.js';
import { renderFrr } from '../../render/frr.js';
import type { Context } from '../context.js';
import { vnetSyncOp } from '../vnet-operations.js';
import { writeFileAtomic } from '../write-file.js';

/** The placements file of a network; a missing file means no VM runs anywhere yet. */
function readPlacements(v: VnetRecord): Placement[] {
  let text: string;
  try {
    text = readFileSync(v.placements, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InvalidInput([new InputError({ file: v.placements, section: `placements of [vnet ${v.name}]` }, `cannot read: ${(e as Error).message}`)]);
  }
  return parsePlacements(text, v.placements, v);
}

function records(c: Context, names: string[] | undefined): VnetRecord[] {
  const all = (c.config().features.get(KIND) ?? []) as VnetRecord[];
  if (!names) return all;
  const unknown = names.filter((n) => !all.some((v) => v.name === n));
  if (unknown.length) throw new UsageError(`--network: no [vnet NAME] section in ${c.globals.config} for ${unknown.join(', ')}`);
  return all.filter((v) => names.includes(v.name));
}

function checkNode(node: string): void {
  const problem = networkNameProblem(node);
  if (problem) throw new UsageError(`--node ${JSON.stringify(node)}: ${problem.replace('network name', 'node name')}`);
}

/** `vmrouter vnet sync|frr`: per-VM state and FRR configuration of proxy-ARP virtual networks. */
export function vnetCommand(ctx: () => Context, planning: boolean): Command {
  const vnet = new Command('vnet').description('proxy-ARP virtual networks across hosts ([vnet NAME] sections)');
  const sync = new Command('sync')
    .description('make this node\'s per-VM routes match the placements files: add the VMs that arrived, move the ones that moved, remove (and announce) the ones that left, in one transaction')
    .requiredOption('--node <name>', 'this node: a host or router named in the [vnet NAME] sections')
    .option('--network <name...>', 'only these virtual networks (default: every one this node is part of)')
    .action(async (opts: { node: string; network?: string[]; dryRun?: boolean }) => {
      const c = ctx();
      checkNode(opts.node);
      const mine = records(c, opts.network).filter((v) => opts.network || [...v.hosts, ...v.routers].some((n) => n.name === opts.node));
      if (mine.length === 0) throw new UsageError(`--node ${opts.node}: not a host or router of any [vnet NAME] in ${c.globals.config}`);
      // every placements file read and checked before anything runs
      const placements = new Map(mine.map((v) => [v.name, readPlacements(v)]));
      await c.run([vnetSyncOp(mine, opts.node, (v) => placements.get(v.name)!)], { dryRun: planning || opts.dryRun });
    });
  if (!planning) sync.option('-n, --dry-run', 'print the commands instead of running them');
  vnet.addCommand(sync);
  if (planning) return vnet;
  const frr = new Command('frr')
    .description('write the FRR configuration (frr.conf and daemons) of a node for the virtual networks with routing = bgp')
    .requiredOption('--node <name>', 'the host or router to write it for')
    .option('--out <dir>', 'write frr.conf and daemons into this directory (e.g. /etc/frr) instead of printing frr.conf')
    .action(async (opts: { node: string; out?: string }) => {
      const c = ctx();
      checkNode(opts.node);
      const files = await renderFrr(records(c, undefined), opts.node, c.globals.config);
      if (!opts.out) return c.out(files['frr.conf']);
      mkdirSync(opts.out, { recursive: true });
      writeFileAtomic(join(opts.out, 'frr.conf'), files['frr.conf']);
      writeFileAtomic(join(opts.out, 'daemons'), files.daemons);
    });
  return vnet.addCommand(frr);
}
