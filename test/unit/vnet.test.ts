/** [vnet NAME]: verify (every problem with file:line:key), the planned steps per role, placements, FRR. */
import t from 'tap';
import { configProblems, featureRecords } from '../lib/config.js';
import { InvalidInput } from '../../src/config/errors.js';
import { attachVnet, planDeparture, planPlacement } from '../../src/features/vnet.js';
import { editPlacements, parsePlacements, type VnetRecord } from '../../src/model/vnet.js';
import { doArgv, undoArgv } from '../../src/plan/step.js';
import { renderFrr } from '../../src/render/frr.js';

const FILE = 'vmrouter.conf';
const BASE = [
  '[vnet net1]', // 1
  'subnet = 10.10.10.0/24', // 2
  'gateway = 10.10.10.1', // 3
  'bridge = br_net1', // 4
  'bridge_address = 10.10.10.2', // 5
  'table = 101', // 6
  'underlay = eth1', // 7
  'hosts = h1:192.168.56.103 h2:192.168.56.104', // 8
  'routers = r1:192.168.56.101', // 9
  'uplink = eth0', // 10
];

const records = (lines: string[]): VnetRecord[] => featureRecords<VnetRecord>('vnet', lines.join('\n'), FILE);
const problems = (lines: string[]): string[] => configProblems(lines.join('\n'), FILE);
const lines = (steps: ReturnType<typeof attachVnet>[number]['steps']) => steps.map((s) => doArgv(s).join(' '));

t.test('a valid section: defaults filled in once', async (t) => {
  const [v] = records(BASE);
  t.equal(v!.routing, 'static');
  t.equal(v!.masquerade, true);
  t.equal(v!.inbound, false);
  t.equal(v!.bridgeMac, '02:76:6e:00:00:65', 'bridge MAC from the table id');
  t.equal(v!.placements, '/etc/vmrouter/vnet/net1.placements');
  t.equal(v!.priority, 10000);
});

t.test('every problem at once, with file, line and key', async (t) => {
  const bad = [...BASE];
  bad[2] = 'gateway = 10.10.11.1';
  bad[4] = 'bridge_address = 10.10.10.255';
  bad[7] = 'hosts = h1:192.168.56.103 h1:192.168.56.105';
  bad[8] = 'routers = r1:10.10.10.9';
  bad[9] = 'uplink = eth1';
  t.same(problems([...bad, 'asn = 65000']), [
    'vmrouter.conf:3: [vnet net1] gateway: 10.10.11.1 is outside 10.10.10.0/24',
    'vmrouter.conf:5: [vnet net1] bridge_address: 10.10.10.255 is the broadcast address of 10.10.10.0/24',
    'vmrouter.conf:10: [vnet net1] uplink: must differ from underlay eth1: masquerading there would hide VMs from each other',
    'vmrouter.conf:8: [vnet net1] hosts: h1 is listed twice',
    'vmrouter.conf:9: [vnet net1] routers: r1: 10.10.10.9 is inside subnet 10.10.10.0/24; underlay addresses are separate',
    'vmrouter.conf:11: [vnet net1] asn: applies only to routing = bgp',
  ]);
  t.same(problems([...BASE, 'routing = ospf']), ['vmrouter.conf:11: [vnet net1] routing: "ospf" is not static or bgp']);
  t.same(problems([...BASE, 'colour = blue']), ['vmrouter.conf:11: [vnet net1] colour: unknown key']);
});

t.test('across sections: tables, bridges, subnets, node addresses', async (t) => {
  const second = ['[vnet net2]', 'subnet = 10.10.0.0/16', 'gateway = 10.10.0.1', 'bridge = br_net1', 'bridge_address = 10.10.0.2', 'table = 101', 'underlay = eth1', 'hosts = h1:192.168.56.199', 'routers = r1:192.168.56.101', 'uplink = eth0'];
  t.same(problems([...BASE, ...second]), [
    'vmrouter.conf:16: [vnet net2] table: table 101 is already used by [vnet net1]',
    'vmrouter.conf:14: [vnet net2] bridge: bridge br_net1 is already used by [vnet net1]',
    'vmrouter.conf:12: [vnet net2] subnet: 10.10.0.0/16 overlaps 10.10.10.0/24 of [vnet net1]',
    'vmrouter.conf:18: [vnet net2] hosts: h1 has address 192.168.56.103 in [vnet net1], not 192.168.56.199',
  ]);
});

