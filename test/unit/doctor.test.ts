/** doctor: one identity from a Step and from the kernel's listing; the ledger compared with a kernel state; 0.1.0 ledgers renamed. */
import t from 'tap';
import { check } from '../../src/doctor/check.js';
import { elementOfJson, elementOfStep, probeOf, routeOfJson, ruleOfJson } from '../../src/doctor/identity.js';
import { migrateNetworkOwners, type LedgerIndex } from '../../src/exec/ledger-migrate.js';
import { emptyLedger, type Ledger } from '../../src/exec/ledger.js';
import { nftTables, type KernelState } from '../../src/exec/kernel-state.js';
import { element, INET_TABLE, inetTable } from '../../src/features/nft-skeleton.js';
import type { Network } from '../../src/model/network.js';
import { ip, mac, sysctl, type HeldStep } from '../../src/plan/step.js';

const id = (s: HeldStep): string => {
  const p = probeOf(s);
  return 'id' in p ? p.id : JSON.stringify(p);
};

t.test('a route, a rule, a proxy neighbour: the same identity from the step and from ip -j', async (t) => {
  t.equal(id(ip(0, ['route', 'add', '192.0.2.11/32', 'dev', 'tap1', 'table', '222', 'proto', '86'], null, 'x')), routeOfJson(4, { dst: '192.0.2.11', dev: 'tap1', table: '222', protocol: '86' }), 'a host route: /32 as ip prints it');
  t.equal(id(ip(0, ['route', 'add', '2001:DB8::11/128', 'dev', 'tap1', 'table', '222', 'proto', '86'], null, 'x')), routeOfJson(6, { dst: '2001:db8::11', dev: 'tap1', table: '222', protocol: '86' }), 'IPv6, the family from the address, RFC 5952');
  // IPv6 lists unreachable routes on lo, IPv4 on no device (routing = bgp's floor under FRR's default)
  t.equal(id(ip(6, ['route', 'add', 'unreachable', 'default', 'table', '222', 'metric', '4294967295', 'proto', '86'], null, 'x')), routeOfJson(6, { type: 'unreachable', dst: 'default', dev: 'lo', table: '222', protocol: '86' }), 'an IPv6 unreachable route: on lo in the kernel');
  t.equal(id(ip(4, ['route', 'add', 'unreachable', 'default', 'table', '222', 'metric', '4294967295', 'proto', '86'], null, 'x')), routeOfJson(4, { type: 'unreachable', dst: 'default', table: '222', protocol: '86' }), 'an IPv4 unreachable route');
  t.not(routeOfJson(6, { type: 'unicast', dst: 'default', dev: 'lo', table: '222', protocol: '86' }), routeOfJson(6, { type: 'unicast', dst: 'default', table: '222', protocol: '86' }), 'a unicast route keeps its device');
  t.equal(id(ip(4, ['route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'eth0.222', 'table', '222', 'proto', '86'], null, 'x')), routeOfJson(4, { dst: 'default', gateway: '192.0.2.1', dev: 'eth0.222', table: '222', protocol: '86' }));
  t.equal(id(ip(4, ['route', 'add', '10.0.0.100/32', 'via', '192.168.3.1', 'dev', 'cC', 'onlink', 'table', '302', 'proto', '86'], null, 'x')), routeOfJson(4, { dst: '10.0.0.100', gateway: '192.168.3.1', dev: 'cC', table: '302', protocol: '86' }), 'onlink is the kernel\'s flag, not part of the identity');
  t.equal(
    id(ip(4, ['route', 'add', 'default', 'table', '50', 'proto', '86', 'nexthop', 'via', '192.168.56.1', 'dev', 'eth1', 'nexthop', 'via', '192.168.56.2', 'dev', 'eth1'], null, 'x')),
    routeOfJson(4, { dst: 'default', table: '50', protocol: '86', nexthops: [{ gateway: '192.168.56.2', dev: 'eth1' }, { gateway: '192.168.56.1', dev: 'eth1' }] }),
    'multipath: the next hops in any order',
  );
  t.equal(id(ip(4, ['route', 'add', '192.0.2.0/24', 'dev', 'eth0.222', 'proto', '86'], null, 'x')), routeOfJson(4, { dst: '192.0.2.0/24', dev: 'eth0.222', protocol: '86' }), 'main when no table is named');
  t.not(id(ip(4, ['route', 'add', '192.0.2.0/24', 'dev', 'eth0.222', 'table', '222', 'proto', '86'], null, 'x')), routeOfJson(4, { dst: '192.0.2.0/24', dev: 'eth0.222', protocol: '86' }), 'another table is another route');

  t.equal(id(ip(4, ['rule', 'add', 'pref', '10000', 'fwmark', '222', 'lookup', '222', 'proto', '86'], null, 'x')), ruleOfJson(4, { priority: 10000, src: 'all', fwmark: '0xde', table: '222', protocol: '86' }), 'a mark rule: decimal in the step, hex in the listing');
  t.equal(id(ip(4, ['rule', 'add', 'pref', '10000', 'iif', 'eth0.222', 'to', '192.0.2.0/24', 'lookup', '222', 'proto', '86'], null, 'x')), ruleOfJson(4, { priority: 10000, src: 'all', dst: '192.0.2.0', dstlen: 24, iif: 'eth0.222', table: '222', protocol: '86' }));
  t.equal(id(ip(0, ['rule', 'add', 'pref', '1000', 'l3mdev', 'proto', '86'], null, 'x')), ruleOfJson(4, { priority: 1000, src: 'all', l3mdev: null, protocol: '86' }), 'the l3mdev rule');
  // as Debian 12's iproute2 lists the kernel's own l3mdev rule on a 6.1 kernel (the kernel lab): no "protocol"
  t.equal(id(ip(4, ['rule', 'add', 'pref', '1000', 'l3mdev', 'proto', 'kernel'], null, 'x')), ruleOfJson(4, { priority: 1000, src: 'all', l3mdev: null }), 'proto kernel is not listed by ip -j rule');
  t.not(id(ip(4, ['rule', 'add', 'pref', '10000', 'fwmark', '222', 'lookup', '222', 'proto', '86'], null, 'x')), ruleOfJson(4, { priority: 10000, src: 'all', fwmark: '0xde', table: '222' }), 'another protocol is another rule');
  t.equal(id(ip(0, ['neigh', 'add', 'proxy', '2001:db8::11', 'dev', 'eth0.222'], null, 'x')), 'proxy 2001:db8::11 dev eth0.222');
  t.equal(id(ip(6, ['addr', 'add', '2001:db8::1/128', 'dev', 'lo', 'nodad'], null, 'x')), 'addr 2001:db8::1/128 dev lo');
});

t.test('set and map elements: the same identity from the step and from nft -j', async (t) => {
  const el = (table: string, set: string, key: string, value: string | null) => elementOfStep(element(table, set, key, value, 'x').add[0]!)!;
  t.same(el(INET_TABLE, 'vm4', '"tap1" . 192.0.2.11', null), { table: INET_TABLE, set: 'vm4', element: 'tap1 . 192.0.2.11' });
  t.equal(el(INET_TABLE, 'vm4', '"tap1" . 192.0.2.11', null).element, elementOfJson({ concat: ['tap1', '192.0.2.11'] }));
  t.equal(el(INET_TABLE, 'tapmark', '"tap1"', '222', ).element, elementOfJson(['tap1', 222]), 'a map: key : value, marks as numbers');
  t.equal(el(INET_TABLE, 'ingress4', '"eth0.222" . 192.0.2.0/24', '222').element, elementOfJson([{ concat: ['eth0.222', { prefix: { addr: '192.0.2.0', len: 24 } }] }, 222]), 'an interval in a concatenation');
  t.equal(el(INET_TABLE, 'vm6', '"tap1" . 2001:DB8::11', null).element, elementOfJson({ concat: ['tap1', '2001:db8::11'] }), 'IPv6 in RFC 5952');
  t.equal(el('ip vmrouter-natpair-pod1', 'from_transit', '198.18.0.3', '10.0.0.100').element, elementOfJson(['198.18.0.3', '10.0.0.100']));
});

/** A kernel state holding exactly what these steps made (identities), with links up. */
function kernelOf(steps: HeldStep[], tables: KernelState['tables'] = new Map()): KernelState {
  const objects = new Set<string>();
  for (const s of steps) {
    const p = probeOf(s);
    if ('id' in p) objects.add(p.id);
  }
  return { objects, stamped: new Set([...objects].filter((o) => o.endsWith('proto 86'))), links: new Map([['tap1', { up: true, mac: 'cc:47:52:4e:45:54', ifindex: 7 }], ['eth0.222', { up: true, mac: '02:00:00:00:00:01', ifindex: 2 }]]), tables };
}

function ledgerOf(owners: Record<string, HeldStep[]>): Ledger {
  const l = emptyLedger({ name: 'n', inode: 1 });
  for (const [owner, steps] of Object.entries(owners)) {
    l.owners[owner] = owner.startsWith('tap:')
      ? { kind: 'tap', record: { network: 'public', tap: owner.slice(4), mac: null, ips: [], ip6s: [] }, since: '', ifindex: 7, keys: steps.map((s) => s.key) }
      : { kind: 'feature', feature: 'network', iface: 'eth0.222', record: { name: 'public' } as Network, since: '', keys: steps.map((s) => s.key) };
    for (const s of steps) l.objects[s.key] = { step: s, holders: [...(l.objects[s.key]?.holders ?? []), owner], home: owner };
  }
  return l;
}

t.test('check: what the ledger holds and the kernel lacks or has otherwise', async (t) => {
  const rule = ip(4, ['rule', 'add', 'pref', '10000', 'fwmark', '222', 'lookup', '222', 'proto', '86'], null, 'x');
  const route = ip(0, ['route', 'add', '192.0.2.11/32', 'dev', 'tap1', 'table', '222', 'proto', '86'], null, 'x');
  const proxyArp = sysctl('net/ipv4/conf/tap1/proxy_arp', '1', '0', 'x');
  const tapMac = mac('tap1', 'cc:47:52:4e:45:54', 'x');
  const table = inetTable();
  const vm4 = element(INET_TABLE, 'vm4', '"tap1" . 192.0.2.11', null, 'x');
  const ledger = ledgerOf({ 'network:public@eth0.222': [table, rule], 'tap:tap1': [proxyArp, route, tapMac, vm4] });
  const tables = nftTables(JSON.stringify({ nftables: [{ table: { family: 'inet', name: 'vmrouter' } }, { set: { family: 'inet', table: 'vmrouter', name: 'vm4', type: ['ifname', 'ipv4_addr'], elem: [{ concat: ['tap1', '192.0.2.11'] }] } }] }));
  const sysctl1 = () => '1';
  t.same(check({ ledger, kernel: kernelOf([rule, route], tables), sysctl: sysctl1 }), [], 'all as applied');

  const lost = check({ ledger, kernel: kernelOf([route]), sysctl: () => '0' });
  t.same(lost.map((f) => [f.kind, f.kind === 'differs' ? `${f.what} (now ${f.now})` : 'what' in f ? f.what : '']), [
    ['missing', 'nft table inet vmrouter'],
    ['missing', 'rule -4 pref 10000 fwmark 0xde table 222 proto 86'],
    ['differs', 'net/ipv4/conf/tap1/proxy_arp = 1 (now 0)'],
    ['missing', 'element tap1 . 192.0.2.11 of inet vmrouter vm4'],
  ]);

  const gone = check({ ledger, kernel: { ...kernelOf([rule, route], tables), links: new Map() }, sysctl: () => null });
  t.same(gone.map((f) => f.kind), ['stale'], 'a TAP that is gone is one finding, not one per object');
  const recreated = check({ ledger, kernel: { ...kernelOf([rule, route], tables), links: new Map([['tap1', { up: true, mac: 'cc:47:52:4e:45:54', ifindex: 9 }]]) }, sysctl: sysctl1 });
  t.match(recreated[0], { kind: 'stale', what: 'TAP tap1 was re-created (ifindex 7 → 9)' });

  const foreign = ip(4, ['route', 'add', '203.0.113.0/24', 'dev', 'eth0.222', 'table', '222', 'proto', '86'], null, 'x');
  const extra = nftTables(JSON.stringify({ nftables: [...JSON.parse(JSON.stringify({ nftables: [{ table: { family: 'inet', name: 'vmrouter' } }] })).nftables, { table: { family: 'ip', name: 'vmrouter-natpair-old' } }, { table: { family: 'inet', name: 'filter' } }] }));
  const stray = check({ ledger, kernel: kernelOf([rule, route, foreign], extra), sysctl: sysctl1 }).filter((f) => f.kind === 'unowned');
  t.same(stray.map((f) => f.what), ['route -4 unicast 203.0.113.0/24 table 222 dev eth0.222 proto 86', 'nft table ip vmrouter-natpair-old'], 'vmrouter\'s stamp without an owner; not other tools\' tables');
});

t.test('a table whose chains were edited differs from its fingerprint', async (t) => {
  const json = (rules: number) => JSON.stringify({ nftables: [{ table: { family: 'inet', name: 'vmrouter' } }, { chain: { family: 'inet', table: 'vmrouter', name: 'guard', type: 'filter', hook: 'prerouting', prio: -150, policy: 'accept' } }, ...Array.from({ length: rules }, (_, i) => ({ rule: { family: 'inet', table: 'vmrouter', chain: 'guard', handle: i + 4, expr: [{ counter: { packets: i * 7, bytes: 9 } }, { drop: null }] } }))] });
  const applied = nftTables(json(2)).get(INET_TABLE)!;
  t.equal(nftTables(json(2).replace('"packets":7', '"packets":70')).get(INET_TABLE)!.fingerprint, applied.fingerprint, 'counters and handles do not count');
  const table = inetTable();
  const ledger = ledgerOf({ 'network:public@eth0.222': [table] });
  ledger.objects[table.key]!.fingerprint = applied.fingerprint;
  const f = check({ ledger, kernel: kernelOf([], nftTables(json(0))), sysctl: () => null });
  t.match(f, [{ kind: 'differs', what: 'chains and rules of nft table inet vmrouter' }], 'a flushed chain is a difference');
});

t.test('0.1.0 ledgers: network owners renamed in the index and in every holder', async (t) => {
  const n = { name: 'public', uplink: 'eth0.222', role: 'vmc', table: 222 } as Network;
  const legacy = { name: 'eth0_333', uplink: 'eth0.333', role: 'vmc', table: 333 } as Network;
  const index = {
    owners: {
      'network:public': { kind: 'network', record: n, since: 's', keys: ['k1'] },
      'network:eth0_333@inet6': { kind: 'network', record: legacy, since: 's', keys: ['k2'] },
      'tap:tap1': { kind: 'tap', record: { network: 'public', tap: 'tap1', mac: null, ips: [], ip6s: [] }, since: 's' },
    },
    objects: { k1: { step: ip(4, ['rule', 'add'], null, 'x'), holders: ['network:public', 'network:eth0_333@inet6'], home: 'main' }, k2: { step: ip(4, ['route', 'add'], null, 'x'), holders: ['network:eth0_333@inet6'], home: 'main' } },
  } as unknown as LedgerIndex;
  t.ok(migrateNetworkOwners(index), 'something to migrate');
  t.same(Object.keys(index.owners), ['tap:tap1', 'network:public@eth0.222', 'network:eth0_333@eth0.333:inet6']);
  t.match(index.owners['network:public@eth0.222'], { kind: 'feature', feature: 'network', iface: 'eth0.222', record: n, since: 's', keys: ['k1'], summary: 'role vmc, table 222' });
  t.same(index.objects.k1!.holders, ['network:public@eth0.222', 'network:eth0_333@eth0.333:inet6']);
  t.notOk(migrateNetworkOwners(index), 'a migrated ledger stays as it is');
});
