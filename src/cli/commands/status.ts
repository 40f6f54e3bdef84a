import { Command } from 'commander';
import type { Context } from '../context.js';
import { attachmentsUp } from '../operations.js';
import { tapsBound } from '../tap-operations.js';
import { diagnose, healthy } from '../../doctor/doctor.js';
import { renderBgp } from '../../doctor/bgp.js';
import { vtySocketOf } from './doctor.js';

export function statusCommand(ctx: () => Context): Command {
  return new Command('status')
    .description('list what is applied on this node (this network namespace): every attachment, its dependants and the TAPs bound to routed networks; whether the kernel is as applied and, for routing = bgp, FRR\'s sessions')
    .option('--json', 'print the ledger as JSON')
    .option('--vty-socket <dir>', 'where FRR\'s vty sockets are (vtysh --vty_socket), for the BGP sessions of routing = bgp networks')
    .action(async (opts: { json?: boolean; vtySocket?: string }) => {
      const c = ctx();
      const ledger = c.runner.store.load();
      if (opts.json) {
        c.out(JSON.stringify(ledger, null, 1) + '\n');
        return;
      }
      const applied = attachmentsUp(ledger);
      const taps = tapsBound(ledger);
      c.out(`state: ${c.runner.store.file}\n`);
      if (applied.length === 0) c.out('nothing is up\n');
      for (const { owner, entry } of applied) {
        // a part (`KIND:NAME@IFACE:PART`): one of several stanzas of the interface, an snf-network family
        const part = owner.slice(owner.indexOf(`@${entry.iface}`) + entry.iface.length + 1).replace(/^:/, '');
        c.out(`${entry.feature} ${entry.record.name} on ${entry.iface}${part ? ` (${part})` : ''}${entry.summary ? `: ${entry.summary}` : ''}\n`);
        // dependants (`KIND:NAME@IFACE/ITEM`), and the TAPs bound to a routed network
        for (const [o, e] of Object.entries(ledger.owners)) if (o.startsWith(`${owner}/`) || o.startsWith(`${owner}#`)) c.out(`  ${o.slice(owner.length + 1)}${e.keys ? `: ${e.keys.length} objects` : ''}\n`);
        if (entry.feature === 'network') for (const t of taps.filter((b) => b.network === entry.record.name)) c.out(`  ${t.tap}${t.mac ? ` ${t.mac}` : ''} ${[...t.ips, ...t.ip6s].join(' ')}\n`);
      }
      const networks = new Set(applied.filter((a) => a.entry.feature === 'network').map((a) => a.entry.record.name));
      for (const t of taps.filter((b) => !networks.has(b.network))) c.out(`TAP ${t.tap} of network ${t.network} (not up): ${[...t.ips, ...t.ip6s].join(' ')}\n`);
      if (applied.length === 0 && taps.length === 0) return;
      const d = await diagnose(c.host, ledger, { vtySocket: vtySocketOf(opts) });
      const n = d.findings.length + d.paths.length;
      c.out(healthy({ findings: d.findings, paths: d.paths }) ? 'kernel: as applied\n' : `kernel: ${n} difference${n === 1 ? '' : 's'} from what was applied; vmrouter doctor lists them, vmrouter repair makes it so again\n`);
      if (d.bgp) c.out(renderBgp(d.bgp));
    });
}
