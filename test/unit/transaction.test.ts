import t from 'tap';
import { emptyLedger, type Ledger } from '../../src/exec/ledger.js';
import { computeTransaction, describe, type Action, type Desired, type Outcome } from '../../src/exec/transaction.js';
import { element, INET_TABLE, inetTable } from '../../src/features/nft-skeleton.js';
import type { TapBinding } from '../../src/model/binding.js';
import { announce, ip, mac, sysctl, type Step } from '../../src/plan/step.js';

const NOW = new Date('2025-01-02T03:04:05.000Z');
const LATER = new Date('2025-06-07T08:09:10.000Z');

const binding = (tap: string): TapBinding => ({ network: 'public', tap, mac: null, ips: [], ip6s: [] });
/** What an owner wants; owners here are TAP owners so records stay small. */
const want = (tap: string, steps: Step[], replace = false): Desired => ({ entry: { kind: 'tap', record: binding(tap) }, steps, ...(replace ? { replace } : {}) });

const table = inetTable();
const fwd6 = sysctl('net/ipv6/conf/all/forwarding', '1', '0', 'node-wide', true);
const proxyArp = sysctl('net/ipv4/conf/eth0/proxy_arp', '1', '0', 'proxy ARP');
const delay = (v: string) => sysctl('net/ipv4/neigh/eth0/proxy_delay', v, '80', 'no delay');
const route = ip(4, ['route', 'add', '192.0.2.0/24', 'dev', 'eth0', 'table', '222', 'proto', '86'], ['route', 'del', '192.0.2.0/24', 'dev', 'eth0', 'table', '222', 'proto', '86'], 'VM route');
const tapmark = (tap: string) => element(INET_TABLE, 'tapmark', `"${tap}"`, '222', `${tap} mark`);
const taps = (tap: string) => element(INET_TABLE, 'taps', `"${tap}"`, null, `${tap} is ours`);

/** "do KEY" / "undo KEY restore=V" */
const ops = (actions: Action[]): string[] => actions.map((a) => `${a.op} ${a.step.key}${a.restore !== undefined ? ` restore=${a.restore}` : ''}`);

/** Outcome the runner would report: sysctls were '0' before (or `restore`), everything else done. */
const done = (actions: Action[], restore = '0'): Outcome[] => actions.map((a) => (a.op === 'do' && a.step.kind === 'sysctl' ? { status: 'done', restore } : { status: 'done' }));

/** Runs a transaction against `ledger` with every action done; returns the new ledger. */
function apply(ledger: Ledger, owner: string, desired: Desired, restore = '0'): Ledger {
  const tx = computeTransaction(ledger, owner, desired, NOW);
  if (tx.conflicts.length) throw new Error(tx.conflicts.join('\n'));
  return tx.commit(done(tx.actions, restore));
}

const holders = (l: Ledger): Record<string, string[]> => Object.fromEntries(Object.entries(l.objects).map(([k, o]) => [k, o.holders]));

t.test('first up creates everything, in order', async (t) => {
  const steps = [table, proxyArp, route, tapmark('tap1'), announce(4, 'eth0', '192.0.2.11', 'garp')];
  const tx = computeTransaction(emptyLedger({ name: null, inode: 1 }), 'tap:tap1', want('tap1', steps), NOW);
  t.strictSame(ops(tx.actions), ['do nft table inet vmrouter', 'do sysctl net/ipv4/conf/eth0/proxy_arp', `do ${route.key}`, 'do nft add element inet vmrouter tapmark { "tap1" : 222 }']);
  t.strictSame(tx.announces.map((a) => a.key), ['announce eth0 192.0.2.11']);
  t.strictSame(tx.conflicts, []);
  const next = tx.commit(done(tx.actions));
  t.strictSame(next.owners['tap:tap1'], {
    kind: 'tap',
    record: binding('tap1'),
    keys: [table.key, proxyArp.key, route.key, tapmark('tap1').key],
    since: '2025-01-02T03:04:05.000Z',
  });
  t.strictSame(next.objects[proxyArp.key], { step: proxyArp, holders: ['tap:tap1'], restore: '0' });
  t.strictSame(next.objects[route.key], { step: route, holders: ['tap:tap1'] }, 'no restore for ip steps');
});