t.test('host steps: bridge address, proxy ARP, a table with only the default, one rule', async (t) => {
  const [v] = records([...BASE.slice(0, 8), 'routers = r1:192.168.56.101 r2:192.168.56.102', 'uplink = eth0']);
  const [host, router] = attachVnet(v!);
  t.equal(host!.iface, 'br_net1');
  t.same(host!.nodes, ['h1', 'h2']);
  t.same(host!.create, { up: ['ip', 'link', 'add', 'name', 'br_net1', 'address', '02:76:6e:00:00:65', 'type', 'bridge'], down: ['ip', 'link', 'del', 'dev', 'br_net1'] });
  const up = lines(host!.steps);
  t.ok(up.includes('ip -4 addr add 10.10.10.2/24 dev br_net1'));
  t.ok(up.includes('sysctl -q -w net/ipv4/conf/br_net1/proxy_arp=1'));
  t.ok(up.includes('ip -4 route add default table 101 proto 86 nexthop via 192.168.56.101 dev eth1 nexthop via 192.168.56.102 dev eth1'), 'ECMP over both routers');
  t.ok(up.includes('sysctl -q -w net/ipv4/fib_multipath_use_neigh=1'), 'a dead router is skipped');
  t.ok(up.includes('ip -4 rule add pref 10000 iif br_net1 lookup 101 proto 86'));
  t.notOk(up.some((l) => l.includes('10.10.10.0/24') && l.includes('table 101')), 'the table never routes the subnet back to the bridge');
  t.equal(router!.iface, 'eth1');
  t.same(router!.nodes, ['r1', 'r2']);
  const rt = lines(router!.steps);
  t.ok(rt.includes('ip -4 addr add 10.10.10.1/32 dev lo'));
  t.ok(rt.includes(`nft add element ip vmrouter masq { 10.10.10.0/24 . "eth0" }`), 'masquerade only out of the uplink');
  t.ok(rt.includes(`nft add element ip vmrouter_vnet closed { 10.10.10.0/24 . "eth0" }`), 'inbound refused');
  for (const s of [...host!.steps, ...router!.steps]) if (s.kind === 'ip') t.ok(undoArgv(s), `${s.key} has an inverse`);
});

t.test('per VM: a /32 to the bridge on its host, a host route on a static router, nothing elsewhere', async (t) => {
  const [v] = records(BASE);
  const p = { vm: 'vm1', host: 'h1', ips: ['10.10.10.10'], line: 1 };
  t.same(planPlacement(v!, 'h1', p).map((s) => doArgv(s).join(' ')), ['ip -4 route add 10.10.10.10/32 dev br_net1 table 101 proto 86']);
  t.same(planPlacement(v!, 'h2', p), []);
  t.same(planPlacement(v!, 'r1', p).map((s) => doArgv(s).join(' ')), ['ip -4 route add 10.10.10.10/32 via 192.168.56.103 dev eth1 proto 86']);
  const [b] = records([...BASE, 'routing = bgp']);
  t.same(planPlacement(b!, 'h1', p).map((s) => doArgv(s).join(' ')), ['ip -4 route add 10.10.10.10/32 dev br_net1 table 101 proto 86', 'ip -4 route add 10.10.10.10/32 dev br_net1 proto 86'], 'bgp: also in main, for FRR');
  t.same(planPlacement(b!, 'r1', p), [], 'bgp: routers learn it');
  t.same(planDeparture(v!, ['10.10.10.10']).map((s) => s.kind), ['announce']);
});

