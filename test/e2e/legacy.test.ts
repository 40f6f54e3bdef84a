/**
 * Nodes migrating from snf-network / gnt-networking keep their stanzas: the hook reads ip-* and arp-ip
 * options per address family, honours ip-proxy-arp (the old hook ignored it) and ip-forwarding 0
 * (the old hook wrote conf/all/forwarding anyway), and Ganeti's LINK names the table.
 */
import t from 'tap';
import { Lab, ifupdown, installHooks } from '../lib/netns.js';
import { inNs } from '../lib/run.js';
import { etcFile, singleNode } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr2l-';
const lab = new Lab(PREFIX);
t.teardown(() => lab.cleanup());

const stanza = (proxyArp: string, forwarding: string) => `
auto eth0.222
iface eth0.222 inet manual
    ip-routing-table snf_routed
    ip-routes 192.0.2.0/24
    ip-gateway 192.0.2.1
    ip-forwarding ${forwarding}
    ip-proxy-arp ${proxyArp}
    arp-ip 192.0.2.254

iface eth0.222 inet6 manual
    ip-routing-table snf_routed
    ip-routes 2001:db8::/64
    ip-gateway 2001:db8::1
    ip-forwarding ${forwarding}
    ip-proxy-ndp 1
`;

const sys = async (ns: string, path: string) => (await inNs(ns, ['cat', `/proc/sys/${path}`])).stdout.trim();

t.test('an snf-network stanza is applied by family, and removed', async (t) => {
  await Lab.sweep(PREFIX);
  const { node } = await singleNode(lab, 'eth0.222', ['tap1']);
  etcFile(node, 'iproute2/rt_tables', '255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n222\tsnf_routed\n');
  const baseline = await snapshot(node, { recreated: ['eth0.222'] });
  installHooks(node, stanza('1', '1'));
  await ifupdown(node, 'ifup', 'eth0.222');

  t.match((await inNs(node, ['ip', '-4', 'rule'])).stdout, /iif eth0\.222 lookup (222|snf_routed) proto 86/, 'IPv4 rule from the inet stanza, table by rt_tables name');
  t.match((await inNs(node, ['ip', '-6', 'rule'])).stdout, /to 2001:db8::\/64 iif eth0\.222 lookup (222|snf_routed) proto 86/, 'IPv6 rule from the inet6 stanza');
  t.match((await inNs(node, ['ip', '-6', 'route', 'show', 'table', '222'])).stdout, /default via 2001:db8::1 dev eth0\.222/, 'ip-gateway of the inet6 stanza is the IPv6 gateway');
  t.equal(await sys(node, 'net/ipv4/conf/eth0.222/proxy_arp'), '1', 'ip-proxy-arp 1 is honoured');
  t.equal(await sys(node, 'net/ipv4/conf/eth0.222/forwarding'), '1', 'ip-forwarding 1: forwarding on the interface');
  t.equal(await sys(node, 'net/ipv4/conf/all/forwarding'), '0', 'and not on conf/all');
  t.equal(await sys(node, 'net/ipv6/conf/eth0.222/proxy_ndp'), '1', 'ip-proxy-ndp 1');
  t.match((await inNs(node, ['nft', 'list', 'map', 'arp', 'vmrouter', 'arp_src'])).stdout, /"eth0\.222" : 192\.0\.2\.254/, 'arp-ip');
  const status = (await vmrouter(['status'], { ns: node })).stdout;
  t.match(status, /^network eth0_222 on eth0\.222 \(inet\): role vmc, table 222$/m, 'status lists the inet stanza');
  t.match(status, /^network eth0_222 on eth0\.222 \(inet6\): role vmc, table 222$/m, 'and the inet6 stanza of the same network');

  // Ganeti's kvm-ifup: LINK is the routing table of the routed NIC
  await vmrouter(['tap', 'up'], { ns: node, env: { INTERFACE: 'tap1', MODE: 'routed', LINK: 'snf_routed', IP: '192.0.2.11', MAC: '52:54:00:00:00:11' } });
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11 dev tap1/, 'IPv4 host route');
  t.match((await inNs(node, ['ip', '-6', 'route', 'show', 'table', '222'])).stdout, /2001:db8::5054:ff:fe00:11 dev tap1/, 'EUI-64 host route from the inet6 half');
  await vmrouter(['tap', 'down'], { ns: node, env: { INTERFACE: 'tap1', MODE: 'routed' } });
  await ifupdown(node, 'ifdown', 'eth0.222');
  await lab.link(node, 'eth0.222', `${PREFIX}peer`, 'eth0');
  await inNs(`${PREFIX}peer`, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  t.equal(snapshotDiff(baseline, await snapshot(node, { recreated: ['eth0.222'] })), '', 'ifdown restores the state before');
});

t.test('ip-proxy-arp 0 and ip-forwarding 0 are honoured', async (t) => {
  const node = `${PREFIX}node`;
  installHooks(node, stanza('0', '0'));
  const baseline = await snapshot(node, { recreated: ['eth0.222'] });
  await ifupdown(node, 'ifup', 'eth0.222');
  t.equal(await sys(node, 'net/ipv4/conf/eth0.222/proxy_arp'), '0', 'proxy ARP left off');
  t.equal(await sys(node, 'net/ipv4/conf/eth0.222/forwarding'), '0', 'forwarding left alone on the interface');
  t.equal(await sys(node, 'net/ipv4/conf/all/forwarding'), '0', 'and on conf/all');
  t.equal(await sys(node, 'net/ipv6/conf/all/forwarding'), '0', 'and for IPv6');
  await ifupdown(node, 'ifdown', 'eth0.222');
  await lab.link(node, 'eth0.222', `${PREFIX}peer`, 'eth0');
  t.equal(snapshotDiff(baseline, await snapshot(node, { recreated: ['eth0.222'] })), '', 'ifdown restores the state before');
});
