/** [natpair NAME]: verify (every problem with file:line:key), the plan both nodes derive, and the steps of each attachment. */
import t from 'tap';
import { configProblems, featureRecords } from '../lib/config.js';
import { attachNatPair, lintNatPairs } from '../../src/features/natpair.js';
import type { NatPairRecord } from '../../src/model/natpair.js';
import { undoArgv } from '../../src/plan/step.js';

const FILE = 'vmrouter.conf';
const records = (text: string) => featureRecords<NatPairRecord>('natpair', text, FILE);
const problems = (text: string): string[] => configProblems(text, FILE);

const CUSTOMER = [
  '[natpair pod1]', // 1
  'role = customer', // 2
  'block = 198.18.0.0/24', // 3
  'transit = tr0', // 4
  'table = 300', // 5
  'server = 10.0.0.100', // 6
  'map = cA 10.0.0.100', // 7
  'map = cA 10.0.0.130 via 10.0.0.1', // 8
  'map = cB 10.0.0.100 as 198.18.0.140', // 9
];
const MANAGEMENT = ['[natpair pod1]', 'role = management', 'block = 198.18.0.0/24', 'transit = tr0', 'inside = m0', ...CUSTOMER.slice(5)];
const text = (lines: string[]) => lines.join('\n') + '\n';

t.test('both nodes derive the same plan from the same lines, whatever their order', async (t) => {
  const [c] = records(text(CUSTOMER));
  const [m] = records(text(MANAGEMENT));
  const plan = (r: NatPairRecord) => r.entries.map((e) => `${e.kind} ${e.iface ?? '-'} ${e.address} ${e.customer} ${e.management}`);
  t.same(plan(c!), ['server - 10.0.0.100 198.18.0.2 198.18.0.130', 'vm cA 10.0.0.100 198.18.0.3 198.18.0.131', 'vm cA 10.0.0.130 198.18.0.4 198.18.0.132', 'vm cB 10.0.0.100 198.18.0.12 198.18.0.140']);
  t.same(plan(m!), plan(c!), 'the management node agrees');
  const shuffled = [...CUSTOMER.slice(0, 6), CUSTOMER[8]!, CUSTOMER[7]!, CUSTOMER[6]!];
  t.same(plan(records(text(shuffled))[0]!).sort(), plan(c!).sort(), 'the order of the lines does not matter');
  t.same(c!.customers, [{ iface: 'cA', table: 300, mark: 300, zone: 300 }, { iface: 'cB', table: 301, mark: 301, zone: 301 }], 'one table, mark and conntrack zone per customer interface, in name order');
});

t.test('attachments: customer node', async (t) => {
  const [r] = records(text(CUSTOMER));
  const atts = attachNatPair(r!);
  t.same(atts.map((a) => a.iface), ['tr0', 'cA', 'cB']);
  for (const a of atts) {
    t.equal(a.steps[0]!.key, 'nft table ip vmrouter-natpair-pod1', `${a.iface}: the pair's table first`);
    for (const s of a.steps) t.ok(undoArgv(s) !== null, `${a.iface}: ${s.key} has an inverse`);
  }
  const keys = (i: number) => atts[i]!.steps.map((s) => s.key);
  t.same(keys(0).filter((k) => k.includes('addr add')), ['ip -4 addr add 198.18.0.2/27 dev tr0', 'ip -4 addr add 198.18.0.3/27 dev tr0', 'ip -4 addr add 198.18.0.4/27 dev tr0', 'ip -4 addr add 198.18.0.12/27 dev tr0'], 'the primary first, then one secondary per entry');
  t.ok(keys(0).includes('ip -4 route add 198.18.0.128/27 via 198.18.0.1 dev tr0 proto 86'), 'the other node\'s /27 through the gateway');
  t.ok(keys(1).includes('ip -4 route add 10.0.0.130/32 via 10.0.0.1 dev cA onlink table 300 proto 86'), 'a VM behind a next hop: onlink, as the customer interface has no address');
  t.ok(keys(1).indexOf('ip -4 route add 10.0.0.1/32 dev cA table 300 proto 86') < keys(1).indexOf('ip -4 route add 10.0.0.130/32 via 10.0.0.1 dev cA onlink table 300 proto 86'), 'the next hop itself is on the link, in the customer table, before the routes through it');
  t.ok(keys(1).includes('nft add element ip vmrouter-natpair-pod1 inside_zone { "cA" : 300 }'), 'cA: its conntrack zone');
  t.ok(keys(1).includes('nft add element arp vmrouter-natpair-pod1 inside_mark { "cA" : 300 }'), 'cA: ARP from it is checked in its table');
  t.ok(keys(1).includes('ip -4 rule add pref 10000 fwmark 300 lookup 300 proto 86'));
  const sysctls = atts.flatMap((a) => a.steps.filter((s) => s.kind === 'sysctl').map((s) => s.key));
  t.same(sysctls, ['sysctl net/ipv4/conf/tr0/forwarding', 'sysctl net/ipv4/conf/cA/forwarding', 'sysctl net/ipv4/conf/cA/src_valid_mark', 'sysctl net/ipv4/conf/cB/forwarding', 'sysctl net/ipv4/conf/cB/src_valid_mark'], 'forwarding per interface, src_valid_mark only on customer interfaces, nothing node-wide (rp_filter untouched)');
  t.ok(atts[2]!.steps.some((s) => s.kind === 'nft' && s.add[0] === 'add element ip vmrouter-natpair-pod1 from_transit { 198.18.0.12 : 10.0.0.100 }'), 'cB: DNAT of its unique address');
  t.equal(atts[2]!.steps.at(-1)!.key, 'nft add element ip vmrouter-natpair-pod1 inside { "cB" }', 'membership last, when every element it needs is there');
});

