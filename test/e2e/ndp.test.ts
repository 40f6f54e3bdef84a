/**
 * The responder (`vmrouter ndp`, issue 4) on the real kernel: a VMC node with the daemon running,
 * VMs whose own stacks (SLAAC, rdisc6, dhclient) configure themselves from its answers, TAPs bound
 * and unbound while it runs, and VM traffic untouched once it is stopped. Every claim is checked in
 * what the VM received or configured, not in the daemon's exit code.
 *
 * vm1 (tap1): accept_ra=2, no static IPv6: SLAAC, rdisc6, DHCPv6 Information-Request
 * vm2 (tap2): stable-privacy link-local, accept_ra=0: rdisc6, RS from ::, DHCPv4 with a host name,
 *             later static IPv4/IPv6 with the daemon stopped
 * vm3 (tap3): unbound at first (no answers), bound while the daemon runs, then unbound again
 */
import { readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { Capture, Daemon, eui64, pidFromFile, sendFrames, stopPid, waitFor, type Frame, type Packet } from '../lib/ndp.js';
import { echoesSeen, installProbe, reaches } from '../lib/probe.js';
import { inNs } from '../lib/run.js';
import { buildRoutedLab, configureNode, configureVm, INET, INET6, linkLocalOf, macOf, ping, routerConf, vmcConf, type RoutedLab } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr4n-';
const DIR = '/tmp/vr4n';
const CONF = join(DIR, 'vmrouter.conf');
const lab = new Lab(PREFIX);
let l: RoutedLab;
let node: string, vm1: string, vm2: string, vm3: string;
let mac1: string, mac2: string, mac3: string;
let daemon: Daemon | null = null;
/** dhclients this file started (they fork into the background): stopped in teardown whatever happens */
const pidFiles: string[] = [];

const ANSWERS = '(icmp6 and (ip6[40] == 134 or ip6[40] == 136)) or (udp and (src port 547 or src port 67))';
const RA = 'icmp6 and ip6[40] == 134';
const now = () => Date.now() / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tapUp = (args: string[]) => vmrouter(['--config', CONF, 'tap', 'up', '--network', 'public', ...args], { ns: node });
const sysctl = (ns: string, ...settings: string[]) => inNs(ns, ['sysctl', '-q', '-w', ...settings]);

t.before(async () => {
  await Lab.sweep(PREFIX);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  l = await buildRoutedLab(lab, { n: ['tap1', 'tap2', 'tap3'] });
  node = l.nodes[0]!;
  [vm1, vm2, vm3] = [l.vms.tap1!, l.vms.tap2!, l.vms.tap3!];
  await configureNode(node, vmcConf());
  await configureNode(l.router, routerConf);
  await ifupdown(l.router, 'ifup', 'eth0.222');
  await ifupdown(node, 'ifup', 'eth0.222');
  writeFileSync(
    CONF,
    `${vmcConf()}
[ndp]
nameservers = 2001:db8::53
domains = example.org
mtu = 1400

[dhcp]
nameservers = 192.0.2.53
domain = example.org
`,
  );
  [mac1, mac2, mac3] = [await macOf(vm1, 'eth0'), await macOf(vm2, 'eth0'), await macOf(vm3, 'eth0')];
  // the VMs' links are still down (as a VM not booted yet): their IPv6 settings apply from the first link-up
  await sysctl(vm1, 'net.ipv6.conf.eth0.accept_ra=2');
  await sysctl(vm2, 'net.ipv6.conf.eth0.stable_secret=2001:db8:1234:5678:9abc:def0:1234:5678', 'net.ipv6.conf.eth0.addr_gen_mode=2', 'net.ipv6.conf.eth0.accept_ra=0');
  // tap1: no --ip6, so vmrouter derives the EUI-64 address of --mac; tap3 stays unbound for now
  await tapUp(['--tap', 'tap1', '--mac', mac1, '--ip', '192.0.2.11']);
  await tapUp(['--tap', 'tap2', '--mac', mac2, '--ip', '192.0.2.12', '--ip6', '2001:db8::12', '--hostname', 'vm2']);
  await installProbe(l.inet);
  daemon = await Daemon.start(node, CONF);
});

t.teardown(async () => {
  for (const f of pidFiles) {
    const pid = pidFromFile(f);
    if (pid) await stopPid(pid);
  }
  if (daemon) await daemon.stop();
  await lab.cleanup();
  rmSync(DIR, { recursive: true, force: true });
  for (const ns of [`${PREFIX}n`, `${PREFIX}rt`]) rmSync(`/tmp/${ns}.conf`, { force: true });
});

t.test('SLAAC: a VM with no IPv6 configuration takes its address and default route from the RA', async (t) => {
  const slaac = eui64('2001:db8::', mac1);
  t.match((await inNs(node, ['ip', '-6', 'route', 'show', 'table', '222'])).stdout, new RegExp(`^${slaac} dev tap1 `, 'm'), `vmrouter derived ${slaac} from --mac and routes it to tap1`);
  await inNs(vm1, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  const tapLL = await linkLocalOf(node, 'tap1');
  t.equal(await linkLocalOf(vm1, 'eth0'), eui64('fe80::', mac1), 'the VM\'s link-local is the EUI-64 of its MAC');

  const addr = await waitFor(async () => {
    const out = (await inNs(vm1, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout;
    return out.includes(`${slaac}/64`) && !/tentative/.test(out) ? out : '';
  }, 15_000);
  t.match(addr, new RegExp(`inet6 ${slaac}/64 scope global dynamic`), 'the VM configured the SLAAC address (dynamic: from the prefix of an RA)');
  const route = await waitFor(async () => (await inNs(vm1, ['ip', '-6', 'route', 'show', 'default'])).stdout.trim(), 5_000);
  t.match(route, new RegExp(`^default via ${tapLL} dev eth0 proto ra .*mtu 1400`), 'default route via the TAP\'s link-local, learned from the RA (with its MTU)');

  const before = await echoesSeen(l.inet, slaac, INET6);
  t.ok(await ping(vm1, INET6), 'the VM reaches the internet host over IPv6');
  t.ok((await echoesSeen(l.inet, slaac, INET6)) - before >= 2, `the internet host received the echo requests from the SLAAC address ${slaac}`);
});

t.test('rdisc6 shows every field of the RA', async (t) => {
  const tapLL = await linkLocalOf(node, 'tap1');
  const r = await inNs(vm1, ['rdisc6', '-1', 'eth0'], { ok: false });
  t.equal(r.code, 0, 'rdisc6 got an answer');
  const out = r.stdout;
  t.match(out, /Stateful address conf\.\s*:\s*No\n/, 'M flag clear: addresses by SLAAC');
  t.match(out, /Stateful other conf\.\s*:\s*Yes\n/, 'O flag set: DHCPv6 for other configuration');
  t.match(out, /Router lifetime\s*:\s*1800 \(/, 'router lifetime 1800 s');
  t.match(out, /MTU\s*:\s*1400 bytes/, 'MTU 1400');
  t.match(out, /Prefix\s*:\s*2001:db8::\/64\n\s*On-link\s*:\s*Yes\n\s*Autonomous address conf\.\s*:\s*Yes\n/, 'prefix 2001:db8::/64, on-link and autonomous');
  t.match(out, /Recursive DNS server\s*:\s*2001:db8::53\n/, 'RDNSS 2001:db8::53');
  t.match(out, /DNS search list\s*:\s*example\.org\s*\n/, 'DNSSL example.org');
  t.match(out, new RegExp(`from ${tapLL}\\s*$`), 'sent by the TAP\'s link-local');
});

t.test('a stable-privacy link-local and an RS from :: are answered', async (t) => {
  await inNs(vm2, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  const all = await Capture.start(vm2, RA, { inbound: true }); // every RA vm2 gets from now on
  const vmLL = await linkLocalOf(vm2, 'eth0');
  const tapLL = await linkLocalOf(node, 'tap2');
  t.not(vmLL, eui64('fe80::', mac2), `the VM's link-local ${vmLL} is not the EUI-64 of its MAC`);
  t.match((await inNs(vm2, ['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout, /stable-privacy/, 'the kernel made it stable-privacy (RFC 7217)');

  // the TAP's own link-local has just finished DAD: the daemon greets the VM once it can send from it
  const greeting = await all.waitFor((p) => p.head.includes(`${tapLL} > ff02::1:`), 10_000);
  t.ok(greeting, 'the daemon greeted the TAP with a multicast RA once the TAP\'s link-local was usable');

  const r = await inNs(vm2, ['rdisc6', '-1', 'eth0'], { ok: false });
  t.equal(r.code, 0, 'rdisc6 from the stable-privacy address got an answer');
  t.match(r.stdout, new RegExp(`Router lifetime\\s*:\\s*1800 [\\s\\S]*from ${tapLL}`), 'a full RA from the TAP');
  t.ok(await all.waitFor((p) => p.head.includes(`${tapLL} > ${vmLL}:`), 2_000), 'the answer was unicast to the stable-privacy address');

  // RS from ::: the answer is multicast, and multicast RAs on a TAP are at most one per 3 s; unsolicited
  // ones (from bind time) are at least 16 s apart. Send it 3.3 s after the last multicast RA, so that the
  // only RA that can reach the VM in the next 3 s is the answer.
  const last = all.packets.filter((p) => p.head.includes('> ff02::1:')).at(-1)!.time;
  await sleep(Math.max(0, (last + 3.3 - now()) * 1000));
  t.ok(now() + 3.5 < last + 16, 'no unsolicited RA is due in the capture window');
  const one = await Capture.start(vm2, RA, { verbose: true, count: 1, timeout: 3, inbound: true });
  const sent = now();
  await sendFrames(vm2, [{ kind: 'rs', src: '::' }]);
  const [ra] = await one.finished();
  t.ok(ra, 'an RA arrived within 3 s of the RS from ::');
  t.match(ra?.head ?? '', new RegExp(`^IP6 .*${tapLL} > ff02::1: .*router advertisement`), 'multicast to all-nodes from the TAP\'s link-local');
  t.ok((ra?.time ?? 0) >= sent - 0.01, 'after the RS');
  t.match(ra?.text ?? '', /router lifetime 1800s/, 'a full RA (router lifetime 1800 s)');
  await all.stop();
});

t.test('DHCPv6 Information-Request: DNS servers and search list; the server DUID survives a restart', async (t) => {
  const inform = async (run: number) => {
    // the script dhclient runs: its environment is what dhclient learned
    const script = join(DIR, `dhclient6-${run}.sh`);
    const file = join(DIR, `dhcp6-env-${run}`);
    writeFileSync(script, `#!/bin/sh\n{ echo "--- $reason"; env | sort; } >> ${file}\n`);
    chmodSync(script, 0o755);
    const pf = join(DIR, `dhclient6-${run}.pid`);
    pidFiles.push(pf);
    const r = await inNs(vm1, ['dhclient', '-6', '-S', '-1', '-sf', script, '-lf', join(DIR, `dhclient6-${run}.leases`), '-pf', pf, 'eth0'], { ok: false });
    t.equal(r.code, 0, `run ${run}: dhclient -6 -S succeeded`);
    const pid = pidFromFile(pf);
    if (pid) await stopPid(pid);
    const env = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const value = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(env)?.[1];
    return { names: value('new_dhcp6_name_servers'), search: value('new_dhcp6_domain_search'), server: value('new_dhcp6_server_id') };
  };
  const first = await inform(1);
  t.equal(first.names, '2001:db8::53', 'new_dhcp6_name_servers=2001:db8::53');
  t.equal(first.search, 'example.org.', 'new_dhcp6_domain_search=example.org.');
  t.match(first.server ?? '', /^0:4(:[0-9a-f]{1,2}){16}$/, 'the server id is a DUID-UUID (type 4)');
  const machineId = readFileSync('/etc/machine-id', 'utf8').trim();
  if (/^[0-9a-f]{32}$/.test(machineId)) {
    const expected = ['0', '4', ...machineId.match(/../g)!.map((h) => parseInt(h, 16).toString(16))].join(':');
    t.equal(first.server, expected, 'made from /etc/machine-id');
  }

  t.same(await daemon!.stop(), { code: 0, signal: undefined }, 'the daemon stopped (exit 0)');
  daemon = await Daemon.start(node, CONF);
  const second = await inform(2);
  t.equal(second.names, '2001:db8::53', 'the restarted daemon answers too');
  t.equal(second.server, first.server, 'same server id after the restart (stable DUID)');
});

t.test('DHCPv4: the bound address, router, DNS server and host name', async (t) => {
  const lf = join(DIR, 'dhclient4.leases');
  const pf = join(DIR, 'dhclient4.pid');
  pidFiles.push(pf);
  const r = await inNs(vm2, ['dhclient', '-4', '-1', '-sf', '/bin/true', '-lf', lf, '-pf', pf, 'eth0'], { ok: false });
  t.equal(r.code, 0, 'dhclient -4 got a lease');
  const pid = pidFromFile(pf);
  if (pid) await stopPid(pid); // it forked into the background once bound
  const lease = existsSync(lf) ? readFileSync(lf, 'utf8') : '';
  t.match(lease, /fixed-address 192\.0\.2\.12;/, 'fixed-address = the bound IPv4 address');
  t.match(lease, /option subnet-mask 255\.255\.255\.0;/, 'subnet mask of the /24');
  t.match(lease, /option routers 192\.0\.2\.1;/, 'router 192.0.2.1 (the gateway)');
  t.match(lease, /option domain-name-servers 192\.0\.2\.53;/, 'DNS server 192.0.2.53');
  t.match(lease, /option host-name "vm2";/, 'host name from tap up --hostname');
  t.match(lease, /option domain-name "example\.org";/, 'domain name example.org');
  t.match(lease, /option dhcp-server-identifier 192\.0\.2\.1;/, 'server identifier = gateway');
  t.match(lease, /option dhcp-lease-time 86400;/, 'default lease time');
});

t.test('frames from an unbound TAP get no answer', async (t) => {
  await inNs(vm3, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  await linkLocalOf(vm3, 'eth0');
  await linkLocalOf(node, 'tap3');
  const frames: Frame[] = [
    { kind: 'rs' },
    { kind: 'rs', src: '::' },
    { kind: 'ns', target: '2001:db8::77' },
    { kind: 'dhcp6', type: 11 },
    { kind: 'dhcp4', type: 1 },
  ];
  const unbound = await Capture.start(vm3, ANSWERS, { verbose: true, inbound: true });
  const control = await Capture.start(vm2, ANSWERS, { verbose: true, inbound: true });
  const before = await daemon!.stats();
  await Promise.all([sendFrames(vm3, frames, { repeat: 3, gapMs: 300 }), sendFrames(vm2, frames, { repeat: 3, gapMs: 300 })]);
  const tap2LL = await linkLocalOf(node, 'tap2');
  const got = (p: (x: Packet) => boolean) => control.waitFor(p, 4_000);
  // control: the same frames on a bound TAP are answered, and this capture sees the answers
  t.ok(await got((p) => /router advertisement/.test(p.head) && p.head.includes(tap2LL)), 'control (bound tap2): RA');
  t.ok(await got((p) => /neighbor advertisement, .*tgt is 2001:db8::77/.test(p.head)), 'control: NA for 2001:db8::77');
  t.ok(await got((p) => /\.547 > .*dhcp6 reply/.test(p.head)), 'control: DHCPv6 Reply');
  t.ok(await got((p) => /192\.0\.2\.1\.67 > /.test(p.text) && /DHCP-Message.*Offer/s.test(p.text)), 'control: DHCPv4 OFFER');
  await sleep(1_000);
  const after = await daemon!.stats();
  t.ok((after.received.unbound ?? 0) - (before.received.unbound ?? 0) >= 15, 'the daemon received the 15 frames from the unbound TAP');
  t.same(await unbound.stop(), [], 'the VM on the unbound TAP received nothing (no RA, NA, DHCPv6 or DHCPv4 answer)');
  await control.stop();
});

t.test('a TAP bound while the daemon runs is served within a second', async (t) => {
  const tapLL = await linkLocalOf(node, 'tap3');
  const cap = await Capture.start(vm3, RA, { verbose: true, inbound: true });
  const start = now();
  await tapUp(['--tap', 'tap3', '--mac', mac3, '--ip', '192.0.2.13']);
  const returned = now();
  const ra = await cap.waitFor((p) => p.head.includes(`${tapLL} > ff02::1:`), 3_000);
  await cap.stop();
  t.ok(ra, 'the VM received an RA from its TAP');
  t.ok(ra && ra.time >= start, 'sent after tap up started');
  t.ok(ra && ra.time - returned < 1, `less than 1 s after tap up returned (${ra ? (ra.time - returned).toFixed(3) : '-'} s)`);
  t.match(ra?.text ?? '', /router lifetime 1800s/, 'a full RA');
});

t.test('unbinding a TAP sends router lifetime 0', async (t) => {
  const tapLL = await linkLocalOf(node, 'tap3');
  const cap = await Capture.start(vm3, RA, { verbose: true, inbound: true });
  await vmrouter(['--config', CONF, 'tap', 'down', '--tap', 'tap3'], { ns: node });
  const ra = await cap.waitFor((p) => /router lifetime 0s/.test(p.text), 3_000);
  await cap.stop();
  t.ok(ra, 'the VM received an RA with router lifetime 0');
  t.match(ra?.head ?? '', new RegExp(`${tapLL} > ff02::1:`), 'from its TAP, to all-nodes');
});

t.test('with the daemon stopped VM traffic is unaffected', async (t) => {
  const tapLL = await linkLocalOf(node, 'tap1');
  t.match((await inNs(vm1, ['ip', '-6', 'route', 'show', 'default'])).stdout, /proto ra/, 'vm1 has its RA default route');
  const cap = await Capture.start(vm1, RA, { verbose: true, inbound: true });
  const stopped = await daemon!.stop();
  daemon = null;
  t.same(stopped, { code: 0, signal: undefined }, 'SIGTERM: exit 0');
  const ra = await cap.waitFor((p) => /router lifetime 0s/.test(p.text), 2_000);
  await cap.stop();
  t.ok(ra && ra.head.includes(`${tapLL} > ff02::1:`), 'a final RA with router lifetime 0 went out on the TAP');
  t.notMatch((await inNs(vm1, ['ip', '-6', 'route', 'show', 'default'])).stdout, /proto ra/, 'vm1 dropped the default route (it is no longer told to use one)');

  // a VM configured statically does not need the daemon at all
  await configureVm({ ns: vm2, ips: ['192.0.2.12'], ip6s: ['2001:db8::12'], gw6: 'gateway6' }, node, 'tap2');
  await reaches(t, 'IPv4 VM → internet', vm2, INET, l.inet, '192.0.2.12');
  await reaches(t, 'IPv6 VM → internet (default via gateway6 onlink)', vm2, INET6, l.inet, '2001:db8::12');

  const drops = async () => Number(/counter packets (\d+) bytes \d+ drop comment "vmrouter: source address not bound/.exec((await inNs(node, ['nft', 'list', 'chain', 'inet', 'vmrouter', 'guard'])).stdout)![1]);
  const dropped = await drops();
  await inNs(vm2, ['ip', 'addr', 'add', '192.0.2.99/32', 'dev', 'eth0']);
  await inNs(vm2, ['ip', '-6', 'addr', 'add', '2001:db8::99/128', 'dev', 'eth0', 'nodad']);
  for (const [src, dst] of [['192.0.2.99', INET], ['2001:db8::99', INET6]] as const) {
    const before = await echoesSeen(l.inet, src, dst);
    t.notOk(await ping(vm2, dst, ['-I', src]), `forged ${src} → ${dst} gets no answer`);
    t.equal(await echoesSeen(l.inet, src, dst), before, `forged ${src} never reached the internet host`);
  }
  t.ok((await drops()) - dropped >= 4, 'the guard dropped the forged packets');
});
