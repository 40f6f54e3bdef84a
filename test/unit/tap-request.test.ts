import t from 'tap';
import { UsageError } from '../../src/config/errors.js';
import { parseNetworks as parseConfig } from '../lib/config.js';
import type { TapBinding } from '../../src/model/binding.js';
import {
  bindingClashes,
  bindTap,
  resolveNetwork,
  tapRequestFromFlags,
  tapRequestFromGanetiEnv,
  type TapFlags,
  type TapRequest,
} from '../../src/model/tap-request.js';

const NETWORKS = parseConfig(
  `[network public]
role = vmc
uplink = eth0.222
table = 222
table_name = pub
subnet = 192.0.2.0/24
gateway = 192.0.2.1
arp_ip = 192.0.2.254
subnet6 = 2001:db8::/64
gateway6 = 2001:db8::1

[network v4only]
role = vmc
uplink = eth0.223
table = 223
subnet = 198.51.100.0/24
gateway = 198.51.100.1
arp_ip = 198.51.100.254

[network edge]
role = router
uplink = eth0.224
subnet = 203.0.113.0/24
gateway = 203.0.113.1
`,
  'vmrouter.conf',
);
const [PUBLIC, V4ONLY, EDGE] = NETWORKS as [typeof NETWORKS[0], typeof NETWORKS[0], typeof NETWORKS[0]];

/** The UsageError message `f` throws, or "(no error)". */
function usage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  return '(no error)';
}

const flags = (f: Partial<TapFlags> = {}): TapRequest => tapRequestFromFlags({ network: 'public', tap: 'tap0', ...f });
const ganeti = (env: Record<string, string>): TapRequest => {
  const r = tapRequestFromGanetiEnv({ MODE: 'routed', INTERFACE: 'tap0', ...env });
  if (!r) throw new Error('not routed');
  return r;
};

t.test('flags', async (t) => {
  t.strictSame(flags({ mac: '52:54:00:AB:CD:EF', ip: ['192.0.2.11'], ip6: ['2001:DB8::11'] }), {
    network: 'public',
    link: null,
    tap: 'tap0',
    mac: '52:54:00:ab:cd:ef',
    ips: ['192.0.2.11'],
    ip6s: ['2001:db8::11'],
    hostname: null,
    claims: [],
    labels: { tap: '--tap', mac: '--mac', ip: '--ip', ip6: '--ip6', network: '--network' },
  });
  t.equal(usage(() => tapRequestFromFlags({ network: 'public' })), '--tap is required (or run from a Ganeti kvm-ifup environment with INTERFACE set)');
  t.equal(usage(() => tapRequestFromFlags({ tap: 'tap0' })), '--network is required with --tap');
  t.equal(usage(() => flags({ tap: 'tap0;rm -rf /' })), '--tap "tap0;rm -rf /": is not a valid interface name (letters, digits and "_.-" only, starting with a letter or digit)');
  t.equal(usage(() => flags({ network: 'a b' })), '--network "a b": is not a valid network name (1-32 letters, digits, "_" or "-", starting with a letter or digit)');
  t.equal(usage(() => flags({ mac: 'ff:ff:ff:ff:ff:ff' })), '--mac "ff:ff:ff:ff:ff:ff": not a unicast MAC address');
  t.equal(usage(() => flags({ ip: ['10.1'] })), '--ip "10.1": not an IPv4 address');
  t.equal(usage(() => flags({ ip6: ['192.0.2.11'] })), '--ip6 "192.0.2.11": not an IPv6 address');
  t.equal(usage(() => flags({ ip6: ['fe80::1%tap0'] })), '--ip6 "fe80::1%tap0": not an IPv6 address');
});

t.test('host names for DHCPv4: --hostname and Ganeti INSTANCE, checked', async (t) => {
  t.equal(flags({ ip: ['192.0.2.11'], hostname: 'vm1.example.org.' }).hostname, 'vm1.example.org', 'a trailing dot is dropped');
  t.equal(ganeti({ LINK: '222', IP: '192.0.2.11', INSTANCE: 'web-1' }).hostname, 'web-1');
  t.throws(() => flags({ ip: ['192.0.2.11'], hostname: 'bad_host$(x)' }), { message: /--hostname "bad_host\$\(x\)": is not a host name/ });
  t.throws(() => ganeti({ LINK: '222', IP: '192.0.2.11', INSTANCE: 'a'.repeat(64) }), { message: /^INSTANCE "a{64}": is not a host name/ });
});

