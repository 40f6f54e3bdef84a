/**
 * [vrf NAME] on a real kernel (runs in the kernel lab): two VRFs on one node, a host behind each
 * (10.1.0.10 blue, 10.2.0.10 red), route leaking both ways, the local rule moved after l3mdev,
 * l3mdev_accept for an unbound service of the node, `vmrouter vrf exec` (vrf-exec-lab.ts), and
 * teardown to the state before.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Lab, ifupdown } from './netns.js';
import { echoesSeen, installProbe } from './probe.js';
import { inNs, run } from './run.js';
import { snapshot, snapshotDiff } from './snapshot.js';
import { configureNode, ping } from './topology.js';
import { ROOT } from './vmrouter.js';
import type { Check } from './twin-lab.js';
import { runVrfExecChecks } from './vrf-exec-lab.js';

const CONF = `
[vrf blue]
interfaces = eb
addresses = eb=10.1.0.1/24 eb=fd00:11::1/64
leak = red=10.2.0.0/24 red=fd00:12::/64
local_rule = move
l3mdev_accept = yes

[vrf red]
interfaces = er
table = 3010
addresses = er=10.2.0.1/24 er=fd00:12::1/64
leak = blue=10.1.0.0/24 blue=fd00:11::/64
local_rule = move
`;

export async function runVrfScenario(check: Check, prefix: string): Promise<void> {
  await Lab.sweep(prefix);
  const lab = new Lab(prefix);
  try {
    const mid = await lab.ns('mid');
    const hosts: Record<string, string> = {};
    for (const [name, dev, net] of [['blue', 'eb', '1'], ['red', 'er', '2']] as const) {
      const h = await lab.ns(name);
      hosts[name] = h;
      await lab.link(mid, dev, h, 'eth0');
      await lab.up(h, 'eth0');
      await inNs(h, ['ip', 'addr', 'add', `10.${net}.0.10/24`, 'dev', 'eth0']);
      await inNs(h, ['ip', '-6', 'addr', 'add', `fd00:1${net}::10/64`, 'dev', 'eth0', 'nodad']);
      await inNs(h, ['ip', 'route', 'add', 'default', 'via', `10.${net}.0.1`]);
      await inNs(h, ['ip', '-6', 'route', 'add', 'default', 'via', `fd00:1${net}::1`]);
      await installProbe(h);
    }
    const baseline = await snapshot(mid);
    await configureNode(mid, CONF, 'compact', 'here');
    for (const dev of ['eb', 'er']) {
      const r = await ifupdown(mid, 'ifup', dev, [], false);
      check(r.code === 0, `vrf: ifup ${dev}`, r.stderr);
    }
    for (const f of ['-4', '-6']) {
      const rules = (await inNs(mid, ['ip', f, 'rule', 'show'])).stdout;
      const prefs = rules.split('\n').filter(Boolean).map((l) => l.split(':')[0]! + ':' + (/l3mdev/.test(l) ? 'l3mdev' : /lookup (\w+)/.exec(l)?.[1]));
      check(JSON.stringify(prefs.filter((p) => /l3mdev|local/.test(p))) === JSON.stringify(['1000:l3mdev', '32765:local']), `vrf: ip ${f} rule: l3mdev at 1000, local moved after it`, rules);
    }
    const links = (await inNs(mid, ['ip', '-d', 'link', 'show'])).stdout;
    check(/vrf-blue:[^\n]*\n[^\n]*\n\s+vrf table 3000 /.test(links) && /vrf-red:[^\n]*\n[^\n]*\n\s+vrf table 3010 /.test(links), 'vrf: devices with their tables (blue allocated 3000)', links);
    const t3000 = (await inNs(mid, ['ip', 'route', 'show', 'table', '3000'])).stdout;
    check(/10\.1\.0\.0\/24 dev eb proto kernel/.test(t3000) && /10\.2\.0\.0\/24 dev vrf-red proto 86/.test(t3000), 'vrf: connected route in the VRF table, leaked route to the other VRF', t3000);
    for (const [from, to, dst, src] of [['blue', 'red', '10.2.0.10', '10.1.0.10'], ['red', 'blue', '10.1.0.10', '10.2.0.10'], ['blue', 'red', 'fd00:12::10', 'fd00:11::10']] as const) {
      const before = await echoesSeen(hosts[to]!, src, dst);
      check(await ping(hosts[from]!, dst), `vrf: ${from} host pings ${dst} through the leak`);
      check((await echoesSeen(hosts[to]!, src, dst)) - before >= 2, `vrf: the ${to} host received them from ${src}`);
    }
    check((await inNs(mid, ['cat', '/proc/sys/net/ipv4/tcp_l3mdev_accept'])).stdout.trim() === '1', 'vrf: tcp_l3mdev_accept = 1');
    // a service of the node bound to no VRF answers in the blue VRF (l3mdev_accept)
    const srv = spawn('ip', ['netns', 'exec', mid, process.execPath, join(ROOT, 'test/lib/tcp-peer.cjs'), 'serve', '80'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => srv.stdout!.once('data', r));
      const c = await run(['ip', 'netns', 'exec', hosts.blue!, process.execPath, join(ROOT, 'test/lib/tcp-peer.cjs'), 'connect', '10.1.0.1', '80', '4001', '10'], { ok: false });
      check(c.code === 0 && c.stdout.trim() === '10.1.0.10 4001', 'vrf: an unbound TCP service of the node answers in the VRF', c.stdout + c.stderr);
    } finally {
      srv.kill();
    }
    await runVrfExecChecks(check, mid, hosts.blue!);
    for (const dev of ['eb', 'er']) {
      const r = await ifupdown(mid, 'ifdown', dev, [], false);
      check(r.code === 0, `vrf: ifdown ${dev}`, r.stderr);
    }
    const diff = snapshotDiff(baseline, await snapshot(mid));
    check(diff === '', 'vrf: kernel state after ifdown = before ifup (VRFs, l3mdev rule, local rule back at 0)', diff);
  } finally {
    await lab.cleanup();
  }
}
