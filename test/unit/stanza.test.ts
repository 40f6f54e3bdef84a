import t from 'tap';
import { InvalidInput } from '../../src/config/errors.js';
import { parseNetworks as parseConfig } from '../lib/config.js';
import { parseRtTables, readStanza, type AddressFamily, type StanzaSource } from '../../src/config/stanza.js';
import type { Network } from '../../src/model/network.js';
import { verifyNetworks } from '../../src/model/verify.js';
import { networkOptions } from '../../src/render/options.js';

const FILE = '/etc/network/interfaces';

function source(env: Record<string, string | undefined>, addrfam: AddressFamily = 'inet', extra: Partial<StanzaSource> = {}): StanzaSource {
  return { iface: 'eth0.222', addrfam, env, file: FILE, line: 10, ...extra };
}

/** key → value of the raw network a stanza gives (null: not ours) */
function rawValues(src: StanzaSource): Record<string, string> | null {
  const s = readStanza(src);
  return s && Object.fromEntries([...s.raw.values].map(([k, v]) => [k, v.value]));
}

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidInput) return e.problems.map(String);
    throw e;
  }
  throw new Error('accepted');
}

/** readStanza → verifyNetworks, without `origin` */
function network(src: StanzaSource): Omit<Network, 'origin'> {
  const s = readStanza(src);
  if (!s) throw new Error('not a vmrouter stanza');
  const [n] = verifyNetworks([s.raw]);
  const { origin: _origin, ...rest } = n!;
  return rest;
}

const VMROUTER_ENV = {
  IF_VMROUTER_NETWORK: 'public',
  IF_VMROUTER_ROLE: 'vmc',
  IF_VMROUTER_TABLE: '222',
  IF_VMROUTER_SUBNET: '192.0.2.0/24',
  IF_VMROUTER_GATEWAY: ' 192.0.2.1 ',
  IF_VMROUTER_ARP_IP: '192.0.2.254',
  IF_VMROUTER_PROXY_DELAY: '5',
};

t.test('vmrouter-* options use the keys of vmrouter.conf', async (t) => {
  const s = readStanza(source({ ...VMROUTER_ENV, IF_ADDRESS: '10.0.0.1', IF_MTU: '1500' }));
  t.equal(s?.dialect, 'vmrouter');
  t.equal(s?.raw.name, 'public');
  t.strictSame(s?.raw.origin, { file: FILE, section: 'iface eth0.222 inet', line: 10 });
  t.strictSame(rawValues(source(VMROUTER_ENV)), {
    role: 'vmc',
    table: '222',
    subnet: '192.0.2.0/24',
    gateway: '192.0.2.1',
    arp_ip: '192.0.2.254',
    proxy_delay: '5',
    uplink: 'eth0.222',
  });
  const n = network(source(VMROUTER_ENV));
  t.strictSame([n.name, n.uplink, n.table, n.mark, n.proxyDelay, n.v4?.gateway], ['public', 'eth0.222', 222, 222, 5, '192.0.2.1']);
});

t.test('errors name the stanza and the option line', async (t) => {
  const optionLines = new Map([['vmrouter-gateway', 14], ['vmrouter-network', 11]]);
  t.strictSame(
    problems(() => network(source({ ...VMROUTER_ENV, IF_VMROUTER_GATEWAY: '192.0.3.1' }, 'inet', { optionLines }))),
    ['/etc/network/interfaces:14: iface eth0.222 inet vmrouter-gateway: 192.0.3.1 is outside 192.0.2.0/24'],
  );
  t.strictSame(
    problems(() => network(source({ ...VMROUTER_ENV, IF_VMROUTER_ARP_IP: '' }))),
    ['/etc/network/interfaces: iface eth0.222 inet vmrouter-arp-ip: "" is not an IPv4 address'],
    'no line known for the option: file only',
  );
  t.strictSame(
    problems(() => readStanza(source({ IF_VMROUTER_ROLE: 'vmc' }, 'inet', { optionLines }))),
    ['/etc/network/interfaces:11: iface eth0.222 inet vmrouter-network: is required with vmrouter-* options (the name of the network)'],
  );
  t.strictSame(problems(() => readStanza(source({ ...VMROUTER_ENV, IF_VMROUTER_UPLINK: 'eth1' }))), [
    "/etc/network/interfaces: iface eth0.222 inet vmrouter-uplink: is not an option: the uplink is the stanza's interface eth0.222",
  ]);
});

