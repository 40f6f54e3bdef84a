/** Doctor and repair around one damage, for the features' own end-to-end tests. */
import type { Test } from 'tap';
import { inNs } from './run.js';
import { snapshot, snapshotDiff } from './snapshot.js';
import { vmrouter } from './vmrouter.js';

/**
 * Deletes an nft table of vmrouter's in `ns` (as `nft flush ruleset` or a reload of nftables.service
 * would): doctor names it and exits 3, repair makes it again, doctor is clean, the kernel as before.
 */
export async function tableLostAndRepaired(t: Test, ns: string, table: string): Promise<void> {
  const before = await snapshot(ns);
  await inNs(ns, ['nft', 'delete', 'table', ...table.split(' ')]);
  const d = await vmrouter(['doctor'], { ns, ok: false });
  t.equal(d.code, 3, `${ns}: doctor exits 3 without ${table}`);
  t.ok(d.stdout.split('\n').includes(`  missing   nft table ${table}`), `${ns}: doctor names nft table ${table}`);
  await vmrouter(['repair'], { ns });
  t.equal((await vmrouter(['doctor'], { ns, ok: false })).code, 0, `${ns}: doctor is clean after repair`);
  t.equal(snapshotDiff(before, await snapshot(ns)), '', `${ns}: the kernel state before the table was lost`);
}
