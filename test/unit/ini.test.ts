import t from 'tap';
import { InvalidInput } from '../../src/config/errors.js';
import { loadIniSections } from '../../src/config/ini.js';

const loadIni = (text: string, file: string) => loadIniSections(text, file).features.get('network') ?? [];

const FILE = 'vmrouter.conf';

/** The formatted problems loadIni reports; throws (failing the test) if it accepts the text. */
function problems(text: string): string[] {
  try {
    loadIni(text, FILE);
  } catch (e) {
    if (e instanceof InvalidInput) return e.problems.map(String);
    throw e;
  }
  throw new Error('loadIni accepted the text');
}

/** network name → key → [value, line] */
function values(text: string): Record<string, Record<string, [string, number | undefined]>> {
  return Object.fromEntries(
    loadIni(text, FILE).map((n) => [n.name, Object.fromEntries([...n.values].map(([k, v]) => [k, [v.value, v.origin.line]]))]),
  );
}

t.test('values keep their line numbers and the section origin', async (t) => {
  const text = '# vmrouter.conf\n\n[network public]\nrole = vmc\n\n  uplink=eth0.222  \n\n[network edge]\nrole = router\n';
  const nets = loadIni(text, FILE);
  t.strictSame(
    nets.map((n) => [n.name, n.origin]),
    [
      ['public', { file: FILE, line: 3, section: '[network public]' }],
      ['edge', { file: FILE, line: 8, section: '[network edge]' }],
    ],
  );
  t.strictSame(nets[0]!.values.get('uplink'), { value: 'eth0.222', origin: { file: FILE, line: 6, section: '[network public]', key: 'uplink' } });
  t.strictSame(values(text), { public: { role: ['vmc', 4], uplink: ['eth0.222', 6] }, edge: { role: ['router', 9] } });
});

t.test('CRLF line endings count lines the same', async (t) => {
  t.strictSame(values('[network a]\r\nrole = vmc\r\n\r\nuplink = eth0\r\n'), { a: { role: ['vmc', 2], uplink: ['eth0', 4] } });
});

t.test('unknown key, with and without a suggestion', async (t) => {
  t.strictSame(problems('[network public]\nrole = vmc\ngatway = 192.0.2.1\n'), ['vmrouter.conf:3: [network public] gatway: unknown key (did you mean gateway?)']);
  t.strictSame(problems('[network public]\nsubnet_6 = 2001:db8::/64\n'), ['vmrouter.conf:2: [network public] subnet_6: unknown key (did you mean subnet6?)']);
  t.strictSame(problems('[network public]\nArp_Ip = 192.0.2.254\n'), ['vmrouter.conf:2: [network public] Arp_Ip: unknown key (did you mean arp_ip?)']);
  t.strictSame(problems('[network public]\nfrobnicate = 1\n'), ['vmrouter.conf:2: [network public] frobnicate: unknown key']);
});

t.test('duplicate key and duplicate section', async (t) => {
  t.strictSame(problems('[network a]\nrole = vmc\nuplink = eth0\nrole = router\n'), ['vmrouter.conf:4: [network a] role: duplicate key (first set on line 2)']);
  t.strictSame(problems('[network a]\nrole = vmc\n\n[network   a]\nrole = vmc\n'), ['vmrouter.conf:4: [network a]: duplicate section (first defined on line 1)']);
});

t.test('key outside a section', async (t) => {
  t.strictSame(problems('role = vmc\n[network a]\nuplink = eth0\n'), ['vmrouter.conf:1: (top level) role: key outside a section; put it under [network NAME], [vrf NAME], [twin NAME], [natpair NAME], [vnet NAME], [ndp] or [dhcp]']);
});

t.test('lines that are not key = value', async (t) => {
  t.strictSame(problems('[network a]\nrole vmc\n'), ['vmrouter.conf:2: [network a]: expected "key = value", got "role vmc"']);
  t.strictSame(problems('[network a]\n= vmc\n'), ['vmrouter.conf:2: [network a]: expected "key = value", got "= vmc"']);
  t.strictSame(problems('hello\n'), ['vmrouter.conf:1: (top level): expected "key = value", got "hello"']);
});

t.test('section headers', async (t) => {
  t.strictSame(problems('[network a b]\nrole = vmc\n'), ['vmrouter.conf:1: [network a b]: expected [network NAME] with a one-word name'], 'keys under a refused section are not reported again');
  t.strictSame(problems('[network]\n'), ['vmrouter.conf:1: [network]: expected [network NAME] with a one-word name']);
  t.strictSame(problems('[global]\nrole = vmc\n'), ['vmrouter.conf:1: [global]: unknown section; vmrouter.conf has [network NAME], [vrf NAME], [twin NAME], [natpair NAME], [vnet NAME], [ndp] and [dhcp] sections']);
  t.strictSame(values('[network a] ; comment\n[ network   b ]\n'), { a: {}, b: {} }, 'comment after a header, spaces inside it');
});

t.test('every problem is reported, in line order', async (t) => {
  t.strictSame(problems('stray = 1\n[network a]\nrol = vmc\nrole = vmc\nrole = router\n[x]\n[network a]\n'), [
    'vmrouter.conf:1: (top level) stray: key outside a section; put it under [network NAME], [vrf NAME], [twin NAME], [natpair NAME], [vnet NAME], [ndp] or [dhcp]',
    'vmrouter.conf:3: [network a] rol: unknown key (did you mean role?)',
    'vmrouter.conf:5: [network a] role: duplicate key (first set on line 4)',
    'vmrouter.conf:6: [x]: unknown section; vmrouter.conf has [network NAME], [vrf NAME], [twin NAME], [natpair NAME], [vnet NAME], [ndp] and [dhcp] sections',
    'vmrouter.conf:7: [network a]: duplicate section (first defined on line 2)',
  ]);
});

t.test('comments, inline comments and quotes', async (t) => {
  const text = [
    '; a comment',
    '# another',
    '[network a]',
    'role = vmc ; inline',
    'uplink = eth0.222 # inline',
    "subnet = '192.0.2.0/24'",
    'gateway="192.0.2.1"',
    'table_name = "pub;lic"',
  ].join('\n');
  t.strictSame(values(text), {
    a: {
      role: ['vmc', 4],
      uplink: ['eth0.222', 5],
      subnet: ['192.0.2.0/24', 6],
      gateway: ['192.0.2.1', 7],
      table_name: ['pub;lic', 8],
    },
  });
  t.strictSame(values('[network a]\nrole =\n'), { a: { role: ['', 2] } }, 'an empty value is kept (verify reports it)');
});


t.test('a quoted value followed by a comment loses its quotes', async (t) => {
  t.strictSame(values('[network a]\nsubnet = "192.0.2.0/24" ; the VMs\n'), { a: { subnet: ['192.0.2.0/24', 2] } }, 'double quotes');
  t.strictSame(values("[network a]\nsubnet = '192.0.2.0/24' # the VMs\n"), { a: { subnet: ['192.0.2.0/24', 2] } }, 'single quotes');
});

t.test('true, false and null are plain words', async (t) => {
  t.strictSame(
    values('[network a]\nforwarding = true\nforwarding_all = false\ntable_name = null\n'),
    { a: { forwarding: ['true', 2], forwarding_all: ['false', 3], table_name: ['null', 4] } },
    'kept as written',
  );
});
