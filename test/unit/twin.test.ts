/** [twin NAME]: verification (file:line:key errors), table allocation, both plans, the rule-space linter. */
import t from 'tap';
import { configProblems, featureRecords } from '../lib/config.js';
import { parseFullConfig } from '../../src/config/load.js';
import { twinFeature } from '../../src/features/twin.js';
import type { TwinRecord } from '../../src/model/twin.js';
import { lintConfig } from '../../src/features/lint.js';
import { allocate, lintRuleSpace } from '../../src/features/rule-space.js';
import { doArgv, undoArgv, type IpStep } from '../../src/plan/step.js';

const FILE = 'vmrouter.conf';
const TWIN = [
  '[twin io]', // 1
  'inner = eth1', // 2
  'outer = eth2', // 3
  'subnet = 192.168.2.0/24', // 4
  'address = 192.168.2.1', // 5
  'mapped = 192.168.3.0/24', // 6
];
const NETWORK = ['[network public]', 'role = vmc', 'uplink = eth0.222', 'table = 3100', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'arp_ip = 192.0.2.254'];

function twins(text: string): TwinRecord[] {
  return featureRecords<TwinRecord>('twin', text, FILE);
}
const problems = (text: string): string[] => configProblems(text, FILE);
const edit = (lines: string[], replace: Record<number, string | null>, extra: string[] = []) =>
  [...lines.map((l, i) => (i + 1 in replace ? replace[i + 1] : l)).filter((l): l is string => l !== null), ...extra].join('\n') + '\n';

t.test('a valid twin: defaults and allocated tables', async (t) => {
  const [r] = twins(TWIN.join('\n'));
  t.match(r, { name: 'io', variant: 'auto', priority: 900, l3mdevAccept: true, v6: null });
  t.match(r!.inner, { iface: 'eth1', table: 3100, mark: 3100, zone: 3100, vrf: 'vrf3100' });
  t.match(r!.outer, { iface: 'eth2', table: 3101, mark: 3101, zone: 3101, vrf: 'vrf3101' });
  t.same(JSON.parse(JSON.stringify(r)), r, 'the record is plain JSON (it is stored in the ledger)');
});

t.test('allocation skips the tables and marks of routed networks and earlier twins', async (t) => {
  const text = [...NETWORK, ...TWIN, '[twin second]', 'inner = eth3', 'outer = eth4', 'subnet = 10.0.0.0/24', 'address = 10.0.0.1', 'mapped = 10.0.1.0/24'].join('\n');
  const [a, b] = twins(text);
  t.same([a!.inner.table, a!.outer.table, b!.inner.table, b!.outer.table], [3101, 3102, 3103, 3104]);
  t.same(allocate([1, 3], new Set([1, 2, 3])), null, 'a full range allocates nothing');
});

t.test('bad input names file, line and key, all at once', async (t) => {
  t.same(problems(edit(TWIN, { 3: 'outer = eth1' })), ['vmrouter.conf:3: [twin io] outer: must differ from inner eth1']);
  t.same(problems(edit(TWIN, { 6: 'mapped = 192.168.3.0/25' })), ['vmrouter.conf:6: [twin io] mapped: 192.168.3.0/25 must be as long as subnet 192.168.2.0/24 (NETMAP maps address for address)']);
  t.same(problems(edit(TWIN, { 6: 'mapped = 192.168.0.0/16', 4: 'subnet = 192.168.2.0/16' })), [
    'vmrouter.conf:4: [twin io] subnet: 192.168.2.0/16 has host bits set (did you mean 192.168.0.0/16?)',
  ]);
  t.same(problems(edit(TWIN, { 6: 'mapped = 192.168.2.0/24' })), ['vmrouter.conf:6: [twin io] mapped: 192.168.2.0/24 overlaps subnet 192.168.2.0/24']);
  t.same(problems(edit(TWIN, { 5: 'address = 192.168.9.1', 3: null })), [
    'vmrouter.conf:1: [twin io] outer: is required (the second interface of the shared range)',
    'vmrouter.conf:4: [twin io] address: 192.168.9.1 is outside 192.168.2.0/24',
  ]);
  t.same(problems(edit(TWIN, {}, ['variant = vrf6', 'table_inner = 254', 'priority = 40000'])), [
    'vmrouter.conf:7: [twin io] variant: "vrf6" is not one of auto, vrf, policy',
    'vmrouter.conf:9: [twin io] priority: "40000" is not a rule priority that sorts before main (1-32765)',
    'vmrouter.conf:8: [twin io] table_inner: "254" is not a usable table id for a twin (1-65535, not 253-255: it is also the side\'s conntrack zone)',
  ]);
  t.same(problems(edit(TWIN, {}, ['table_inner = 222']).replace('[twin io]', [...NETWORK.slice(0, 3), 'table = 222', ...NETWORK.slice(4), '[twin io]'].join('\n'))), [
    'vmrouter.conf:14: [twin io] table_inner: table 222 is already used by [network public]',
  ]);
  t.same(problems(edit(TWIN, { 4: null, 5: null, 6: null })), ['vmrouter.conf:1: [twin io] subnet: or subnet6 is required (the range both sides share)']);
  t.same(problems(edit(TWIN, { 6: null })), ['vmrouter.conf:1: [twin io] mapped: is required with subnet, address']);
});

