import t from 'tap';
import { parseFullConfig } from '../../src/config/load.js';
import { configProblems } from '../lib/config.js';
import { parseNetworks as parseConfig } from '../lib/config.js';

const FILE = 'vmrouter.conf';

/** The formatted problems of a config; throws (failing the test) if the config is accepted. */
const problems = (text: string): string[] => configProblems(text, FILE);
/** What the loader accepted but ignores, as it prints them. */
const warnings = (text: string): string[] => parseFullConfig(text, FILE).warnings.map(String);

// Line numbers below refer to these layouts: [network public] is line 1, role line 2, and so on.
const VMC = [
  '[network public]', // 1
  'role = vmc', // 2
  'uplink = eth0.222', // 3
  'table = 222', // 4
  'subnet = 192.0.2.0/24', // 5
  'gateway = 192.0.2.1', // 6
  'arp_ip = 192.0.2.254', // 7
];
const ROUTER = [
  '[network edge]', // 1
  'role = router', // 2
  'uplink = eth0.222', // 3
  'subnet = 192.0.2.0/24', // 4
  'gateway = 192.0.2.1', // 5
];
const conf = (...lines: string[]): string => lines.join('\n') + '\n';
/** `base` with the line starting with `key =` replaced (or dropped when `line` is null). */
const edit = (base: string[], key: string, line: string | null): string[] => {
  const i = base.findIndex((l) => l.startsWith(`${key} =`));
  if (i < 0) throw new Error(`no ${key} in base`);
  return line === null ? [...base.slice(0, i), ...base.slice(i + 1)] : [...base.slice(0, i), line, ...base.slice(i + 1)];
};

t.test('defaults are filled in once', async (t) => {
  const [n] = parseConfig(conf(...VMC), FILE);
  t.strictSame(n, {
    name: 'public',
    role: 'vmc',
    uplink: 'eth0.222',
    table: 222,
    tableName: null,
    mark: 222,
    priority: 10000,
    v4: { subnet: { family: 4, address: '192.0.2.0', length: 24, cidr: '192.0.2.0/24' }, gateway: '192.0.2.1', arpIp: '192.0.2.254' },
    v6: null,
    natOut: null,
    upstream: null,
    forwarding: true,
    forwardingAll: false,
    proxyArp: true,
    proxyNdp: true,
    proxyDelay: 0,
    tapMac: null,
    origin: { file: FILE, line: 1, section: '[network public]' },
  });
});

t.test('router defaults: no table, no proxies, upstream = nat_out', async (t) => {
  const [n] = parseConfig(conf(...ROUTER, 'nat_out = eth1', 'subnet6 = 2001:DB8::/64', 'gateway6 = 2001:db8:0::1'), FILE);
  t.equal(n!.table, null);
  t.equal(n!.mark, null);
  t.equal(n!.priority, 10000);
  t.equal(n!.proxyArp, false);
  t.equal(n!.proxyNdp, false);
  t.equal(n!.natOut, 'eth1');
  t.equal(n!.upstream, 'eth1');
  t.strictSame(n!.v6, { subnet: { family: 6, address: '2001:db8::', length: 64, cidr: '2001:db8::/64' }, gateway: '2001:db8::1' }, 'canonical IPv6');
});

t.test('explicit values are typed', async (t) => {
  const [n] = parseConfig(
    conf(...VMC, 'mark = 0x2a', 'priority = 900', 'proxy_delay = 5', 'forwarding = no', 'forwarding_all = yes', 'proxy_arp = off', 'proxy_ndp = 0', 'tap_mac = CC:47:52:4E:45:54', 'table_name = public'),
    FILE,
  );
  t.strictSame(
    [n!.mark, n!.priority, n!.proxyDelay, n!.forwarding, n!.forwardingAll, n!.proxyArp, n!.proxyNdp, n!.tapMac, n!.tableName],
    [42, 900, 5, false, true, false, false, 'cc:47:52:4e:45:54', 'public'],
  );
});

