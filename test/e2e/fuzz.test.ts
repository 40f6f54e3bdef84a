/**
 * Bad input, generated (issue 3): hundreds of malformed configs, stanzas, CLI flags, Ganeti
 * environments and bindings lists. Each must end with exit 2 and one clear line per problem (no stack
 * trace), and together they must leave the kernel exactly as it was.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { singleNode } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { configureNode, vmcConf } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr3f-';
const lab = new Lab(PREFIX);
const DIR = '/tmp/vr3f';
t.teardown(() => lab.cleanup());

/** Values no key accepts, or that are hostile wherever they end up. */
const BAD_VALUES = [
  '', 'x', '-1', '4294967296', '0x1ffffffff', '1.2.3', '256.1.1.1', '192.0.2.0/33', '2001:db8::/129', '192.0.2.1/24',
  'eth0$(reboot)', 'eth0`id`', 'eth0|sh', 'eth0&&true', 'a b', 'averyveryverylongname0', '../../etc/passwd', 'eth0"', "eth0'", 'eth0{x}',
  'ethé', 'fe80::1%eth0', '::ffff:192.0.2.1', 'yes please', '01:00:5e:00:00:01', '00:00:00:00:00:00', 'zz:zz:zz:zz:zz:zz',
];

const BASE: [string, string][] = [
  ['role', 'vmc'], ['uplink', 'eth1'], ['table', '222'], ['subnet', '192.0.2.0/24'], ['gateway', '192.0.2.1'],
  ['arp_ip', '192.0.2.254'], ['subnet6', '2001:db8::/64'], ['gateway6', '2001:db8::1'],
];
const OPTIONAL: [string, string][] = [['mark', '7'], ['priority', '100'], ['proxy_delay', '0'], ['forwarding', 'yes'], ['tap_mac', 'cc:47:52:4e:45:54'], ['table_name', 'snf']];
const render = (entries: [string, string][], name = 'public') => `[network ${name}]\n${entries.map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;

/** Malformed configs: every key × bad values that key must refuse, plus structural breakage. */
function badConfigs(): string[] {
  const out: string[] = [];
  for (const [key] of [...BASE, ...OPTIONAL]) {
    for (const value of BAD_VALUES) {
      const entries: [string, string][] = [...BASE.filter(([k]) => k !== key), [key, value]];
      // values a key legitimately accepts are not malformed for it
      if (key === 'table_name' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(value)) continue;
      if (key === 'forwarding' && value === '') continue;
      out.push(render(entries));
    }
  }
  out.push(
    `${render(BASE)}${render(BASE)}`, // duplicate section
    `${render(BASE)}${render(BASE.map(([k, v]) => [k, k === 'uplink' ? 'eth2' : k === 'subnet' ? '192.0.2.0/25' : v] as [string, string]), 'other')}`, // overlap + table clash
    render([...BASE.filter(([k]) => k !== 'arp_ip')]), // missing arp_ip
    render([...BASE, ['gateway', '192.0.2.2']]), // duplicate key
    render([...BASE, ['gatway', '192.0.2.1']]), // unknown key
    `role = vmc\n${render(BASE)}`, // key outside a section
    '[network]\nrole = vmc\n', // no name
    '[network a.b]\nrole = vmc\n', // dotted
    '[vm x]\n', // unknown section
    `${render(BASE)}this is not a key\n`,
    render([['role', 'vmc'], ['uplink', 'eth1']]), // no family
  );
  return out;
}

interface Invocation {
  what: string;
  args: string[];
  env?: Record<string, string>;
}

/** Malformed tap up/down/sync invocations against a valid, applied config. */
function badInvocations(): Invocation[] {
  const out: Invocation[] = [];
  const flags = { network: 'public', tap: 'tap1', mac: '52:54:00:00:00:01', ip: '192.0.2.11', ip6: '2001:db8::11' };
  for (const key of Object.keys(flags) as (keyof typeof flags)[]) {
    for (const value of BAD_VALUES) {
      if (key === 'mac' && value === '') continue;
      const f = { ...flags, [key]: value };
      out.push({ what: `--${key} ${JSON.stringify(value)}`, args: ['tap', 'up', '--network', f.network, '--tap', f.tap, '--mac', f.mac, '--ip', f.ip, '--ip6', f.ip6] });
    }
  }
  for (const ip of ['192.0.2.1', '192.0.2.254', '192.0.2.0', '192.0.2.255', '198.51.100.1', '10.0.0.1']) out.push({ what: `--ip ${ip}`, args: ['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', ip] });
  for (const ip6 of ['2001:db8::1', '2001:db8::', '2001:db9::1', 'fe80::1']) out.push({ what: `--ip6 ${ip6}`, args: ['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip6', ip6] });
  out.push({ what: 'address given twice', args: ['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.11', '192.0.2.11'] });
  out.push({ what: 'address of another TAP', args: ['tap', 'up', '--network', 'public', '--tap', 'tap1', '--ip', '192.0.2.12'] });
  out.push({ what: 'no address', args: ['tap', 'up', '--network', 'public', '--tap', 'tap1'] });
  out.push({ what: 'TAP that does not exist', args: ['tap', 'up', '--network', 'public', '--tap', 'tap9', '--ip', '192.0.2.19'] });
  const ganeti = { INTERFACE: 'tap1', MODE: 'routed', LINK: '222', IP: '192.0.2.11', MAC: '52:54:00:00:00:01', NETWORK_SUBNET: '192.0.2.0/24', NETWORK_GATEWAY: '192.0.2.1' };
  for (const key of Object.keys(ganeti) as (keyof typeof ganeti)[]) {
    if (key === 'MODE') continue;
    for (const value of [...BAD_VALUES.slice(1, 12), 'tap1\nINTERFACE=eth0']) out.push({ what: `${key}=${JSON.stringify(value)}`, args: ['tap', 'up'], env: { ...ganeti, [key]: value } });
  }
  // (a well-formed name that is not bound is no error for tap down: unbinding is idempotent)
  for (const value of BAD_VALUES.filter((v) => !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(v))) out.push({ what: `tap down --tap ${JSON.stringify(value)}`, args: ['tap', 'down', '--tap', value] });
  return out;
}

/** Malformed bindings lists for tap sync. */
function badBindings(): string[] {
  return [
    'tap1$(reboot) 192.0.2.11\n', 'tap1 192.0.2.300\n', 'tap1 192.0.3.11\n', 'tap1 192.0.2.11\ntap1 192.0.2.12\n', 'tap1 192.0.2.11\ntap2 192.0.2.11\n',
    'tap1 52:54:00:00:00:01 52:54:00:00:00:02 192.0.2.11\n', 'tap1 01:00:5e:00:00:01 192.0.2.11\n', 'tap9 192.0.2.19\n', 'tap1\n', 'tap1 2001:db9::1\n',
    'tap1 192.0.2.1\n', 'averyveryverylongname0 192.0.2.11\n',
  ];
}

t.test('generated bad input: exit 2, a clear message, no kernel change', async (t) => {
  await Lab.sweep(PREFIX);
  mkdirSync(DIR, { recursive: true });
  const { node } = await singleNode(lab, 'eth1', ['tap1', 'tap2']);
  await configureNode(node, vmcConf('eth1'));
  await ifupdown(node, 'ifup', 'eth1');
  writeFileSync(join(DIR, 'good.conf'), vmcConf('eth1'));
  await vmrouter(['--config', join(DIR, 'good.conf'), 'tap', 'up', '--network', 'public', '--tap', 'tap2', '--ip', '192.0.2.12'], { ns: node });
  const before = await snapshot(node);

  const runs: { what: string; run: () => ReturnType<typeof vmrouter> }[] = [];
  badConfigs().forEach((conf, i) => {
    const file = join(DIR, `bad-${i}.conf`);
    writeFileSync(file, conf);
    runs.push({ what: `config ${i}: ${conf.replace(/\n/g, ' | ').slice(0, 90)}`, run: () => vmrouter(['--config', file, 'up'], { ns: node, ok: false }) });
  });
  for (const inv of badInvocations()) {
    runs.push({ what: inv.what, run: () => vmrouter(['--config', join(DIR, 'good.conf'), ...inv.args], { ns: node, ok: false, ...(inv.env ? { env: inv.env, extendEnv: false } : {}) }) });
  }
  badBindings().forEach((text, i) => {
    const file = join(DIR, `bindings-${i}`);
    writeFileSync(file, text);
    runs.push({ what: `bindings ${JSON.stringify(text)}`, run: () => vmrouter(['--config', join(DIR, 'good.conf'), 'tap', 'sync', '--network', 'public', '--from', file], { ns: node, ok: false }) });
  });
  t.ok(runs.length >= 200, `${runs.length} malformed inputs`);

  const failures: string[] = [];
  for (let i = 0; i < runs.length; i += 4) {
    const batch = runs.slice(i, i + 4);
    const results = await Promise.all(batch.map((r) => r.run()));
    results.forEach((r, k) => {
      const what = batch[k]!.what;
      const lines = r.stderr.trim().split('\n');
      if (r.code !== 2) failures.push(`${what}: exit ${r.code} (${r.stderr.trim() || r.stdout.trim()})`);
      else if (!lines.every((l) => /^(vmrouter: |error: |\(run vmrouter --help)/.test(l))) failures.push(`${what}: unclear message: ${r.stderr}`);
      else if (/\n\s+at /.test(r.stderr)) failures.push(`${what}: stack trace`);
    });
  }
  t.same(failures, [], 'every malformed input: exit 2, only "vmrouter: …" lines, no stack trace');
  t.equal(snapshotDiff(before, await snapshot(node)), '', 'the kernel state did not change');
  t.match((await vmrouter(['status'], { ns: node })).stdout, /\n {2}tap2 192\.0\.2\.12\nkernel: as applied\n?$/, 'the ledger still has exactly the one VM bound before');
});
