/**
 * `vmrouter plan ifup|ifdown IFACE`: what the hook would apply for every generated stanza of an
 * interface, networks and feature attachments alike, from the bundled example configurations.
 */
import { join } from 'node:path';
import t from 'tap';
import { ROOT, vmrouter } from '../lib/vmrouter.js';

const natCustomer = join(ROOT, 'examples', 'natpair', 'customer-node.conf');
const vnet = join(ROOT, 'examples', 'vnet', 'vmrouter.conf');
const routed = join(ROOT, 'examples', 'vmrouter.conf');

t.test('ifup of a feature interface prints its attachment, ifdown the exact reverse', async (t) => {
  const up = await vmrouter(['--config', natCustomer, 'plan', 'ifup', 'eth1', '--from-scratch']);
  t.match(up.stdout, /^# up natpair pod1 on eth1$/m);
  t.match(up.stdout, /^ip -4 addr add 198\.18\.0\.2\/27 dev eth1$/m);
  t.notMatch(up.stdout, /dev eth2\b/, 'only eth1\'s share');
  const down = await vmrouter(['--config', natCustomer, 'plan', 'ifdown', 'eth1', '--from-scratch']);
  t.match(down.stdout, /^# down natpair pod1 on eth1$/m);
  t.match(down.stdout, /^ip -4 addr del 198\.18\.0\.2\/27 dev eth1$/m);
  const added = up.stdout.split('\n').filter((l) => l.startsWith('ip -4 addr add')).length;
  const removed = down.stdout.split('\n').filter((l) => l.startsWith('ip -4 addr del')).length;
  t.ok(added > 1, `${added} addresses added`);
  t.equal(removed, added, 'every address added is removed');
});

t.test('--node keeps only that node\'s attachments', async (t) => {
  const router = await vmrouter(['--config', vnet, 'plan', 'ifup', 'eth1', '--node', 'r1', '--from-scratch']);
  t.match(router.stdout, /^# up vnet net1 on eth1$/m, 'a router\'s underlay carries the router side');
  const host = await vmrouter(['--config', vnet, 'plan', 'ifup', 'eth1', '--node', 'h1', '--from-scratch'], { ok: false });
  t.equal(host.code, 2, 'a host\'s underlay carries nothing of vmrouter');
  t.match(host.stderr, /eth1: no section of .* attaches to it for node h1/);
  const bridge = await vmrouter(['--config', vnet, 'plan', 'ifup', 'br_net1', '--node', 'h1', '--from-scratch']);
  t.match(bridge.stdout, /^# up vnet net1 on br_net1$/m, 'the host side is on the bridge');
});

t.test('a routed network\'s uplink plans the network', async (t) => {
  const gen = await vmrouter(['--config', routed, 'generate']);
  const uplink = /^iface (\S+) inet manual$/m.exec(gen.stdout)![1]!;
  const up = await vmrouter(['--config', routed, 'plan', 'ifup', uplink, '--from-scratch']);
  t.match(up.stdout, new RegExp(`^# up network \\S+ on ${uplink.replace(/\./g, '\\.')}$`, 'm'));
});

t.test('an interface with nothing on it, and a hostile name, are one-line errors', async (t) => {
  const none = await vmrouter(['--config', natCustomer, 'plan', 'ifup', 'eth9'], { ok: false });
  t.equal(none.code, 2);
  t.match(none.stderr, /^vmrouter: eth9: no section of .*customer-node\.conf attaches to it$/);
  const bad = await vmrouter(['--config', natCustomer, 'plan', 'ifdown', '../x;rm'], { ok: false });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^vmrouter: "\.\.\/x;rm": /);
});
