import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import lockfile from 'proper-lockfile';
import { InputError, InvalidInput, UsageError } from '../../config/errors.js';
import { KIND } from '../../features/vnet.js';
import { networkNameProblem } from '../../model/names.js';
import { editPlacements, parsePlacements, type Placement, type VnetRecord } from '../../model/vnet.js';
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

/**
 * Rewrites one VM's line of a placements file under a lock (hypervisor hooks of several VMs run at
 * once); the new file is checked as a whole before it replaces the old one.
 */
async function editPlacementsFile(v: VnetRecord, vm: string, host: string | null, ips: string[]): Promise<void> {
  if (networkNameProblem(vm)) throw new UsageError(`VM ${JSON.stringify(vm)}: not a VM name (1-32 letters, digits, "_" or "-")`);
  mkdirSync(dirname(v.placements), { recursive: true });
  const release = await lockfile.lock(v.placements, { realpath: false, stale: 15000, retries: { retries: 500, minTimeout: 5, maxTimeout: 50 } });
  try {
    let text = '';
    try {
      text = readFileSync(v.placements, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const next = editPlacements(text, vm, host, ips);
    parsePlacements(next, v.placements, v);
    writeFileAtomic(v.placements, next);
  } finally {
    await release();
  }
}

function records(c: Context, names: string[] | undefined): VnetRecord[] {
  const all = (c.config().features.get(KIND) ?? []) as VnetRecord[];
  if (!names) return all;
  const unknown = names.filter((n) => !all.some((v) => v.name === n));
  if (unknown.length) throw new UsageError(`--network: no [vnet NAME] section in ${c.globals.config} for ${unknown.join(', ')}`);
  return all.filter((v) => names.includes(v.name));
}

/** `--network NAME`, or the configuration's only [vnet NAME] when it has one. */
function theVnet(c: Context, name: string | undefined): VnetRecord {
  if (name !== undefined) return records(c, [name])[0]!;
  const all = records(c, undefined);
  if (all.length === 1) return all[0]!;
  throw new UsageError(`--network is required: ${c.globals.config} has ${all.length === 0 ? 'no [vnet NAME] section' : `${all.length} [vnet NAME] sections (${all.map((v) => v.name).join(', ')})`}`);
}

function checkNode(node: string): void {
  const problem = networkNameProblem(node);
  if (problem) throw new UsageError(`--node ${JSON.stringify(node)}: ${problem.replace('network name', 'node name')}`);
}

/** `vmrouter vnet sync|frr`: per-VM state and FRR configuration of proxy-ARP virtual networks. */
export function vnetCommand(ctx: () => Context, planning: boolean): Command {
  const vnet = new Command('vnet').description('proxy-ARP virtual networks across hosts ([vnet NAME] sections)');
  const sync = new Command('sync')
    .description('make this node\'s per-VM routes and proxy NDP entries match the placements files: add the VMs that arrived, move the ones that moved, remove (and announce) the ones that left, in one transaction')
    .requiredOption('--node <name>', 'this node: a host or router named in the [vnet NAME] sections')
    .option('--network <name...>', 'only these virtual networks (default: every one this node is part of)')
    .option('--from-scratch', 'with a dry run: as if vmrouter had applied nothing on this node')
    .action(async (opts: { node: string; network?: string[]; dryRun?: boolean; fromScratch?: boolean }) => {
      const c = ctx();
      checkNode(opts.node);
      const mine = records(c, opts.network).filter((v) => opts.network || [...v.hosts, ...v.routers].some((n) => n.name === opts.node));
      if (mine.length === 0) throw new UsageError(`--node ${opts.node}: not a host or router of any [vnet NAME] in ${c.globals.config}`);
      // every placements file read and checked before anything runs
      const placements = new Map(mine.map((v) => [v.name, readPlacements(v)]));
      await c.run([vnetSyncOp(mine, opts.node, (v) => placements.get(v.name)!)], { dryRun: planning || opts.dryRun, fromScratch: opts.fromScratch });
    });
  if (!planning) sync.option('-n, --dry-run', 'print the commands instead of running them');
  vnet.addCommand(sync);
  if (planning) return vnet;
  const place = new Command('place')
    .description('record in the placements file that VM runs on HOST with these addresses (for hypervisor hooks); then run `vnet sync` on the nodes')
    .option('--network <name>', 'the virtual network (default: the only one of the configuration)')
    .argument('<vm>', 'the VM')
    .argument('<host>', 'the host it runs on now')
    .argument('<address...>', 'its addresses (IPv4, and IPv6 with subnet6)')
    .action(async (vm: string, host: string, addresses: string[], opts: { network?: string }) => {
      await editPlacementsFile(theVnet(ctx(), opts.network), vm, host, addresses);
    });
  const unplace = new Command('unplace')
    .description('remove VM from the placements file (it stopped); then run `vnet sync` on the nodes')
    .option('--network <name>', 'the virtual network (default: the only one of the configuration)')
    .argument('<vm>', 'the VM')
    .action(async (vm: string, opts: { network?: string }) => {
      await editPlacementsFile(theVnet(ctx(), opts.network), vm, null, []);
    });
  vnet.addCommand(place).addCommand(unplace);
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
