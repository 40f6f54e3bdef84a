/** `vmrouter plan` / `--dry-run` output: the commands a transaction would run, each after its reason. */
import { doArgv, undoArgv } from '../plan/step.js';
import type { TxPlan } from '../exec/transaction.js';
import { shellLine } from './shell.js';

export function renderTxPlan(title: string, tx: Pick<TxPlan, 'actions' | 'announces'>): string {
  const out = [`# ${title}`];
  if (tx.actions.length === 0 && tx.announces.length === 0) out.push('# nothing to do');
  for (const a of tx.actions) {
    const s = a.step;
    let argv: string[] | null;
    if (a.op === 'do') argv = doArgv(s);
    else if (s.kind === 'sysctl') argv = ['sysctl', '-q', '-w', `${s.path}=${a.restore ?? s.fallback}`];
    else if (s.kind === 'mac') argv = a.restore ? ['ip', 'link', 'set', 'dev', s.dev, 'address', a.restore] : null;
    else if (s.kind === 'link-up') argv = a.restore === 'down' ? ['ip', 'link', 'set', 'dev', s.dev, 'down'] : null;
    else argv = undoArgv(s);
    out.push(`# ${a.op === 'do' ? '' : 'remove: '}${s.why}`);
    out.push(argv ? shellLine(argv) : s.kind === 'link-up' ? '# (it was up before: left up)' : '# (removed by the kernel with its device)');
  }
  for (const s of tx.announces) out.push(`# then send: ${s.why}`);
  return out.join('\n') + '\n';
}
