/**
 * The NAT-pair lab of seed 002, on the real kernel:
 *
 *   cust-a (10.0.0.100, 10.0.0.130) ─ cA ┐      198.18.0.0/27    198.18.0.128/27      ┌ m0 10.0.0.1 ─ mgmt (10.0.0.100)
 *                                        natc ─ tr0 ─ vcn (.1 │ .129) ─ tr0 ─ natm
 *   cust-b (10.0.0.100)             ─ cB ┘ ─── tr1 ─ vcn (.33 │ .161) ─ tr1 ─┘
 *                                              198.18.0.32/27   198.18.0.160/27
 *
 * cust-b's VM is pinned into the second /27 pair, so its traffic crosses tr1 on both nodes.
 * Both customers and the management server use 10.0.0.100. natc and natm are configured only by
 * vmrouter (generated stanzas, real ifup); vcn is the cloud's router between their /27s. Every
 * namespace starts with strict reverse-path filtering on its interfaces (default.rp_filter = 1 before
 * the links exist), so a NAT node only works where vmrouter relaxed it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Lab } from './netns.js';
import { inNs, run } from './run.js';
import { ROOT } from './vmrouter.js';

export const BLOCK = '198.18.0.0/24';
export const SERVER = '10.0.0.100';
export const MGMT_SIDE = '10.0.0.1';

const entries = `
server = ${SERVER}
map = cA 10.0.0.100
map = cA 10.0.0.130
map = cB 10.0.0.100 as 198.18.0.163
`;

export const natcConf = `
[natpair pod1]
role = customer
block = ${BLOCK}
transit = tr0 tr1
table = 300
${entries}`;

export const natmConf = `
[natpair pod1]
role = management
block = ${BLOCK}
transit = tr0 tr1
inside = m0
inside_address = ${MGMT_SIDE}/24
${entries}`;

export interface NatPairLab {
  custA: string;
  custB: string;
  natc: string;
  vcn: string;
  natm: string;
  mgmt: string;
}

async function strictNs(lab: Lab, short: string): Promise<string> {
  const ns = await lab.ns(short);
  for (const key of ['default', 'all']) await inNs(ns, ['sysctl', '-q', '-w', `net.ipv4.conf.${key}.rp_filter=1`]);
  return ns;
}

export async function buildNatPairLab(lab: Lab): Promise<NatPairLab> {
  const l: NatPairLab = {
    custA: await strictNs(lab, 'cust-a'),
    custB: await strictNs(lab, 'cust-b'),
    natc: await strictNs(lab, 'natc'),
    vcn: await strictNs(lab, 'vcn'),
    natm: await strictNs(lab, 'natm'),
    mgmt: await strictNs(lab, 'mgmt'),
  };
  // The kernel takes the larger of conf/all and conf/IFACE: only a relaxed conf/all lets a per-interface
  // setting decide (the interfaces themselves stay strict from default.rp_filter).
  for (const ns of [l.natc, l.natm]) await inNs(ns, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=0']);
  await lab.link(l.natc, 'cA', l.custA, 'eth0');
  await lab.link(l.natc, 'cB', l.custB, 'eth0');
  await lab.link(l.natc, 'tr0', l.vcn, 'r0');
  await lab.link(l.natm, 'tr0', l.vcn, 'r1');
  await lab.link(l.natc, 'tr1', l.vcn, 'r2');
  await lab.link(l.natm, 'tr1', l.vcn, 'r3');
  await lab.link(l.natm, 'm0', l.mgmt, 'eth0');

  const sh = (ns: string, ...argv: string[]) => inNs(ns, argv);
  // customers: the management side is 198.18.0.2 on their link (the seed's NAT VM1 address)
  for (const [ns, addrs] of [[l.custA, ['10.0.0.100', '10.0.0.130']], [l.custB, ['10.0.0.100']]] as const) {
    await lab.up(ns, 'eth0');
    for (const a of addrs) await sh(ns, 'ip', 'addr', 'add', `${a}/24`, 'dev', 'eth0');
    await sh(ns, 'ip', 'route', 'add', '198.18.0.2/32', 'dev', 'eth0');
  }
  // the cloud router between the two /27s
  for (const [dev, addr] of [['r0', '198.18.0.1/27'], ['r1', '198.18.0.129/27'], ['r2', '198.18.0.33/27'], ['r3', '198.18.0.161/27']] as const) {
    await lab.up(l.vcn, dev);
    await sh(l.vcn, 'ip', 'addr', 'add', addr, 'dev', dev);
  }
  await sh(l.vcn, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.forwarding=1');
  // the management server reaches only the management node's half of the block (the seed: 198.18.0.128/27)
  await lab.up(l.mgmt, 'eth0');
  await sh(l.mgmt, 'ip', 'addr', 'add', `${SERVER}/24`, 'dev', 'eth0');
  await sh(l.mgmt, 'ip', 'route', 'add', '198.18.0.128/25', 'via', MGMT_SIDE);
  return l;
}

/** test/lib/whoami.cjs on port 80 in `ns`, answering "NAME LOCAL saw REMOTE". */
export async function startWhoami(ns: string, name: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'test/lib/whoami.cjs'), name, '80'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`whoami in ${ns} exited ${code}`)));
    child.stdout!.once('data', () => resolve());
  });
  return child;
}

/** One HTTP GET with curl from `src` in `ns`: the body, or null when no answer came. */
export async function httpGet(ns: string, src: string, dst: string): Promise<string | null> {
  const r = await run(['ip', 'netns', 'exec', ns, 'curl', '-sS', '--max-time', '3', '--interface', src, `http://${dst}/`], { ok: false });
  return r.code === 0 ? r.stdout.trim() : null;
}
