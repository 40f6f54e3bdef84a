/**
 * Routed VM networks end to end on the real kernel (issue 2): two VMC nodes and a router configured
 * by `vmrouter generate` stanzas and real ifup/ifdown, VMs bound with `vmrouter tap up` (flags and
 * Ganeti's environment), IPv4 and IPv6. Every reachability claim is checked where the packet lands.
 */
import t from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { arpRequestsHeard, echoesSeen, installProbe, reaches } from '../lib/probe.js';
import { inNs } from '../lib/run.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import {
  ARP_IP,
  buildRoutedLab,
  configureNode,
  configureVm,
  GW,
  GW6,
  INET,
  INET6,
  macOf,
  ping,
  recreateUplink,
  vmcConf,
  type RoutedLab,
} from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr2r-';
const lab = new Lab(PREFIX);
let l: RoutedLab;
let node1: string, node2: string;
const baseline: Record<string, string> = {};
const afterIfup: Record<string, string> = {};

// vm1: two IPv4 and two IPv6 addresses, one of them not EUI-64, bound with flags; default via the TAP's link-local
// vm2: bound from Ganeti's kvm-ifup environment (one IPv4, IPv6 by EUI-64 of its MAC)
// vm3: on node2, IPv6 default via gateway6 (proxied on its TAP)
const VM1 = { ips: ['192.0.2.11', '192.0.2.21'], ip6s: ['2001:db8::11', '2001:db8::5054:ff:fe00:11'], mac: '52:54:00:00:00:11' };
const VM2 = { ip: '192.0.2.12', mac: '52:54:00:00:00:12', ip6: '2001:db8::5054:ff:fe00:12' };
const VM3 = { ip: '192.0.2.13', ip6: '2001:db8::13', mac: '52:54:00:00:00:13' };

// the VMC nodes' section copied to the router with only the role changed (and its upstream added)
const ROUTER_CONF = `${vmcConf().replace('role = vmc', 'role = router')}upstream = eth0\n`;

t.before(async () => {
  await Lab.sweep(PREFIX);
  l = await buildRoutedLab(lab, { n1: ['tap1', 'tap2'], n2: ['tap3'] });
  [node1, node2] = l.nodes as [string, string];
  // ifdown deletes eth0.222 (as it deletes a real VLAN); the re-created one has another MAC
  for (const ns of [node1, node2, l.router]) baseline[ns] = await snapshot(ns, { recreated: ['eth0.222'] });
  await configureNode(node1, vmcConf());
  await configureNode(node2, vmcConf());
  await configureNode(l.router, ROUTER_CONF);
});
t.teardown(() => lab.cleanup());

t.test("the VMC nodes' section works on the router: their keys are ignored with a warning", async (t) => {
  const r = await vmrouter(['--config', `/tmp/${l.router}.conf`, 'generate'], { ok: false });
  t.equal(r.code, 0, 'generate succeeds');
  const warnings = r.stderr.trim().split('\n');
  t.same(
    warnings.map((w) => w.replace(/^vmrouter: warning: \/tmp\/[^:]+:/, '')),
    ['5: [network public] table: ignored: applies to roles vmc and vmc+router, not router', '6: [network public] table_name: ignored: applies to roles vmc and vmc+router, not router', '9: [network public] arp_ip: ignored: applies to roles vmc and vmc+router, not router'],
    'one warning per ignored key, naming file, line and key',
  );
  t.notMatch(r.stdout, /vmrouter-table|snf_routed|192\.0\.2\.254/, 'the stanza carries none of them');
});