t.test('Ganeti environment', async (t) => {
  t.equal(tapRequestFromGanetiEnv({ MODE: 'bridged', INTERFACE: 'tap0', LINK: 'br0' }), null, 'bridged NICs are not ours');
  t.equal(tapRequestFromGanetiEnv({ MODE: 'openvswitch', INTERFACE: 'tap0', LINK: 'ovs0' }), null);
  const r = ganeti({ LINK: '222', IP: '192.0.2.11', MAC: 'AA:00:00:11:22:33', NETWORK_SUBNET: '192.0.2.0/24', NETWORK_GATEWAY: '192.0.2.1', NETWORK_SUBNET6: '2001:db8::/64', NETWORK_GATEWAY6: '2001:db8::1' });
  t.strictSame(r, {
    network: null,
    link: '222',
    tap: 'tap0',
    mac: 'aa:00:00:11:22:33',
    ips: ['192.0.2.11'],
    ip6s: [],
    hostname: null,
    claims: [
      { label: 'NETWORK_SUBNET', subnet: '192.0.2.0/24', family: 4 },
      { label: 'NETWORK_GATEWAY', gateway: '192.0.2.1', family: 4 },
      { label: 'NETWORK_SUBNET6', subnet: '2001:db8::/64', family: 6 },
      { label: 'NETWORK_GATEWAY6', gateway: '2001:db8::1', family: 6 },
    ],
    labels: { tap: 'INTERFACE', mac: 'MAC', ip: 'IP', ip6: 'IP', network: 'NETWORK_NAME' },
  });
  t.equal(tapRequestFromGanetiEnv({ INTERFACE: 'tap0', LINK: '222' })?.tap, 'tap0', 'no MODE: routed');
  t.strictSame([ganeti({ LINK: '222', IP: '2001:DB8::11' }).ips, ganeti({ LINK: '222', IP: '2001:DB8::11' }).ip6s], [[], ['2001:db8::11']], "an IPv6 IP (Ganeti's NICs have one address, of either family)");
  t.equal(tapRequestFromGanetiEnv({ MODE: 'routed', INTERFACE: 'gnt.com.0', LINK: 'communication_rt', IP: '169.254.0.1' }), null, "instance communication TAPs are kvm-ifup-os's, not ours");
});

t.test('Ganeti environment: hostile or missing values', async (t) => {
  t.equal(usage(() => ganeti({ INTERFACE: 'tap0;rm -rf /', LINK: '222' })), 'INTERFACE "tap0;rm -rf /": is not a valid interface name (letters, digits and "_.-" only, starting with a letter or digit)');
  t.equal(usage(() => ganeti({ INTERFACE: '$(reboot)', LINK: '222' })), 'INTERFACE "$(reboot)": is not a valid interface name (letters, digits and "_.-" only, starting with a letter or digit)');
  t.equal(usage(() => ganeti({ INTERFACE: '../../etc', LINK: '222' })), 'INTERFACE "../../etc": is not a valid interface name (letters, digits and "_.-" only, starting with a letter or digit)');
  t.equal(usage(() => ganeti({ LINK: '222;reboot' })), 'LINK "222;reboot": not a routing table id or name');
  t.equal(usage(() => ganeti({ NETWORK_NAME: 'a;b' })), 'NETWORK_NAME "a;b": is not a valid network name (1-32 letters, digits, "_" or "-", starting with a letter or digit)');
  t.equal(usage(() => ganeti({ LINK: '222', MAC: 'zz' })), 'MAC "zz": not a unicast MAC address');
  t.equal(usage(() => ganeti({ LINK: '222', IP: '192.0.2.300' })), 'IP "192.0.2.300": not an IPv4 address');
  t.equal(usage(() => ganeti({ LINK: '222', IP: '2001:db8::zz' })), 'IP "2001:db8::zz": not an IPv6 address');
  t.equal(usage(() => tapRequestFromGanetiEnv({ MODE: 'routed', LINK: '222' })), 'no --tap given and INTERFACE is not set: not called by Ganeti');
  t.equal(usage(() => ganeti({})), 'neither NETWORK_NAME nor LINK is set: cannot tell which network INTERFACE belongs to');
});