t.test('missing role, uplink, address family', async (t) => {
  t.strictSame(problems(conf('[network public]')), [
    'vmrouter.conf:1: [network public] role: is required (one of vmc, router, vmc+router)',
    'vmrouter.conf:1: [network public] uplink: is required (the interface that joins the nodes and the router)',
    'vmrouter.conf:1: [network public] subnet: or subnet6 is required (a network needs at least one address family)',
  ]);
  t.strictSame(problems(conf(...edit(VMC, 'role', 'role ='))), ['vmrouter.conf:2: [network public] role: is required (one of vmc, router, vmc+router)']);
  t.strictSame(
    problems(conf(...edit(VMC, 'uplink', 'uplink ='))),
    ['vmrouter.conf:3: [network public] uplink: is required (the interface that joins the nodes and the router)'],
    'an empty uplink is one problem'
  );
  t.strictSame(problems(conf(...edit(VMC, 'role', 'role = host'))), ['vmrouter.conf:2: [network public] role: "host" is not one of vmc, router, vmc+router']);
  t.strictSame(problems(conf(...edit(VMC, 'uplink', 'uplink = eth0.222.x.toolong'))), [
    'vmrouter.conf:3: [network public] uplink: "eth0.222.x.toolong" is 18 bytes long; Linux interface names have at most 15',
  ]);
});

t.test('table: required for VM roles, kernel tables reserved', async (t) => {
  t.strictSame(problems(conf(...edit(VMC, 'table', null))), ['vmrouter.conf:1: [network public] table: is required for role vmc (the routing table of the VM routes)']);
  t.strictSame(problems(conf(...edit(edit(VMC, 'table', null), 'role', 'role = vmc+router'))), [
    'vmrouter.conf:1: [network public] table: is required for role vmc+router (the routing table of the VM routes)',
  ]);
  const usable = 'is not a usable routing table id (1-4294967295; 253, 254 and 255 are the kernel\'s default, main and local)';
  for (const id of ['0', '253', '254', '255', '4294967296', 'main']) {
    t.strictSame(problems(conf(...edit(VMC, 'table', `table = ${id}`))), [`vmrouter.conf:4: [network public] table: "${id}" ${usable}`], id);
  }
  t.equal(parseConfig(conf(...edit(VMC, 'table', 'table = 252')), FILE)[0]!.table, 252);
  t.equal(parseConfig(conf(...edit(VMC, 'table', 'table = 4294967295')), FILE)[0]!.table, 4294967295);
  t.strictSame(warnings(conf(...ROUTER, 'table = 5')), ['vmrouter.conf:6: [network edge] table: ignored: applies to roles vmc and vmc+router, not router']);
  t.equal(parseConfig(conf(...ROUTER, 'table = 5'), FILE)[0]!.table, null, 'and the router has no table');
});

t.test('gateway inside the subnet, not its network or broadcast address', async (t) => {
  t.strictSame(problems(conf(...edit(VMC, 'gateway', 'gateway = 192.0.3.1'))), ['vmrouter.conf:6: [network public] gateway: 192.0.3.1 is outside 192.0.2.0/24']);
  t.strictSame(problems(conf(...edit(VMC, 'gateway', 'gateway = 192.0.2.0'))), ['vmrouter.conf:6: [network public] gateway: 192.0.2.0 is the network address of 192.0.2.0/24']);
  t.strictSame(problems(conf(...edit(VMC, 'gateway', 'gateway = 192.0.2.255'))), ['vmrouter.conf:6: [network public] gateway: 192.0.2.255 is the broadcast address of 192.0.2.0/24']);
  t.strictSame(problems(conf(...edit(VMC, 'gateway', 'gateway = 2001:db8::1'))), ['vmrouter.conf:6: [network public] gateway: "2001:db8::1" is not an IPv4 address']);
  t.strictSame(problems(conf(...edit(VMC, 'gateway', null))), ['vmrouter.conf:1: [network public] gateway: is required when subnet is set']);
  t.strictSame(problems(conf(...ROUTER, 'subnet6 = 2001:db8::/64', 'gateway6 = 2001:db8:1::1')), ['vmrouter.conf:7: [network edge] gateway6: 2001:db8:1::1 is outside 2001:db8::/64']);
  t.strictSame(problems(conf(...ROUTER, 'subnet6 = 2001:db8::/64', 'gateway6 = 2001:db8::')), ['vmrouter.conf:7: [network edge] gateway6: 2001:db8:: is the network address of 2001:db8::/64']);
});

