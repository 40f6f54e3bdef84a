/**
 * The hypervisors as they are (issue 14), on one routed VMC node of seed 004 with its router and an
 * internet host, and real TAP devices (/dev/net/tun) where qemu would have them:
 * - Ganeti: Debian's own kvm-ifup (package ganeti 3.0, unmodified; test/lib/ganeti.ts) runs the
 *   shipped examples/ganeti/kvm-vif-bridge with the environment Ganeti sets for a routed NIC; a
 *   real qemu guest (test/lib/guest.ts) then boots on that TAP: its IPv4 by DHCP from `vmrouter
 *   ndp`, its IPv6 by SLAAC, the internet host reached and seeing the guest's own address, forged
 *   sources dropped. Ganeti runs nothing when the NIC goes away: the TAP vanishes and `vmrouter
 *   repair` releases the binding.
 * - libvirt: the qemu hook (examples/libvirt/qemu → `vmrouter libvirt-hook`) fed the domain XML a
 *   real libvirtd 9.0 gave its hook at each call (test/fixtures/libvirt), on TAPs with the names
 *   libvirt used; then a private libvirtd in the node's namespace (test/lib/libvirt.ts) running
 *   the shipped hook as `virsh start` and `virsh destroy` go.
 * The node ends as it started: kernel state after = before.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ganetiEnv, ganetiNicGone, ganetiUnavailable, exampleScript, runKvmIfup } from '../lib/ganeti.js';
import { bootGuest, createTap, guestUnavailable, sweepGuests, type GuestRun } from '../lib/guest.js';
import { Lab, ifupdown } from '../lib/netns.js';
import { Daemon, eui64 } from '../lib/ndp.js';
import { echoesSeen, installProbe } from '../lib/probe.js';
import { defineAndDump, destroyDomain, domainXml, libvirtUnavailable, startDomain, startLibvirt, sweepLibvirt, type Libvirt } from '../lib/libvirt.js';
import { inNs, run } from '../lib/run.js';
import { etcFile } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { buildRoutedLab, configureNode, INET, INET6, routerConf, vmcConf, type RoutedLab } from '../lib/topology.js';
import { BIN, ROOT, vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr14h-';
const lab = new Lab(PREFIX);
const CONF = `${vmcConf()}
[dhcp]
nameservers = 192.0.2.53
domain = example.org
`;
let l: RoutedLab;
let node: string;
let baseline: string;
let daemon: Daemon | null = null;

const routes = async (family: 4 | 6) => (await inNs(node, ['ip', `-${family}`, 'route', 'show', 'table', '222'])).stdout;
const doctor = () => vmrouter(['doctor'], { ns: node, ok: false });
const linkFlags = async (dev: string) => (await inNs(node, ['ip', '-o', 'link', 'show', 'dev', dev])).stdout;

t.before(async () => {
  await Lab.sweep(PREFIX);
  await sweepGuests(PREFIX);
  await sweepLibvirt();
  l = await buildRoutedLab(lab, { n: [] });
  node = l.nodes[0]!;
  await configureNode(node, vmcConf());
  await configureNode(l.router, routerConf);
  // what `tap up` without flags and the responder read on the node
  etcFile(node, 'vmrouter/vmrouter.conf', CONF);
  await ifupdown(l.router, 'ifup', 'eth0.222');
  await ifupdown(node, 'ifup', 'eth0.222');
  await installProbe(l.inet);
  baseline = await snapshot(node);
});
let libvirt: Libvirt | null = null;
t.teardown(async () => {
  if (daemon) await daemon.stop();
  if (libvirt) await libvirt.stop();
  await sweepGuests(PREFIX);
  await lab.cleanup();
  for (const ns of [`${PREFIX}n`, `${PREFIX}rt`]) rmSync(`/tmp/${ns}.conf`, { force: true });
});

const GANETI_MAC = '52:54:00:14:00:21';
const GANETI_NETWORK = { name: 'public', subnet: '192.0.2.0/24', gateway: '192.0.2.1', subnet6: '2001:db8::/64', gateway6: '2001:db8::1' };
const vifBridge = () => exampleScript(BIN);

t.test('Ganeti: the package\'s kvm-ifup runs the shipped kvm-vif-bridge, and a real guest works on the TAP', { skip: ganetiUnavailable() ?? guestUnavailable() ?? false }, async (t) => {
  // Ganeti opens the TAP and runs kvm-ifup while it is still down
  await createTap(node, 'tap0', { up: false });
  const env = ganetiEnv({ instance: 'vm21.example.org', tap: 'tap0', mac: GANETI_MAC, ip: '192.0.2.21', link: 'snf_routed', network: GANETI_NETWORK, tags: ['web'] });
  const r = await runKvmIfup(node, 'tap0', env, vifBridge(), { ok: false });
  t.equal(r.code, 0, 'kvm-ifup exited 0', { stderr: r.stderr });
  t.match(await routes(4), /^192\.0\.2\.21 dev tap0 /m, 'the NIC\'s IP routed to its TAP in table 222 (LINK snf_routed is the table\'s name)');
  const slaac = eui64('2001:db8::', GANETI_MAC);
  t.match(await routes(6), new RegExp(`^${slaac} dev tap0 `, 'm'), `IPv6: the EUI-64 address of MAC, ${slaac}`);
  t.match(await linkFlags('tap0'), /<[^>]*\bUP\b/, 'tap up brought the TAP up');

  // a NIC whose one address is IPv6 (Ganeti's IP may be either family)
  await createTap(node, 'tap1', { up: false });
  const r6 = await runKvmIfup(node, 'tap1', ganetiEnv({ instance: 'vm22', tap: 'tap1', mac: '52:54:00:14:00:22', ip: '2001:db8::22', link: '222', index: 0 }), vifBridge(), { ok: false });
  t.equal(r6.code, 0, 'IP=2001:db8::22: kvm-ifup exited 0', { stderr: r6.stderr });
  t.match(await routes(6), /^2001:db8::22 dev tap1 /m, 'routed as an IPv6 address');
  t.notMatch(await routes(4), /dev tap1/, 'and nothing of IPv4');

  // a bridged NIC on the same node: kvm-vif-bridge hands it to Ganeti's own net-common
  await inNs(node, ['ip', 'link', 'add', 'dev', 'gnt-br0', 'type', 'bridge']);
  await createTap(node, 'tap2', { up: false });
  const rb = await runKvmIfup(node, 'tap2', ganetiEnv({ instance: 'vm23', tap: 'tap2', mac: '52:54:00:14:00:23', mode: 'bridged', link: 'gnt-br0' }), vifBridge(), { ok: false });
  t.equal(rb.code, 0, 'MODE=bridged: kvm-ifup exited 0', { stderr: rb.stderr });
  t.match(await linkFlags('tap2'), /master gnt-br0/, 'net-common enslaved the TAP to LINK');
  t.notMatch((await vmrouter(['status'], { ns: node })).stdout, /tap2/, 'vmrouter did not bind it');
  await inNs(node, ['ip', 'link', 'del', 'dev', 'tap2']);
  await inNs(node, ['ip', 'link', 'del', 'dev', 'gnt-br0']);
  const d = await doctor();
  t.equal(d.code, 0, 'doctor: the kernel is as applied', { stdout: d.stdout });

  // the guest: qemu (TCG) with virtio-net on tap0, the responder answering it
  daemon = await Daemon.start(node, '/etc/vmrouter/vmrouter.conf');
  const seen = { own: await echoesSeen(l.inet, '192.0.2.21', INET), forged: await echoesSeen(l.inet, '192.0.2.99', INET) };
  let g: GuestRun;
  try {
    g = await bootGuest({ ns: node, tap: 'tap0', mac: GANETI_MAC, env: { QG_TARGET4: INET, QG_TARGET6: INET6, QG_SPOOF4: '192.0.2.99', QG_SPOOF6: '2001:db8::99' } });
  } finally {
    await daemon.stop();
    daemon = null;
  }
  t.ok(g.ended, `the guest ran its script and powered off (${g.seconds.toFixed(1)} s)`, { console: g.output.slice(-3000) });
  t.match(g.results.lease4 ?? '', /^ip=192\.0\.2\.21$/m, 'DHCPv4 from vmrouter ndp: the NIC\'s IP');
  t.match(g.results.lease4 ?? '', /^router=192\.0\.2\.1$/m, 'the network\'s gateway as router');
  t.match(g.results.lease4 ?? '', /^hostname=vm21\.example\.org$/m, 'Ganeti\'s INSTANCE as host name');
  t.match(g.results.addr ?? '', new RegExp(`inet6 ${slaac}/64 scope global`), 'SLAAC: the guest\'s kernel took the EUI-64 address from the RA');
  t.equal(g.codes.ping4, 0, 'the guest pings the internet host over IPv4', { out: g.results.ping4 });
  t.equal(g.codes.ping6, 0, 'and over IPv6', { out: g.results.ping6 });
  t.ok((await echoesSeen(l.inet, '192.0.2.21', INET)) - seen.own >= 3, 'the internet host saw the guest\'s own address');
  t.not(g.codes.spoof4, 0, 'a forged IPv4 source gets no answer');
  t.not(g.codes.spoof6, 0, 'nor a forged IPv6 source');
  t.equal((await echoesSeen(l.inet, '192.0.2.99', INET)) - seen.forged, 0, 'and never reached the internet host');

  // the instance stops: qemu closes its TAPs, Ganeti runs no script
  await ganetiNicGone(node, 'tap0');
  await ganetiNicGone(node, 'tap1');
  const stale = await doctor();
  t.match(stale.stdout, /tap0/, 'doctor names the binding of the vanished TAP', { stdout: stale.stdout });
  await vmrouter(['repair'], { ns: node, ok: false });
  t.equal((await doctor()).code, 0, 'repair released it: doctor is clean');
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'the node\'s kernel state as before the instance started');
});

/** The XML libvirt 9.0 gave its hook in a fixture scenario, for this node: the fixture's third NIC (network private, 198.51.100.13) moved to network public. */
const hookXml = (file: string) => readFileSync(join(ROOT, 'test/fixtures/libvirt/hooks', file), 'utf8').replace('network="private"', 'network="public"').replace('198.51.100.13', '192.0.2.13');
const hook = (call: string, xml: string) => vmrouter(['libvirt-hook', 'lvtest1', ...call.split(' '), '-'], { ns: node, input: xml, ok: false });
const tapsOf = (xml: string) => [...xml.matchAll(/<target dev='([^']+)'/g)].map((m) => m[1]!);

