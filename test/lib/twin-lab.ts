/**
 * Seed 000's topology and its proof, shared by the host test (policy variant, test/e2e/twin.test.ts)
 * and the kernel lab (VRF variant with an 802.1Q outer side, test/e2e/twin-vrf.test.ts, run inside a
 * qemu guest). Three hosts per side at .10-.12, the middle node at .1 on both sides, each side
 * reaching the other through 192.168.3.0/24 (fd00:3::/64).
 *
 * Assertions go through `check`, so the same scenario feeds tap on the host and a JSON report in the
 * guest. Every reachability claim is proven where the packet lands (probe.ts counts echo requests by
 * source and destination at the far end), never by ping's exit status alone: the middle node could
 * answer for an address itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Lab, ifupdown } from './netns.js';
import { vrfExecSides } from './vrf-exec-lab.js';
import { echoesSeen, installProbe } from './probe.js';
import { inNs, run } from './run.js';
import { snapshot, snapshotDiff } from './snapshot.js';
import { configureNode, ping } from './topology.js';
import { ROOT, vmrouter } from './vmrouter.js';

export type Check = (ok: boolean, name: string, detail?: string) => void;

export const HOSTS = [10, 11, 12];
const PORT = 80;
const SPORT = 4000;

export interface TwinOptions {
  prefix: string;
  /** the outer side is VLAN 100 on a trunk, created by ifup (needs CONFIG_VLAN_8021Q) */
  vlan: boolean;
  /** variant key written to vmrouter.conf */
  variant: 'auto' | 'vrf' | 'policy';
  /** what `vmrouter check` must say for auto */
  expectVariant: 'vrf' | 'policy';
  /** net.ipv4.conf.all.rp_filter=1 on the middle node before anything */
  strictRpFilter?: boolean;
}

export interface TwinLab {
  lab: Lab;
  mid: string;
  innerIf: string;
  outerIf: string;
  inner: Record<number, string>;
  outer: Record<number, string>;
}

const conf = (o: TwinOptions, outerIf: string) => `
[twin io]
inner = inner
outer = ${outerIf}
subnet = 192.168.2.0/24
address = 192.168.2.1
mapped = 192.168.3.0/24
subnet6 = fd00:2::/64
address6 = fd00:2::1
mapped6 = fd00:3::/64
variant = ${o.variant}
`;

/** Namespaces and cables only. */
export async function buildTwinLab(o: TwinOptions): Promise<TwinLab> {
  await Lab.sweep(o.prefix);
  const lab = new Lab(o.prefix);
  const mid = await lab.ns('mid');
  const sides: Record<string, Record<number, string>> = { i: {}, o: {} };
  for (const side of ['i', 'o'] as const) {
    const sw = await lab.ns(`sw${side}`);
    await run(['ip', '-n', sw, 'link', 'add', 'dev', 'br0', 'type', 'bridge']);
    await lab.up(sw, 'br0');
    if (side === 'i') {
      await lab.link(mid, 'inner', sw, 'p-mid');
      await run(['ip', '-n', sw, 'link', 'set', 'dev', 'p-mid', 'master', 'br0', 'up']);
    } else if (o.vlan) {
      // a real 802.1Q trunk: the middle node's eth1 carries VLAN 100, untagged on the switch ports
      await lab.link(mid, 'eth1', sw, 'trunk');
      await lab.up(mid, 'eth1');
      await lab.up(sw, 'trunk');
      await run(['ip', '-n', sw, 'link', 'add', 'link', 'trunk', 'name', 'trunk.100', 'type', 'vlan', 'id', '100']);
      await run(['ip', '-n', sw, 'link', 'set', 'dev', 'trunk.100', 'master', 'br0', 'up']);
    } else {
      await lab.link(mid, 'outer', sw, 'p-mid');
      await run(['ip', '-n', sw, 'link', 'set', 'dev', 'p-mid', 'master', 'br0', 'up']);
    }
    for (const h of HOSTS) {
      const ns = await lab.ns(`${side}${h}`);
      sides[side]![h] = ns;
      await lab.link(ns, 'eth0', sw, `p${h}`);
      await run(['ip', '-n', sw, 'link', 'set', 'dev', `p${h}`, 'master', 'br0', 'up']);
      await lab.up(ns, 'eth0');
      await inNs(ns, ['ip', 'addr', 'add', `192.168.2.${h}/24`, 'dev', 'eth0']);
      await inNs(ns, ['ip', '-6', 'addr', 'add', `fd00:2::${h}/64`, 'dev', 'eth0', 'nodad']);
      await inNs(ns, ['ip', 'route', 'add', '192.168.3.0/24', 'via', '192.168.2.1']);
      await inNs(ns, ['ip', '-6', 'route', 'add', 'fd00:3::/64', 'via', 'fd00:2::1']);
      await installProbe(ns);
    }
  }
  return { lab, mid, innerIf: 'inner', outerIf: o.vlan ? 'eth1.100' : 'outer', inner: sides.i!, outer: sides.o! };
}