t.test('placements: every problem with file and line', async (t) => {
  const [v] = records(BASE);
  t.same(parsePlacements('# comment\nvm1 h1 10.10.10.10\n\nvm2 h2 10.10.10.11 10.10.10.21\n', 'p', v!).map((p) => [p.vm, p.host, p.ips]), [['vm1', 'h1', ['10.10.10.10']], ['vm2', 'h2', ['10.10.10.11', '10.10.10.21']]]);
  try {
    parsePlacements('vm1 h1 10.10.10.10\nvm2 h3 10.10.10.10\nvm3 h1 10.10.10.1\nvm1 h2 10.10.11.5\n', 'p', v!);
    t.fail('accepted');
  } catch (e) {
    t.same((e as InvalidInput).problems.map(String), [
      'p:2: placements of [vnet net1] HOST: vm2: h3 is not a host of [vnet net1] (h1, h2)',
      'p:2: placements of [vnet net1] ADDRESS: vm2: 10.10.10.10 already belongs to vm1',
      'p:3: placements of [vnet net1] ADDRESS: vm3: 10.10.10.1 is the network\'s gateway, bridge, network or broadcast address',
      'p:4: placements of [vnet net1] VM: vm1 is placed twice',
      'p:4: placements of [vnet net1] ADDRESS: vm1: 10.10.11.5 is outside 10.10.10.0/24',
    ]);
  }
});

t.test('FRR: hosts announce their VMs, routers accept only /32s of the networks', async (t) => {
  const rs = records([...BASE.slice(0, 8), 'routers = r1:192.168.56.101 r2:192.168.56.102', 'uplink = eth0', 'routing = bgp', 'bgp_hold = 3']);
  const host = (await renderFrr(rs, 'h1', FILE))['frr.conf'];
  t.match(host, /ip prefix-list vmrouter-vms seq 5 permit 10\.10\.10\.0\/24 ge 32/);
  t.match(host, /router bgp 64512\n bgp router-id 192\.168\.56\.103/);
  t.match(host, /neighbor 192\.168\.56\.101 remote-as 64512/);
  t.match(host, /neighbor 192\.168\.56\.102 timers 1 3/);
  t.match(host, /redistribute kernel route-map vmrouter-vms/);
  t.match(host, /neighbor 192\.168\.56\.101 route-map vmrouter-none in/);
  t.notMatch(host, /192\.168\.56\.104/, 'no host-to-host session');
  const router = (await renderFrr(rs, 'r1', FILE))['frr.conf'];
  t.match(router, /neighbor 192\.168\.56\.103 route-map vmrouter-vms in/);
  t.match(router, /neighbor 192\.168\.56\.104 route-map vmrouter-none out/);
  t.notMatch(router, /redistribute/);
  t.match((await renderFrr(rs, 'r1', FILE)).daemons, /^bgpd=yes$/m);
  await t.rejects(renderFrr(records(BASE), 'h1', FILE), /--node h1: is in no \[vnet NAME\] with routing = bgp/);
  await t.rejects(renderFrr(rs, 'zz', FILE), /--node zz: is not a host or router/);
});

t.test('examples/vnet is valid', async (t) => {
  const { readFileSync } = await import('node:fs');
  const dir = new URL('../../examples/vnet/', import.meta.url);
  const rs = records(readFileSync(new URL('vmrouter.conf', dir), 'utf8').split('\n'));
  t.equal(rs.length, 1);
  t.equal(parsePlacements(readFileSync(new URL('net1.placements', dir), 'utf8'), 'net1.placements', rs[0]!).length, 4);
  for (const node of ['h1', 'r1']) t.match((await renderFrr(rs, node, 'vmrouter.conf'))['frr.conf'], /router bgp 64512[\s\S]*address-family ipv6 unicast/);
  t.equal(rs[0]!.v6?.subnet.cidr, '2001:db8:a::/64', 'dual stack');
});

t.test('editPlacements: one VM\'s line replaced, added or removed; the rest kept', async (t) => {
  const text = '# where VMs run\nvm1 h1 10.10.10.10\nvm2 h1 10.10.10.11 # web\n';
  t.equal(editPlacements(text, 'vm2', 'h2', ['10.10.10.11']), '# where VMs run\nvm1 h1 10.10.10.10\nvm2 h2 10.10.10.11\n');
  t.equal(editPlacements(text, 'vm3', 'h2', ['10.10.10.12']), `${text}vm3 h2 10.10.10.12\n`);
  t.equal(editPlacements(text, 'vm1', null, []), '# where VMs run\nvm2 h1 10.10.10.11 # web\n');
  t.equal(editPlacements('', 'vm1', 'h1', ['10.10.10.10']), 'vm1 h1 10.10.10.10\n');
  t.equal(editPlacements('vm1 h1 10.10.10.10\n', 'vm1', null, []), '');
});