t.test('libvirt: the qemu hook binds the NICs of the domain XML at started, unbinds them at stopped', async (t) => {
  const prepare = hookXml('start/000-prepare-begin.xml');
  const started = hookXml('start/002-started-begin.xml');
  const [managed, chosen, unmanaged] = tapsOf(started);
  t.same([managed, unmanaged], ['vm1-eth0', 'vm1-eth2'], `the TAPs libvirt made: vm1-eth0, ${chosen} (its own name), vm1-eth2 (managed='no')`);

  const wrong = await hook('prepare begin', prepare.replace('network="public"', 'network="nosuch"'));
  t.equal(wrong.code, 2, 'prepare begin, a NIC on an unknown network: refused (libvirt does not start the domain)');
  t.match(wrong.stderr, /domain lvtest1 NIC 52:54:00:00:00:11: network nosuch: no such network/, 'naming the domain, NIC and network');
  const ok = await hook('prepare begin', prepare);
  t.equal(ok.code, 0, 'prepare begin: the NICs check out', { stderr: ok.stderr });
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'and nothing is applied before qemu runs');

  // what libvirt leaves at started: its managed TAPs up, the unmanaged one (pre-created) down
  await createTap(node, managed!);
  await createTap(node, chosen!);
  await createTap(node, unmanaged!, { up: false });
  const up = await hook('started begin', started);
  t.equal(up.code, 0, 'started begin: exit 0', { stderr: up.stderr });
  t.equal(up.stdout, '', 'prints nothing');
  const r4 = await routes(4);
  for (const [addr, tap] of [['192.0.2.11', managed], ['192.0.2.12', chosen], ['192.0.2.13', unmanaged]]) t.match(r4, new RegExp(`^${addr.replaceAll('.', '\\.')} dev ${tap} `, 'm'), `${addr} routed to ${tap}`);
  t.match(await routes(6), /^2001:db8::11 dev vm1-eth0 /m, 'the metadata\'s IPv6 address too');
  t.match(await linkFlags(unmanaged!), /<[^>]*\bUP\b/, `${unmanaged} (managed='no', left down by libvirt) brought up`);
  t.equal((await doctor()).code, 0, 'doctor: as applied');
  const applied = await snapshot(node);

  // libvirtd restarted while the domain runs, after the NICs' routes were lost: reconnect repairs them
  await inNs(node, ['ip', 'route', 'del', '192.0.2.11', 'dev', managed!, 'table', '222']);
  await inNs(node, ['ip', '-6', 'route', 'del', '2001:db8::12', 'dev', chosen!, 'table', '222']);
  const reconnect = await hook('reconnect begin', hookXml('daemon-restart/000-reconnect-begin.xml').replaceAll("'vnet0'", `'${chosen}'`));
  t.equal(reconnect.code, 0, 'reconnect begin: exit 0', { stderr: reconnect.stderr });
  t.equal(snapshotDiff(applied, await snapshot(node)), '', 'the routes are back, nothing else changed');
  const broken = await hook('reconnect begin', '<domain><name>lvtest1');
  t.equal(broken.code, 0, 'reconnect with XML it cannot read: still exit 0 (a failure would make libvirt kill the VM)');
  t.match(broken.stderr, /not XML.*the domain keeps running/, 'and says why');

  for (const call of ['migrate begin', 'restore begin']) {
    const m = await hook(call, started);
    t.same([m.code, m.stdout], [0, ''], `${call}: exit 0 and no output (libvirt would take it as the new XML)`);
  }

  // virsh destroy: libvirt deletes the TAPs it made, sets the unmanaged one down, then calls the hook
  await inNs(node, ['ip', 'link', 'del', 'dev', managed!]);
  await inNs(node, ['ip', 'link', 'del', 'dev', chosen!]);
  await inNs(node, ['ip', 'link', 'set', 'dev', unmanaged!, 'down']);
  const stopped = hookXml('destroy/000-stopped-end.xml');
  t.notMatch(stopped, new RegExp(`'${chosen}'`), `the XML at stopped end no longer names ${chosen}`);
  const down = await hook('stopped end', stopped);
  t.equal(down.code, 0, 'stopped end: exit 0', { stderr: down.stderr });
  t.equal((await vmrouter(['status'], { ns: node })).stdout.match(/vm1-eth|vnet/g), null, `no binding left: ${chosen} unbound by MAC`);
  const release = await hook('release end', hookXml('destroy/001-release-end.xml'));
  t.equal(release.code, 0, 'release end: nothing left to do', { stderr: release.stderr });
  await inNs(node, ['ip', 'link', 'del', 'dev', unmanaged!]);
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'the node\'s kernel state as before the domain started');
});

