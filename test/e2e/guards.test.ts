/**
 * Anti-spoofing beyond source addresses (issue 3): a VM cannot claim addresses in ARP, cannot act as a
 * router (RA guard) or as a DHCP server, and legitimate traffic still flows. Each attack is first
 * shown to work with the VM's TAP taken out of the guard, so the tests prove the guard, not luck.
 */
import t from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { inNs } from '../lib/run.js';
import { BIN } from '../lib/vmrouter.js';
import { buildRoutedLab, configureNode, configureVm, GW, INET, macOf, linkLocalOf, ping, routerConf, vmcConf, type RoutedLab } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';
import { dirname, join } from 'node:path';

const PREFIX = 'vr3g-';
const lab = new Lab(PREFIX);
t.teardown(() => lab.cleanup());
let l: RoutedLab;
let node: string, vm1: string;

t.before(async () => {
  await Lab.sweep(PREFIX);
  l = await buildRoutedLab(lab, { n: ['tap1', 'tap2'] });
  node = l.nodes[0]!;
  vm1 = l.vms.tap1!;
  await configureNode(node, vmcConf());
  await configureNode(l.router, routerConf);
  await ifupdown(l.router, 'ifup', 'eth0.222');
  await ifupdown(node, 'ifup', 'eth0.222');
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.11', '--ip6', '2001:db8::11'], { ns: node });
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap2', '--ip', '192.0.2.12'], { ns: node });
  await configureVm({ ns: vm1, ips: ['192.0.2.11'], ip6s: ['2001:db8::11'], gw6: 'tap' }, node, 'tap1');
  await configureVm({ ns: l.vms.tap2!, ips: ['192.0.2.12'], ip6s: [], gw6: 'tap' }, node, 'tap2');
});

/** packets counted by the vmrouter rule whose comment starts with `comment` */
async function counted(family: 'inet' | 'arp', chain: string, comment: string): Promise<number> {
  const text = (await inNs(node, ['nft', 'list', 'chain', family, 'vmrouter', chain])).stdout;
  const line = text.split('\n').find((x) => x.includes(`comment "${comment}`));
  if (!line) throw new Error(`no rule "${comment}" in ${family} ${chain}`);
  return Number(/counter packets (\d+)/.exec(line)![1]);
}

/** Takes tap1 out of (or puts it back into) a vmrouter set: the control experiment. */
const unguard = (family: string) => inNs(node, ['nft', `delete element ${family} vmrouter taps { "tap1" }`]);
const reguard = (family: string) => inNs(node, ['nft', `add element ${family} vmrouter taps { "tap1" }`]);

const neighOnTap1 = async (a: string) => (await inNs(node, ['ip', 'neigh', 'show', a, 'dev', 'tap1'])).stdout.trim();

t.test('a VM cannot claim addresses in ARP', async (t) => {
  // the VM takes an unused address and the address of the VM on tap2, and announces both
  for (const a of ['192.0.2.99', '192.0.2.12']) await inNs(vm1, ['ip', 'addr', 'add', `${a}/32`, 'dev', 'eth0']);
  const garp = (a: string) => inNs(vm1, ['arping', '-U', '-c', '2', '-w', '1', '-I', 'eth0', '-s', a, a], { ok: false });

  await unguard('arp');
  await garp('192.0.2.99');
  t.not(await neighOnTap1('192.0.2.99'), '', 'control: without the guard the node learns 192.0.2.99 behind tap1');
  await inNs(node, ['ip', 'neigh', 'flush', 'dev', 'tap1']);
  await reguard('arp');

  const dropped = await counted('arp', 'in', 'vmrouter: ARP from a VM');
  for (const a of ['192.0.2.99', '192.0.2.12']) await garp(a);
  t.ok((await counted('arp', 'in', 'vmrouter: ARP from a VM')) - dropped >= 4, 'the guard dropped the announcements');
  t.equal(await neighOnTap1('192.0.2.99'), '', 'the node learned nothing for 192.0.2.99');
  t.equal(await neighOnTap1('192.0.2.12'), '', 'nor for the address of the VM on tap2');
  t.notOk(await ping(l.router, '192.0.2.99', [], 1), 'the node does not answer ARP for the claimed address on the VLAN');
  t.notMatch((await inNs(l.router, ['ip', 'neigh', 'show', '192.0.2.99'])).stdout, new RegExp(await macOf(node, 'eth0.222')), 'the router has no entry pointing 192.0.2.99 at the node');
  t.ok(await ping(l.vms.tap2!, INET), 'the VM on tap2 keeps working');
  for (const a of ['192.0.2.99', '192.0.2.12']) await inNs(vm1, ['ip', 'addr', 'del', `${a}/32`, 'dev', 'eth0']);
  await inNs(node, ['ip', 'neigh', 'flush', 'dev', 'tap1']);
  t.ok(await ping(vm1, GW), 'and the VM itself still resolves and reaches its gateway');
});