t.test('subnets', async (t) => {
  t.strictSame(problems(conf(...edit(ROUTER, 'subnet', 'subnet = 192.0.2.1/24'))), ['vmrouter.conf:4: [network edge] subnet: 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)']);
  t.strictSame(problems(conf(...edit(ROUTER, 'subnet', 'subnet = 192.0.2.1/32'))), ['vmrouter.conf:4: [network edge] subnet: 192.0.2.1/32 is a single address; give the subnet of the VMs']);
  t.strictSame(problems(conf(...edit(ROUTER, 'subnet', 'subnet = 192.0.2/24'))), ['vmrouter.conf:4: [network edge] subnet: "192.0.2/24" is not an IPv4 prefix (ADDRESS/LENGTH)']);
  t.strictSame(problems(conf(...edit(ROUTER, 'subnet', 'subnet = 2001:db8::/64'))), ['vmrouter.conf:4: [network edge] subnet: "2001:db8::/64" is not an IPv4 prefix (ADDRESS/LENGTH)']);
});

t.test('subnet6 needs gateway6 and the other way round', async (t) => {
  t.strictSame(problems(conf(...ROUTER, 'subnet6 = 2001:db8::/64')), ['vmrouter.conf:1: [network edge] gateway6: is required when subnet6 is set']);
  t.strictSame(problems(conf(...ROUTER, 'gateway6 = 2001:db8::1')), ['vmrouter.conf:6: [network edge] gateway6: needs subnet6']);
  t.strictSame(problems(conf(...edit(ROUTER, 'subnet', null))), [
    'vmrouter.conf:1: [network edge] subnet: or subnet6 is required (a network needs at least one address family)',
    'vmrouter.conf:4: [network edge] gateway: needs subnet',
  ]);
});

t.test('arp_ip', async (t) => {
  t.strictSame(problems(conf(...edit(VMC, 'arp_ip', null))), [
    'vmrouter.conf:1: [network public] arp_ip: is required for role vmc with an IPv4 subnet: the node has no address there, and the router will not answer ARP from a foreign source',
  ]);
  t.equal(parseConfig(conf(...edit(edit(VMC, 'arp_ip', null), 'role', 'role = vmc+router')), FILE)[0]!.v4!.arpIp, null, 'not required for vmc+router');
  const v6only = edit(edit(edit(VMC, 'arp_ip', null), 'subnet', 'subnet6 = 2001:db8::/64'), 'gateway', 'gateway6 = 2001:db8::1');
  t.equal(parseConfig(conf(...v6only), FILE)[0]!.v4, null, 'not required without IPv4');
  t.strictSame(problems(conf(...edit(VMC, 'arp_ip', 'arp_ip = 192.0.2.1'))), ['vmrouter.conf:7: [network public] arp_ip: must differ from gateway 192.0.2.1']);
  t.strictSame(problems(conf(...edit(VMC, 'arp_ip', 'arp_ip = 198.51.100.1'))), ['vmrouter.conf:7: [network public] arp_ip: 198.51.100.1 is outside 192.0.2.0/24']);
  t.strictSame(warnings(conf(...ROUTER, 'arp_ip = 192.0.2.2')), ['vmrouter.conf:6: [network edge] arp_ip: ignored: applies to roles vmc and vmc+router, not router']);
});