t.test('attachments: management node', async (t) => {
  const [r] = records(text(MANAGEMENT));
  const atts = attachNatPair(r!);
  t.same(atts.map((a) => a.iface), ['tr0', 'm0']);
  const all = atts.flatMap((a) => a.steps);
  t.notOk(all.some((s) => s.kind === 'sysctl' && s.path.endsWith('rp_filter')), 'no reverse-path change on the management node');
  t.notOk(all.some((s) => s.key.includes(' rule ')), 'no policy rules');
  t.ok(atts[0]!.steps.some((s) => s.kind === 'nft' && s.add[0] === 'add element ip vmrouter-natpair-pod1 from_inside { 198.18.0.140 : 198.18.0.12 }'), 'management → VM: its management address leads to its customer-side address');
  t.ok(atts[1]!.steps.some((s) => s.kind === 'nft' && s.add[0] === 'add element ip vmrouter-natpair-pod1 from_transit { 198.18.0.130 : 10.0.0.100 }'), 'customer → server');
});

t.test('lint: where each automatic entry landed, as a line to pin it', async (t) => {
  const w = lintNatPairs(records(text(CUSTOMER)));
  t.equal(w.length, 3, 'the pinned entry is not mentioned');
  t.equal(w[0], 'vmrouter.conf:6: [natpair pod1] server: 10.0.0.100 got 198.18.0.2 ↔ 198.18.0.130 automatically; adding entries may move it — pin it with "server = 10.0.0.100 as 198.18.0.2"');
  t.match(w[2], /pin it with "map = cA 10\.0\.0\.130 via 10\.0\.0\.1 as 198\.18\.0\.132"/);
});

t.test('every problem at once, with file, line and key', async (t) => {
  const bad = [
    '[natpair pod1]', // 1
    'role = customer', // 2
    'block = 10.0.0.0/24', // 3
    'transit = tr0 tr0', // 4
    'inside = m0', // 5
    'server = 10.0.0.300', // 6
    'map = cA 10.0.0.100 via', // 7
    'map = cA 10.0.0.100', // 8
    'map = cA 10.0.0.100', // 9
    'map = tr0 10.0.0.5', // 10
    'map = cA 10.0.0.7 to 198.18.0.3', // 11
  ];
  t.same(problems(text(bad)), [
    'vmrouter.conf:3: [natpair pod1] block: 10.0.0.0/24 is not inside 198.18.0.0/15: unique addresses must come from the benchmarking block (RFC 2544, RFC 6890), which no customer or Internet network uses',
    'vmrouter.conf:4: [natpair pod1] transit: tr0 is listed twice',
    'vmrouter.conf:5: [natpair pod1] inside: applies to role management only (the customer node reaches customers through the interfaces of the map lines)',
    'vmrouter.conf:6: [natpair pod1] server: "10.0.0.300": expected ADDRESS [as UNIQUE] with IPv4 addresses',
    'vmrouter.conf:7: [natpair pod1] map: "cA 10.0.0.100 via": via needs an IPv4 address (the next hop towards the VM)',
    'vmrouter.conf:11: [natpair pod1] map: "cA 10.0.0.7 to 198.18.0.3": unexpected "to" (expected "via GATEWAY" or "as UNIQUE")',
    'vmrouter.conf:9: [natpair pod1] map: "cA 10.0.0.100": 10.0.0.100 on cA is already listed on line 8',
    'vmrouter.conf:10: [natpair pod1] map: "tr0 10.0.0.5": tr0 is a transit interface, not a customer\'s',
    'vmrouter.conf:1: [natpair pod1] table: is required for role customer (the first of 2 routing tables, one per customer interface: cA, tr0)',
  ]);
});