t.test('ifup applies each role through the installed hook', async (t) => {
  for (const ns of [l.router, node1, node2]) await ifupdown(ns, 'ifup', 'eth0.222');

  const rules = (await inNs(node1, ['ip', '-4', 'rule', 'show'])).stdout;
  t.match(rules, /10000:\s+from all to 192\.0\.2\.0\/24 iif eth0\.222 lookup 222 proto 86/, 'VMC: uplink traffic for the subnet uses table 222');
  t.match(rules, /10000:\s+from all fwmark 0xde lookup 222 proto 86/, 'VMC: one fwmark rule selects the table for all TAPs');
  t.equal(rules.split('\n').filter((x) => x.includes('lookup 222')).length, 2, 'exactly two IPv4 rules, however many VMs');
  const rules6 = (await inNs(node1, ['ip', '-6', 'rule', 'show'])).stdout;
  t.equal(rules6.split('\n').filter((x) => x.includes('lookup 222')).length, 2, 'exactly two IPv6 rules');
  const table = (await inNs(node1, ['ip', 'route', 'show', 'table', '222'])).stdout;
  t.match(table, /default via 192\.0\.2\.1 dev eth0\.222 proto 86/, 'table 222 leaves through the router');
  t.match(table, /192\.0\.2\.0\/24 dev eth0\.222 proto 86/, 'table 222 reaches other nodes\' VMs over the uplink');
  const sys = async (ns: string, path: string) => (await inNs(ns, ['cat', `/proc/sys/${path}`])).stdout.trim();
  t.equal(await sys(node1, 'net/ipv4/conf/eth0.222/proxy_arp'), '1', 'proxy ARP on the uplink');
  t.equal(await sys(node1, 'net/ipv4/conf/eth0.222/forwarding'), '1', 'IPv4 forwarding on the uplink');
  t.equal(await sys(node1, 'net/ipv4/conf/all/forwarding'), '0', 'IPv4 forwarding is not switched on node-wide');
  t.equal(await sys(node1, 'net/ipv6/conf/eth0.222/proxy_ndp'), '1', 'proxy NDP on the uplink');
  const nft = (await inNs(node1, ['nft', 'list', 'table', 'arp', 'vmrouter'])).stdout;
  t.match(nft, /"eth0\.222" : 192\.0\.2\.254/, 'ARP source of the uplink is arp_ip');

  t.match((await inNs(l.router, ['ip', '-4', 'addr', 'show', 'dev', 'eth0.222'])).stdout, /inet 192\.0\.2\.1\/24/, 'router: gateway address on the uplink');
  t.equal(await sys(l.router, 'net/ipv4/conf/eth0/forwarding'), '1', 'router: forwarding on upstream');
  t.equal(await sys(l.router, 'net/ipv6/conf/all/forwarding'), '1', 'router: IPv6 forwarding');
  for (const ns of [node1, node2, l.router]) afterIfup[ns] = await snapshot(ns);
});

t.test('a second ifup changes nothing', async (t) => {
  await ifupdown(node1, 'ifup', 'eth0.222', ['--force']);
  t.equal(snapshotDiff(afterIfup[node1]!, await snapshot(node1)), '', 'kernel state identical after ifup --force');
});

t.test('tap up binds VMs from flags and from the Ganeti environment', async (t) => {
  // several addresses after one flag (the moves below repeat the flag instead)
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--mac', VM1.mac, '--ip', ...VM1.ips, '--ip6', ...VM1.ip6s], { ns: node1 });
  await vmrouter(['tap', 'up'], {
    ns: node1,
    env: { INTERFACE: 'tap2', IP: VM2.ip, MAC: VM2.mac, MODE: 'routed', LINK: '222', NETWORK_SUBNET: '192.0.2.0/24', NETWORK_GATEWAY: GW, NETWORK_SUBNET6: '2001:db8::/64', NETWORK_GATEWAY6: GW6, TAGS: 'a b' },
  });
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap3', '--mac', VM3.mac, '--ip', VM3.ip, '--ip6', VM3.ip6], { ns: node2 });

  const rules = (await inNs(node1, ['ip', '-4', 'rule', 'show'])).stdout;
  t.equal(rules.split('\n').filter((x) => x.includes('lookup 222')).length, 2, 'still two rules with VMs bound: no rule per VM');
  const table = (await inNs(node1, ['ip', 'route', 'show', 'table', '222'])).stdout;
  for (const a of VM1.ips) t.match(table, new RegExp(`${a.replace(/\./g, '\\.')} dev tap1 proto 86`), `host route for ${a}`);
  t.match(table, /192\.0\.2\.12 dev tap2 proto 86/, 'host route from Ganeti env');
  const table6 = (await inNs(node1, ['ip', '-6', 'route', 'show', 'table', '222'])).stdout;
  t.match(table6, /2001:db8::5054:ff:fe00:12 dev tap2/, 'EUI-64 address derived from Ganeti MAC');
  t.match(table6, /2001:db8::11 dev tap1/, 'non-EUI-64 IPv6 address');
  const proxies = (await inNs(node1, ['ip', '-6', 'neigh', 'show', 'proxy'])).stdout;
  for (const a of [...VM1.ip6s, VM2.ip6]) t.match(proxies, new RegExp(`${a} dev eth0\\.222 proxy`), `proxy NDP for ${a} on the uplink`);
  t.match(proxies, /2001:db8::1 dev tap1 proxy/, 'gateway6 proxied on the TAP');
  const fwd = (await inNs(node1, ['nft', 'list', 'ruleset'])).stdout;
  t.notMatch(fwd, /192\.0\.2\.1[12] .*(accept|drop)/, 'no firewall rule mentions a VM address: VMs are set elements');

  await configureVm({ ns: l.vms.tap1!, ips: VM1.ips, ip6s: VM1.ip6s, gw6: 'tap' }, node1, 'tap1');
  await configureVm({ ns: l.vms.tap2!, ips: [VM2.ip], ip6s: [VM2.ip6], gw6: 'tap' }, node1, 'tap2');
  await configureVm({ ns: l.vms.tap3!, ips: [VM3.ip], ip6s: [VM3.ip6], gw6: 'gateway6' }, node2, 'tap3');
  for (const ns of [l.router, l.inet, ...Object.values(l.vms)]) await installProbe(ns);
});