const ipSteps = (r: TwinRecord, vrf: boolean, i: number) => twinFeature.attach(r, { vrf })[i]!.steps;

t.test('auto picks the variant from the kernel facts; every step has its inverse', async (t) => {
  const [r] = twins(edit(TWIN, {}, ['subnet6 = fd00:2::/64', 'address6 = fd00:2::1', 'mapped6 = fd00:3::/64']));
  for (const vrf of [false, true]) {
    const [inner, outer] = twinFeature.attach(r!, { vrf });
    for (const a of [inner!, outer!]) t.same(a.steps.map((s) => s.key), [...new Set(a.steps.map((s) => s.key))], `${a.iface}: no object twice in one plan`);
    t.equal(inner!.iface, 'eth1');
    t.equal(outer!.iface, 'eth2');
    t.match(inner!.summary, vrf ? /vrf variant/ : /policy variant/);
    for (const s of [...inner!.steps, ...outer!.steps]) {
      const undo = undoArgv(s);
      if (s.kind === 'ip' && s.undo === null) t.match(s.args.join(' '), /^link set dev vrf\d+ up$/, 'only the VRF up goes with its device');
      else t.ok(undo, `${doArgv(s).join(' ')} has an inverse`);
    }
  }
  t.notOk(twinFeature.attach(r!)[0]!.steps.some((s) => s.kind === 'ip' && s.args.includes('vrf')), 'unknown kernel: the policy variant');
  t.ok(twinFeature.attach({ ...r!, variant: 'vrf' })[0]!.steps.some((s) => s.kind === 'ip' && s.args.includes('vrf')), 'variant = vrf whatever the kernel');
});

t.test('VRF plan: l3mdev rule first (removed last), then the VRF, enslaving, address, mark rules before 1000', async (t) => {
  const [r] = twins(TWIN.join('\n'));
  const lines = ipSteps(r!, true, 0).map((s) => doArgv(s).join(' '));
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  t.ok(at(/rule add pref 1000 l3mdev proto kernel/) < at(/link add dev vrf3100 type vrf table 3100/));
  t.ok(at(/link add dev vrf3100/) < at(/link set dev eth1 master vrf3100/));
  t.ok(at(/master vrf3100/) < at(/addr add 192\.168\.2\.1\/24 dev eth1$/), 'address after enslaving: its routes go to the VRF table');
  t.match(lines.join('\n'), /ip -4 rule add pref 900 fwmark 3100 lookup 3100 proto 86/);
  t.match(lines.join('\n'), /iifname "eth1" ct original zone set 3100/);
  t.match(lines.join('\n'), /iifname "eth1" ip daddr 192\.168\.3\.0\/24 meta mark set 3101/);
  t.match(lines.join('\n'), /iifname \{ "eth2", "vrf3101" \} oifname "eth1" ip saddr 192\.168\.2\.0\/24 snat ip prefix to 192\.168\.3\.0\/24/);
  t.match(lines.join('\n'), /sysctl -q -w net\/ipv4\/conf\/vrf3100\/forwarding=1/);
  const l3 = ipSteps(r!, true, 0).find((s) => s.kind === 'ip' && s.args.includes('l3mdev')) as IpStep;
  t.ok(l3.shared, 'the l3mdev rule is shared by both sides (removed with the last)');
});

