/**
 * Never half-configured (issue 3): a step the kernel refuses in the middle of a bulk sync rolls the
 * whole sync back, and 64 hypervisor threads binding and unbinding VMs at once neither lose nor
 * duplicate anything.
 */
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { BulkNetwork, buildBulkLab } from '../lib/bulk-lab.js';
import { Lab, ifupdown } from '../lib/netns.js';
import { echoesSeen, installProbe } from '../lib/probe.js';
import { inNs } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureVm, INET, ping, type RoutedLab } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr3t-';
const lab = new Lab(PREFIX);
t.teardown(() => lab.cleanup());

const N = 300;
const PARALLEL = 64;
const net = new BulkNetwork('bulk', 330, 30);
const [ip4, ip6] = [(i: number) => net.ip4(i), (i: number) => net.ip6(i)];
const tapName = (i: number) => `t${i}`;

let l: RoutedLab;
let node: string;
let afterIfup: string;

t.before(async () => {
  await Lab.sweep(PREFIX);
  const taps = Array.from({ length: N }, (_, i) => tapName(i));
  // the first PARALLEL TAPs have a VM namespace behind them
  ({ l, node, afterIfup } = await buildBulkLab(lab, net, taps, taps.slice(0, PARALLEL)));
});

const bindings = (count: number) => Array.from({ length: count }, (_, i) => `${tapName(i)} ${ip4(i)} ${ip6(i)}`).join('\n') + '\n';

t.test('a route the kernel refuses midway: the whole sync is rolled back', async (t) => {
  // someone else's host route for the address of the 200th VM, in the network's table
  await inNs(node, ['ip', 'route', 'add', `${ip4(199)}/32`, 'dev', 'lo', 'table', '330']);
  const before = await snapshot(node);
  writeFileSync('/tmp/vr3t-bindings', bindings(N));
  const r = await vmrouter(['tap', 'sync', '--network', 'bulk', '--from', '/tmp/vr3t-bindings'], { ns: node, ok: false });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, `tap:${tapName(199)}: ip route add ${ip4(199)}/32 dev ${tapName(199)} table 330 proto 86 failed: RTNETLINK answers: File exists`, 'names the VM and the step');
  t.match(r.stderr, /rolled back/);
  t.equal(snapshotDiff(before, await snapshot(node)), '', `state = before: the sysctls of ${N} TAPs and 199 routes applied before the failure are undone`);
  await inNs(node, ['ip', 'route', 'del', `${ip4(199)}/32`, 'dev', 'lo', 'table', '330']);
});

t.test('an nft transaction refused after every route went in: rolled back, earlier bindings kept', async (t) => {
  writeFileSync('/tmp/vr3t-bindings', bindings(100));
  await vmrouter(['tap', 'sync', '--network', 'bulk', '--from', '/tmp/vr3t-bindings'], { ns: node });
  await inNs(node, ['nft', `add element inet vmrouter tapmark { "${tapName(N - 1)}" : 999 }`]);
  const before = await snapshot(node);
  const ledgerBefore = (await vmrouter(['status', '--json'], { ns: node })).stdout;
  writeFileSync('/tmp/vr3t-bindings', bindings(N));
  const r = await vmrouter(['tap', 'sync', '--network', 'bulk', '--from', '/tmp/vr3t-bindings'], { ns: node, ok: false });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /nft: Could not process rule: File exists/, 'the kernel said why');
  t.equal(snapshotDiff(before, await snapshot(node)), '', 'state = before: the first 100 VMs still bound, nothing of the other 200');
  t.equal((await vmrouter(['status', '--json'], { ns: node })).stdout, ledgerBefore, 'the ledger is unchanged');
  await inNs(node, ['nft', `delete element inet vmrouter tapmark { "${tapName(N - 1)}" }`]);
  writeFileSync('/tmp/vr3t-bindings', '');
  await vmrouter(['tap', 'sync', '--network', 'bulk', '--from', '/tmp/vr3t-bindings'], { ns: node });
  t.equal(snapshotDiff(afterIfup, await snapshot(node)), '', 'and an empty sync clears them');
});

t.test(`${PARALLEL} parallel tap up, then ${PARALLEL} parallel tap down`, async (t) => {
  const ups = await Promise.all(
    Array.from({ length: PARALLEL }, (_, i) => vmrouter(['tap', 'up', '--network', 'bulk', '--tap', tapName(i), '--ip', ip4(i), '--ip6', ip6(i)], { ns: node, ok: false })),
  );
  t.same(ups.filter((r) => r.code !== 0).map((r) => r.stderr), [], 'every tap up succeeded');
  const status = (await vmrouter(['status'], { ns: node })).stdout;
  t.equal(status.split('\n').filter((x) => /^ {2}t\d+ /.test(x)).length, PARALLEL, `the ledger lists ${PARALLEL} TAPs`);
  const routes = (await inNs(node, ['ip', '-4', 'route', 'show', 'table', '330'])).stdout.split('\n').filter((x) => x.includes(' dev t'));
  t.equal(routes.length, PARALLEL, `${PARALLEL} host routes`);
  t.equal(new Set(routes).size, routes.length, 'no duplicates');
  const proxies = (await inNs(node, ['ip', '-6', 'neigh', 'show', 'proxy', 'dev', 'eth0.222'])).stdout.split('\n').filter(Boolean);
  t.equal(proxies.length, PARALLEL, `${PARALLEL} proxy NDP entries`);

  await installProbe(l.inet);
  let reached = 0;
  for (let i = 0; i < PARALLEL; i++) {
    await configureVm({ ns: l.vms[tapName(i)]!, ips: [ip4(i)], ip6s: [], gw6: 'tap', gateway: '10.30.0.1', prefixLength: 16 }, node, tapName(i));
    const vm = l.vms[tapName(i)]!;
    if ((await ping(vm, INET, [], 1)) && (await echoesSeen(l.inet, ip4(i), INET)) >= 1) reached++;
  }
  t.equal(reached, PARALLEL, `all ${PARALLEL} VMs reach the internet host, which sees each one's own address`);
  await inNs(l.inet, ['nft', 'delete', 'table', 'inet', 'probe']);

  const downs = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => vmrouter(['tap', 'down', '--tap', tapName(i)], { ns: node, ok: false })));
  t.same(downs.filter((r) => r.code !== 0).map((r) => r.stderr), [], 'every tap down succeeded');
  t.equal(snapshotDiff(afterIfup, await snapshot(node)), '', 'state = after ifup');
});

t.test('tap up racing with ifup --force of the uplink', async (t) => {
  const ops = [
    ...Array.from({ length: 16 }, (_, i) => vmrouter(['tap', 'up', '--network', 'bulk', '--tap', tapName(i), '--ip', ip4(i)], { ns: node, ok: false })),
    ifupdown(node, 'ifup', 'eth0.222', ['--force'], false),
  ];
  const results = await Promise.all(ops);
  t.same(results.filter((r) => r.code !== 0).map((r) => r.stderr), [], 'all succeeded');
  t.equal((await inNs(node, ['ip', '-4', 'rule', 'show', 'lookup', '330'])).stdout.split('\n').filter(Boolean).length, 2, 'the network rules exist once');
  writeFileSync('/tmp/vr3t-bindings', '');
  await vmrouter(['tap', 'sync', '--network', 'bulk', '--from', '/tmp/vr3t-bindings'], { ns: node });
  t.equal(snapshotDiff(afterIfup, await snapshot(node)), '', 'state = after ifup');
});