t.test('the same owner again: nothing to do, ledger unchanged', async (t) => {
  const steps = [table, proxyArp, route];
  const first = apply(emptyLedger({ name: null, inode: 1 }), 'tap:tap1', want('tap1', steps));
  const tx = computeTransaction(first, 'tap:tap1', want('tap1', steps.map((s) => ({ ...s, why: 'reworded' }))), LATER);
  t.strictSame(tx.actions, [], 'a new `why` is not a change');
  t.strictSame(tx.commit([]), first, '`since` is kept');
});

t.test('changed content: undo the old object, then do the new one', async (t) => {
  const first = apply(emptyLedger({ name: null, inode: 1 }), 'tap:tap1', want('tap1', [delay('0'), route]), '80');
  const tx = computeTransaction(first, 'tap:tap1', want('tap1', [delay('5'), route]), LATER);
  t.strictSame(ops(tx.actions), ['undo sysctl net/ipv4/neigh/eth0/proxy_delay restore=80', 'do sysctl net/ipv4/neigh/eth0/proxy_delay']);
  t.equal((tx.actions[1]!.step as { value: string }).value, '5');
  const next = tx.commit([{ status: 'done' }, { status: 'done', restore: '80' }]);
  t.strictSame(next.objects[delay('5').key], { step: delay('5'), holders: ['tap:tap1'], restore: '80' });
  t.strictSame(next.owners['tap:tap1']!.keys, [route.key, delay('5').key], 'kept keys first, then the re-created one');

  const exclusive = { ...route, exclusive: true };
  t.strictSame(ops(computeTransaction(first, 'tap:tap1', want('tap1', [delay('0'), exclusive])).actions), [`undo ${route.key}`, `do ${route.key}`], 'any field but `why` counts');
});

t.test('shared steps: created once, removed with the last holder', async (t) => {
  let l = apply(emptyLedger({ name: null, inode: 1 }), 'tap:a', want('a', [table, fwd6, tapmark('a')]));
  const txB = computeTransaction(l, 'tap:b', want('b', [table, fwd6, tapmark('b')]), NOW);
  t.strictSame(ops(txB.actions), [`do ${tapmark('b').key}`], 'B creates only its own element');
  l = txB.commit(done(txB.actions));
  t.strictSame(holders(l), {
    [table.key]: ['tap:a', 'tap:b'],
    [fwd6.key]: ['tap:a', 'tap:b'],
    [tapmark('a').key]: ['tap:a'],
    [tapmark('b').key]: ['tap:b'],
  });
  t.strictSame(l.owners['tap:b']!.keys, [table.key, fwd6.key, tapmark('b').key]);

  const releaseA = computeTransaction(l, 'tap:a', null);
  t.strictSame(ops(releaseA.actions), [`undo ${tapmark('a').key}`], 'A leaves the shared objects to B');
  l = releaseA.commit(done(releaseA.actions));
  t.strictSame(holders(l), { [table.key]: ['tap:b'], [fwd6.key]: ['tap:b'], [tapmark('b').key]: ['tap:b'] });
  t.strictSame(Object.keys(l.owners), ['tap:b']);

  const releaseB = computeTransaction(l, 'tap:b', null);
  t.strictSame(ops(releaseB.actions), [`undo ${tapmark('b').key}`, 'undo sysctl net/ipv6/conf/all/forwarding restore=0', 'undo nft table inet vmrouter']);
  l = releaseB.commit(done(releaseB.actions));
  t.strictSame(l, { version: 1, netns: { name: null, inode: 1 }, objects: {}, owners: {} });
});

t.test('a sysctl another owner holds with another value is a conflict', async (t) => {
  const l = apply(emptyLedger({ name: null, inode: 1 }), 'tap:a', want('a', [delay('0')]));
  const tx = computeTransaction(l, 'tap:b', want('b', [delay('5'), proxyArp]));
  t.strictSame(tx.conflicts, ['net/ipv4/neigh/eth0/proxy_delay=5 is already set differently for tap:a']);
  t.strictSame(ops(tx.actions), ['do sysctl net/ipv4/conf/eth0/proxy_arp'], 'the conflicting step is not planned');
  t.strictSame(computeTransaction(l, 'tap:b', want('b', [delay('0')])).conflicts, [], 'the same value is no conflict');
});