t.test('resolveNetwork: by name, by table id, by table name', async (t) => {
  t.equal(resolveNetwork(flags({ network: 'v4only' }), NETWORKS).name, 'v4only');
  t.equal(resolveNetwork(ganeti({ LINK: '222' }), NETWORKS).name, 'public', 'LINK = table id');
  t.equal(resolveNetwork(ganeti({ LINK: 'pub' }), NETWORKS).name, 'public', 'LINK = table name');
  t.equal(resolveNetwork(ganeti({ NETWORK_NAME: 'v4only', LINK: '222' }), NETWORKS).name, 'v4only', 'the name wins');
  t.equal(resolveNetwork(ganeti({ NETWORK_NAME: 'ganeti-net', LINK: '223' }), NETWORKS).name, 'v4only', "Ganeti's own network name falls back to LINK");
  t.equal(usage(() => resolveNetwork(flags({ network: 'nope' }), NETWORKS)), '--network nope: no such network (not up, and not in the configuration)');
  t.equal(usage(() => resolveNetwork(ganeti({ LINK: '999' }), NETWORKS)), 'LINK 999: no network with that name or table');
  t.equal(usage(() => resolveNetwork(ganeti({ NETWORK_NAME: 'x', LINK: '999' }), NETWORKS)), 'NETWORK_NAME x and LINK 999: no network with that name or table');
  t.equal(usage(() => resolveNetwork(ganeti({ LINK: '224' }), NETWORKS)), 'LINK 224: no network with that name or table', 'router networks have no table');
  t.equal(usage(() => resolveNetwork(ganeti({ LINK: '222' }), [PUBLIC, { ...PUBLIC, name: 'copy' }])), 'LINK 222: several networks use that table (public, copy)');
});

t.test("bindTap checks Ganeti's claims", async (t) => {
  const claims = { LINK: '222', IP: '192.0.2.11' };
  t.strictSame(
    bindTap(PUBLIC, ganeti({ ...claims, NETWORK_SUBNET: '192.0.2.0/24', NETWORK_GATEWAY: '192.0.2.1', NETWORK_SUBNET6: '2001:DB8:0::/64', NETWORK_GATEWAY6: '2001:db8:0::1' })),
    { network: 'public', tap: 'tap0', mac: null, ips: ['192.0.2.11'], ip6s: [] },
    'equal after canonicalisation',
  );
  t.equal(usage(() => bindTap(PUBLIC, ganeti({ ...claims, NETWORK_SUBNET: '192.0.3.0/24' }))), 'NETWORK_SUBNET 192.0.3.0/24 differs from 192.0.2.0/24 of network public');
  t.equal(usage(() => bindTap(PUBLIC, ganeti({ ...claims, NETWORK_SUBNET: '192.0.2.0/25' }))), 'NETWORK_SUBNET 192.0.2.0/25 differs from 192.0.2.0/24 of network public');
  t.equal(usage(() => bindTap(PUBLIC, ganeti({ ...claims, NETWORK_SUBNET: '192.0.2.1/24' }))), 'NETWORK_SUBNET 192.0.2.1/24 differs from 192.0.2.0/24 of network public');
  t.equal(usage(() => bindTap(PUBLIC, ganeti({ ...claims, NETWORK_GATEWAY: '192.0.2.2' }))), 'NETWORK_GATEWAY 192.0.2.2 differs from gateway 192.0.2.1 of network public');
  t.equal(usage(() => bindTap(PUBLIC, ganeti({ ...claims, NETWORK_GATEWAY6: '2001:db8::2' }))), 'NETWORK_GATEWAY6 2001:db8::2 differs from gateway 2001:db8::1 of network public');
  t.equal(usage(() => bindTap(V4ONLY, ganeti({ LINK: '223', IP: '198.51.100.11', NETWORK_SUBNET6: '2001:db8::/64' }))), 'NETWORK_SUBNET6 is set but network v4only has no IPv6');
  t.equal(usage(() => bindTap(EDGE, flags({ network: 'edge', ip: ['203.0.113.5'] }))), 'network edge has role router: it hosts no VMs');
});