t.test('stanzas without vmrouter or snf-network options are not ours', async (t) => {
  t.equal(readStanza(source({})), null);
  t.equal(readStanza(source({ IF_ADDRESS: '192.0.2.5/24', IF_GATEWAY: '192.0.2.1', IF_VLAN_RAW_DEVICE: 'eth0' })), null);
  t.equal(readStanza(source({ IF_VMROUTER_NETWORK: undefined, IF_IP_ROUTES: undefined })), null, 'unset variables do not count');
});

const LEGACY_ENV = {
  IF_IP_ROUTING_TABLE: '222',
  IF_IP_ROUTES: '192.0.2.0/24',
  IF_IP_GATEWAY: '192.0.2.1',
  IF_ARP_IP: '192.0.2.254',
};

t.test('legacy snf-network options, inet', async (t) => {
  const s = readStanza(source(LEGACY_ENV));
  t.equal(s?.dialect, 'legacy');
  t.equal(s?.raw.name, 'eth0_222', 'named after the interface');
  t.strictSame(rawValues(source(LEGACY_ENV)), {
    role: 'vmc',
    uplink: 'eth0.222',
    forwarding: 'no',
    proxy_arp: 'no',
    proxy_ndp: 'no',
    table: '222',
    subnet: '192.0.2.0/24',
    gateway: '192.0.2.1',
    arp_ip: '192.0.2.254',
  });
  const n = network(source(LEGACY_ENV));
  t.strictSame([n.role, n.table, n.forwarding, n.proxyArp, n.proxyNdp, n.v4?.arpIp, n.v6], ['vmc', 222, false, false, false, '192.0.2.254', null], 'features off unless switched on');
  const on = network(source({ ...LEGACY_ENV, IF_IP_FORWARDING: '1', IF_IP_PROXY_ARP: '1', IF_IP_PROXY_NDP: '1' }));
  t.strictSame([on.forwarding, on.proxyArp, on.proxyNdp], [true, true, false], 'ip-proxy-ndp does not apply to an inet stanza');
});

t.test('legacy snf-network options, inet6', async (t) => {
  const env = { IF_IP_ROUTING_TABLE: '222', IF_IP_ROUTES: '2001:db8::/64', IF_IP_GATEWAY: '2001:db8::1', IF_ARP_IP: '192.0.2.254', IF_IP_PROXY_ARP: '1', IF_IP_PROXY_NDP: '1' };
  t.strictSame(rawValues(source(env, 'inet6')), {
    role: 'vmc',
    uplink: 'eth0.222',
    forwarding: 'no',
    proxy_arp: 'no',
    proxy_ndp: '1',
    table: '222',
    subnet6: '2001:db8::/64',
    gateway6: '2001:db8::1',
  }, 'ip-routes is subnet6; arp-ip and ip-proxy-arp are ignored');
  const n = network(source(env, 'inet6'));
  t.strictSame([n.v4, n.v6?.subnet.cidr, n.v6?.gateway, n.proxyNdp, n.proxyArp], [null, '2001:db8::/64', '2001:db8::1', true, false]);
});

