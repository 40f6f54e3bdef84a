/**
 * Bad input gets one clear line naming file, line, section and key (exit 2) and changes nothing; a
 * step the kernel refuses midway rolls the whole transaction back (exit 1).
 */
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { Lab, ifupdown, installHooks } from '../lib/netns.js';
import { inNs } from '../lib/run.js';
import { singleNode } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureNode, vmcConf } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr2b-';
const lab = new Lab(PREFIX);
t.teardown(() => lab.cleanup());
let node: string;

t.before(async () => {
  await Lab.sweep(PREFIX);
  ({ node } = await singleNode(lab, 'eth1', ['tap1', 'tap2']));
});

const badConfigs: [string, string, RegExp][] = [
  ['gateway outside the subnet', vmcConf('eth1').replace('gateway = 192.0.2.1', 'gateway = 192.0.3.1'), /^vmrouter: \/tmp\/vr2b-bad\.conf:8: \[network public\] gateway: 192\.0\.3\.1 is outside 192\.0\.2\.0\/24$/m],
  ['reserved table', vmcConf('eth1').replace('table = 222', 'table = 254'), /:5: \[network public\] table: "254" is not a usable routing table id/],
  ['shell metacharacters in an interface name', vmcConf('eth1').replace('uplink = eth1', 'uplink = eth1$(reboot)'), /:4: \[network public\] uplink: "eth1\$\(reboot\)" is not a valid interface name/],
  ['interface name longer than 15 bytes', vmcConf('eth1').replace('uplink = eth1', 'uplink = averyveryverylongname'), /uplink: "averyveryverylongname" is 21 bytes long; Linux interface names have at most 15/],
  ['unknown key', `${vmcConf('eth1')}gatway = 1.2.3.4\n`, /:12: \[network public\] gatway: unknown key \(did you mean gateway\?\)/],
  ['bad CIDR', vmcConf('eth1').replace('192.0.2.0/24', '192.0.2.0/33'), /:7: \[network public\] subnet: "192\.0\.2\.0\/33" is not an IPv4 prefix/],
];

t.test('invalid vmrouter.conf: exit 2, one line per problem, nothing applied', async (t) => {
  const before = await snapshot(node);
  for (const [what, conf, message] of badConfigs) {
    writeFileSync('/tmp/vr2b-bad.conf', conf);
    const check = await vmrouter(['--config', '/tmp/vr2b-bad.conf', 'check'], { ok: false });
    t.equal(check.code, 2, `${what}: check exits 2`);
    t.match(check.stderr, message, `${what}: the message names file:line, section and key`);
    t.notMatch(check.stderr, /\n\s+at /, `${what}: no stack trace`);
    const up = await vmrouter(['--config', '/tmp/vr2b-bad.conf', 'up'], { ok: false, ns: node });
    t.equal(up.code, 2, `${what}: up exits 2`);
  }
  t.equal(snapshotDiff(before, await snapshot(node)), '', 'the kernel state is untouched');
});

t.test('an invalid stanza makes ifup fail and changes nothing', async (t) => {
  const before = await snapshot(node);
  const stanza = (await configureNode(node, vmcConf('eth1'))).replace('vmrouter-gateway 192.0.2.1', 'vmrouter-gateway 192.0.3.1');
  installHooks(node, stanza);
  const r = await ifupdown(node, 'ifup', 'eth1', [], false);
  t.not(r.code, 0, 'ifup fails');
  const line = stanza.split('\n').findIndex((l) => l.includes('vmrouter-gateway')) + 1;
  t.match(r.stderr, `vmrouter: /etc/network/interfaces:${line}: iface eth1 inet vmrouter-gateway: 192.0.3.1 is outside 192.0.2.0/24`, 'the error names the interfaces file, line and option');
  await ifupdown(node, 'ifdown', 'eth1', ['--force'], false);
  t.equal(snapshotDiff(before, await snapshot(node)), '', 'the kernel state is untouched');
});

t.test('hostile or wrong tap arguments: exit 2, nothing applied', async (t) => {
  await configureNode(node, vmcConf('eth1'));
  await ifupdown(node, 'ifup', 'eth1');
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap2', '--ip', '192.0.2.12'], { ns: node });
  const before = await snapshot(node);
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['metacharacters in --tap', ['--network', 'public', '--tap', 'tap1;reboot', '--ip', '192.0.2.11'], {}, /--tap "tap1;reboot": is not a valid interface name/],
    ['address outside the subnet', ['--network', 'public', '--tap', 'tap1', '--ip', '10.0.0.1'], {}, /--ip 10\.0\.0\.1: outside 192\.0\.2\.0\/24 of network public/],
    ['the gateway as VM address', ['--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.1'], {}, /--ip 192\.0\.2\.1: that is the gateway of network public/],
    ['an address bound to another TAP', ['--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.12'], {}, /192\.0\.2\.12 is already bound to tap2 \(network public\)/],
    ['an unknown network', ['--network', 'nosuch', '--tap', 'tap1', '--ip', '192.0.2.11'], {}, /--network nosuch: no such network/],
    ['a TAP that does not exist', ['--network', 'public', '--tap', 'tap9', '--ip', '192.0.2.11'], {}, /--tap tap9: no such interface/],
    ['Ganeti: command substitution in INTERFACE', [], { INTERFACE: '$(reboot)', MODE: 'routed', LINK: '222', IP: '192.0.2.11' }, /INTERFACE "\$\(reboot\)": is not a valid interface name/],
    ['Ganeti: subnet differs', [], { INTERFACE: 'tap1', MODE: 'routed', LINK: '222', IP: '192.0.2.11', NETWORK_SUBNET: '192.0.3.0/24' }, /NETWORK_SUBNET 192\.0\.3\.0\/24 differs from 192\.0\.2\.0\/24 of network public/],
    ['Ganeti: newline in MAC', [], { INTERFACE: 'tap1', MODE: 'routed', LINK: '222', IP: '192.0.2.11', MAC: '52:54:00:00:00:11\nx' }, /MAC "52:54:00:00:00:11\\nx": not a unicast MAC address/],
  ];
  for (const [what, args, env, message] of cases) {
    const r = await vmrouter(['tap', 'up', ...args], { ns: node, ok: false, env, extendEnv: false });
    t.equal(r.code, 2, `${what}: exit 2`);
    t.match(r.stderr, message, `${what}: says why`);
  }
  t.equal(snapshotDiff(before, await snapshot(node)), '', 'the kernel state is untouched');
});

t.test('a step the kernel refuses rolls everything back', async (t) => {
  // Someone else's element for tap1 in vmrouter's mark map: tap up gets as far as the nft step, then fails.
  await inNs(node, ['nft', 'add element inet vmrouter tapmark { "tap1" : 999 }']);
  const before = await snapshot(node);
  const r = await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.11', '--ip6', '2001:db8::11'], { ns: node, ok: false });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /add element inet vmrouter tapmark \{ "tap1" : 222 \}.* failed: nft: Could not process rule: File exists \(traffic from tap1 uses table 222\)/, 'names the step that failed and why');
  t.match(r.stderr, /nothing was changed: the transaction was rolled back/, 'says it rolled back');
  t.equal(snapshotDiff(before, await snapshot(node)), '', 'routes, proxies, sysctls and set elements added before the failure are gone');
  t.notMatch((await vmrouter(['status'], { ns: node })).stdout, /tap1/, 'the ledger does not list tap1');
  await inNs(node, ['nft', 'delete element inet vmrouter tapmark { "tap1" }']);
  await vmrouter(['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.11'], { ns: node });
  t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11 dev tap1/, 'once the conflict is gone, tap up succeeds');
});
