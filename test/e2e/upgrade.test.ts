/**
 * An upgrade from vmrouter 0.1.0 (issue 12): a node whose interfaces were brought up by 0.1.0 — a
 * compact routed network, snf-network stanzas per address family, a NAT pair and one bound TAP —
 * is torn down by this release's hooks and commands, exactly. The fixtures in
 * test/fixtures/release-0.1.0 (made by its make.sh with the 0.1.0 binary) hold what 0.1.0 left:
 * the interfaces file, its ledger, the commands its hooks ran and the kernel state they produced.
 * The test rebuilds that state from the commands (and checks it is the same), puts 0.1.0's ledger
 * in place as the same namespace would have it after `apt-get upgrade`, and runs the new code.
 */
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Lab, ifupdown, installHooks } from '../lib/netns.js';
import { inNs } from '../lib/run.js';
import { etcFile } from '../lib/single-node.js';
import { snapshot, snapshotDiff, withoutLinks } from '../lib/snapshot.js';
import { ROOT, vmrouter } from '../lib/vmrouter.js';

const FIXTURES = join(ROOT, 'test/fixtures/release-0.1.0');
const PREFIX = 'vr12u-';
const lab = new Lab(PREFIX);
let node: string;
let baseline: string;
const UPLINKS = ['eth0.222', 'eth0.333'];
t.teardown(() => lab.cleanup());

t.before(async () => {
  await Lab.sweep(PREFIX);
  node = await lab.ns('node');
  for (const [dev, peer] of [['eth0.222', 'p1'], ['eth0.333', 'p2'], ['tr0', 'p3'], ['cA', 'p4'], ['tap1', 'vm1']] as const) {
    const ns = await lab.ns(peer);
    await lab.link(node, dev, ns, 'eth0');
    await lab.up(ns, 'eth0');
  }
  await lab.up(node, 'tap1');
  baseline = await snapshot(node, { recreated: UPLINKS });
});

t.test('the commands 0.1.0 ran rebuild the kernel state it left', async (t) => {
  // ifupdown brings a manual interface up before its hooks run
  for (const dev of ['eth0.222', 'eth0.333', 'tr0', 'cA']) await lab.up(node, dev);
  for (const line of readFileSync(join(FIXTURES, 'replay.txt'), 'utf8').split('\n').filter((l) => l.trim() !== '')) {
    // the plans of several interfaces each begin with the shared tables: the second time they exist
    const r = await inNs(node, ['sh', '-c', line], { ok: false });
    if (r.code !== 0 && !/File exists/.test(r.stderr)) t.fail(`${line}: ${r.stderr}`);
  }
  t.equal(snapshotDiff(readFileSync(join(FIXTURES, 'state.txt'), 'utf8'), withoutLinks(await snapshot(node))), '', 'the same state as 0.1.0 left (state.txt)');
});

t.test("this release reads 0.1.0's ledger and stanzas", async (t) => {
  // 0.1.0's ledger, as the same namespace has it after the upgrade: its identity is this namespace's
  const dir = `/run/vmrouter/netns/${node}`;
  cpSync(join(FIXTURES, 'ledger'), dir, { recursive: true });
  const main = JSON.parse(readFileSync(join(dir, 'ledger.json'), 'utf8')) as { netns: { name: string; inode: number } };
  main.netns = { name: node, inode: statSync(`/run/netns/${node}`).ino };
  writeFileSync(join(dir, 'ledger.json'), JSON.stringify(main));
  etcFile(node, 'vmrouter/vmrouter.conf', readFileSync(join(FIXTURES, 'vmrouter.conf'), 'utf8'));
  installHooks(node, readFileSync(join(FIXTURES, 'interfaces'), 'utf8'));
  // ifupdown's own record that 0.1.0's ifup brought them up (without running any hook now)
  for (const dev of ['eth0.222', 'eth0.333', 'tr0', 'cA']) await ifupdown(node, 'ifup', dev, ['--no-scripts']);

  const status = (await vmrouter(['status'], { ns: node })).stdout;
  for (const line of [
    'network public on eth0.222: role vmc, table 222',
    '  tap1 52:54:00:00:00:11 192.0.2.11 2001:db8::11',
    'network eth0_333 on eth0.333 (inet): role vmc, table 333',
    'network eth0_333 on eth0.333 (inet6): role vmc, table 333',
    'natpair pod1 on tr0',
    'natpair pod1 on cA',
  ]) t.ok(status.split('\n').includes(line), `status: ${line}`);
  const { owners } = JSON.parse((await vmrouter(['status', '--json'], { ns: node })).stdout) as { owners: Record<string, unknown> };
  t.same(Object.keys(owners).sort(), ['natpair:pod1@cA', 'natpair:pod1@tr0', 'network:eth0_333@eth0.333:inet', 'network:eth0_333@eth0.333:inet6', 'network:public@eth0.222', 'tap:tap1'], 'its network owners under their new names');
});

t.test("tap down and ifdown with this release's hooks remove exactly what 0.1.0 applied", async (t) => {
  await vmrouter(['tap', 'down', '--tap', 'tap1'], { ns: node });
  t.notMatch((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11/, "the TAP's host route is gone");
  for (const dev of ['cA', 'tr0', 'eth0.333', 'eth0.222']) await ifupdown(node, 'ifdown', dev);
  // ifdown deletes interfaces named like VLANs; put them back for the comparison
  await lab.link(node, 'eth0.222', `${PREFIX}p1`, 'eth0');
  await lab.link(node, 'eth0.333', `${PREFIX}p2`, 'eth0');
  for (const p of ['p1', 'p2']) await lab.up(`${PREFIX}${p}`, 'eth0');
  t.equal(snapshotDiff(baseline, await snapshot(node, { recreated: UPLINKS })), '', 'the kernel state before 0.1.0 applied anything');
  t.match((await vmrouter(['status', '--json'], { ns: node })).stdout, /"owners": \{\}/, 'and the ledger holds nothing');
});