// IPv6: subnet6 and friends, lines 11-14 after BASE
const V6 = ['subnet6 = 2001:db8:a::/64', 'gateway6 = 2001:db8:a::1', 'bridge_address6 = 2001:db8:a::2', 'underlay6 = h1:fd00:56::103 h2:fd00:56::104 r1:fd00:56::101'];

t.test('IPv6: a valid dual-stack section', async (t) => {
  const [v] = records([...BASE, ...V6]);
  t.equal(v!.v6!.subnet.cidr, '2001:db8:a::/64');
  t.equal(v!.v6!.gateway, '2001:db8:a::1');
  t.equal(v!.v6!.underlay.get('h2'), 'fd00:56::104');
  t.equal(v!.v6!.masquerade, false, 'routed, no NAT66 by default');
  t.equal(records(BASE)[0]!.v6, null, 'IPv4 only without subnet6');
});

t.test('IPv6: every problem with file, line and key', async (t) => {
  t.same(problems([...BASE, 'gateway6 = 2001:db8:a::1', 'masquerade6 = yes']), [
    'vmrouter.conf:11: [vnet net1] gateway6: needs subnet6',
    'vmrouter.conf:12: [vnet net1] masquerade6: needs subnet6',
  ]);
  t.same(problems([...BASE, 'subnet6 = 2001:db8:a::/64']), [
    'vmrouter.conf:1: [vnet net1] gateway6: is required with subnet6 (the VMs\' IPv6 default gateway)',
    'vmrouter.conf:1: [vnet net1] bridge_address6: is required with subnet6 (the bridge\'s IPv6 address on every host)',
    'vmrouter.conf:1: [vnet net1] underlay6: is required with subnet6 (NAME:IPV6ADDRESS of every host and router)',
  ]);
  t.same(problems([...BASE, 'subnet6 = 2001:db8:a::/64', 'gateway6 = 2001:db8:b::1', 'bridge_address6 = 10.10.10.3', 'underlay6 = h1:fd00:56::103 r9:fd00:56::109 r1:2001:db8:a::5', 'masquerade6 = maybe']), [
    'vmrouter.conf:12: [vnet net1] gateway6: 2001:db8:b::1 is outside 2001:db8:a::/64',
    'vmrouter.conf:13: [vnet net1] bridge_address6: "10.10.10.3" is not an IPv6 address',
    'vmrouter.conf:14: [vnet net1] underlay6: r9: not a host or router of this network',
    'vmrouter.conf:14: [vnet net1] underlay6: lacks h2: every host and router needs an IPv6 underlay address',
    'vmrouter.conf:14: [vnet net1] underlay6: r1: 2001:db8:a::5 is inside subnet6 2001:db8:a::/64; underlay addresses are separate',
    'vmrouter.conf:15: [vnet net1] masquerade6: "maybe" is not a boolean (yes/no)',
  ]);
  t.same(problems([...BASE, ...V6.slice(0, 3), 'underlay6 = h1:192.168.56.103']), ['vmrouter.conf:14: [vnet net1] underlay6: "192.168.56.103" (of h1) is not an IPv6 address']);
  const second = ['[vnet net2]', 'subnet = 10.20.0.0/16', 'gateway = 10.20.0.1', 'bridge = br_net2', 'bridge_address = 10.20.0.2', 'table = 20000101', 'underlay = eth1', 'hosts = h1:192.168.56.103', 'routers = r1:192.168.56.101', 'uplink = eth0', 'subnet6 = 2001:db8::/32', 'gateway6 = 2001:db8::1', 'bridge_address6 = 2001:db8::2', 'underlay6 = h1:fd00:56::99 r1:fd00:56::101'];
  t.same(problems([...BASE, ...V6, ...second]), [
    'vmrouter.conf:20: [vnet net2] table: table 20000101 and table 101 of [vnet net1] give the same IPv6 nexthop ids (table modulo 20000000); pick another',
    'vmrouter.conf:25: [vnet net2] subnet6: 2001:db8::/32 overlaps 2001:db8:a::/64 of [vnet net1]',
    'vmrouter.conf:28: [vnet net2] underlay6: h1 has IPv6 address fd00:56::103 in [vnet net1], not fd00:56::99',
  ]);
});

