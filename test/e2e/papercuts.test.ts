/**
 * What got in the way of a new user (issue 14), each on the real kernel: hooks that read the
 * configuration `generate` was given (vmrouter-config), `tap up` on a TAP that is still down (a
 * real TAP from /dev/net/tun, as qemu opens it), `tap down` with the flags of `tap up`, and `vnet
 * place|unplace` without --network when the configuration has one [vnet].
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { Lab, ifupdown, installHooks } from '../lib/netns.js';
import { inNs } from '../lib/run.js';
import { etcFile } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { vnetHostConf } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr5p-';
const lab = new Lab(PREFIX);
const DIR = '/tmp/vr5p-site';
const SITE = `${DIR}/site.conf`;
const PLACEMENTS = `${DIR}/net1.placements`;
const CONF = `
[network public]
role = vmc
uplink = eth2
table = 222
subnet = 192.0.2.0/24
gateway = 192.0.2.1
arp_ip = 192.0.2.254

${vnetHostConf(PLACEMENTS)}`;
// the operator's own underlay stanza, before the generated ones
const UNDERLAY = 'auto eth1\niface eth1 inet static\n    address 192.168.56.103/24\n';

let node: string;
let baseline: string;

t.before(async () => {
  await Lab.sweep(PREFIX);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  writeFileSync(SITE, CONF);
  node = await lab.ns('h1');
  const peer = await lab.ns('peer');
  await lab.link(node, 'eth1', peer, 'eth1');
  await lab.link(node, 'eth2', peer, 'eth2');
  await lab.up(peer, 'eth1');
  await inNs(peer, ['ip', 'addr', 'add', '192.168.56.101/24', 'dev', 'eth1']);
  // the node's /etc/vmrouter holds no vmrouter.conf: only the site file exists
  etcFile(node, 'vmrouter/README', 'the configuration is in /tmp/vr5p-site\n');
  baseline = await snapshot(node);
});
t.teardown(async () => {
  await lab.cleanup();
  rmSync(DIR, { recursive: true, force: true });
});

t.test('generate --config FILE: the stanzas name FILE, and ifup reads it', async (t) => {
  const { stdout } = await vmrouter(['--config', SITE, 'generate', '--node', 'h1'], { ns: node });
  t.match(stdout, /iface br_net1 inet manual\n {4}vmrouter-vnet net1\n {4}vmrouter-config \/tmp\/vr5p-site\/site\.conf\n {4}vmrouter-create yes$/m, 'the feature stanza names the file');
  t.notMatch(stdout, /iface eth2 inet manual\n(?: {4}.*\n)* {4}vmrouter-config/, 'a routed network stanza carries its keys and needs none');
  installHooks(node, `${UNDERLAY}\n${stdout}`);
  await ifupdown(node, 'ifup', 'eth1');
  await ifupdown(node, 'ifup', 'br_net1');
  await ifupdown(node, 'ifup', 'eth2');
  t.match((await inNs(node, ['ip', '-4', 'rule', 'show'])).stdout, /iif br_net1 lookup 101/, 'the vnet is up, read from the site file');
  t.match((await vmrouter(['status'], { ns: node })).stdout, /vnet net1 on br_net1/);
});

t.test('tap up on a TAP that is still down brings it up; tap down takes the same flags', async (t) => {
  // a real TAP, as qemu or Ganeti's kvm-ifup get it: down, no carrier until the guest's NIC opens it
  await inNs(node, ['ip', 'tuntap', 'add', 'dev', 'tap1', 'mode', 'tap']);
  const before = await snapshot(node);
  const flags = ['--network', 'public', '--tap', 'tap1', '--mac', '52:54:00:00:00:11', '--ip', '192.0.2.11'];
  const admin = async () => ((await inNs(node, ['ip', '-o', 'link', 'show', 'dev', 'tap1'])).stdout.match(/<([^>]*)>/)?.[1] ?? '').split(',').includes('UP');
  t.notOk(await admin(), 'tap1 is down');
  await vmrouter(['--config', SITE, 'tap', 'up', ...flags], { ns: node });
  t.ok(await admin(), 'tap up set it up');
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11 dev tap1/, 'its host route is in table 222');

  const wrong = await vmrouter(['--config', SITE, 'tap', 'down', '--network', 'other', '--tap', 'tap1'], { ns: node, ok: false });
  t.equal(wrong.code, 2, 'tap down --network of another network: refused');
  t.match(wrong.stderr, /--tap tap1 is bound to network public, not other: nothing was unbound/);
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11 dev tap1/, 'still bound');

  await vmrouter(['--config', SITE, 'tap', 'down', ...flags], { ns: node });
  t.equal(snapshotDiff(before, await snapshot(node)), '', "tap down with tap up's flags: the state before, the TAP down again");
  await inNs(node, ['ip', 'link', 'del', 'dev', 'tap1']);
});

t.test('vnet place|unplace: --network is optional with one [vnet]', async (t) => {
  await vmrouter(['--config', SITE, 'vnet', 'place', 'vm9', 'h1', '10.10.10.99']);
  t.equal(readFileSync(PLACEMENTS, 'utf8'), 'vm9 h1 10.10.10.99\n', 'place wrote the line');
  await vmrouter(['--config', SITE, 'vnet', 'unplace', 'vm9']);
  t.equal(readFileSync(PLACEMENTS, 'utf8'), '', 'unplace removed it');
  const two = `${DIR}/two.conf`;
  writeFileSync(two, `${CONF}\n${CONF.slice(CONF.indexOf('[vnet net1]')).replace('[vnet net1]', '[vnet net2]').replace(/10\.10\.10\./g, '10.10.20.').replace('br_net1', 'br_net2').replace('table = 101', 'table = 102').replace('net1.placements', 'net2.placements')}`);
  const r = await vmrouter(['--config', two, 'vnet', 'place', 'vm9', 'h1', '10.10.10.99'], { ok: false });
  t.equal(r.code, 2, 'with two, the network must be named');
  t.match(r.stderr, /--network is required: .*two\.conf has 2 \[vnet NAME\] sections \(net1, net2\)/);
});

t.test('ifdown: the node as before', async (t) => {
  for (const dev of ['eth2', 'br_net1', 'eth1']) await ifupdown(node, 'ifdown', dev);
  t.equal(snapshotDiff(baseline, await snapshot(node)), '', 'kernel state = before');
});