t.test('release undoes in reverse order with the recorded values', async (t) => {
  const l = apply(emptyLedger({ name: null, inode: 1 }), 'tap:a', want('a', [proxyArp, delay('0'), route]), '80');
  const tx = computeTransaction(l, 'tap:a', null);
  t.strictSame(ops(tx.actions), [`undo ${route.key}`, 'undo sysctl net/ipv4/neigh/eth0/proxy_delay restore=80', 'undo sysctl net/ipv4/conf/eth0/proxy_arp restore=80']);
  t.strictSame(tx.commit(done(tx.actions)), emptyLedger({ name: null, inode: 1 }));
  t.strictSame(computeTransaction(emptyLedger({ name: null, inode: 1 }), 'tap:nobody', null).actions, [], 'releasing an unknown owner does nothing');
});

t.test("a 'foreign' object is not recorded, so it is never removed", async (t) => {
  const tx = computeTransaction(emptyLedger({ name: null, inode: 1 }), 'tap:a', want('a', [proxyArp, route]), NOW);
  const l = tx.commit([{ status: 'done', restore: '0' }, { status: 'foreign' }]);
  t.strictSame(Object.keys(l.objects), [proxyArp.key]);
  t.strictSame(l.owners['tap:a']!.keys, [proxyArp.key]);
  t.strictSame(ops(computeTransaction(l, 'tap:a', null).actions), ['undo sysctl net/ipv4/conf/eth0/proxy_arp restore=0']);
  t.strictSame(ops(computeTransaction(l, 'tap:a', want('a', [proxyArp, route])).actions), [`do ${route.key}`], 'tried again on the next up');
});

t.test('removing a table drops the elements in it, whoever held them', async (t) => {
  let l = apply(emptyLedger({ name: null, inode: 1 }), 'tap:a', want('a', [table, tapmark('a')]));
  l = apply(l, 'tap:t1', want('t1', [tapmark('t1'), taps('t1'), proxyArp]));
  const tx = computeTransaction(l, 'tap:a', null);
  t.strictSame(ops(tx.actions), [`undo ${tapmark('a').key}`, 'undo nft table inet vmrouter']);
  const next = tx.commit(done(tx.actions));
  t.strictSame(Object.keys(next.objects), [proxyArp.key]);
  t.strictSame(next.owners['tap:t1']!.keys, [proxyArp.key]);
  t.strictSame(Object.keys(l.objects).length, 5, 'the input ledger is not modified');

  const gone = tx.commit([{ status: 'done' }, { status: 'gone' }]);
  t.strictSame(Object.keys(gone.objects), [proxyArp.key], "a table that was already 'gone' took its elements too");
});

t.test('a table another owner still holds keeps its elements', async (t) => {
  let l = apply(emptyLedger({ name: null, inode: 1 }), 'tap:a', want('a', [table]));
  l = apply(l, 'tap:b', want('b', [table, tapmark('b')]));
  const tx = computeTransaction(l, 'tap:a', null);
  t.strictSame(tx.actions, []);
  t.strictSame(holders(tx.commit([])), { [table.key]: ['tap:b'], [tapmark('b').key]: ['tap:b'] });
});

t.test('replace: true re-does everything the owner holds alone', async (t) => {
  let l = apply(emptyLedger({ name: null, inode: 1 }), 'tap:b', want('b', [table]));
  l = apply(l, 'tap:a', want('a', [table, proxyArp, route]));
  const tx = computeTransaction(l, 'tap:a', want('a', [table, proxyArp, route], true), LATER);
  t.strictSame(ops(tx.actions), [`undo ${route.key}`, 'undo sysctl net/ipv4/conf/eth0/proxy_arp restore=0', 'do sysctl net/ipv4/conf/eth0/proxy_arp', `do ${route.key}`]);
  const next = tx.commit([{ status: 'gone' }, { status: 'gone' }, { status: 'done', restore: '1' }, { status: 'done' }]);
  t.strictSame(holders(next), { [table.key]: ['tap:b', 'tap:a'], [proxyArp.key]: ['tap:a'], [route.key]: ['tap:a'] });
  t.equal(next.objects[proxyArp.key]!.restore, '1', 'the value found now is what a later release restores');
  t.equal(next.owners['tap:a']!.since, '2025-01-02T03:04:05.000Z');
});

t.test('describe', async (t) => {
  t.equal(describe(delay('5')), 'net/ipv4/neigh/eth0/proxy_delay=5');
  t.equal(describe(mac('tap1', 'cc:47:52:4e:45:54', 'gw mac')), 'MAC of tap1');
  t.equal(describe(route), 'ip -4 route add 192.0.2.0/24 dev eth0 table 222 proto 86');
  t.equal(describe(table), 'nft table inet vmrouter');
});
