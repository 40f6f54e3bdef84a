/**
 * The VMC+router role (seed 004, third stanza): one node hosts VMs and is the gateway, masquerading
 * IPv4 out of its upstream; a second node is a plain VMC using it as router. The node's own traffic
 * reaches local and remote VMs (`ip rule to SUBNET`). Its uplink is a plain interface (eth1), which
 * ifdown does not delete, so the comparison after ifdown covers the uplink's own settings too.
 */
import t from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { echoesSeen, installProbe, reaches, removeProbe } from '../lib/probe.js';
import { inNs, run } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureNode, configureVm, INET, INET6, ping } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr2v-';
const lab = new Lab(PREFIX);
let sw: string, vr: string, n: string, inet: string, vmA: string, vmB: string;
const baseline: Record<string, string> = {};
const afterIfup: Record<string, string> = {};

const vrConf = `
[network public]
role = vmc+router
uplink = eth1
table = 222
subnet = 192.0.2.0/24
gateway = 192.0.2.1
subnet6 = 2001:db8::/64
gateway6 = 2001:db8::1
nat_out = eth0
tap_mac = cc:47:52:4e:45:54
`;
const nConf = `
[network public]
role = vmc
uplink = eth0.222
table = 222
subnet = 192.0.2.0/24
gateway = 192.0.2.1
arp_ip = 192.0.2.253
subnet6 = 2001:db8::/64
gateway6 = 2001:db8::1
`;

t.before(async () => {
  await Lab.sweep(PREFIX);
  sw = await lab.ns('sw');
  await run(['ip', '-n', sw, 'link', 'add', 'dev', 'br0', 'type', 'bridge']);
  await lab.up(sw, 'br0');
  vr = await lab.ns('vr');
  n = await lab.ns('n');
  inet = await lab.ns('inet');
  vmA = await lab.ns('vmA');
  vmB = await lab.ns('vmB');
  await lab.link(vr, 'eth1', sw, 'p-vr');
  await lab.link(n, 'eth0.222', sw, 'p-n');
  for (const p of ['p-vr', 'p-n']) await run(['ip', '-n', sw, 'link', 'set', 'dev', p, 'master', 'br0', 'up']);
  await lab.link(vr, 'eth0', inet, 'eth0');
  await lab.up(vr, 'eth0');
  await inNs(vr, ['ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0']);
  await inNs(vr, ['ip', '-6', 'addr', 'add', '2001:db8:ffff::1/64', 'dev', 'eth0', 'nodad']);
  await inNs(vr, ['ip', 'route', 'add', 'default', 'via', INET]);
  await lab.up(inet, 'eth0');
  await inNs(inet, ['ip', 'addr', 'add', `${INET}/24`, 'dev', 'eth0']);
  await inNs(inet, ['ip', '-6', 'addr', 'add', `${INET6}/64`, 'dev', 'eth0', 'nodad']);
  await inNs(inet, ['ip', '-6', 'route', 'add', '2001:db8::/64', 'via', '2001:db8:ffff::1']); // IPv6 is routed, not masqueraded
  await lab.link(vr, 'tapA', vmA, 'eth0');
  await lab.up(vr, 'tapA');
  await lab.link(n, 'tapB', vmB, 'eth0');
  await lab.up(n, 'tapB');
  baseline[vr] = await snapshot(vr);
  baseline[n] = await snapshot(n, { recreated: ['eth0.222'] });
  await configureNode(vr, vrConf);
  await configureNode(n, nConf);
});
t.teardown(() => lab.cleanup());


t.test('ifup, tap up', async (t) => {
  await ifupdown(vr, 'ifup', 'eth1');
  await ifupdown(n, 'ifup', 'eth0.222');
  const rules = (await inNs(vr, ['ip', '-4', 'rule', 'show'])).stdout;
  t.match(rules, /from all to 192\.0\.2\.0\/24 lookup 222 proto 86/, 'host traffic to the subnet uses the table');
  t.notMatch(rules, /iif eth1/, 'no iif rule: the to-SUBNET rule covers it');
  t.match((await inNs(vr, ['ip', '-4', 'addr', 'show', 'dev', 'eth1'])).stdout, /inet 192\.0\.2\.1\/32/, 'gateway as /32: the table, not a connected route, reaches the subnet');
  t.match((await inNs(vr, ['nft', 'list', 'table', 'ip', 'vmrouter'])).stdout, /192\.0\.2\.0\/24 \. "eth0"/, 'masquerade element for nat_out');
  for (const ns of [vr, n]) afterIfup[ns] = await snapshot(ns);
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tapA', '--ip', '192.0.2.10', '--ip6', '2001:db8::a'], { ns: vr });
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tapB', '--ip', '192.0.2.20', '--ip6', '2001:db8::b'], { ns: n });
  await configureVm({ ns: vmA, ips: ['192.0.2.10'], ip6s: ['2001:db8::a'], gw6: 'gateway6' }, vr, 'tapA');
  await configureVm({ ns: vmB, ips: ['192.0.2.20'], ip6s: ['2001:db8::b'], gw6: 'tap' }, n, 'tapB');
  for (const ns of [vr, inet, vmA, vmB]) await installProbe(ns);
});