t.test('IPv4 reachability', async (t) => {
  const [vm1, vm2, vm3] = [l.vms.tap1!, l.vms.tap2!, l.vms.tap3!];
  await reaches(t, 'VM → gateway', vm1, GW, l.router, '192.0.2.11');
  await reaches(t, 'VM → internet (no NAT: far end sees the VM)', vm1, INET, l.inet, '192.0.2.11');
  await reaches(t, 'second address of the NIC → internet', vm1, INET, l.inet, '192.0.2.21', '192.0.2.21');
  await reaches(t, 'internet → VM', l.inet, '192.0.2.11', vm1, INET);
  await reaches(t, 'internet → VM on node2', l.inet, VM3.ip, vm3, INET);
  await reaches(t, 'VM → VM on the same node', vm1, VM2.ip, vm2, '192.0.2.11');
  const viaRouter = await echoesSeen(l.router, '192.0.2.11', VM3.ip);
  await reaches(t, 'VM → VM across nodes', vm1, VM3.ip, vm3, '192.0.2.11');
  t.equal(await echoesSeen(l.router, '192.0.2.11', VM3.ip), viaRouter, 'node-to-node traffic never reached the router');
  await reaches(t, 'router → VM', l.router, VM3.ip, vm3, GW);
});

t.test('strict reverse-path filtering everywhere (a CIS-hardened node) does not break routed VMs', async (t) => {
  const [vm1, vm2, vm3] = [l.vms.tap1!, l.vms.tap2!, l.vms.tap3!];
  const keys = ['all', 'default', 'eth0/222', 'tap1', 'tap2'].map((d) => `net.ipv4.conf.${d}.rp_filter`);
  const before = new Map<string, string>();
  for (const ns of [node1, node2]) for (const k of keys.filter((x) => ns === node1 || !/tap[12]/.test(x))) before.set(`${ns} ${k}`, (await inNs(ns, ['sysctl', '-n', k])).stdout.trim());
  for (const [nk] of before) {
    const [ns, k] = nk.split(' ') as [string, string];
    await inNs(ns, ['sysctl', '-q', '-w', `${k}=1`]);
  }
  for (const ns of [node1, node2]) await inNs(ns, ['ip', 'neigh', 'flush', 'all']);
  for (const vm of [vm1, vm2, vm3]) await inNs(vm, ['ip', 'neigh', 'flush', 'all']);
  for (const d of ['eth0.222', 'tap1', 'tap2']) t.equal((await inNs(node1, ['cat', `/proc/sys/net/ipv4/conf/${d}/src_valid_mark`])).stdout.trim(), '1', `${d}: reverse-path checks use the packet mark`);
  await reaches(t, 'strict: VM → gateway (its ARP for the gateway passes too)', vm1, GW, l.router, '192.0.2.11');
  await reaches(t, 'strict: VM → internet', vm1, INET, l.inet, '192.0.2.11');
  await reaches(t, 'strict: internet → VM', l.inet, '192.0.2.11', vm1, INET);
  await reaches(t, 'strict: VM → VM on the same node', vm1, VM2.ip, vm2, '192.0.2.11');
  await reaches(t, 'strict: VM → VM across nodes', vm1, VM3.ip, vm3, '192.0.2.11');
  for (const [nk, v] of before) {
    const [ns, k] = nk.split(' ') as [string, string];
    await inNs(ns, ['sysctl', '-q', '-w', `${k}=${v}`]);
  }
});

