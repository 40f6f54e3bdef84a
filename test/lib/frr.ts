/**
 * FRR inside a test namespace, started directly (no systemd, no watchfrr): zebra and bgpd with the
 * frr.conf `vmrouter vnet frr --node` wrote (virtual networks), or zebra, staticd, bgpd and bfdd with
 * the one `vmrouter frr` wrote (routed networks with routing = bgp); each with the namespace's own pid
 * files, zserv socket and vty directory (-N names the path space), so several FRRs run side by side
 * on one machine.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { inNs, run } from './run.js';
import { vmrouter } from './vmrouter.js';

const FRR = '/usr/lib/frr';
const DAEMONS = ['zebra', 'bgpd'] as const;
/** zebra first (the others connect to it), bfdd before bgpd (its sessions ask for BFD at once); a superset of DAEMONS */
const NETWORK_DAEMONS = ['zebra', 'staticd', 'bfdd', 'bgpd'] as const;

export const frrDir = (ns: string): string => `/tmp/${ns}-frr`;

function frrIds(): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('frr:'));
  if (!passwd) throw new Error('no frr user: install the frr package (scripts/setup.sh)');
  const [, , uid, gid] = passwd.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function freshDir(ns: string): string {
  const dir = frrDir(ns);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'run'), { recursive: true });
  const { uid, gid } = frrIds();
  chownSync(join(dir, 'run'), uid, gid);
  return dir;
}

async function launch(ns: string, dir: string, daemons: readonly string[]): Promise<void> {
  const run = join(dir, 'run');
  for (const d of daemons) {
    await inNs(ns, [join(FRR, d), '-d', '-N', ns, '-f', join(dir, 'frr.conf'), '-i', join(run, `${d}.pid`), '-z', join(run, 'zserv.api'), '--vty_socket', run, '-A', '127.0.0.1']);
  }
}

/** Writes the node's frr.conf with vmrouter and starts zebra, then bgpd. */
export async function startFrr(ns: string, node: string, config: string): Promise<void> {
  const dir = freshDir(ns);
  await vmrouter(['--config', config, 'vnet', 'frr', '--node', node, '--out', dir]);
  await launch(ns, dir, DAEMONS);
}

/** `vmrouter frr --out` of the node's vmrouter.conf (its [network] sections), then its daemons. */
export async function startNetworkFrr(ns: string, config: string): Promise<void> {
  const dir = freshDir(ns);
  await vmrouter(['--config', config, 'frr', '--out', dir]);
  await launch(ns, dir, NETWORK_DAEMONS);
}

/** The directory of the namespace's vty sockets (vtysh --vty_socket, vmrouter doctor --vty-socket). */
export const vtySocket = (ns: string): string => join(frrDir(ns), 'run');

/** vtysh against the namespace's daemons. */
export async function vtysh(ns: string, command: string): Promise<string> {
  return (await run(['vtysh', '--vty_socket', join(frrDir(ns), 'run'), '-c', command])).stdout;
}

/**
 * Stops the daemons this test started (by their pid files), bgpd first so that it says goodbye to its
 * peers, then the others at once (each takes one to two seconds to exit), and waits until all are gone.
 */
export async function stopFrr(ns: string): Promise<void> {
  const pids: number[] = [];
  for (const d of [...NETWORK_DAEMONS].reverse()) {
    const pidFile = join(frrDir(ns), 'run', `${d}.pid`);
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
      pids.push(pid);
    } catch {
      continue;
    }
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 200 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
}