t.test('keys that do not apply to the role: ignored with a warning, so one section serves router and VMC nodes', async (t) => {
  t.strictSame(warnings(conf(...VMC, 'nat_out = eth1')), ['vmrouter.conf:8: [network public] nat_out: ignored: applies to roles router and vmc+router, not vmc']);
  t.strictSame(warnings(conf(...VMC, 'upstream = eth1')), ['vmrouter.conf:8: [network public] upstream: ignored: applies to roles router and vmc+router, not vmc']);
  t.strictSame(warnings(conf(...ROUTER, 'proxy_arp = yes', 'tap_mac = cc:47:52:4e:45:54')), [
    'vmrouter.conf:6: [network edge] proxy_arp: ignored: applies to roles vmc and vmc+router, not router',
    'vmrouter.conf:7: [network edge] tap_mac: ignored: applies to roles vmc and vmc+router, not router',
  ]);
  // the VMC node's section with only the role changed
  const asRouter = edit(VMC, 'role', 'role = router');
  t.equal(parseConfig(conf(...asRouter), FILE)[0]!.role, 'router', 'the VMC section works on the router');
  t.strictSame(warnings(conf(...asRouter)).map((w) => w.split(': ')[1]), ['[network public] table', '[network public] arp_ip']);
  t.strictSame(warnings(conf(...VMC)), [], 'nothing to say about a section of its role');
  t.equal(parseConfig(conf(...ROUTER, 'table = 0'), FILE).length, 1, 'an ignored key is not checked either');
});

t.test('nat_out and upstream', async (t) => {
  t.strictSame(problems(conf(...edit(edit(ROUTER, 'subnet', 'subnet6 = 2001:db8::/64'), 'gateway', 'gateway6 = 2001:db8::1'), 'nat_out = eth1')), [
    'vmrouter.conf:6: [network edge] nat_out: needs an IPv4 subnet to masquerade',
  ]);
  t.strictSame(problems(conf(...ROUTER, 'nat_out = eth0.222')), ['vmrouter.conf:6: [network edge] nat_out: must differ from uplink eth0.222']);
  t.strictSame(problems(conf(...ROUTER, 'upstream = eth0.222')), ['vmrouter.conf:6: [network edge] upstream: must differ from uplink eth0.222']);
  const [n] = parseConfig(conf(...ROUTER, 'nat_out = eth1', 'upstream = eth2'), FILE);
  t.strictSame([n!.natOut, n!.upstream], ['eth1', 'eth2']);
});

t.test('value types', async (t) => {
  t.strictSame(problems(conf(...VMC, 'mark = 0', 'priority = 32766', 'proxy_delay = 6001', 'tap_mac = 01:00:5e:00:00:01', 'table_name = main')), [
    'vmrouter.conf:12: [network public] table_name: "main" is reserved by iproute2',
    'vmrouter.conf:8: [network public] mark: "0" is not a firewall mark (1-4294967295)',
    'vmrouter.conf:9: [network public] priority: "32766" is not a rule priority that sorts before main (1-32765)',
    'vmrouter.conf:11: [network public] tap_mac: "01:00:5e:00:00:01" is not a unicast MAC address (xx:xx:xx:xx:xx:xx)',
    'vmrouter.conf:10: [network public] proxy_delay: "6001" is not a delay in 1/100 s (0-6000)',
  ]);
  t.strictSame(problems(conf(...VMC, 'forwarding = maybe')), ['vmrouter.conf:8: [network public] forwarding: "maybe" is not a boolean (yes/no)']);
  t.strictSame(problems(conf('[network pub.lic]', ...VMC.slice(1))), [
    'vmrouter.conf:1: [network pub.lic]: network name "pub.lic" is not a valid network name (1-32 letters, digits, "_" or "-", starting with a letter or digit)',
  ]);
});

t.test('every problem of a network is reported at once', async (t) => {
  t.strictSame(
    problems(conf(...edit(VMC, 'arp_ip', null), 'forwarding = maybe')),
    [
      'vmrouter.conf:1: [network public] arp_ip: is required for role vmc with an IPv4 subnet: the node has no address there, and the router will not answer ARP from a foreign source',
      'vmrouter.conf:7: [network public] forwarding: "maybe" is not a boolean (yes/no)',
    ],
    'a bad boolean next to another problem'
  );
});

t.test('"forwarding = true" is a boolean', async (t) => {
  let forwarding: unknown;
  try {
    forwarding = parseConfig(conf(...VMC, 'forwarding = true'), FILE)[0]?.forwarding;
  } catch (e) {
    forwarding = (e as Error).message;
  }
  t.equal(
    forwarding,
    true,
    'parseBool accepts "true"'
  );
});

