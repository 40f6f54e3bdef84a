/**
 * The kernel is the truth (issue 13): for each kind of object vmrouter owns, break it from outside,
 * `doctor` names it exactly and exits 3, `repair` restores it, a second `doctor` is clean, and the
 * kernel state equals the state before the damage. Then a TAP deleted without `tap down`, objects
 * nobody owns, `ifup --force` and `tap up` of a bound TAP repairing their own objects, and a
 * namespace re-created under the same name. One routed lab (node, router, internet, two VMs).
 */
import t, { type Test } from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { echoesSeen, installProbe, reaches } from '../lib/probe.js';
import { inNs, run } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { buildRoutedLab, configureNode, configureVm, INET, ping, routerConf, vmcConf, type RoutedLab } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr13d-';
const lab = new Lab(PREFIX);
let l: RoutedLab;
let node: string;
const TAP_MAC = 'cc:47:52:4e:45:54';
const VM1 = { ip: '192.0.2.11', ip6: '2001:db8::11', mac: '52:54:00:00:00:11' };
const VM2 = { ip: '192.0.2.12', mac: '52:54:00:00:00:12' };
t.teardown(() => lab.cleanup());

const doctor = (args: string[] = []) => vmrouter(['doctor', ...args], { ns: node, ok: false });

t.before(async () => {
  await Lab.sweep(PREFIX);
  l = await buildRoutedLab(lab, { n1: ['tap1', 'tap2'] });
  node = l.nodes[0]!;
  await configureNode(node, `${vmcConf()}tap_mac = ${TAP_MAC}\n`);
  await configureNode(l.router, routerConf);
  for (const ns of [l.router, node]) await ifupdown(ns, 'ifup', 'eth0.222');
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--mac', VM1.mac, '--ip', VM1.ip, '--ip6', VM1.ip6], { ns: node });
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap2', '--mac', VM2.mac, '--ip', VM2.ip], { ns: node });
  await configureVm({ ns: l.vms.tap1!, ips: [VM1.ip], ip6s: [VM1.ip6], gw6: 'tap' }, node, 'tap1');
  await configureVm({ ns: l.vms.tap2!, ips: [VM2.ip], ip6s: [], gw6: 'tap' }, node, 'tap2');
  for (const ns of [l.inet, l.vms.tap1!]) await installProbe(ns);
});

t.test('a node as applied: doctor is clean, exit 0', async (t) => {
  const r = await doctor();
  t.equal(r.code, 0, 'exit 0');
  t.match(r.stdout, /^kernel as applied/, 'says so');
  const json = JSON.parse((await doctor(['--json'])).stdout) as { healthy: boolean; findings: unknown[]; paths: unknown[] };
  t.same([json.healthy, json.findings, json.paths], [true, [], []], '--json for monitoring');
  t.match((await vmrouter(['status'], { ns: node })).stdout, /\nkernel: as applied$/, 'status says the kernel is as applied');
});

/** Damage, diagnosis, repair, diagnosis, and the kernel as it was before. */
async function breakAndRepair(t: Test, what: string, damage: string[][], expect: string[]): Promise<void> {
  const before = await snapshot(node);
  for (const argv of damage) await inNs(node, argv);
  const r = await doctor();
  t.equal(r.code, 3, `${what}: doctor exits 3`);
  for (const line of expect) t.ok(r.stdout.split('\n').includes(line), `${what}: doctor says "${line.trim()}"`);
  t.match((await vmrouter(['status'], { ns: node })).stdout, /\nkernel: \d+ differences? from what was applied; vmrouter doctor lists them/, `${what}: status points to doctor`);
  const repair = await vmrouter(['repair'], { ns: node, ok: false });
  t.equal(repair.code, 0, `${what}: repair exits 0 (${repair.stderr.trim()})`);
  t.equal((await doctor()).code, 0, `${what}: doctor is clean again`);
  t.equal(snapshotDiff(before, await snapshot(node)), '', `${what}: the kernel state before the damage`);
}

