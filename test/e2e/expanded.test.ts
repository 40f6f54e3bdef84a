/**
 * Expanded stanzas (plain up/down lines, no vmrouter at ifup time) come from the same plan as compact
 * ones: after ifup both leave the same kernel objects, and after ifdown both leave the node exactly
 * as they found it — sysctls back at the values they had (not the kernel defaults), the shared nft
 * tables and node-wide settings gone with the last stanza that held them.
 */
import { existsSync, readdirSync } from 'node:fs';
import t from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { inNs } from '../lib/run.js';
import { etcFile } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureNode, vmcConf } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr2x-';
const lab = new Lab(PREFIX);
t.teardown(async () => {
  await lab.cleanup();
});

// two VMC networks on one node: they share the vmrouter nft tables and node-wide IPv6 forwarding
const TWO = `${vmcConf('eth1')}
[network private]
role = vmc
uplink = eth2
table = 333
subnet = 198.51.100.0/24
gateway = 198.51.100.1
arp_ip = 198.51.100.254
subnet6 = 2001:db8:1::/64
gateway6 = 2001:db8:1::1
`;

let node: string;
let baseline: string;
const state = () => `/run/vmrouter/netns/${node}/expanded`;
const sysctl = async (path: string) => (await inNs(node, ['cat', `/proc/sys/${path}`])).stdout.trim();

t.before(async () => {
  await Lab.sweep(PREFIX);
  node = await lab.ns('node');
  const peer = await lab.ns('peer');
  await lab.link(node, 'eth1', peer, 'eth0');
  await lab.link(node, 'eth2', peer, 'eth2');
  const vm = await lab.ns('vm-tap1');
  await lab.link(node, 'tap1', vm, 'eth0');
  await lab.up(node, 'tap1');
  etcFile(node, 'vmrouter/vmrouter.conf', TWO);
  // not the kernel defaults: what a tuned Debian node could have (rp_filter 2 comes from systemd's sysctl.d)
  await inNs(node, ['sysctl', '-q', '-w', 'net.ipv4.neigh.eth1.proxy_delay=50', 'net.ipv4.conf.eth1.rp_filter=2', 'net.ipv4.conf.eth2.forwarding=1']);
  baseline = await snapshot(node);
});

t.test('compact and expanded stanzas apply the same kernel state', async (t) => {
  await configureNode(node, TWO, 'compact');
  await ifupdown(node, 'ifup', 'eth1');
  await ifupdown(node, 'ifup', 'eth2');
  const compact = await snapshot(node);
  await ifupdown(node, 'ifdown', 'eth2');
  await ifupdown(node, 'ifdown', 'eth1');
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'compact: ifdown restores everything');

  const expanded = await configureNode(node, TWO, 'expanded');
  t.notMatch(expanded, /^\s+vmrouter-/m, 'expanded stanzas carry no vmrouter options');
  await ifupdown(node, 'ifup', 'eth1');
  await ifupdown(node, 'ifup', 'eth2');
  t.equal(snapshotDiff(compact, await snapshot(node)), '', 'expanded ifup leaves exactly the kernel state of compact ifup');
  t.equal(await sysctl('net/ipv4/neigh/eth1/proxy_delay'), '0', 'proxy_delay as the network wants it');
  t.ok(existsSync(`${state()}/sysctl-net-ipv6-conf-all-forwarding/network.public@eth1`), 'both stanzas hold node-wide IPv6 forwarding');
  t.ok(existsSync(`${state()}/sysctl-net-ipv6-conf-all-forwarding/network.private@eth2`));

  // tap up finds the network in /etc/vmrouter/vmrouter.conf (nothing recorded it as up)
  const beforeTap = await snapshot(node);
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.11', '--ip6', '2001:db8::11'], { ns: node });
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11 dev tap1/, 'tap up works with an expanded stanza');
  await vmrouter(['tap', 'down', '--tap', 'tap1'], { ns: node });
  t.equal(snapshotDiff(beforeTap, await snapshot(node)), '', 'tap down restores the state');
});

t.test('expanded ifdown: the shared objects stay while another stanza holds them, then go with the last', async (t) => {
  const up = await snapshot(node);
  await ifupdown(node, 'ifdown', 'eth1');
  t.equal(await sysctl('net/ipv4/neigh/eth1/proxy_delay'), '50', "eth1's proxy_delay back at the value it had, not the kernel's 80");
  t.equal(await sysctl('net/ipv4/conf/eth1/rp_filter'), '2', 'rp_filter as it was');
  t.equal(await sysctl('net/ipv6/conf/all/forwarding'), '1', 'IPv6 forwarding stays on: private still holds it');
  t.equal((await inNs(node, ['nft', 'list', 'table', 'inet', 'vmrouter'], { ok: false })).code, 0, 'so does the inet vmrouter table');
  t.match((await inNs(node, ['ip', '-4', 'rule', 'show'])).stdout, /lookup 333/, "private's rules are untouched");

  // ifup again: the holders are counted again, nothing is made twice
  await ifupdown(node, 'ifup', 'eth1');
  t.equal(snapshotDiff(up, await snapshot(node)), '', 'ifdown and ifup of one stanza: the same state');

  await ifupdown(node, 'ifdown', 'eth2');
  await ifupdown(node, 'ifdown', 'eth1');
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'after the last ifdown: exactly the state before (tables gone, every sysctl as it was)');
  t.same(readdirSync(state()), [], 'no holder is left in the state directory');
});