t.test('IPv6 plan: host, router, nexthop group with several routers', async (t) => {
  const [v] = records([...BASE, ...V6]);
  const [host, router] = attachVnet(v!);
  const up = lines(host!.steps);
  for (const l of [
    'ip -6 addr add 2001:db8:a::2/64 dev br_net1 nodad',
    'sysctl -q -w net/ipv6/conf/all/forwarding=1',
    'sysctl -q -w net/ipv6/conf/br_net1/proxy_ndp=1',
    'sysctl -q -w net/ipv6/neigh/br_net1/proxy_delay=0',
    'ip -6 neigh add proxy 2001:db8:a::1 dev br_net1 router',
    'ip -6 route add default table 101 proto 86 via fd00:56::101 dev eth1',
    'ip -6 rule add pref 10000 iif br_net1 lookup 101 proto 86',
  ]) t.ok(up.includes(l), l);
  t.notOk(up.some((l) => l.includes('2001:db8:a::/64') && l.includes('table 101')), 'the table never routes subnet6 back to the bridge');
  const rt = lines(router!.steps);
  t.ok(rt.includes('ip -6 addr add 2001:db8:a::1/128 dev lo nodad'));
  t.ok(rt.includes('nft add element ip6 vmrouter_vnet closed { 2001:db8:a::/64 . "eth0" }'), 'inbound applies to IPv6');
  t.notOk(rt.some((l) => l.includes('ip6 vmrouter masq')), 'no NAT66 unless asked');
  const [m] = records([...BASE, ...V6, 'masquerade6 = yes', 'inbound = yes']);
  const rt6 = lines(attachVnet(m!)[1]!.steps);
  t.ok(rt6.includes('nft add element ip6 vmrouter masq { 2001:db8:a::/64 . "eth0" }'), 'masquerade6: NAT66 out of the uplink');
  t.notOk(rt6.some((l) => l.includes('vmrouter_vnet')), 'inbound = yes: no filter, either family');
  const [e] = records([...BASE.slice(0, 8), 'routers = r1:192.168.56.101 r2:192.168.56.102', 'uplink = eth0', ...V6.slice(0, 3), 'underlay6 = h1:fd00:56::103 h2:fd00:56::104 r1:fd00:56::101 r2:fd00:56::102']);
  const ecmp = lines(attachVnet(e!)[0]!.steps);
  t.ok(ecmp.includes('ip nexthop add id 2000010101 via fd00:56::101 dev eth1 proto 86'));
  t.ok(ecmp.includes('ip nexthop add id 2000010102 via fd00:56::102 dev eth1 proto 86'));
  t.ok(ecmp.includes('ip nexthop add id 2000010100 group 2000010101/2000010102 proto 86'));
  t.ok(ecmp.includes('ip -6 route add default table 101 proto 86 nhid 2000010100'), 'ECMP through the group: a dead router is skipped');
  t.ok(ecmp.indexOf('ip nexthop add id 2000010100 group 2000010101/2000010102 proto 86') > ecmp.indexOf('ip nexthop add id 2000010102 via fd00:56::102 dev eth1 proto 86'), 'members before the group');
  for (const s of [...attachVnet(e!)[0]!.steps, ...router!.steps]) if (s.kind === 'ip') t.ok(undoArgv(s), `${s.key} has an inverse`);
});

t.test('IPv6 per VM: /128 on its host, proxy NDP entry on the other hosts, /128 via the host on a static router', async (t) => {
  const [v] = records([...BASE, ...V6]);
  const p = { vm: 'vm1', host: 'h1', ips: ['10.10.10.10', '2001:db8:a::10'], line: 1 };
  const plan = (node: string, r = v!) => planPlacement(r, node, p).map((s) => doArgv(s).join(' '));
  t.same(plan('h1'), ['ip -4 route add 10.10.10.10/32 dev br_net1 table 101 proto 86', 'ip -6 route add 2001:db8:a::10/128 dev br_net1 table 101 proto 86']);
  t.same(plan('h2'), ['ip -6 neigh add proxy 2001:db8:a::10 dev br_net1'], 'another host answers NDP for it, and only that');
  t.same(planPlacement(v!, 'h2', p).map((s) => undoArgv(s)!.join(' ')), ['ip -6 neigh del proxy 2001:db8:a::10 dev br_net1'], 'exact inverse');
  t.same(plan('r1'), ['ip -4 route add 10.10.10.10/32 via 192.168.56.103 dev eth1 proto 86', 'ip -6 route add 2001:db8:a::10/128 via fd00:56::103 dev eth1 proto 86']);
  const [b] = records([...BASE, ...V6, 'routing = bgp']);
  t.same(plan('h1', b!).filter((l) => !l.includes('table')), ['ip -4 route add 10.10.10.10/32 dev br_net1 proto 86', 'ip -6 route add 2001:db8:a::10/128 dev br_net1 proto 86'], 'bgp: /128 in main for FRR');
  t.same(planDeparture(v!, ['10.10.10.10', '2001:db8:a::10']).map((s) => doArgv(s).join(' ')), ['vmrouter announce --family=4 --dev=br_net1 10.10.10.10', 'vmrouter announce --family=6 --dev=br_net1 2001:db8:a::10'], 'gratuitous ARP and unsolicited NA');
});