t.test('the shipped libvirt hook is what runs: examples/libvirt/qemu execs vmrouter libvirt-hook', async (t) => {
  const text = readFileSync(join(ROOT, 'examples/libvirt/qemu'), 'utf8');
  t.match(text, /^exec \/usr\/sbin\/vmrouter libvirt-hook "\$@"$/m);
  // run as libvirt runs it, with the binary under test in place of /usr/sbin/vmrouter
  const script = text.replaceAll('/usr/sbin/vmrouter', BIN);
  const r = await run(['ip', 'netns', 'exec', node, 'sh', '-c', script, 'vmrouter', 'lvtest1', 'prepare', 'begin', '-'], { input: hookXml('start/000-prepare-begin.xml').replace('network="public"', 'network="nosuch"'), ok: false });
  t.equal(r.code, 2, 'its exit status is vmrouter\'s');
  t.match(r.stderr, /network nosuch: no such network/);
});

t.test('libvirt for real: a private libvirtd in the node runs the shipped hook as it starts and destroys domains', { skip: libvirtUnavailable() ?? false }, async (t) => {
  const hookScript = readFileSync(join(ROOT, 'examples/libvirt/qemu'), 'utf8').replaceAll('/usr/sbin/vmrouter', BIN);
  libvirt = await startLibvirt({ netns: node, hook: hookScript });
  const lv = libvirt;
  // managed='no': the operator made this TAP; libvirt only opens it and leaves it down
  await createTap(node, 'lv-eth2', { up: false });
  const nics = [
    { mac: '52:54:00:14:00:31', tap: 'lv-eth0', network: 'public', ips: ['192.0.2.31', '2001:db8::31'] },
    { mac: '52:54:00:14:00:32', network: 'public', ips: ['192.0.2.32'] },
    { mac: '52:54:00:14:00:33', tap: 'lv-eth2', unmanaged: true, network: 'public', ips: ['192.0.2.33'] },
  ];
  await defineAndDump(lv.uri, domainXml('lvvm1', nics));
  const live = await startDomain(lv.uri, 'lvvm1');
  const chosen = tapsOf(live).find((x) => x.startsWith('vnet'));
  t.ok(chosen, `libvirt named the second TAP itself (${chosen})`);
  const r4 = await routes(4);
  for (const [addr, tap] of [['192.0.2.31', 'lv-eth0'], ['192.0.2.32', chosen], ['192.0.2.33', 'lv-eth2']]) t.match(r4, new RegExp(`^${addr!.replaceAll('.', '\\.')} dev ${tap} `, 'm'), `virsh start: ${addr} routed to ${tap}`);
  t.match(await routes(6), /^2001:db8::31 dev lv-eth0 /m, 'and 2001:db8::31');
  t.match(await linkFlags('lv-eth2'), /<[^>]*\bUP\b/, 'the managed=no TAP brought up');
  t.equal((await doctor()).code, 0, 'doctor: as applied');

  // a domain on a network the node does not have: libvirt refuses to start it, with vmrouter's words
  await defineAndDump(lv.uri, domainXml('lvvm2', [{ mac: '52:54:00:14:00:41', tap: 'lv2-eth0', network: 'nosuch', ips: ['192.0.2.41'] }]));
  const refused = await lv.virsh(['start', 'lvvm2'], { ok: false });
  t.not(refused.code, 0, 'virsh start of a domain on an unknown network fails');
  t.match(refused.stdout + refused.stderr, /network nosuch: no such network/, 'with vmrouter\'s message');
  t.notMatch(await routes(4), /192\.0\.2\.41/, 'and binds nothing');

  await destroyDomain(lv.uri, 'lvvm1');
  t.equal((await vmrouter(['status'], { ns: node })).stdout.match(/lv-eth|vnet/g), null, 'virsh destroy: every NIC unbound (the vnetN one by MAC)');
  await lv.stop();
  libvirt = null;
  await inNs(node, ['ip', 'link', 'del', 'dev', 'lv-eth2']);
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'the node\'s kernel state as before libvirtd started');
});
