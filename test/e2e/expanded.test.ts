/**
 * Expanded stanzas (plain up/down lines, no vmrouter at ifup time) come from the same plan as compact
 * ones: after ifup both leave the same kernel objects. Their down lines cannot count holders, so they
 * leave the shared objects (the empty vmrouter nft tables, node-wide IPv6 forwarding) in place — and
 * nothing else.
 */
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import t from 'tap';
import { Lab, ifupdown, writeInterfaces } from '../lib/netns.js';
import { inNs } from '../lib/run.js';
import { etcFile, singleNode } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureNode, vmcConf } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr2x-';
const lab = new Lab(PREFIX);
// `ip netns exec` bind-mounts /etc/netns/NS/vmrouter over /etc/vmrouter, which must exist as a mount point
const madeEtc = !existsSync('/etc/vmrouter');
if (madeEtc) mkdirSync('/etc/vmrouter');
t.teardown(async () => {
  await lab.cleanup();
  if (madeEtc) rmdirSync('/etc/vmrouter');
});

t.test('compact and expanded stanzas apply the same kernel state', async (t) => {
  await Lab.sweep(PREFIX);
  const { node } = await singleNode(lab, 'eth1', ['tap1']);
  const conf = vmcConf('eth1');
  etcFile(node, 'vmrouter/vmrouter.conf', conf);
  const baseline = await snapshot(node);

  await configureNode(node, conf, 'compact');
  await ifupdown(node, 'ifup', 'eth1');
  const compact = await snapshot(node);
  await ifupdown(node, 'ifdown', 'eth1');
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'compact: ifdown restores everything');

  const expanded = (await vmrouter(['--config', `/etc/netns/${node}/vmrouter/vmrouter.conf`, 'generate', '--style', 'expanded'])).stdout;
  t.notMatch(expanded, /vmrouter-/, 'expanded stanzas carry no vmrouter options');
  writeInterfaces(node, expanded);
  await ifupdown(node, 'ifup', 'eth1');
  t.equal(snapshotDiff(compact, await snapshot(node)), '', 'expanded ifup leaves exactly the kernel state of compact ifup');

  // tap up finds the network in /etc/vmrouter/vmrouter.conf (nothing recorded it as up)
  const beforeTap = await snapshot(node);
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.11', '--ip6', '2001:db8::11'], { ns: node });
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11 dev tap1/, 'tap up works with an expanded stanza');
  await vmrouter(['tap', 'down', '--tap', 'tap1'], { ns: node });
  t.equal(snapshotDiff(beforeTap, await snapshot(node)), '', 'tap down restores the state');

  await ifupdown(node, 'ifdown', 'eth1');
  const left = snapshotDiff(baseline, await snapshot(node))
    .split('\n')
    .filter((l) => l !== '');
  const unexpected = left.filter((l) => !/^\+ (table (inet|arp) vmrouter|\s|\}|$)/.test(l) && !/^[-+] \/proc\/sys\/net\/ipv6\/conf\/[^/]+\/forwarding:[01]$/.test(l));
  t.same(unexpected, [], 'expanded down leaves only the shared objects');
  t.ok(left.some((l) => l === '+ table inet vmrouter {'), 'the empty vmrouter table is what stays');
  await inNs(node, ['nft', 'delete', 'table', 'inet', 'vmrouter']);
  await inNs(node, ['nft', 'delete', 'table', 'arp', 'vmrouter']);
  await inNs(node, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=0']);
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'removing those by hand gives the state before');
});