t.test('IPv6 placements: accepted with subnet6, an error with file:line otherwise', async (t) => {
  const [v] = records([...BASE, ...V6]);
  t.same(parsePlacements('vm1 h1 10.10.10.10 2001:db8:a::10\nvm2 h2 2001:db8:a::11\n', 'p', v!).map((p) => p.ips), [['10.10.10.10', '2001:db8:a::10'], ['2001:db8:a::11']]);
  try {
    parsePlacements('vm1 h1 2001:db8:a::10\n', 'p', records(BASE)[0]!);
    t.fail('accepted');
  } catch (e) {
    t.same((e as InvalidInput).problems.map(String), ['p:1: placements of [vnet net1] ADDRESS: vm1: 2001:db8:a::10 is IPv6, but [vnet net1] has no subnet6']);
  }
  try {
    parsePlacements('vm1 h1 2001:db8:a::1\nvm2 h1 2001:db8:b::1\nvm3 h2 2001:db8:a:0::10 2001:db8:a::10\nvm4 h1 fe80::1x\n', 'p', v!);
    t.fail('accepted');
  } catch (e) {
    t.same((e as InvalidInput).problems.map(String), [
      'p:1: placements of [vnet net1] ADDRESS: vm1: 2001:db8:a::1 is the network\'s gateway, bridge, network or broadcast address',
      'p:2: placements of [vnet net1] ADDRESS: vm2: 2001:db8:b::1 is outside 2001:db8:a::/64',
      'p:3: placements of [vnet net1] ADDRESS: vm3: 2001:db8:a::10 already belongs to vm3',
      'p:4: placements of [vnet net1] ADDRESS: vm4: "fe80::1x" is not an IPv4 or IPv6 address',
    ]);
  }
});

t.test('FRR IPv6: own sessions between underlay6 addresses, /128s only, global next hops', async (t) => {
  const rs = records([...BASE, ...V6, 'routing = bgp']);
  const host = (await renderFrr(rs, 'h1', FILE))['frr.conf'];
  t.match(host, /ipv6 prefix-list vmrouter-vms6 seq 5 permit 2001:db8:a::\/64 ge 128/);
  t.match(host, /neighbor fd00:56::101 remote-as 64512\n neighbor fd00:56::101 description r1 \(router, IPv6\)\n neighbor fd00:56::101 update-source fd00:56::103/);
  t.match(host, / address-family ipv6 unicast\n {2}! [^\n]*\n {2}redistribute kernel route-map vmrouter-vms6\n {2}neighbor fd00:56::101 activate\n {2}neighbor fd00:56::101 route-map vmrouter-none in\n {2}neighbor fd00:56::101 route-map vmrouter-vms6 out\n exit-address-family/);
  t.notMatch(host.split(' address-family ipv4 unicast')[1]!.split('exit-address-family')[0]!, /fd00/, 'IPv6 peers are not in the IPv4 address family');
  const router = (await renderFrr(rs, 'r1', FILE))['frr.conf'];
  t.match(router, /route-map vmrouter-vms6 permit 10\n match ipv6 address prefix-list vmrouter-vms6\n [^\n]*\n set ipv6 next-hop prefer-global/);
  t.match(router, /neighbor fd00:56::104 route-map vmrouter-vms6 in/);
  t.notMatch((await renderFrr(records([...BASE, 'routing = bgp']), 'r1', FILE))['frr.conf'], /ipv6|fd00/, 'IPv4-only networks: no IPv6 in frr.conf');
});
