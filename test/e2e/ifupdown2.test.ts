/**
 * Under ifupdown2 (Debian's package, the default of Proxmox VE), run for real from its unpacked .deb
 * (test/lib/ifupdown2.ts: it Conflicts with ifupdown, which the other tests use). ifupdown2 calls
 * the hooks once per interface and phase, from all six if-*.d directories (if-up.d as PHASE=up,
 * if-post-up.d as post-up), with ADDRFAM "inet,inet6" for merged stanzas and a stale or missing
 * ADDRFAM in pre-up/pre-down; it runs up again on every `ifreload -a`, and exits 0 when a hook
 * fails. Proven here: a routed network (roles vmc and router, IPv4+IPv6) from compact and from
 * expanded stanzas, snf-network stanzas for inet and inet6 of one interface, and a [vnet] host
 * stanza whose bridge the hook creates — each up, idempotent under `ifreload -a`, and down to
 * exactly the state before.
 */
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { ifupdown2, ifupdown2Unavailable, prepareIfupdown2 } from '../lib/ifupdown2.js';
import { Lab, installHooks } from '../lib/netns.js';
import { echoesSeen, installProbe, reaches } from '../lib/probe.js';
import { inNs, run } from '../lib/run.js';
import { etcFile } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureVm, INET, INET6, ping, vmcConf, vnetHostConf } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr6i-';
const lab = new Lab(PREFIX);
const why = ifupdown2Unavailable();
if (why) t.comment(`ifupdown2 tests skipped: ${why}`);

// the router's upstream is not eth0: ifupdown2 treats eth0.222 as a VLAN of eth0 and sets that
// device up and down with it (an implicit raw device)
const ROUTER_CONF = `${vmcConf().replace('role = vmc', 'role = router')}upstream = up0\n`;
const VNET_CONF = vnetHostConf('/etc/vmrouter/net1.placements');
const LEGACY = `
auto eth0.222
iface eth0.222 inet manual
    ip-routing-table snf_routed
    ip-routes 192.0.2.0/24
    ip-gateway 192.0.2.1
    ip-forwarding 1
    arp-ip 192.0.2.254

iface eth0.222 inet6 manual
    ip-routing-table snf_routed
    ip-routes 2001:db8::/64
    ip-gateway 2001:db8::1
    ip-forwarding 1
    ip-proxy-ndp 1
`;
const VM = { ns: '', ips: ['192.0.2.11'], ip6s: ['2001:db8::11'], gw6: 'gateway6' as const };

let sw: string, router: string, node: string, inet: string, vm: string;
const baseline: Record<string, string> = {};
const up = (ns: string, ...args: string[]) => ifupdown2(ns, 'ifup', args);
const down = (ns: string, ...args: string[]) => ifupdown2(ns, 'ifdown', args);
const reload = (ns: string) => ifupdown2(ns, 'ifreload', ['-a']);
const sys = async (ns: string, path: string) => (await inNs(ns, ['cat', `/proc/sys/${path}`])).stdout.trim();

/**
 * ifupdown2 takes eth0.222 for a VLAN of eth0 and looks its lower device up by IFLA_LINK, which for
 * a veth is the peer's ifindex in the peer's namespace. This kernel has no 802.1Q, so eth0.222 is a
 * veth to the segment whose peer gets the ifindex of the node's eth0 (a spare veth): the lower
 * device ifupdown2 finds is eth0, as for a VLAN. ifdown deletes eth0.222 as it deletes a VLAN; this
 * makes it again.
 */
async function recable(ns: string, port: string): Promise<void> {
  if ((await inNs(ns, ['ip', 'link', 'show', 'dev', 'eth0.222'], { ok: false })).code === 0) return;
  const index = (await inNs(ns, ['cat', '/sys/class/net/eth0/ifindex'])).stdout.trim();
  await run(['ip', '-n', ns, 'link', 'add', 'dev', 'eth0.222', 'type', 'veth', 'peer', 'name', port, 'netns', sw, 'index', index]);
  await run(['ip', '-n', sw, 'link', 'set', 'dev', port, 'master', 'br0', 'up']);
}

async function stanzas(ns: string, conf: string, style: 'compact' | 'expanded', own = ''): Promise<string> {
  const file = `/tmp/${ns}.conf`;
  writeFileSync(file, conf);
  etcFile(ns, 'vmrouter/vmrouter.conf', conf);
  const { stdout } = await vmrouter(['--config', file, 'generate', '--style', style, '--hook-config', '/etc/vmrouter/vmrouter.conf'], { ns });
  installHooks(ns, `${own}${stdout}`);
  return stdout;
}