t.test('IPv6 reachability', async (t) => {
  const [vm1, vm2, vm3] = [l.vms.tap1!, l.vms.tap2!, l.vms.tap3!];
  await reaches(t, 'VM → gateway6 (default via the TAP link-local)', vm1, GW6, l.router, '2001:db8::11', '2001:db8::11');
  await reaches(t, 'VM → gateway6 (default via gateway6, proxied on the TAP)', vm3, GW6, l.router, VM3.ip6);
  await reaches(t, 'VM → internet', vm1, INET6, l.inet, '2001:db8::11', '2001:db8::11');
  await reaches(t, 'EUI-64 address → internet', vm1, INET6, l.inet, VM1.ip6s[1]!, VM1.ip6s[1]);
  await reaches(t, 'internet → VM', l.inet, '2001:db8::11', vm1, INET6);
  await reaches(t, 'internet → Ganeti-bound VM', l.inet, VM2.ip6, vm2, INET6);
  await reaches(t, 'VM → VM on the same node', vm1, VM2.ip6, vm2, '2001:db8::11', '2001:db8::11');
  const viaRouter = await echoesSeen(l.router, '2001:db8::11', VM3.ip6);
  await reaches(t, 'VM → VM across nodes', vm1, VM3.ip6, vm3, '2001:db8::11', '2001:db8::11');
  t.equal(await echoesSeen(l.router, '2001:db8::11', VM3.ip6), viaRouter, 'node-to-node IPv6 never reached the router');
  await reaches(t, 'router → VM', l.router, VM3.ip6, vm3, '2001:db8::1', undefined);
});

t.test('a VM cannot use addresses it was not given', async (t) => {
  const vm1 = l.vms.tap1!;
  const drops = async () => Number(/counter packets (\d+) bytes \d+ drop comment "vmrouter: source address not bound/.exec((await inNs(node1, ['nft', 'list', 'chain', 'inet', 'vmrouter', 'guard'])).stdout)![1]);
  const dropped0 = await drops();
  await inNs(vm1, ['ip', 'addr', 'add', `${VM3.ip}/32`, 'dev', 'eth0']);
  await inNs(vm1, ['ip', 'addr', 'add', '10.66.0.1/32', 'dev', 'eth0']);
  await inNs(vm1, ['ip', '-6', 'addr', 'add', `${VM3.ip6}/128`, 'dev', 'eth0', 'nodad']);
  for (const [src, dst] of [[VM3.ip, INET], ['10.66.0.1', INET], [VM3.ip, VM2.ip], [VM3.ip6, INET6], [VM3.ip6, VM2.ip6]] as const) {
    const at = dst === VM2.ip || dst === VM2.ip6 ? l.vms.tap2! : l.inet;
    const before = await echoesSeen(at, src, dst);
    t.notOk(await ping(vm1, dst, ['-I', src]), `forged ${src} → ${dst} gets no answer`);
    t.equal(await echoesSeen(at, src, dst), before, `forged ${src} → ${dst} never arrived`);
  }
  t.ok((await drops()) - dropped0 >= 10, 'the guard counted the dropped packets');
  await reaches(t, 'the legitimate address still works', vm1, INET, l.inet, '192.0.2.11', '192.0.2.11');
  await inNs(vm1, ['ip', 'addr', 'del', `${VM3.ip}/32`, 'dev', 'eth0']);
  await inNs(vm1, ['ip', 'addr', 'del', '10.66.0.1/32', 'dev', 'eth0']);
  await inNs(vm1, ['ip', '-6', 'addr', 'del', `${VM3.ip6}/128`, 'dev', 'eth0']);
});

t.test('ARP the nodes send hides their own addresses', async (t) => {
  const node1Mac = await macOf(node1, 'eth0.222');
  // The node's own ARP for the gateway (not a VM's) carries arp_ip, not 10.255.0.1.
  await inNs(node1, ['ip', 'neigh', 'flush', 'dev', 'eth0.222']);
  await ping(node1, GW, ['-I', '10.255.0.1'], 1);
  const heard = await arpRequestsHeard(l.router);
  const fromNode1 = [...heard.keys()].filter((k) => k.startsWith(node1Mac));
  t.ok(fromNode1.includes(`${node1Mac} > ${ARP_IP}`), 'the router heard node1 ask with arp_ip as source');
  const allowed = new Set([ARP_IP, ...VM1.ips, VM2.ip]);
  t.same(fromNode1.map((k) => k.split(' > ')[1]).filter((ip) => !allowed.has(ip!)), [], 'node1 never showed its own address (only arp_ip, or VM addresses it announced)');
  const tap1Mac = await macOf(node1, 'tap1');
  await inNs(node1, ['ip', 'neigh', 'flush', 'dev', 'tap1']);
  await ping(l.inet, '192.0.2.11', [], 1);
  const vmHeard = [...(await arpRequestsHeard(l.vms.tap1!)).keys()].filter((k) => k.startsWith(tap1Mac));
  t.ok(vmHeard.length > 0, 'the VM heard ARP requests from its TAP');
  t.same([...new Set(vmHeard.map((k) => k.split(' > ')[1]))], [GW], 'ARP requests out of the TAP carry the gateway as source');
});

t.test('a VM that moves to another node is re-learned at once', async (t) => {
  const node2Mac = await macOf(node2, 'eth0.222');
  const node1Mac = await macOf(node1, 'eth0.222');
  const lladdr = async (family: '-4' | '-6', a: string) => /lladdr (\S+)/.exec((await inNs(l.router, ['ip', family, 'neigh', 'show', a, 'dev', 'eth0.222'])).stdout)?.[1];
  t.ok(await ping(l.router, '192.0.2.11', [], 1));
  t.ok(await ping(l.router, '2001:db8::11', [], 1));
  t.equal(await lladdr('-4', '192.0.2.11'), node1Mac, 'router: 192.0.2.11 is at node1');
  t.equal(await lladdr('-6', '2001:db8::11'), node1Mac, 'router: 2001:db8::11 is at node1');

  await vmrouter(['tap', 'down', '--tap', 'tap1'], { ns: node1 });
  await inNs(node1, ['ip', 'link', 'set', 'dev', 'tap1', 'netns', node2]);
  await inNs(node2, ['ip', 'link', 'set', 'dev', 'tap1', 'up']);
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--mac', VM1.mac, ...VM1.ips.flatMap((a) => ['--ip', a]), ...VM1.ip6s.flatMap((a) => ['--ip6', a])], { ns: node2 });
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await lladdr('-4', '192.0.2.11'), node2Mac, 'gratuitous ARP: the router now sends 192.0.2.11 to node2');
  t.equal(await lladdr('-6', '2001:db8::11'), node2Mac, 'unsolicited NA: the router now sends 2001:db8::11 to node2');
  // the VM's IPv6 default route pointed at the TAP's link-local, which moved with it
  await reaches(t, 'internet → moved VM', l.inet, '192.0.2.11', l.vms.tap1!, INET);
  await reaches(t, 'internet → moved VM (IPv6)', l.inet, '2001:db8::11', l.vms.tap1!, INET6);

  await vmrouter(['tap', 'down', '--tap', 'tap1'], { ns: node2 });
  await inNs(node2, ['ip', 'link', 'set', 'dev', 'tap1', 'netns', node1]);
  await inNs(node1, ['ip', 'link', 'set', 'dev', 'tap1', 'up']);
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--mac', VM1.mac, ...VM1.ips.flatMap((a) => ['--ip', a]), ...VM1.ip6s.flatMap((a) => ['--ip6', a])], { ns: node1 });
  await reaches(t, 'and back on node1', l.inet, '192.0.2.11', l.vms.tap1!, INET);
});