t.test('policy plan: no route in main, a table per side, marks and reflected replies', async (t) => {
  const [r] = twins(TWIN.join('\n'));
  const text = ipSteps(r!, false, 1).map((s) => doArgv(s).join(' ')).join('\n');
  t.match(text, /ip -4 addr add 192\.168\.2\.1\/24 dev eth2 noprefixroute/);
  t.match(text, /ip -4 route add 192\.168\.2\.0\/24 dev eth2 src 192\.168\.2\.1 table 3101 proto 86/);
  t.match(text, /ip -4 rule add pref 900 oif eth2 lookup 3101 proto 86/);
  t.match(text, /net\/ipv4\/fwmark_reflect=1/);
  t.match(text, /net\/ipv4\/conf\/eth2\/src_valid_mark=1/);
  t.match(text, /add table arp vmrouter-twin-io-outer/);
  t.notMatch(text, /vrf|l3mdev/);
});

t.test('linter: ordering hazards and clashing numbers', async (t) => {
  t.same(lintRuleSpace([{ who: 'a', tables: [10], rules: [{ pref: 1500, mark: true }], vrf: true }]), [
    'a: fwmark rule at priority 1500 comes after the l3mdev rule (1000); traffic of VRF-enslaved devices never reaches it',
  ]);
  t.same(lintRuleSpace([{ who: 'a', tables: [10], rules: [{ pref: 1500, mark: true }], vrf: false }]), [], 'no VRF: no l3mdev hazard');
  t.same(lintRuleSpace([{ who: 'a', tables: [52], rules: [{ pref: 5220, mark: false }], vrf: false }, { who: 'b', tables: [52], rules: [], vrf: false }]), [
    'a: table 52 is also used by Tailscale (table 52, rules 5210-5310)',
    'a: rule priority 5220 is in the range of Tailscale (table 52, rules 5210-5310)',
    'b: table 52 is also used by Tailscale (table 52, rules 5210-5310)',
    'table 52 is shared by a and b',
  ]);
  t.same(lintConfig(parseFullConfig(edit(TWIN, {}, ['priority = 1200']), FILE)), [
    '[twin io] eth1: fwmark rule at priority 1200 comes after the l3mdev rule (1000); traffic of VRF-enslaved devices never reaches it',
    '[twin io] eth2: fwmark rule at priority 1200 comes after the l3mdev rule (1000); traffic of VRF-enslaved devices never reaches it',
  ]);
  t.same(lintConfig(parseFullConfig(edit(TWIN, {}, ['priority = 1200', 'variant = policy']), FILE)), [], 'the policy variant has no l3mdev rule to lose to');
  // variant vrf on a kernel without VRF devices: check warns before ifup fails
  const pinned = parseFullConfig(edit(TWIN, {}, ['variant = vrf']), FILE);
  t.same(lintConfig(pinned, { vrf: false }), ['[twin io]: variant vrf, but this kernel has no VRF devices; ifup will fail (use variant = policy or auto)']);
  t.same(lintConfig(pinned, { vrf: true }), [], 'a kernel with VRF: nothing to say');
  t.same(lintConfig(parseFullConfig(TWIN.join('\n'), FILE), { vrf: false }), [], 'auto picks policy there: nothing to say');
  // one linter over every feature: a NAT pair's customer table clashing with a twin's
  const natpair = ['[natpair pod1]', 'role = customer', 'block = 198.18.0.0/24', 'transit = tr0', 'table = 3100', 'server = 10.0.0.2', 'map = cA 10.0.0.100'];
  const clash = lintConfig(parseFullConfig([...TWIN, ...natpair].join('\n') + '\n', FILE));
  t.ok(clash.includes('table 3100 is shared by [twin io] eth1 and [natpair pod1] cA'), `a clash between features is found: ${JSON.stringify(clash)}`);
});
