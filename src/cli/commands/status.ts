import { Command } from 'commander';
import type { Context } from '../context.js';
import { networksUp, tapsBound } from '../operations.js';

export function statusCommand(ctx: () => Context): Command {
  return new Command('status')
    .description('list the networks that are up and the TAPs bound on this node (this network namespace)')
    .option('--json', 'print the ledger as JSON')
    .action((opts: { json?: boolean }) => {
      const c = ctx();
      const ledger = c.runner.store.load();
      if (opts.json) {
        c.out(JSON.stringify(ledger, null, 1) + '\n');
        return;
      }
      const nets = networksUp(ledger);
      const taps = tapsBound(ledger);
      // feature attachments (`KIND:NAME@IFACE`) and their dependants (`KIND:NAME@IFACE/ITEM`)
      const features = Object.entries(ledger.owners).flatMap(([o, e]) => (e.kind === 'feature' ? [{ owner: o, entry: e }] : []));
      c.out(`state: ${c.runner.store.file}\n`);
      if (nets.length === 0 && features.length === 0) c.out('no network is up\n');
      for (const { owner, entry } of features.filter((f) => !f.owner.includes('/'))) {
        c.out(`${entry.feature} ${entry.record.name} on ${entry.iface}\n`);
        for (const d of features.filter((f) => f.owner.startsWith(`${owner}/`))) c.out(`  ${d.owner.slice(owner.length + 1)}${d.entry.keys ? `: ${d.entry.keys.length} objects` : ''}\n`);
      }
      for (const n of nets) {
        const fams = [n.v4?.subnet.cidr, n.v6?.subnet.cidr].filter(Boolean).join(' ');
        c.out(`network ${n.name}: ${n.role} on ${n.uplink}${n.table !== null ? `, table ${n.table}` : ''}, ${fams}\n`);
        for (const t of taps.filter((b) => b.network === n.name)) c.out(`  ${t.tap}${t.mac ? ` ${t.mac}` : ''} ${[...t.ips, ...t.ip6s].join(' ')}\n`);
      }
      const orphans = taps.filter((t) => !nets.some((n) => n.name === t.network));
      for (const t of orphans) c.out(`TAP ${t.tap} of network ${t.network} (not up): ${[...t.ips, ...t.ip6s].join(' ')}\n`);
    });
}
