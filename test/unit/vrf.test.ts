/** [vrf NAME]: verification, shared steps, leaking, local rule order. */
import t from 'tap';
import { configProblems, featureRecords } from '../lib/config.js';
import { parseFullConfig } from '../../src/config/load.js';
import { vrfFeature, type VrfRecord } from '../../src/features/vrf.js';
import { twinFeature } from '../../src/features/twin.js';
import { doArgv, undoArgv } from '../../src/plan/step.js';

const FILE = 'vmrouter.conf';
const BLUE = ['[vrf blue]', 'interfaces = eb eb2', 'addresses = eb=10.1.0.1/24 eb2=fd00:11::1/64', 'leak = red=10.2.0.0/24', 'local_rule = move'];
const RED = ['[vrf red]', 'interfaces = er', 'table = 3010', 'addresses = er=10.2.0.1/24', 'leak = blue=10.1.0.0/24'];

const vrfs = (text: string) => featureRecords<VrfRecord>('vrf', text, FILE);
const problems = (text: string): string[] => configProblems(text, FILE);

t.test('records: allocated table, leaks resolved both ways (forward references too)', async (t) => {
  const [blue, red] = vrfs([...BLUE, ...RED].join('\n'));
  t.match(blue, { device: 'vrf-blue', table: 3000, interfaces: ['eb', 'eb2'], moveLocalRule: true, l3mdevAccept: false });
  t.match(blue!.leaks, [{ vrf: 'red', device: 'vrf-red', table: 3010, prefix: { cidr: '10.2.0.0/24' } }]);
  t.match(red!.leaks, [{ vrf: 'blue', device: 'vrf-blue', table: 3000 }]);
});

t.test('bad input', async (t) => {
  t.same(problems([...BLUE.slice(0, 3), 'leak = red=10.1.0.0/25'].join('\n')), [
    'vmrouter.conf:4: [vrf blue] leak: 10.1.0.0/25 overlaps an address range of this VRF; leaking needs distinct networks',
  ]);
  t.same(problems(BLUE.join('\n')), ['vmrouter.conf:4: [vrf blue] leak: red: no [vrf red] section']);
  t.same(problems(['[vrf a]', 'interfaces = e1', 'local_rule = last', 'addresses = e2=10.0.0.1/24', '[vrf b]', 'interfaces = e1'].join('\n')), [
    'vmrouter.conf:4: [vrf a] addresses: e2 is not one of interfaces',
    'vmrouter.conf:3: [vrf a] local_rule: "last" is not keep or move',
  ]);
  t.same(problems(['[vrf a]', 'interfaces = e1', '[vrf b]', 'interfaces = e1'].join('\n')), ['vmrouter.conf:4: [vrf b] interfaces: e1 is already enslaved by [vrf a]']);
  t.same(problems(['[vrf averyverylongname]', 'interfaces = e1'].join('\n')), [
    'vmrouter.conf:1: [vrf averyverylongname] device: is required: vrf-averyverylongname is 21 bytes long; Linux interface names have at most 15',
  ]);
});

t.test('plan: shared VRF device and node-wide rules, per-interface enslaving, inverses', async (t) => {
  const [blue] = vrfs([...BLUE, ...RED].join('\n'));
  const [eb, eb2] = vrfFeature.attach(blue!);
  const lines = eb!.steps.map((s) => doArgv(s).join(' '));
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  t.ok(at(/rule add pref 1000 l3mdev/) < at(/link add dev vrf-blue/), 'l3mdev rule before the first VRF');
  t.ok(at(/rule add pref 32765 table local/) < at(/rule del pref 0 table local/), 'local is re-added after l3mdev before the one at 0 goes');
  t.ok(at(/master vrf-blue/) < at(/addr add 10\.1\.0\.1\/24 dev eb/), 'address after enslaving');
  t.ok(at(/link add dev vrf-red/) < at(/route add 10\.2\.0\.0\/24 dev vrf-red table 3000/), 'the leak target exists first');
  t.equal(undoArgv(eb!.steps[at(/rule del pref 0 table local/)]!)!.join(' '), 'ip -4 rule add pref 0 table local');
  const shared = (s: (typeof eb)['steps'][number]) => s.shared === true;
  t.same(eb!.steps.filter(shared).map((s) => s.key), eb2!.steps.filter(shared).map((s) => s.key), 'both interfaces share the same node-wide steps');
  t.notOk(eb!.steps.find((s) => s.key.includes('master'))!.shared, 'enslaving is per interface');
  const [two] = vrfs([...BLUE.slice(0, 3), 'leak = red=10.2.0.0/24 red=fd00:12::/64', ...RED].join('\n'));
  const keys = vrfFeature.attach(two!)[0]!.steps.map((s) => s.key);
  t.same(keys, [...new Set(keys)], 'no key twice in one plan, however many prefixes leak from the same VRF');
  const twin = twinFeature.attach(parseFullConfig('[twin x]\ninner = a\nouter = b\nsubnet = 10.9.0.0/24\naddress = 10.9.0.1\nmapped = 10.8.0.0/24\nvariant = vrf\n', FILE).features.get('twin')![0] as never)[0]!;
  t.ok(twin.steps.some((s) => s.key === eb!.steps[0]!.key), 'twins and VRFs share one l3mdev rule step');
});