t.test('a next hop that can never carry the traffic, and zones beyond 16 bits', async (t) => {
  const bad = [
    ...CUSTOMER.slice(0, 6), // 1-6
    'map = cA 10.0.0.5 via 10.0.0.5', // 7
    'map = cA 10.0.0.6 via 0.0.0.0', // 8
    'map = cA 10.0.0.7 via 224.0.0.1', // 9
    'map = cA 10.0.0.8 via 127.0.0.1', // 10
    'map = cA 10.0.0.9 via 255.255.255.255', // 11
  ];
  t.same(problems(text(bad)), [
    'vmrouter.conf:7: [natpair pod1] map: "cA 10.0.0.5 via 10.0.0.5": via 10.0.0.5 is the VM itself: a next hop must be the router in front of it',
    'vmrouter.conf:8: [natpair pod1] map: "cA 10.0.0.6 via 0.0.0.0": via 0.0.0.0 is the unspecified address, not a router on the customer link',
    'vmrouter.conf:9: [natpair pod1] map: "cA 10.0.0.7 via 224.0.0.1": via 224.0.0.1 is a multicast address, not a router on the customer link',
    'vmrouter.conf:10: [natpair pod1] map: "cA 10.0.0.8 via 127.0.0.1": via 127.0.0.1 is a loopback address: it never leaves this node, not a router on the customer link',
    'vmrouter.conf:11: [natpair pod1] map: "cA 10.0.0.9 via 255.255.255.255": via 255.255.255.255 is the limited broadcast address, not a router on the customer link',
  ]);
  const high = [...CUSTOMER.slice(0, 4), 'table = 65535', ...CUSTOMER.slice(5)];
  t.same(problems(text(high)), ['vmrouter.conf:5: [natpair pod1] table: 65535-65536 (one table per customer interface) is above 65535: each id is also the conntrack zone of its customer interface, and zones are 16 bits']);
});

t.test('pins and tables that clash', async (t) => {
  const moved = [...CUSTOMER.slice(0, 8), 'map = cB 10.0.0.100 as 198.18.0.131'];
  t.same(records(text(moved))[0]!.entries.map((e) => e.management), ['198.18.0.130', '198.18.0.132', '198.18.0.133', '198.18.0.131'], 'automatic entries step around a pin');
  const pinned = [...CUSTOMER.slice(0, 6), 'map = cA 10.0.0.100 as 198.18.0.131', 'map = cB 10.0.0.100 as 198.18.0.3'];
  t.same(problems(text(pinned)), ['vmrouter.conf:8: [natpair pod1] map: "cB 10.0.0.100 as 198.18.0.3": 198.18.0.3 names the slot already pinned on line 7']);
  const inBlock = [...CUSTOMER.slice(0, 6), 'map = cA 198.18.0.7'];
  t.same(problems(text(inBlock)), ['vmrouter.conf:7: [natpair pod1] map: "cA 198.18.0.7": 198.18.0.7 is inside the block 198.18.0.0/24: the block holds the unique addresses only']);
  const network = ['[network public]', 'role = vmc', 'uplink = eth0.222', 'table = 301', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'arp_ip = 192.0.2.254', ...CUSTOMER];
  t.same(problems(text(network)), ['vmrouter.conf:12: [natpair pod1] table: table/mark 301 (customer interface cB) is already used by [network public] (vmrouter.conf:1)']);
  t.same(problems(text(['[natpair x]', 'role = management', 'block = 198.18.0.0/24', 'transit = tr0'])), [
    'vmrouter.conf:1: [natpair x] inside: is required for role management (the interface towards the management servers)',
    'vmrouter.conf:1: [natpair x] map: or server is required: a pair with no entries joins nothing',
  ]);
  t.same(problems('[natpair x]\nrole = customer\nblock = 198.18.0.0/24\nblock = 198.18.1.0/24\n'), ['vmrouter.conf:4: [natpair x] block: duplicate key (first set on line 3)'], 'only map and server repeat');
});
