/**
 * The NAT-pair lab of seed 002, on the real kernel:
 *
 *   cust-a (10.0.0.100, 10.0.0.130) ─ cA ┐      198.18.0.0/27    198.18.0.128/27      ┌ m0 10.0.0.1 ─ mgmt (10.0.0.100)
 *                                        natc ─ tr0 ─ vcn (.1 │ .129) ─ tr0 ─ natm
 *   cust-b (10.0.0.100)             ─ cB ┤ ─── tr1 ─ vcn (.33 │ .161) ─ tr1 ─┘
 *   cust-c (10.0.0.100) ─ rtr-c ─── ─ cC ┘        198.18.0.32/27   198.18.0.160/27
 *        (10.0.0.1 │ 192.168.3.1)
 *
 * cust-b's VM is pinned into the second /27 pair, so its traffic crosses tr1 on both nodes. cust-c
 * sits behind its own router (`map = cC 10.0.0.100 via 192.168.3.1`): the customer interface cC
 * has no address, as every customer interface. All three customers and the management server use
 * 10.0.0.100. natc and natm are configured only by
 * vmrouter (generated stanzas, real ifup); vcn is the cloud's router between their /27s. Every
 * namespace has strict reverse-path filtering on conf/all and on every interface (default.rp_filter
 * = 1 before the links exist): the pair must work with the strictest setting a node may have.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Lab } from './netns.js';
import { inNs, run } from './run.js';
import { ROOT } from './vmrouter.js';

export const BLOCK = '198.18.0.0/24';
export const SERVER = '10.0.0.100';
export const MGMT_SIDE = '10.0.0.1';
/** cust-c's router on the customer link cC */
export const ROUTER_C = '192.168.3.1';
/** the unique addresses the management server reaches each customer's 10.0.0.100 at */
export const UNIQUE = { a: '198.18.0.131', b: '198.18.0.163', c: '198.18.0.133' } as const;

const entries = `
server = ${SERVER}
map = cA 10.0.0.100
map = cA 10.0.0.130
map = cB 10.0.0.100 as 198.18.0.163
map = cC 10.0.0.100 via ${ROUTER_C}
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
  rtrC: string;
  custC: string;
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
    rtrC: await strictNs(lab, 'rtr-c'),
    custC: await strictNs(lab, 'cust-c'),
    natc: await strictNs(lab, 'natc'),
    vcn: await strictNs(lab, 'vcn'),
    natm: await strictNs(lab, 'natm'),
    mgmt: await strictNs(lab, 'mgmt'),
  };
  await lab.link(l.natc, 'cA', l.custA, 'eth0');
  await lab.link(l.natc, 'cB', l.custB, 'eth0');
  await lab.link(l.natc, 'cC', l.rtrC, 'eth0');
  await lab.link(l.rtrC, 'eth1', l.custC, 'eth0');
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
  // cust-c's router: the NAT node's face 198.18.0.2 is on its customer link, the VM behind it
  for (const dev of ['eth0', 'eth1']) await lab.up(l.rtrC, dev);
  await sh(l.rtrC, 'ip', 'addr', 'add', `${ROUTER_C}/24`, 'dev', 'eth0');
  await sh(l.rtrC, 'ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'eth1');
  await sh(l.rtrC, 'ip', 'route', 'add', '198.18.0.2/32', 'dev', 'eth0');
  await sh(l.rtrC, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.forwarding=1');
  await lab.up(l.custC, 'eth0');
  await sh(l.custC, 'ip', 'addr', 'add', '10.0.0.100/24', 'dev', 'eth0');
  await sh(l.custC, 'ip', 'route', 'add', '198.18.0.2/32', 'via', '10.0.0.1');
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
  return startListening(ns, [process.execPath, join(ROOT, 'test/lib/whoami.cjs'), name, '80']);
}

/** Starts a server in `ns` and waits for its first line ("listening"). */
async function startListening(ns: string, argv: string[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`whoami in ${ns} exited ${code}`)));
    child.stdout!.once('data', () => resolve());
  });
  return child;
}

/** test/lib/flow-peer.cjs `mode` (udp-serve, tcp-serve) on `port` in `ns`. */
export async function startFlowServer(ns: string, mode: 'udp-serve' | 'tcp-serve', port: number): Promise<ChildProcess> {
  return startListening(ns, [process.execPath, join(ROOT, 'test/lib/flow-peer.cjs'), mode, String(port)]);
}

/** A flow-peer client in `ns`: `answered` when it printed its first line, `done` with every line once it exits. */
export interface FlowClient {
  answered: Promise<void>;
  done: Promise<string[]>;
  /** tcp-client: close the connection it holds */
  close(): void;
}

export function flowClient(ns: string, args: string[]): FlowClient {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'test/lib/flow-peer.cjs'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let answer: () => void = () => {};
  const answered = new Promise<void>((resolve) => (answer = resolve));
  child.stdout!.on('data', (d) => {
    out += d;
    if (out.includes('\n')) answer();
  });
  const done = new Promise<string[]>((resolve) => child.once('close', () => (answer(), resolve(out.split('\n').filter((x) => x !== '')))));
  return { answered, done, close: () => child.stdin!.end() };
}

/** One HTTP GET with curl from `src` in `ns`: the body, or null when no answer came. */
export async function httpGet(ns: string, src: string, dst: string): Promise<string | null> {
  const r = await run(['ip', 'netns', 'exec', ns, 'curl', '-sS', '--max-time', '3', '--interface', src, `http://${dst}/`], { ok: false });
  return r.code === 0 ? r.stdout.trim() : null;
}