t.test('every kind of object: broken from outside, named by doctor, restored by repair', async (t) => {
  await breakAndRepair(t, 'an nft set element', [['nft', 'delete', 'element', 'inet', 'vmrouter', 'vm4', '{ "tap1" . 192.0.2.11 }']], ['tap:tap1', '  missing   element tap1 . 192.0.2.11 of inet vmrouter vm4']);
  await breakAndRepair(t, 'an ip rule', [['ip', '-4', 'rule', 'del', 'pref', '10000', 'fwmark', '222', 'lookup', '222']], ['network:public@eth0.222', '  missing   rule -4 pref 10000 fwmark 0xde table 222 proto 86']);
  await breakAndRepair(t, 'a route in the extra table', [['ip', 'route', 'del', '192.0.2.11/32', 'table', '222']], ['  missing   route -4 unicast 192.0.2.11 table 222 dev tap1 proto 86']);
  await breakAndRepair(t, 'a proxy NDP entry', [['ip', '-6', 'neigh', 'del', 'proxy', VM1.ip6, 'dev', 'eth0.222']], [`  missing   proxy ${VM1.ip6} dev eth0.222`]);
  await breakAndRepair(t, 'a proxy_arp sysctl', [['sysctl', '-q', '-w', 'net.ipv4.conf.tap1.proxy_arp=0']], ['  differs   net/ipv4/conf/tap1/proxy_arp = 1 (now 0)']);
  await breakAndRepair(t, "a TAP's MAC", [['ip', 'link', 'set', 'dev', 'tap1', 'address', '02:11:22:33:44:55']], [`  differs   MAC of tap1 ${TAP_MAC} (now 02:11:22:33:44:55)`]);
  await breakAndRepair(t, 'a chain of the nft table', [['nft', 'flush', 'chain', 'inet', 'vmrouter', 'guard']], ['  differs   chains and rules of nft table inet vmrouter (now edited since vmrouter applied it)']);
  await breakAndRepair(t, 'the nft tables (nft flush ruleset)', [['nft', 'flush', 'ruleset']], ['network:public@eth0.222', '  missing   nft table inet vmrouter', '  missing   nft table arp vmrouter', '  missing   element tap2 . 192.0.2.12 of inet vmrouter vm4']);
});

t.test('after a repair the guard drops forged sources again and the VM reaches the internet', async (t) => {
  await inNs(node, ['nft', 'flush', 'ruleset']);
  await vmrouter(['repair'], { ns: node });
  await reaches(t, 'VM → internet', l.vms.tap1!, INET, l.inet, VM1.ip);
  await inNs(l.vms.tap1!, ['ip', 'addr', 'add', '192.0.2.99/32', 'dev', 'eth0']);
  const before = await echoesSeen(l.inet, '192.0.2.99', INET);
  t.notOk(await ping(l.vms.tap1!, INET, ['-I', '192.0.2.99']), 'a forged source gets no answer');
  t.equal(await echoesSeen(l.inet, '192.0.2.99', INET), before, 'and never reaches the internet');
  t.match((await inNs(node, ['nft', 'list', 'chain', 'inet', 'vmrouter', 'guard'])).stdout, /counter packets [1-9]\d* bytes \d+ drop comment "vmrouter: source address not bound to this TAP"/, 'the guard dropped it');
  await inNs(l.vms.tap1!, ['ip', 'addr', 'del', '192.0.2.99/32', 'dev', 'eth0']);
});