/** Echo requests from `from` to `dst` arrived at `at` as `seenSrc > seenDst`, and were answered. */
async function lands(check: Check, what: string, from: string, dst: string, at: string, seenSrc: string, seenDst: string): Promise<void> {
  const before = await echoesSeen(at, seenSrc, seenDst);
  check(await ping(from, dst), `${what}: answered`);
  const n = (await echoesSeen(at, seenSrc, seenDst)) - before;
  check(n >= 2, `${what}: ${at} received the echo requests as ${seenSrc} > ${seenDst}`, `saw ${n}`);
}

/** A TCP server that tells each client the address and port it saw; killed by the caller. */
function server(ns: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'test/lib/tcp-peer.cjs'), 'serve', String(PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function ready(p: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
}

/** Connects from source port SPORT, holds the connection `holdMs`, returns what the server saw. */
function client(ns: string, dst: string, holdMs: number) {
  return run(['ip', 'netns', 'exec', ns, process.execPath, join(ROOT, 'test/lib/tcp-peer.cjs'), 'connect', dst, String(PORT), String(SPORT), String(holdMs)], { ok: false });
}

export async function runTwinScenario(check: Check, o: TwinOptions): Promise<void> {
  const l = await buildTwinLab(o);
  const { mid } = l;
  try {
    // the strictest reverse-path filter a node may have (Debian's default is loose, 2)
    if (o.strictRpFilter) await inNs(mid, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=1']);
    const baseline = await snapshot(mid);
    // the hooks read the config where it was written (vmrouter-config): `ip netns exec` cannot bind
    // /etc/netns/NS/vmrouter over a /etc/vmrouter the host (or the kernel lab's root) lacks
    const file = await configureNode(mid, conf(o, l.outerIf), 'compact', 'here');
    check(file.includes(`vmrouter-config /tmp/${mid}.conf`), 'generate names the configuration in the stanzas (vmrouter-config)', file);
    check(file.includes(`iface ${l.outerIf} inet manual`) && file.includes('vmrouter-twin io'), 'generate writes a vmrouter-twin stanza per side', file);
    const checkOut = (await vmrouter(['--config', join('/tmp', `${mid}.conf`), 'check'], { ns: mid })).stdout;
    check(checkOut.includes(`twin variant auto = ${o.expectVariant}`), `check says this kernel runs the ${o.expectVariant} variant`, checkOut);

    for (const dev of [l.innerIf, l.outerIf]) {
      const r = await ifupdown(mid, 'ifup', dev, [], false);
      check(r.code === 0, `ifup ${dev}`, r.stderr);
    }
    const variant = o.variant === 'auto' ? o.expectVariant : o.variant;

    // rule order: the mark rules sort before l3mdev (1000) and main (32766)
    for (const f of ['-4', '-6']) {
      const rules = (await inNs(mid, ['ip', f, 'rule', 'show'])).stdout;
      const prefOf = (re: RegExp) => rules.split('\n').filter((x) => re.test(x)).map((x) => Number(x.split(':')[0]));
      const marks = prefOf(/fwmark 0xc1[cd] lookup 310[01]/);
      check(marks.length === 2 && marks.every((p) => p < 1000), `ip ${f} rule: one fwmark rule per side, before priority 1000`, rules);
      const l3 = prefOf(/l3mdev/);
      if (variant === 'vrf') check(l3.length === 1 && l3[0] === 1000 && marks.every((p) => p < l3[0]!), `ip ${f} rule: the l3mdev rule at 1000 comes after the mark rules`, rules);
      else check(l3.length === 0, `ip ${f} rule: no l3mdev rule in the policy variant`, rules);
    }
    if (variant === 'vrf') {
      const links = (await inNs(mid, ['ip', '-d', 'link', 'show'])).stdout;
      check(/vrf3100:.*\n.*\n\s+vrf table 3100/.test(links) && /vrf3101:.*\n.*\n\s+vrf table 3101/.test(links), 'one VRF device per side with its table', links);
      const inner = (await inNs(mid, ['ip', 'link', 'show', 'dev', l.innerIf])).stdout;
      const outer = (await inNs(mid, ['ip', 'link', 'show', 'dev', l.outerIf])).stdout;
      check(inner.includes('master vrf3100') && outer.includes('master vrf3101'), 'each side enslaved to its VRF', inner + outer);
      check(/vlan protocol 802\.1Q id 100/.test((await inNs(mid, ['ip', '-d', 'link', 'show', 'dev', l.outerIf])).stdout) === o.vlan, 'the outer side is a real 802.1Q VLAN device');
    }

    // every inner host reaches every outer host through the mapped range, and back
    for (const i of HOSTS) {
      for (const j of HOSTS) {
        await lands(check, `inner .${i} -> 192.168.3.${j}`, l.inner[i]!, `192.168.3.${j}`, l.outer[j]!, `192.168.3.${i}`, `192.168.2.${j}`);
        await lands(check, `outer .${j} -> 192.168.3.${i}`, l.outer[j]!, `192.168.3.${i}`, l.inner[i]!, `192.168.3.${j}`, `192.168.2.${i}`);
      }
    }
    await lands(check, 'IPv6 inner .10 -> fd00:3::11', l.inner[10]!, 'fd00:3::11', l.outer[11]!, 'fd00:3::10', 'fd00:2::11');
    await lands(check, 'IPv6 outer .12 -> fd00:3::10', l.outer[12]!, 'fd00:3::10', l.inner[10]!, 'fd00:3::12', 'fd00:2::10');

    // the middle node on both sides, and its own traffic out of each side
    for (const [name, hosts] of [['inner', l.inner], ['outer', l.outer]] as const) {
      check(await ping(hosts[11]!, '192.168.2.1'), `${name} .11 reaches the middle node at 192.168.2.1`);
      check(await ping(hosts[11]!, 'fd00:2::1'), `${name} .11 reaches the middle node at fd00:2::1`);
    }
    for (const [dev, hosts] of [[l.innerIf, l.inner], [l.outerIf, l.outer]] as const) {
      const before = await echoesSeen(hosts[12]!, '192.168.2.1', '192.168.2.12');
      check(await ping(mid, '192.168.2.12', ['-I', dev]), `middle node pings 192.168.2.12 out of ${dev}`);
      check((await echoesSeen(hosts[12]!, '192.168.2.1', '192.168.2.12')) - before >= 2, `the ${dev} host .12 (not the other side's) received them`);
    }
    await vrfExecSides(check, mid, variant, l);

    // identical 4-tuples from both sides at once: 192.168.2.10:4000 -> 192.168.3.10:80
    const servers = [server(l.inner[10]!), server(l.outer[10]!)];
    try {
      await Promise.all(servers.map(ready));
      const hold = 2500;
      let done = false;
      const both = Promise.all([client(l.inner[10]!, '192.168.3.10', hold), client(l.outer[10]!, '192.168.3.10', hold)]).finally(() => (done = true));
      const established = (text: string) => text.split('\n').filter((x) => /src=192\.168\.2\.10 dst=192\.168\.3\.10 sport=4000 dport=80 /.test(x) && /ESTABLISHED/.test(x));
      // polled while the clients hold their connections: under TCG on a busy machine a client's node
      // may take more than a second to start, so one fixed moment can come before the second connect
      let ct = '';
      do {
        await new Promise((r) => setTimeout(r, 300));
        ct = (await inNs(mid, ['conntrack', '-L', '-p', 'tcp', '--orig-port-dst', String(PORT)], { ok: false })).stdout;
      } while (established(ct).length < 2 && !done);
      const [fromInner, fromOuter] = await both;
      check(fromInner.code === 0 && /^192\.168\.3\.10 \d+$/.test(fromInner.stdout.trim()), 'TCP inner .10:4000 -> 192.168.3.10:80 completes; the outer server saw 192.168.3.10', fromInner.stdout + fromInner.stderr);
      check(fromOuter.code === 0 && /^192\.168\.3\.10 \d+$/.test(fromOuter.stdout.trim()), 'TCP outer .10:4000 -> 192.168.3.10:80 completes at the same time; the inner server saw 192.168.3.10', fromOuter.stdout + fromOuter.stderr);
      const entries = established(ct);
      const zones = entries.map((x) => /zone-orig=(\d+)/.exec(x)?.[1]).sort();
      check(entries.length === 2 && zones[0] === '3100' && zones[1] === '3101', 'conntrack: two established entries with the same tuple, zone-orig 3100 and 3101', ct);
    } finally {
      for (const s of servers) s.kill();
    }

    // the kernel is the truth: a side's nft table lost (a reload of nftables.service) is named by
    // doctor and made again by repair, exactly as it was
    const applied = await snapshot(mid);
    const table = `inet vmrouter-twin-io-inner`;
    await inNs(mid, ['nft', 'delete', 'table', 'inet', 'vmrouter-twin-io-inner']);
    const d = await vmrouter(['doctor'], { ns: mid, ok: false });
    check(d.code === 3 && d.stdout.split('\n').includes(`  missing   nft table ${table}`), `doctor names the lost ${table}`, d.stdout);
    const rep = await vmrouter(['repair'], { ns: mid, ok: false });
    const after = await vmrouter(['doctor'], { ns: mid, ok: false });
    check(rep.code === 0 && after.code === 0, 'repair makes it again: doctor is clean', `${rep.stderr}${after.stdout}`);
    const repaired = snapshotDiff(applied, await snapshot(mid));
    check(repaired === '', 'the kernel state before the table was lost', repaired);

    for (const dev of [l.innerIf, l.outerIf]) {
      const r = await ifupdown(mid, 'ifdown', dev, [], false);
      check(r.code === 0, `ifdown ${dev}`, r.stderr);
    }
    if (o.vlan) check((await inNs(mid, ['ip', 'link', 'show', 'dev', l.outerIf], { ok: false })).code !== 0, 'ifdown deleted the VLAN device');
    const diff = snapshotDiff(baseline, await snapshot(mid));
    check(diff === '', 'kernel state of the middle node after ifdown = before ifup', diff);
  } finally {
    await l.lab.cleanup();
  }
}
