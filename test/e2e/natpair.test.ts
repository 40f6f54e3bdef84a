/**
 * NAT pairs (issue 6, seed 002) end to end on the real kernel: the seed's four traffic cases with
 * HTTP (curl against a real server that reports who answered and the source it saw) and ICMP (echo
 * requests counted where they land), two customers with the same address, the allocator's
 * exhaustion error changing nothing, reverse-path filtering relaxed only where it must be, and
 * ifdown returning both NAT nodes to exactly their state before ifup.
 */
import type { ChildProcess } from 'node:child_process';
import t, { type Test } from 'tap';
import { buildNatPairLab, flowClient, httpGet, natcConf, natmConf, startFlowServer, startWhoami, ROUTER_C, SERVER, MGMT_SIDE, UNIQUE, type NatPairLab } from '../lib/natpair-lab.js';
import { Lab, ifupdown, writeInterfaces } from '../lib/netns.js';
import { echoesSeen, installProbe } from '../lib/probe.js';
import { inNs } from '../lib/run.js';
import { etcFile } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { tableLostAndRepaired } from '../lib/doctor.js';
import { configureNode, ping } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'np-';
const lab = new Lab(PREFIX);
let l: NatPairLab;
const servers: ChildProcess[] = [];
const baseline: Record<string, string> = {};
let natcUp = '';

const NATC_IFACES = ['tr0', 'tr1', 'cA', 'cB', 'cC'];
const NATM_IFACES = ['tr0', 'tr1', 'm0'];
const sys = async (ns: string, path: string) => (await inNs(ns, ['cat', `/proc/sys/${path}`])).stdout.trim();

t.before(async () => {
  await Lab.sweep(PREFIX);
  l = await buildNatPairLab(lab);
  for (const ns of [l.natc, l.natm]) baseline[ns] = await snapshot(ns);
  servers.push(await startWhoami(l.custA, 'cust-a'), await startWhoami(l.custB, 'cust-b'), await startWhoami(l.custC, 'cust-c'), await startWhoami(l.mgmt, 'mgmt'));
  servers.push(await startFlowServer(l.mgmt, 'udp-serve', 5123), await startFlowServer(l.mgmt, 'tcp-serve', 5124));
  for (const ns of [l.custA, l.custB, l.custC, l.mgmt]) await installProbe(ns);
  await configureNode(l.natc, natcConf);
  await configureNode(l.natm, natmConf);
});
t.teardown(async () => {
  for (const s of servers) s.kill();
  await lab.cleanup();
});

t.test('an exhausted address plan is an error with file:line:key, and ifup changes nothing', async (t) => {
  // a /26 holds one /27 per node: 29 entries; the 30th (sorted: cA 10.0.1.30) does not fit
  const lines = Array.from({ length: 30 }, (_, i) => `map = cA 10.0.1.${i + 1}`);
  const conf = `[natpair pod1]\nrole = customer\nblock = 198.18.0.0/26\ntransit = tr0\ntable = 300\n${lines.join('\n')}\n`;
  etcFile(l.natc, 'vmrouter/vmrouter.conf', conf);
  const file = `/etc/netns/${l.natc}/vmrouter/vmrouter.conf`;
  const check = await vmrouter(['--config', file, 'check'], { ok: false });
  t.equal(check.code, 2, 'check exits 2');
  t.equal(
    check.stderr.trim(),
    `vmrouter: ${file}:35: [natpair pod1] map: "cA 10.0.1.30": no unique address left: 1 /27 pair × 29 addresses = 29 entries are taken; 198.18.0.0/26 holds 1 /27 pair (use a larger block)`,
    'the line of the entry that does not fit, and why',
  );
  t.equal((await vmrouter(['--config', file, 'generate'], { ok: false })).code, 2, 'generate refuses too');

  const r = await ifupdown(l.natc, 'ifup', 'tr0', [], false);
  t.not(r.code, 0, 'ifup fails');
  t.match(r.stderr, /no unique address left/, 'ifup says why');
  await inNs(l.natc, ['ip', 'link', 'set', 'dev', 'tr0', 'down']); // ifupdown's own "manual" link-up
  t.equal(snapshotDiff(baseline[l.natc]!, await snapshot(l.natc)), '', 'nothing was applied');
});