t.test('ifup --force and tap up of a bound TAP make their own objects again', async (t) => {
  await inNs(node, ['ip', '-4', 'rule', 'del', 'pref', '10000', 'fwmark', '222', 'lookup', '222']);
  await ifupdown(node, 'ifup', 'eth0.222', ['--force']);
  t.match((await inNs(node, ['ip', '-4', 'rule', 'show'])).stdout, /fwmark 0xde lookup 222 proto 86/, 'ifup --force: the rule is back');
  await inNs(node, ['nft', 'flush', 'ruleset']);
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--mac', VM1.mac, '--ip', VM1.ip, '--ip6', VM1.ip6], { ns: node });
  const set = (await inNs(node, ['nft', 'list', 'set', 'inet', 'vmrouter', 'vm4'])).stdout;
  t.match(set, /"tap1" \. 192\.0\.2\.11/, "tap up of the bound TAP: the table and tap1's elements are back");
  const r = await doctor();
  t.match(r.stdout, /missing {3}element tap2 \. 192\.0\.2\.12 of inet vmrouter vm4/, "tap2's elements are still missing: tap up restores its own TAP's");
  t.notMatch(r.stdout, /element tap1 /, "none of tap1's");
  await vmrouter(['repair'], { ns: node });
  t.equal((await doctor()).code, 0, 'repair does the rest');
});

t.test('a TAP deleted without tap down is released; re-created under the same name it binds cleanly', async (t) => {
  await inNs(node, ['ip', 'link', 'del', 'dev', 'tap2']);
  const r = await doctor();
  t.equal(r.code, 3, 'doctor exits 3');
  t.ok(r.stdout.split('\n').includes('  stale     TAP tap2 no longer exists: repair releases what it held'), 'and names the TAP');
  await vmrouter(['repair'], { ns: node });
  t.equal((await doctor()).code, 0, 'clean after repair');
  t.notMatch((await inNs(node, ['nft', 'list', 'ruleset'])).stdout, /tap2|192\.0\.2\.12/, 'no element of tap2 left');
  t.notMatch((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.12/, 'no route');
  t.notMatch((await vmrouter(['status', '--json'], { ns: node })).stdout, /tap:tap2/, 'the ledger does not list it');
  await lab.link(node, 'tap2', l.vms.tap2!, 'eth0');
  await lab.up(node, 'tap2');
  await configureVm({ ns: l.vms.tap2!, ips: [VM2.ip], ip6s: [], gw6: 'tap' }, node, 'tap2');
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap2', '--mac', VM2.mac, '--ip', VM2.ip], { ns: node });
  t.equal((await doctor()).code, 0, 'bound again, clean');
  await reaches(t, 'the re-created VM reaches the internet', l.vms.tap2!, INET, l.inet, VM2.ip);
});

t.test("vmrouter's stamp on an object no owner holds: reported, not removed", async (t) => {
  await inNs(node, ['ip', 'route', 'add', '203.0.113.0/24', 'dev', 'eth0.222', 'table', '222', 'proto', '86']);
  const r = await doctor();
  t.ok(r.stdout.split('\n').some((x) => x.startsWith('  unowned   route -4 unicast 203.0.113.0/24 table 222 dev eth0.222 proto 86')), 'doctor reports it');
  await vmrouter(['repair'], { ns: node });
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /203\.0\.113\.0\/24/, 'repair leaves it: it is not known to be vmrouter\'s');
  await inNs(node, ['ip', 'route', 'del', '203.0.113.0/24', 'table', '222']);
});

t.test('a namespace deleted and re-created under the same name does not inherit its ledger', async (t) => {
  const name = `${PREFIX}gone`;
  const ns = await lab.ns('gone');
  await lab.link(ns, 'eth0.222', `${PREFIX}rt`, 'eth9');
  await configureNode(ns, vmcConf());
  await ifupdown(ns, 'ifup', 'eth0.222');
  t.match((await vmrouter(['status'], { ns })).stdout, /network public on eth0\.222/, 'applied');
  // the namespace goes (with every kernel object in it); its ledger under /run/vmrouter stays
  await run(['ip', 'netns', 'del', name]);
  await run(['ip', 'netns', 'add', name]);
  t.match((await vmrouter(['status'], { ns: name })).stdout, /nothing is up/, 'the new namespace has no ledger: the old one is not trusted');
});