// A second network; appended right after VMC its header is line 9 (line numbers in the comments).
const OTHER = [
  '', // 8
  '[network other]', // 9
  'role = vmc', // 10
  'uplink = eth0.223', // 11
  'table = 223', // 12
  'subnet = 198.51.100.0/24', // 13
  'gateway = 198.51.100.1', // 14
  'arp_ip = 198.51.100.254', // 15
];

t.test('across networks: tables, marks, subnets, ARP sources', async (t) => {
  t.equal(parseConfig(conf(...VMC, ...OTHER), FILE).length, 2, 'the two networks are fine as they are');
  t.strictSame(problems(conf(...VMC, ...edit(OTHER, 'table', 'table = 222'))), ['vmrouter.conf:12: [network other] table: table 222 is already used by [network public] (vmrouter.conf:1)']);
  t.strictSame(problems(conf(...VMC, ...OTHER, 'mark = 222')), ['vmrouter.conf:16: [network other] mark: mark 222 is already used by [network public] (vmrouter.conf:1)']);
  t.strictSame(problems(conf(...VMC, ...edit(OTHER, 'table', 'table = 222'), 'mark = 5')), ['vmrouter.conf:12: [network other] table: table 222 is already used by [network public] (vmrouter.conf:1)'], 'a table clash is not reported twice as a mark clash');
  t.strictSame(
    problems(conf(...VMC, 'mark = 223', ...OTHER)),
    ['vmrouter.conf:10: [network other] mark: mark 223 is already used by [network public] (vmrouter.conf:1)'],
    'the default mark (= table 223) clashes with an explicit mark; named at the section line',
  );
  t.strictSame(
    problems(conf(...VMC, '', '[network other]', 'role = vmc', 'uplink = eth0.223', 'table = 223', 'subnet = 192.0.2.128/25', 'gateway = 192.0.2.129', 'arp_ip = 192.0.2.253')),
    ['vmrouter.conf:13: [network other] subnet: 192.0.2.128/25 overlaps 192.0.2.0/24 of [network public] (vmrouter.conf:1)'],
  );
  t.strictSame(
    // VMC (7 lines) + 2 lines, then OTHER from line 10: its subnet6 is line 18
    problems(conf(...VMC, 'subnet6 = 2001:db8::/64', 'gateway6 = 2001:db8::1', ...OTHER, 'subnet6 = 2001:db8::/48', 'gateway6 = 2001:db8::2')),
    ['vmrouter.conf:18: [network other] subnet6: 2001:db8::/48 overlaps 2001:db8::/64 of [network public] (vmrouter.conf:1)'],
  );
  t.strictSame(problems(conf(...VMC, ...edit(OTHER, 'uplink', 'uplink = eth0.222'))), [
    'vmrouter.conf:15: [network other] arp_ip: uplink eth0.222 already has arp_ip 192.0.2.254 from [network public] (vmrouter.conf:1); an uplink has one ARP source',
  ]);
  const v6OnSameUplink = ['', '[network other]', 'role = vmc', 'uplink = eth0.222', 'table = 223', 'subnet6 = 2001:db8::/64', 'gateway6 = 2001:db8::1'];
  t.equal(parseConfig(conf(...VMC, ...v6OnSameUplink), FILE).length, 2, 'an uplink may carry a second network without arp_ip');
});

t.test('cross checks wait until each network is valid on its own', async (t) => {
  t.strictSame(problems(conf(...VMC, ...edit(edit(OTHER, 'table', 'table = 222'), 'gateway', 'gateway = 10.0.0.1'))), [
    'vmrouter.conf:14: [network other] gateway: 10.0.0.1 is outside 198.51.100.0/24',
  ]);
});