t.test('the VM sees the constant gateway MAC (tap_mac)', async (t) => {
  t.ok(await ping(vmA, '192.0.2.1'), 'VM → gateway');
  t.ok(await ping(vmA, '2001:db8::1'), 'VM → gateway6');
  t.match((await inNs(vmA, ['ip', 'neigh', 'show', '192.0.2.1'])).stdout, /lladdr cc:47:52:4e:45:54/, 'the gateway is at tap_mac');
  t.match((await inNs(vmA, ['ip', '-6', 'neigh', 'show', '2001:db8::1'])).stdout, /lladdr cc:47:52:4e:45:54/, 'gateway6 is at tap_mac');
});

t.test('host → VM works in the VMC+router role', async (t) => {
  t.ok(await ping(vr, '192.0.2.10'), 'router node → its own VM');
  t.ok((await echoesSeen(vmA, '192.0.2.1', '192.0.2.10')) + (await echoesSeen(vmA, '198.51.100.1', '192.0.2.10')) >= 2, 'the local VM received the echo from the node');
  t.ok(await ping(vr, '192.0.2.20'), 'router node → VM on the other node');
  t.ok((await echoesSeen(vmB, '192.0.2.1', '192.0.2.20')) + (await echoesSeen(vmB, '198.51.100.1', '192.0.2.20')) >= 2, 'the remote VM received it');
  t.ok(await ping(vr, '2001:db8::a'), 'IPv6: router node → its own VM');
  t.ok(await ping(vr, '2001:db8::b'), 'IPv6: router node → remote VM');
});

t.test('VMs reach the gateway, each other and (masqueraded) the internet', async (t) => {
  await reaches(t, 'local VM → gateway', vmA, '192.0.2.1', vr, '192.0.2.10');
  await reaches(t, 'remote VM → gateway', vmB, '192.0.2.1', vr, '192.0.2.20');
  await reaches(t, 'VM → VM across nodes', vmA, '192.0.2.20', vmB, '192.0.2.10');
  await reaches(t, 'local VM → internet: the far end sees the router (MASQUERADE)', vmA, INET, inet, '198.51.100.1');
  t.equal(await echoesSeen(inet, '192.0.2.10', INET), 0, 'the VM address never left unmasqueraded');
  await reaches(t, 'remote VM → internet through the VMC+router node', vmB, INET, inet, '198.51.100.1');
  await reaches(t, 'IPv6 VM → internet (routed, not masqueraded)', vmA, INET6, inet, '2001:db8::a');
  await reaches(t, 'IPv6 internet → remote VM', inet, '2001:db8::b', vmB, INET6);
  await reaches(t, 'IPv6 VM → gateway6', vmB, '2001:db8::1', vr, '2001:db8::b', '2001:db8::b');
});

t.test('everything is removed exactly', async (t) => {
  for (const ns of [vr, inet, vmA, vmB]) await removeProbe(ns);
  await vmrouter(['tap', 'down', '--tap', 'tapA'], { ns: vr });
  await vmrouter(['tap', 'down', '--tap', 'tapB'], { ns: n });
  t.equal(snapshotDiff(afterIfup[vr]!, await snapshot(vr)), '', 'VMC+router node after tap down = after ifup');
  t.equal(snapshotDiff(afterIfup[n]!, await snapshot(n)), '', 'VMC node after tap down = after ifup');
  await ifupdown(vr, 'ifdown', 'eth1');
  t.equal(snapshotDiff(baseline[vr]!, await snapshot(vr)), '', 'after ifdown the VMC+router node is exactly as before ifup (uplink settings included)');
  await ifupdown(n, 'ifdown', 'eth0.222');
  await lab.link(n, 'eth0.222', sw, 'p-n');
  t.equal(snapshotDiff(baseline[n]!, await snapshot(n, { recreated: ['eth0.222'] })), '', 'VMC node after ifdown = before');
});