t.before(async () => {
  if (why) return;
  t.comment(`using ${await prepareIfupdown2()}`);
  await Lab.sweep(PREFIX);
  sw = await lab.ns('sw');
  await run(['ip', '-n', sw, 'link', 'add', 'dev', 'br0', 'type', 'bridge']);
  await lab.up(sw, 'br0');
  router = await lab.ns('rt');
  node = await lab.ns('n1');
  inet = await lab.ns('inet');
  vm = await lab.ns('vm');
  VM.ns = vm;
  for (const [ns, port, index] of [[router, 'p-rt', '101'], [node, 'p-n1', '102']] as const) {
    // an ifindex no device of the switch has
    await run(['ip', '-n', ns, 'link', 'add', 'dev', 'eth0', 'index', index, 'type', 'veth', 'peer', 'name', 'eth0-spare']);
    await recable(ns, port);
  }
  await lab.link(router, 'up0', inet, 'eth0');
  await lab.up(router, 'up0');
  await inNs(router, ['ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'up0']);
  await inNs(router, ['ip', '-6', 'addr', 'add', '2001:db8:ffff::1/64', 'dev', 'up0', 'nodad']);
  await lab.up(inet, 'eth0');
  await inNs(inet, ['ip', 'addr', 'add', `${INET}/24`, 'dev', 'eth0']);
  await inNs(inet, ['ip', '-6', 'addr', 'add', `${INET6}/64`, 'dev', 'eth0', 'nodad']);
  await inNs(inet, ['ip', 'route', 'add', '192.0.2.0/24', 'via', '198.51.100.1']);
  await inNs(inet, ['ip', '-6', 'route', 'add', '2001:db8::/64', 'via', '2001:db8:ffff::1']);
  await installProbe(inet);
  await lab.link(node, 'tap1', vm, 'eth0');
  await lab.up(node, 'tap1');
  await configureVm(VM, node, 'tap1');
  // the vnet host's underlay, to a stand-in for its router
  await lab.link(node, 'eth1', router, 'ul1');
  await lab.up(router, 'ul1');
  await inNs(router, ['ip', 'addr', 'add', '192.168.56.101/24', 'dev', 'ul1']);
  for (const ns of [router, node]) baseline[ns] = await snapshot(ns, { recreated: ['eth0.222'] });
});
t.teardown(() => lab.cleanup());

for (const style of ['compact', 'expanded'] as const) {
  t.test(`routed network, ${style} stanzas: ifup, ifreload -a, ifdown`, { skip: why ?? false }, async (t) => {
    const made = await stanzas(node, vmcConf(), style);
    await stanzas(router, ROUTER_CONF, style);
    if (style === 'compact') t.match(made, /^ {4}vmrouter-network public$/m, 'compact: vmrouter options');
    else t.notMatch(made, /^ {4}vmrouter-/m, 'expanded: plain lines only');
    for (const ns of [router, node]) {
      const r = await up(ns, 'eth0.222');
      t.equal(r.stderr.trim(), '', `${ns}: ifup without a warning`);
    }

    const rules = (await inNs(node, ['ip', '-4', 'rule', 'show'])).stdout;
    t.match(rules, /from all to 192\.0\.2\.0\/24 iif eth0\.222 lookup 222 proto 86/, 'VMC: the uplink rule');
    t.match((await inNs(node, ['ip', '-6', 'rule', 'show'])).stdout, /to 2001:db8::\/64 iif eth0\.222 lookup 222 proto 86/, 'VMC: the IPv6 rule');
    t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /default via 192\.0\.2\.1 dev eth0\.222 proto 86/, 'table 222 via the router');
    t.equal(await sys(node, 'net/ipv4/conf/eth0.222/proxy_arp'), '1', 'proxy ARP on the uplink');
    t.equal(await sys(node, 'net/ipv6/conf/eth0.222/proxy_ndp'), '1', 'proxy NDP on the uplink');
    t.match((await inNs(router, ['ip', 'addr', 'show', 'dev', 'eth0.222'])).stdout, /inet 192\.0\.2\.1\/24[\s\S]*inet6 2001:db8::1\/64/, 'router: both gateways');
    t.equal(await sys(router, 'net/ipv6/conf/all/forwarding'), '1', 'router: IPv6 forwarding');

    await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.11', '--ip6', '2001:db8::11'], { ns: node });
    await reaches(t, 'VM → internet', vm, INET, inet, '192.0.2.11');
    t.ok(await ping(vm, INET6), 'VM → internet over IPv6');
    t.ok((await echoesSeen(inet, '2001:db8::11', INET6)) >= 2, 'the internet host saw the VM’s own IPv6 address');

    // ifupdown2 runs pre-up, up and post-up of every auto interface again on each ifreload -a
    const applied = { node: await snapshot(node), router: await snapshot(router) };
    for (let i = 0; i < 2; i++) {
      await reload(node);
      await reload(router);
    }
    t.equal(snapshotDiff(applied.node, await snapshot(node)), '', 'VMC: ifreload -a twice changes nothing');
    t.equal(snapshotDiff(applied.router, await snapshot(router)), '', 'router: ifreload -a twice changes nothing');
    await reaches(t, 'VM → internet after ifreload', vm, INET, inet, '192.0.2.11');

    await vmrouter(['tap', 'down', '--tap', 'tap1'], { ns: node });
    for (const ns of [node, router]) await down(ns, 'eth0.222');
    await recable(node, 'p-n1');
    await recable(router, 'p-rt');
    for (const ns of [node, router]) t.equal(snapshotDiff(baseline[ns]!, await snapshot(ns, { recreated: ['eth0.222'] })), '', `${ns}: ifdown leaves the state before ifup`);
    t.match((await vmrouter(['status'], { ns: node })).stdout, /nothing is up/, 'the ledger holds nothing');
  });
}

t.test('snf-network stanzas for inet and inet6 of one interface: ifupdown2 merges them, both apply', { skip: why ?? false }, async (t) => {
  etcFile(node, 'iproute2/rt_tables', '255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n222\tsnf_routed\n');
  installHooks(node, LEGACY);
  await up(node, 'eth0.222');
  t.match((await inNs(node, ['ip', '-4', 'rule'])).stdout, /iif eth0\.222 lookup (222|snf_routed) proto 86/, 'IPv4 rule from the inet stanza');
  t.match((await inNs(node, ['ip', '-6', 'rule'])).stdout, /to 2001:db8::\/64 iif eth0\.222 lookup (222|snf_routed) proto 86/, 'IPv6 rule from the inet6 stanza, whose options ifupdown2 did not pass');
  t.equal(await sys(node, 'net/ipv6/conf/eth0.222/proxy_ndp'), '1', 'ip-proxy-ndp of the inet6 stanza');
  const status = (await vmrouter(['status'], { ns: node })).stdout;
  t.match(status, /\(inet\): role vmc, table 222/, 'status: the inet half');
  t.match(status, /\(inet6\): role vmc, table 222/, 'and the inet6 half');
  const applied = await snapshot(node);
  await reload(node);
  t.equal(snapshotDiff(applied, await snapshot(node)), '', 'ifreload -a changes nothing');
  // pre-down: ADDRFAM is unset or another interface's; both halves go anyway
  await down(node, 'eth0.222');
  await recable(node, 'p-n1');
  t.equal(snapshotDiff(baseline[node]!, await snapshot(node, { recreated: ['eth0.222'] })), '', 'ifdown removes both halves');
});

t.test('[vnet] host stanza: the hook makes the bridge in pre-up and deletes it in post-down', { skip: why ?? false }, async (t) => {
  await stanzas(node, VNET_CONF, 'compact', 'auto eth1\niface eth1 inet static\n    address 192.168.56.103/24\n\n');
  await up(node, 'eth1');
  await up(node, 'br_net1');
  t.match((await inNs(node, ['ip', '-d', 'link', 'show', 'dev', 'br_net1'])).stdout, /link\/ether 02:76:6e:00:00:65[\s\S]*bridge/, 'the bridge, with the network’s MAC');
  t.match((await inNs(node, ['ip', '-4', 'addr', 'show', 'dev', 'br_net1'])).stdout, /inet 10\.10\.10\.2\/24/, 'its address');
  t.match((await inNs(node, ['ip', '-4', 'rule'])).stdout, /iif br_net1 lookup 101 proto 86/, 'its rule');
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '101'])).stdout, /default via 192\.168\.56\.101 dev eth1/, 'table 101 via the router');
  const applied = await snapshot(node);
  await reload(node);
  t.equal(snapshotDiff(applied, await snapshot(node)), '', 'ifreload -a changes nothing (the bridge is not made twice)');
  await down(node, 'br_net1');
  t.not((await inNs(node, ['ip', 'link', 'show', 'dev', 'br_net1'], { ok: false })).code, 0, 'ifdown deleted the bridge');
  await down(node, 'eth1');
  t.equal(snapshotDiff(baseline[node]!, await snapshot(node, { recreated: ['eth0.222'] })), '', 'the state before');
});