t.test('tap down and ifdown return every node to its state before', async (t) => {
  await vmrouter(['tap', 'down', '--tap', 'tap1'], { ns: node1 });
  await vmrouter(['tap', 'down'], { ns: node1, env: { INTERFACE: 'tap2', MODE: 'routed' } });
  await vmrouter(['tap', 'down', '--tap', 'tap3'], { ns: node2 });
  for (const ns of [l.router, l.inet, ...Object.values(l.vms)]) {
    await inNs(ns, ['nft', 'delete', 'table', 'inet', 'probe'], { ok: false });
    await inNs(ns, ['nft', 'delete', 'table', 'arp', 'probe'], { ok: false });
  }
  // tap1 moved away and back, so it is a re-created interface in node1 only by its MAC (unchanged) — compare all
  t.equal(snapshotDiff(afterIfup[node2]!, await snapshot(node2)), '', 'node2 after tap down = after ifup');
  const n1 = snapshotDiff(afterIfup[node1]!, await snapshot(node1));
  // tap1 went to node2 and came back: its ifindex changed, nothing else may differ
  t.equal(n1, '', 'node1 after tap down = after ifup');

  for (const [ns, port] of [[node1, 'p-n1'], [node2, 'p-n2'], [l.router, 'p-rt']] as const) {
    await ifupdown(ns, 'ifdown', 'eth0.222');
    t.notOk((await inNs(ns, ['ip', 'link', 'show', 'dev', 'eth0.222'], { ok: false })).code === 0, `${ns}: ifdown deleted the VLAN device, as for a real VLAN`);
    await recreateUplink(lab, l, ns, port);
    t.equal(snapshotDiff(baseline[ns]!, await snapshot(ns, { recreated: ['eth0.222'] })), '', `${ns}: kernel state after ifdown = before ifup`);
    t.match((await vmrouter(['status'], { ns })).stdout, /nothing is up/, `${ns}: vmrouter status says nothing is up`);
  }
});