t.test('bindTap: EUI-64 when no IPv6 address is given', async (t) => {
  t.strictSame(bindTap(PUBLIC, ganeti({ LINK: '222', IP: '192.0.2.12', MAC: '52:54:00:12:34:56' })), {
    network: 'public',
    tap: 'tap0',
    mac: '52:54:00:12:34:56',
    ips: ['192.0.2.12'],
    ip6s: ['2001:db8::5054:ff:fe12:3456'],
  });
  t.strictSame(bindTap(PUBLIC, flags({ mac: '52:54:00:12:34:56', ip6: ['2001:db8::11'] })).ip6s, ['2001:db8::11'], 'given addresses replace EUI-64');
  t.strictSame(bindTap(V4ONLY, flags({ network: 'v4only', mac: '52:54:00:12:34:56', ip: ['198.51.100.11'] })).ip6s, [], 'no IPv6 in the network');
  const [gw] = parseConfig('[network p]\nrole = vmc+router\nuplink = e\ntable = 5\nsubnet6 = 2001:db8::/64\ngateway6 = 2001:db8::5054:ff:fe12:3456\n', 'f');
  t.equal(usage(() => bindTap(gw!, flags({ network: 'p', mac: '52:54:00:12:34:56' }))), 'IPv6 (EUI-64 of --mac) 2001:db8::5054:ff:fe12:3456: that is the gateway of network p');
});

t.test('bindTap refuses addresses the VM cannot have', async (t) => {
  const cases: [Partial<TapFlags>, string][] = [
    [{ ip: ['192.0.3.5'] }, '--ip 192.0.3.5: outside 192.0.2.0/24 of network public'],
    [{ ip: ['192.0.2.0'] }, '--ip 192.0.2.0: reserved address of 192.0.2.0/24'],
    [{ ip: ['192.0.2.255'] }, '--ip 192.0.2.255: reserved address of 192.0.2.0/24'],
    [{ ip: ['192.0.2.1'] }, '--ip 192.0.2.1: that is the gateway of network public'],
    [{ ip: ['192.0.2.254'] }, '--ip 192.0.2.254: that is arp_ip of network public'],
    [{ ip: ['192.0.2.11', '192.0.2.12', '192.0.2.11'] }, '--ip 192.0.2.11: given twice'],
    [{ ip6: ['2001:db9::1'] }, '--ip6 2001:db9::1: outside 2001:db8::/64 of network public'],
    [{ ip6: ['2001:db8::'] }, '--ip6 2001:db8::: reserved address of 2001:db8::/64'],
    [{ ip6: ['2001:db8::1'] }, '--ip6 2001:db8::1: that is the gateway of network public'],
    [{ ip6: ['2001:db8::11', '2001:DB8::11'] }, '--ip6 2001:db8::11: given twice'],
    [{}, 'no address for tap0: give --ip or --ip6 (or --mac for an EUI-64 address)'],
  ];
  for (const [f, message] of cases) t.equal(usage(() => bindTap(PUBLIC, flags(f))), message, JSON.stringify(f));
  t.equal(usage(() => bindTap(V4ONLY, flags({ network: 'v4only' }))), 'no address for tap0: give --ip');
  t.equal(usage(() => bindTap(V4ONLY, flags({ network: 'v4only', ip6: ['2001:db8::5'] }))), '--ip6 2001:db8::5: network v4only has no IPv6');
  t.equal(usage(() => bindTap(PUBLIC, ganeti({ LINK: '222', IP: '192.0.2.255' }))), 'IP 192.0.2.255: reserved address of 192.0.2.0/24', "Ganeti's labels");
});

t.test('bindingClashes', async (t) => {
  const b = (tap: string, ips: string[], ip6s: string[] = [], network = 'public'): TapBinding => ({ network, tap, mac: null, ips, ip6s });
  const mine = b('tap1', ['192.0.2.11', '192.0.2.12'], ['2001:db8::11']);
  t.strictSame(
    bindingClashes(mine, [b('tap1', ['192.0.2.11']), b('tap2', ['192.0.2.12', '192.0.2.13'], ['2001:db8::11']), b('tap3', ['192.0.2.14']), b('tap4', ['192.0.2.11'], [], 'other')]),
    ['192.0.2.12 is already bound to tap2 (network public)', '2001:db8::11 is already bound to tap2 (network public)', '192.0.2.11 is already bound to tap4 (network other)'],
    'its own earlier binding is not a clash',
  );
  t.strictSame(bindingClashes(mine, []), []);
});
