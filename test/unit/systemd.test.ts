/**
 * `vmrouter vrf drop-in`: quoting of systemd command lines (systemd.service(5) "Command lines"),
 * unit names, the drop-in text, and which VRF device a name means (vrf-target.ts).
 */
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { UsageError } from '../../src/config/errors.js';
import { parseFullConfig } from '../../src/config/load.js';
import { vrfTarget } from '../../src/features/vrf-target.js';
import { renderVrfDropIn, serviceUnit, systemdQuote } from '../../src/render/systemd.js';

t.test('systemdQuote: plain words bare, the rest double-quoted with %, $, \\ and " escaped', async (t) => {
  const cases: [string, string][] = [
    ['/usr/sbin/nginx', '/usr/sbin/nginx'],
    ['--listen=0.0.0.0:80', '--listen=0.0.0.0:80'],
    ['user@host', 'user@host'],
    ['', '""'],
    ['daemon off;', '"daemon off;"'],
    [';', '";"'], // a bare ; would end the command
    ['100%', '"100%%"'], // specifiers expand inside quotes too
    ['$HOME', '"$$HOME"'],
    ['${X}y', '"$${X}y"'],
    ['a"b', '"a\\"b"'],
    ["it's", '"it\'s"'], // a single quote inside double quotes is literal
    ['C:\\path', '"C:\\\\path"'],
    ['tab\there', '"tab\\there"'],
    ['héllo wörld', '"héllo wörld"'],
  ];
  for (const [arg, quoted] of cases) t.equal(systemdQuote(arg), quoted, JSON.stringify(arg));
  t.throws(() => systemdQuote('two\nlines'), new UsageError('"two\\nlines": a systemd command line cannot carry a newline'));
  t.throws(() => systemdQuote('cr\r'), UsageError);
  t.throws(() => systemdQuote('bell\x07'), /control characters/);
});

t.test('serviceUnit: systemctl\'s reading of a name, services only', async (t) => {
  t.equal(serviceUnit('nginx'), 'nginx.service');
  t.equal(serviceUnit('getty@tty1.service'), 'getty@tty1.service');
  t.equal(serviceUnit('foo-bar_baz'), 'foo-bar_baz.service');
  t.throws(() => serviceUnit('x.socket'), /only a \.service runs a command/);
  for (const bad of ['', '../etc', 'a b', 'a/b.service', '.service']) t.throws(() => serviceUnit(bad), /not a systemd unit name/, JSON.stringify(bad));
});

const CONF = `
[vrf blue]
interfaces = eb
[vrf red]
interfaces = er
device = vr
[twin io]
inner = eth1
outer = eth2
subnet = 192.168.2.0/24
address = 192.168.2.1
mapped = 192.168.3.0/24
`;

t.test('vrfTarget: [vrf NAME] devices, twin sides in the VRF variant only, unknown names name the file', async (t) => {
  const config = parseFullConfig(CONF, 'v.conf');
  t.same(vrfTarget(config, 'v.conf', 'blue', { vrf: true }), { device: 'vrf-blue', what: '[vrf blue]' });
  t.same(vrfTarget(config, 'v.conf', 'red', { vrf: true }), { device: 'vr', what: '[vrf red]' });
  const inner = vrfTarget(config, 'v.conf', 'io/inner', { vrf: true });
  t.match(inner, { device: /^vrf\d+$/, what: '[twin io] inner side' });
  t.not(vrfTarget(config, 'v.conf', 'io/outer', { vrf: true }).device, inner.device, 'each side its own VRF');
  t.throws(() => vrfTarget(config, 'v.conf', 'io/inner', { vrf: false }), new UsageError('v.conf: [twin io] runs the policy variant on this kernel: its sides have no VRF device to run in'));
  t.throws(() => vrfTarget(config, 'v.conf', 'green', { vrf: true }), new UsageError('v.conf: no [vrf green] section (there are: blue, red)'));
  t.throws(() => vrfTarget(config, 'v.conf', 'xx/outer', { vrf: true }), new UsageError('v.conf: no [twin xx] section'));
  t.throws(() => vrfTarget(parseFullConfig('', 'e.conf'), 'e.conf', 'blue', { vrf: true }), new UsageError('e.conf: no [vrf blue] section'));
});

const DROP_IN = { vrf: 'blue', device: 'vrf-blue', what: '[vrf blue]', unit: 'nginx.service', source: '/etc/vmrouter/vmrouter.conf' };

t.test('the drop-in: reset ExecStart, then vmrouter vrf exec with the command quoted; ordered after the network', async (t) => {
  const text = await renderVrfDropIn({ ...DROP_IN, config: null, command: ['/usr/sbin/nginx', '-g', 'daemon off; pid /run/n%i.pid;'] });
  const lines = text.split('\n');
  t.equal(lines[0], '# /etc/systemd/system/nginx.service.d/vmrouter-vrf.conf', 'where it goes, first');
  t.match(text, /inside VRF vrf-blue \(\[vrf blue\] of \/etc\/vmrouter\/vmrouter\.conf\)/);
  const directives = lines.filter((l) => l !== '' && !l.startsWith('#'));
  t.same(directives, [
    '[Unit]',
    'Wants=network-online.target',
    'After=network-online.target',
    '[Service]',
    'ExecStart=',
    'ExecStart=/usr/sbin/vmrouter vrf exec blue -- /usr/sbin/nginx -g "daemon off; pid /run/n%%i.pid;"',
  ]);
  const other = await renderVrfDropIn({ ...DROP_IN, config: '/srv/my vmrouter.conf', command: ['sleep', '1'] });
  t.match(other, /\nExecStart=\/usr\/sbin\/vmrouter --config "\/srv\/my vmrouter\.conf" vrf exec blue -- sleep 1\n/, 'a configuration other than the default is named');
  await t.rejects(renderVrfDropIn({ ...DROP_IN, config: null, command: ['echo', 'a\nb'] }), new UsageError('vrf drop-in: argument 2 "a\\nb": a systemd command line cannot carry a newline'));
  await t.rejects(renderVrfDropIn({ ...DROP_IN, config: null, command: [] }), /missing command/);
});

const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;
t.test('systemd-analyze verify reads the drop-in without a complaint', { skip: analyze ? false : 'systemd-analyze is not installed' }, async (t) => {
  const dir = t.testdir({ 'vmrouter-vrf-test.service.d': {} });
  writeFileSync(join(dir, 'vmrouter-vrf-test.service'), '[Service]\nExecStart=/bin/true\n');
  const verify = async (dropIn: string) => {
    writeFileSync(join(dir, 'vmrouter-vrf-test.service.d', 'vmrouter-vrf.conf'), dropIn);
    return (await execa('systemd-analyze', ['verify', '--man=no', join(dir, 'vmrouter-vrf-test.service')], { reject: false })).stderr;
  };
  const text = await renderVrfDropIn({ ...DROP_IN, unit: 'vmrouter-vrf-test.service', config: null, command: ['/bin/echo', 'a b', '50%', '$X', 'q"uote', 'back\\slash', ';', '', 'tab\t'] });
  const stderr = await verify(text);
  // the drop-in was read: its ExecStart (not the unit's /bin/true) is what systemd checks
  t.match(stderr, /\/usr\/sbin\/vmrouter/, `systemd read the drop-in: ${stderr}`);
  t.notMatch(stderr, /escape|quot|Invalid|Ignoring/i, 'no warning about quoting');
  // the same check sees a malformed line, so the absence above means something
  t.match(await verify(text.replace('"back', '"\\qback')), /escape/i, 'an unknown escape is reported');
});