t.test('routing = bgp: its keys, what it needs, what it ignores', async (t) => {
  const BGP = ['[network public]', 'role = vmc', 'uplink = eth1', 'table = 222', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'routing = bgp']; // lines 1-7
  const [n] = parseConfig(conf(...BGP, 'peers = 10.1.0.1, 10.1.0.2'));
  t.same(n!.bgp, { asn: 64512, peers: ['10.1.0.1', '10.1.0.2'], peers6: [], hold: 9, bfdInterval: 100, routerId: null }, 'defaults: AS 64512, hold 9 s, BFD every 100 ms');
  t.equal(n!.v4?.arpIp, null, 'arp_ip is not required: the node speaks on the uplink with its own address');
  t.notOk(n!.proxyArp || n!.proxyNdp, 'nothing proxied on the uplink');
  t.equal(parseConfig(conf(...BGP, 'peers = 10.1.0.1', 'bfd = no'))[0]!.bgp!.bfdInterval, null, 'bfd = no');
  t.strictSame(problems(conf(...BGP)), ['vmrouter.conf:1: [network public] peers: is required with routing = bgp and subnet (the routers to announce the /32 routes to)']);
  t.strictSame(problems(conf(...BGP, 'peers = 10.1.0.1 10.1.0.1')), ['vmrouter.conf:8: [network public] peers: 10.1.0.1 is listed twice']);
  t.strictSame(problems(conf(...BGP, 'peers = 10.1.0.1 fd00::1')), ['vmrouter.conf:8: [network public] peers: "fd00::1" is not an IPv4 address']);
  t.strictSame(problems(conf(...BGP, 'peers = 10.1.0.1', 'peers6 = fd00::1')), ['vmrouter.conf:9: [network public] peers6: needs subnet6 (IPv6 sessions carry the /128 routes)']);
  t.strictSame(problems(conf(...BGP, 'peers = 10.1.0.1', 'bfd = no', 'bfd_interval = 50')), ['vmrouter.conf:10: [network public] bfd_interval: needs bfd = yes']);
  t.strictSame(problems(conf(...BGP, 'peers = 10.1.0.1', 'bgp_hold = 2')), ['vmrouter.conf:9: [network public] bgp_hold: "2" is not a BGP hold time (3-65535 s; RFC 4271 forbids 1 and 2)']);
  t.strictSame(problems(conf(...BGP.slice(0, 6), 'arp_ip = 192.0.2.254', 'routing = ospf')), ['vmrouter.conf:8: [network public] routing: "ospf" is not proxy or bgp']);
  t.strictSame(problems(conf(...VMC, 'asn = 65000')), ['vmrouter.conf:8: [network public] asn: applies only to routing = bgp']);
  t.strictSame(warnings(conf(...BGP, 'peers = 10.1.0.1', 'proxy_arp = yes')), ['vmrouter.conf:9: [network public] proxy_arp: ignored: with routing = bgp the routers learn the VMs over BGP, the uplink proxies nothing (the TAPs still answer their VM)']);
  // one FRR per node: one AS, one side
  const A = ['[network a]', 'role = vmc', 'uplink = eth1', 'table = 222', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'routing = bgp', 'peers = 10.1.0.1']; // lines 1-8
  t.strictSame(problems(conf(...A, '[network b]', 'role = vmc', 'uplink = eth2', 'table = 223', 'subnet = 198.18.0.0/24', 'gateway = 198.18.0.1', 'routing = bgp', 'peers = 10.1.0.1', 'asn = 65001')), ['vmrouter.conf:17: [network b] asn: 65001 differs from 64512 of [network a] (vmrouter.conf:1): one FRR per node speaks for one AS']);
  t.strictSame(problems(conf(...A, '[network r]', 'role = router', 'uplink = eth2', 'subnet = 198.18.0.0/24', 'gateway = 198.18.0.1', 'routing = bgp', 'peers = 10.1.0.11')), ['vmrouter.conf:10: [network r] role: router with routing = bgp beside role vmc of [network a] (vmrouter.conf:1): one FRR per node speaks for the VMC nodes or for the routers, not both']);
  t.same(parseConfig(conf(...A, '[network p]', 'role = router', 'uplink = eth2', 'subnet = 198.18.0.0/24', 'gateway = 198.18.0.1')).length, 2, 'a proxy network beside a bgp one is fine');
  t.strictSame(warnings(conf('[network both]', 'role = vmc+router', 'uplink = eth1', 'table = 5', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'routing = bgp')), ['vmrouter.conf:7: [network both] routing: ignored: applies to roles vmc and router, not vmc+router'], 'vmc+router keeps proxy routing');
});