/** A router advertisement for 2001:db8:bad::/64 from the VM's link-local, sent raw from inside the VM. */
async function sendRa(): Promise<void> {
  const mac = await macOf(vm1, 'eth0');
  const ll = await linkLocalOf(vm1, 'eth0');
  const addon = join(dirname(BIN), 'vmrouter_packet.node');
  const script = `
    const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)});
    const hex = (a) => a.split(':').map((h) => parseInt(h, 16));
    const v6 = (a) => { const [h, t] = a.split('::'); const p = (s) => s ? s.split(':') : []; const g = [...p(h), ...Array(8 - p(h).length - p(t).length).fill('0'), ...p(t)]; return g.flatMap((x) => [parseInt(x, 16) >> 8, parseInt(x, 16) & 255]); };
    const src = v6(${JSON.stringify(ll)}), dst = v6('ff02::1');
    const ra = [134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,
      1, 1, ...hex(${JSON.stringify(mac)}),
      3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0, 0, 0, ...v6('2001:db8:bad::')];
    const pseudo = [...src, ...dst, 0, 0, 0, ra.length, 0, 0, 0, 58, ...ra];
    let sum = 0; for (let i = 0; i < pseudo.length; i += 2) sum += (pseudo[i] << 8) + (pseudo[i + 1] || 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16); sum = ~sum & 0xffff; ra[2] = sum >> 8; ra[3] = sum & 255;
    const ip = [0x60, 0, 0, 0, 0, ra.length, 58, 255, ...src, ...dst];
    const frame = Buffer.from([0x33, 0x33, 0, 0, 0, 1, ...hex(${JSON.stringify(mac)}), 0x86, 0xdd, ...ip, ...ra]);
    const ifindex = Number(require('fs').readFileSync('/sys/class/net/eth0/ifindex', 'utf8'));
    for (let i = 0; i < 3; i++) m.exports.send(ifindex, frame);`;
  await inNs(vm1, ['node', '-e', script]);
  await new Promise((r) => setTimeout(r, 300));
}

t.test('a VM cannot act as a router (RA guard)', async (t) => {
  // As if the node accepted router advertisements on the TAP: a rogue RA would then install routes.
  await inNs(node, ['sysctl', '-q', '-w', 'net.ipv6.conf.tap1.accept_ra=2']);
  const raRoutes = async () => (await inNs(node, ['ip', '-6', 'route', 'show', 'proto', 'ra'])).stdout.trim();

  await unguard('inet');
  await sendRa();
  t.match(await raRoutes(), /^default via fe80::\S+ dev tap1/, 'control: without the guard the node takes the VM as its default router');
  await inNs(node, ['ip', '-6', 'route', 'flush', 'proto', 'ra']);
  await reguard('inet');

  const dropped = await counted('inet', 'guard', 'vmrouter: router advertisement');
  await sendRa();
  t.equal(await raRoutes(), '', 'with the guard the node installs nothing');
  t.ok((await counted('inet', 'guard', 'vmrouter: router advertisement')) - dropped >= 3, 'the RA guard dropped the advertisements');
  await inNs(node, ['sysctl', '-q', '-w', 'net.ipv6.conf.tap1.accept_ra=1']);
  t.ok(await ping(vm1, '2001:db8:ffff::2', ['-I', '2001:db8::11']), 'the VM\'s legitimate IPv6 traffic still flows');
});

t.test('a VM cannot act as a DHCP server', async (t) => {
  const send = () =>
    inNs(vm1, ['node', '-e', `const s = require('dgram').createSocket('udp4'); s.bind(67, () => { s.setBroadcast(true); let n = 0; const go = () => s.send(Buffer.alloc(300), 68, '255.255.255.255', () => { if (++n < 3) go(); else s.close(); }); go(); });`]);
  const dropped = await counted('inet', 'guard', 'vmrouter: DHCP server');
  await send();
  t.ok((await counted('inet', 'guard', 'vmrouter: DHCP server')) - dropped >= 3, 'DHCP offers from the VM are dropped');
  t.ok(await ping(vm1, INET), 'the VM\'s legitimate traffic still flows');
});