t.test('ifup applies each node of the pair through the installed hook', async (t) => {
  etcFile(l.natc, 'vmrouter/vmrouter.conf', natcConf);
  etcFile(l.natm, 'vmrouter/vmrouter.conf', natmConf);
  for (const i of NATC_IFACES) await ifupdown(l.natc, 'ifup', i);
  for (const i of NATM_IFACES) await ifupdown(l.natm, 'ifup', i);

  const addrs = async (ns: string, dev: string) => (await inNs(ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', dev])).stdout.split('\n').filter((x) => x).map((x) => x.replace(/^\d+: \S+\s+inet (\S+) .*?(secondary)? \S+\\.*$/, '$1 $2').trim());
  t.same(await addrs(l.natc, 'tr0'), ['198.18.0.2/27', '198.18.0.3/27 secondary', '198.18.0.4/27 secondary', '198.18.0.5/27 secondary'], 'customer node tr0: .2 of 198.18.0.0/27 is the primary (the seed\'s NAT VM1), one secondary per entry');
  t.same(await addrs(l.natc, 'tr1'), ['198.18.0.34/27', '198.18.0.35/27 secondary'], 'customer node tr1: .34 of the second /27 (the seed\'s second vnic), cust-b\'s .35');
  t.same(await addrs(l.natm, 'tr0'), ['198.18.0.130/27', '198.18.0.131/27 secondary', '198.18.0.132/27 secondary', '198.18.0.133/27 secondary'], 'management node tr0: .130 is the primary (the seed\'s NAT VM2)');
  t.same(await addrs(l.natm, 'tr1'), ['198.18.0.162/27', '198.18.0.163/27 secondary'], 'management node tr1');
  const rules = (await inNs(l.natc, ['ip', '-4', 'rule', 'show'])).stdout;
  t.match(rules, /10000:\s+from all fwmark 0x12c lookup 300 proto 86/, 'customer cA: one fwmark rule');
  t.match(rules, /10000:\s+from all fwmark 0x12d lookup 301 proto 86/, 'customer cB: one fwmark rule');
  t.match((await inNs(l.natc, ['nft', 'list', 'map', 'ip', 'vmrouter-natpair-pod1', 'from_transit'])).stdout, /198\.18\.0\.35 : 10\.0\.0\.100/, 'DNAT map of the customer node');

  // reverse-path filtering stays as the node had it (strict); the customer interfaces check sources in their own table
  for (const ns of [l.natc, l.natm]) t.equal(await sys(ns, 'net/ipv4/conf/all/rp_filter'), '1', `${ns}: conf/all/rp_filter still strict`);
  for (const i of NATC_IFACES) t.equal(await sys(l.natc, `net/ipv4/conf/${i}/rp_filter`), '1', `natc ${i}: still strict`);
  for (const i of NATM_IFACES) t.equal(await sys(l.natm, `net/ipv4/conf/${i}/rp_filter`), '1', `natm ${i}: still strict`);
  for (const i of ['cA', 'cB', 'cC']) t.equal(await sys(l.natc, `net/ipv4/conf/${i}/src_valid_mark`), '1', `natc ${i}: the reverse path of a customer source is looked up in its customer's table`);
  t.match((await inNs(l.natc, ['ip', '-4', 'route', 'show', 'table', '302'])).stdout, new RegExp(`10\\.0\\.0\\.100 via ${ROUTER_C.replace(/\./g, '\\.')} dev cC proto 86 onlink`), 'customer cC: the VM behind its router, onlink (cC has no address)');
  for (const i of NATC_IFACES) t.equal(await sys(l.natc, `net/ipv4/conf/${i}/forwarding`), '1', `natc ${i}: forwards`);
  for (const i of NATM_IFACES) t.equal(await sys(l.natm, `net/ipv4/conf/${i}/forwarding`), '1', `natm ${i}: forwards`);
  natcUp = await snapshot(l.natc);
  for (const ns of [l.natc, l.natm]) {
    t.equal(await sys(ns, 'net/ipv4/conf/all/forwarding'), '0', `${ns}: forwarding not switched on node-wide`);
    t.equal(await sys(ns, 'net/ipv4/conf/lo/forwarding'), '0', `${ns}: nor on other interfaces`);
  }
});

/** ICMP: the echo requests arrive at `at` from `seenSrc` (not answered by a NAT node itself), and not at `notAt`. */
async function echoes(t: Test, what: string, from: string, src: string, dst: string, at: string, seenSrc: string, seenDst: string, notAt?: string) {
  const before = await echoesSeen(at, seenSrc, seenDst);
  const elsewhere = notAt ? await echoesSeen(notAt, seenSrc, seenDst) : 0;
  t.ok(await ping(from, dst, ['-I', src]), `${what}: ping answered`);
  t.ok((await echoesSeen(at, seenSrc, seenDst)) - before >= 2, `${what}: the echo requests reached ${at} as ${seenSrc} > ${seenDst}`);
  if (notAt) t.equal(await echoesSeen(notAt, seenSrc, seenDst), elsewhere, `${what}: none reached ${notAt}`);
}

t.test('the pair\'s nft tables lost on either node: doctor names them, repair makes them again', async (t) => {
  await tableLostAndRepaired(t, l.natc, 'ip vmrouter-natpair-pod1');
  await tableLostAndRepaired(t, l.natc, 'arp vmrouter-natpair-pod1');
  await tableLostAndRepaired(t, l.natm, 'ip vmrouter-natpair-pod1');
});

t.test('case 1 and 2: customer VMs reach the management server at 198.18.0.2', async (t) => {
  for (const [ns, src] of [[l.custA, '10.0.0.100'], [l.custA, '10.0.0.130'], [l.custB, '10.0.0.100']] as const) {
    const what = `${ns} ${src} -> 198.18.0.2`;
    t.equal(await httpGet(ns, src, '198.18.0.2'), `mgmt ${SERVER} saw ${MGMT_SIDE}`, `${what}: HTTP answered by the management server, which saw the management node's address`);
    await echoes(t, what, ns, src, '198.18.0.2', l.mgmt, MGMT_SIDE, SERVER);
  }
});

t.test('case 3 and 4: the management server reaches each customer VM, two of them at 10.0.0.100', async (t) => {
  const cases = [
    ['198.18.0.131', l.custA, 'cust-a', '10.0.0.100', l.custB],
    ['198.18.0.132', l.custA, 'cust-a', '10.0.0.130', undefined],
    ['198.18.0.163', l.custB, 'cust-b', '10.0.0.100', l.custA],
  ] as const;
  for (const [unique, ns, name, vm, other] of cases) {
    const what = `mgmt -> ${unique} (${name} ${vm})`;
    t.equal(await httpGet(l.mgmt, SERVER, unique), `${name} ${vm} saw 198.18.0.2`, `${what}: HTTP answered by ${name} on ${vm}, which saw the customer node's 198.18.0.2`);
    await echoes(t, what, l.mgmt, SERVER, unique, ns, '198.18.0.2', vm, other);
  }
  // the connections are told apart by the customer table in their ct mark
  const ct = (await inNs(l.natc, ['conntrack', '-L', '-p', 'tcp', '--mark', '301'], { ok: false })).stdout;
  t.match(ct, /src=198\.18\.0\.162 dst=198\.18\.0\.35 .*src=10\.0\.0\.100 dst=198\.18\.0\.2 .*mark=301/, 'conntrack: the connection to cust-b came over tr1 (from .162) and carries mark 301');
});

t.test('a customer behind its own router (map … via) is reachable both ways', async (t) => {
  t.equal(await httpGet(l.custC, '10.0.0.100', '198.18.0.2'), `mgmt ${SERVER} saw ${MGMT_SIDE}`, 'cust-c 10.0.0.100 -> 198.18.0.2: HTTP answered by the management server');
  await echoes(t, 'cust-c -> 198.18.0.2', l.custC, '10.0.0.100', '198.18.0.2', l.mgmt, MGMT_SIDE, SERVER);
  t.equal(await httpGet(l.mgmt, SERVER, UNIQUE.c), 'cust-c 10.0.0.100 saw 198.18.0.2', `mgmt -> ${UNIQUE.c}: answered by cust-c behind its router`);
  await echoes(t, `mgmt -> ${UNIQUE.c}`, l.mgmt, SERVER, UNIQUE.c, l.custC, '198.18.0.2', '10.0.0.100', l.custA);
  const neigh = (await inNs(l.natc, ['ip', '-4', 'neigh', 'show', 'dev', 'cC'])).stdout;
  t.match(neigh, new RegExp(`^${ROUTER_C.replace(/\./g, '\\.')} lladdr`, 'm'), 'the customer node resolved the router on cC');
});

t.test('customers with the same address and source port each get their own answers, UDP and TCP at once', async (t) => {
  const customers = [['cust-a', l.custA], ['cust-b', l.custB], ['cust-c', l.custC]] as const;
  // the same 4-tuple from every customer: 10.0.0.100:40123 -> 198.18.0.2:5124, connections held open
  const tcp = customers.map(([name, ns]) => flowClient(ns, ['tcp-client', '198.18.0.2', '5124', '10.0.0.100', '40123', `${name} tcp`]));
  // and 10.0.0.100:123 -> 198.18.0.2:5123 (NTP-like), 0.3 s apart
  const udp = customers.map(([name, ns], i) => flowClient(ns, ['udp-client', '198.18.0.2', '5123', '10.0.0.100', '123', `${name} udp`, String(300 * i), '3000']));
  // bounded: every client has its answer (or has given up) before the kernel state is read
  await Promise.race([Promise.all([...tcp, ...udp].map((c) => c.answered)), new Promise((r) => setTimeout(r, 10000))]);
  const inZone = async (proto: string, port: string, zone: string) =>
    (await inNs(l.natc, ['conntrack', '-L', '-p', proto, '--dport', port, '--orig-zone', zone], { ok: false })).stdout.split('\n').filter((x) => x.includes('src=10.0.0.100 dst=198.18.0.2 '));
  for (const [zone, iface] of [['300', 'cA'], ['301', 'cB'], ['302', 'cC']] as const) {
    const tcpEntries = await inZone('tcp', '5124', zone);
    t.equal(tcpEntries.length, 1, `customer node: one TCP entry 10.0.0.100:40123 -> 198.18.0.2:5124 in zone ${zone} (${iface})`);
    t.match(tcpEntries[0] ?? '', new RegExp(`sport=40123 dport=5124 zone-orig=${zone} .*mark=${zone}`), `zone ${zone}: its connection, marked for ${iface}'s table`);
    t.equal((await inZone('udp', '5123', zone)).filter((x) => x.includes('sport=123 ')).length, 1, `customer node: one UDP entry 10.0.0.100:123 -> 198.18.0.2:5123 in zone ${zone}`);
  }
  const ctm = (await inNs(l.natm, ['conntrack', '-L', '-p', 'tcp', '--dport', '5124'], { ok: false })).stdout.split('\n').filter((x) => /dst=198\.18\.0\.130 /.test(x));
  t.equal(new Set(ctm.map((x) => /sport=(\d+)/.exec(x)?.[1])).size, 3, 'management node: the customer node made the three tuples distinct (its masquerade gave them different ports), so no zones are needed there');
  // the management side reaches each customer's 10.0.0.100 by its unique address meanwhile
  for (const [key, name] of [['a', 'cust-a'], ['b', 'cust-b'], ['c', 'cust-c']] as const) {
    t.equal(await httpGet(l.mgmt, SERVER, UNIQUE[key]), `${name} 10.0.0.100 saw 198.18.0.2`, `mgmt -> ${UNIQUE[key]} lands on ${name} while the identical flows are open`);
  }
  for (const c of tcp) c.close();
  const tcpGot = await Promise.all(tcp.map((c) => c.done));
  const udpGot = await Promise.all(udp.map((c) => c.done));
  customers.forEach(([name], i) => {
    t.same(tcpGot[i]!.map((x) => x.split(' saw ')[0]), [`${name} tcp`], `${name}: its own TCP answer, and only that`);
    t.same(udpGot[i]!.map((x) => x.split(' saw ')[0]), [`${name} udp`], `${name}: its own UDP answer, and only that`);
  });
  const seen = udpGot.flat().map((x) => x.split(' saw ')[1]);
  t.equal(new Set(seen).size, 3, `the server saw three distinct sources (${seen.join(', ')})`);
});

t.test('strict or loose reverse-path filtering on conf/all and every interface does not break the pair', async (t) => {
  // the lab is strict everywhere (conf/all and each interface = 1); loose (2) is Debian's systemd default
  for (const mode of ['2', '1']) {
    for (const ns of [l.natc, l.natm]) await inNs(ns, ['sysctl', '-q', '-w', `net.ipv4.conf.all.rp_filter=${mode}`]);
    for (const [name, ns] of [['cust-a', l.custA], ['cust-b', l.custB], ['cust-c', l.custC]] as const) {
      t.equal(await httpGet(ns, '10.0.0.100', '198.18.0.2'), `mgmt ${SERVER} saw ${MGMT_SIDE}`, `rp_filter ${mode}: ${name} reaches the server`);
    }
    for (const [key, name] of [['a', 'cust-a'], ['b', 'cust-b'], ['c', 'cust-c']] as const) {
      t.equal(await httpGet(l.mgmt, SERVER, UNIQUE[key]), `${name} 10.0.0.100 saw 198.18.0.2`, `rp_filter ${mode}: the server reaches ${name}`);
    }
  }
  const check = await vmrouter(['--config', `/etc/netns/${l.natc}/vmrouter/vmrouter.conf`, 'check'], { ns: l.natc });
  t.notMatch(check.stderr, /rp_filter/, 'check has nothing to warn about reverse-path filtering');
});

t.test('only the VMs of the map and the listed servers use the pair, and no NAT node answers for them', async (t) => {
  await inNs(l.custA, ['ip', 'addr', 'add', '10.0.0.99/24', 'dev', 'eth0']);
  await inNs(l.mgmt, ['ip', 'addr', 'add', '10.0.0.50/24', 'dev', 'eth0']);
  const before = await echoesSeen(l.mgmt, MGMT_SIDE, SERVER);
  t.equal(await httpGet(l.custA, '10.0.0.99', '198.18.0.2'), null, 'cust-a 10.0.0.99 (not in the map): no HTTP answer');
  t.notOk(await ping(l.custA, '198.18.0.2', ['-I', '10.0.0.99']), 'cust-a 10.0.0.99: no ICMP answer, not even from the customer node that owns 198.18.0.2');
  t.equal(await echoesSeen(l.mgmt, MGMT_SIDE, SERVER), before, 'nothing reached the management server');
  t.equal(await httpGet(l.mgmt, '10.0.0.50', '198.18.0.131'), null, 'management host 10.0.0.50 (not a listed server): no HTTP answer');
  t.notOk(await ping(l.mgmt, '198.18.0.131', ['-I', '10.0.0.50']), 'nor ICMP from the management node that owns 198.18.0.131');
  // with reverse-path filtering on, 10.0.0.99 (no route in cA's table) is dropped before any
  // chain; with it off, the pair's own guard drops what is not in the map
  const guard = async () => Number(/counter packets (\d+) bytes \d+ drop comment "vmrouter: not in the map/.exec((await inNs(l.natc, ['nft', 'list', 'chain', 'ip', 'vmrouter-natpair-pod1', 'guard_in'])).stdout)?.[1] ?? -1);
  const guarded = await guard();
  for (const key of ['all', 'cA']) await inNs(l.natc, ['sysctl', '-q', '-w', `net.ipv4.conf.${key}.rp_filter=0`]);
  t.notOk(await ping(l.custA, '198.18.0.2', ['-I', '10.0.0.99']), 'rp_filter off: still no answer for 10.0.0.99');
  t.equal(await httpGet(l.custA, '10.0.0.99', '198.18.0.2'), null, 'nor over HTTP');
  t.ok((await guard()) > guarded, 'the customer node\'s guard dropped them');
  t.equal(await echoesSeen(l.mgmt, MGMT_SIDE, SERVER), before, 'and nothing reached the management server');
  for (const key of ['all', 'cA']) await inNs(l.natc, ['sysctl', '-q', '-w', `net.ipv4.conf.${key}.rp_filter=1`]);
  for (const [ns, a] of [[l.custA, '10.0.0.99/24'], [l.mgmt, '10.0.0.50/24']] as const) await inNs(ns, ['ip', 'addr', 'del', a, 'dev', 'eth0']);
});

t.test('an address of the block that maps nothing leads nowhere', async (t) => {
  t.equal(await httpGet(l.mgmt, SERVER, '198.18.0.134'), null, 'no entry, no answer (and no NAT node answering for a VM)');
});

t.test('each interface comes and goes on its own', async (t) => {
  const before = await snapshot(l.natc);
  await ifupdown(l.natc, 'ifdown', 'cB');
  t.equal(await httpGet(l.mgmt, SERVER, '198.18.0.163'), null, 'cB down: cust-b is out of reach');
  t.notOk(await ping(l.mgmt, '198.18.0.163', ['-I', SERVER]), 'and the customer node, which still holds 198.18.0.35, does not answer in its place');
  t.equal(await httpGet(l.mgmt, SERVER, '198.18.0.131'), 'cust-a 10.0.0.100 saw 198.18.0.2', 'cust-a is not');
  t.notMatch((await inNs(l.natc, ['nft', 'list', 'table', 'ip', 'vmrouter-natpair-pod1'])).stdout, /301|"cB"/, 'cB\'s elements are gone, the pair\'s table stays');
  await ifupdown(l.natc, 'ifup', 'cB');
  t.equal(snapshotDiff(before, await snapshot(l.natc)), '', 'ifup cB again: the same kernel state');
  t.equal(await httpGet(l.mgmt, SERVER, '198.18.0.163'), 'cust-b 10.0.0.100 saw 198.18.0.2', 'cust-b is back');
});

t.test('ifdown returns both nodes to exactly their state before ifup', async (t) => {
  for (const i of [...NATC_IFACES].reverse()) await ifupdown(l.natc, 'ifdown', i);
  for (const i of [...NATM_IFACES].reverse()) await ifupdown(l.natm, 'ifdown', i);
  for (const ns of [l.natc, l.natm]) t.equal(snapshotDiff(baseline[ns]!, await snapshot(ns)), '', `${ns}: kernel state after ifdown = before ifup`);
  t.equal((await inNs(l.natc, ['nft', 'list', 'tables'])).stdout.trim(), '', 'no nft table left');
});

t.test('expanded stanzas of the customer node: the same kernel state from plain up lines', async (t) => {
  const expanded = (await vmrouter(['--config', `/etc/netns/${l.natc}/vmrouter/vmrouter.conf`, 'generate', '--style', 'expanded'])).stdout;
  t.notMatch(expanded, /^\s*vmrouter-/m, 'no vmrouter options: nothing of vmrouter runs at ifup time');
  writeInterfaces(l.natc, expanded);
  for (const i of NATC_IFACES) await ifupdown(l.natc, 'ifup', i);
  t.equal(snapshotDiff(natcUp, await snapshot(l.natc)), '', 'expanded ifup = compact ifup');
  t.equal(await httpGet(l.mgmt, SERVER, '198.18.0.163'), null, 'the management node is down: nothing to reach through it');
  for (const i of [...NATC_IFACES].reverse()) await ifupdown(l.natc, 'ifdown', i);
  // the last holder's pre-down removes the pair's shared tables (holder files under the state dir)
  t.equal(snapshotDiff(baseline[l.natc]!, await snapshot(l.natc)), '', 'expanded ifdown: the state before ifup, shared tables included');
  t.equal((await inNs(l.natc, ['nft', 'list', 'tables'])).stdout.trim(), '', 'no nft table left');
});