t.test('legacy ip-routing-table by rt_tables name', async (t) => {
  const tableIds = parseRtTables('# reserved\n255\tlocal\n254\tmain\n222 public # the VMs\n0x10 hex\n');
  const n = network(source({ ...LEGACY_ENV, IF_IP_ROUTING_TABLE: 'public' }, 'inet', { tableIds }));
  t.strictSame([n.table, n.tableName, n.mark], [222, 'public', 222]);
  t.strictSame(network(source({ ...LEGACY_ENV, IF_IP_ROUTING_TABLE: 'hex' }, 'inet', { tableIds })).table, 16);
  t.strictSame(problems(() => readStanza(source({ ...LEGACY_ENV, IF_IP_ROUTING_TABLE: 'nope' }, 'inet', { tableIds }))), [
    '/etc/network/interfaces: iface eth0.222 inet ip-routing-table: table "nope" is not in /etc/iproute2/rt_tables or rt_tables.d',
  ]);
  t.strictSame(problems(() => readStanza(source({ ...LEGACY_ENV, IF_IP_ROUTING_TABLE: 'public' }))), [
    '/etc/network/interfaces: iface eth0.222 inet ip-routing-table: table "public" is not in /etc/iproute2/rt_tables or rt_tables.d',
  ], 'no rt_tables given');
});

t.test('legacy ip-routes with several prefixes is refused', async (t) => {
  t.strictSame(
    problems(() => readStanza(source({ ...LEGACY_ENV, IF_IP_ROUTES: '192.0.2.0/24 198.51.100.0/24' }, 'inet', { optionLines: new Map([['ip-routes', 12]]) }))),
    ['/etc/network/interfaces:12: iface eth0.222 inet ip-routes: lists several prefixes; vmrouter routes one subnet per address family and network'],
  );
});

t.test('parseRtTables', async (t) => {
  t.strictSame([...parseRtTables('#\n# comment\n255\tlocal\n  222   public  # vms\n0x1f hexed\nnot a line\n300 two words\n')], [
    ['local', 255],
    ['public', 222],
    ['hexed', 31],
  ]);
});

const ROUND_TRIP = {
  vmc: [
    '[network public]',
    'role = vmc',
    'uplink = eth0.222',
    'table = 222',
    'table_name = public',
    'mark = 0x2a',
    'priority = 900',
    'subnet = 192.0.2.0/24',
    'gateway = 192.0.2.1',
    'arp_ip = 192.0.2.254',
    'subnet6 = 2001:db8::/64',
    'gateway6 = 2001:db8::1',
    'proxy_delay = 10',
    'proxy_ndp = no',
    'forwarding_all = yes',
    'tap_mac = cc:47:52:4e:45:54',
  ],
  'vmc, defaults only': ['[network public]', 'role = vmc', 'uplink = eth0.222', 'table = 222', 'subnet6 = 2001:db8::/64', 'gateway6 = 2001:db8::1'],
  router: ['[network edge]', 'role = router', 'uplink = eth0.222', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'subnet6 = 2001:db8::/64', 'gateway6 = 2001:db8::1', 'nat_out = eth1', 'forwarding = no'],
  'router, upstream without nat': ['[network edge]', 'role = router', 'uplink = eth0.222', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'upstream = eth1'],
  'vmc+router': ['[network both]', 'role = vmc+router', 'uplink = eth0.222', 'table = 300', 'subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'nat_out = eth1', 'upstream = eth2', 'proxy_arp = no'],
};

t.test('round trip: networkOptions → IF_VMROUTER_* → readStanza → verify', async (t) => {
  for (const [label, lines] of Object.entries(ROUND_TRIP)) {
    const [n] = parseConfig(lines.join('\n'), 'vmrouter.conf');
    const env = Object.fromEntries(networkOptions(n!).map((o) => [`IF_${o.name.toUpperCase().replace(/-/g, '_')}`, o.value]));
    const { origin: _origin, ...expected } = n!;
    t.strictSame(network(source(env, 'inet', { iface: n!.uplink })), expected, label);
  }
});

t.test('networkOptions writes only what differs from the default', async (t) => {
  const [n] = parseConfig(ROUND_TRIP['vmc, defaults only'].join('\n'), 'vmrouter.conf');
  t.strictSame(networkOptions(n!), [
    { name: 'vmrouter-network', value: 'public' },
    { name: 'vmrouter-role', value: 'vmc' },
    { name: 'vmrouter-table', value: '222' },
    { name: 'vmrouter-subnet6', value: '2001:db8::/64' },
    { name: 'vmrouter-gateway6', value: '2001:db8::1' },
  ]);
});
